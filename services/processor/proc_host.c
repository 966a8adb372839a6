/* proc_host: pipelines on the stream runtime (see proc_host.h). A record's source id inside an
 * engine is its topic's index among the pipeline's inputs times 65536 plus its partition. */
#include "proc_host.h"

#include "proc_ckpt.h"
#include "proc_def.h"
#include "proc_engine.h"

#include "cm/envelope.h"
#include "cm/event.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/timeutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pipeline {
    struct proc_def *def;
    struct proc_engine *engine;
};

struct proc_host {
    char *late_topic;
    struct cm_redis *redis;
    struct pipeline *p;
    size_t n;
    struct cm_stream *stream;
    struct cm_stream *cur; /* the stream while a hook runs (for the engines' outputs) */
    struct cm_series *m_invalid;
};

/* ---- outputs ---- */

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    struct proc_host *h = ud;
    cm_stream_emit_event(h->cur, d->sink_topic, ev);
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    struct proc_host *h = ud;
    const char *names[CM_STREAM_MAX_HEADERS], *values[CM_STREAM_MAX_HEADERS];
    size_t nh = cm_event_headers(ev, names, values);
    names[nh] = "pipeline";
    values[nh++] = d->name;
    const char *key = cm_event_key(ev);
    char *text = cm_envelope_serialize(ev);
    cm_stream_emit(h->cur, h->late_topic, key, strlen(key), text, strlen(text), names, values, nh);
    free(text);
}

struct prep_ctx {
    struct proc_host *h;
    const struct proc_def *d;
    int32_t origin; /* the input partition's source id */
    int64_t offset;
    int32_t seq; /* events the record gave so far */
};

/* A prepared event of a keyed pipeline goes to its repartition topic, keyed by tenant and key. */
static void on_prepared(const json_t *ev, const char *tenant, const char *key, void *ud)
{
    struct prep_ctx *c = ud;
    const char *names[CM_STREAM_MAX_HEADERS], *values[CM_STREAM_MAX_HEADERS];
    size_t nh = cm_event_headers(ev, names, values);
    char origin[64];
    snprintf(origin, sizeof(origin), "%d:%lld:%d", (int)c->origin, (long long)c->offset,
             (int)c->seq++);
    names[nh] = "origin";
    values[nh++] = origin;
    char *rkey = cm_xasprintf("%s/%s", tenant, key);
    char *text = cm_envelope_serialize(ev);
    cm_stream_emit(c->h->cur, c->d->repartition_topic, rkey, strlen(rkey), text, strlen(text),
                   names, values, nh);
    free(text);
    free(rkey);
}

/* ---- the stream's hooks ---- */

/* The index of topic among d's inputs, or -1. */
static int input_index(const struct proc_def *d, const char *topic)
{
    for (size_t i = 0; i < d->ntopics; i++) {
        if (strcmp(d->topics[i], topic) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    int64_t now = cm_monotonic_ms();
    for (size_t i = 0; i < n; i++) {
        const char *topic = cm_kafka_msg_topic(msgs[i]);
        int32_t part = cm_kafka_msg_partition(msgs[i]);
        int64_t offset = cm_kafka_msg_offset(msgs[i]);
        struct cm_event ev;
        const char *why;
        if (cm_event_from_record(msgs[i], CM_EVENT_OBJECT, &ev, &why) != 0) {
            cm_event_log_invalid(msgs[i], why);
            cm_counter_inc(h->m_invalid);
            continue;
        }
        for (size_t k = 0; k < h->n; k++) {
            const struct proc_def *d = h->p[k].def;
            struct proc_engine *e = h->p[k].engine;
            if (d->repartition && strcmp(topic, d->repartition_topic) == 0) {
                char text[64];
                struct proc_origin o;
                long long ooff = 0;
                int oid = 0, oseq = 0;
                int has = cm_kafka_msg_header(msgs[i], "origin", text, sizeof(text)) == 0 &&
                          sscanf(text, "%d:%lld:%d", &oid, &ooff, &oseq) == 3;
                o = (struct proc_origin){oid, ooff, oseq};
                proc_engine_window(e, part, ev.ev, ev.time_ms, offset, has ? &o : NULL, now);
                continue;
            }
            int idx = input_index(d, topic);
            if (idx < 0) {
                continue;
            }
            if (d->repartition) {
                struct prep_ctx c = {h, d, idx * 65536 + part, offset, 0};
                proc_engine_prepare(e, ev.ev, on_prepared, &c);
            } else {
                proc_engine_process(e, idx * 65536 + part, ev.ev, ev.time_ms, offset, now);
            }
        }
        cm_event_clear(&ev);
    }
    return 0;
}

static void tick(struct cm_stream *s, int64_t now_ms, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    for (size_t k = 0; k < h->n; k++) {
        proc_engine_tick(h->p[k].engine, now_ms);
    }
}

/* The source id of (topic, partition) in pipeline k, or -1 when it does not hold state. */
static int32_t state_source(const struct proc_def *d, const char *topic, int32_t partition)
{
    if (d->window == PROC_WIN_NONE) {
        return -1;
    }
    if (d->repartition) {
        return strcmp(topic, d->repartition_topic) == 0 ? partition : -1;
    }
    int idx = input_index(d, topic);
    return idx < 0 ? -1 : idx * 65536 + partition;
}

static int64_t committable(struct cm_stream *s, const char *topic, int32_t partition, int64_t next,
                           void *ud)
{
    (void)s;
    struct proc_host *h = ud;
    int64_t off = next;
    for (size_t k = 0; k < h->n; k++) {
        int32_t src = state_source(h->p[k].def, topic, partition);
        int64_t min = src < 0 ? -1 : proc_engine_min_offset(h->p[k].engine, src);
        if (min >= 0 && min < off) {
            off = min;
        }
    }
    return off;
}

static void on_revoke(struct cm_stream *s, const struct cm_kafka_partition *parts, size_t n,
                      void *ud)
{
    (void)s;
    struct proc_host *h = ud;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < h->n; k++) {
            int32_t src = state_source(h->p[k].def, parts[i].topic, parts[i].partition);
            if (src >= 0) {
                proc_engine_drop_source(h->p[k].engine, src);
            }
        }
    }
}

/* ---- checkpoints ---- */

struct pos_ctx {
    struct proc_host *h;
    const struct proc_def *d;
};

/* The stream position of a pipeline's source (see state_source). */
static int64_t position(int32_t source, void *ud)
{
    struct pos_ctx *c = ud;
    if (c->d->repartition) {
        return cm_stream_position(c->h->stream, c->d->repartition_topic, source);
    }
    return cm_stream_position(c->h->stream, c->d->topics[source / 65536], source % 65536);
}

static int durable(struct cm_stream *s, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    for (size_t k = 0; k < h->n; k++) {
        if (h->p[k].def->window == PROC_WIN_NONE) {
            continue;
        }
        struct pos_ctx c = {h, h->p[k].def};
        int rc = proc_ckpt_save(h->redis, h->p[k].engine, position, &c);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Loads the checkpoints of the assigned partitions; a partition resumes from the lowest of its
 * pipelines' checkpoints when every stateful pipeline reading it has one (each then skips what
 * its own state covers), else from the group's committed offset (state recomputed). */
static void on_assign(struct cm_stream *s, struct cm_kafka_partition *parts, size_t n, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    int64_t now = cm_monotonic_ms();
    for (size_t i = 0; i < n; i++) {
        int64_t start = INT64_MAX;
        int all = 1, any = 0;
        for (size_t k = 0; k < h->n; k++) {
            int32_t src = state_source(h->p[k].def, parts[i].topic, parts[i].partition);
            if (src < 0) {
                continue;
            }
            int64_t off;
            if (proc_ckpt_load(h->redis, h->p[k].engine, src, now, &off) == 1) {
                any = 1;
                start = off < start ? off : start;
            } else {
                all = 0;
            }
        }
        if (any && all) {
            parts[i].offset = start;
        }
    }
}

/* ---- set-up ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every *.json of dir, in name order. 0, or -1 after logging. */
static int load_dir(struct proc_host *h, const struct proc_host_config *cfg)
{
    DIR *dir = opendir(cfg->pipelines_dir);
    if (!dir) {
        CM_LOG_ERROR("config_invalid", "PROCESSOR_PIPELINES_DIR: cannot open %s",
                     cfg->pipelines_dir);
        return -1;
    }
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 && de->d_name[0] != '.') {
            names = cm_xrealloc(names, (nnames + 1) * sizeof(*names));
            names[nnames++] = cm_xstrdup(de->d_name);
        }
    }
    closedir(dir);
    qsort(names, nnames, sizeof(*names), by_name);
    int rc = 0;
    for (size_t i = 0; i < nnames; i++) {
        char *path = cm_xasprintf("%s/%s", cfg->pipelines_dir, names[i]);
        char err[512];
        struct proc_def *d =
            rc ? NULL
               : proc_def_load_file(path, cfg->events_topic, cfg->derived_topic, err, sizeof(err));
        if (!rc && !d) {
            CM_LOG_ERROR("config_invalid", "PROCESSOR_PIPELINES_DIR: %s: %s", path, err);
            rc = -1;
        }
        for (size_t k = 0; d && k < h->n; k++) {
            if (strcmp(h->p[k].def->name, d->name) == 0) {
                CM_LOG_ERROR("config_invalid",
                             "PROCESSOR_PIPELINES_DIR: %s: name: '%s' is "
                             "defined twice",
                             path, d->name);
                proc_def_free(d);
                d = NULL;
                rc = -1;
            }
        }
        if (d) {
            h->p = cm_xrealloc(h->p, (h->n + 1) * sizeof(*h->p));
            h->p[h->n++] = (struct pipeline){d, NULL};
            CM_LOG_INFO("pipeline_loaded", "pipeline %s version %lld from %s", d->name, d->version,
                        path);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* The topics to subscribe to (borrowed strings; caller frees the array). */
static const char **topics_of(const struct proc_host *h, const char *fallback, size_t *n)
{
    const char **t = cm_xcalloc(1, sizeof(*t));
    *n = 0;
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
            }
        }
    }
    if (*n == 0) {
        t[(*n)++] = fallback;
    }
    return t;
}

struct proc_host *proc_host_new(const struct proc_host_config *cfg, struct cm_metrics *metrics)
{
    struct proc_host *h = cm_xcalloc(1, sizeof(*h));
    h->late_topic = cm_xstrdup(cfg->late_topic);
    h->redis = cfg->redis;
    h->m_invalid = cm_metric_with(cm_metrics_counter(metrics, "invalid_records_total",
                                                     "records that were not JSON objects", NULL),
                                  NULL);
    if (cfg->pipelines_dir && *cfg->pipelines_dir && load_dir(h, cfg) != 0) {
        proc_host_free(h);
        return NULL;
    }
    struct proc_engine_out out = {on_emit, on_late, h};
    for (size_t k = 0; k < h->n; k++) {
        h->p[k].engine = proc_engine_new(h->p[k].def, &out, metrics);
        if (h->redis) {
            proc_engine_track_changes(h->p[k].engine);
        }
    }
    size_t ntopics, nrep = 0;
    const char **topics = topics_of(h, cfg->events_topic, &ntopics);
    const char **rep = cm_xcalloc(h->n + 1, sizeof(*rep));
    for (size_t k = 0; k < h->n; k++) {
        if (h->p[k].def->repartition) {
            rep[nrep++] = h->p[k].def->repartition_topic;
        }
    }
    struct cm_stream_config sc = {.brokers = cfg->brokers,
                                  .group = cfg->group,
                                  .topics = topics,
                                  .ntopics = ntopics,
                                  .commit_interval_ms = cfg->checkpoint_ms,
                                  .produce = 1,
                                  .ensure = rep,
                                  .nensure = nrep,
                                  .metrics = metrics};
    struct cm_stream_handler hd = {.process = process,
                                   .tick = tick,
                                   .on_assign = h->redis ? on_assign : NULL,
                                   .on_revoke = on_revoke,
                                   .committable = committable,
                                   .durable = h->redis ? durable : NULL,
                                   .ud = h};
    h->stream = cm_stream_new(&sc, &hd);
    free(topics);
    free(rep);
    if (!h->stream) {
        proc_host_free(h);
        return NULL;
    }
    return h;
}

struct cm_stream *proc_host_stream(struct proc_host *h)
{
    return h->stream;
}

size_t proc_host_pipelines(const struct proc_host *h)
{
    return h->n;
}

void proc_host_free(struct proc_host *h)
{
    if (!h) {
        return;
    }
    h->cur = h->stream;
    cm_stream_free(h->stream); /* its last commit point may still emit through the engines */
    for (size_t k = 0; k < h->n; k++) {
        proc_engine_free(h->p[k].engine);
        proc_def_free(h->p[k].def);
    }
    free(h->p);
    free(h->late_topic);
    free(h);
}
