/* store_log: the immutable event log in PostgreSQL. Appends batches of Kafka records to table
 * `events`, idempotently by (source, id), keeping each record's topic, partition and offset.
 * One store_log per consuming thread. */
#ifndef STORE_LOG_H
#define STORE_LOG_H

#include <stddef.h>

struct cm_kafka_msg;
struct cm_metrics;
struct cm_pg;
struct store_log;

/* Borrows pg and metrics for its lifetime. Caller frees with store_log_free. */
struct store_log *store_log_new(struct cm_pg *pg, struct cm_metrics *metrics);
/* Creates or upgrades the tables. 0, or a negative code (logged). */
int store_log_migrate(struct store_log *log);
/* Appends every record of the batch (records that are not CloudEvents JSON are counted, logged
 * and skipped). 0 when all are durably in the table, CM_E_UNAVAIL to retry the batch. */
int store_log_append(struct store_log *log, struct cm_kafka_msg *const *msgs, size_t n);
void store_log_free(struct store_log *log);

#endif
