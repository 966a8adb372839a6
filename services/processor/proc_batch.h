/* proc_batch: a pipeline's outputs grouped into batch events (`"batch": {"max": N, "timeout":
 * "30s"}`): a CloudEvent of type `pipeline.batch` whose data holds up to N outputs
 * ({"pipeline", "version", "count", "results": [<output CloudEvents>]}). Outputs of different
 * tenants never share a batch. A batch closes when it is full, when its first output is
 * `timeout` old, and whenever the caller flushes (the processor does at every commit point, as
 * Flink's sinks flush on checkpoints, so no output waits in memory past a commit). Its id is
 * derived from the ids of the outputs it holds, so the same batch gets the same id again; each
 * output inside keeps its own id. Single-threaded. */
#ifndef PROC_BATCH_H
#define PROC_BATCH_H

#include <jansson.h>
#include <stdint.h>

struct proc_def;
struct proc_batcher;

/* emit(d, batch event (borrowed), ud) for each closed batch. d borrowed. */
typedef void (*proc_batch_emit_fn)(const struct proc_def *d, const json_t *batch, void *ud);
struct proc_batcher *proc_batcher_new(const struct proc_def *d, proc_batch_emit_fn emit, void *ud);
void proc_batcher_free(struct proc_batcher *b);
/* Adds an output (borrowed; copied) at monotonic now_ms; emits the batch when it is full. */
void proc_batcher_add(struct proc_batcher *b, const json_t *ev, int64_t now_ms);
/* Emits the batches whose first output is timeout old at now_ms. */
void proc_batcher_tick(struct proc_batcher *b, int64_t now_ms);
/* Emits every open batch. */
void proc_batcher_flush(struct proc_batcher *b);

#endif
