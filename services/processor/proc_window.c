/* proc_window: keyed window state (see proc_window.h).
 * Keys live in a chained hash table; each key holds its panes (tumbling/hopping, sorted by
 * start) or its sessions (sorted, never touching one another), the revisions of windows that
 * were emitted and have not expired, and `next_start`, the earliest window start that may still
 * fire at the watermark. A min-heap of (time, key sequence) holds each key's next timer (its
 * next firing or expiry); entries are lazily invalidated, and a key is freed only when no heap
 * entry refers to it any more. */
#include "proc_window.h"
#include "proc_time.h"
#include "proc_window_int.h"

#include "proc_agg.h"
#include "proc_def.h"

#include "cm/err.h"
#include "cm/hash.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

/* Earliest window start containing the pane starting at p. */
static int64_t first_window(const struct proc_def *d, int64_t p)
{
    return proc_def_align_up(d, p + d->pane_ms - d->size_ms, d->slide_ms);
}

/* ---- timers ---- */

static int timer_less(const struct timer *a, const struct timer *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void heap_push(struct proc_windows *w, struct kstate *k, int64_t time)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 64;
        w->heap = cm_xrealloc(w->heap, w->capheap * sizeof(*w->heap));
    }
    size_t i = w->nheap++;
    w->heap[i] = (struct timer){time, k->seq, k};
    while (i > 0 && timer_less(&w->heap[i], &w->heap[(i - 1) / 2])) {
        struct timer t = w->heap[i];
        w->heap[i] = w->heap[(i - 1) / 2];
        w->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    k->refs++;
    k->timer = time;
}

static struct timer heap_pop(struct proc_windows *w)
{
    struct timer top = w->heap[0];
    w->heap[0] = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->nheap && timer_less(&w->heap[l], &w->heap[m])) {
            m = l;
        }
        if (r < w->nheap && timer_less(&w->heap[r], &w->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        struct timer t = w->heap[i];
        w->heap[i] = w->heap[m];
        w->heap[m] = t;
        i = m;
    }
    return top;
}

/* The next time something happens to k: a firing at the watermark or an expiry. */
static int64_t next_time(const struct proc_windows *w, const struct kstate *k)
{
    const struct proc_def *d = w->d;
    int64_t t = INT64_MAX, L = d->lateness_ms;
    if (d->window == PROC_WIN_JOIN) {
        return proc_ijoin_next_time(w, k);
    }
    if (d->window == PROC_WIN_SESSION) {
        return proc_session_next_time(w, k);
    }
    if (!d->emit_update && k->next_start != NONE && k->npanes > 0) {
        t = k->next_start + d->size_ms - 1;
    }
    if (k->npanes > 0) { /* the oldest pane expires with the last window holding it */
        int64_t last = proc_def_align(d, k->panes[0].start, d->slide_ms) + d->size_ms - 1;
        t = proc_sat_add(last, L) < t ? proc_sat_add(last, L) : t;
    }
    if (k->early_at != NONE && k->early_at < t) {
        t = k->early_at;
    }
    return t;
}

void proc_window_schedule(struct proc_windows *w, struct kstate *k)
{
    int64_t t = next_time(w, k);
    if (t < k->timer) {
        heap_push(w, k, t);
    }
}

/* ---- keys ---- */

void proc_window_free_key(struct kstate *k)
{
    for (size_t i = 0; i < k->npanes; i++) {
        proc_acc_free(k->panes[i].acc);
    }
    for (size_t i = 0; i < k->nsess; i++) {
        proc_acc_free(k->sess[i].acc);
    }
    proc_ijoin_free_entries(k);
    proc_seen_free(k->seen);
    free(k->panes);
    free(k->sess);
    free(k->revs);
    free(k->tenant);
    free(k);
}

static void rehash(struct proc_windows *w)
{
    size_t n = w->nbuckets ? w->nbuckets * 2 : 1024;
    struct kstate **b = cm_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct kstate *k = w->buckets[i];
        while (k) {
            struct kstate *next = k->next_in_bucket;
            k->next_in_bucket = b[k->hash & (n - 1)];
            b[k->hash & (n - 1)] = k;
            k = next;
        }
    }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = n;
}

struct kstate *proc_window_key(struct proc_windows *w, const char *tenant, const char *key,
                               enum proc_key_mode mode)
{
    size_t tl = strlen(tenant), kl = strlen(key);
    char stack[512];
    char *joined = tl + kl + 2 <= sizeof(stack) ? stack : cm_xmalloc(tl + kl + 2);
    memcpy(joined, tenant, tl + 1);
    memcpy(joined + tl + 1, key, kl + 1);
    uint64_t h = cm_hash64_table(joined, tl + kl + 1); /* keys come from events */
    struct kstate *k = w->nbuckets ? w->buckets[h & (w->nbuckets - 1)] : NULL;
    for (; k; k = k->next_in_bucket) {
        if (k->hash == h && strcmp(k->tenant, tenant) == 0 && strcmp(k->key, key) == 0) {
            break;
        }
    }
    int create = mode == PROC_KEY_RESTORE;
    if (!k && mode == PROC_KEY_CREATE) {
        int room = w->max_keys == 0 || w->nkeys < w->max_keys;
        int tenant_full =
            room && w->max_per_tenant && proc_window_tenant_keys(w, tenant) >= w->max_per_tenant;
        w->refused_by = tenant_full ? REFUSED_TENANT : REFUSED_KEYS;
        create = room && !tenant_full;
    }
    if (!k && create) {
        if (w->nkeys >= w->nbuckets) {
            rehash(w);
        }
        k = cm_xcalloc(1, sizeof(*k));
        k->tenant = cm_xmalloc(tl + kl + 2);
        memcpy(k->tenant, joined, tl + kl + 2);
        k->key = k->tenant + tl + 1;
        k->hash = h;
        k->seq = w->seq++;
        k->next_start = NONE;
        k->early_at = NONE;
        k->timer = INT64_MAX;
        k->next_in_bucket = w->buckets[h & (w->nbuckets - 1)];
        w->buckets[h & (w->nbuckets - 1)] = k;
        w->nkeys++;
        proc_window_tenant_add(w, tenant, 1);
    }
    if (joined != stack) {
        free(joined);
    }
    return k;
}

void proc_window_drop_if_empty(struct proc_windows *w, struct kstate *k)
{
    if (k->npanes || k->nsess || k->nrevs || k->njent) {
        return;
    }
    struct kstate **pp = &w->buckets[k->hash & (w->nbuckets - 1)];
    while (*pp != k) {
        pp = &(*pp)->next_in_bucket;
    }
    *pp = k->next_in_bucket;
    w->nkeys--;
    proc_window_tenant_add(w, k->tenant, -1);
    k->dead = 1;
    if (k->refs == 0) {
        proc_window_free_key(k);
    }
}

void proc_window_touch(struct proc_windows *w, struct kstate *k)
{
    if (!w->track || k->dirty) {
        return;
    }
    if (w->nchanged == w->capchanged) {
        w->capchanged = w->capchanged ? w->capchanged * 2 : 256;
        w->changed = cm_xrealloc(w->changed, w->capchanged * sizeof(*w->changed));
    }
    w->changed[w->nchanged++] = k;
    k->dirty = 1;
    k->refs++;
}

/* ---- revisions ---- */

/* The revision the next result of window `start` gets. */
unsigned proc_window_revision(const struct kstate *k, int64_t start)
{
    for (size_t i = 0; i < k->nrevs; i++) {
        if (k->revs[i].start == start) {
            return k->revs[i].next;
        }
    }
    return 0;
}

/* Window `start`, holding `events` events, fired: when its result was emitted the next one gets
 * the following revision; with early firings its events are noted either way. */
static void use_revision(struct proc_windows *w, struct kstate *k, int64_t start, uint64_t events,
                         int emitted)
{
    if (!w->keep_revs || (!emitted && !w->d->early_ms)) {
        return;
    }
    for (size_t i = 0; i < k->nrevs; i++) {
        if (k->revs[i].start == start) {
            k->revs[i].next += emitted != 0;
            k->revs[i].events = events;
            return;
        }
    }
    if (k->nrevs == k->caprevs) {
        k->caprevs = k->caprevs ? k->caprevs * 2 : 4;
        k->revs = cm_xrealloc(k->revs, k->caprevs * sizeof(*k->revs));
    }
    k->revs[k->nrevs++] = (struct rev){start, emitted != 0, events};
}

uint64_t proc_window_fired_events(const struct kstate *k, int64_t start)
{
    for (size_t i = 0; i < k->nrevs; i++) {
        if (k->revs[i].start == start) {
            return k->revs[i].events;
        }
    }
    return 0;
}

/* ---- early firings ("early": a grid of event time, as Flink's ContinuousEventTimeTrigger) ----
 * The grid's points lie 1 ms before each offset + k * early (as a window's last ms before its
 * end). Whenever the watermark passes a point, each open window that changed since it last fired
 * (its result went out or `having` held it back) fires with the next revision, if the last
 * point passed lies in it (at or after its start). Only keys that changed ask: a key whose open
 * window changes at watermark wm asks to be looked at when the watermark reaches the first point
 * after wm, and again at the next point while a window that changed waits for a point in it. */

/* The last point of the grid at or before wm. */
int64_t proc_early_last(const struct proc_def *d, int64_t wm)
{
    return wm >= PROC_WATERMARK_MAX ? INT64_MAX : proc_def_align(d, wm + 1, d->early_ms) - 1;
}

int64_t proc_early_next(const struct proc_def *d, int64_t wm)
{
    if (wm == INT64_MIN) {
        return INT64_MIN + 1; /* no watermark yet: the first one passes a point */
    }
    if (wm >= PROC_WATERMARK_MAX) {
        return INT64_MAX;
    }
    return proc_def_align_up(d, wm + 2, d->early_ms) - 1;
}

/* k changed while the watermark was wm, in a window still open. */
void proc_window_want_early(struct proc_windows *w, struct kstate *k, int64_t wm)
{
    if (k->early_at == NONE) { /* (one asked for is the first point after wm already) */
        k->early_at = proc_early_next(w->d, wm);
    }
}

/* ---- panes (tumbling, hopping) ---- */

/* Calls fn(w, k, s, lo, ud) for each window start s of k that holds panes, in order (lo: the
 * index of its first pane), until fn returns 0. The windows holding pane i start in
 * [first_window, its slide start]; those holding none are skipped, however far apart the panes
 * lie. fn may emit (revisions change) but not add or drop panes. */
void proc_window_each(struct proc_windows *w, struct kstate *k, proc_window_each_fn fn, void *ud)
{
    const struct proc_def *d = w->d;
    size_t lo = 0;
    int64_t s = INT64_MIN;
    for (size_t i = 0; i < k->npanes; i++) {
        int64_t f = first_window(d, k->panes[i].start);
        int64_t last = proc_def_align(d, k->panes[i].start, d->slide_ms);
        for (s = s < f ? f : s; s <= last; s += d->slide_ms) {
            while (k->panes[lo].start < s) {
                lo++; /* (pane i starts at or after s: lo stops there at the latest) */
            }
            if (!fn(w, k, s, lo, ud)) {
                return;
            }
        }
    }
}

/* Merges the panes of window [s, s + size) and emits it. */
static int emit_window(struct proc_windows *w, struct kstate *k, int64_t s, enum proc_timing timing,
                       proc_window_emit_fn emit, void *ud)
{
    const struct proc_def *d = w->d;
    struct proc_acc *acc = NULL;
    const char *tp = "";
    const struct pane *single = NULL;
    size_t n = 0;
    if (s < w->from || s >= w->until) {
        return 0; /* another version's window */
    }
    if (proc_sat_add(s + d->size_ms - 1, d->lateness_ms) <= w->done) {
        return 0; /* finished before the state was lost: its result went out whole */
    }
    for (size_t i = 0; i < k->npanes && k->panes[i].start < s + d->size_ms; i++) {
        const struct pane *p = &k->panes[i];
        if (p->start < s) {
            continue;
        }
        if (n == 0) {
            single = p;
        } else {
            if (!acc) {
                acc = proc_acc_copy(single->acc);
            }
            proc_acc_merge(acc, p->acc);
        }
        tp = p->tp[0] ? p->tp : tp;
        n++;
    }
    if (n == 0) {
        return 0;
    }
    struct proc_window_result r = {.tenant = k->tenant,
                                   .key = k->key,
                                   .start_ms = s,
                                   .end_ms = s + d->size_ms,
                                   .revision = proc_window_revision(k, s),
                                   .timing = timing,
                                   .acc = acc ? acc : single->acc,
                                   .traceparent = tp};
    int emitted = emit(&r, ud);
    use_revision(w, k, s, proc_acc_events(r.acc), emitted);
    proc_acc_free(acc);
    return emitted;
}

static struct pane *pane_for(struct kstate *k, int64_t start)
{
    size_t lo = 0, hi = k->npanes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k->panes[mid].start < start) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < k->npanes && k->panes[lo].start == start) {
        return &k->panes[lo];
    }
    return NULL;
}

static struct pane *pane_insert(struct proc_windows *w, struct kstate *k, int64_t start)
{
    if (k->npanes == k->cappanes) {
        k->cappanes = k->cappanes ? k->cappanes * 2 : 2;
        k->panes = cm_xrealloc(k->panes, k->cappanes * sizeof(*k->panes));
    }
    size_t at = k->npanes;
    while (at > 0 && k->panes[at - 1].start > start) {
        at--;
    }
    memmove(&k->panes[at + 1], &k->panes[at], (k->npanes - at) * sizeof(*k->panes));
    k->npanes++;
    k->panes[at] = (struct pane){start, INT64_MAX, proc_acc_new(w->d), ""};
    return &k->panes[at];
}

void proc_window_copy_tp(char *dst, const char *tp)
{
    cm_strlcpy(dst, tp ? tp : "", PROC_TRACEPARENT_MAX);
}

void proc_window_acc_add(struct proc_acc *acc, const json_t *ev, const json_t *args, int64_t t,
                         size_t *errors)
{
    if (args) {
        proc_acc_add_args(acc, args, t, errors);
    } else {
        proc_acc_add(acc, ev, t, errors);
    }
}

static enum proc_add add_pane(struct proc_windows *w, const char *tenant, const char *key,
                              int64_t t, const json_t *ev, const json_t *args, const char *tp,
                              int64_t offset, int64_t wm, proc_window_emit_fn emit, void *ud,
                              size_t *errors)
{
    const struct proc_def *d = w->d;
    int64_t p = proc_def_align(d, t, d->pane_ms);
    int64_t first = first_window(d, p);
    int64_t last = proc_def_align(d, p, d->slide_ms); /* last window start holding p */
    if (last < w->from || first >= w->until) {
        return PROC_SKIPPED;
    }
    if (proc_sat_add(last + d->size_ms - 1, d->lateness_ms) <= wm) {
        return PROC_LATE; /* every window holding t has expired */
    }
    struct kstate *k = proc_window_key(w, tenant, key, PROC_KEY_CREATE);
    if (!k) {
        return PROC_REFUSED;
    }
    w->added = k;
    struct pane *pane = pane_for(k, p);
    if (!pane) {
        pane = pane_insert(w, k, p);
    }
    proc_window_acc_add(pane->acc, ev, args, t, errors);
    pane->min_offset = offset < pane->min_offset ? offset : pane->min_offset;
    proc_window_copy_tp(pane->tp, tp);
    if (d->emit_update || first + d->size_ms - 1 <= wm) {
        /* Emit now every live window holding t: on every change, or a late firing of the
         * windows that are ripe (the others fire at the watermark). */
        int64_t unripe = NONE;
        for (int64_t s = first; s <= last; s += d->slide_ms) {
            if (proc_sat_add(s + d->size_ms - 1, d->lateness_ms) <= wm) {
                continue; /* expired: this window ignores the event */
            }
            if (d->emit_update || s + d->size_ms - 1 <= wm) {
                emit_window(w, k, s,
                            s + d->size_ms - 1 <= wm ? PROC_TIMING_LATE : PROC_TIMING_EARLY, emit,
                            ud);
            } else if (unripe == NONE) {
                unripe = s;
            }
        }
        if (!d->emit_update && unripe != NONE &&
            (k->next_start == NONE || unripe < k->next_start)) {
            k->next_start = unripe;
        }
    } else if (k->next_start == NONE || first < k->next_start) {
        k->next_start = first;
    }
    if (d->early_ms && last + d->size_ms - 1 > wm) {
        proc_window_want_early(w, k, wm); /* a window holding t is still open */
    }
    proc_window_schedule(w, k);
    proc_window_touch(w, k);
    return PROC_ADDED;
}

/* At an early firing of k (the watermark, now wm, reached k->early_at): window s fires early
 * when it changed since it last fired and the last point of the grid passed while it was open
 * (at or before min(wm, its end - 2), and not before early_at) lies in it. So a watermark that
 * passes points and the window's end at once gives what steps through them would: the early
 * result, then the final one. Returns 1 when it fired; sets *waiting when an open window that
 * changed waits for a point in it. */
static int early_one(struct proc_windows *w, struct kstate *k, int64_t s, uint64_t events,
                     int64_t wm, proc_window_emit_fn emit, void *ud, int *waiting)
{
    const struct proc_def *d = w->d;
    if (s < w->from || s >= w->until) {
        return 0; /* another version's */
    }
    if (events == 0 || events == proc_window_fired_events(k, s)) {
        return 0;
    }
    int64_t last = s + d->size_ms - 2; /* the last watermark at which it is open */
    int64_t point = proc_early_last(d, last < wm ? last : wm);
    if (point < k->early_at || point < s) {
        *waiting |= last >= wm;
        return 0;
    }
    return emit_window(w, k, s, PROC_TIMING_EARLY, emit, ud);
}

/* The events of window s (its panes'). */
static uint64_t window_events(const struct kstate *k, int64_t s, int64_t size)
{
    uint64_t events = 0;
    for (size_t j = 0; j < k->npanes && k->panes[j].start < s + size; j++) {
        events += k->panes[j].start >= s ? proc_acc_events(k->panes[j].acc) : 0;
    }
    return events;
}

struct early_ctx {
    int64_t wm;
    proc_window_emit_fn emit;
    void *ud;
    size_t fired;
    int waiting;
    size_t lo, hi;   /* the panes [lo, hi) summed in `events` (windows come in start order) */
    uint64_t events; /* so a key's open windows cost their panes once, not once per window */
};

static int early_open(struct proc_windows *w, struct kstate *k, int64_t s, size_t lo, void *ud)
{
    struct early_ctx *c = ud;
    if (c->hi < lo) {
        c->lo = c->hi = lo;
        c->events = 0;
    }
    for (; c->lo < lo; c->lo++) {
        c->events -= proc_acc_events(k->panes[c->lo].acc);
    }
    for (; c->hi < k->npanes && k->panes[c->hi].start < s + w->d->size_ms; c->hi++) {
        c->events += proc_acc_events(k->panes[c->hi].acc);
    }
    if (s + w->d->size_ms - 1 > c->wm) { /* (the closing ones are seen before their final) */
        c->fired += (size_t)early_one(w, k, s, c->events, c->wm, c->emit, c->ud, &c->waiting);
    }
    return 1;
}

/* Fires k's ripe windows (and, at an early firing, its windows that changed: a closing one
 * before its final result), then drops expired panes and revisions. */
static size_t advance_panes(struct proc_windows *w, struct kstate *k, int64_t wm,
                            proc_window_emit_fn emit, void *ud)
{
    const struct proc_def *d = w->d;
    size_t fired = 0;
    struct early_ctx c = {wm, emit, ud, 0, 0, 0, 0, 0};
    int early = k->early_at != NONE && k->early_at <= wm;
    while (!d->emit_update && k->next_start != NONE && k->next_start + d->size_ms - 1 <= wm) {
        int64_t s = k->next_start;
        if (early) {
            fired += (size_t)early_one(w, k, s, window_events(k, s, d->size_ms), wm, emit, ud,
                                       &c.waiting);
        }
        fired += (size_t)emit_window(w, k, s, PROC_TIMING_ON_TIME, emit, ud);
        int64_t next = s + d->slide_ms;
        size_t i = 0;
        while (i < k->npanes && k->panes[i].start < next) {
            i++;
        }
        if (i == k->npanes) {
            k->next_start = NONE;
        } else {
            int64_t f = first_window(d, k->panes[i].start);
            k->next_start = f > next ? f : next;
        }
    }
    if (early) {
        proc_window_each(w, k, early_open, &c);
        fired += c.fired;
        k->early_at = c.waiting ? proc_early_next(d, wm) : NONE;
    }
    size_t keep = 0;
    for (size_t i = 0; i < k->npanes; i++) {
        int64_t last = proc_def_align(d, k->panes[i].start, d->slide_ms);
        if (proc_sat_add(last + d->size_ms - 1, d->lateness_ms) <= wm) {
            proc_acc_free(k->panes[i].acc);
        } else {
            k->panes[keep++] = k->panes[i];
        }
    }
    k->npanes = keep;
    keep = 0;
    for (size_t i = 0; i < k->nrevs; i++) {
        if (proc_sat_add(k->revs[i].start + d->size_ms - 1, d->lateness_ms) > wm) {
            k->revs[keep++] = k->revs[i];
        }
    }
    k->nrevs = keep;
    return fired;
}

/* ---- entry points ---- */

struct proc_windows *proc_windows_new(const struct proc_def *d)
{
    struct proc_windows *w = cm_xcalloc(1, sizeof(*w));
    w->d = d;
    w->keep_revs = d->lateness_ms > 0 || d->emit_update || d->early_ms > 0;
    w->from = INT64_MIN;
    w->until = INT64_MAX;
    w->done = INT64_MIN;
    w->max_keys = d->max_keys > 0 ? (size_t)d->max_keys : 0;
    w->max_per_tenant = d->max_keys_per_tenant > 0 ? (size_t)d->max_keys_per_tenant : 0;
    rehash(w);
    return w;
}

void proc_windows_set_bounds(struct proc_windows *w, int64_t from, int64_t until)
{
    w->from = from;
    w->until = until;
}

void proc_windows_set_done(struct proc_windows *w, int64_t done)
{
    if (w) {
        w->done = done;
    }
}

void proc_windows_stop(struct proc_windows *w)
{
    if (w) {
        w->stopped = 1;
    }
}

void proc_windows_free(struct proc_windows *w)
{
    if (!w) {
        return;
    }
    for (size_t i = 0; i < w->nchanged; i++) {
        struct kstate *k = w->changed[i];
        if (k->dead && --k->refs == 0) {
            proc_window_free_key(k);
        }
    }
    free(w->changed);
    for (size_t i = 0; i < w->nheap; i++) { /* keys already unlinked live on in the heap */
        struct kstate *k = w->heap[i].k;
        if (k->dead && --k->refs == 0) {
            proc_window_free_key(k);
        }
    }
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct kstate *k = w->buckets[i];
        while (k) {
            struct kstate *next = k->next_in_bucket;
            proc_window_free_key(k);
            k = next;
        }
    }
    proc_window_tenants_free(w);
    free(w->heap);
    free(w->buckets);
    free(w);
}

enum proc_add proc_windows_add(struct proc_windows *w, const char *tenant, const char *key,
                               int64_t t, const json_t *ev, const json_t *args,
                               const char *traceparent, int64_t offset, int64_t wm,
                               proc_window_emit_fn emit, void *ud, size_t *errors)
{
    w->added = NULL;
    if (w->d->window == PROC_WIN_JOIN) {
        return proc_ijoin_add(w, tenant, key, t, ev, traceparent, offset, wm, emit, ud);
    }
    if (w->d->window == PROC_WIN_SESSION) {
        return proc_session_add(w, tenant, key, t, ev, args, traceparent, offset, wm, emit, ud,
                                errors);
    }
    return add_pane(w, tenant, key, t, ev, args, traceparent, offset, wm, emit, ud, errors);
}

size_t proc_windows_advance(struct proc_windows *w, int64_t wm, proc_window_emit_fn emit, void *ud)
{
    size_t fired = 0;
    while (!w->stopped && w->nheap > 0 && w->heap[0].time <= wm) {
        struct timer t = heap_pop(w);
        struct kstate *k = t.k;
        k->refs--;
        if (k->dead) {
            if (k->refs == 0) {
                proc_window_free_key(k);
            }
            continue;
        }
        if (t.time != k->timer) {
            continue; /* superseded by an earlier timer */
        }
        k->timer = INT64_MAX;
        fired += w->d->window == PROC_WIN_JOIN      ? proc_ijoin_advance(w, k, wm, emit, ud)
                 : w->d->window == PROC_WIN_SESSION ? proc_session_advance(w, k, wm, emit, ud)
                                                    : advance_panes(w, k, wm, emit, ud);
        proc_window_schedule(w, k);
        proc_window_touch(w, k);
        proc_window_drop_if_empty(w, k);
    }
    return fired;
}

size_t proc_windows_keys(const struct proc_windows *w)
{
    return w->nkeys;
}

size_t proc_windows_max_keys(const struct proc_windows *w)
{
    return w->max_keys;
}

void proc_windows_refusal(const struct proc_windows *w, char *why, size_t len)
{
    if (w->refused_by == REFUSED_EVENTS) {
        long long n = w->d->ijoin.max_events;
        snprintf(why, len,
                 "interval_join.max_events_per_key: its key holds %lld event%s, the most it may", n,
                 n == 1 ? "" : "s");
        return;
    }
    int tenant = w->refused_by == REFUSED_TENANT;
    size_t n = tenant ? w->max_per_tenant : w->max_keys;
    snprintf(why, len,
             "%s: the state of its input partition holds %zu key%s%s, the most it may, and none "
             "is this event's",
             tenant ? "max_keys_per_tenant" : "max_keys", n, n == 1 ? "" : "s",
             tenant ? " of its tenant" : "");
}

int64_t proc_windows_min_offset(const struct proc_windows *w)
{
    int64_t min = INT64_MAX;
    for (size_t b = 0; b < w->nbuckets; b++) {
        for (const struct kstate *k = w->buckets[b]; k; k = k->next_in_bucket) {
            for (size_t i = 0; i < k->npanes; i++) {
                min = k->panes[i].min_offset < min ? k->panes[i].min_offset : min;
            }
            for (size_t i = 0; i < k->nsess; i++) {
                min = k->sess[i].min_offset < min ? k->sess[i].min_offset : min;
            }
            for (size_t i = 0; i < k->njent; i++) {
                min = k->jent[i].offset < min ? k->jent[i].offset : min;
            }
        }
    }
    return min == INT64_MAX ? -1 : min;
}
