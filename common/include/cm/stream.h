/* stream: the one consumer runtime every consuming daemon runs on (processor, rules, store,
 * output). A loop of poll → process → emit, with commit points: an offset is stored only after
 * everything the records before it caused is acknowledged by Kafka and the handler's own state
 * is durable (its snapshot persisted, e.g. a Redis checkpoint), and never past what the
 * handler's `committable` hook allows (open windows). Commit points are asynchronous: the
 * stream's thread takes the snapshot and goes on processing while a committer thread awaits the
 * acknowledgements, persists the snapshot and stores the offsets, in order (Flink's checkpoints
 * work the same way).
 * Also: processing-time ticks, assign/revoke hooks (assign may choose start offsets, e.g. a
 * checkpoint's), a batch retried with backoff (100 ms .. 5 s) while its handler fails, records
 * the broker no longer had (offset-out-of-range after retention) logged, counted in
 * <svc>_records_lost_total{topic} and shown on /readyz, as is a log found behind the position a
 * partition resumed from (on_rewind), an emitted record Kafka refuses for its size logged
 * (output_refused), counted in <svc>_outputs_refused_total{topic} and left out instead of being
 * retried for ever, flow control between the stages of a
 * stream that reads its own internal topics (max_internal_lag, max_internal_bytes), a start at
 * a time (start_ms), and a graceful stop.
 * Threads: every hook but persist and release runs on the thread that called cm_stream_run;
 * cm_stream_emit belongs to that thread too. persist and release run on the committer thread.
 * Delivery reports arrive on the producer's thread and only touch atomics. */
#ifndef CM_STREAM_H
#define CM_STREAM_H

#include "cm/kafka.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_metrics;
struct cm_stream;

#define CM_STREAM_MAX_HEADERS 16
/* persist: this snapshot cannot be made durable (the store lost what it builds on); its offsets
 * are not stored, and the handler's next snapshot must cover its state in full. */
#define CM_STREAM_NOT_DURABLE 1

struct cm_stream_handler {
    /* Does the work for a batch of records (borrowed for the call): writes to a sink, or updates
     * state and emits with cm_stream_emit*. 0 when done; a negative code has the same batch
     * handed again after a backoff (emitted records of the failed attempt are still delivered:
     * derived events have deterministic ids, so sinks drop the repeat). */
    int (*process)(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud);
    /* Called after every poll (at least every 100 ms) with the monotonic clock: processing-time
     * timers, idle detection. May emit. NULL: none. */
    void (*tick)(struct cm_stream *s, int64_t now_ms, void *ud);
    /* Partitions assigned: load their state; may set parts[i].offset to start from. NULL: none. */
    void (*on_assign)(struct cm_stream *s, struct cm_kafka_partition *parts, size_t n, void *ud);
    /* Partitions revoked, after a commit point has completed (outputs acknowledged, state
     * durable, offsets stored): drop their state. NULL: none. */
    void (*on_revoke)(struct cm_stream *s, const struct cm_kafka_partition *parts, size_t n,
                      void *ud);
    /* The offset that may be stored for a partition whose records were processed up to
     * next_offset (exclusive): next_offset, or less while state for earlier records is not
     * durable anywhere. NULL: next_offset. */
    int64_t (*committable)(struct cm_stream *s, const char *topic, int32_t partition,
                           int64_t next_offset, void *ud);
    /* A commit point's snapshot of the handler's state (on the stream's thread, after the
     * offsets it covers were chosen with `committable`): what persist will write, e.g. the
     * window state changed since the previous snapshot. NULL (or a NULL hook): nothing to write.
     */
    void *(*snapshot)(struct cm_stream *s, void *ud);
    /* Writes a snapshot, on the committer thread, once every record emitted before it is
     * acknowledged; snapshots are persisted one at a time, in the order they were taken. 0: the
     * commit point's offsets are stored; CM_STREAM_NOT_DURABLE (see above); a negative code:
     * retried with backoff (so it must be idempotent). */
    int (*persist)(void *snap, void *ud);
    /* Frees a snapshot, persisted or not (on the committer thread). */
    void (*release)(void *snap, void *ud);
    /* The first record read from a partition since its assignment lies before the position it
     * resumed from (`resumed`, a checkpoint's or the committed offset): the broker's log was
     * replaced (the topic created anew, the broker's data lost) and its records from `first` on
     * are new. Called before they are processed, to forget what only held in the old log (e.g.
     * marks that skip records already in a checkpoint). Logged, and counted in
     * <svc>_log_rewinds_total{topic}, either way. NULL: none. */
    void (*on_rewind)(struct cm_stream *s, const char *topic, int32_t partition, int64_t resumed,
                      int64_t first, void *ud);
    /* Kafka offset metadata to commit with a partition's offset (a commit point's `offset`, from
     * `committable`; on the stream's thread, before `snapshot`): what must survive the loss of
     * the persisted state, such as how far event time had got. malloc'd text of at most
     * CM_KAFKA_METADATA_MAX bytes, or NULL. With this hook the stream commits its offsets
     * itself, with their metadata, instead of storing them for the automatic commit. NULL: none.
     */
    char *(*commit_metadata)(struct cm_stream *s, const char *topic, int32_t partition,
                             int64_t offset, void *ud);
    /* A partition assigned without a start offset from on_assign resumes from the group's
     * committed `offset`; `metadata` is what commit_metadata gave for it (borrowed), or NULL.
     * Called after on_assign, before its records are read. NULL: none. */
    void (*on_committed)(struct cm_stream *s, const char *topic, int32_t partition, int64_t offset,
                         const char *metadata, void *ud);
    /* Called when a commit point begins, before outputs are awaited: emit what is held back in
     * memory (open batches) so that the commit covers it. NULL: none. */
    void (*before_commit)(struct cm_stream *s, void *ud);
    void *ud;
};

struct cm_stream_config {
    const char *brokers;
    const char *group;
    const char *const *topics; /* copied */
    size_t ntopics;
    size_t max_batch;          /* records per process call; 0 = 500 */
    int commit_interval_ms;    /* commit point every interval; 0 = after every batch */
    int produce;               /* 1: the stream owns a producer for cm_stream_emit */
    const char *const *ensure; /* topics to create (where the cluster auto-creates) before
                                * subscribing, e.g. repartition topics; with produce */
    size_t nensure;
    /* Flow control between stages: the `ensure` topics are internal ones this stream writes and
     * reads again. While an assigned partition of one lags more than this many records behind
     * its end, fetching from the other topics pauses, until every such lag is below half of it,
     * so that a fast first stage never pushes records out of an internal topic's retention
     * before the second stage reads them. 0: 10,000; negative: no limit. */
    int64_t max_internal_lag;
    /* The same in bytes: the lag in records times the average size of the records read from
     * that partition (key, value and headers), for brokers whose retention is by size (the
     * development broker keeps about 5 MiB per partition). 0: 2 MiB; negative: no limit. */
    int64_t max_internal_bytes;
    /* 1: the gauges of this stream alone (consumer_lag_records{topic,group}, inputs_paused{group},
     * state_not_durable{group}) carry its consumer group, for a daemon that runs several */
    int metrics_by_group;
    /* > 0: the stream starts at this time (ms since the epoch), as Flink's
     * OffsetsInitializer.timestamp: a partition of its topics (not the internal ones) with no
     * start offset from on_assign and no committed offset starts at the first offset stamped at
     * or after it (Kafka's record timestamp), or at the earliest where the broker names none (the
     * development broker cannot look offsets up by time); records stamped before it are skipped
     * (not handed to process; their offsets committed as processed), counted in
     * <svc>_records_before_start_total{topic}. 0: none. */
    int64_t start_ms;
    struct cm_metrics *metrics; /* borrowed; records_lost_total, batch_retries_total,
                                 * outputs_retried_total, consumer_lag_records{topic} (updated
                                 * every second) are registered in it */
};

/* Creates the consumer (and producer). NULL after logging a bad setting (callers exit 78).
 * The handler is copied. Caller frees with cm_stream_free. */
struct cm_stream *cm_stream_new(const struct cm_stream_config *cfg,
                                const struct cm_stream_handler *handler);
/* Runs until cm_lifecycle_stopping() or cm_stream_stop(); then a last commit point (bounded:
 * outputs not acknowledged leave their offsets unstored, to be read again after a restart). */
void cm_stream_run(struct cm_stream *s);
/* Makes cm_stream_run return after its current iteration (any thread; for tests and tools). */
void cm_stream_stop(struct cm_stream *s);
/* Leaves the group (committing stored offsets), flushes the producer, frees. NULL is a no-op. */
void cm_stream_free(struct cm_stream *s);

/* Produces a record (copied; at most CM_STREAM_MAX_HEADERS headers) and keeps it until Kafka
 * acknowledged it, producing it again after a failure; the next commit point waits for it. Only
 * with cfg.produce. */
void cm_stream_emit(struct cm_stream *s, const char *topic, const void *key, size_t keylen,
                    const void *value, size_t valuelen, const char *const *header_names,
                    const char *const *header_values, size_t nheaders);
/* The same, to one partition of topic (negative: by key). */
void cm_stream_emit_to(struct cm_stream *s, const char *topic, int32_t partition, const void *key,
                       size_t keylen, const void *value, size_t valuelen,
                       const char *const *header_names, const char *const *header_values,
                       size_t nheaders);
/* The partition count of topic (asked of the cluster; creates it where topics are auto-created),
 * or a negative code. Only with cfg.produce. */
int cm_stream_partitions(struct cm_stream *s, const char *topic);
/* cm_kafka_producer_topics_missing through the stream's producer (3 s). Only with cfg.produce. */
int cm_stream_topics_missing(struct cm_stream *s, const char *const *topics, size_t n,
                             unsigned char *missing, int max_age_ms);
/* Emits a CloudEvent (borrowed) in structured mode: key and headers as cm_event_headers. */
void cm_stream_emit_event(struct cm_stream *s, const char *topic, const json_t *ev);
/* The next offset of a partition after the records processed so far (for the offsets a snapshot
 * records), or -1 when none was processed since it was assigned. */
int64_t cm_stream_position(const struct cm_stream *s, const char *topic, int32_t partition);
/* Calls fn for every partition assigned here (on the stream's thread; none during a
 * rebalance, between the revoke and the assign hooks). */
typedef void (*cm_stream_partition_fn)(const char *topic, int32_t partition, void *ud);
void cm_stream_each_partition(const struct cm_stream *s, cm_stream_partition_fn fn, void *ud);
/* 1 when a partition held here has records not processed yet, as far as the last fetch knows
 * (held back by priority or flow control, or not yet polled), or was not fetched since it was
 * assigned (paused at once, say): a partition that is merely waiting is not idle. */
int cm_stream_has_backlog(struct cm_stream *s, const char *topic, int32_t partition);
/* The end of a partition's log on the broker (its high watermark), asked of the cluster (up to
 * 5 s); 0 or a negative code. */
int cm_stream_log_end(struct cm_stream *s, const char *topic, int32_t partition, int64_t *end);
/* Tells (logs, counts in <svc>_log_rewinds_total and on /readyz) that a partition's log is
 * behind the position resumed from: the stream notes it itself when the first record read after
 * an assignment lies before that position; a handler whose state holds its own positions (one
 * per pipeline version) notes it when one of them lies past the log's end. */
void cm_stream_note_rewound(struct cm_stream *s, const char *topic, int32_t partition,
                            int64_t resumed, int64_t first);
/* Replaces the topics read (on the stream's thread, e.g. from tick), creating `ensure` first
 * where the cluster auto-creates. A rebalance follows: revoke hooks run for every partition
 * (after a commit point), then assign hooks for the new set. 0 or CM_E_INVAL (logged). */
int cm_stream_subscribe(struct cm_stream *s, const char *const *topics, size_t ntopics,
                        const char *const *ensure, size_t nensure);
/* Waits until every commit point taken so far has completed (e.g. before deleting state that a
 * snapshot still being persisted would write again). Stream's thread. 0, or CM_E_UNAVAIL when
 * one was given up at shutdown. */
int cm_stream_drain(struct cm_stream *s);
/* Asks for a commit point at the end of the current iteration (e.g. a window fired). */
void cm_stream_request_commit(struct cm_stream *s);

/* Records the broker no longer had when they were due (lost to retention) since start. */
uint64_t cm_stream_records_lost(const struct cm_stream *s);
struct cm_http_server;
/* Registers on srv's /readyz the check "kafka" (a broker answers within 1 s) and the detail
 * "stream" ({"records_lost": N, "lag": N, "last_loss": "..."}). The stream must outlive srv's
 * serving. */
void cm_stream_add_checks(struct cm_stream *s, struct cm_http_server *srv);
/* That detail: a new object (any thread). */
json_t *cm_stream_detail(struct cm_stream *s);

struct cm_service;
/* The main loop of a daemon that only consumes: creates the stream (cfg.metrics defaults to the
 * service's), adds its checks to /readyz, starts the service's HTTP server and runs the stream
 * until a stop is requested; then begins the shutdown (unready, watchdog armed), stops the HTTP
 * server (its checks read the stream) and frees the stream. Returns the exit status: 0 after a
 * stop, CM_CONFIG_EXIT_BAD when the stream could not be created (a bad setting, logged), 1 when
 * the HTTP server could not start. */
int cm_stream_serve(struct cm_service *svc, const struct cm_stream_config *cfg,
                    const struct cm_stream_handler *handler);

#endif
