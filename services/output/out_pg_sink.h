/* out_pg_sink: the PostgreSQL sink. Writes derived events and alerts (CloudEvents) into tables
 * `derived_events` and `alerts`, idempotently by event id, so a redelivered or replayed record
 * changes nothing. A record that is not a CloudEvent, or whose row PostgreSQL refuses for its
 * content, goes to the dead-letter topic (cm_dlq) once the rest of its batch is written, rather
 * than blocking the stream or being dropped. While PostgreSQL is unreachable a circuit breaker
 * (cm_breaker) stops the sink from trying on every retry of the batch. One sink per consuming
 * thread. */
#ifndef OUT_PG_SINK_H
#define OUT_PG_SINK_H

#include <stddef.h>
#include <stdint.h>

struct cm_kafka_msg;
struct cm_metrics;
struct cm_pg;
struct cm_stream;
struct out_pg_sink;

struct out_pg_sink_config {
    const char *derived_topic; /* records from it go to derived_events */
    const char *alerts_topic;  /* records from it go to alerts */
    const char *dlq_topic;
    int breaker_failures;        /* failed writes in a row that open the breaker */
    int64_t breaker_cooldown_ms; /* first cool-down (doubles up to 60 s while trials fail) */
};

/* Strings copied. Borrows pg and metrics. Caller frees with out_pg_sink_free. */
struct out_pg_sink *out_pg_sink_new(struct cm_pg *pg, struct cm_metrics *metrics,
                                    const struct out_pg_sink_config *cfg);
int out_pg_sink_migrate(struct out_pg_sink *sink);
/* Writes a batch; dead letters are emitted through s. 0 when every record is written or sent to
 * the dead-letter topic, CM_E_UNAVAIL to retry (PostgreSQL unreachable, or the breaker open). */
int out_pg_sink_write(struct out_pg_sink *sink, struct cm_stream *s,
                      struct cm_kafka_msg *const *msgs, size_t n);
void out_pg_sink_free(struct out_pg_sink *sink);

#endif
