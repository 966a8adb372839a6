/* proc_offline: the input of the engine offline, shared by pipeline-run and the dry run. One
 * JSON value at a time, each one of:
 *   - a CloudEvent with a `time` (its event time), read from the current input partition;
 *   - {"watermark": "<RFC 3339>"} or {"watermark": "max"}: raises the watermark;
 *   - {"table": "<topic>", "key": "<key>", "value": <JSON>}: a row of a join step's table (a
 *     null value deletes the key);
 *   - {"partition": N} (0 to 1023): the events after it are read from input partition N (before
 *     any such line, from partition 0). The watermark is the least over the partitions, as in
 *     the processor; a partition named here holds it back from then on, also before its first
 *     event (as one assigned to the processor does until it has been idle for idle_timeout;
 *     offline, time does not pass, so none turns idle). */
#ifndef PROC_OFFLINE_H
#define PROC_OFFLINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct proc_engine;

#define PROC_OFFLINE_MAX_PARTITION 1023

struct proc_offline {
    struct proc_engine *e; /* borrowed */
    json_t *tables;        /* {topic: {key: row}}: the table entries so far (for out.lookup) */
    int32_t partition;     /* the current input partition */
    int64_t index;         /* the index of the value being taken */
    int64_t record_ms;     /* the events' record timestamp (max_time_ahead): the dry run's
                            * request time; PROC_NO_RECORD_TIME (pipeline-run): none */
};

void proc_offline_init(struct proc_offline *o, struct proc_engine *e);
void proc_offline_clear(struct proc_offline *o);
/* Takes one input value, its JSON text of len bytes; index is its place in the input (an
 * event's offset). 0, or -1 with the reason in *why (the value is then ignored). */
int proc_offline_take(struct proc_offline *o, const char *text, size_t len, int64_t index,
                      const char **why);
/* proc_tables_fixed_lookup over o's tables, in the shape of proc_engine_out.lookup: ud is the
 * struct proc_offline. */
json_t *proc_offline_lookup(const char *topic, const char *key, void *ud);

#endif
