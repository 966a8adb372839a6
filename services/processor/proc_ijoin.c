/* proc_ijoin: the interval join of two streams, as Flink's intervalJoin and Kafka Streams'
 * stream-stream join: per key, the events of each side are kept in arrival order; a left event
 * at tl and a right event at tr pair up when tr - tl lies in [lower, upper], once, when the
 * second of the two arrives. Entries live on the window state's keys, timers and checkpoints
 * (proc_window_int.h).
 * Time, per Flink: an event is late when time + allowed_lateness < watermark. A left entry can
 * meet a right event up to tl + upper, so it goes when the watermark passes tl + upper +
 * lateness (an outer join then emits it with null if it never met one); a right entry likewise
 * at tr - lower + lateness.
 * Around a swap (bounds [from, until)) a pair belongs to the version whose bounds hold the
 * earlier of its two times, an outer join's unmatched left to the one holding its time; each
 * version keeps the events within the largest pair distance of its bounds, so that it knows
 * whether its lefts met a right, and skips the others. */
#include "proc_def.h"
#include "proc_time.h"
#include "proc_window.h"
#include "proc_window_int.h"

#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest distance between the two times of a pair. */
static int64_t span(const struct proc_def *d)
{
    int64_t lo = d->ijoin.lower < 0 ? -d->ijoin.lower : d->ijoin.lower;
    int64_t hi = d->ijoin.upper < 0 ? -d->ijoin.upper : d->ijoin.upper;
    return lo > hi ? lo : hi;
}

/* The watermark from which no event can pair with an entry of side at t any more. */
static int64_t expiry(const struct proc_def *d, int side, int64_t t)
{
    int64_t reach = side == PROC_LEFT ? d->ijoin.upper : -d->ijoin.lower;
    return t + reach + d->lateness_ms + 1;
}

static int in_bounds(const struct proc_windows *w, int64_t t)
{
    return t >= w->from && t < w->until;
}

static int emit_pair(struct proc_windows *w, const char *tenant, const char *key, const json_t *l,
                     int64_t tl, const json_t *r, int64_t tr, const char *tp,
                     proc_window_emit_fn emit, void *ud)
{
    int64_t time = r && tr > tl ? tr : tl;
    if (!in_bounds(w, r && tr < tl ? tr : tl)) {
        return 0; /* another version's pair */
    }
    if (!r && expiry(w->d, PROC_LEFT, tl) <= w->done) {
        return 0; /* finished before the state was lost: matched or not, it went out then */
    }
    struct proc_window_result res = {.tenant = tenant,
                                     .key = key,
                                     .start_ms = time,
                                     .end_ms = time,
                                     .traceparent = tp ? tp : "",
                                     .left = l,
                                     .right = r};
    return emit(&res, ud);
}

/* What a kept event holds: its id and source (a pair's id is made of both events') and data. */
static json_t *entry_event(const json_t *ev)
{
    json_t *data = json_object_get(ev, "data");
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *src = json_string_value(json_object_get(ev, "source"));
    return json_pack("{s:s,s:s,s:o}", "id", id ? id : "", "source", src ? src : "", "data",
                     data ? json_deep_copy(data) : json_null());
}

enum proc_add proc_ijoin_add(struct proc_windows *w, const char *tenant, const char *key, int64_t t,
                             const json_t *ev, const char *tp, int64_t offset, int64_t wm,
                             proc_window_emit_fn emit, void *ud)
{
    const struct proc_def *d = w->d;
    int side = proc_def_join_side(d, ev);
    if (side < 0 || (w->from != INT64_MIN && t + span(d) < w->from) ||
        (w->until != INT64_MAX && t - span(d) >= w->until)) {
        return PROC_SKIPPED;
    }
    if (wm != INT64_MIN && t + d->lateness_ms < wm) {
        return PROC_LATE;
    }
    struct kstate *k = proc_window_key(w, tenant, key, PROC_KEY_FIND);
    if (k && d->ijoin.max_events > 0 && (long long)k->njent >= d->ijoin.max_events &&
        expiry(d, side, t) > wm) { /* it would be kept, and its key has no room: not paired */
        w->refused_by = REFUSED_EVENTS;
        return PROC_REFUSED;
    }
    json_t *mine = entry_event(ev);
    int matched = 0, changed = 0;
    int64_t low = offset;
    for (size_t i = 0; k && i < k->njent; i++) {
        struct jentry *o = &k->jent[i];
        if (o->side == side) {
            continue;
        }
        int64_t tl = side == PROC_LEFT ? t : o->time, tr = side == PROC_LEFT ? o->time : t;
        if (tr - tl < d->ijoin.lower || tr - tl > d->ijoin.upper) {
            continue;
        }
        /* Both keep the lower of their two offsets: a committed offset then never passes the
         * partner of an entry still held, so a recompute without a checkpoint reads the pair
         * again and does not take a matched left event for an unmatched one. */
        low = o->offset < low ? o->offset : low;
        if (offset < o->offset) {
            o->offset = offset;
            changed = 1;
        }
        if (side == PROC_LEFT) {
            emit_pair(w, tenant, key, mine, tl, o->ev, tr, tp, emit, ud);
            matched = 1;
        } else {
            emit_pair(w, tenant, key, o->ev, tl, mine, tr, tp, emit, ud);
            changed |= !o->matched;
            o->matched = 1;
        }
    }
    if (expiry(d, side, t) <= wm) { /* nothing to come can pair with it: not kept */
        if (side == PROC_LEFT && d->ijoin.outer && !matched) {
            emit_pair(w, tenant, key, mine, t, NULL, 0, tp, emit, ud);
        }
        json_decref(mine);
        if (k && changed) {
            proc_window_touch(w, k);
        }
        return PROC_ADDED;
    }
    if (!k && !(k = proc_window_key(w, tenant, key, PROC_KEY_CREATE))) {
        json_decref(mine); /* (a key without state has nothing to pair with: nothing went out) */
        return PROC_REFUSED;
    }
    if (k->njent == k->capjent) {
        k->capjent = k->capjent ? k->capjent * 2 : 2;
        k->jent = cm_xrealloc(k->jent, k->capjent * sizeof(*k->jent));
    }
    struct jentry *e = &k->jent[k->njent++];
    *e = (struct jentry){t, low, mine, side, matched, ""};
    proc_window_copy_tp(e->tp, tp);
    proc_window_schedule(w, k);
    proc_window_touch(w, k);
    return PROC_ADDED;
}

size_t proc_ijoin_advance(struct proc_windows *w, struct kstate *k, int64_t wm,
                          proc_window_emit_fn emit, void *ud)
{
    const struct proc_def *d = w->d;
    size_t fired = 0, keep = 0;
    for (size_t i = 0; i < k->njent; i++) {
        struct jentry *e = &k->jent[i];
        if (expiry(d, e->side, e->time) > wm) {
            k->jent[keep++] = *e;
            continue;
        }
        if (e->side == PROC_LEFT && d->ijoin.outer && !e->matched) {
            fired +=
                (size_t)emit_pair(w, k->tenant, k->key, e->ev, e->time, NULL, 0, e->tp, emit, ud);
        }
        json_decref(e->ev);
    }
    k->njent = keep;
    return fired;
}

int64_t proc_ijoin_next_time(const struct proc_windows *w, const struct kstate *k)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < k->njent; i++) {
        int64_t x = expiry(w->d, k->jent[i].side, k->jent[i].time);
        next = x < next ? x : next;
    }
    return next;
}

void proc_ijoin_free_entries(struct kstate *k)
{
    for (size_t i = 0; i < k->njent; i++) {
        json_decref(k->jent[i].ev);
    }
    free(k->jent);
    k->jent = NULL;
    k->njent = k->capjent = 0;
}

void proc_ijoin_write_state(const struct kstate *k, struct cm_jw *w)
{
    cm_jw_array(w);
    for (size_t i = 0; i < k->njent; i++) {
        const struct jentry *e = &k->jent[i];
        cm_jw_array(w);
        cm_jw_int(w, e->side);
        cm_jw_int(w, (long long)e->time);
        cm_jw_int(w, (long long)e->offset);
        cm_jw_bool(w, e->matched);
        cm_jw_string(w, e->tp);
        cm_jw_value(w, e->ev);
        cm_jw_end(w);
    }
    cm_jw_end(w);
}

int proc_ijoin_restore(struct kstate *k, const json_t *entries)
{
    size_t i;
    const json_t *v;
    if (!json_is_array(entries)) {
        return CM_E_INVAL;
    }
    json_array_foreach(entries, i, v)
    {
        json_int_t side, t, offset;
        int matched;
        const char *tp;
        json_t *ev;
        if (json_unpack((json_t *)v, "[I,I,I,b,s,o!]", &side, &t, &offset, &matched, &tp, &ev) !=
                0 ||
            (side != PROC_LEFT && side != PROC_RIGHT) || !proc_state_time_ok(t) || offset < 0 ||
            !json_is_object(ev) || !json_is_string(json_object_get(ev, "id")) ||
            !json_object_get(ev, "data")) {
            return CM_E_INVAL;
        }
        if (k->njent == k->capjent) {
            k->capjent = k->capjent ? k->capjent * 2 : 2;
            k->jent = cm_xrealloc(k->jent, k->capjent * sizeof(*k->jent));
        }
        struct jentry *e = &k->jent[k->njent++];
        *e = (struct jentry){t, offset, json_deep_copy(ev), (int)side, matched, ""};
        cm_strlcpy(e->tp, tp, sizeof(e->tp));
    }
    return 0;
}
