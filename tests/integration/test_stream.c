/* Integration tests for common/stream against an in-process development broker: records that
 * fell out of the broker's retention are counted and named (not skipped silently), a failing
 * batch is handed again and its offsets stored only after it succeeded, emitted records reach
 * Kafka with CloudEvents headers before offsets move, a committable hook holds offsets back so a
 * restart reads held records again, and an assign hook chooses where a partition starts. */
#include "harness.h"

#include "cm/event.h"
#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/uuid.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seen {
    struct cm_stream *s;
    int64_t first, last; /* offsets seen */
    int64_t stop_at;     /* stop after this offset was processed */
    size_t stop_count;   /* or after this many records (0: no such stop) */
    size_t count;
    int fail_times; /* process fails this many times first */
    int calls;
    int64_t hold;  /* committable never passes this (-1: no hold) */
    int64_t start; /* on_assign start offset (-1: committed) */
    const char *emit_topic;
};

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct seen *w = ud;
    w->calls++;
    if (w->fail_times > 0) {
        w->fail_times--;
        return -5; /* CM_E_UNAVAIL */
    }
    for (size_t i = 0; i < n; i++) {
        int64_t off = cm_kafka_msg_offset(msgs[i]);
        if (w->count == 0) {
            w->first = off;
        }
        w->last = off;
        w->count++;
        if (w->emit_topic) {
            char idx[32];
            snprintf(idx, sizeof(idx), "%lld", (long long)off);
            const char *parts[] = {"t", idx};
            struct cm_derived d = {.type = "test.derived",
                                   .source = "it",
                                   .subject = idx,
                                   .time_ms = 1000,
                                   .id_parts = parts,
                                   .nid_parts = 2,
                                   .tenant = "acme",
                                   .traceparent =
                                       "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
            json_t *ev = cm_event_derived_new(&d, json_pack("{s:I}", "offset", (json_int_t)off));
            cm_stream_emit_event(s, w->emit_topic, ev);
            json_decref(ev);
        }
        if (off >= w->stop_at || (w->stop_count && w->count >= w->stop_count)) {
            cm_stream_stop(s);
        }
    }
    return 0;
}

static int64_t committable(struct cm_stream *s, const char *topic, int32_t partition, int64_t next,
                           void *ud)
{
    (void)s;
    (void)topic;
    (void)partition;
    struct seen *w = ud;
    return w->hold >= 0 && next > w->hold ? w->hold : next;
}

static void on_assign(struct cm_stream *s, struct cm_kafka_partition *parts, size_t n, void *ud)
{
    (void)s;
    struct seen *w = ud;
    for (size_t i = 0; i < n; i++) {
        if (w->start >= 0) {
            parts[i].offset = w->start;
        }
    }
}

/* Consumes topic in group until the record at stop_at was processed (at most 30 s). */
static void run_stream(const char *brokers, const char *group, const char *topic, struct seen *w,
                       struct cm_metrics *metrics)
{
    const char *topics[] = {topic};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 1,
                                   .max_batch = 100,
                                   .metrics = metrics,
                                   .produce = w->emit_topic != NULL};
    struct cm_stream_handler h = {
        .process = process, .committable = committable, .on_assign = on_assign, .ud = w};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    w->s = s;
    cm_stream_run(s);
    cm_stream_free(s);
}

static void produce(const char *brokers, const char *topic, int n, size_t size)
{
    struct cm_kafka_producer *p = cm_kafka_producer_new(brokers, NULL, NULL);
    cr_assert_not_null(p);
    char *value = malloc(size);
    for (int i = 0; i < n; i++) {
        cm_random_bytes(value, (unsigned)size); /* incompressible: fills the broker's log */
        int rc;
        while ((rc = cm_kafka_produce(p, topic, "k", 1, value, size, NULL, NULL, 0, NULL)) ==
               -7 /* CM_E_FULL */) {
            cm_kafka_producer_flush(p, 100);
        }
        cr_assert_eq(rc, 0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 20000), 0);
    free(value);
    cm_kafka_producer_free(p, 1000);
}

static struct cm_kafka_mock *broker(char *topic, size_t len, int partitions)
{
    setenv("KAFKA_FETCH_WAIT_MAX_MS", "10", 1);
    setenv("KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    struct cm_kafka_mock *mock = cm_kafka_mock_new(1);
    cr_assert_not_null(mock);
    it_unique(topic, len, "it-stream");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, topic, partitions), 0);
    return mock;
}

static struct seen new_seen(int64_t stop_at)
{
    return (struct seen){.stop_at = stop_at, .first = -1, .last = -1, .hold = -1, .start = -1};
}

Test(stream, records_lost_to_retention_are_counted, .timeout = 120)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-lost");
    produce(brokers, topic, 5, 100);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(4);
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.count, 5);
    /* 8 MiB more while nobody consumes: the broker keeps about 5 MiB per partition, so the
     * group's committed offset (5) falls out of its retention. */
    produce(brokers, topic, 8192, 1024);
    struct seen b = new_seen(5 + 8192 - 1);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_gt(b.first, 5, "the broker should have dropped the oldest records");
    cr_assert_eq(b.last, 5 + 8192 - 1);
    cr_assert_eq(b.count, (size_t)(b.last - b.first + 1));
    char *text = cm_metrics_render(m);
    char want[256];
    snprintf(want, sizeof(want), "t_records_lost_total{topic=\"%s\"} %lld", topic,
             (long long)(b.first - 5));
    cr_assert(strstr(text, want), "%s not in\n%s", want, text);
    free(text);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

Test(stream, failed_batches_are_retried_before_offsets_move, .timeout = 60)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-retry");
    produce(brokers, topic, 20, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(19);
    a.fail_times = 2;
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.count, 20);
    cr_assert_eq(a.first, 0);
    cr_assert_geq(a.calls, 3);
    char *text = cm_metrics_render(m);
    cr_assert(strstr(text, "t_batch_retries_total 2"), "%s", text);
    free(text);
    /* Everything was stored: a new member of the group has nothing to read until new records. */
    produce(brokers, topic, 1, 50);
    struct seen b = new_seen(20);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.first, 20);
    cr_assert_eq(b.count, 1);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

Test(stream, emitted_events_carry_headers_and_are_acknowledged, .timeout = 60)
{
    char topic[96], out[96], group[96], g2[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 2);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(out, sizeof(out), "it-stream-out");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, out, 1), 0);
    it_unique(group, sizeof(group), "g-emit");
    produce(brokers, topic, 10, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(INT64_MAX);
    a.stop_count = 10;
    a.emit_topic = out;
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.count, 10);
    /* Every derived event is on the output topic, in structured mode with its headers. */
    it_unique(g2, sizeof(g2), "g-read");
    const char *topics[] = {out};
    struct cm_kafka_consumer *c = cm_kafka_consumer_new(brokers, g2, topics, 1, NULL);
    cr_assert_not_null(c);
    int got = 0;
    for (int tries = 0; tries < 300 && got < 10; tries++) {
        struct cm_kafka_msg *msg = cm_kafka_consumer_poll(c, 100);
        if (!msg) {
            continue;
        }
        char ct[64], tenant[32], tp[64], ceid[64];
        cr_assert_eq(cm_kafka_msg_header(msg, "content-type", ct, sizeof(ct)), 0);
        cr_assert_str_eq(ct, "application/cloudevents+json");
        cr_assert_eq(cm_kafka_msg_header(msg, "ce_tenant", tenant, sizeof(tenant)), 0);
        cr_assert_str_eq(tenant, "acme");
        cr_assert_eq(cm_kafka_msg_header(msg, "traceparent", tp, sizeof(tp)), 0);
        cr_assert_str_eq(tp, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        cr_assert_eq(cm_kafka_msg_header(msg, "ce_id", ceid, sizeof(ceid)), 0);
        cr_assert(cm_uuid_valid(ceid));
        got++;
        cm_kafka_msg_free(msg);
    }
    cr_assert_eq(got, 10);
    cm_kafka_consumer_free(c);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

Test(stream, held_offsets_are_read_again_and_assign_chooses_the_start, .timeout = 60)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-hold");
    produce(brokers, topic, 10, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(9);
    a.hold = 4; /* state for records from 4 on is not durable anywhere */
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.count, 10);
    struct seen b = new_seen(9);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.first, 4, "a restart reads again from the held offset, not %lld",
                 (long long)b.first);
    cr_assert_eq(b.count, 6);
    struct seen c = new_seen(9);
    c.start = 7; /* a checkpoint says: resume at 7 */
    run_stream(brokers, group, topic, &c, m);
    cr_assert_eq(c.first, 7);
    cr_assert_eq(c.count, 3);
    char *text = cm_metrics_render(m);
    cr_assert_null(strstr(text, "t_records_lost_total{"), "no loss expected:\n%s", text);
    free(text);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}
