/* proc_window_peek: a key's windows as they are, changing nothing (proc_windows_peek, see
 * proc_window.h): the view the windows query answers from. */
#include "proc_window.h"
#include "proc_window_int.h"

#include "proc_agg.h"
#include "proc_def.h"

#include <stdint.h>

/* The revision that holds a window's current values: the last one that went out (update mode, a
 * window that closed, or an open one unchanged since an early result), else the one its next
 * result will carry. */
static unsigned peek_holding(const struct proc_def *d, unsigned next, int open, int unchanged)
{
    return (d->emit_update || !open || (d->early_ms && unchanged)) && next > 0 ? next - 1 : next;
}

struct peek_ctx {
    int64_t wm;
    proc_window_peek_fn fn;
    void *ud;
    size_t n;
};

static int peek_window(struct proc_windows *w, struct kstate *k, int64_t s, size_t lo, void *ud)
{
    struct peek_ctx *c = ud;
    const struct proc_def *d = w->d;
    if (s < w->from || s >= w->until ||
        proc_sat_add(s + d->size_ms - 1, d->lateness_ms) <= (c->wm > w->done ? c->wm : w->done)) {
        return 1; /* another version's, expired, or finished before the state was lost */
    }
    struct proc_acc *acc = NULL;
    const char *tp = "";
    uint64_t events = 0;
    for (size_t j = lo; j < k->npanes && k->panes[j].start < s + d->size_ms; j++) {
        events += proc_acc_events(k->panes[j].acc);
        if (j > lo) {
            acc = acc ? acc : proc_acc_copy(k->panes[lo].acc);
            proc_acc_merge(acc, k->panes[j].acc);
        }
        tp = k->panes[j].tp[0] ? k->panes[j].tp : tp;
    }
    int open = s + d->size_ms - 1 > c->wm;
    struct proc_window_result r = {.tenant = k->tenant,
                                   .key = k->key,
                                   .start_ms = s,
                                   .end_ms = s + d->size_ms,
                                   .revision =
                                       peek_holding(d, proc_window_revision(k, s), open,
                                                    events == proc_window_fired_events(k, s)),
                                   .acc = acc ? acc : k->panes[lo].acc,
                                   .traceparent = tp};
    int more = c->fn(&r, open, c->ud);
    proc_acc_free(acc);
    c->n++;
    return more;
}

size_t proc_windows_peek(struct proc_windows *w, const char *tenant, const char *key, int64_t wm,
                         proc_window_peek_fn fn, void *ud)
{
    if (w->d->window == PROC_WIN_JOIN) {
        return 0;
    }
    struct kstate *k = proc_window_key(w, tenant, key, PROC_KEY_FIND);
    if (!k || k->dead) {
        return 0;
    }
    if (w->d->window != PROC_WIN_SESSION) {
        struct peek_ctx c = {wm, fn, ud, 0};
        proc_window_each(w, k, peek_window, &c);
        return c.n;
    }
    size_t n = 0;
    for (size_t i = 0; i < k->nsess; i++) {
        const struct session *s = &k->sess[i];
        if (proc_sat_add(s->end - 1, w->d->lateness_ms) <= wm ||
            proc_sat_add(s->end - 1, w->d->lateness_ms) <= w->done) {
            continue;
        }
        int open = s->end - 1 > wm;
        struct proc_window_result r = {.tenant = k->tenant,
                                       .key = k->key,
                                       .start_ms = s->start,
                                       .end_ms = s->end,
                                       .revision =
                                           peek_holding(w->d, s->next_rev, open, !s->pending),
                                       .acc = s->acc,
                                       .traceparent = s->tp};
        n++;
        if (!fn(&r, open, ud)) {
            break;
        }
    }
    return n;
}
