/* proc_rtable: join tables kept in Redis hashes (a `join` step with "redis_hash"): the row of key
 * is HGET <hash> <key>, read as JSON (a value that is not JSON is taken as a string), looked up
 * when an event needs it (the hash is the application's to change). Lookups are cached for
 * PROCESSOR_REDIS_TABLE_TTL, so a hot key costs one round trip per TTL, and a change shows after
 * at most that long. While Redis cannot answer, a lookup waits and retries (logged) rather than
 * deciding without the row: the stream stalls, as it does when checkpoints cannot be written,
 * and nothing is dropped or joined wrongly. One thread (the stream's).
 * Join steps name such a table "redis:<hash>" (proc_def); offline (pipeline-run, the dry run) its
 * rows are table entries of that name. */
#ifndef PROC_RTABLE_H
#define PROC_RTABLE_H

#include <jansson.h>
#include <stdint.h>

struct cm_redis;
struct proc_rtables;

/* redis borrowed; ttl_ms 0: no cache. Caller frees with proc_rtables_free. */
struct proc_rtables *proc_rtables_new(struct cm_redis *redis, int64_t ttl_ms);
void proc_rtables_free(struct proc_rtables *t);
/* The row (a new reference), or NULL when the hash has no such field. NULL too when the process
 * is stopping while Redis cannot answer: the same Redis keeps the checkpoints, so the batch is not
 * committed and is read again after the restart. */
json_t *proc_rtables_get(struct proc_rtables *t, const char *hash, const char *key);

#endif
