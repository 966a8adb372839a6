/* proc_pipeline: consume → window → emit → ack → store offsets (see proc_pipeline.h). */
#include "proc_pipeline.h"

#include "proc_window.h"

#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/expr.h"
#include "cm/kafka.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 500
#define KEY_MAX 256
#define NSTRINGS 7

struct part_progress {
    int64_t next_offset; /* after the last record read, -1 when unknown */
    int64_t stored;      /* last offset stored, -1 when none */
    int64_t last_activity_ms;
};

struct output {
    const char *topic; /* borrowed from the pipeline */
    char *key;
    char *value;
    atomic_int failed;
};

struct proc_pipeline {
    struct proc_pipeline_config cfg;
    char *strings[NSTRINGS]; /* owned copies behind cfg's strings */
    struct cm_expr *filter;
    struct cm_expr *key;
    struct proc_windows *windows;
    struct cm_kafka_consumer *consumer;
    struct cm_kafka_producer *producer;
    struct part_progress *progress;
    size_t nprogress;
    struct output *outs;
    size_t nouts, capouts;
    struct cm_series *m_records, *m_late, *m_invalid, *m_filtered, *m_expr_errors, *m_windows;
};

static struct part_progress *progress_of(struct proc_pipeline *p, int32_t partition)
{
    if (partition < 0) {
        partition = 0;
    }
    if ((size_t)partition >= p->nprogress) {
        size_t n = (size_t)partition + 1;
        p->progress = cm_xrealloc(p->progress, n * sizeof(*p->progress));
        for (size_t i = p->nprogress; i < n; i++) {
            p->progress[i] = (struct part_progress){-1, -1, 0};
        }
        p->nprogress = n;
    }
    return &p->progress[partition];
}

static void on_revoke(const struct cm_kafka_partition *parts, size_t n, void *ud)
{
    struct proc_pipeline *p = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(parts[i].topic, p->cfg.events_topic) != 0) {
            continue;
        }
        proc_windows_drop_partition(p->windows, parts[i].partition);
        *progress_of(p, parts[i].partition) = (struct part_progress){-1, -1, 0};
    }
}

static void on_delivery(void *opaque, const struct cm_kafka_report *r, void *ud)
{
    (void)ud;
    struct output *o = opaque;
    if (r->err) {
        atomic_store(&o->failed, 1);
        CM_LOG_WARN("produce_failed", "%s: %s", o->topic, r->errstr);
    }
}

struct proc_pipeline *proc_pipeline_new(const struct proc_pipeline_config *cfg,
                                        struct cm_metrics *metrics)
{
    struct proc_pipeline *p = cm_xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    const char **fields[NSTRINGS] = {&p->cfg.name,          &p->cfg.filter,       &p->cfg.key,
                                     &p->cfg.brokers,       &p->cfg.group,        &p->cfg.events_topic,
                                     &p->cfg.derived_topic};
    for (size_t i = 0; i < NSTRINGS; i++) {
        p->strings[i] = cm_xstrdup(*fields[i]);
        *fields[i] = p->strings[i];
    }
    p->cfg.late_topic = cm_xstrdup(cfg->late_topic);
    struct cm_expr_error err;
    char pos[200];
    p->filter = cm_expr_compile(p->cfg.filter, &err);
    if (!p->filter) {
        CM_LOG_ERROR("config_invalid", "PROCESSOR_FILTER: %s",
                     cm_expr_error_format(&err, pos, sizeof(pos)));
        proc_pipeline_free(p);
        return NULL;
    }
    p->key = cm_expr_compile(p->cfg.key, &err);
    if (!p->key) {
        CM_LOG_ERROR("config_invalid", "PROCESSOR_KEY: %s",
                     cm_expr_error_format(&err, pos, sizeof(pos)));
        proc_pipeline_free(p);
        return NULL;
    }
    p->windows = proc_windows_new(cfg->window_ms, cfg->out_of_orderness_ms);
    struct cm_metric *rec = cm_metrics_counter(metrics, "records_total", "records consumed by outcome",
                                               "outcome");
    p->m_records = cm_metric_with(rec, "windowed", NULL);
    p->m_late = cm_metric_with(rec, "late", NULL);
    p->m_invalid = cm_metric_with(rec, "invalid", NULL);
    p->m_filtered = cm_metric_with(rec, "filtered", NULL);
    p->m_expr_errors = cm_metric_with(rec, "expression_error", NULL);
    p->m_windows = cm_metric_with(cm_metrics_counter(metrics, "windows_emitted_total",
                                                     "windows emitted", "pipeline"),
                                  p->cfg.name, NULL);
    p->producer = cm_kafka_producer_new(p->cfg.brokers, on_delivery, p);
    struct cm_kafka_rebalance rb = {NULL, on_revoke, p};
    const char *topics[] = {p->cfg.events_topic};
    p->consumer = p->producer ? cm_kafka_consumer_new(p->cfg.brokers, p->cfg.group, topics, 1, &rb)
                              : NULL;
    if (!p->consumer) {
        proc_pipeline_free(p);
        return NULL;
    }
    return p;
}

int proc_pipeline_check_kafka(void *pipeline, char *why, size_t len)
{
    struct proc_pipeline *p = pipeline;
    return cm_kafka_producer_ping(p->producer, 1000, why, len);
}

static void add_output(struct proc_pipeline *p, const char *topic, const char *key, size_t keylen,
                       char *value)
{
    if (p->nouts == p->capouts) {
        p->capouts = p->capouts ? p->capouts * 2 : 64;
        p->outs = cm_xrealloc(p->outs, p->capouts * sizeof(*p->outs));
    }
    struct output *o = &p->outs[p->nouts++];
    o->topic = topic;
    o->key = cm_xstrndup(key ? key : "", key ? keylen : 0);
    o->value = value;
    atomic_init(&o->failed, 0);
}

static void emit_window(const struct proc_window_result *w, void *ud)
{
    struct proc_pipeline *p = ud;
    char part[16], start[32], startts[CM_RFC3339_LEN], endts[CM_RFC3339_LEN];
    snprintf(part, sizeof(part), "%d", w->partition);
    snprintf(start, sizeof(start), "%lld", (long long)w->start_ms);
    const char *parts[] = {p->cfg.name, w->key, start, part, "0"};
    char id[CM_UUID_STR_LEN];
    cm_uuid_from_parts(parts, 5, id);
    cm_time_format_rfc3339(w->start_ms, startts);
    cm_time_format_rfc3339(w->end_ms, endts);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:i}", "pipeline", p->cfg.name,
                             "key", w->key, "window_start", startts, "window_end", endts, "count",
                             (json_int_t)w->count, "partition", (int)w->partition, "revision", 0);
    char source[160];
    snprintf(source, sizeof(source), "processor/%s", p->cfg.name);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id", id,
                           "source", source, "type", "window.count", "subject", w->key, "time",
                           endts, "data", data);
    add_output(p, p->cfg.derived_topic, w->key, strlen(w->key), cm_envelope_serialize(ev));
    json_decref(ev);
    cm_counter_inc(p->m_windows);
}

/* Produces pending outputs until all are acknowledged or a stop is requested. 0 or CM_E_UNAVAIL. */
static int deliver(struct proc_pipeline *p)
{
    int backoff_ms = 100;
    for (;;) {
        for (size_t i = 0; i < p->nouts; i++) {
            struct output *o = &p->outs[i];
            if (o->value == NULL) {
                continue; /* delivered in an earlier attempt */
            }
            atomic_store(&o->failed, 0);
            int rc;
            while ((rc = cm_kafka_produce(p->producer, o->topic, o->key, strlen(o->key), o->value,
                                          strlen(o->value), NULL, NULL, 0, o)) == CM_E_FULL) {
                cm_kafka_producer_flush(p->producer, 100);
            }
            if (rc != 0) {
                atomic_store(&o->failed, 1);
            }
        }
        cm_kafka_producer_flush(p->producer, 30000);
        size_t failed = 0;
        for (size_t i = 0; i < p->nouts; i++) {
            struct output *o = &p->outs[i];
            if (o->value && !atomic_load(&o->failed)) {
                free(o->value);
                o->value = NULL;
            } else if (o->value) {
                failed++;
            }
        }
        if (failed == 0) {
            return 0;
        }
        if (cm_lifecycle_stopping()) {
            return CM_E_UNAVAIL;
        }
        CM_LOG_WARN("deliver_retry", "%zu outputs not acknowledged; retrying in %d ms", failed,
                    backoff_ms);
        cm_lifecycle_wait(backoff_ms);
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
}

static void clear_outputs(struct proc_pipeline *p)
{
    for (size_t i = 0; i < p->nouts; i++) {
        free(p->outs[i].key);
        free(p->outs[i].value);
    }
    p->nouts = 0;
}

static void take_record(struct proc_pipeline *p, const struct cm_kafka_msg *m, int64_t now)
{
    int32_t part = cm_kafka_msg_partition(m);
    struct part_progress *pp = progress_of(p, part);
    pp->next_offset = cm_kafka_msg_offset(m) + 1;
    pp->last_activity_ms = now;
    size_t len;
    const char *value = cm_kafka_msg_value(m, &len);
    json_t *ev = value ? json_loadb(value, len, 0, NULL) : NULL;
    if (!json_is_object(ev)) {
        cm_counter_inc(p->m_invalid);
        json_decref(ev);
        return;
    }
    enum cm_expr_outcome keep = cm_expr_eval_bool(p->filter, ev, NULL, 0);
    char key[KEY_MAX];
    if (keep != CM_EXPR_TRUE || cm_expr_eval_string(p->key, ev, key, sizeof(key)) != 0) {
        cm_counter_inc(keep == CM_EXPR_FALSE ? p->m_filtered : p->m_expr_errors);
        json_decref(ev);
        return;
    }
    int64_t t = cm_envelope_time_ms(ev, cm_kafka_msg_timestamp_ms(m));
    if (proc_windows_add(p->windows, part, key, t, cm_kafka_msg_offset(m)) == PROC_LATE) {
        size_t keylen;
        const char *kafka_key = cm_kafka_msg_key(m, &keylen);
        add_output(p, p->cfg.late_topic, kafka_key, keylen, cm_xstrndup(value, len));
        cm_counter_inc(p->m_late);
    } else {
        cm_counter_inc(p->m_records);
    }
    json_decref(ev);
}

static void store_offsets(struct proc_pipeline *p)
{
    for (size_t i = 0; i < p->nprogress; i++) {
        struct part_progress *pp = &p->progress[i];
        if (pp->next_offset < 0) {
            continue;
        }
        int64_t min_open = proc_windows_min_open_offset(p->windows, (int32_t)i);
        int64_t off = min_open >= 0 ? min_open : pp->next_offset;
        if (off != pp->stored) {
            cm_kafka_consumer_store(p->consumer, p->cfg.events_topic, (int32_t)i, off);
            pp->stored = off;
        }
    }
}

void proc_pipeline_run(struct proc_pipeline *p)
{
    struct cm_kafka_msg *msgs[BATCH_MAX];
    while (!cm_lifecycle_stopping()) {
        size_t n = cm_kafka_consumer_poll_batch(p->consumer, msgs, BATCH_MAX, 100);
        int64_t now = cm_monotonic_ms();
        for (size_t i = 0; i < n; i++) {
            take_record(p, msgs[i], now);
            cm_kafka_msg_free(msgs[i]);
        }
        for (size_t i = 0; i < p->nprogress; i++) {
            int32_t part = (int32_t)i;
            if (proc_windows_open_count(p->windows, part) == 0) {
                continue;
            }
            if (now - p->progress[i].last_activity_ms >= p->cfg.idle_ms) {
                proc_windows_advance(p->windows, part, proc_windows_max_open_end(p->windows, part),
                                     emit_window, p);
            } else {
                proc_windows_fire(p->windows, part, emit_window, p);
            }
        }
        int rc = p->nouts ? deliver(p) : 0;
        clear_outputs(p);
        if (rc != 0) {
            break; /* stopping with unacknowledged output: leave offsets where they are */
        }
        store_offsets(p);
    }
}

void proc_pipeline_free(struct proc_pipeline *p)
{
    if (!p) {
        return;
    }
    cm_kafka_consumer_free(p->consumer);
    cm_kafka_producer_free(p->producer, 5000);
    proc_windows_free(p->windows);
    cm_expr_free(p->filter);
    cm_expr_free(p->key);
    clear_outputs(p);
    free(p->outs);
    free(p->progress);
    for (size_t i = 0; i < NSTRINGS; i++) {
        free(p->strings[i]);
    }
    free((char *)p->cfg.late_topic);
    free(p);
}
