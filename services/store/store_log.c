/* store_log: batch insert of Kafka records into the `events` table (see store_log.h).
 * A batch goes in as one INSERT ... SELECT FROM jsonb_array_elements($1) ON CONFLICT DO NOTHING
 * through cm_pg_exec_json_rows, which isolates a poisonous record instead of blocking. */
#include "store_log.h"

#include "cm/err.h"
#include "cm/event.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct store_log {
    struct cm_pg *pg;
    struct cm_series *m_stored;
    struct cm_series *m_duplicates;
    struct cm_series *m_invalid;
};

static const char *const migrations[] = {
    "CREATE TABLE events ("
    " seq bigserial PRIMARY KEY,"
    " id text NOT NULL,"
    " source text NOT NULL,"
    " type text NOT NULL,"
    " subject text,"
    " tenant text,"
    " event_time timestamptz NOT NULL,"
    " envelope jsonb NOT NULL,"
    " kafka_topic text NOT NULL,"
    " kafka_partition int NOT NULL,"
    " kafka_offset bigint NOT NULL,"
    " stored_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (source, id))",
    "CREATE INDEX events_type_time ON events (type, event_time)",
    "CREATE INDEX events_tenant_time ON events (tenant, event_time)",
};

static const char *const insert_sql =
    "INSERT INTO events (id, source, type, subject, tenant, event_time, envelope, kafka_topic,"
    " kafka_partition, kafka_offset)"
    " SELECT r->'e'->>'id', r->'e'->>'source', r->'e'->>'type', r->'e'->>'subject',"
    " r->'e'->>'tenant', to_timestamp((r->>'t')::bigint / 1000.0), r->'e', r->>'topic',"
    " (r->>'p')::int, (r->>'o')::bigint"
    " FROM jsonb_array_elements($1::jsonb) AS r"
    " ON CONFLICT (source, id) DO NOTHING";

struct store_log *store_log_new(struct cm_pg *pg, struct cm_metrics *metrics)
{
    struct store_log *log = cm_xcalloc(1, sizeof(*log));
    log->pg = pg;
    struct cm_metric *m =
        cm_metrics_counter(metrics, "events_total", "records consumed by outcome", "outcome");
    log->m_stored = cm_metric_with(m, "stored", NULL);
    log->m_duplicates = cm_metric_with(m, "duplicate", NULL);
    log->m_invalid = cm_metric_with(m, "invalid", NULL);
    return log;
}

int store_log_migrate(struct store_log *log)
{
    return cm_pg_migrate(log->pg, "store", migrations, sizeof(migrations) / sizeof(migrations[0]));
}

/* One record as {"e": envelope, "t": ms, "topic", "p", "o"}; NULL when it is not an event we can
 * store (logged and counted). */
static json_t *record_row(struct store_log *log, const struct cm_kafka_msg *m)
{
    struct cm_event ev;
    const char *why;
    if (cm_event_from_record(m, CM_EVENT_IDS, &ev, &why) != 0) {
        cm_event_log_invalid(m, why);
        cm_counter_inc(log->m_invalid);
        return NULL;
    }
    json_t *row = json_object();
    json_object_set_new(row, "t", json_integer(ev.time_ms));
    json_object_set_new(row, "e", ev.ev); /* the row takes the envelope */
    json_object_set_new(row, "topic", json_string(cm_kafka_msg_topic(m)));
    json_object_set_new(row, "p", json_integer(cm_kafka_msg_partition(m)));
    json_object_set_new(row, "o", json_integer(cm_kafka_msg_offset(m)));
    return row;
}

int store_log_append(struct store_log *log, struct cm_kafka_msg *const *msgs, size_t n)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *row = record_row(log, msgs[i]);
        if (row) {
            json_array_append_new(rows, row);
        }
    }
    long inserted = 0;
    size_t rejected = 0;
    int rc = cm_pg_exec_json_rows(log->pg, insert_sql, rows, &inserted, &rejected);
    size_t nrows = json_array_size(rows);
    json_decref(rows);
    if (rc != 0) {
        return rc;
    }
    cm_counter_add(log->m_stored, (uint64_t)inserted);
    cm_counter_add(log->m_invalid, rejected);
    cm_counter_add(log->m_duplicates, nrows - rejected - (size_t)inserted);
    return 0;
}

void store_log_free(struct store_log *log)
{
    free(log);
}
