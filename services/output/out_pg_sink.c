/* out_pg_sink: batch upsert of CloudEvents into per-topic tables (see out_pg_sink.h). */
#include "out_pg_sink.h"

#include "cm/event.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct out_pg_sink {
    struct cm_pg *pg;
    char *derived_topic;
    char *alerts_topic;
    struct cm_series *m_written;
    struct cm_series *m_duplicate;
    struct cm_series *m_invalid;
};

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
                                    const char *derived_topic, const char *alerts_topic)
{
    struct out_pg_sink *s = cm_xcalloc(1, sizeof(*s));
    s->pg = pg;
    s->derived_topic = cm_xstrdup(derived_topic);
    s->alerts_topic = cm_xstrdup(alerts_topic);
    struct cm_metric *m =
        cm_metrics_counter(metrics, "records_total", "records handled by outcome", "sink,outcome");
    s->m_written = cm_metric_with(m, "postgres", "written", NULL);
    s->m_duplicate = cm_metric_with(m, "postgres", "duplicate", NULL);
    s->m_invalid = cm_metric_with(m, "postgres", "invalid", NULL);
    return s;
}

int out_pg_sink_migrate(struct out_pg_sink *s)
{
    return cm_pg_migrate(s->pg, "output", migrations, sizeof(migrations) / sizeof(migrations[0]));
}

/* {"e": envelope, "t": ms} or NULL (logged, counted) when the record is not a CloudEvent. */
static json_t *row_of(struct out_pg_sink *s, const struct cm_kafka_msg *m)
{
    struct cm_event ev;
    const char *why;
    if (cm_event_from_record(m, CM_EVENT_ENVELOPE, &ev, &why) != 0) {
        cm_event_log_invalid(m, why);
        cm_counter_inc(s->m_invalid);
        return NULL;
    }
    json_t *row = json_object();
    json_object_set_new(row, "t", json_integer(ev.time_ms));
    json_object_set_new(row, "e", ev.ev); /* the row takes the envelope */
    return row;
}

static int write_rows(struct out_pg_sink *s, const char *sql, json_t *rows)
{
    long written = 0;
    size_t rejected = 0;
    int rc = cm_pg_exec_json_rows(s->pg, sql, rows, &written, &rejected);
    if (rc == 0) {
        cm_counter_add(s->m_written, (uint64_t)written);
        cm_counter_add(s->m_invalid, rejected);
        cm_counter_add(s->m_duplicate, json_array_size(rows) - rejected - (size_t)written);
    }
    return rc;
}

int out_pg_sink_write(struct out_pg_sink *s, struct cm_kafka_msg *const *msgs, size_t n)
{
    json_t *derived = json_array();
    json_t *alerts = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *topic = cm_kafka_msg_topic(msgs[i]);
        json_t *target = strcmp(topic, s->alerts_topic) == 0    ? alerts
                         : strcmp(topic, s->derived_topic) == 0 ? derived
                                                                : NULL;
        json_t *row = target ? row_of(s, msgs[i]) : NULL;
        if (row) {
            json_array_append_new(target, row);
        }
    }
    int rc = write_rows(s, INSERT_SQL("derived_events"), derived);
    if (rc == 0) {
        rc = write_rows(s, INSERT_SQL("alerts"), alerts);
    }
    json_decref(derived);
    json_decref(alerts);
    return rc;
}

void out_pg_sink_free(struct out_pg_sink *s)
{
    if (!s) {
        return;
    }
    free(s->derived_topic);
    free(s->alerts_topic);
    free(s);
}
