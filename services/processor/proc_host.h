/* proc_host: the processor daemon's pipelines on the stream runtime. Takes definitions as they
 * change (hot swap, versions draining), subscribes to their source topics (and, for keyed windowed
 * pipelines, their `<name>.repartition` topics), and feeds each record to the engines that read
 * its topic: a keyed window pipeline first re-keys its prepared events to its repartition topic
 * (so one partition holds all of a key and there is one result per key and window), then
 * windows what it reads back. Results go to the pipeline's sink topic, late events to the late
 * topic with a `pipeline` header. Offsets of a partition are stored only after its outputs are
 * acknowledged and never past a record still held in open window state. With Redis, window state
 * is checkpointed at every commit point with the offset it covers (proc_ckpt.c) and loaded when
 * a partition is assigned, consumption resuming from the checkpoint; without a checkpoint (or
 * with Redis emptied) open windows are recomputed from the committed offsets.
 * Runs as a cm_stream handler on the stream's thread; checkpoints are written on the stream's
 * committer thread. */
#ifndef PROC_HOST_H
#define PROC_HOST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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
    const char *dlq_topic;         /* default dead-letter topic of pipelines (NULL: "dlq") */
    int checkpoint_ms;             /* commit interval */
    int64_t max_repartition_lag;   /* flow control (cm_stream_config.max_internal_lag); 0: none */
    int64_t max_repartition_bytes; /* the same in bytes (max_internal_bytes); 0: none */
    struct cm_redis *redis;        /* window state checkpoints and Redis-hash join tables
                                    * (borrowed); NULL: none */
    struct cm_redis *ckpt_redis;   /* a second connection to the same Redis, on which checkpoints
                                    * are written (borrowed); NULL: redis */
    int64_t redis_table_ttl_ms;    /* how long a Redis-hash row is cached; 0: not cached */
    int metrics_by_group;          /* its stream's gauges carry its group (cm_stream_config's) */
    int64_t start_ms; /* its stream starts at this time (cm_stream_config's); 0: none */
};

/* Strings are copied. Caller frees with proc_host_free. Pipelines arrive through
 * proc_host_changed (from the definitions mechanism, cm/defs.h). */
struct proc_host *proc_host_new(const struct proc_host_config *cfg, struct cm_metrics *metrics);
/* A definition changed (any thread): queued, and applied on the stream's thread between
 * batches. A new version of a windowed pipeline takes the windows that start at or after its
 * cut-over (the first window start at or after the time it was stored); the version before keeps
 * running for the windows that start earlier until they are done, then its state is dropped.
 * With CM_DEFS_RESET the old state is dropped at once and the new version starts afresh. */
struct cm_defs_change;
void proc_host_changed(struct proc_host *h, const struct cm_defs_change *c);
/* Takes the changes so far and creates the consumer for their topics. 0, or -1 after logging
 * (callers exit 78). */
int proc_host_start(struct proc_host *h);
/* {"versions": [{"version", "state": "running"|"draining", "watermark", "windows_from",
 * "windows_until"}]} of a pipeline as last seen on the stream's thread, or NULL. */
json_t *proc_host_status(struct proc_host *h, const char *name);
/* The versions of a pipeline run here, as last seen on the stream's thread, for queries:
 * [{"version", "doc": the definition's document, "from", "until": the window starts it takes,
 * in ms (proc_windows_set_bounds)}] (caller decrefs; the documents are copies), or NULL. */
json_t *proc_host_versions(struct proc_host *h, const char *name);
/* The stream it runs on (cm_stream_run, cm_stream_add_checks); borrowed. */
struct cm_stream *proc_host_stream(struct proc_host *h);
size_t proc_host_pipelines(const struct proc_host *h);
/* 1 when every change handed to it has been applied and it runs no pipeline any more (any
 * thread). */
int proc_host_idle(struct proc_host *h);
/* 0 when every change handed to it has been applied and none of name's versions runs here any
 * more, so that nothing here updates name's metric series again (any thread); else 1. */
int proc_host_holds(struct proc_host *h, const char *name);
/* Leaves the group (a last commit point), then frees the pipelines. */
void proc_host_free(struct proc_host *h);

#endif
