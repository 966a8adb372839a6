/* swap: a value readers keep using while a writer replaces it (hot-reloaded configuration:
 * routing tables, key sets). A reader takes a hold on the current value and gives it back when
 * done; a replaced value is released when its last hold is given back. Thread-safe. */
#ifndef CM_SWAP_H
#define CM_SWAP_H

struct cm_swap;
struct cm_swap_node;

struct cm_swap_hold {
    const void *value;
    struct cm_swap_node *node;
};

/* Takes ownership of initial (not NULL); release(value) frees a value. */
struct cm_swap *cm_swap_new(void *initial, void (*release)(void *value));
/* The current value, held until cm_swap_put. */
struct cm_swap_hold cm_swap_get(struct cm_swap *s);
void cm_swap_put(struct cm_swap_hold h);
/* Installs next (takes ownership); the previous value goes when its holds are given back. */
void cm_swap_replace(struct cm_swap *s, void *next);
/* Frees the swap and its current value; no hold may be outstanding. */
void cm_swap_free(struct cm_swap *s);

#endif
