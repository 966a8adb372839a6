/* stream_internal: what the stream runtime's loop (stream.c) and its committer (stream_commit.c)
 * share: the emitted-record list, the partitions, and the commit-job queue between the stream's
 * thread and the committer thread. */
#ifndef CM_STREAM_INTERNAL_H
#define CM_STREAM_INTERNAL_H

#include "cm/log.h"
#include "cm/stream.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define FLUSH_WAIT_MS 30000

/* OUT_REFUSED: Kafka will never take it (larger than a record may be): counted, logged, and
 * treated as done, so one such record does not hold every later commit point for ever. */
enum out_state { OUT_INFLIGHT, OUT_ACKED, OUT_FAILED, OUT_REFUSED };

/* One emitted record. Its topic, key, value and headers live in `payload`, which is freed as
 * soon as the broker has acknowledged the record (only a failed one is produced again): held
 * until the commit point's job finished, a second of results kept the heap growing. */
struct output {
    atomic_int state;
    int32_t partition; /* -1: by key */
    char *payload;
    const char *topic, *key, *value; /* in payload */
    size_t keylen, valuelen, nheaders;
    const char **hn, **hv; /* nheaders each, in payload */
    int64_t emitted_ns;    /* monotonic time of the emit, for the acknowledgement latency */
    int internal;          /* to an internal (repartition) topic */
};

/* Frees an output and what is left of its payload. */
void stream_output_free(struct output *o);

struct part {
    char *topic;
    int32_t partition;
    int64_t expected;  /* next offset we expect to read; -1 unknown */
    int64_t next;      /* after the last record processed; -1 none yet */
    int64_t stored;    /* last offset handed to the committer; -1 none */
    char *stored_meta; /* and its metadata (h.commit_metadata), or NULL */
    int admitted;      /* a record of it was read since it was assigned */
    /* after the last record skipped as stamped before cfg.start_ms (stream_start.c), until the
     * batch it came in is processed; -1 none */
    int64_t skipped_next;
    int internal; /* of an internal topic (cfg.ensure) */
    int paused;   /* fetching paused by flow control */
    /* internal: bytes and records read lately (halved every 4,096 records), for the average
     * record size that turns a lag in records into bytes */
    double seen_bytes, seen_records;
    /* internal: records this stream emitted into it since it was assigned, counted from `base`
     * (its start offset then): base + emitted is a lower bound of its end that, unlike the end
     * the last fetch saw, is never behind our own output */
    int64_t base, emitted;
};

struct commit_job;

struct cm_stream {
    struct cm_stream_config cfg;
    char **topics;
    struct cm_stream_handler h;
    struct cm_kafka_consumer *consumer;
    struct cm_kafka_producer *producer;
    struct part *parts;
    size_t nparts, capparts;
    struct output **outs; /* emitted since the last commit point */
    size_t nouts, capouts;
    int commit_requested;
    atomic_int stop;
    int64_t last_commit_ms;
    atomic_uint_fast64_t lost;
    pthread_mutex_t loss_lock; /* guards last_loss (read by /readyz) */
    char last_loss[256];
    atomic_uint_fast64_t rewinds;
    char last_rewind[256];               /* guarded by loss_lock too */
    _Atomic int64_t batch_failing_since; /* ms; 0 while batches go through */
    atomic_int batch_error;              /* the CM_E_* code of the last failed attempt */
    struct cm_metric *m_lost, *m_rewinds, *m_refused;
    struct cm_metric *m_before_start; /* records_before_start_total{topic}, with cfg.start_ms */
    struct cm_log_limit refused_log, failed_log; /* once a second: a line per output at most */
    struct cm_series *m_batch_retries, *m_output_retries;
    /* emit → acknowledgement by Kafka, seconds, of outputs [0] and internal records [1] (when
     * producing) */
    struct cm_series *m_ack[2];
    char **internal;          /* the internal topics (cfg.ensure) */
    int *internal_partitions; /* each one's partition count; 0 until needed */
    size_t ninternal;
    int throttled; /* inputs paused: an internal partition lags too far */
    int64_t flow_checked_ms;
    struct cm_series *m_paused, *m_pauses;
    struct cm_metric *m_lag; /* consumer lag per input topic, summed over our partitions */
    char *mgroup;            /* the gauges' group label (cfg.metrics_by_group), or NULL */
    int64_t lag_checked_ms;
    _Atomic int64_t lag_total; /* read by /readyz */
    /* the committer: commit jobs in order, run on their own thread */
    pthread_t committer;
    int committer_running;
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_changed; /* a job queued or finished, or the committer told to exit */
    struct commit_job *head, *tail;
    size_t njobs;               /* queued or running */
    int committer_exit;         /* under jobs_lock */
    atomic_int abandoned;       /* a job was given up at shutdown: so are the ones after it */
    atomic_int offsets_skipped; /* a job's offsets were not stored (state not durable) */
    /* persisting a snapshot fails and is being retried: since when (ms, 0: it is not), and the
     * failures so far (read by /readyz) */
    _Atomic int64_t persist_failing_since;
    atomic_uint_fast64_t persist_failures;
    struct cm_series *m_persist_failures, *m_not_durable;
    struct cm_series *m_commit_duration; /* commit point to offsets stored */
    /* outputs of jobs given up at shutdown while still in flight: freed by cm_stream_free once
     * the producer is gone (appended by the committer, read after it stopped) */
    struct output **orphans;
    size_t norphans, caporphans;
    /* the sender (stream_send.c): emitted records queued for the producer, in order */
    pthread_t sender;
    int sender_running, send_inited;
    pthread_mutex_t send_lock;
    pthread_cond_t send_changed; /* records queued, room again, drained, or exit */
    struct output **sendq;       /* under send_lock */
    size_t nsend, capsend;
    int send_idle, send_busy, send_exit; /* under send_lock */
};

/* Hands o to the producer (any thread), waiting while its queue is full. 0 or a negative code
 * (o is then marked failed). */
int stream_produce(struct cm_stream *s, struct output *o);

/* Whether topic is one of the internal topics (cfg.ensure). */
int stream_is_internal(const struct cm_stream *s, const char *topic);

/* stream_start.c (cfg.start_ms; each a no-op without it): stream_start_init registers its
 * counter; stream_start_lookup, on assignment, after `asked` (the partitions without a start
 * offset from the hook) got the group's committed offsets, sets parts[i].offset of those that have
 * none to the first offset stamped at or after the start, where the broker names one;
 * stream_start_skip, as a record is admitted, tells whether it is skipped as stamped before the
 * start (noting its offset); stream_start_done, once the records admitted before were processed,
 * moves each partition's position past the records skipped. */
void stream_start_init(struct cm_stream *s);
void stream_start_lookup(struct cm_stream *s, struct cm_kafka_partition *parts, size_t n,
                         const struct cm_kafka_partition *asked, size_t nasked);
int stream_start_skip(struct cm_stream *s, struct part *p, const struct cm_kafka_msg *m);
void stream_start_done(struct cm_stream *s);

/* stream_send.c: the sender thread (started when the stream produces, stopped after producing
 * what was queued). stream_send marks o in flight and queues it for the sender (or produces it
 * at once without one), waiting while the queue is full; stream_send_kick wakes an idle sender
 * for what is queued (the end of a batch); stream_send_drain waits until all is handed to the
 * producer. */
int stream_sender_start(struct cm_stream *s);
void stream_sender_stop(struct cm_stream *s);
void stream_send(struct cm_stream *s, struct output *o);
void stream_send_kick(struct cm_stream *s);
void stream_send_drain(struct cm_stream *s);

/* stream_flow.c, on the stream's thread: pauses or resumes the inputs by the internal topics'
 * lag (checked at most every millisecond), and sets the consumer-lag gauges (every second, or
 * now when force). */
void stream_flow_control(struct cm_stream *s, int64_t now);
void stream_measure_lag(struct cm_stream *s, int64_t now, int force);

/* The committer thread: started by cm_stream_new, stopped (after finishing every queued job) by
 * cm_stream_free. */
int stream_committer_start(struct cm_stream *s);
void stream_committer_stop(struct cm_stream *s);
/* A commit point, on the stream's thread: the outputs emitted so far, each partition's
 * committable offset and the handler's snapshot become one job for the committer, which waits for
 * the outputs' acknowledgements, persists the snapshot, then stores the offsets. Waits while
 * the committer is more than one job behind. 0, or CM_E_UNAVAIL once a job was abandoned. */
int stream_commit_point(struct cm_stream *s);
/* Waits until every queued job is done. 0, or CM_E_UNAVAIL when one was abandoned. */
int stream_commit_drain(struct cm_stream *s);

#endif
