/* proc_host: the processor daemon's pipelines on the stream runtime. Loads the definitions of
 * PROCESSOR_PIPELINES_DIR, subscribes to their source topics (and, for keyed windowed
 * pipelines, their `<name>.repartition` topics), and feeds each record to the engines that read
 * its topic: a keyed window pipeline first re-keys its prepared events to its repartition topic
 * (so one partition holds all of a key and there is one result per key and window), then
 * windows what it reads back. Results go to the pipeline's sink topic, late events to the late
 * topic with a `pipeline` header. Offsets of a partition are stored only after its outputs are
 * acknowledged and never past a record still held in open window state. With Redis, window state
 * is checkpointed at every commit point with the offset it covers (proc_ckpt.c) and loaded when
 * a partition is assigned, consumption resuming from the checkpoint; without a checkpoint (or
 * with Redis emptied) open windows are recomputed from the committed offsets.
 * Runs as a cm_stream handler on the stream's thread. */
#ifndef PROC_HOST_H
#define PROC_HOST_H

#include <stddef.h>

struct cm_metrics;
struct cm_redis;
struct cm_stream;
struct proc_host;

struct proc_host_config {
    const char *brokers;
    const char *group;
    const char *events_topic;  /* default source topic */
    const char *derived_topic; /* default sink topic */
    const char *late_topic;
    const char *pipelines_dir; /* may be NULL */
    int checkpoint_ms;         /* commit interval */
    struct cm_redis *redis;    /* window state checkpoints (borrowed); NULL: none */
};

/* Strings are copied. NULL after logging one line naming the bad definition or setting (callers
 * exit 78). Caller frees with proc_host_free. */
struct proc_host *proc_host_new(const struct proc_host_config *cfg, struct cm_metrics *metrics);
/* The stream it runs on (cm_stream_run, cm_stream_add_checks); borrowed. */
struct cm_stream *proc_host_stream(struct proc_host *h);
size_t proc_host_pipelines(const struct proc_host *h);
/* Leaves the group (a last commit point), then frees the pipelines. */
void proc_host_free(struct proc_host *h);

#endif
