/* proc_session: session windows (gap): an event opens [t, t + gap); sessions of a key that touch
 * merge (their aggregates by monoid merge, the highest revision kept), and a session fires when
 * the watermark reaches its end - 1 ms, as Flink's EventTimeSessionWindows. With `retract`, a
 * session whose result went out and that a merge replaces (or that grows) is withdrawn first, as
 * Kafka Streams forwards a tombstone for it. Sessions live on the
 * window state's keys, timers and checkpoints (proc_window_int.h). */
#include "proc_agg.h"
#include "proc_def.h"
#include "proc_time.h"
#include "proc_window.h"
#include "proc_window_int.h"

#include "cm/mem.h"

#include <string.h>

/* The next time something happens to k's sessions: a firing at the watermark or an expiry. */
int64_t proc_session_next_time(const struct proc_windows *w, const struct kstate *k)
{
    const struct proc_def *d = w->d;
    int64_t t = INT64_MAX, L = d->lateness_ms;
    for (size_t i = 0; i < k->nsess; i++) {
        const struct session *s = &k->sess[i];
        if ((s->pending || s->early) && !d->emit_update && s->end - 1 < t) {
            t = s->end - 1;
        }
        t = proc_sat_add(s->end - 1, L) < t ? proc_sat_add(s->end - 1, L) : t;
    }
    return k->early_at != NONE && k->early_at < t ? k->early_at : t;
}

static int emit_session(const struct proc_windows *w, struct kstate *k, struct session *s,
                        enum proc_timing timing, proc_window_emit_fn emit, void *ud)
{
    if (proc_sat_add(s->end - 1, w->d->lateness_ms) <= w->done) {
        s->pending = 0; /* finished before the state was lost: its result went out whole */
        return 0;
    }
    struct proc_window_result r = {.tenant = k->tenant,
                                   .key = k->key,
                                   .start_ms = s->start,
                                   .end_ms = s->end,
                                   .revision = s->next_rev,
                                   .timing = timing,
                                   .acc = s->acc,
                                   .traceparent = s->tp};
    int emitted = emit(&r, ud);
    s->next_rev += (unsigned)emitted;
    s->out |= emitted; /* one held back by `having` leaves the one before standing */
    s->pending = 0;
    return emitted;
}

enum proc_add proc_session_add(struct proc_windows *w, const char *tenant, const char *key,
                               int64_t t, const json_t *ev, const json_t *args, const char *tp,
                               int64_t offset, int64_t wm, proc_window_emit_fn emit, void *ud,
                               size_t *errors)
{
    const struct proc_def *d = w->d;
    if (t < w->from || t >= w->until) {
        return PROC_SKIPPED;
    }
    int64_t start = t, end = proc_sat_add(t, d->gap_ms);
    struct kstate *k = proc_window_key(w, tenant, key, PROC_KEY_FIND);
    size_t i = 0, j;
    if (k) {
        while (i < k->nsess && k->sess[i].end < start) {
            i++;
        }
        for (j = i; j < k->nsess && k->sess[j].start <= end; j++) {
            start = k->sess[j].start < start ? k->sess[j].start : start;
            end = k->sess[j].end > end ? k->sess[j].end : end;
        }
    } else {
        j = 0;
    }
    if (proc_sat_add(end - 1, d->lateness_ms) <= wm) {
        return PROC_LATE;
    }
    if (!k && !(k = proc_window_key(w, tenant, key, PROC_KEY_CREATE))) {
        return PROC_REFUSED;
    }
    w->added = k;
    struct session merged = {
        .start = start, .end = end, .min_offset = offset, .acc = proc_acc_new(d), .pending = 1};
    for (size_t m = i; m < j; m++) {
        struct session *s = &k->sess[m];
        int same = s->start == start && s->end == end;
        merged.out |= same && s->out;
        if (d->retract && s->out && !same) {
            /* its result went out, and the session it was is no more */
            struct proc_window_result r = {.tenant = k->tenant,
                                           .key = k->key,
                                           .start_ms = s->start,
                                           .end_ms = s->end,
                                           .revision = s->next_rev - 1,
                                           .traceparent = tp ? tp : "",
                                           .retraction = 1,
                                           .by_start_ms = start,
                                           .by_end_ms = end};
            emit(&r, ud);
        }
        proc_acc_merge(merged.acc, s->acc);
        merged.min_offset = s->min_offset < merged.min_offset ? s->min_offset : merged.min_offset;
        merged.next_rev = s->next_rev > merged.next_rev ? s->next_rev : merged.next_rev;
        proc_acc_free(s->acc);
    }
    proc_window_acc_add(merged.acc, ev, args, t, errors);
    proc_window_copy_tp(merged.tp, tp);
    size_t removed = j - i;
    if (removed == 0) {
        if (k->nsess == k->capsess) {
            k->capsess = k->capsess ? k->capsess * 2 : 2;
            k->sess = cm_xrealloc(k->sess, k->capsess * sizeof(*k->sess));
        }
        memmove(&k->sess[i + 1], &k->sess[i], (k->nsess - i) * sizeof(*k->sess));
        k->nsess++;
    } else if (removed > 1) {
        memmove(&k->sess[i + 1], &k->sess[j], (k->nsess - j) * sizeof(*k->sess));
        k->nsess -= removed - 1;
    }
    k->sess[i] = merged;
    if (d->emit_update || end - 1 <= wm) {
        emit_session(w, k, &k->sess[i], end - 1 <= wm ? PROC_TIMING_LATE : PROC_TIMING_EARLY, emit,
                     ud);
    } else if (d->early_ms) {
        proc_window_want_early(w, k, wm); /* an open session changed */
    }
    proc_window_schedule(w, k);
    proc_window_touch(w, k);
    return PROC_ADDED;
}

size_t proc_session_advance(struct proc_windows *w, struct kstate *k, int64_t wm,
                            proc_window_emit_fn emit, void *ud)
{
    const struct proc_def *d = w->d;
    size_t fired = 0, keep = 0;
    /* at an early firing, sessions that changed fire early as windows do (early_one) */
    int early = k->early_at != NONE && k->early_at <= wm, waiting = 0;
    for (size_t i = 0; i < k->nsess; i++) {
        struct session *s = &k->sess[i];
        int closing = s->end - 1 <= wm;
        if (early && !d->emit_update && s->pending) {
            int64_t point = proc_early_last(d, closing ? s->end - 2 : wm);
            if (point >= k->early_at && point >= s->start) {
                fired += (size_t)emit_session(w, k, s, PROC_TIMING_EARLY, emit, ud);
                s->early = 1; /* its final result is still due */
            } else {
                waiting |= !closing;
            }
        }
        if (!d->emit_update && closing && (s->pending || s->early)) {
            fired += (size_t)emit_session(w, k, s, PROC_TIMING_ON_TIME, emit, ud);
            s->early = 0;
        }
        if (proc_sat_add(s->end - 1, d->lateness_ms) <= wm) {
            proc_acc_free(s->acc);
        } else {
            k->sess[keep++] = *s;
        }
    }
    k->nsess = keep;
    if (early) {
        k->early_at = waiting ? proc_early_next(d, wm) : NONE;
    }
    return fired;
}
