/* proc_swap: pipeline definitions changing under a running host (see proc_host.h): a new
 * pipeline starts, a new version takes over the windows from its cut-over while the old one
 * drains the windows before it, a deleted one stops; the topics read follow; the status the
 * API shows is refreshed. Everything but proc_host_changed runs on the stream's thread. */
#include "proc_host_int.h"

#include "proc_batch.h"
#include "proc_ckpt.h"
#include "proc_def.h"
#include "proc_engine.h"
#include "proc_table.h"

#include "cm/defs.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/stream.h"
#include "cm/timeutil.h"

#include <stdlib.h>
#include <string.h>

/* Where version d, stored at created_ms, takes over from the one before: the first window
 * start of its grid at or after created_ms (sessions: created_ms). */
static int64_t cutover(const struct proc_def *d, int64_t created_ms)
{
    if (d->window == PROC_WIN_TUMBLING || d->window == PROC_WIN_HOPPING) {
        return proc_def_align_up(d, created_ms, d->slide_ms);
    }
    return created_ms;
}

void proc_host_free_change(struct change *c)
{
    free(c->name);
    proc_def_free(c->def);
    proc_def_free(c->prev_def);
}

void proc_host_changed(struct proc_host *h, const struct cm_defs_change *c)
{
    struct change ch = {cm_xstrdup(c->name), c->version,   c->compiled,
                        c->created_ms,       c->flags,     c->prev_compiled,
                        c->prev_created_ms,  c->prev_flags};
    pthread_mutex_lock(&h->lock);
    h->q = cm_xrealloc(h->q, (h->nq + 1) * sizeof(*h->q));
    h->q[h->nq++] = ch;
    pthread_mutex_unlock(&h->lock);
}

static void add_pipeline(struct proc_host *h, struct proc_def *d, int64_t from, int64_t until,
                         int draining)
{
    for (size_t i = 0; i < d->ntables; i++) {
        proc_tables_follow(h->tables, d->tables[i]); /* logged when it cannot */
    }
    struct proc_engine *e = proc_host_new_engine(h, d);
    proc_engine_set_bounds(e, from, until);
    proc_host_track_assigned(h, d, e);
    h->p = cm_xrealloc(h->p, (h->n + 1) * sizeof(*h->p));
    h->p[h->n++] = (struct pipeline){.def = d,
                                     .engine = e,
                                     .draining = draining,
                                     .batch = proc_host_new_batcher(h, d),
                                     .mismatch_log = CM_LOG_LIMIT(PROC_HOST_MISMATCH_LOG_MS)};
}

/* Removes pipeline k; drop: its checkpoints go too. */
static void remove_pipeline(struct proc_host *h, size_t k, int drop)
{
    if (drop && h->stream) {
        cm_stream_drain(h->stream); /* no checkpoint of it still on its way to Redis */
    }
    if (drop && h->redis && proc_ckpt_drop(h->redis, h->p[k].engine) != 0) {
        CM_LOG_WARN("checkpoint_drop_failed",
                    "pipeline %s version %lld: Redis unreachable; its "
                    "checkpoints stay",
                    h->p[k].def->name, h->p[k].def->version);
    }
    if (h->p[k].batch) {
        proc_batcher_flush(h->p[k].batch); /* its outputs so far, before it goes */
        proc_batcher_free(h->p[k].batch);
    }
    proc_host_free_frames(&h->p[k]);
    proc_engine_free(h->p[k].engine);
    proc_def_free(h->p[k].def);
    memmove(&h->p[k], &h->p[k + 1], (h->n - k - 1) * sizeof(*h->p));
    h->n--;
}

/* Deletes every checkpoint of pipeline name below version `below` from Redis, of the partitions
 * held here and elsewhere (a rebalance under way or an instance down left theirs), once no
 * checkpoint is on its way there. Every instance does it after stopping its own versions, so
 * what one still wrote after another's pass goes too. */
static void drop_versions(struct proc_host *h, const char *name, long long below)
{
    if (!h->redis) {
        return;
    }
    if (h->stream) {
        cm_stream_drain(h->stream);
    }
    long n = proc_ckpt_drop_versions(h->redis, name, below);
    if (n < 0) {
        CM_LOG_WARN("checkpoint_drop_failed",
                    "pipeline %s: Redis unreachable; checkpoints of versions before %lld stay",
                    name, below);
    } else if (n > 0) {
        CM_LOG_INFO("checkpoints_dropped",
                    "pipeline %s: %ld checkpoints of versions before %lld deleted", name, n, below);
    }
}

/* The running (not draining) pipeline called name, or -1. */
static long live_index(const struct proc_host *h, const char *name)
{
    for (size_t k = 0; k < h->n; k++) {
        if (!h->p[k].draining && strcmp(h->p[k].def->name, name) == 0) {
            return (long)k;
        }
    }
    return -1;
}

/* Version c->def replaces the running one of its name (or starts it; after a restart, with the
 * version before it finishing its windows when that one kept state). */
static void take_change(struct proc_host *h, struct change *c)
{
    long k = live_index(h, c->name);
    int reset = (c->flags & CM_DEFS_RESET) != 0;
    if (!c->def) { /* deleted: it stops, and so do the versions still draining */
        for (size_t i = h->n; i-- > 0;) {
            if (strcmp(h->p[i].def->name, c->name) == 0) {
                remove_pipeline(h, i, 1);
            }
        }
        drop_versions(h, c->name, c->version);
        CM_LOG_INFO("pipeline_deleted", "pipeline %s stopped", c->name);
        return;
    }
    int stateful = c->def->window != PROC_WIN_NONE;
    int64_t from = INT64_MIN;
    if (k >= 0) {
        struct pipeline *old = &h->p[k];
        if (old->def->version >= c->def->version) {
            return; /* not newer */
        }
        if (old->def->window != PROC_WIN_NONE && !reset) {
            from = stateful ? cutover(c->def, c->created_ms) : INT64_MIN;
            int64_t until = stateful ? from : c->created_ms;
            int64_t ofrom, ountil;
            proc_engine_bounds(old->engine, &ofrom, &ountil);
            proc_engine_set_bounds(old->engine, ofrom, until < ountil ? until : ountil);
            old->draining = 1;
            CM_LOG_INFO("pipeline_swapped",
                        "pipeline %s: version %lld takes the windows from "
                        "%lld ms on; version %lld finishes those before",
                        c->name, c->def->version, (long long)until, old->def->version);
        } else {
            remove_pipeline(h, (size_t)k, 1);
            CM_LOG_INFO("pipeline_swapped",
                        "pipeline %s: version %lld replaces the previous one "
                        "%s",
                        c->name, c->def->version, reset ? "(its state dropped)" : "");
        }
    } else if (c->prev_def && stateful && c->prev_def->window != PROC_WIN_NONE && !reset) {
        /* started while an old version may still be draining: it finishes from its checkpoint */
        from = cutover(c->def, c->created_ms);
        int64_t pfrom = c->prev_def->version == 1 || (c->prev_flags & CM_DEFS_RESET)
                            ? INT64_MIN
                            : cutover(c->prev_def, c->prev_created_ms);
        add_pipeline(h, c->prev_def, pfrom, from, 1);
        c->prev_def = NULL;
    }
    if (reset) { /* the versions still draining stop too, and every older version's state goes */
        for (size_t i = h->n; i-- > 0;) {
            if (strcmp(h->p[i].def->name, c->name) == 0 && h->p[i].def->version < c->def->version) {
                remove_pipeline(h, i, 1);
            }
        }
        drop_versions(h, c->name, c->def->version);
    }
    add_pipeline(h, c->def, from, INT64_MAX, 0);
    CM_LOG_INFO("pipeline_started", "pipeline %s version %lld", c->name, c->def->version);
    c->def = NULL;
}

const char **proc_host_topics(const struct proc_host *h, size_t *n, const char ***rep, size_t *nrep)
{
    const char **t = cm_xcalloc(2 * h->n + 1, sizeof(*t));
    *rep = cm_xcalloc(h->n + 1, sizeof(**rep));
    *n = *nrep = 0;
    for (size_t k = 0; k < h->n; k++) {
        const struct proc_def *d = h->p[k].def;
        for (size_t i = 0; i <= d->ntopics; i++) {
            const char *name = i < d->ntopics   ? d->topics[i]
                               : d->repartition ? d->repartition_topic
                                                : NULL;
            int seen = !name;
            for (size_t j = 0; j < *n && !seen; j++) {
                seen = strcmp(t[j], name) == 0;
            }
            if (!seen) {
                t = cm_xrealloc(t, (*n + 1) * sizeof(*t));
                t[(*n)++] = name;
                if (i == d->ntopics) {
                    (*rep)[(*nrep)++] = name;
                }
            }
        }
    }
    if (*n == 0) {
        t[(*n)++] = h->events_topic;
    }
    return t;
}

void proc_host_resubscribe(struct proc_host *h)
{
    size_t n, nrep;
    const char **rep;
    const char **t = proc_host_topics(h, &n, &rep, &nrep);
    int same = n == h->nsubscribed;
    for (size_t i = 0; same && i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < h->nsubscribed && !found; j++) {
            found = strcmp(t[i], h->subscribed[j]) == 0;
        }
        same = found;
    }
    if (!same && (!h->stream || cm_stream_subscribe(h->stream, t, n, rep, nrep) == 0)) {
        for (size_t i = 0; i < h->nsubscribed; i++) {
            free(h->subscribed[i]);
        }
        free(h->subscribed);
        h->subscribed = cm_xcalloc(n, sizeof(*h->subscribed));
        for (size_t i = 0; i < n; i++) {
            h->subscribed[i] = cm_xstrdup(t[i]);
        }
        h->nsubscribed = n;
    }
    free(t);
    free(rep);
}

void proc_host_apply_changes(struct proc_host *h, int64_t now_ms)
{
    pthread_mutex_lock(&h->lock);
    struct change *q = h->q;
    size_t nq = h->nq;
    h->q = NULL;
    h->nq = 0;
    pthread_mutex_unlock(&h->lock);
    int changed = nq > 0;
    for (size_t i = 0; i < nq; i++) {
        take_change(h, &q[i]);
        proc_host_free_change(&q[i]);
    }
    free(q);
    for (size_t k = h->n; k-- > 0;) {
        if (h->p[k].draining && proc_engine_drained(h->p[k].engine)) {
            CM_LOG_INFO("pipeline_drained", "pipeline %s version %lld finished its windows",
                        h->p[k].def->name, h->p[k].def->version);
            remove_pipeline(h, k, 1);
            changed = 1;
        }
    }
    if (changed) {
        proc_host_resubscribe(h);
    }
    json_t *live = NULL;
    if (changed || !h->live) {
        live = json_object();
        for (size_t k = 0; k < h->n; k++) {
            const struct pipeline *p = &h->p[k];
            json_t *list = json_object_get(live, p->def->name);
            if (!list) {
                json_object_set_new(live, p->def->name, list = json_array());
            }
            int64_t from, until;
            proc_engine_bounds(p->engine, &from, &until);
            json_array_append_new(list,
                                  json_pack("{s:I, s:O, s:I, s:I}", "version",
                                            (json_int_t)p->def->version, "doc", p->def->doc, "from",
                                            (json_int_t)from, "until", (json_int_t)until));
        }
    }
    if (live || now_ms - h->status_ms >= 1000) {
        json_t *st = json_object();
        for (size_t k = 0; k < h->n; k++) {
            const struct pipeline *p = &h->p[k];
            json_t *list = json_object_get(st, p->def->name);
            if (!list) {
                json_object_set_new(st, p->def->name, list = json_array());
            }
            int64_t wm = proc_engine_current_watermark(p->engine), from, until;
            proc_engine_bounds(p->engine, &from, &until);
            char when[CM_RFC3339_LEN];
            json_t *item = json_pack("{s:I, s:s}", "version", (json_int_t)p->def->version, "state",
                                     p->draining ? "draining" : "running");
            if (wm > INT64_MIN && wm < PROC_WATERMARK_MAX) {
                cm_time_format_rfc3339(wm, when);
                json_object_set_new(item, "watermark", json_string(when));
            }
            if (from > INT64_MIN) {
                cm_time_format_rfc3339(from, when);
                json_object_set_new(item, "windows_from", json_string(when));
            }
            if (until < INT64_MAX && until > INT64_MIN) {
                cm_time_format_rfc3339(until, when);
                json_object_set_new(item, "windows_until", json_string(when));
            }
            size_t fullest;
            uint64_t refused;
            size_t held = proc_engine_keys(p->engine, &fullest, &refused);
            if (p->def->window != PROC_WIN_NONE) { /* how near the state is to its bound */
                json_t *keys =
                    json_pack("{s:I, s:I, s:I}", "held", (json_int_t)held, "fullest_partition",
                              (json_int_t)fullest, "refused", (json_int_t)refused);
                json_object_set_new(keys, "max_keys", json_integer(p->def->max_keys));
                if (p->def->max_keys_per_tenant > 0) {
                    json_object_set_new(keys, "max_keys_per_tenant",
                                        json_integer(p->def->max_keys_per_tenant));
                }
                json_object_set_new(item, "keys", keys);
            }
            uint64_t mismatched = proc_engine_key_mismatches(p->engine);
            if (mismatched > 0) { /* "repartition": false, input keyed otherwise: results split */
                json_object_set_new(item, "key_mismatches", json_integer((json_int_t)mismatched));
            }
            json_array_append_new(list, item);
        }
        pthread_mutex_lock(&h->lock);
        json_decref(h->status);
        h->status = st;
        if (live) {
            json_decref(h->live);
            h->live = live;
        }
        pthread_mutex_unlock(&h->lock);
        h->status_ms = now_ms;
    }
}

json_t *proc_host_status(struct proc_host *h, const char *name)
{
    pthread_mutex_lock(&h->lock);
    json_t *list = json_object_get(h->status, name);
    json_t *out = list ? json_pack("{s:O}", "versions", list) : NULL;
    pthread_mutex_unlock(&h->lock);
    return out;
}

int proc_host_idle(struct proc_host *h)
{
    pthread_mutex_lock(&h->lock);
    int idle = h->nq == 0 && h->live && json_object_size(h->live) == 0;
    pthread_mutex_unlock(&h->lock);
    return idle;
}

int proc_host_holds(struct proc_host *h, const char *name)
{
    pthread_mutex_lock(&h->lock);
    int held = h->nq > 0 || !h->live || json_object_get(h->live, name) != NULL;
    pthread_mutex_unlock(&h->lock);
    return held;
}

json_t *proc_host_versions(struct proc_host *h, const char *name)
{
    pthread_mutex_lock(&h->lock);
    /* a deep copy: the documents are shared with the definitions the stream's thread runs */
    json_t *out = json_deep_copy(json_object_get(h->live, name));
    pthread_mutex_unlock(&h->lock);
    return out;
}
