/* proc_window_ckpt: the checkpoint form of window state (see proc_window.h). A key is
 * {"p": [[start, min_offset, acc, traceparent], ...], "s": [[start, end, min_offset, acc,
 * next_revision, pending, traceparent(, final due after an early firing)(, with retract: a
 * result of it went out)], ...], "r":
 * [[window_start, next_revision], ...],
 * "n": next_start or null, "e": the watermark of its next early firing (absent: none), and for an
 * interval join "j": its entries (proc_ijoin_write_state), and with deduplication "d": the ids
 * it took (proc_seen_write), or when it took many "db": the number of blocks of fields of their
 * own that hold them (proc_seen_plan)}; with early firings a revision is
 * [window_start, next_revision, events it last fired with];
 * acc is proc_acc's checkpoint form. Written with cm_jw (no jansson tree), read with jansson. */
#include "proc_time.h"
#include "proc_window.h"
#include "proc_window_int.h"

#include "proc_agg.h"
#include "proc_def.h"

#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void proc_windows_track_changes(struct proc_windows *w)
{
    w->track = 1;
    w->full = 1;
}

int proc_windows_full(const struct proc_windows *w)
{
    return w->full;
}

void proc_windows_set_full(struct proc_windows *w, int full)
{
    w->full = full;
    for (size_t b = 0; full && b < w->nbuckets; b++) {
        for (struct kstate *k = w->buckets[b]; k; k = k->next_in_bucket) {
            proc_window_touch(w, k);
        }
    }
}

long long proc_windows_next_seq(struct proc_windows *w)
{
    return ++w->ckpt_seq;
}

void proc_windows_set_seq(struct proc_windows *w, long long seq)
{
    w->ckpt_seq = seq;
}

/* A key's checkpoint form, written to w (see the top of this file). */
static void write_key_state(const struct proc_def *d, const struct kstate *k,
                            const struct proc_seen_plan *ids, struct cm_jw *w)
{
    cm_jw_object(w);
    cm_jw_key(w, "p");
    cm_jw_array(w);
    for (size_t i = 0; i < k->npanes; i++) {
        const struct pane *p = &k->panes[i];
        cm_jw_array(w);
        cm_jw_int(w, (long long)p->start);
        cm_jw_int(w, (long long)p->min_offset);
        proc_acc_write_state(p->acc, w);
        cm_jw_string(w, p->tp);
        cm_jw_end(w);
    }
    cm_jw_end(w);
    cm_jw_key(w, "s");
    cm_jw_array(w);
    for (size_t i = 0; i < k->nsess; i++) {
        const struct session *s = &k->sess[i];
        cm_jw_array(w);
        cm_jw_int(w, (long long)s->start);
        cm_jw_int(w, (long long)s->end);
        cm_jw_int(w, (long long)s->min_offset);
        proc_acc_write_state(s->acc, w);
        cm_jw_int(w, (long long)s->next_rev);
        cm_jw_bool(w, s->pending);
        cm_jw_string(w, s->tp);
        if (d->early_ms) {
            cm_jw_bool(w, s->early);
        }
        if (d->retract) {
            cm_jw_bool(w, s->out);
        }
        cm_jw_end(w);
    }
    cm_jw_end(w);
    cm_jw_key(w, "r");
    cm_jw_array(w);
    for (size_t i = 0; i < k->nrevs; i++) {
        cm_jw_array(w);
        cm_jw_int(w, (long long)k->revs[i].start);
        cm_jw_int(w, (long long)k->revs[i].next);
        if (d->early_ms) {
            cm_jw_int(w, (long long)k->revs[i].events);
        }
        cm_jw_end(w);
    }
    cm_jw_end(w);
    cm_jw_key(w, "n");
    if (k->next_start == NONE) {
        cm_jw_null(w);
    } else {
        cm_jw_int(w, (long long)k->next_start);
    }
    if (k->early_at != NONE) {
        cm_jw_key(w, "e");
        cm_jw_int(w, (long long)k->early_at);
    }
    if (k->njent > 0) {
        cm_jw_key(w, "j");
        proc_ijoin_write_state(k, w);
    }
    if (ids->inline_ids && proc_seen_count(k->seen) > 0) {
        cm_jw_key(w, "d");
        proc_seen_write(k, 1, w);
    } else if (!ids->inline_ids && ids->blocks > 0) {
        cm_jw_key(w, "db");
        cm_jw_int(w, (long long)ids->blocks);
    }
    cm_jw_end(w);
}

size_t proc_windows_changes(struct proc_windows *w, proc_windows_change_fn fn, void *ud)
{
    size_t n = w->nchanged;
    struct cm_jw text = {0};
    char *name = NULL;
    size_t capname = 0;
    for (size_t i = 0; i < n; i++) {
        struct kstate *k = w->changed[i];
        /* "<tenant>\x1f<key>": the key's block holds "<tenant>\0<key>\0" */
        size_t tl = (size_t)(k->key - k->tenant) - 1, nl = tl + 1 + strlen(k->key);
        if (nl + 1 > capname) {
            capname = nl + 1 > 2 * capname ? nl + 1 : 2 * capname;
            name = cm_xrealloc(name, capname);
        }
        memcpy(name, k->tenant, nl + 1);
        name[tl] = '\x1f';
        if (!(k->dead && w->full)) { /* a full checkpoint starts from nothing */
            if (k->dead) {
                fn(name, PROC_KEY_STATE, NULL, 0, ud);
                for (unsigned b = 0; b < proc_seen_blocks(k); b++) {
                    fn(name, (int)b, NULL, 0, ud);
                }
            } else {
                size_t len;
                struct proc_seen_plan ids;
                proc_seen_plan(k, w->full, &ids);
                cm_jw_reset(&text);
                write_key_state(w->d, k, &ids, &text);
                const char *state = cm_jw_text(&text, &len);
                fn(name, PROC_KEY_STATE, state, len, ud);
                if (ids.write >= 0) {
                    cm_jw_reset(&text);
                    proc_seen_write(k, ids.whole, &text);
                    state = cm_jw_text(&text, &len);
                    fn(name, ids.write, state, len, ud);
                }
                for (unsigned b = ids.drop_from; b < ids.drop_to; b++) {
                    fn(name, (int)b, NULL, 0, ud);
                }
                proc_seen_written(k);
            }
        }
        k->dirty = 0;
        if (--k->refs == 0 && k->dead) {
            proc_window_free_key(k);
        }
    }
    cm_jw_free(&text);
    free(name);
    w->nchanged = 0;
    w->full = 0;
    return n;
}

static int get_int(const json_t *a, size_t i, int64_t *out)
{
    const json_t *v = json_array_get(a, i);
    if (!json_is_integer(v)) {
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int restore_panes(struct proc_windows *w, struct kstate *k, const json_t *panes)
{
    size_t i;
    const json_t *p;
    int64_t prev = INT64_MIN;
    json_array_foreach(panes, i, p)
    {
        int64_t start, min_offset;
        const char *tp = json_string_value(json_array_get(p, 3));
        if (get_int(p, 0, &start) || get_int(p, 1, &min_offset) || !tp || start <= prev ||
            !proc_state_time_ok(start) || min_offset < 0 ||
            proc_def_align(w->d, start, w->d->pane_ms) != start) {
            return CM_E_INVAL;
        }
        struct proc_acc *acc = proc_acc_from_json(w->d, json_array_get(p, 2));
        if (!acc) {
            return CM_E_INVAL;
        }
        if (k->npanes == k->cappanes) {
            k->cappanes = k->cappanes ? k->cappanes * 2 : 2;
            k->panes = cm_xrealloc(k->panes, k->cappanes * sizeof(*k->panes));
        }
        struct pane *np = &k->panes[k->npanes++];
        *np = (struct pane){start, min_offset, acc, ""};
        cm_strlcpy(np->tp, tp, sizeof(np->tp));
        prev = start;
    }
    return 0;
}

static int restore_sessions(struct proc_windows *w, struct kstate *k, const json_t *sess)
{
    size_t i;
    const json_t *s;
    int64_t prev_end = INT64_MIN;
    json_array_foreach(sess, i, s)
    {
        int64_t start, end, min_offset, rev;
        const char *tp = json_string_value(json_array_get(s, 6));
        /* with early firings a member more: whether its final result is still due; then with
         * retract one more: whether a result of it went out */
        size_t n = json_array_size(s), more = 7;
        const json_t *early = w->d->early_ms ? json_array_get(s, more++) : NULL;
        const json_t *out = w->d->retract ? json_array_get(s, more++) : NULL;
        if (get_int(s, 0, &start) || get_int(s, 1, &end) || get_int(s, 2, &min_offset) ||
            get_int(s, 4, &rev) || !json_is_boolean(json_array_get(s, 5)) || !tp || start >= end ||
            start <= prev_end || rev < 0 || rev > UINT_MAX || !proc_state_time_ok(start) ||
            !proc_state_time_ok(end) || min_offset < 0 ||
            (n != more && !(n == 7 && !w->d->retract)) || (early && !json_is_boolean(early)) ||
            (out && !json_is_boolean(out)) || (json_is_true(out) && rev == 0)) {
            return CM_E_INVAL;
        }
        struct proc_acc *acc = proc_acc_from_json(w->d, json_array_get(s, 3));
        if (!acc) {
            return CM_E_INVAL;
        }
        if (k->nsess == k->capsess) {
            k->capsess = k->capsess ? k->capsess * 2 : 2;
            k->sess = cm_xrealloc(k->sess, k->capsess * sizeof(*k->sess));
        }
        struct session *ns = &k->sess[k->nsess++];
        *ns = (struct session){.start = start,
                               .end = end,
                               .min_offset = min_offset,
                               .acc = acc,
                               .next_rev = (unsigned)rev,
                               .pending = json_is_true(json_array_get(s, 5)),
                               .early = json_is_true(early),
                               .out = json_is_true(out)};
        cm_strlcpy(ns->tp, tp, sizeof(ns->tp));
        prev_end = end;
    }
    return 0;
}

int proc_windows_restore(struct proc_windows *w, const char *name, const json_t *state)
{
    const char *sep = strchr(name, '\x1f');
    const json_t *panes = json_object_get(state, "p"), *sess = json_object_get(state, "s");
    const json_t *revs = json_object_get(state, "r"), *next = json_object_get(state, "n");
    /* panes only in tumbling and hopping windows, sessions only in session windows: an
     * interval join's key has neither (and a pane's start is checked against the pane size) */
    enum proc_window_kind kind = w->d->window;
    int paned = kind == PROC_WIN_TUMBLING || kind == PROC_WIN_HOPPING;
    if (!sep || !json_is_array(panes) || !json_is_array(sess) || !json_is_array(revs) ||
        !(json_is_null(next) || json_is_integer(next)) || (!paned && json_array_size(panes) != 0) ||
        (kind != PROC_WIN_SESSION && json_array_size(sess) != 0)) {
        return CM_E_INVAL;
    }
    char *tenant = cm_xstrndup(name, (size_t)(sep - name));
    struct kstate *k = proc_window_key(w, tenant, sep + 1, PROC_KEY_FIND);
    int rc = k ? CM_E_INVAL : 0; /* a key is restored once, into an empty state */
    if (rc == 0) {
        k = proc_window_key(w, tenant, sep + 1, PROC_KEY_RESTORE);
        k->next_start = json_is_null(next) ? NONE : json_integer_value(next);
        if (k->next_start != NONE && !proc_state_time_ok(k->next_start)) {
            rc = CM_E_INVAL;
        }
        rc = rc ? rc : restore_panes(w, k, panes);
        rc = rc ? rc : restore_sessions(w, k, sess);
        const json_t *j = json_object_get(state, "j");
        if (rc == 0 && j) {
            rc = w->d->window == PROC_WIN_JOIN ? proc_ijoin_restore(k, j) : CM_E_INVAL;
        }
        const json_t *ids = json_object_get(state, "d"), *blocks = json_object_get(state, "db");
        if (rc == 0 && ids) {
            rc = w->d->dedup && !blocks ? proc_seen_restore(w, k, ids) : CM_E_INVAL;
        }
        if (rc == 0 && blocks) { /* (its blocks follow: proc_windows_restore_ids) */
            rc = w->d->dedup && json_is_integer(blocks)
                     ? proc_seen_restore_blocks(k, json_integer_value(blocks))
                     : CM_E_INVAL;
        }
        size_t i;
        const json_t *r;
        json_array_foreach(revs, i, r)
        {
            /* [start, next revision] (and, with early firings, the events it last went out
             * with) */
            int64_t start, nextrev, events = 0;
            size_t n = json_array_size(r);
            if (rc || get_int(r, 0, &start) || get_int(r, 1, &nextrev) || nextrev < 0 ||
                nextrev > UINT_MAX || !proc_state_time_ok(start) ||
                (n != 2 && !(n == 3 && w->d->early_ms)) ||
                (n == 3 && (get_int(r, 2, &events) || events < 0))) {
                rc = CM_E_INVAL;
                break;
            }
            if (k->nrevs == k->caprevs) {
                k->caprevs = k->caprevs ? k->caprevs * 2 : 4;
                k->revs = cm_xrealloc(k->revs, k->caprevs * sizeof(*k->revs));
            }
            k->revs[k->nrevs++] = (struct rev){start, (unsigned)nextrev, (uint64_t)events};
        }
        const json_t *early = json_object_get(state, "e");
        if (rc == 0 && early) {
            int64_t at = json_is_integer(early) ? json_integer_value(early) : NONE;
            if (!w->d->early_ms || (at != INT64_MIN + 1 && !proc_state_time_ok(at))) {
                rc = CM_E_INVAL; /* (an early firing only where the definition asks for them) */
            } else {
                k->early_at = at;
            }
        }
        proc_window_schedule(w, k);
    }
    free(tenant);
    return rc;
}

int proc_windows_restore_ids(struct proc_windows *w, const char *name, unsigned block,
                             const json_t *ids)
{
    const char *sep = strchr(name, '\x1f');
    if (!sep) {
        return CM_E_INVAL;
    }
    char *tenant = cm_xstrndup(name, (size_t)(sep - name));
    struct kstate *k = proc_window_key(w, tenant, sep + 1, PROC_KEY_FIND);
    free(tenant);
    return k ? proc_seen_restore_block(w, k, block, ids) : CM_E_INVAL;
}

int proc_windows_restored(struct proc_windows *w)
{
    int rc = 0;
    for (size_t b = 0; b < w->nbuckets; b++) {
        for (struct kstate *k = w->buckets[b]; k; k = k->next_in_bucket) {
            rc = proc_seen_restored(k) ? CM_E_INVAL : rc;
        }
    }
    return rc;
}
