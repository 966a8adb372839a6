/* proc_ckpt: window state checkpointed to Redis together with the offset it covers. One hash
 * per pipeline version and input partition (source), hash-tagged so Redis Cluster keeps it on one
 * slot: `{processor:<pipeline>:<source>}:v<version>` with fields `offset` (the next offset after
 * the records the state covers), `wm` (the newest event time seen), `k:<tenant>\x1f<key>` (a
 * key's window state) and, for a key of a deduplicating pipeline keeping many ids,
 * `d<n>:<tenant>\x1f<key>` (block n of its ids: proc_windows_changes). A checkpoint writes only the
 * keys changed since the previous one, all in one atomic write (a Lua script) with the offset, so
 * Redis always holds a state and the offset it matches; `owner` names the instance that may write
 * it (proc_ckpt_claim); `whole` marks a hash a full checkpoint began, and `seq` (counted by Redis)
 * and `wseq` (written) number them, so a hash that misses a write is told and never loaded. A
 * checkpoint is taken on the stream's thread (proc_ckpt_snapshot: the commands, self-contained) and
 * written later on the stream's committer thread (proc_ckpt_write); loading and dropping run on the
 * stream's thread. */
#ifndef PROC_CKPT_H
#define PROC_CKPT_H

#include <stddef.h>
#include <stdint.h>

struct cm_redis;
struct proc_engine;

/* The name of source's hash for version d (caller frees). */
struct proc_def;
char *proc_ckpt_key(const struct proc_def *d, int32_t source);

/* The next offset of a source's partition after the records processed, or -1 when unknown. */
typedef int64_t (*proc_ckpt_position_fn)(int32_t source, void *ud);

#define PROC_CKPT_LOST 1   /* proc_ckpt_write: Redis lost a checkpoint this one builds on */
#define PROC_CKPT_FENCED 2 /* proc_ckpt_write: another instance claimed a partition written */

/* A checkpoint taken, not yet written: one atomic write per source. */
struct proc_ckpt_snap;
/* Adds the changes of every source of e since its last snapshot (its whole state where it is
 * marked full) to *snap, created when NULL; owner is the writer's fencing token
 * (proc_ckpt_claim). */
void proc_ckpt_snapshot(struct proc_engine *e, proc_ckpt_position_fn position, void *ud,
                        const char *owner, struct proc_ckpt_snap **snap);
/* Writes a snapshot (any thread; snapshots in the order they were taken). 0; CM_E_UNAVAIL
 * (Redis down: write the same snapshot again, each write is idempotent); or a nonzero mix of:
 * PROC_CKPT_LOST: Redis no longer held an earlier checkpoint this one is an increment of, so
 * what it holds is not a state; PROC_CKPT_FENCED: a source's hash names another owner (another
 * instance was given the partition since: this one is a zombie, paused past the group's session
 * timeout), so that source was not written and Redis keeps the new owner's state. Either way
 * every source must be snapshot whole next time (proc_windows_set_full) and this snapshot's
 * offsets must not be stored. */
int proc_ckpt_write(struct cm_redis *r, const struct proc_ckpt_snap *snap);
/* Fencing: marks source's hash as written by owner (an instance's token for its current
 * assignment) from now on, before its checkpoint is loaded, when the partition is assigned. A
 * write whose token is not the hash's owner's is refused whole (PROC_CKPT_FENCED), so an
 * instance that lost the partition while paused never writes its stale state over the new
 * owner's, as Kafka fences a zombie's transactions by its producer epoch. 0 or CM_E_UNAVAIL. */
int proc_ckpt_claim(struct cm_redis *r, const struct proc_def *d, int32_t source,
                    const char *owner);
void proc_ckpt_snap_free(struct proc_ckpt_snap *snap);
/* The next snapshot of every source of e is whole (after PROC_CKPT_LOST). */
void proc_ckpt_whole_next(struct proc_engine *e);
/* Loads source's checkpoint into e. Returns 1 with *offset set (resume there), 0 when there is
 * none, or a negative code (the source is then left empty: recompute from Kafka). */
int proc_ckpt_load(struct cm_redis *r, struct proc_engine *e, int32_t source, int64_t now_ms,
                   int64_t *offset);

/* A checkpoint's hash as read (HGETALL's pairs): each field's name and value (NUL-terminated,
 * len bytes; NULL when absent). */
struct proc_ckpt_field {
    const char *name, *value;
    size_t len;
};
/* What proc_ckpt_load does with the hash it read (key names it in the logs): the same returns.
 * Everything in it is checked, as input from outside the process: a damaged or foreign hash is
 * refused whole and the source left empty. */
int proc_ckpt_restore(struct proc_engine *e, int32_t source, const char *key,
                      const struct proc_ckpt_field *fields, size_t n, int64_t now_ms,
                      int64_t *offset);

/* Deletes the checkpoint of every source e holds (a drained or reset version's). 0 or
 * CM_E_UNAVAIL. */
int proc_ckpt_drop(struct cm_redis *r, struct proc_engine *e);
/* Deletes every checkpoint of pipeline name whose version is below `below`, of every partition,
 * held here or not (SCAN): a deleted pipeline's, or the older versions' on a reset. The
 * partitions no instance holds at that moment (a rebalance under way, an instance down) left
 * theirs for ever otherwise. Returns how many were deleted, or CM_E_UNAVAIL. */
long proc_ckpt_drop_versions(struct cm_redis *r, const char *name, long long below);

#endif
