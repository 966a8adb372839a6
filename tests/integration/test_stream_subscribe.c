/* Integration test for cm_stream_subscribe against an in-process development broker: a stream
 * that changes its topics at run time (as the processor does when a pipeline reading another
 * topic is added or deleted) goes on with the new topic's records, and the consumer lag gauge
 * of the topic it no longer reads drops to 0 instead of keeping the last value measured. */
#include "harness.h"

#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct run {
    const char *old_topic, *new_topic;
    struct cm_metrics *metrics;
    size_t old_count, new_count, new_total;
    int64_t started;
    double old_lag_seen; /* the old topic's lag when the stream moved off it */
    int switched;
};

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct run *r = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cm_kafka_msg_topic(msgs[i]), r->new_topic) == 0) {
            r->new_count++;
        } else {
            r->old_count++;
        }
    }
    if (r->new_count >= r->new_total) {
        cm_stream_stop(s);
    }
    /* slow enough that the old topic still has records waiting when the lag is first measured
     * (once a second) */
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    return 0;
}

/* Moves to the new topic once the old one's lag was measured with records waiting. */
static void tick(struct cm_stream *s, int64_t now_ms, void *ud)
{
    struct run *r = ud;
    if (r->switched || now_ms - r->started < 1000) {
        return;
    }
    double lag = it_topic_series(r->metrics, "t_consumer_lag_records", r->old_topic);
    if (lag > 0) {
        const char *topics[] = {r->new_topic};
        cr_assert_eq(cm_stream_subscribe(s, topics, 1, NULL, 0), 0);
        r->old_lag_seen = lag;
        r->switched = 1;
    }
}

static void produce(const char *brokers, const char *topic, int n)
{
    struct cm_kafka_producer *p = cm_kafka_producer_new(brokers, NULL, NULL);
    cr_assert_not_null(p);
    for (int i = 0; i < n; i++) {
        int rc;
        while ((rc = cm_kafka_produce(p, topic, "k", 1, "{}", 2, NULL, NULL, 0, NULL)) ==
               -7 /* CM_E_FULL */) {
            cm_kafka_producer_flush(p, 100);
        }
        cr_assert_eq(rc, 0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 20000), 0);
    cm_kafka_producer_free(p, 1000);
}

Test(stream_subscribe, a_topic_no_longer_read_has_no_lag, .timeout = 90)
{
    setenv("KAFKA_FETCH_WAIT_MAX_MS", "10", 1);
    setenv("KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    struct cm_kafka_mock *mock = cm_kafka_mock_new(1);
    cr_assert_not_null(mock);
    char old_topic[96], new_topic[96], group[96];
    it_unique(old_topic, sizeof(old_topic), "it-sub-old");
    it_unique(new_topic, sizeof(new_topic), "it-sub-new");
    it_unique(group, sizeof(group), "g-sub");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, old_topic, 1), 0);
    cr_assert_eq(cm_kafka_mock_create_topic(mock, new_topic, 1), 0);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    /* 100 records a batch, 10 ms each: the old topic takes far longer than a second to read */
    produce(brokers, old_topic, 50000);
    produce(brokers, new_topic, 20);

    struct cm_metrics *m = cm_metrics_new("t_");
    struct run r = {.old_topic = old_topic,
                    .new_topic = new_topic,
                    .metrics = m,
                    .new_total = 20,
                    .started = cm_monotonic_ms()};
    const char *topics[] = {old_topic};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 1,
                                   .max_batch = 100,
                                   .metrics = m};
    struct cm_stream_handler h = {.process = process, .tick = tick, .ud = &r};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    cm_stream_run(s);
    cm_stream_free(s);

    cr_assert(r.switched, "the stream never measured the old topic's lag");
    cr_assert_gt(r.old_lag_seen, 0);
    cr_assert_gt(r.old_count, 0);
    cr_assert_lt(r.old_count, 50000, "the old topic was read to its end: nothing was left waiting");
    /* every record of the new topic was read after the switch */
    cr_assert_eq(r.new_count, 20);
    cr_assert_eq(it_topic_series(m, "t_consumer_lag_records", old_topic), -1,
                 "the old topic's lag series should be gone once it is no longer read");
    cr_assert_eq(it_topic_series(m, "t_consumer_lag_records", new_topic), 0);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}
