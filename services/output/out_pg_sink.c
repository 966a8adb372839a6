/* out_pg_sink: batch upsert of CloudEvents into per-topic tables (see out_pg_sink.h). */
#include "out_pg_sink.h"

#include "cm/breaker.h"
#include "cm/dlq.h"
#include "cm/err.h"
#include "cm/event.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out_pg_sink {
    struct cm_pg *pg;
    char *derived_topic;
    char *alerts_topic;
    char *dlq_topic;
    struct cm_breaker *breaker;
    struct cm_series *m_written;
    struct cm_series *m_duplicate;
    struct cm_series *m_invalid;
    struct cm_series *m_dlq_invalid, *m_dlq_rejected;
};

/* A batch's dead letters, sent once the batch is written (a batch retried after a failure must
 * not send them twice). */
struct letter {
    const struct cm_kafka_msg *m;
    char *error;
};

struct letters {
    struct letter *v;
    size_t n;
};

static void letter(struct letters *l, const struct cm_kafka_msg *m, const char *error)
{
    l->v = cm_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = (struct letter){m, cm_xstrdup(error)};
}

static const char *const migrations[] = {
    "CREATE TABLE derived_events ("
    " id text PRIMARY KEY, source text NOT NULL, type text NOT NULL, subject text,"
    " event_time timestamptz NOT NULL, data jsonb, envelope jsonb NOT NULL,"
    " written_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE alerts ("
    " id text PRIMARY KEY, source text NOT NULL, type text NOT NULL, subject text,"
    " event_time timestamptz NOT NULL, data jsonb, envelope jsonb NOT NULL,"
    " written_at timestamptz NOT NULL DEFAULT now())",
};

#define INSERT_SQL(table)                                                                          \
    "INSERT INTO " table " (id, source, type, subject, event_time, data, envelope)"                \
    " SELECT r->'e'->>'id', r->'e'->>'source', r->'e'->>'type', r->'e'->>'subject',"               \
    " to_timestamp((r->>'t')::bigint / 1000.0), r->'e'->'data', r->'e'"                            \
    " FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT (id) DO NOTHING"

struct out_pg_sink *out_pg_sink_new(struct cm_pg *pg, struct cm_metrics *metrics,
                                    const struct out_pg_sink_config *cfg)
{
    struct out_pg_sink *s = cm_xcalloc(1, sizeof(*s));
    s->pg = pg;
    s->derived_topic = cm_xstrdup(cfg->derived_topic);
    s->alerts_topic = cm_xstrdup(cfg->alerts_topic);
    s->dlq_topic = cm_xstrdup(cfg->dlq_topic);
    struct cm_metric *m =
        cm_metrics_counter(metrics, "records_total", "records handled by outcome", "sink,outcome");
    s->m_written = cm_metric_with(m, "postgres", "written", NULL);
    s->m_duplicate = cm_metric_with(m, "postgres", "duplicate", NULL);
    s->m_invalid = cm_metric_with(m, "postgres", "invalid", NULL);
    struct cm_metric *dlq = cm_metrics_counter(
        metrics, "dlq_records_total", "records sent to the dead-letter topic", "sink,reason");
    s->m_dlq_invalid = cm_metric_with(dlq, "postgres", "invalid", NULL);
    s->m_dlq_rejected = cm_metric_with(dlq, "postgres", "rejected", NULL);
    struct cm_series *state = cm_metric_with(
        cm_metrics_gauge(metrics, "breaker_state",
                         "circuit breaker of a sink: 0 closed, 1 half-open, 2 open", "sink"),
        "postgres", NULL);
    s->breaker = cm_breaker_new("postgres sink", cfg->breaker_failures, cfg->breaker_cooldown_ms,
                                60000, state);
    return s;
}

int out_pg_sink_migrate(struct out_pg_sink *s)
{
    return cm_pg_migrate(s->pg, "output", migrations, sizeof(migrations) / sizeof(migrations[0]));
}

/* {"e": envelope, "t": ms}, or NULL with *why set when the record is not a CloudEvent. */
static json_t *row_of(const struct cm_kafka_msg *m, const char **why)
{
    struct cm_event ev;
    if (cm_event_from_record(m, CM_EVENT_ENVELOPE, &ev, why) != 0) {
        cm_event_log_invalid(m, *why);
        return NULL;
    }
    json_t *row = json_object();
    json_object_set_new(row, "t", json_integer(ev.time_ms));
    json_object_set_new(row, "e", ev.ev); /* the row takes the envelope */
    cm_log_set_trace(NULL);
    return row;
}

/* One table's rows and the records they came from. */
struct rows {
    json_t *arr;
    const struct cm_kafka_msg **from;
    struct letters *rejected;
};

static void on_reject(size_t i, const char *sqlstate, const char *message, void *ud)
{
    struct rows *r = ud;
    /* libpq's text is "ERROR:  <message>\nDETAIL: ...": the message line, as one header */
    if (strncmp(message, "ERROR:", 6) == 0) {
        message += 6 + strspn(message + 6, " ");
    }
    char error[320];
    snprintf(error, sizeof(error), "postgres refused the row: [%s] %.*s", sqlstate,
             (int)strcspn(message, "\r\n"), message);
    letter(r->rejected, r->from[i], error);
}

static int write_rows(struct out_pg_sink *s, const char *sql, struct rows *r)
{
    long written = 0;
    size_t rejected = 0;
    int rc = cm_pg_exec_json_rows_each(s->pg, sql, r->arr, &written, &rejected, on_reject, r);
    if (rc == 0) {
        cm_counter_add(s->m_written, (uint64_t)written);
        cm_counter_add(s->m_duplicate, json_array_size(r->arr) - rejected - (size_t)written);
    }
    return rc;
}

static void free_letters(struct letters *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].error);
    }
    free(l->v);
}

int out_pg_sink_write(struct out_pg_sink *s, struct cm_stream *stream,
                      struct cm_kafka_msg *const *msgs, size_t n)
{
    if (!cm_breaker_allow(s->breaker, cm_monotonic_ms())) {
        return CM_E_UNAVAIL; /* the stream hands the batch again after a backoff */
    }
    struct letters invalid = {0}, rejected = {0};
    struct rows derived = {json_array(), cm_xcalloc(n ? n : 1, sizeof(void *)), &rejected};
    struct rows alerts = {json_array(), cm_xcalloc(n ? n : 1, sizeof(void *)), &rejected};
    for (size_t i = 0; i < n; i++) {
        const char *topic = cm_kafka_msg_topic(msgs[i]);
        struct rows *target = strcmp(topic, s->alerts_topic) == 0    ? &alerts
                              : strcmp(topic, s->derived_topic) == 0 ? &derived
                                                                     : NULL;
        const char *why = NULL;
        json_t *row = target ? row_of(msgs[i], &why) : NULL;
        if (row) {
            target->from[json_array_size(target->arr)] = msgs[i];
            json_array_append_new(target->arr, row);
        } else if (why) {
            letter(&invalid, msgs[i], why);
        }
    }
    int rc = write_rows(s, INSERT_SQL("derived_events"), &derived);
    if (rc == 0) {
        rc = write_rows(s, INSERT_SQL("alerts"), &alerts);
    }
    if (rc == CM_E_UNAVAIL) {
        cm_breaker_failure(s->breaker, cm_monotonic_ms());
    } else {
        cm_breaker_success(s->breaker);
    }
    if (rc == 0) {
        for (size_t i = 0; i < invalid.n; i++) {
            cm_dlq_send(stream, s->dlq_topic, invalid.v[i].m, "postgres", invalid.v[i].error, 1);
        }
        for (size_t i = 0; i < rejected.n; i++) {
            cm_dlq_send(stream, s->dlq_topic, rejected.v[i].m, "postgres", rejected.v[i].error,
                        2); /* the batch, then the row alone */
        }
        cm_counter_add(s->m_invalid, invalid.n + rejected.n);
        cm_counter_add(s->m_dlq_invalid, invalid.n);
        cm_counter_add(s->m_dlq_rejected, rejected.n);
    }
    free_letters(&invalid);
    free_letters(&rejected);
    json_decref(derived.arr);
    json_decref(alerts.arr);
    free(derived.from);
    free(alerts.from);
    return rc;
}

void out_pg_sink_free(struct out_pg_sink *s)
{
    if (!s) {
        return;
    }
    free(s->derived_topic);
    free(s->alerts_topic);
    free(s->dlq_topic);
    cm_breaker_free(s->breaker);
    free(s);
}
