/* proc_host: pipelines on the stream runtime (see proc_host.h). A record's source id inside an
 * engine is its topic's index among the pipeline's inputs times 65536 plus its partition. */
#include "proc_host.h"
#include "proc_host_int.h"

#include "proc_batch.h"
#include "proc_ckpt.h"
#include "proc_def.h"
#include "proc_engine.h"
#include "proc_frame.h"
#include "proc_graph.h"
#include "proc_rtable.h"
#include "proc_table.h"
#include "proc_window.h"

#include "cm/defs.h"
#include "cm/dlq.h"
#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/event.h"
#include "cm/jsonw.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- outputs ---- */

static void on_batch(const struct proc_def *d, const json_t *batch, void *ud)
{
    struct proc_host *h = ud;
    cm_stream_emit_event(h->cur, d->sink_topic, batch);
}

struct proc_batcher *proc_host_new_batcher(struct proc_host *h, const struct proc_def *d)
{
    return d->batch_max > 0 ? proc_batcher_new(d, on_batch, h) : NULL;
}

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    struct proc_host *h = ud;
    for (size_t k = 0; d->batch_max > 0 && k < h->n; k++) {
        if (h->p[k].def == d) {
            proc_batcher_add(h->p[k].batch, ev, cm_monotonic_ms());
            return;
        }
    }
    cm_stream_emit_event(h->cur, d->sink_topic, ev);
}

static void on_emit_text(const struct proc_def *d, const char *key, const char *text, size_t len,
                         const char *const *names, const char *const *values, size_t nh, void *ud)
{
    struct proc_host *h = ud;
    cm_stream_emit(h->cur, d->sink_topic, key, strlen(key), text, len, names, values, nh);
}

/* A commit point begins: open batches go out, so that it covers them. */
static void before_commit(struct cm_stream *s, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    for (size_t k = 0; k < h->n; k++) {
        if (h->p[k].batch) {
            proc_batcher_flush(h->p[k].batch);
        }
    }
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

/* The dead-letter topic of d's events (proc_graph_dead_letter_topic). */
static const char *dead_letter_topic(const struct proc_host *h, const struct proc_def *d)
{
    return proc_graph_dead_letter_topic(d, h->dlq_topic);
}

/* Logs a dead letter, at most one line a second (with how many went unlogged since). */
static void log_dead_letter(struct proc_host *h, const char *topic, const char *by, const char *why)
{
    const struct cm_kafka_msg *m = h->cur_msg;
    unsigned long long left_out;
    if (cm_log_limit_pass(&h->dead_log, cm_monotonic_ms(), &left_out)) {
        CM_LOG_WARN("dead_letter",
                    "%s [%d] @%lld → %s: %s: %s (%llu more since the last such line)",
                    cm_kafka_msg_topic(m), (int)cm_kafka_msg_partition(m),
                    (long long)cm_kafka_msg_offset(m), topic, by, why, left_out);
    }
}

/* An input event d cannot process: its record goes to d's dead-letter topic, once per record and
 * pipeline however many of its versions run. */
static void on_dead_letter(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    (void)ev; /* the record goes as it was read */
    struct proc_host *h = ud;
    const char *topic = dead_letter_topic(h, d);
    if (!h->cur_msg || !topic) {
        return;
    }
    for (size_t i = 0; i < h->ndead; i++) {
        if (strcmp(h->dead_names[i], d->name) == 0) {
            return; /* another version of it sent this record already */
        }
    }
    if (h->ndead < PROC_HOST_DEAD_MAX) {
        h->dead_names[h->ndead++] = d->name;
    }
    char version[24];
    snprintf(version, sizeof(version), "%lld", d->version);
    const char *names[] = {"dlq_pipeline", "dlq_pipeline_version"}, *values[] = {d->name, version};
    cm_dlq_send_by(h->cur, topic, h->cur_msg, names, values, 2, why, 1);
    cm_counter_inc(cm_metric_with(h->m_dead, d->name, NULL));
    log_dead_letter(h, topic, d->name, why);
}

/* An event d's state has no room for (max_keys): the event itself, as d keyed it, to d's
 * dead-letter topic. Each one, not its record: the record's other events (a flatMap's, or a
 * repartition frame's) were taken, and a replay of the record would count them twice. */
static void on_refused(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    struct proc_host *h = ud;
    const char *topic = dead_letter_topic(h, d);
    if (!h->cur_msg || !topic) {
        return;
    }
    const char *names[CM_STREAM_MAX_HEADERS], *values[CM_STREAM_MAX_HEADERS];
    size_t nh = cm_event_headers(ev, names, values);
    char version[24];
    snprintf(version, sizeof(version), "%lld", d->version);
    const char *by[] = {"dlq_pipeline", "dlq_pipeline_version"}, *byv[] = {d->name, version};
    char *text = cm_envelope_serialize(ev);
    cm_dlq_send_value(h->cur, topic, h->cur_msg, cm_event_key(ev), text, strlen(text), names,
                      values, nh, by, byv, 2, why);
    free(text);
    cm_counter_inc(cm_metric_with(h->m_dead, d->name, NULL));
    log_dead_letter(h, topic, d->name, why);
}

/* A record of topic that is not an event: to the dead-letter topics of the pipelines reading it
 * (each topic once), as the processor's. */
static void dead_letter_invalid(struct proc_host *h, const char *topic, const char *why)
{
    const char *sent[PROC_HOST_DEAD_MAX];
    size_t nsent = 0;
    char error[320];
    snprintf(error, sizeof(error), "not an event: %s", why);
    for (size_t k = 0; k < h->n; k++) {
        const char *to = dead_letter_topic(h, h->p[k].def);
        if (!to || proc_host_input_index(h->p[k].def, topic) < 0) {
            continue;
        }
        size_t j = 0;
        while (j < nsent && strcmp(sent[j], to) != 0) {
            j++;
        }
        if (j < nsent || nsent == PROC_HOST_DEAD_MAX) {
            continue;
        }
        sent[nsent++] = to;
        const char *name = "dlq_service", *value = "processor";
        cm_dlq_send_by(h->cur, to, h->cur_msg, &name, &value, 1, error, 1);
        cm_counter_inc(cm_metric_with(h->m_dead, "", NULL));
        log_dead_letter(h, to, "processor", error);
    }
}

struct prep_ctx {
    struct proc_host *h;
    struct pipeline *p;
    int32_t origin; /* the input partition's source id */
    int64_t offset;
    int32_t seq;       /* events the record gave so far */
    int64_t wm_before; /* the input partition's watermark before this record */
    const char *raw;   /* the input record's value */
    size_t rawlen;
    int64_t time_ms;    /* the input event's time */
    int touched[8];     /* repartition partitions its events went to (proc_frame_set_last_wm) */
    int ntouched, more; /* more: to more partitions than that */
};

/* A frame goes out before the batch ends when the next event would take it past this (see
 * proc_frame_fits; the broker's limit for a record is 1 MB). */
#define FRAME_FLUSH_BYTES (256 * 1024)

static void send_frame(struct proc_host *h, struct pipeline *p, int part)
{
    struct proc_frame *f = &p->frames[part];
    if (f->count == 0) {
        return;
    }
    char version[24];
    snprintf(version, sizeof(version), "%lld", p->def->version);
    const char *names[] = {"kind", "version"}, *values[] = {"frame", version};
    cm_stream_emit_to(h->cur, p->def->repartition_topic, part, NULL, 0, f->buf, f->len, names,
                      values, 2);
    proc_frame_reset(f);
}

/* Every frame filled by a batch goes out at its end (before the commit point that covers the
 * batch's input offsets). */
static void send_frames(struct proc_host *h)
{
    for (size_t k = 0; k < h->n; k++) {
        for (int part = 0; h->p[k].frames && part < h->p[k].rep_partitions; part++) {
            send_frame(h, &h->p[k], part);
        }
    }
}

void proc_host_free_frames(struct pipeline *p)
{
    for (int part = 0; p->frames && part < p->rep_partitions; part++) {
        proc_frame_free(&p->frames[part]);
    }
    free(p->frames);
    p->frames = NULL;
}

int proc_host_rep_partitions(struct proc_host *h, struct pipeline *p)
{
    if (p->rep_partitions == 0) {
        int n = cm_stream_partitions(h->cur, p->def->repartition_topic);
        p->rep_partitions = n > 0 ? n : 0;
    }
    return p->rep_partitions;
}

/* A prepared event of a keyed pipeline goes to the frame of its key's repartition partition:
 * what the second stage needs (origin mark, watermark, time, tenant, key, traceparent, the
 * aggregates' arguments) with the event. */
static void on_prepared(const json_t *ev, const char *tenant, const char *key, int unchanged,
                        const json_t *args, void *ud)
{
    struct prep_ctx *c = ud;
    struct pipeline *p = c->p;
    struct proc_frame_entry fe = {.origin = c->origin,
                                  .offset = c->offset,
                                  .seq = c->seq++,
                                  .wm = c->wm_before, /* the last one's: after (below) */
                                  .wm_before = c->wm_before,
                                  .time_ms = cm_envelope_time_ms(ev, c->time_ms),
                                  .tenant = tenant,
                                  .key = key,
                                  .traceparent =
                                      json_string_value(json_object_get(ev, "traceparent"))};
    if (args) { /* what the second stage reads instead of parsing the event again */
        cm_jw_reset(&c->h->argsw);
        cm_jw_value(&c->h->argsw, args);
        fe.args = cm_jw_text(&c->h->argsw, &fe.argslen);
        if (fe.argslen > PROC_FRAME_ARGS_MAX) {
            fe.args = NULL;
            fe.argslen = 0;
        }
    }
    /* an event no step changed is forwarded as its record's bytes (no second serialisation) */
    char *text = unchanged && c->raw ? NULL : cm_envelope_serialize(ev);
    fe.raw = text ? text : c->raw;
    fe.rawlen = text ? strlen(text) : c->rawlen;
    char rkey[PROC_ROUTE_KEY_MAX];
    size_t klen = proc_frame_route_key(tenant, key, rkey);
    int parts = p->rep_partitions; /* known: process() waits for it */
    if (!p->frames) {
        p->frames = cm_xcalloc((size_t)parts, sizeof(*p->frames));
    }
    int part = cm_kafka_partition_of(rkey, klen, parts);
    if (!proc_frame_fits(&p->frames[part], &fe, FRAME_FLUSH_BYTES)) {
        send_frame(c->h, p, part);
    }
    proc_frame_add(&p->frames[part], &fe);
    free(text);
    int known = 0;
    for (int i = 0; i < c->ntouched && !known; i++) {
        known = c->touched[i] == part;
    }
    if (!known && c->ntouched < (int)(sizeof(c->touched) / sizeof(c->touched[0]))) {
        c->touched[c->ntouched++] = part;
    } else if (!known) {
        c->more = 1;
    }
}

/* After a record was prepared: the last entry it gave each frame carries the input partition's
 * watermark after it (proc_frame_set_last_wm). */
static void record_prepared(const struct prep_ctx *c)
{
    struct pipeline *p = c->p;
    int64_t wm = proc_engine_origin_wm(p->engine, c->origin);
    for (int i = 0; i < (c->more ? p->rep_partitions : c->ntouched); i++) {
        proc_frame_set_last_wm(&p->frames[c->more ? i : c->touched[i]], c->origin, c->offset, wm);
    }
}

static json_t *lookup_row(const char *topic, const char *key, void *ud)
{
    struct proc_host *h = ud;
    const char *hash = proc_join_redis_hash(topic);
    if (hash) {
        return proc_rtables_get(h->rtables, hash, key);
    }
    return proc_tables_get(h->tables, topic, key);
}

/* A record of a pipeline with "repartition": false keyed otherwise than by the pipeline's key
 * (counted by the engine): logged at most once a minute per pipeline. */
static void on_key_mismatch(const struct proc_def *d, int32_t source, int64_t offset,
                            const struct proc_record_key *rkey, const char *key, void *ud)
{
    struct proc_host *h = ud;
    struct pipeline *p = NULL;
    for (size_t k = 0; k < h->n && !p; k++) {
        p = h->p[k].def == d ? &h->p[k] : NULL;
    }
    unsigned long long left_out;
    if (!p || !cm_log_limit_pass(&p->mismatch_log, cm_monotonic_ms(), &left_out)) {
        return;
    }
    int klen = rkey->len > 64 ? 64 : (int)rkey->len;
    CM_LOG_ERROR(
        "pipeline_input_not_keyed_by_key",
        "pipeline %s has \"repartition\": false, but the record of %s partition %d at "
        "offset %lld has the Kafka key \"%.*s%s\" and the pipeline's key \"%.64s\": a key "
        "read from two partitions gets two results per window under one id; key the "
        "records by the pipeline's key or set \"repartition\": true (logged once a minute; "
        "counted in processor_key_mismatch_total)",
        d->name, d->topics[source / 65536], (int)(source % 65536), (long long)offset, klen,
        rkey->key ? rkey->key : "", rkey->len > 64 ? "..." : "", key);
}

/* An event without `time` whose record's timestamp lies outside years 0000..9999 (windowed
 * pipelines count it and leave it out: proc_engine.c): logged at most once a minute. */
static void note_time_out_of_range(struct proc_host *h, const char *topic, int32_t part,
                                   int64_t offset, int64_t time_ms)
{
    unsigned long long left_out;
    if (!cm_log_limit_pass(&h->time_log, cm_monotonic_ms(), &left_out)) {
        return;
    }
    CM_LOG_ERROR("event_time_out_of_range",
                 "the event of %s partition %d at offset %lld has no time, and its record's "
                 "timestamp %lld ms lies outside years 0000-9999: windowed pipelines leave it "
                 "out (logged once a minute; counted in "
                 "processor_records_total{outcome=\"time_out_of_range\"})",
                 topic, (int)part, (long long)offset, (long long)time_ms);
}

struct proc_engine *proc_host_new_engine(struct proc_host *h, const struct proc_def *d)
{
    struct proc_engine_out out = {.emit = on_emit,
                                  .emit_text = on_emit_text,
                                  .late = on_late,
                                  .lookup = lookup_row,
                                  .key_mismatch = on_key_mismatch,
                                  .dead_letter = on_dead_letter,
                                  .refused = on_refused,
                                  .ud = h};
    struct proc_engine *e = proc_engine_new(d, &out, h->metrics);
    if (h->redis) {
        proc_engine_track_changes(e);
    }
    if (d->repartition) { /* its second stage waits for the first stage's reports: none yet */
        proc_engine_use_reports(e, NULL, 0);
    }
    return e;
}

/* ---- the stream's hooks ---- */

int proc_host_input_index(const struct proc_def *d, const char *topic)
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
    if (!proc_tables_wait_ready(h->tables, 1000)) {
        CM_LOG_INFO("tables_loading", "join tables still loading; processing waits for them");
        return CM_E_UNAVAIL; /* the batch is handed again after a backoff */
    }
    for (size_t k = 0; k < h->n; k++) { /* frames go to the partition of their key */
        if (h->p[k].def->repartition && h->p[k].relearn) {
            h->p[k].relearn = 0;
            proc_host_learn_origins(h, &h->p[k]); /* (when it cannot yet, at the next report) */
        }
        if (h->p[k].def->repartition && proc_host_rep_partitions(h, &h->p[k]) == 0) {
            CM_LOG_ERROR("repartition_topic_unavailable",
                         "%s: its partition count cannot be read; processing waits for it",
                         h->p[k].def->repartition_topic);
            return CM_E_UNAVAIL; /* the batch is handed again after a backoff */
        }
    }
    int64_t now = cm_monotonic_ms();
    for (size_t i = 0; i < n; i++) {
        const char *topic = cm_kafka_msg_topic(msgs[i]);
        int32_t part = cm_kafka_msg_partition(msgs[i]);
        int64_t offset = cm_kafka_msg_offset(msgs[i]);
        if (proc_def_is_repartition_topic(topic)) {
            proc_host_take_repartition(h, msgs[i], now);
            continue;
        }
        struct cm_event ev;
        const char *why;
        h->cur_msg = msgs[i];
        h->ndead = 0;
        if (cm_event_from_record(msgs[i], CM_EVENT_OBJECT, &ev, &why) != 0) {
            cm_event_log_invalid(msgs[i], why);
            cm_counter_inc(h->m_invalid);
            dead_letter_invalid(h, topic, why);
            h->cur_msg = NULL;
            continue;
        }
        if (!cm_time_in_range(ev.time_ms)) {
            note_time_out_of_range(h, topic, part, offset, ev.time_ms);
        }
        int64_t record_ms = cm_kafka_msg_timestamp_ms(msgs[i]);
        for (size_t k = 0; k < h->n; k++) {
            const struct proc_def *d = h->p[k].def;
            struct proc_engine *e = h->p[k].engine;
            int idx = proc_host_input_index(d, topic);
            if (idx < 0) {
                continue;
            }
            if (d->repartition) {
                struct prep_ctx c = {.h = h,
                                     .p = &h->p[k],
                                     .origin = idx * 65536 + part,
                                     .offset = offset,
                                     .time_ms = ev.time_ms};
                c.wm_before = proc_engine_origin_wm(e, c.origin);
                c.raw = cm_kafka_msg_value(msgs[i], &c.rawlen);
                proc_engine_prepare(e, c.origin, ev.ev, ev.time_ms, record_ms, now, on_prepared,
                                    &c);
                record_prepared(&c);
            } else {
                struct proc_record_key rkey;
                rkey.key = cm_kafka_msg_key(msgs[i], &rkey.len);
                rkey.len = rkey.key ? rkey.len : 0;
                proc_engine_process_record(e, idx * 65536 + part, ev.ev, ev.time_ms, record_ms,
                                           offset, &rkey, now);
            }
        }
        cm_event_clear(&ev);
        h->cur_msg = NULL;
    }
    send_frames(h);
    return 0;
}

struct backlog_ctx {
    struct cm_stream *s;
    const struct proc_def *d;
};

/* Whether one stage's input partition `source` has records waiting (proc_backlog_fn). */
static int input_backlog(int32_t source, void *ud)
{
    const struct backlog_ctx *c = ud;
    size_t topic = (size_t)source / 65536;
    return topic < c->d->ntopics &&
           cm_stream_has_backlog(c->s, c->d->topics[topic], source % 65536);
}

static void tick(struct cm_stream *s, int64_t now_ms, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    proc_host_apply_changes(h, now_ms);
    proc_host_send_reports(h, now_ms);
    for (size_t k = 0; k < h->n; k++) {
        if (!h->p[k].def->repartition && h->p[k].def->window != PROC_WIN_NONE) {
            struct backlog_ctx c = {s, h->p[k].def};
            proc_engine_note_backlog(h->p[k].engine, now_ms, input_backlog, &c);
        }
        proc_engine_tick(h->p[k].engine, now_ms);
        if (h->p[k].batch) {
            proc_batcher_tick(h->p[k].batch, now_ms);
        }
    }
}

/* ---- set-up ---- */

struct proc_host *proc_host_new(const struct proc_host_config *cfg, struct cm_metrics *metrics)
{
    struct proc_host *h = cm_xcalloc(1, sizeof(*h));
    h->late_topic = cm_xstrdup(cfg->late_topic);
    h->dlq_topic = cm_xstrdup(cfg->dlq_topic ? cfg->dlq_topic : "dlq");
    h->events_topic = cm_xstrdup(cfg->events_topic);
    h->redis = cfg->redis;
    h->ckpt_redis = cfg->ckpt_redis ? cfg->ckpt_redis : cfg->redis;
    cm_uuid_v7(h->owner); /* (new at each assignment: proc_host_state.c) */
    h->metrics = metrics;
    h->dead_log.every_ms = 1000;
    h->time_log.every_ms = PROC_HOST_MISMATCH_LOG_MS;
    pthread_mutex_init(&h->lock, NULL);
    h->m_invalid =
        cm_metric_with(cm_metrics_counter(metrics, "invalid_records_total",
                                          "records that could not be read: input events that "
                                          "are not JSON objects, malformed repartition "
                                          "records",
                                          NULL),
                       NULL);
    h->m_dead = cm_metrics_counter(metrics, "dead_letters_total",
                                   "input records sent to a dead-letter topic: events a pipeline "
                                   "cannot process (by pipeline), records that are not events "
                                   "(pipeline \"\")",
                                   "pipeline");
    h->cfg_brokers = cm_xstrdup(cfg->brokers);
    h->tables = proc_tables_new(cfg->brokers);
    h->rtables = proc_rtables_new(cfg->redis, cfg->redis_table_ttl_ms);
    h->cfg_group = cm_xstrdup(cfg->group);
    h->checkpoint_ms = cfg->checkpoint_ms;
    h->metrics_by_group = cfg->metrics_by_group;
    h->start_ms = cfg->start_ms;
    h->max_repartition_lag = cfg->max_repartition_lag > 0 ? cfg->max_repartition_lag : -1;
    h->max_repartition_bytes = cfg->max_repartition_bytes > 0 ? cfg->max_repartition_bytes : -1;
    return h;
}

int proc_host_start(struct proc_host *h)
{
    h->cur = NULL;
    proc_host_apply_changes(h, cm_monotonic_ms());
    size_t ntopics, nrep;
    const char **rep;
    const char **topics = proc_host_topics(h, &ntopics, &rep, &nrep);
    struct cm_stream_config sc = {.brokers = h->cfg_brokers,
                                  .group = h->cfg_group,
                                  .topics = topics,
                                  .ntopics = ntopics,
                                  .commit_interval_ms = h->checkpoint_ms,
                                  .produce = 1,
                                  .ensure = rep,
                                  .nensure = nrep,
                                  .max_internal_lag = h->max_repartition_lag,
                                  .max_internal_bytes = h->max_repartition_bytes,
                                  .metrics_by_group = h->metrics_by_group,
                                  .start_ms = h->start_ms,
                                  .metrics = h->metrics};
    struct cm_stream_handler hd = {
        .process = process, .tick = tick, .before_commit = before_commit, .ud = h};
    proc_host_state_hooks(h, &hd);
    h->stream = cm_stream_new(&sc, &hd);
    free(topics);
    free(rep);
    if (!h->stream) {
        return -1;
    }
    proc_host_resubscribe(h); /* records what was subscribed */
    return 0;
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
        proc_batcher_free(h->p[k].batch); /* flushed by the last commit point */
        proc_host_free_frames(&h->p[k]);
        proc_engine_free(h->p[k].engine);
        proc_def_free(h->p[k].def);
    }
    for (size_t i = 0; i < h->nq; i++) {
        proc_host_free_change(&h->q[i]);
    }
    free(h->q);
    for (size_t i = 0; i < h->nsubscribed; i++) {
        free(h->subscribed[i]);
    }
    free(h->subscribed);
    json_decref(h->status);
    json_decref(h->live);
    pthread_mutex_destroy(&h->lock);
    free(h->p);
    free(h->late_topic);
    free(h->dlq_topic);
    free(h->events_topic);
    proc_tables_free(h->tables); /* after the stream: no lookup is running */
    proc_rtables_free(h->rtables);
    free(h->cfg_brokers);
    free(h->cfg_group);
    cm_jw_free(&h->argsw);
    free(h);
}
