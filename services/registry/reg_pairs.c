/* reg_pairs: the outcomes of the (reader, writer) pairs of one compatibility check (see
 * reg_pairs.h), in a jansson object: key -> state * 1000 + the depth the state rests on. */
#include "reg_pairs.h"

#include "cm/mem.h"

#include <jansson.h>
#include <stdlib.h>

enum { OPEN = 1, PROVISIONAL, ACCEPTED, REFUSED };
#define STATE(v) ((int)((v) / 1000))
#define DEPTH(v) ((int)((v) % 1000))

struct reg_pairs {
    json_t *memo;
    json_t *provisional; /* the keys accepted provisionally, in the order decided */
    size_t compared;
};

struct reg_pairs *reg_pairs_new(void)
{
    struct reg_pairs *p = cm_xcalloc(1, sizeof(*p));
    p->memo = json_object();
    p->provisional = json_array();
    return p;
}

void reg_pairs_free(struct reg_pairs *p)
{
    if (p) {
        json_decref(p->memo);
        json_decref(p->provisional);
        free(p);
    }
}

static void set(struct reg_pairs *p, const char *key, int state, int depth)
{
    json_object_set_new(p->memo, key, json_integer((json_int_t)state * 1000 + depth));
}

enum reg_pair_seen reg_pairs_begin(struct reg_pairs *p, const char *key, int depth, int *low,
                                   size_t *mark)
{
    json_int_t v = json_integer_value(json_object_get(p->memo, key));
    switch (STATE(v)) {
    case ACCEPTED:
        return REG_PAIR_ACCEPTED;
    case REFUSED:
        return REG_PAIR_REFUSED;
    case OPEN:
    case PROVISIONAL:
        *low = DEPTH(v) < *low ? DEPTH(v) : *low;
        return REG_PAIR_ASSUMED;
    default:
        break;
    }
    if (p->compared >= REG_PAIRS_MAX) {
        p->compared = REG_PAIRS_MAX + 1;
        return REG_PAIR_REFUSED;
    }
    p->compared++;
    set(p, key, OPEN, depth);
    *mark = json_array_size(p->provisional);
    return REG_PAIR_NEW;
}

/* Settles the pairs accepted provisionally since the list held `mark`: accepted for good, or
 * forgotten (compared again where met). */
static void settle(struct reg_pairs *p, size_t mark, int accepted)
{
    while (json_array_size(p->provisional) > mark) {
        size_t last = json_array_size(p->provisional) - 1;
        const char *key = json_string_value(json_array_get(p->provisional, last));
        if (accepted) {
            set(p, key, ACCEPTED, 0);
        } else {
            json_object_del(p->memo, key);
        }
        json_array_remove(p->provisional, last);
    }
}

void reg_pairs_end(struct reg_pairs *p, const char *key, int depth, size_t mark, int refused,
                   int low)
{
    if (refused) { /* (whatever it rested on: a refusal found under assumptions stands) */
        settle(p, mark, 0);
        set(p, key, REFUSED, 0);
    } else if (low >= depth) { /* rests on nothing open further up: decided */
        settle(p, mark, 1);
        set(p, key, ACCEPTED, 0);
    } else {
        set(p, key, PROVISIONAL, low);
        json_array_append_new(p->provisional, json_string(key));
    }
}

int reg_pairs_exhausted(const struct reg_pairs *p)
{
    return p->compared > REG_PAIRS_MAX;
}
