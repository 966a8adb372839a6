/* proc_ckpt: window state checkpointed to Redis together with the offset it covers. One hash
 * per pipeline version and input partition (source), hash-tagged so Redis Cluster keeps it on one
 * slot: `{processor:<pipeline>:<source>}:v<version>` with fields `offset` (the next offset after
 * the records the state covers), `wm` (the newest event time seen) and `k:<tenant>\x1f<key>` (a
 * key's window state). A checkpoint writes only the keys changed since the previous one, all in
 * one MULTI/EXEC with the offset, so Redis always holds a state and the offset it matches.
 * Runs on the stream's thread. */
#ifndef PROC_CKPT_H
#define PROC_CKPT_H

#include <stdint.h>

struct cm_redis;
struct proc_engine;

/* The next offset of a source's partition after the records processed, or -1 when unknown. */
typedef int64_t (*proc_ckpt_position_fn)(int32_t source, void *ud);

/* Writes the changes of every source of e. 0, or CM_E_UNAVAIL (Redis down: retry; nothing
 * half-written, the changes are kept for the next attempt only as far as Redis took them). */
int proc_ckpt_save(struct cm_redis *r, struct proc_engine *e, proc_ckpt_position_fn position,
                   void *ud);
/* Loads source's checkpoint into e. Returns 1 with *offset set (resume there), 0 when there is
 * none, or a negative code (the source is then left empty: recompute from Kafka). */
int proc_ckpt_load(struct cm_redis *r, struct proc_engine *e, int32_t source, int64_t now_ms,
                   int64_t *offset);

/* Deletes the checkpoint of every source e holds (a drained or reset version's). 0 or
 * CM_E_UNAVAIL. */
int proc_ckpt_drop(struct cm_redis *r, struct proc_engine *e);

#endif
