/* swap: reference-counted replaceable values (see swap.h). The lock only guards reading the
 * current node and taking a reference; releasing happens outside it. */
#include "cm/swap.h"

#include "cm/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct cm_swap_node {
    void *value;
    void (*release)(void *value);
    atomic_int refs; /* the swap's own while current, plus one per hold */
};

struct cm_swap {
    pthread_mutex_t lock;
    struct cm_swap_node *current;
    void (*release)(void *value);
};

static struct cm_swap_node *node_new(void *value, void (*release)(void *))
{
    struct cm_swap_node *n = cm_xcalloc(1, sizeof(*n));
    n->value = value;
    n->release = release;
    atomic_init(&n->refs, 1);
    return n;
}

static void node_unref(struct cm_swap_node *n)
{
    if (n && atomic_fetch_sub(&n->refs, 1) == 1) {
        n->release(n->value);
        free(n);
    }
}

struct cm_swap *cm_swap_new(void *initial, void (*release)(void *value))
{
    struct cm_swap *s = cm_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->release = release;
    s->current = node_new(initial, release);
    return s;
}

struct cm_swap_hold cm_swap_get(struct cm_swap *s)
{
    pthread_mutex_lock(&s->lock);
    struct cm_swap_node *n = s->current;
    atomic_fetch_add(&n->refs, 1);
    pthread_mutex_unlock(&s->lock);
    struct cm_swap_hold h = {n->value, n};
    return h;
}

void cm_swap_put(struct cm_swap_hold h)
{
    node_unref(h.node);
}

void cm_swap_replace(struct cm_swap *s, void *next)
{
    struct cm_swap_node *n = node_new(next, s->release);
    pthread_mutex_lock(&s->lock);
    struct cm_swap_node *old = s->current;
    s->current = n;
    pthread_mutex_unlock(&s->lock);
    node_unref(old);
}

void cm_swap_free(struct cm_swap *s)
{
    if (!s) {
        return;
    }
    node_unref(s->current);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
