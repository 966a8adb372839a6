/* proc_fleet: the processor's pipelines on their consumer groups (see proc_fleet.h). The hosts of
 * pipelines with a group of their own are kept behind pointers, so that an entry stays put while
 * proc_fleet_poll starts or stops it outside the lock; only proc_fleet_poll (and stop and free,
 * after it) removes one. */
#include "proc_fleet.h"

#include "proc_def.h"
#include "proc_host.h"

#include "cm/defs.h"
#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/redis.h"
#include "cm/stream.h"
#include "cm/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A pipeline's own host. */
struct own {
    char *name;
    long long since;  /* the version its run began with */
    int64_t start_ms; /* its stream takes the records stamped at or after it; 0: all */
    char *group;
    struct proc_host *host;
    struct cm_redis *redis, *ckpt;
    pthread_t thread;
    int made;           /* its consumer exists (proc_host_start) */
    atomic_int started; /* its stream runs on `thread` (read by /readyz's detail) */
    int leaving;        /* its pipeline left it (deleted, or moved to another host): stopped once it
                         * has let it go */
};

struct proc_fleet {
    struct proc_host_config hc; /* strings owned (copies) */
    char *redis_url;
    struct cm_metrics *metrics;
    struct proc_host *main; /* the processor's group */
    pthread_t main_thread;
    int running; /* proc_fleet_run: the threads run */
    pthread_mutex_t lock;
    struct own **own;
    size_t nown;
    json_t *on_main; /* the pipelines given to the main host: name -> true */
    /* deleted pipelines whose metric series go once no host runs them (forget_deleted): name ->
     * true */
    json_t *deleted;
};

static void *run_stream(void *arg)
{
    cm_stream_run(arg);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? cm_xstrdup(s) : NULL;
}

struct proc_fleet *proc_fleet_new(const struct proc_host_config *cfg, const char *redis_url,
                                  struct cm_metrics *metrics)
{
    struct proc_fleet *f = cm_xcalloc(1, sizeof(*f));
    f->hc = *cfg;
    f->hc.brokers = dup_or_null(cfg->brokers);
    f->hc.group = dup_or_null(cfg->group);
    f->hc.events_topic = dup_or_null(cfg->events_topic);
    f->hc.derived_topic = dup_or_null(cfg->derived_topic);
    f->hc.late_topic = dup_or_null(cfg->late_topic);
    f->hc.dlq_topic = dup_or_null(cfg->dlq_topic);
    f->hc.metrics_by_group = 1; /* every host's stream: a group of several in the process */
    f->redis_url = dup_or_null(redis_url);
    f->metrics = metrics;
    f->on_main = json_object();
    f->deleted = json_object();
    pthread_mutex_init(&f->lock, NULL);
    f->main = proc_host_new(&f->hc, metrics);
    return f;
}

/* The host of name's own group (not leaving), or NULL. Under the lock. */
static struct own *find_own(const struct proc_fleet *f, const char *name)
{
    for (size_t i = 0; i < f->nown; i++) {
        if (!f->own[i]->leaving && strcmp(f->own[i]->name, name) == 0) {
            return f->own[i];
        }
    }
    return NULL;
}

static struct own *new_own(struct proc_fleet *f, const char *name, long long since,
                           int64_t start_ms)
{
    struct own *o = cm_xcalloc(1, sizeof(*o));
    o->name = cm_xstrdup(name);
    o->since = since;
    o->start_ms = start_ms;
    o->group = cm_xasprintf("%s.%s.%lld", f->hc.group, name, since);
    o->redis = cm_redis_new(f->redis_url);
    o->ckpt = cm_redis_new(f->redis_url);
    struct proc_host_config hc = f->hc;
    hc.group = o->group;
    hc.redis = o->redis;
    hc.ckpt_redis = o->ckpt;
    hc.start_ms = start_ms;
    o->host = proc_host_new(&hc, f->metrics);
    f->own = cm_xrealloc(f->own, (f->nown + 1) * sizeof(*f->own));
    f->own[f->nown++] = o;
    char when[CM_RFC3339_LEN] = "the beginning of its topics";
    if (start_ms > 0) {
        cm_time_format_rfc3339(start_ms, when);
    }
    CM_LOG_INFO("pipeline_group", "pipeline %s runs on consumer group %s, from %s%s", name,
                o->group, start_ms > 0 ? "the records stamped at or after " : "", when);
    return o;
}

/* Tells host h that name is deleted from it as of version (its checkpoints of older versions
 * go), leaving the change itself to another host. */
static void delete_from(struct proc_host *h, const struct cm_defs_change *c)
{
    struct cm_defs_change del = {
        .name = c->name, .version = c->version, .created_ms = c->created_ms};
    proc_host_changed(h, &del);
}

/* Drops c's previous version (it ran on another host, or in an earlier run: the host taking c
 * must not resume it). */
static void forget_prev(struct cm_defs_change *c)
{
    proc_def_free(c->prev_compiled);
    c->prev_compiled = NULL;
    c->prev_version = 0;
    c->prev_created_ms = 0;
    c->prev_flags = 0;
}

void proc_fleet_changed(struct proc_fleet *f, const struct cm_defs_change *c)
{
    struct cm_defs_change ch = *c;
    const struct proc_def *d = c->compiled, *prev = c->prev_compiled;
    pthread_mutex_lock(&f->lock);
    json_object_del(f->deleted, c->name); /* (put again: its series stay) */
    struct own *o = find_own(f, c->name);
    int on_main = json_object_get(f->on_main, c->name) != NULL;
    if (!d) { /* deleted, wherever it runs */
        if (o) {
            o->leaving = 1;
            proc_host_changed(o->host, &ch);
            ch.prev_compiled = NULL; /* (given away) */
            ch.prev_version = 0;
        }
        if (on_main || !o) {
            proc_host_changed(f->main, &ch);
        }
        json_object_del(f->on_main, c->name);
        json_object_set_new(f->deleted, c->name, json_true());
    } else if (d->own_group) {
        long long since = c->since_version > 0 ? c->since_version : c->version;
        if (o && o->since != since) { /* a new run: a new group, from the beginning */
            delete_from(o->host, c);
            o->leaving = 1;
            o = NULL;
        }
        if (on_main) {
            delete_from(f->main, c);
            json_object_del(f->on_main, c->name);
        }
        if (prev && (!prev->own_group || c->prev_version < since)) {
            forget_prev(&ch);
        }
        if (!o) {
            /* "latest": from the moment its run began, the same on every instance and after
             * every restart (the end of the topics when an instance first reads them would leave
             * out what came while the others started, or while none ran) */
            o = new_own(f, c->name, since, d->start_latest ? c->since_created_ms : d->start_ms);
        }
        proc_host_changed(o->host, &ch);
    } else {
        if (o) {
            delete_from(o->host, c);
            o->leaving = 1;
        }
        if (prev && prev->own_group) {
            forget_prev(&ch);
        }
        proc_host_changed(f->main, &ch);
        json_object_set_new(f->on_main, c->name, json_true());
    }
    pthread_mutex_unlock(&f->lock);
}

/* Creates o's consumer and runs its stream. 0, or -1 after logging (tried again later). */
static int start_own(struct own *o)
{
    if (!o->made && proc_host_start(o->host) != 0) {
        CM_LOG_ERROR("pipeline_group_failed",
                     "pipeline %s: the consumer of group %s could not be made; trying again",
                     o->name, o->group);
        return -1;
    }
    o->made = 1;
    if (pthread_create(&o->thread, NULL, run_stream, proc_host_stream(o->host)) != 0) {
        CM_LOG_ERROR("pipeline_group_failed", "pipeline %s: no thread for group %s", o->name,
                     o->group);
        return -1;
    }
    o->started = 1;
    return 0;
}

/* Stops o's stream (its last commit point) and frees it. Not in the array any more. */
static void free_own(struct own *o)
{
    if (o->started) {
        cm_stream_stop(proc_host_stream(o->host));
        pthread_join(o->thread, NULL);
    }
    proc_host_free(o->host);
    cm_redis_free(o->ckpt);
    cm_redis_free(o->redis);
    free(o->name);
    free(o->group);
    free(o);
}

int proc_fleet_start(struct proc_fleet *f)
{
    if (!f->main || proc_host_start(f->main) != 0) {
        return -1;
    }
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    for (size_t i = 0; i < f->nown && rc == 0; i++) {
        rc = proc_host_start(f->own[i]->host);
        f->own[i]->made = rc == 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int proc_fleet_run(struct proc_fleet *f)
{
    if (pthread_create(&f->main_thread, NULL, run_stream, proc_host_stream(f->main)) != 0) {
        return -1;
    }
    f->running = 1;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nown; i++) { /* (one made since is started by poll) */
        struct own *o = f->own[i];
        if (o->made &&
            pthread_create(&o->thread, NULL, run_stream, proc_host_stream(o->host)) == 0) {
            o->started = 1;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* A deleted pipeline's series (labelled pipeline=<name>: its records, watermark, keys, dead
 * letters, missing topics) leave /metrics once no host runs a version of it any more, as a
 * stopped group's do; not at the deletion itself, while a host may still update them, nor when
 * a pipeline merely moves between hosts (its start changed). Under the lock. */
static void forget_deleted(struct proc_fleet *f)
{
    const char *name;
    json_t *v, *tmp;
    json_object_foreach_safe(f->deleted, tmp, name, v)
    {
        int held = proc_host_holds(f->main, name);
        for (size_t i = 0; i < f->nown && !held; i++) {
            held = strcmp(f->own[i]->name, name) == 0 && proc_host_holds(f->own[i]->host, name);
        }
        if (!held) {
            size_t n = f->metrics ? cm_metrics_forget_label(f->metrics, "pipeline", name) : 0;
            CM_LOG_DEBUG("pipeline_series_forgotten", "pipeline %s: %zu series left /metrics", name,
                         n);
            json_object_del(f->deleted, name);
        }
    }
}

void proc_fleet_poll(struct proc_fleet *f)
{
    if (!f->running) {
        return;
    }
    pthread_mutex_lock(&f->lock);
    forget_deleted(f);
    size_t nstart = 0, nstop = 0;
    struct own **start = cm_xcalloc(f->nown + 1, sizeof(*start));
    struct own **stop = cm_xcalloc(f->nown + 1, sizeof(*stop));
    for (size_t i = 0; i < f->nown;) {
        struct own *o = f->own[i];
        if (!o->started) {
            start[nstart++] = o; /* (a leaving one too: it drops its state, then stops) */
        } else if (o->leaving && proc_host_idle(o->host)) {
            stop[nstop++] = o;
            memmove(&f->own[i], &f->own[i + 1], (f->nown - i - 1) * sizeof(*f->own));
            f->nown--;
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&f->lock);
    for (size_t i = 0; i < nstart; i++) {
        start_own(start[i]); /* (only here are entries started or removed) */
    }
    for (size_t i = 0; i < nstop; i++) {
        CM_LOG_INFO("pipeline_group_stopped", "pipeline %s: consumer group %s stopped",
                    stop[i]->name, stop[i]->group);
        free_own(stop[i]);
    }
    free(start);
    free(stop);
}

json_t *proc_fleet_status(struct proc_fleet *f, const char *name)
{
    pthread_mutex_lock(&f->lock);
    struct own *o = find_own(f, name);
    json_t *st = proc_host_status(o ? o->host : f->main, name);
    if (o) {
        if (!st) {
            st = json_object(); /* not started yet */
        }
        json_object_set_new(st, "consumer_group", json_string(o->group));
        if (o->start_ms > 0) {
            char when[CM_RFC3339_LEN];
            cm_time_format_rfc3339(o->start_ms, when);
            json_object_set_new(st, "start_time", json_string(when));
        }
    }
    pthread_mutex_unlock(&f->lock);
    return st;
}

json_t *proc_fleet_versions(struct proc_fleet *f, const char *name)
{
    pthread_mutex_lock(&f->lock);
    struct own *o = find_own(f, name);
    json_t *v = proc_host_versions(o ? o->host : f->main, name);
    pthread_mutex_unlock(&f->lock);
    return v;
}

struct cm_stream *proc_fleet_stream(struct proc_fleet *f)
{
    return f->main ? proc_host_stream(f->main) : NULL;
}

static json_t *groups_detail(void *ud)
{
    struct proc_fleet *f = ud;
    json_t *out = json_object();
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nown; i++) {
        const struct own *o = f->own[i];
        struct cm_stream *s = proc_host_stream(o->host);
        if (o->started && !o->leaving && s) {
            json_t *d = cm_stream_detail(s);
            json_object_set_new(d, "group", json_string(o->group));
            json_object_set_new(out, o->name, d);
        }
    }
    pthread_mutex_unlock(&f->lock);
    return out;
}

void proc_fleet_add_checks(struct proc_fleet *f, struct cm_http_server *srv)
{
    cm_stream_add_checks(proc_fleet_stream(f), srv);
    cm_http_add_detail(srv, "pipeline_groups", groups_detail, f);
}

void proc_fleet_stop(struct proc_fleet *f)
{
    if (!f->running) {
        return;
    }
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nown; i++) {
        if (f->own[i]->started) {
            cm_stream_stop(proc_host_stream(f->own[i]->host));
        }
    }
    pthread_mutex_unlock(&f->lock);
    cm_stream_stop(proc_host_stream(f->main));
    pthread_join(f->main_thread, NULL);
    for (size_t i = 0; i < f->nown; i++) {
        if (f->own[i]->started) {
            pthread_join(f->own[i]->thread, NULL);
            f->own[i]->started = 0;
        }
    }
    f->running = 0;
}

void proc_fleet_free(struct proc_fleet *f)
{
    if (!f) {
        return;
    }
    proc_fleet_stop(f);
    for (size_t i = 0; i < f->nown; i++) {
        free_own(f->own[i]);
    }
    free(f->own);
    proc_host_free(f->main);
    json_decref(f->on_main);
    json_decref(f->deleted);
    pthread_mutex_destroy(&f->lock);
    free((char *)f->hc.brokers);
    free((char *)f->hc.group);
    free((char *)f->hc.events_topic);
    free((char *)f->hc.derived_topic);
    free((char *)f->hc.late_topic);
    free((char *)f->hc.dlq_topic);
    free(f->redis_url);
    free(f);
}
