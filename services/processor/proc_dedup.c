/* proc_dedup: the ids a key's windows took, for a pipeline that deduplicates (its
 * `deduplicate`, docs/pipelines.md). Each key keeps the ids of the events it took, with their
 * times, in an open-addressed table (linear probing, hashed with the per-process table hash,
 * since ids come from events). An id counts while a live window of the key holds its event: for
 * tumbling and hopping windows until the watermark makes an event of its time late (the last
 * window holding it expires then), for sessions while the session holding its time has not
 * expired (a session grows, so an event of that time may still join it). Then a repeat is
 * taken as any event (so a replay tells the same whenever ids were pruned), and the id is
 * pruned when the table next fills. A key keeps at most the definition's max_ids_per_key ids:
 * past it, it forgets its oldest. The key's windows outlive its ids, so the ids go with the
 * key's state and are checkpointed with it: a key's few ids in its state ("d": [[id, time],
 * ...]), many in blocks of fields of their own, so that a checkpoint writes the ids taken since
 * the one before, not all of them (proc_seen_plan). */
#include "proc_def.h"
#include "proc_time.h"
#include "proc_window.h"
#include "proc_window_int.h"

#include "cm/err.h"
#include "cm/hash.h"
#include "cm/jsonw.h"
#include "cm/mem.h"

#include <stdlib.h>
#include <string.h>

struct seen_slot {
    char *id; /* NULL: empty */
    uint64_t hash;
    int64_t time; /* of the event */
};

struct proc_seen {
    struct seen_slot *slots;
    size_t cap, n; /* cap: a power of two, or 0 */
    /* checkpoints (proc_seen_plan): the blocks Redis holds (0: the ids are in the key's state),
     * block 0 holding `base` ids, the later ones `stored`; the slots taken (or taken again, at
     * a later time) since the last checkpoint, kept while in blocks; whether the table was
     * rebuilt since (its slots moved: the next checkpoint writes every id again); the blocks a
     * restore read */
    unsigned blocks, got;
    size_t base, stored;
    size_t *fresh;
    size_t nfresh, capfresh;
    int rebuilt;
};

void proc_seen_free(struct proc_seen *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i].id);
    }
    free(s->slots);
    free(s->fresh);
    free(s);
}

size_t proc_seen_count(const struct proc_seen *s)
{
    return s ? s->n : 0;
}

static struct seen_slot *find(const struct proc_seen *s, const char *id, uint64_t h)
{
    if (!s || s->cap == 0) {
        return NULL;
    }
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        struct seen_slot *sl = &s->slots[i];
        if (!sl->id) {
            return NULL;
        }
        if (sl->hash == h && strcmp(sl->id, id) == 0) {
            return sl;
        }
    }
}

/* Places a slot's contents (id owned) into a table with room; returns its slot. */
static size_t place(struct proc_seen *s, struct seen_slot v)
{
    size_t i = v.hash & (s->cap - 1);
    while (s->slots[i].id) {
        i = (i + 1) & (s->cap - 1);
    }
    s->slots[i] = v;
    s->n++;
    return i;
}

/* Notes slot i as taken since the last checkpoint, when the ids are checkpointed in blocks. */
static void note_fresh(struct proc_seen *s, size_t i)
{
    if (s->blocks == 0 || s->rebuilt) {
        return; /* (all of them are written next) */
    }
    if (s->nfresh == s->capfresh) {
        s->capfresh = s->capfresh ? s->capfresh * 2 : 16;
        s->fresh = cm_xrealloc(s->fresh, s->capfresh * sizeof(*s->fresh));
    }
    s->fresh[s->nfresh++] = i;
}

/* Whether a live window of k holds an event at t at the watermark wm. */
static int holds(const struct proc_windows *w, const struct kstate *k, int64_t t, int64_t wm)
{
    const struct proc_def *d = w->d;
    if (d->window == PROC_WIN_SESSION) {
        for (size_t i = 0; i < k->nsess; i++) {
            const struct session *s = &k->sess[i];
            if (s->start <= t && t < s->end) {
                return proc_sat_add(s->end - 1, d->lateness_ms) > wm;
            }
        }
        return 0;
    }
    int64_t p = proc_def_align(d, t, d->pane_ms);
    int64_t last = proc_def_align(d, p, d->slide_ms); /* the last window start holding t */
    return proc_sat_add(last + d->size_ms - 1, d->lateness_ms) > wm;
}

static int by_time_then_id(const void *a, const void *b)
{
    const struct seen_slot *x = *(const struct seen_slot *const *)a;
    const struct seen_slot *y = *(const struct seen_slot *const *)b;
    return x->time != y->time ? (x->time < y->time ? -1 : 1) : strcmp(x->id, y->id);
}

/* Makes room in k's table for one more id: drops the ids no live window holds at wm, and when
 * max (0: none) would be passed, the oldest (by time, then id: the same whatever the table's
 * order) down to seven eighths of it, so that a key at its bound sorts its ids once per an eighth
 * of them; then sizes the table to four times what is left (at least 8), so the next rebuild is
 * at least a quarter of the table's ids away. Returns the ids dropped that windows still held. */
static size_t make_room(const struct proc_windows *w, struct kstate *k, int64_t wm, size_t max)
{
    struct proc_seen *s = k->seen;
    if ((s->n + 1) * 4 <= s->cap * 3 && (max == 0 || s->n < max)) {
        return 0;
    }
    size_t live = 0;
    struct seen_slot **order = cm_xmalloc(s->n * sizeof(*order) + 1);
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].id) {
            continue;
        }
        if (holds(w, k, s->slots[i].time, wm)) {
            order[live++] = &s->slots[i];
        } else {
            free(s->slots[i].id);
        }
    }
    size_t skip = 0;
    if (max && live >= max) {
        qsort(order, live, sizeof(*order), by_time_then_id);
        skip = live - max / 8 * 7;
        skip = skip > live ? live : skip;
        for (size_t i = 0; i < skip; i++) {
            free(order[i]->id);
        }
    }
    size_t cap = 8;
    while (cap < (live - skip + 1) * 4) {
        cap *= 2;
    }
    struct seen_slot *old = s->slots;
    s->slots = cm_xcalloc(cap, sizeof(*s->slots));
    s->cap = cap;
    s->n = 0;
    for (size_t i = skip; i < live; i++) {
        place(s, *order[i]);
    }
    free(order);
    free(old);
    s->rebuilt = 1; /* (the fresh slots moved) */
    s->nfresh = 0;
    return skip;
}

/* Adds id (copied) at time t; an id there already keeps the later time. restoring: a restore,
 * before the key's windows are all read, which prunes and forgets nothing (and the ids are what
 * Redis holds already, none taken since). */
static size_t seen_add(const struct proc_windows *w, struct kstate *k, const char *id, int64_t t,
                       int64_t wm, int restoring)
{
    if (!k->seen) {
        k->seen = cm_xcalloc(1, sizeof(*k->seen));
    }
    uint64_t h = cm_hash64_table(id, strlen(id));
    struct seen_slot *sl = find(k->seen, id, h);
    if (sl) {
        if (t > sl->time) {
            sl->time = t;
            if (!restoring) {
                note_fresh(k->seen, (size_t)(sl - k->seen->slots));
            }
        }
        return 0;
    }
    size_t dropped =
        make_room(w, k, restoring ? INT64_MIN : wm, restoring ? 0 : (size_t)w->d->dedup_max_ids);
    size_t i = place(k->seen, (struct seen_slot){cm_xstrdup(id), h, t});
    if (!restoring) {
        note_fresh(k->seen, i);
    }
    return dropped;
}

int proc_windows_seen(struct proc_windows *w, const char *tenant, const char *key, const char *id,
                      int64_t wm)
{
    struct kstate *k = proc_window_key(w, tenant, key, PROC_KEY_FIND);
    const struct seen_slot *sl = k ? find(k->seen, id, cm_hash64_table(id, strlen(id))) : NULL;
    return sl && holds(w, k, sl->time, wm); /* (one no window holds is pruned when it fills) */
}

size_t proc_windows_remember(struct proc_windows *w, const char *tenant, const char *key,
                             const char *id, int64_t t, int64_t wm)
{
    struct kstate *k = w->added; /* (the key it just took an event under, found again) */
    if (!k || k->dead || strcmp(k->tenant, tenant) != 0 || strcmp(k->key, key) != 0) {
        k = proc_window_key(w, tenant, key, PROC_KEY_FIND);
    }
    if (!k) {
        return 0;
    }
    size_t dropped = seen_add(w, k, id, t, wm, 0);
    proc_window_touch(w, k);
    return dropped;
}

void proc_seen_plan(struct kstate *k, int full, struct proc_seen_plan *p)
{
    struct proc_seen *s = k->seen;
    *p = (struct proc_seen_plan){.write = -1};
    if (!s) {
        return;
    }
    if (full) {
        s->blocks = 0; /* (the hash was replaced: it holds none) */
    }
    if (s->blocks == 0 && s->n <= PROC_DEDUP_INLINE_MAX) {
        p->inline_ids = 1;
    } else if (s->blocks > 0 && s->n <= PROC_DEDUP_INLINE_MAX / 4) {
        p->inline_ids = 1; /* back in the key's state */
        p->drop_to = s->blocks;
        s->blocks = 0;
    } else if (s->blocks == 0 || s->rebuilt || s->stored + s->nfresh + 8 * s->blocks > s->base) {
        /* all of them in block 0 again: the blocks written since would hold more than it does
         * (counting a block's field as 8 ids), or its slots moved */
        p->write = 0;
        p->whole = 1;
        p->drop_from = 1;
        p->drop_to = s->blocks;
        s->blocks = 1;
        s->base = s->n;
        s->stored = 0;
    } else if (s->nfresh > 0) {
        p->write = (int)s->blocks++;
        s->stored += s->nfresh;
    }
    p->blocks = s->blocks;
    s->rebuilt = 0;
}

void proc_seen_written(struct kstate *k)
{
    if (k->seen) {
        k->seen->nfresh = 0;
    }
}

unsigned proc_seen_blocks(const struct kstate *k)
{
    return k->seen ? k->seen->blocks : 0;
}

void proc_seen_write(const struct kstate *k, int whole, struct cm_jw *w)
{
    /* in order of time, then id: the same ids are written the same whatever the table's size
     * (most keys hold a few: no allocation for them) */
    const struct proc_seen *s = k->seen;
    size_t n = 0, many = !s ? 0 : whole ? s->n : s->nfresh;
    const struct seen_slot *few[16];
    const struct seen_slot **order = many <= 16 ? few : cm_xmalloc(many * sizeof(*order));
    for (size_t i = 0; whole && s && i < s->cap; i++) {
        if (s->slots[i].id) {
            order[n++] = &s->slots[i];
        }
    }
    for (size_t i = 0; !whole && i < many; i++) {
        order[n++] = &s->slots[s->fresh[i]];
    }
    if (n > 1) {
        qsort(order, n, sizeof(*order), by_time_then_id);
    }
    cm_jw_array(w);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && order[i] == order[i - 1]) {
            continue; /* (a slot taken twice since the last checkpoint) */
        }
        cm_jw_array(w);
        cm_jw_string(w, order[i]->id);
        cm_jw_int(w, (long long)order[i]->time);
        cm_jw_end(w);
    }
    cm_jw_end(w);
    if (order != few) {
        free(order);
    }
}

int proc_seen_restore(const struct proc_windows *w, struct kstate *k, const json_t *ids)
{
    size_t i;
    const json_t *v;
    if (!json_is_array(ids)) {
        return CM_E_INVAL;
    }
    json_array_foreach(ids, i, v)
    {
        const json_t *id = json_array_get(v, 0), *at = json_array_get(v, 1);
        if (json_array_size(v) != 2 || !json_is_string(id) || !json_is_integer(at) ||
            !proc_state_time_ok(json_integer_value(at)) ||
            json_string_length(id) >= PROC_DEDUP_ID_MAX ||
            strlen(json_string_value(id)) != json_string_length(id)) {
            return CM_E_INVAL;
        }
        seen_add(w, k, json_string_value(id), json_integer_value(at), INT64_MIN, 1);
    }
    return 0;
}

int proc_seen_restore_blocks(struct kstate *k, long long blocks)
{
    if (blocks < 1 || blocks > PROC_DEDUP_BLOCKS_MAX) {
        return CM_E_INVAL;
    }
    if (!k->seen) {
        k->seen = cm_xcalloc(1, sizeof(*k->seen));
    }
    k->seen->blocks = (unsigned)blocks;
    return 0;
}

int proc_seen_restore_block(const struct proc_windows *w, struct kstate *k, unsigned block,
                            const json_t *ids)
{
    struct proc_seen *s = k->seen;
    if (!s || block >= s->blocks || !json_is_array(ids)) {
        return CM_E_INVAL; /* (a key whose state names fewer blocks, or none) */
    }
    int rc = proc_seen_restore(w, k, ids);
    if (rc == 0) {
        s->got++;
        *(block == 0 ? &s->base : &s->stored) += json_array_size(ids);
    }
    return rc;
}

int proc_seen_restored(struct kstate *k)
{
    struct proc_seen *s = k->seen;
    if (!s) {
        return 0;
    }
    int rc = s->got == s->blocks ? 0 : CM_E_INVAL; /* (each block is read once: one field each) */
    s->got = 0;
    s->rebuilt = 0; /* Redis holds exactly these */
    s->nfresh = 0;
    return rc;
}
