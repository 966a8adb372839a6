/* proc_host_int: the host's state, shared by proc_host.c (the stream's hooks, set-up) and
 * proc_swap.c (definitions changing: versions started, swapped, drained and deleted). */
#ifndef PROC_HOST_INT_H
#define PROC_HOST_INT_H

#include "proc_host.h"

#include "cm/jsonw.h"
#include "cm/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct cm_kafka_msg;
struct cm_metric;
struct cm_series;
struct proc_def;
struct proc_engine;
struct proc_frame;

struct pipeline {
    struct proc_def *def;
    struct proc_engine *engine;
    int draining;       /* an old version finishing the windows that start before its successor's */
    int rep_partitions; /* of its repartition topic (0: not asked yet) */
    int origins_known;  /* its second stage knows every input partition */
    int relearn; /* assigned partitions since: its input partitions asked at the next batch */
    int64_t reported_ms;              /* when its first stage last reported its watermarks */
    struct cm_log_limit mismatch_log; /* records keyed otherwise: once a minute */
    struct proc_batcher *batch;       /* outputs grouped ("batch"); NULL: one event each */
    struct proc_frame *frames;        /* its first stage's frames being filled, one per partition of
                                         its repartition topic (rep_partitions of them) */
};

/* A definition change waiting for the stream's thread. */
struct change {
    char *name;
    long long version;
    struct proc_def *def; /* NULL: deleted */
    int64_t created_ms;
    unsigned flags;
    struct proc_def *prev_def; /* the version before, when live */
    int64_t prev_created_ms;
    unsigned prev_flags;
};

/* How often a record keyed otherwise than its pipeline, or an event whose time is not a time, is
 * logged at most. */
#define PROC_HOST_MISMATCH_LOG_MS 60000

/* Pipelines that dead-lettered one record (its versions send it once). */
#define PROC_HOST_DEAD_MAX 16

struct proc_host {
    char *late_topic, *events_topic;
    char *dlq_topic;                            /* the default dead-letter topic */
    const struct cm_kafka_msg *cur_msg;         /* the input record being processed, or NULL */
    const char *dead_names[PROC_HOST_DEAD_MAX]; /* the pipelines that dead-lettered it */
    size_t ndead;
    struct cm_metric *m_dead;
    struct cm_log_limit dead_log; /* dead letters: once a second */
    struct cm_redis *redis;
    struct cm_redis *ckpt_redis; /* the committer thread's connection (checkpoints written) */
    atomic_int ckpt_lost;        /* Redis lost a checkpoint: the next snapshots are whole */
    char owner[37];    /* the fencing token of this instance's current assignment (proc_ckpt_claim),
                          new at each assignment */
    int claim_pending; /* a claim at assignment could not reach Redis: tried at each commit point */
    struct cm_metrics *metrics;
    struct pipeline *p;
    size_t n;
    struct cm_stream *stream;
    struct cm_stream *cur; /* the stream while a hook runs (for the engines' outputs) */
    struct cm_series *m_invalid;
    struct cm_log_limit time_log; /* events whose time is not a time: once a minute */
    char **subscribed;            /* the topics read now */
    size_t nsubscribed;
    pthread_mutex_t lock; /* changes and status */
    struct change *q;
    size_t nq;
    json_t *status; /* {name: [{version, state, watermark, ...}]}, refreshed on ticks */
    json_t *live;   /* {name: [{version, doc, from, until}]}: the versions run, for queries */
    int64_t status_ms;
    char *cfg_brokers, *cfg_group;
    struct proc_tables *tables;   /* of the join steps */
    struct proc_rtables *rtables; /* their Redis hashes */
    int metrics_by_group;
    int64_t start_ms; /* cm_stream_config's (proc_host_config's) */
    int checkpoint_ms;
    int64_t max_repartition_lag, max_repartition_bytes;
    struct cm_jw argsw;      /* the aggregates' arguments of a prepared event being written */
    int horizon_full_logged; /* a horizon did not fit Kafka's offset metadata (said once) */
};

/* The index of topic among d's inputs, or -1. */
int proc_host_input_index(const struct proc_def *d, const char *topic);
/* Tells engine e (of definition d) that a partition it reads is assigned here: a first stage's
 * input partition (reported idle after idle_timeout without input), or one stage's (awaited). */
void proc_host_track_partition(const struct proc_def *d, struct proc_engine *e, const char *topic,
                               int32_t partition, int64_t now_ms);
/* The same for every partition assigned now: a pipeline added without a rebalance (its topics
 * read already) learns them as one present at the assignment does. */
void proc_host_track_assigned(struct proc_host *h, const struct proc_def *d, struct proc_engine *e);
/* Sets the hooks of partitions and their state (proc_host_state.c) in hd. */
struct cm_stream_handler;
void proc_host_state_hooks(struct proc_host *h, struct cm_stream_handler *hd);
/* The batcher for d's outputs (NULL when it has no "batch"). */
struct proc_batcher *proc_host_new_batcher(struct proc_host *h, const struct proc_def *d);
/* A new engine for d with the host's outputs (and checkpoint tracking with Redis). */
struct proc_engine *proc_host_new_engine(struct proc_host *h, const struct proc_def *d);
/* The topics to read (borrowed strings; caller frees the array) and the repartition topics. */
const char **proc_host_topics(const struct proc_host *h, size_t *n, const char ***rep,
                              size_t *nrep);
/* Subscribes again when the pipelines' topics changed. */
void proc_host_resubscribe(struct proc_host *h);
/* Applies queued changes, removes drained versions, refreshes the status (stream thread). */
void proc_host_apply_changes(struct proc_host *h, int64_t now_ms);
void proc_host_free_change(struct change *c);
/* Releases a pipeline's frames (sent or empty: frames never outlive the batch that fills them). */
void proc_host_free_frames(struct pipeline *p);
/* The partition count of p's repartition topic, asked until known (0 while unknown; each ask
 * waits up to 10 s for the cluster). */
int proc_host_rep_partitions(struct proc_host *h, struct pipeline *p);
/* proc_stages.c: a record of a repartition topic (a frame or a watermark report) to the second
 * stage of the version that sent it; a second stage told every input partition of its pipeline;
 * the first stages' reports of their input partitions' watermarks, every 200 ms (tick). */
struct cm_kafka_msg;
void proc_host_take_repartition(struct proc_host *h, const struct cm_kafka_msg *m, int64_t now);
void proc_host_learn_origins(struct proc_host *h, struct pipeline *p);
void proc_host_send_reports(struct proc_host *h, int64_t now);

#endif
