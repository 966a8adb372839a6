/* proc_table: the tables of stream-table joins (a pipeline's `join` steps), as Kafka Streams'
 * GlobalKTable: every instance reads the whole of a table's topic (normally compacted) from the
 * beginning on a consumer of its own (a group of its own, nothing committed) and keeps the
 * latest value of each key in memory, following the topic as it changes; a record whose value is
 * empty or `null` (a tombstone) deletes its key. Values are JSON. A table is ready once it has
 * read up to the end offsets its partitions had when it started; pipelines that join it wait for
 * that before they process an event, so the first events never miss rows already written.
 * Offline (pipeline-run, the dry run) tables are given as input entries
 * {"table": "<topic>", "key": "<key>", "value": <JSON or null>}. */
#ifndef PROC_TABLE_H
#define PROC_TABLE_H

#include <jansson.h>

struct proc_tables;

/* brokers copied. Caller frees with proc_tables_free. */
struct proc_tables *proc_tables_new(const char *brokers);
/* Starts following topic (once per topic; later calls are no-ops). 0 or -1 after logging. */
int proc_tables_follow(struct proc_tables *t, const char *topic);
/* Waits up to timeout_ms until every table followed is ready; 1 when they are. */
int proc_tables_wait_ready(struct proc_tables *t, int timeout_ms);
/* The row of key in topic's table (a new reference, a copy), or NULL. Any thread. */
json_t *proc_tables_get(struct proc_tables *t, const char *topic, const char *key);
/* proc_tables_get in the shape of proc_engine_out.lookup (ud is the proc_tables). */
json_t *proc_tables_lookup(const char *topic, const char *key, void *ud);
void proc_tables_free(struct proc_tables *t);

/* Offline tables: fixed is a JSON object {topic: {key: row}}. Returns 1 when v is a table entry
 * (applied to fixed), 0 when it is not one, -1 with the reason in *why when it is malformed. */
int proc_tables_fixed_entry(json_t *fixed, const json_t *v, const char **why);
/* Lookup in fixed tables (ud is the JSON object). */
json_t *proc_tables_fixed_lookup(const char *topic, const char *key, void *ud);

#endif
