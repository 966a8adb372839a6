/* out_pg_sink: the PostgreSQL sink. Writes derived events and alerts (CloudEvents) into tables
 * `derived_events` and `alerts`, idempotently by event id, so a redelivered or replayed record
 * changes nothing. One sink per consuming thread. */
#ifndef OUT_PG_SINK_H
#define OUT_PG_SINK_H

#include <stddef.h>

struct cm_kafka_msg;
struct cm_metrics;
struct cm_pg;
struct out_pg_sink;

/* Records from topic `derived_topic` go to derived_events, from `alerts_topic` to alerts (names
 * copied). Borrows pg and metrics. Caller frees with out_pg_sink_free. */
struct out_pg_sink *out_pg_sink_new(struct cm_pg *pg, struct cm_metrics *metrics,
                                    const char *derived_topic, const char *alerts_topic);
int out_pg_sink_migrate(struct out_pg_sink *sink);
/* 0 when every record is written (or skipped as invalid, counted), CM_E_UNAVAIL to retry. */
int out_pg_sink_write(struct out_pg_sink *sink, struct cm_kafka_msg *const *msgs, size_t n);
void out_pg_sink_free(struct out_pg_sink *sink);

#endif
