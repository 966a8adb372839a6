/* proc_dedup: the ids a key's windows took, for a pipeline that deduplicates (its
 * `deduplicate`, docs/pipelines.md). Each key keeps the ids of the events it took, with their
 * times, in the order it took them, found through an open-addressed index (linear probing,
 * hashed with the per-process table hash, since ids come from events). An id counts while a live
 * window of the key holds its event: for tumbling and hopping windows until the watermark makes
 * an event of its time late (the last window holding it expires then), for sessions while the
 * session holding its time has not expired (a session grows, so an event of that time may still
 * join it). Then a repeat is taken as any event (so a replay tells the same whenever ids were
 * pruned), and the id is pruned when the index next fills. A key keeps at most the definition's
 * max_ids_per_key ids: past it, it forgets its oldest (by time, then id). The key's windows
 * outlive its ids, so the ids go with the key's state and are checkpointed with it, in the order
 * taken (so a restore takes them back in that order, and writes the same bytes): a key's few ids
 * in its state ("d": [[id, time], ...]), many in blocks of fields of their own, so that a
 * checkpoint writes the ids taken since the one before, not all of them (proc_seen_plan). */
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

/* the most ids a key holds (its index's positions are 32 bits; a restore of more is refused) */
#define SEEN_IDS_MAX (1u << 30)
/* fewer ids than this are looked for one by one, without an index (most keys take a few: no
 * allocation for an index) */
#define SEEN_SMALL 8

struct seen_id {
    char *id;
    uint64_t hash;
    int64_t time; /* of the event */
};

struct proc_seen {
    struct seen_id *ids; /* in the order taken */
    size_t n, capids;
    uint32_t *index; /* position in ids + 1; 0: empty */
    size_t cap;      /* of index: a power of two, or 0: none (fewer than SEEN_SMALL ids) */
    /* checkpoints (proc_seen_plan): the blocks Redis holds (0: the ids are in the key's state),
     * block 0 holding `base` ids, the later ones `stored`; the positions taken (or taken again,
     * at a later time) since the last checkpoint, kept while in blocks; whether ids were
     * dropped since (the positions moved: the next checkpoint writes every id again); the
     * blocks a restore read */
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
    for (size_t i = 0; i < s->n; i++) {
        free(s->ids[i].id);
    }
    free(s->ids);
    free(s->index);
    free(s->fresh);
    free(s);
}

size_t proc_seen_count(const struct proc_seen *s)
{
    return s ? s->n : 0;
}

static struct seen_id *find(const struct proc_seen *s, const char *id, uint64_t h)
{
    if (!s) {
        return NULL;
    }
    if (s->cap == 0) {
        for (size_t i = 0; i < s->n; i++) {
            if (s->ids[i].hash == h && strcmp(s->ids[i].id, id) == 0) {
                return &s->ids[i];
            }
        }
        return NULL;
    }
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        uint32_t at = s->index[i];
        if (at == 0) {
            return NULL;
        }
        struct seen_id *e = &s->ids[at - 1];
        if (e->hash == h && strcmp(e->id, id) == 0) {
            return e;
        }
    }
}

/* Indexes the id at position pos (the index has room). */
static void index_at(struct proc_seen *s, size_t pos)
{
    size_t i = s->ids[pos].hash & (s->cap - 1);
    while (s->index[i]) {
        i = (i + 1) & (s->cap - 1);
    }
    s->index[i] = (uint32_t)(pos + 1);
}

/* Notes position pos as taken since the last checkpoint, when the ids are in blocks. */
static void note_fresh(struct proc_seen *s, size_t pos)
{
    if (s->blocks == 0 || s->rebuilt) {
        return; /* (all of them are written next) */
    }
    if (s->nfresh == s->capfresh) {
        s->capfresh = s->capfresh ? s->capfresh * 2 : 16;
        s->fresh = cm_xrealloc(s->fresh, s->capfresh * sizeof(*s->fresh));
    }
    s->fresh[s->nfresh++] = pos;
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
    const struct seen_id *x = *(const struct seen_id *const *)a;
    const struct seen_id *y = *(const struct seen_id *const *)b;
    return x->time != y->time ? (x->time < y->time ? -1 : 1) : strcmp(x->id, y->id);
}

/* Makes room in k's index for one more id: drops the ids no live window holds at wm, and when
 * max (0: none) would be passed, the oldest (by time, then id: the same whatever the order
 * taken) down to seven eighths of it, so that a key at its bound sorts its ids once per an eighth
 * of them; the others keep their order. Then sizes the index to four times what is left (none
 * for fewer than SEEN_SMALL), so the next rebuild is at least a quarter of the index's ids
 * away. Returns the ids dropped that windows still held. */
static size_t make_room(const struct proc_windows *w, struct kstate *k, int64_t wm, size_t max)
{
    struct proc_seen *s = k->seen;
    int room = s->cap == 0 ? s->n < SEEN_SMALL : (s->n + 1) * 4 <= s->cap * 3;
    if (room && (max == 0 || s->n < max)) {
        return 0;
    }
    size_t live = 0, skip = 0;
    for (size_t i = 0; i < s->n; i++) { /* (in place: the order kept) */
        if (holds(w, k, s->ids[i].time, wm)) {
            s->ids[live++] = s->ids[i];
        } else {
            free(s->ids[i].id);
        }
    }
    if (max && live >= max) {
        struct seen_id **order = cm_xmalloc(live * sizeof(*order));
        for (size_t i = 0; i < live; i++) {
            order[i] = &s->ids[i];
        }
        qsort(order, live, sizeof(*order), by_time_then_id);
        skip = live - max / 8 * 7;
        skip = skip > live ? live : skip;
        for (size_t i = 0; i < skip; i++) {
            free(order[i]->id);
            order[i]->id = NULL;
        }
        free(order);
        size_t kept = 0;
        for (size_t i = 0; i < live; i++) {
            if (s->ids[i].id) {
                s->ids[kept++] = s->ids[i];
            }
        }
    }
    if (s->n != live - skip) {
        s->rebuilt = 1; /* (positions moved: the fresh ones are void) */
        s->nfresh = 0;
    }
    s->n = live - skip;
    size_t cap = 0;
    if (s->n >= SEEN_SMALL) {
        for (cap = 8; cap < (s->n + 1) * 4; cap *= 2) {
        }
    }
    free(s->index);
    s->index = cap ? cm_xcalloc(cap, sizeof(*s->index)) : NULL;
    s->cap = cap;
    for (size_t i = 0; cap && i < s->n; i++) {
        index_at(s, i);
    }
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
    struct proc_seen *s = k->seen;
    uint64_t h = cm_hash64_table(id, strlen(id));
    struct seen_id *e = find(s, id, h);
    if (e) {
        if (t > e->time) {
            e->time = t;
            if (!restoring) {
                note_fresh(s, (size_t)(e - s->ids));
            }
        }
        return 0;
    }
    size_t dropped =
        make_room(w, k, restoring ? INT64_MIN : wm, restoring ? 0 : (size_t)w->d->dedup_max_ids);
    if (s->n == s->capids) {
        s->capids = s->capids ? s->capids * 2 : 4;
        s->ids = cm_xrealloc(s->ids, s->capids * sizeof(*s->ids));
    }
    s->ids[s->n] = (struct seen_id){cm_xstrdup(id), h, t};
    if (s->cap) {
        index_at(s, s->n);
    }
    if (!restoring) {
        note_fresh(s, s->n);
    }
    s->n++;
    return dropped;
}

int proc_windows_seen(struct proc_windows *w, const char *tenant, const char *key, const char *id,
                      int64_t wm)
{
    struct kstate *k = proc_window_key(w, tenant, key, PROC_KEY_FIND);
    const struct seen_id *sl = k ? find(k->seen, id, cm_hash64_table(id, strlen(id))) : NULL;
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

static int by_position(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

void proc_seen_write(const struct kstate *k, int whole, struct cm_jw *w)
{
    /* in the order taken (the fresh ones sorted back into it: an id taken again at a later time
     * comes before those taken first since, and may be noted twice) */
    struct proc_seen *s = k->seen;
    size_t n = !s ? 0 : whole ? s->n : s->nfresh;
    if (!whole && n > 1) {
        qsort(s->fresh, n, sizeof(*s->fresh), by_position);
    }
    cm_jw_array(w);
    for (size_t i = 0; i < n; i++) {
        size_t pos = whole ? i : s->fresh[i];
        if (!whole && i > 0 && pos == s->fresh[i - 1]) {
            continue;
        }
        cm_jw_array(w);
        cm_jw_string(w, s->ids[pos].id);
        cm_jw_int(w, (long long)s->ids[pos].time);
        cm_jw_end(w);
    }
    cm_jw_end(w);
}

int proc_seen_restore(const struct proc_windows *w, struct kstate *k, const json_t *ids)
{
    size_t i;
    const json_t *v;
    if (!json_is_array(ids) || json_array_size(ids) > SEEN_IDS_MAX - proc_seen_count(k->seen)) {
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
