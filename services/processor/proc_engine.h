/* proc_engine: one pipeline at work, shared by the processor daemon and the offline twin
 * (tools/pipeline-run). Takes input events one at a time: source filter, steps (map, flatMap,
 * filter), key, then either the transformed event out (no window) or the keyed windows of the
 * event's input partition. Event time and the watermark per Flink: per input partition the
 * highest event time seen minus out_of_orderness; the pipeline's watermark is the minimum over
 * partitions that had input within idle_timeout (the maximum when all are idle), never going
 * back; an explicit watermark (pipeline-run's {"watermark": ...} lines) raises it too.
 * Results are CloudEvents of type pipeline.result with ids from (pipeline, version, tenant, key,
 * window start, revision), so a replay yields the same ids and values.
 * Single-threaded: one engine belongs to the thread that feeds it. */
#ifndef PROC_ENGINE_H
#define PROC_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_metrics;
struct proc_def;
struct proc_engine;

#define PROC_WATERMARK_MAX (INT64_MAX / 4) /* "max": flushes every window */

struct proc_engine_out {
    /* A result or transformed event (borrowed for the call) for the pipeline's sink topic. */
    void (*emit)(const struct proc_def *d, const json_t *ev, void *ud);
    /* An event too late for every window it belongs to (borrowed). */
    void (*late)(const struct proc_def *d, const json_t *ev, void *ud);
    void *ud;
};

/* d and out are borrowed for the engine's life; metrics may be NULL. Caller frees with
 * proc_engine_free. */
struct proc_engine *proc_engine_new(const struct proc_def *d, const struct proc_engine_out *out,
                                    struct cm_metrics *metrics);
void proc_engine_free(struct proc_engine *e);
const struct proc_def *proc_engine_def(const struct proc_engine *e);

/* Feeds one event (borrowed) read from input partition `source` (a small number the caller
 * gives each input partition) at `offset`, with event time time_ms, at monotonic now_ms. */
void proc_engine_process(struct proc_engine *e, int32_t source, const json_t *ev, int64_t time_ms,
                         int64_t offset, int64_t now_ms);
/* Two stages, for a keyed windowed pipeline whose input is not partitioned by its key (the
 * processor re-keys through a repartition topic in between, as Kafka Streams does):
 * prepare runs the source filter, steps and key, calling prepared(ev, tenant, key) for each
 * resulting event (all borrowed for the call); window takes such an event back, read from
 * source at offset. proc_engine_process is the two in one. */
typedef void (*proc_prepared_fn)(const json_t *ev, const char *tenant, const char *key, void *ud);
void proc_engine_prepare(struct proc_engine *e, const json_t *ev, proc_prepared_fn prepared,
                         void *ud);
/* Where a prepared event came from: its input partition (a source id of the first stage), the
 * input record's offset and the event's index among those the record gave. A first stage that
 * runs again after a crash produces the same events again; the second stage keeps, per source
 * and origin, the highest (offset, index) it took and skips what is not above it. */
struct proc_origin {
    int32_t origin;
    int64_t offset;
    int32_t seq;
};
/* origin may be NULL (no deduplication). Returns 0, or 1 when skipped as a repeat. */
int proc_engine_window(struct proc_engine *e, int32_t source, const json_t *ev, int64_t time_ms,
                       int64_t offset, const struct proc_origin *origin, int64_t now_ms);
/* Raises the watermark to at least wm and fires what it makes ripe. */
void proc_engine_watermark(struct proc_engine *e, int64_t wm);
/* Recomputes the watermark at monotonic now_ms (partitions turning idle) and fires. */
void proc_engine_tick(struct proc_engine *e, int64_t now_ms);
/* The current watermark (INT64_MIN before any input). */
int64_t proc_engine_current_watermark(const struct proc_engine *e);
/* Forgets an input partition's state (revoked). */
void proc_engine_drop_source(struct proc_engine *e, int32_t source);
/* Lowest offset of source still held in window state, or -1 when none. */
int64_t proc_engine_min_offset(const struct proc_engine *e, int32_t source);

/* ---- checkpoints ----
 * A source's state is its windows and the newest event time seen; `resume` is the offset its
 * state covers (records below it are skipped: they are in the state already). */
struct proc_windows;
/* From now on the windows of every source remember which keys change. */
void proc_engine_track_changes(struct proc_engine *e);
/* Calls fn for each source that has window state. */
typedef void (*proc_engine_source_fn)(int32_t source, int64_t max_time, int64_t resume,
                                      struct proc_windows *w, void *ud);
void proc_engine_each_source(struct proc_engine *e, proc_engine_source_fn fn, void *ud);
/* The origin marks of a source (borrowed until the next call that feeds it); count returned. */
size_t proc_engine_marks(struct proc_engine *e, int32_t source, const struct proc_origin **marks);
/* Restores one origin mark of a source (after proc_engine_restore_source). */
void proc_engine_restore_mark(struct proc_engine *e, int32_t source,
                              const struct proc_origin *mark);
/* Starts a source from a checkpoint: its newest event time and the offset it covers. Returns
 * its (empty) windows to restore keys into (borrowed). */
struct proc_windows *proc_engine_restore_source(struct proc_engine *e, int32_t source,
                                                int64_t max_time, int64_t resume, int64_t now_ms);

#endif
