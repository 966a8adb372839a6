/* proc_sources: an engine's input partitions (sources) as checkpoints and hot swaps see them
 * (see proc_engine.h): the event-time bounds of a version being swapped in or out and whether it
 * has drained, rewinding a partition read again, its restored windows, horizon and repeat marks,
 * and walking or dropping them. */
#include "proc_engine.h"
#include "proc_engine_int.h"

#include "proc_def.h"
#include "proc_window.h"

#include <stdlib.h>

void proc_engine_set_bounds(struct proc_engine *e, int64_t from, int64_t until)
{
    e->from = from;
    e->until = until;
    for (size_t i = 0; i < e->nsrc; i++) {
        if (e->src[i].w) {
            proc_windows_set_bounds(e->src[i].w, from, until);
        }
    }
}

void proc_engine_bounds(const struct proc_engine *e, int64_t *from, int64_t *until)
{
    *from = e->from;
    *until = e->until;
}

int proc_engine_drained(const struct proc_engine *e)
{
    const struct proc_def *d = e->d;
    if (e->until == INT64_MAX || d->window == PROC_WIN_NONE) {
        return 0;
    }
    for (size_t i = 0; i < e->nsrc; i++) {
        if (e->src[i].w && proc_windows_keys(e->src[i].w) > 0) {
            return 0;
        }
    }
    /* no window starting before `until` can still take an event */
    int64_t span = d->window == PROC_WIN_SESSION ? d->gap_ms : d->size_ms;
    if (d->window == PROC_WIN_JOIN) { /* every time of a pair it keeps, and an entry's reach */
        int64_t lo = d->ijoin.lower < 0 ? -d->ijoin.lower : d->ijoin.lower;
        int64_t hi = d->ijoin.upper < 0 ? -d->ijoin.upper : d->ijoin.upper;
        span = 2 * (lo > hi ? lo : hi) + 1;
    }
    return e->until == INT64_MIN || e->wm >= e->until + span + d->lateness_ms;
}

static void free_source(struct proc_engine *e, int32_t source)
{
    for (size_t i = 0; i < e->nsrc; i++) {
        if (e->src[i].id == source) {
            proc_windows_free(e->src[i].w);
            free(e->src[i].marks);
            free(e->src[i].reports);
            e->src[i] = e->src[--e->nsrc];
            return;
        }
    }
}

void proc_engine_rewind_source(struct proc_engine *e, int32_t source, int64_t first)
{
    struct source *s = proc_engine_source(e, source, 0);
    if (s) {
        s->resume = first;
        s->nmarks = 0;
        s->hz_until = -1; /* the horizon was of the old log */
        s->hz_wm = INT64_MIN;
        proc_windows_set_done(s->w, INT64_MIN);
    }
}

void proc_engine_restore_horizon(struct proc_engine *e, int32_t source, int64_t until, int64_t wm,
                                 int64_t now_ms)
{
    struct source *s = proc_engine_source(e, source, 1);
    s->last_seen_ms = s->last_seen_ms ? s->last_seen_ms : now_ms;
    if (wm > s->hz_wm) {
        s->hz_wm = wm;
        s->hz_until = until > s->hz_until ? until : s->hz_until;
        proc_windows_set_done(s->w, wm);
    }
}

int64_t proc_engine_horizon(const struct proc_engine *e, int32_t source, int64_t *until)
{
    const struct source *s = proc_engine_source((struct proc_engine *)e, source, 0);
    if (!s || !s->w) {
        return INT64_MIN;
    }
    int64_t wm = s->wm;
    if (s->hz_wm > wm) { /* a horizon not reached yet is kept as it was */
        *until = s->hz_until > *until ? s->hz_until : *until;
        return s->hz_wm;
    }
    return wm;
}

int proc_engine_has_source(const struct proc_engine *e, int32_t source)
{
    return proc_engine_source((struct proc_engine *)e, source, 0) != NULL;
}

int64_t proc_engine_min_offset(const struct proc_engine *e, int32_t source)
{
    const struct source *s = proc_engine_source((struct proc_engine *)e, source, 0);
    return s && s->w ? proc_windows_min_offset(s->w) : -1;
}

void proc_engine_track_changes(struct proc_engine *e)
{
    e->track = 1;
    for (size_t i = 0; i < e->nsrc; i++) {
        if (e->src[i].w) {
            proc_windows_track_changes(e->src[i].w);
        }
    }
}

void proc_engine_each_source(struct proc_engine *e, proc_engine_source_fn fn, void *ud)
{
    for (size_t i = 0; i < e->nsrc; i++) {
        if (e->src[i].w) {
            fn(e->src[i].id, e->src[i].max_time, e->src[i].resume, e->src[i].w, ud);
        }
    }
}

void proc_engine_drop_source(struct proc_engine *e, int32_t source)
{
    proc_engine_heard(e, source);
    free_source(e, source);
}

struct proc_windows *proc_engine_restore_source(struct proc_engine *e, int32_t source,
                                                int64_t max_time, int64_t resume, int64_t now_ms)
{
    free_source(e, source); /* (still awaited when it had sent nothing) */
    struct source *s = proc_engine_source(e, source, 1);
    s->max_time = max_time;
    s->resume = resume;
    s->last_seen_ms = now_ms;
    return s->w;
}

size_t proc_engine_marks(struct proc_engine *e, int32_t source, const struct proc_origin **marks)
{
    struct source *s = proc_engine_source(e, source, 0);
    *marks = s ? s->marks : NULL;
    return s ? s->nmarks : 0;
}
