/* kafka_consumer: the librdkafka consumer-group member (see kafka.h). It uses the eager
 * rebalance protocol: assign/revoke are applied here after the caller's callbacks, and offsets
 * are committed on revoke and close. Records of priority topics wait on their own queue, read
 * before the consumer queue (cm_kafka_consumer_poll_batch). */
#include "cm/kafka.h"

#include "kafka_internal.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cm_kafka_consumer {
    rd_kafka_t *rk;
    struct cm_kafka_rebalance rebalance;
    int has_rebalance;
    /* Records of the priority topics (a stream's internal topics) are fetched into their own
     * queue and handed out before the others: their partitions' queues are forwarded to `prio`
     * on every assignment. Sharing the consumer queue, they would wait behind every input record
     * prefetched before them, and librdkafka stops fetching every partition whose queue holds
     * queued.min.messages, so a long input backlog also held back their fetches. */
    rd_kafka_queue_t *main, *prio;
    int wake[2];            /* a pipe librdkafka writes to when either queue gets something */
    int64_t main_polled_ms; /* when the consumer queue was last polled */
    pthread_mutex_t prio_lock;
    char **prio_topics;
    size_t nprio;
    atomic_int closing; /* rd_kafka_consumer_close runs (on_rebalance) */
};

static int is_prio(struct cm_kafka_consumer *c, const char *topic)
{
    for (size_t i = 0; i < c->nprio; i++) {
        if (strcmp(c->prio_topics[i], topic) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Sends each assigned partition's records to the priority queue or the consumer queue. Set by
 * the application, the forwarding survives librdkafka's own at fetch start. */
static void route_partitions(struct cm_kafka_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&c->prio_lock);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_queue_t *q =
            rd_kafka_queue_get_partition(c->rk, parts->elems[i].topic, parts->elems[i].partition);
        if (q) {
            rd_kafka_queue_forward(q, is_prio(c, parts->elems[i].topic) ? c->prio : c->main);
            rd_kafka_queue_destroy(q);
        }
    }
    pthread_mutex_unlock(&c->prio_lock);
}

void cm_kafka_consumer_prioritize(struct cm_kafka_consumer *c, const char *const *topics, size_t n)
{
    pthread_mutex_lock(&c->prio_lock);
    for (size_t i = 0; i < c->nprio; i++) {
        free(c->prio_topics[i]);
    }
    free(c->prio_topics);
    c->prio_topics = cm_xcalloc(n ? n : 1, sizeof(*c->prio_topics));
    for (size_t i = 0; i < n; i++) {
        c->prio_topics[i] = cm_xstrdup(topics[i]);
    }
    c->nprio = n;
    pthread_mutex_unlock(&c->prio_lock);
}

/* Calls the user's callback; on assign, copies the start offsets it chose into parts. */
static void call_user(struct cm_kafka_consumer *c, rd_kafka_topic_partition_list_t *parts,
                      int assign)
{
    if (!c->has_rebalance) {
        return;
    }
    size_t n = (size_t)parts->cnt;
    struct cm_kafka_partition *arr = cm_xcalloc(n ? n : 1, sizeof(*arr));
    for (size_t i = 0; i < n; i++) {
        arr[i].topic = parts->elems[i].topic;
        arr[i].partition = parts->elems[i].partition;
        arr[i].offset = CM_KAFKA_OFFSET_STORED;
    }
    if (assign && c->rebalance.on_assign) {
        c->rebalance.on_assign(arr, n, c->rebalance.ud);
        for (size_t i = 0; i < n; i++) {
            parts->elems[i].offset = arr[i].offset >= 0 ? arr[i].offset : RD_KAFKA_OFFSET_STORED;
        }
    } else if (!assign && c->rebalance.on_revoke) {
        c->rebalance.on_revoke(arr, n, c->rebalance.ud);
    }
    free(arr);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct cm_kafka_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && atomic_load(&c->closing)) {
        /* A rebalance that was under way when the close began ends in an assignment, which
         * rd_kafka_consumer_close serves here. librdkafka takes any assign now as an unassign:
         * the partitions are never read, so the caller's hook is not asked where they resume
         * (it would load their state, and the committed offsets it reads wait for a coordinator
         * that is going away: 5 s per group, which pushed a processor past its shutdown
         * timeout). */
        CM_LOG_INFO("kafka_assign_ignored", "%d partitions assigned while closing: not taken",
                    parts->cnt);
        rd_kafka_assign(rk, NULL);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        CM_LOG_INFO("kafka_assigned", "%d partitions assigned", parts->cnt);
        call_user(c, parts, 1);
        /* Routed before the fetchers start: a partition whose first records reached the
         * consumer queue before its queue was forwarded to the priority queue would have them
         * handed out after later ones (librdkafka issue #1720 reports such jumps). */
        route_partitions(c, parts);
        rd_kafka_assign(rk, parts);
    } else {
        CM_LOG_INFO("kafka_revoked", "%d partitions revoked", parts->cnt);
        call_user(c, parts, 0);
        rd_kafka_commit(rk, NULL, 0);
        rd_kafka_assign(rk, NULL);
    }
}

struct cm_kafka_consumer *cm_kafka_consumer_new(const char *brokers, const char *group,
                                                const char *const *topics, size_t ntopics,
                                                const struct cm_kafka_rebalance *rebalance)
{
    /* queued.min.messages: in the high-level consumer it counts the one consumer queue of all
     * partitions, and librdkafka 2.0.2 stops fetching every partition for a fixed second
     * (rd_kafka_max_block_ms; fetch.queue.backoff.ms to tune it came in 2.1.0, issue #2879) once
     * that queue holds so many. A stream thread that drains 100,000 records (the default) in
     * less than that second then waits for records: a pipeline that filters every event read
     * 142,000 events/s with the default, 300,000 with a million. The memory bound stays
     * queued.max.messages.kbytes (64 MiB per queue by default).
     * topic.metadata.refresh.interval.ms: a subscribed topic created after the subscription
     * (a repartition topic on a cluster that does not create topics) is only consumed after the
     * next refresh: within 10 s rather than librdkafka's 5 min. */
    const char *defaults[] = {"queued.min.messages",
                              "1000000",
                              "topic.metadata.refresh.interval.ms",
                              "10000",
                              "group.id",
                              group,
                              "enable.auto.offset.store",
                              "false",
                              "enable.auto.commit",
                              "true",
                              "auto.offset.reset",
                              "earliest",
                              "enable.partition.eof",
                              "false",
                              NULL};
    rd_kafka_conf_t *conf = kafka_build_conf(brokers, defaults);
    if (!conf) {
        return NULL;
    }
    struct cm_kafka_consumer *c = cm_xcalloc(1, sizeof(*c));
    c->wake[0] = c->wake[1] = -1;
    pthread_mutex_init(&c->prio_lock, NULL);
    if (rebalance) {
        c->rebalance = *rebalance;
        c->has_rebalance = 1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, c);
    char err[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c->rk) {
        CM_LOG_ERROR("config_invalid", "kafka consumer: %s", err);
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    c->main = rd_kafka_queue_get_consumer(c->rk);
    c->prio = rd_kafka_queue_new(c->rk);
    if (pipe(c->wake) != 0 || fcntl(c->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(c->wake[1], F_SETFL, O_NONBLOCK) != 0) {
        CM_LOG_ERROR("kafka_consumer_failed", "could not make the wake-up pipe");
        cm_kafka_consumer_free(c);
        return NULL;
    }
    rd_kafka_queue_io_event_enable(c->main, c->wake[1], "m", 1);
    rd_kafka_queue_io_event_enable(c->prio, c->wake[1], "p", 1);
    if (cm_kafka_consumer_subscribe(c, topics, ntopics) != 0) {
        cm_kafka_consumer_free(c);
        return NULL;
    }
    return c;
}

int cm_kafka_consumer_end_offset(struct cm_kafka_consumer *c, const char *topic, int32_t partition,
                                 int64_t *end, int timeout_ms)
{
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(c->rk, topic, partition, &low, &high, timeout_ms);
    if (e) {
        return kafka_translate(e);
    }
    *end = high;
    return 0;
}

int64_t cm_kafka_consumer_cached_end(struct cm_kafka_consumer *c, const char *topic,
                                     int32_t partition)
{
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(c->rk, topic, partition, &low, &high) != 0) {
        return -1;
    }
    return high >= 0 ? high : -1;
}

int cm_kafka_consumer_pause(struct cm_kafka_consumer *c, const struct cm_kafka_partition *parts,
                            size_t n, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition);
    }
    rd_kafka_resp_err_t e =
        pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return e ? kafka_translate(e) : 0;
}

int cm_kafka_consumer_subscribe(struct cm_kafka_consumer *c, const char *const *topics,
                                size_t ntopics)
{
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++) {
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        CM_LOG_ERROR("kafka_subscribe_failed", "%s", rd_kafka_err2str(e));
        return CM_E_INVAL;
    }
    return 0;
}

/* The record m, or NULL (and m freed) when it reports an error. */
static struct cm_kafka_msg *take(rd_kafka_message_t *m)
{
    if (m && m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            CM_LOG_WARN("kafka_consume_error", "%s [%d]: %s",
                        m->rkt ? rd_kafka_topic_name(m->rkt) : "-", m->partition,
                        rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        return NULL;
    }
    return (struct cm_kafka_msg *)m;
}

struct cm_kafka_msg *cm_kafka_consumer_poll(struct cm_kafka_consumer *c, int timeout_ms)
{
    return take(rd_kafka_consumer_poll(c->rk, timeout_ms));
}

/* Takes what the priority queue holds now, at most max records. */
static size_t take_prio(struct cm_kafka_consumer *c, struct cm_kafka_msg **msgs, size_t max)
{
    rd_kafka_message_t *got[256];
    size_t n = 0;
    while (n < max) {
        size_t want = max - n < 256 ? max - n : 256;
        ssize_t k = rd_kafka_consume_batch_queue(c->prio, 0, got, want);
        if (k <= 0) {
            break;
        }
        for (ssize_t i = 0; i < k; i++) {
            struct cm_kafka_msg *m = take(got[i]);
            if (m) {
                msgs[n++] = m;
            }
        }
        if ((size_t)k < want) {
            break;
        }
    }
    return n;
}

size_t cm_kafka_consumer_poll_batch(struct cm_kafka_consumer *c, struct cm_kafka_msg **msgs,
                                    size_t max, int timeout_ms)
{
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    for (;;) {
        /* the pipe is emptied before the queues are looked at: a record arriving after the look
         * writes to it again, so the wait below cannot miss it */
        char buf[64];
        while (read(c->wake[0], buf, sizeof(buf)) > 0) {
        }
        /* Priority records alone while there are any: the consumer queue's records (a stream's
         * inputs) wait until the priority topics are read up, as the first stage of a pipeline
         * waits for its second. The consumer queue also serves rebalances and errors, so it is
         * polled for one record at least every 100 ms even then. */
        int64_t now = cm_monotonic_ms();
        int due = now - c->main_polled_ms >= 100;
        size_t n = take_prio(c, msgs, due && max > 1 ? max - 1 : max);
        size_t room = n == 0 ? max : due && n < max ? n + 1 : n; /* (max 1: no room left) */
        if (n < room) {
            c->main_polled_ms = now;
        }
        while (n < room) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
            if (!m) {
                break;
            }
            struct cm_kafka_msg *r = take(m);
            if (r) {
                msgs[n++] = r;
            }
        }
        int64_t left = deadline - cm_monotonic_ms();
        if (n > 0 || left <= 0) {
            return n;
        }
        struct pollfd pfd = {.fd = c->wake[0], .events = POLLIN};
        poll(&pfd, 1, (int)left);
    }
}

void cm_kafka_consumer_store(struct cm_kafka_consumer *c, const char *topic, int32_t partition,
                             int64_t next_offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
    if (err) {
        /* typically the partition was revoked meanwhile: the new owner re-reads the record */
        CM_LOG_DEBUG("kafka_store_failed", "%s [%d] @%lld: %s", topic, partition,
                     (long long)next_offset, rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void cm_kafka_consumer_done(struct cm_kafka_consumer *c, const struct cm_kafka_msg *msg)
{
    const rd_kafka_message_t *m = (const rd_kafka_message_t *)msg;
    cm_kafka_consumer_store(c, rd_kafka_topic_name(m->rkt), m->partition, m->offset + 1);
}

int cm_kafka_consumer_committed(struct cm_kafka_consumer *c, struct cm_kafka_partition *parts,
                                size_t n, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition);
    }
    rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, l, timeout_ms);
    for (size_t i = 0; i < n; i++) {
        parts[i].metadata = NULL;
    }
    if (!err) {
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_topic_partition_t *e = &l->elems[i];
            parts[i].offset = e->err || e->offset < 0 ? -1 : e->offset;
            if (!e->err && e->offset >= 0 && e->metadata && e->metadata_size > 0) {
                parts[i].metadata = cm_xmalloc(e->metadata_size + 1);
                memcpy(parts[i].metadata, e->metadata, e->metadata_size);
                parts[i].metadata[e->metadata_size] = '\0';
            }
        }
    } else {
        CM_LOG_WARN("kafka_committed_failed", "%s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err ? kafka_translate(err) : 0;
}

int cm_kafka_consumer_offsets_for_time(struct cm_kafka_consumer *c,
                                       struct cm_kafka_partition *parts, size_t n, int64_t time_ms,
                                       int timeout_ms)
{
    if (n == 0) {
        return 0;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset = time_ms;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c->rk, l, timeout_ms);
    for (size_t i = 0; !err && i < n; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        parts[i].offset = e->err || e->offset < 0 ? -1 : e->offset;
    }
    if (err) {
        CM_LOG_WARN("kafka_offsets_for_time_failed", "%s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err ? kafka_translate(err) : 0;
}

int cm_kafka_consumer_commit_offsets(struct cm_kafka_consumer *c,
                                     const struct cm_kafka_partition *parts, size_t n)
{
    if (n == 0) {
        return 0;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition);
        e->offset = parts[i].offset;
        size_t len = parts[i].metadata ? strlen(parts[i].metadata) : 0;
        if (len > 0 && len <= CM_KAFKA_METADATA_MAX) { /* the list frees its copy */
            e->metadata = cm_xmalloc(len);
            memcpy(e->metadata, parts[i].metadata, len);
            e->metadata_size = len;
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 0);
    for (int i = 0; !err && i < l->cnt; i++) {
        err = l->elems[i].err;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        CM_LOG_WARN("kafka_commit_failed", "%s", rd_kafka_err2str(err));
        return kafka_translate(err);
    }
    return 0;
}

int cm_kafka_consumer_commit(struct cm_kafka_consumer *c)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        CM_LOG_WARN("kafka_commit_failed", "%s", rd_kafka_err2str(err));
        return kafka_translate(err);
    }
    return 0;
}

int cm_kafka_consumer_ping(struct cm_kafka_consumer *c, int timeout_ms, char *why, size_t len)
{
    return kafka_ping(c->rk, timeout_ms, why, len);
}

int cm_kafka_consumer_check(void *consumer, char *why, size_t len)
{
    return cm_kafka_consumer_ping(consumer, 1000, why, len);
}

void cm_kafka_consumer_free(struct cm_kafka_consumer *c)
{
    if (!c) {
        return;
    }
    if (c->main) {
        rd_kafka_queue_io_event_enable(c->main, -1, NULL, 0);
        rd_kafka_queue_io_event_enable(c->prio, -1, NULL, 0);
    }
    atomic_store(&c->closing, 1);
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
    if (err) {
        CM_LOG_WARN("kafka_close_failed", "%s", rd_kafka_err2str(err));
    }
    if (c->main) {
        rd_kafka_queue_destroy(c->main);
        rd_kafka_queue_destroy(c->prio);
    }
    rd_kafka_destroy(c->rk);
    for (int i = 0; i < 2; i++) {
        if (c->wake[i] >= 0) {
            close(c->wake[i]);
        }
    }
    for (size_t i = 0; i < c->nprio; i++) {
        free(c->prio_topics[i]);
    }
    free(c->prio_topics);
    pthread_mutex_destroy(&c->prio_lock);
    free(c);
}
