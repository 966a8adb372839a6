/* Integration test for a stream that starts at a time (cm_stream_config.start_ms,
 * common/src/stream/stream_start.c) against an in-process development broker, which cannot look
 * offsets up by time: records stamped before the start are skipped wherever they lie (also one
 * stamped earlier after the first one stamped later), every later one is processed once, in
 * order, the skipped ones' offsets are committed with the rest (a partition holding only skipped
 * records too), a committed offset wins over the start, an internal topic's records are never
 * skipped, and the skipped records are counted per topic. */
#include "harness.h"

#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"
#include "cm/stream.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
#define START_MS (BASE_MS + 2500)

struct run {
    struct cm_metrics *metrics;
    const char *topic, *internal;
    char seen[64][32]; /* "<partition>:<value>" of each record processed, in order */
    size_t n;
    size_t want;            /* stop once this many were processed ... */
    double want_skipped;    /* ... and this many skipped */
    int internal_processed; /* records of the internal topic processed */
    int want_internal;      /* ... and this many of the internal topic's */
    size_t max_batch;       /* 0: the stream's default */
};

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    (void)s;
    struct run *r = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cm_kafka_msg_topic(msgs[i]), r->internal) == 0) {
            r->internal_processed++;
            continue;
        }
        size_t len;
        const char *v = cm_kafka_msg_value(msgs[i], &len);
        cr_assert_lt(r->n, 64);
        snprintf(r->seen[r->n++], sizeof(r->seen[0]), "%d:%.*s", cm_kafka_msg_partition(msgs[i]),
                 (int)len, v);
    }
    return 0;
}

static void tick(struct cm_stream *s, int64_t now_ms, void *ud)
{
    (void)now_ms;
    struct run *r = ud;
    if (r->n >= r->want &&
        it_topic_series(r->metrics, "t_records_before_start_total", r->topic) >= r->want_skipped &&
        r->internal_processed >= r->want_internal) {
        cm_stream_stop(s);
    }
}

/* Produces value to topic's partition, stamped at BASE_MS + at_ms. */
static void produce_at(rd_kafka_t *rk, const char *topic, int32_t partition, const char *value,
                       int64_t at_ms)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(BASE_MS + at_ms), RD_KAFKA_V_END);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "%s", rd_kafka_err2str(err));
}

/* Runs a stream of group over topic and internal (from START_MS) until r's wants are met. */
static void run_stream(const char *brokers, const char *group, struct run *r)
{
    const char *topics[] = {r->topic, r->internal};
    const char *ensure[] = {r->internal};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 2,
                                   .produce = 1,
                                   .ensure = ensure,
                                   .nensure = 1,
                                   .max_batch = r->max_batch,
                                   .start_ms = START_MS,
                                   .metrics = r->metrics};
    struct cm_stream_handler h = {.process = process, .tick = tick, .ud = r};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    cm_stream_run(s);
    cm_stream_free(s);
}

/* The committed offsets of topic's partitions 0 and 1 in group. */
static void committed(const char *brokers, const char *group, const char *topic, int64_t out[2])
{
    const char *none[] = {"it-start-unused"};
    struct cm_kafka_consumer *c = cm_kafka_consumer_new(brokers, group, none, 1, NULL);
    cr_assert_not_null(c);
    struct cm_kafka_partition parts[2] = {{.topic = topic, .partition = 0, .offset = -1},
                                          {.topic = topic, .partition = 1, .offset = -1}};
    cr_assert_eq(cm_kafka_consumer_committed(c, parts, 2, 10000), 0);
    out[0] = parts[0].offset;
    out[1] = parts[1].offset;
    cm_kafka_consumer_free(c);
}

Test(stream_start, records_stamped_before_the_start_are_skipped_and_committed, .timeout = 90)
{
    setenv("KAFKA_FETCH_WAIT_MAX_MS", "10", 1);
    setenv("KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    struct cm_kafka_mock *mock = cm_kafka_mock_new(1);
    cr_assert_not_null(mock);
    char topic[96], internal[96], g1[96], g2[96];
    it_unique(topic, sizeof(topic), "it-start");
    it_unique(internal, sizeof(internal), "it-start-int");
    it_unique(g1, sizeof(g1), "g-start1");
    it_unique(g2, sizeof(g2), "g-start2");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, topic, 2), 0);
    cr_assert_eq(cm_kafka_mock_create_topic(mock, internal, 1), 0);
    const char *brokers = cm_kafka_mock_bootstraps(mock);

    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    /* partition 0: offsets 0..5 stamped 1, 2, 3, 4, 1.5 and 5 s after BASE_MS; the start is at
     * 2.5 s. Partition 1: only records stamped before it. The internal topic: two, long before. */
    static const int64_t at[] = {1000, 2000, 3000, 4000, 1500, 5000};
    for (int i = 0; i < 6; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        produce_at(rk, topic, 0, v, at[i]);
    }
    produce_at(rk, topic, 1, "a", 1000);
    produce_at(rk, topic, 1, "b", 2000);
    produce_at(rk, internal, 0, "x", 0);
    produce_at(rk, internal, 0, "y", 1);
    cr_assert_eq(rd_kafka_flush(rk, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);

    /* a new group: read from the earliest (the development broker names no offset by time) */
    struct run r = {
        .metrics = cm_metrics_new("t_"), .topic = topic, .internal = internal, .want = 3};
    r.want_skipped = 5;
    r.want_internal = 2;
    run_stream(brokers, g1, &r);
    cr_assert_eq(r.n, 3, "records processed: %zu", r.n);
    cr_assert_str_eq(r.seen[0], "0:2");
    cr_assert_str_eq(r.seen[1], "0:3");
    cr_assert_str_eq(r.seen[2], "0:5",
                     "the record stamped before the start after later ones is "
                     "skipped too");
    cr_assert_eq(r.internal_processed, 2, "an internal topic's records are never skipped");
    cr_assert_eq(it_topic_series(r.metrics, "t_records_before_start_total", topic), 5);
    cr_assert_eq(it_topic_series(r.metrics, "t_records_before_start_total", internal), -1);
    int64_t off[2];
    committed(brokers, g1, topic, off);
    cr_assert_eq(off[0], 6, "partition 0 committed at %lld", (long long)off[0]);
    cr_assert_eq(off[1], 2, "a partition of skipped records only is committed past them too (%lld)",
                 (long long)off[1]);
    cm_metrics_free(r.metrics);

    /* a group with a committed offset resumes from it, not from the start: one record a batch,
     * stopped after 0:2 was processed (its commit point stores offset 3 of partition 0) */
    struct run r1 = {.metrics = cm_metrics_new("t_"),
                     .topic = topic,
                     .internal = internal,
                     .want = 1,
                     .max_batch = 1};
    run_stream(brokers, g2, &r1);
    cr_assert_str_eq(r1.seen[0], "0:2");
    committed(brokers, g2, topic, off);
    cr_assert_eq(off[0], 3, "partition 0 committed at %lld", (long long)off[0]);
    cm_metrics_free(r1.metrics);
    struct run r2 = {
        .metrics = cm_metrics_new("t_"), .topic = topic, .internal = internal, .want = 2};
    r2.want_skipped = 1; /* (at least) offset 4 of partition 0 */
    run_stream(brokers, g2, &r2);
    cr_assert_eq(r2.n, 2, "records processed: %zu", r2.n);
    cr_assert_str_eq(r2.seen[0], "0:3");
    cr_assert_str_eq(r2.seen[1], "0:5");
    cr_assert_geq(it_topic_series(r2.metrics, "t_records_before_start_total", topic), 1);
    cr_assert_leq(it_topic_series(r2.metrics, "t_records_before_start_total", topic), 3);
    cm_metrics_free(r2.metrics);
    cm_kafka_mock_free(mock);
}
