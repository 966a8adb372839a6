/* proc_pipeline: consume → window → emit → ack → store offsets (see proc_pipeline.h). */
#include "proc_pipeline.h"

#include "proc_window.h"

#include "cm/event.h"
#include "cm/err.h"
#include "cm/expr.h"
#include "cm/stream.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 500
#define KEY_MAX 256
#define NSTRINGS 7

struct part_progress {
    int64_t last_activity_ms;
};

struct proc_pipeline {
    struct proc_pipeline_config cfg;
    char *strings[NSTRINGS]; /* owned copies behind cfg's strings */
    struct cm_expr *filter;
    struct cm_expr *key;
    struct proc_windows *windows;
    struct cm_stream *stream;
    struct part_progress *progress;
    size_t nprogress;
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
            p->progress[i] = (struct part_progress){0};
        }
        p->nprogress = n;
    }
    return &p->progress[partition];
}

static void on_revoke(struct cm_stream *s, const struct cm_kafka_partition *parts, size_t n,
                      void *ud)
{
    (void)s;
    struct proc_pipeline *p = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(parts[i].topic, p->cfg.events_topic) != 0) {
            continue;
        }
        proc_windows_drop_partition(p->windows, parts[i].partition);
        *progress_of(p, parts[i].partition) = (struct part_progress){0};
    }
}

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud);
static void tick(struct cm_stream *s, int64_t now, void *ud);
static int64_t committable(struct cm_stream *s, const char *topic, int32_t partition,
                           int64_t next_offset, void *ud);

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
    struct cm_stream_handler h = {.process = process, .tick = tick, .on_revoke = on_revoke,
                                  .committable = committable, .ud = p};
    const char *topics[] = {p->cfg.events_topic};
    struct cm_stream_config sc = {.brokers = p->cfg.brokers, .group = p->cfg.group,
                                  .topics = topics, .ntopics = 1, .max_batch = BATCH_MAX,
                                  .produce = 1, .metrics = metrics};
    p->stream = cm_stream_new(&sc, &h);
    if (!p->stream) {
        proc_pipeline_free(p);
        return NULL;
    }
    return p;
}

struct cm_stream *proc_pipeline_stream(struct proc_pipeline *p)
{
    return p->stream;
}

struct emit_ctx {
    struct proc_pipeline *p;
    struct cm_stream *s;
};

static void emit_window(const struct proc_window_result *w, void *ud)
{
    struct emit_ctx *c = ud;
    struct proc_pipeline *p = c->p;
    char part[16], start[32], startts[CM_RFC3339_LEN], endts[CM_RFC3339_LEN];
    snprintf(part, sizeof(part), "%d", w->partition);
    snprintf(start, sizeof(start), "%lld", (long long)w->start_ms);
    const char *parts[] = {p->cfg.name, w->key, start, part, "0"};
    cm_time_format_rfc3339(w->start_ms, startts);
    cm_time_format_rfc3339(w->end_ms, endts);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:i}", "pipeline", p->cfg.name,
                             "key", w->key, "window_start", startts, "window_end", endts, "count",
                             (json_int_t)w->count, "partition", (int)w->partition, "revision", 0);
    char source[160];
    snprintf(source, sizeof(source), "processor/%s", p->cfg.name);
    struct cm_derived d = {.type = "window.count", .source = source, .subject = w->key,
                           .time_ms = w->end_ms, .id_parts = parts, .nid_parts = 5};
    json_t *ev = cm_event_derived_new(&d, data);
    cm_stream_emit_event(c->s, p->cfg.derived_topic, ev);
    json_decref(ev);
    cm_counter_inc(p->m_windows);
}

static void take_record(struct proc_pipeline *p, struct cm_stream *s, const struct cm_kafka_msg *m,
                        int64_t now)
{
    int32_t part = cm_kafka_msg_partition(m);
    struct part_progress *pp = progress_of(p, part);
    pp->last_activity_ms = now;
    struct cm_event ev;
    const char *why;
    if (cm_event_from_record(m, CM_EVENT_OBJECT, &ev, &why) != 0) {
        cm_counter_inc(p->m_invalid);
        return;
    }
    enum cm_expr_outcome keep = cm_expr_eval_bool(p->filter, ev.ev, NULL, 0);
    char key[KEY_MAX];
    if (keep != CM_EXPR_TRUE || cm_expr_eval_string(p->key, ev.ev, key, sizeof(key)) != 0) {
        cm_counter_inc(keep == CM_EXPR_FALSE ? p->m_filtered : p->m_expr_errors);
        cm_event_clear(&ev);
        return;
    }
    if (proc_windows_add(p->windows, part, key, ev.time_ms, cm_kafka_msg_offset(m)) == PROC_LATE) {
        size_t keylen, len;
        const char *kafka_key = cm_kafka_msg_key(m, &keylen);
        const char *value = cm_kafka_msg_value(m, &len);
        const char *hn[] = {"pipeline"};
        const char *hv[] = {p->cfg.name};
        cm_stream_emit(s, p->cfg.late_topic, kafka_key, keylen, value, len, hn, hv, 1);
        cm_counter_inc(p->m_late);
    } else {
        cm_counter_inc(p->m_records);
    }
    cm_event_clear(&ev);
}

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct proc_pipeline *p = ud;
    int64_t now = cm_monotonic_ms();
    for (size_t i = 0; i < n; i++) {
        take_record(p, s, msgs[i], now);
    }
    return 0;
}

static void tick(struct cm_stream *s, int64_t now, void *ud)
{
    struct proc_pipeline *p = ud;
    struct emit_ctx c = {p, s};
    for (size_t i = 0; i < p->nprogress; i++) {
        int32_t part = (int32_t)i;
        if (proc_windows_open_count(p->windows, part) == 0) {
            continue;
        }
        size_t fired;
        if (now - p->progress[i].last_activity_ms >= p->cfg.idle_ms) {
            fired = proc_windows_advance(p->windows, part,
                                         proc_windows_max_open_end(p->windows, part), emit_window,
                                         &c);
        } else {
            fired = proc_windows_fire(p->windows, part, emit_window, &c);
        }
        if (fired > 0) {
            cm_stream_request_commit(s);
        }
    }
}

static int64_t committable(struct cm_stream *s, const char *topic, int32_t partition,
                           int64_t next_offset, void *ud)
{
    (void)s;
    struct proc_pipeline *p = ud;
    if (strcmp(topic, p->cfg.events_topic) != 0) {
        return next_offset;
    }
    int64_t min_open = proc_windows_min_open_offset(p->windows, partition);
    return min_open >= 0 ? min_open : next_offset;
}

void proc_pipeline_free(struct proc_pipeline *p)
{
    if (!p) {
        return;
    }
    cm_stream_free(p->stream);
    proc_windows_free(p->windows);
    cm_expr_free(p->filter);
    cm_expr_free(p->key);
    free(p->progress);
    for (size_t i = 0; i < NSTRINGS; i++) {
        free(p->strings[i]);
    }
    free((char *)p->cfg.late_topic);
    free(p);
}
