/* kafka: the one Kafka wrapper (librdkafka). A producer that is idempotent with acks=all and
 * hands each delivery report back with the caller's context, and a consumer-group member whose
 * offsets are stored only when the caller says a record is processed.
 * Configuration: `brokers` sets bootstrap.servers; every other KAFKA_<PROP> environment variable
 * is passed to librdkafka as <prop> lower-cased with '_' -> '.' (KAFKA_LINGER_MS -> linger.ms).
 * Threads: a producer is safe from any thread; its delivery callback runs on the producer's own
 * poll thread. A consumer belongs to the thread that polls it (rebalance callbacks run inside
 * cm_kafka_consumer_poll); cm_kafka_consumer_store may be called from any thread. */
#ifndef CM_KAFKA_H
#define CM_KAFKA_H

#include <stddef.h>
#include <stdint.h>

struct cm_kafka_producer;
struct cm_kafka_consumer;
struct cm_kafka_msg;

/* Whether a failed message may still have been written (librdkafka's persistence status). */
enum cm_kafka_persisted {
    CM_KAFKA_PERSISTED,      /* acknowledged by the broker */
    CM_KAFKA_NOT_PERSISTED,  /* definitely not written */
    CM_KAFKA_MAYBE_PERSISTED /* unknown (e.g. timed out after sending): retry with the same id */
};

struct cm_kafka_report {
    int err;            /* 0 or a CM_E_* code */
    const char *errstr; /* librdkafka's text; borrowed for the callback */
    enum cm_kafka_persisted persisted;
    int32_t partition;
    int64_t offset;
};

/* Called once per produced message on the producer's poll thread. `opaque` is what was passed
 * to cm_kafka_produce; `ud` what was passed to cm_kafka_producer_new. */
typedef void (*cm_kafka_delivery_cb)(void *opaque, const struct cm_kafka_report *report, void *ud);

/* Creates a producer and starts its poll thread. Returns NULL after logging one line naming the
 * bad setting (callers exit 78). Caller frees with cm_kafka_producer_free. */
struct cm_kafka_producer *cm_kafka_producer_new(const char *brokers, cm_kafka_delivery_cb cb,
                                                void *ud);
/* Enqueues a copy of key/value with headers. Returns 0 (the callback will fire exactly once) or a
 * negative code, in which case the callback never fires: CM_E_FULL when the local queue is full,
 * CM_E_INVAL for an unknown topic or oversized message, CM_E_UNAVAIL after a fatal error. */
int cm_kafka_produce(struct cm_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                     const void *value, size_t valuelen, const char *const *header_names,
                     const char *const *header_values, size_t nheaders, void *opaque);
/* The same, to one partition (negative: chosen by the key, as cm_kafka_produce). */
int cm_kafka_produce_partition(struct cm_kafka_producer *p, const char *topic, int32_t partition,
                               const void *key, size_t keylen, const void *value, size_t valuelen,
                               const char *const *header_names, const char *const *header_values,
                               size_t nheaders, void *opaque);
/* The same without copying value: it must stay valid and unchanged until the message's
 * delivery report (the stream runtime keeps its outputs until then anyway). */
int cm_kafka_produce_borrowed(struct cm_kafka_producer *p, const char *topic, int32_t partition,
                              const void *key, size_t keylen, const void *value, size_t valuelen,
                              const char *const *header_names, const char *const *header_values,
                              size_t nheaders, void *opaque);
/* Messages produced whose delivery report was not handled yet (an exact count of our own, unlike
 * rd_kafka_outq_len, which also counts pending events and requests). */
int cm_kafka_producer_queue_len(struct cm_kafka_producer *p);
/* Gives up on every message not acknowledged yet: each gets its delivery report now, failed
 * (not persisted when it was still queued, possibly persisted when it was in flight). */
void cm_kafka_producer_purge(struct cm_kafka_producer *p);
/* Waits until every queued message has its report, up to timeout_ms. 0 or CM_E_TIMEDOUT. */
int cm_kafka_producer_flush(struct cm_kafka_producer *p, int timeout_ms);
/* Readiness: 0 when a broker answered a metadata request within timeout_ms, else CM_E_UNAVAIL
 * with a reason in why. */
int cm_kafka_producer_ping(struct cm_kafka_producer *p, int timeout_ms, char *why, size_t len);
/* Asks the cluster for topic's metadata, which creates it where the brokers auto-create topics
 * (the development broker does, with its default partition count). 0 when the topic exists
 * afterwards, else CM_E_UNAVAIL (create it with the cluster's tools). */
int cm_kafka_producer_ensure_topic(struct cm_kafka_producer *p, const char *topic, int timeout_ms);
/* The partition count of topic (creating it as ensure_topic does), or CM_E_UNAVAIL. */
int cm_kafka_producer_partitions(struct cm_kafka_producer *p, const char *topic, int timeout_ms);
/* Which of the n topics the cluster does not know, without creating any (one metadata request
 * for every topic, which no broker answers by creating one): missing[i] is set to 1 or 0. The
 * cluster's topics as asked within the last max_age_ms serve again (0: asked afresh). Returns
 * how many are missing, or CM_E_UNAVAIL when no broker answered within timeout_ms (and, with
 * max_age_ms, at once while the last failed attempt is that recent). Any thread. */
int cm_kafka_producer_topics_missing(struct cm_kafka_producer *p, const char *const *topics,
                                     size_t n, unsigned char *missing, int timeout_ms,
                                     int max_age_ms);
/* The partition among `partitions` that the producer gives a record with this non-empty key
 * (librdkafka's default partitioner), for callers that send to a partition themselves. */
int32_t cm_kafka_partition_of(const void *key, size_t keylen, int32_t partitions);
/* 1 when name is a legal Kafka topic name ([a-zA-Z0-9._-], 1 to 249 characters, not . or ..). */
int cm_kafka_topic_name_ok(const char *name);
/* Flushes for up to flush_timeout_ms, logs what is left, stops the poll thread and destroys. */
void cm_kafka_producer_free(struct cm_kafka_producer *p, int flush_timeout_ms);

#define CM_KAFKA_OFFSET_STORED (-1000) /* resume from the group's committed offset */

struct cm_kafka_partition {
    const char *topic; /* borrowed for the callback */
    int32_t partition;
    /* On assign: where consumption starts. CM_KAFKA_OFFSET_STORED (the default) resumes from the
     * group's committed offset; on_assign may set an absolute offset instead (a checkpoint's). */
    int64_t offset;
    /* cm_kafka_consumer_committed: the commit's metadata (malloc'd, the caller frees it), NULL
     * when it had none; cm_kafka_consumer_commit_offsets: the metadata to commit, or NULL. */
    char *metadata;
};

/* Rebalance notifications, called inside cm_kafka_consumer_poll. on_assign runs before the
 * partitions are assigned and may choose their start offsets. On revoke, the caller finishes or
 * abandons work for those partitions and stores offsets; the wrapper then commits. */
struct cm_kafka_rebalance {
    void (*on_assign)(const struct cm_kafka_partition *parts, size_t n, void *ud);
    void (*on_revoke)(const struct cm_kafka_partition *parts, size_t n, void *ud);
    void *ud;
};

/* Joins `group` and subscribes to the topics (copied). `rebalance` may be NULL (copied).
 * Returns NULL after logging (callers exit 78). Caller closes with cm_kafka_consumer_free. */
struct cm_kafka_consumer *cm_kafka_consumer_new(const char *brokers, const char *group,
                                                const char *const *topics, size_t ntopics,
                                                const struct cm_kafka_rebalance *rebalance);
/* Replaces the subscription (a rebalance follows: every partition is revoked and the new set
 * assigned). 0 or CM_E_INVAL (logged). */
int cm_kafka_consumer_subscribe(struct cm_kafka_consumer *c, const char *const *topics,
                                size_t ntopics);
/* The offset after a partition's last record (its high watermark), asked of the broker. 0 or a
 * negative code. */
int cm_kafka_consumer_end_offset(struct cm_kafka_consumer *c, const char *topic, int32_t partition,
                                 int64_t *end, int timeout_ms);
/* The high watermark of an assigned partition as the last fetch saw it (no broker call), or -1
 * when not known yet. */
int64_t cm_kafka_consumer_cached_end(struct cm_kafka_consumer *c, const char *topic,
                                     int32_t partition);
/* Pauses (pause = 1) or resumes fetching from assigned partitions (offsets ignored). 0 or a
 * negative code. A rebalance resumes what it assigns. */
int cm_kafka_consumer_pause(struct cm_kafka_consumer *c, const struct cm_kafka_partition *parts,
                            size_t n, int pause);
/* Next record, or NULL when none arrived within timeout_ms (errors are logged and counted).
 * Caller frees the record with cm_kafka_msg_free. */
struct cm_kafka_msg *cm_kafka_consumer_poll(struct cm_kafka_consumer *c, int timeout_ms);
/* Records of these topics (copied; replacing the earlier list) are handed out before any other:
 * a stream's internal topics, whose records are its own earlier output. Applies from the next
 * assignment. */
void cm_kafka_consumer_prioritize(struct cm_kafka_consumer *c, const char *const *topics, size_t n);
/* Collects up to max records into msgs, waiting at most timeout_ms in all: returns as soon as
 * one is there, with what else has arrived (the priority topics' records first). Returns the
 * count (0 on timeout); each record is freed by the caller. */
size_t cm_kafka_consumer_poll_batch(struct cm_kafka_consumer *c, struct cm_kafka_msg **msgs,
                                    size_t max, int timeout_ms);
/* Marks msg processed: stores its offset + 1 for the next commit. Does not free msg. */
void cm_kafka_consumer_done(struct cm_kafka_consumer *c, const struct cm_kafka_msg *msg);
/* Stores `next_offset` (the next record to read) for a partition. */
void cm_kafka_consumer_store(struct cm_kafka_consumer *c, const char *topic, int32_t partition,
                             int64_t next_offset);
/* The group's committed offset of each partition (parts[i].offset set; -1 when none) and its
 * metadata (parts[i].metadata, malloc'd, or NULL), asked of the group coordinator within
 * timeout_ms. 0 or a negative code (offsets then left as they were, metadata NULL). */
int cm_kafka_consumer_committed(struct cm_kafka_consumer *c, struct cm_kafka_partition *parts,
                                size_t n, int timeout_ms);
/* The first offset of each partition whose record is stamped at or after time_ms (Kafka's
 * ListOffsets by timestamp, as offsetsForTimes), asked within timeout_ms: parts[i].offset set, -1
 * where the broker names none (no such record, or a broker that cannot look offsets up by time:
 * the development broker names none for any time). 0 or a negative code (offsets left as they
 * were). */
int cm_kafka_consumer_offsets_for_time(struct cm_kafka_consumer *c,
                                       struct cm_kafka_partition *parts, size_t n, int64_t time_ms,
                                       int timeout_ms);
/* Commits these offsets (the next record to read), each with its metadata (Kafka's offset
 * metadata, at most CM_KAFKA_METADATA_MAX bytes), synchronously, instead of the stored ones.
 * librdkafka 2.0.2 leaves metadata out of offsets stored for the automatic commit, so a consumer
 * that needs it commits this way and stores nothing: an automatic commit would then clear it.
 * 0 or a negative code (nothing committed). */
#define CM_KAFKA_METADATA_MAX 4000 /* Kafka's offset.metadata.max.bytes is 4096 by default */
int cm_kafka_consumer_commit_offsets(struct cm_kafka_consumer *c,
                                     const struct cm_kafka_partition *parts, size_t n);
/* Commits stored offsets synchronously. 0 or a negative code (nothing to commit is 0). */
int cm_kafka_consumer_commit(struct cm_kafka_consumer *c);
int cm_kafka_consumer_ping(struct cm_kafka_consumer *c, int timeout_ms, char *why, size_t len);
/* Readiness checks in the shape of a cm_http_check (ud is the producer or consumer): a broker
 * answers within 1 s. */
int cm_kafka_producer_check(void *producer, char *why, size_t len);
int cm_kafka_consumer_check(void *consumer, char *why, size_t len);
/* Leaves the group (commits stored offsets) and destroys. */
void cm_kafka_consumer_free(struct cm_kafka_consumer *c);

const char *cm_kafka_msg_topic(const struct cm_kafka_msg *m);
int32_t cm_kafka_msg_partition(const struct cm_kafka_msg *m);
int64_t cm_kafka_msg_offset(const struct cm_kafka_msg *m);
/* Key and value are borrowed until cm_kafka_msg_free; NULL when absent. */
const void *cm_kafka_msg_key(const struct cm_kafka_msg *m, size_t *len);
const void *cm_kafka_msg_value(const struct cm_kafka_msg *m, size_t *len);
/* Copies the last header named `name` into buf (NUL-terminated, truncated); 0 or CM_E_INVAL. */
int cm_kafka_msg_header(const struct cm_kafka_msg *m, const char *name, char *buf, size_t len);
/* The record's headers in order (at most max; borrowed while m lives; values not
 * NUL-terminated, NULL for a null value). Returns how many were filled. */
size_t cm_kafka_msg_headers(const struct cm_kafka_msg *m, size_t max, const char **names,
                            const void **values, size_t *lens);
/* The last header named `name` in place (borrowed while m lives; not NUL-terminated), or NULL. */
const void *cm_kafka_msg_header_ref(const struct cm_kafka_msg *m, const char *name, size_t *len);
int64_t cm_kafka_msg_timestamp_ms(const struct cm_kafka_msg *m);
void cm_kafka_msg_free(struct cm_kafka_msg *m);

#endif
