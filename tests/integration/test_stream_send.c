/* Integration tests of the stream runtime's sender thread (common/src/stream/stream_send.c)
 * against an in-process development broker: records a handler emits reach Kafka exactly once and,
 * per key, in the order emitted, also in a burst larger than the sender's queue (the stream's
 * thread then waits for room), and the stream's last offsets are committed, after every record
 * emitted before them was acknowledged, also when it stops right after a burst; records emitted
 * at a commit point are sent while the stream's thread waits for that commit (no deadlock); and
 * a commit job given up at shutdown keeps its records alive while they are still in flight. */
#include "harness.h"

#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/lifecycle.h"
#include "cm/metrics.h"
#include "cm/stream.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS 8

struct emitter {
    const char *out;
    size_t per_record; /* records emitted per input record */
    size_t burst_at;   /* input count at which one burst of `burst` records is emitted */
    size_t burst;
    size_t stop_after; /* inputs, then stop */
    size_t inputs;
    int hold_back;   /* emit at commit points (before_commit) and drain in every batch */
    int held;        /* inputs came since the last before_commit */
    long next[KEYS]; /* next sequence number per key */
    long emitted;
    int64_t committed; /* the group's committed offset when assigned (on_committed) */
};

static void emit_one(struct cm_stream *s, struct emitter *e)
{
    int k = (int)(e->emitted % KEYS);
    char key[8], value[32];
    snprintf(key, sizeof(key), "k%d", k);
    int len = snprintf(value, sizeof(value), "%ld", e->next[k]++);
    const char *hn[] = {"ce_type"}, *hv[] = {"test.seq"};
    cm_stream_emit(s, e->out, key, strlen(key), value, (size_t)len, hn, hv, 1);
    e->emitted++;
}

static int emit_process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    (void)msgs;
    struct emitter *e = ud;
    if (e->hold_back) {
        /* as the processor does when a pipeline version is dropped: its checkpoints must be
         * written first, and the last commit job waits for the record before_commit emitted */
        cm_stream_drain(s);
    }
    for (size_t i = 0; i < n; i++) {
        e->inputs++;
        e->held = 1;
        for (size_t j = 0; j < e->per_record; j++) {
            emit_one(s, e);
        }
        if (e->inputs == e->burst_at) {
            for (size_t j = 0; j < e->burst; j++) {
                emit_one(s, e);
            }
        }
        if (e->inputs >= e->stop_after) {
            cm_stream_stop(s);
        }
    }
    return 0;
}

/* Emits what is "held back" (one record) at a commit point, as the processor's batches do. */
static void emit_before_commit(struct cm_stream *s, void *ud)
{
    struct emitter *e = ud;
    if (e->held) {
        e->held = 0;
        emit_one(s, e);
    }
}

static void emit_committed(struct cm_stream *s, const char *topic, int32_t partition,
                           int64_t offset, const char *metadata, void *ud)
{
    (void)s;
    (void)topic;
    (void)partition;
    (void)metadata;
    ((struct emitter *)ud)->committed = offset;
}

/* Reads every record of out (4 partitions) and checks each key's values are 0, 1, 2, ... in the
 * order read, with none missing or repeated. */
static void check_output(const char *brokers, const char *out, const struct emitter *e)
{
    char group[96];
    it_unique(group, sizeof(group), "g-send-read");
    const char *topics[] = {out};
    struct cm_kafka_consumer *c = cm_kafka_consumer_new(brokers, group, topics, 1, NULL);
    cr_assert_not_null(c);
    long want[KEYS] = {0}, got = 0;
    for (int idle = 0; idle < 100 && got < e->emitted;) {
        struct cm_kafka_msg *msg = cm_kafka_consumer_poll(c, 100);
        if (!msg) {
            idle++;
            continue;
        }
        idle = 0;
        size_t klen = 0, vlen = 0;
        const char *key = (const char *)cm_kafka_msg_key(msg, &klen);
        const char *value = (const char *)cm_kafka_msg_value(msg, &vlen);
        cr_assert(key && klen == 2 && key[0] == 'k' && key[1] >= '0' && key[1] < '0' + KEYS);
        int k = key[1] - '0';
        char text[32];
        cr_assert(vlen > 0 && vlen < sizeof(text));
        memcpy(text, value, vlen);
        text[vlen] = '\0';
        cr_assert_eq(strtol(text, NULL, 10), want[k], "key k%d: %s where %ld was next", k, text,
                     want[k]);
        want[k]++;
        got++;
        cm_kafka_msg_free(msg);
    }
    cr_assert_eq(got, e->emitted);
    for (int k = 0; k < KEYS; k++) {
        cr_assert_eq(want[k], e->next[k]);
    }
    cr_assert_null(cm_kafka_consumer_poll(c, 500), "a record more than was emitted");
    cm_kafka_consumer_free(c);
}

static char *emit_metadata(struct cm_stream *s, const char *topic, int32_t partition,
                           int64_t offset, void *ud)
{
    (void)s;
    (void)topic;
    (void)partition;
    (void)offset;
    (void)ud;
    return strdup("m");
}

static void produce_inputs(const char *brokers, const char *topic, size_t n)
{
    struct cm_kafka_producer *p = cm_kafka_producer_new(brokers, NULL, NULL);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(cm_kafka_produce(p, topic, "i", 1, "x", 1, NULL, NULL, 0, NULL), 0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 20000), 0);
    cm_kafka_producer_free(p, 1000);
}

/* A development broker with a fresh one-partition input topic and an output topic of
 * out_partitions, and a fresh group name (each buffer 96 bytes). */
static struct cm_kafka_mock *send_broker(char *topic, char *out, char *group, int out_partitions)
{
    setenv("KAFKA_FETCH_WAIT_MAX_MS", "10", 1);
    setenv("KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    struct cm_kafka_mock *mock = cm_kafka_mock_new(1);
    cr_assert_not_null(mock);
    it_unique(topic, 96, "it-send");
    it_unique(out, 96, "it-send-out");
    it_unique(group, 96, "g-send");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, topic, 1), 0);
    cr_assert_eq(cm_kafka_mock_create_topic(mock, out, out_partitions), 0);
    return mock;
}

static void stream_once(const char *brokers, const char *group, const char *topic,
                        struct emitter *e, struct cm_metrics *m)
{
    const char *topics[] = {topic};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 1,
                                   .max_batch = e->hold_back ? 7 : 100,
                                   .metrics = m,
                                   .produce = 1};
    struct cm_stream_handler h = {.process = emit_process,
                                  .commit_metadata = emit_metadata,
                                  .on_committed = emit_committed,
                                  .before_commit = e->hold_back ? emit_before_commit : NULL,
                                  .ud = e};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    cm_stream_run(s);
    cm_stream_free(s);
}

/* Runs e over `inputs` input records, checks its output, then resumes the group over one more
 * input: it starts from the offset after the last input e processed. */
static void run_emitter(struct emitter *e, size_t inputs)
{
    char topic[96], out[96], group[96];
    struct cm_kafka_mock *mock = send_broker(topic, out, group, 4);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    produce_inputs(brokers, topic, inputs);
    struct cm_metrics *m = cm_metrics_new("t_");
    e->out = out;
    e->committed = -1;
    stream_once(brokers, group, topic, e, m);
    cr_assert_eq(e->inputs, e->stop_after);
    cr_assert(e->emitted > 0);
    check_output(brokers, out, e);
    /* every input's offset was committed as the stream stopped, after its records were
     * acknowledged: a restart resumes after the last one */
    produce_inputs(brokers, topic, 1);
    struct emitter again = {.out = out, .stop_after = 1, .committed = -1};
    stream_once(brokers, group, topic, &again, m);
    cr_assert_eq(again.committed, (int64_t)inputs);
    cr_assert_eq(again.inputs, 1);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

Test(stream_send, records_keep_their_order_per_key_and_none_is_lost, .timeout = 120)
{
    struct emitter e = {.per_record = 25, .stop_after = 2000};
    run_emitter(&e, 2000);
    cr_assert_eq(e.emitted, 50000);
}

Test(stream_send, a_burst_larger_than_the_queue_waits_for_room_and_stops_cleanly, .timeout = 120)
{
    /* 100,000 records from the third input record (the sender's queue holds 65,536), and the
     * stream stops at the tenth: all is produced, acknowledged and committed before it exits */
    struct emitter e = {.per_record = 1, .burst_at = 3, .burst = 100000, .stop_after = 10};
    run_emitter(&e, 10);
    cr_assert_eq(e.emitted, 100010);
}

Test(stream_send, records_emitted_at_a_commit_point_are_sent_while_the_stream_drains,
     .timeout = 120)
{
    /* every batch (of up to 7 records) waits for the commit jobs before it, the last of which
     * holds the record its commit point's before_commit emitted: the sender must be woken for
     * it (a sender left idle until the loop's next turn would never be) */
    struct emitter e = {.per_record = 2, .hold_back = 1, .stop_after = 200};
    run_emitter(&e, 200);
    cr_assert(e.emitted > 400, "%ld emitted", e.emitted);
}

/* A stream asked to stop (as by SIGTERM) while Redis, say, cannot take its last snapshot: the
 * commit job is given up, and so is the one the revocation's commit point makes after it, whose
 * record the broker has not acknowledged yet (its answers delayed 2 s). The given-up job must not
 * free that record while the sender and librdkafka still hold it (the sanitizer build catches a
 * use after free), and the offsets stay where they were: a restart reads the records again. */
struct quitter {
    struct cm_kafka_mock *mock;
    const char *out;
    size_t total, seen;
    int emitted_after_stop;
};

static int quit_process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    (void)msgs;
    struct quitter *q = ud;
    for (size_t i = 0; i < n; i++) {
        cm_stream_emit(s, q->out, "k", 1, "v", 1, NULL, NULL, 0);
        if (++q->seen == q->total) {
            cr_assert_eq(cm_kafka_mock_broker_set_rtt(q->mock, 1, 2000), 0);
            cm_lifecycle_request_stop();
        }
    }
    return 0;
}

static void quit_before_commit(struct cm_stream *s, void *ud)
{
    struct quitter *q = ud;
    if (cm_lifecycle_stopping() && q->emitted_after_stop < 2) {
        q->emitted_after_stop++; /* the last commit point's, then the revocation's */
        cm_stream_emit(s, q->out, "k", 1, "late", 4, NULL, NULL, 0);
    }
}

static void *quit_snapshot(struct cm_stream *s, void *ud)
{
    (void)s;
    return ud; /* a token: nothing to free */
}

static int quit_persist(void *snap, void *ud)
{
    (void)snap;
    (void)ud;
    return cm_lifecycle_stopping() ? -5 /* CM_E_UNAVAIL: the store is gone */ : 0;
}

static void run_quitter(const char *brokers, const char *group, const char *topic,
                        struct quitter *q, struct cm_metrics *m)
{
    const char *topics[] = {topic};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 1,
                                   .max_batch = 10,
                                   .metrics = m,
                                   .produce = 1};
    struct cm_stream_handler h = {.process = quit_process,
                                  .before_commit = quit_before_commit,
                                  .snapshot = quit_snapshot,
                                  .persist = quit_persist,
                                  .commit_metadata = emit_metadata,
                                  .ud = q};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    cm_stream_run(s);
    cm_stream_free(s);
}

Test(stream_send, a_job_given_up_at_shutdown_keeps_its_records_until_the_producer_is_gone,
     .timeout = 120)
{
    char topic[96], out[96], group[96];
    struct cm_kafka_mock *mock = send_broker(topic, out, group, 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    produce_inputs(brokers, topic, 30);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct quitter q = {.mock = mock, .out = out, .total = 30};
    run_quitter(brokers, group, topic, &q, m);
    cr_assert_eq(q.seen, 30);
    cr_assert_eq(q.emitted_after_stop, 2, "the revocation's commit point emitted too");
    /* the offsets stopped where the last durable commit left them, before the end: the last
     * batch is read again by whoever resumes */
    cr_assert_eq(cm_kafka_mock_broker_set_rtt(mock, 1, 0), 0);
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c = cm_kafka_consumer_new(brokers, group, topics, 1, NULL);
    cr_assert_not_null(c);
    struct cm_kafka_partition part = {.topic = topic, .partition = 0, .offset = -1};
    cr_assert_eq(cm_kafka_consumer_committed(c, &part, 1, 10000), 0);
    free(part.metadata);
    /* (none at all when the committer reached the earlier jobs only after the stop) */
    cr_assert(part.offset < 30, "committed %lld", (long long)part.offset);
    cm_kafka_consumer_free(c);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}
