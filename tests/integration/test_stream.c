/* Integration tests for common/stream against an in-process development broker: records that
 * fell out of the broker's retention are counted and named (not skipped silently), a failing
 * batch is handed again and its offsets stored only after it succeeded, emitted records reach
 * Kafka with CloudEvents headers before offsets move, a committable hook holds offsets back so a
 * restart reads held records again, an assign hook chooses where a partition starts, a position
 * beyond the log's end (the log replaced) is reported and its records read as new, an output
 * larger than Kafka takes is counted and left out instead of stalling the stream, and flow
 * control pauses the input while an internal topic's second stage lags (without it, a slow
 * second stage loses records to the broker's retention; with it, by records or by bytes, none,
 * also with the daemons' default prefetch, whose records fetched ahead a pause drops and the
 * resume fetches again, each processed once),
 * consumer lag is exported per topic, and commit points are asynchronous: processing goes on
 * while a snapshot is persisted, snapshots are persisted in order (retried when they fail), and
 * offsets move only with a durable snapshot. */
#include "harness.h"

#include "cm/event.h"
#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    int64_t big_at; /* with emit_topic: at this offset emit a 4,000-byte record instead (-1: no) */
    int rewinds;    /* on_rewind calls */
    int64_t rewind_from, rewind_to; /* the last one's resumed and first offsets */
    size_t count_at_rewind;         /* records processed before it */
    int backlog_first;              /* cm_stream_has_backlog of partition 0 in the first batch */
    int backlog_after;              /* and once the stream stopped */
    size_t max_batch;               /* 0: 100 */
    int meta;                       /* commit offsets with metadata (commit_metadata) */
    char committed_meta[64];        /* on_committed's metadata ("" none, "-" NULL) */
    int64_t committed_offset;       /* and offset (-1: not called) */
};

static int process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct seen *w = ud;
    w->calls++;
    if (w->fail_times > 0) {
        w->fail_times--;
        return -5; /* CM_E_UNAVAIL */
    }
    if (w->count == 0 && n > 0) {
        w->backlog_first = cm_stream_has_backlog(s, cm_kafka_msg_topic(msgs[0]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        int64_t off = cm_kafka_msg_offset(msgs[i]);
        if (w->count == 0) {
            w->first = off;
        }
        w->last = off;
        w->count++;
        if (w->emit_topic && off == w->big_at) {
            char big[4000];
            memset(big, 'x', sizeof(big));
            cm_stream_emit(s, w->emit_topic, "big", 3, big, sizeof(big), NULL, NULL, 0);
        } else if (w->emit_topic) {
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

static void on_rewind(struct cm_stream *s, const char *topic, int32_t partition, int64_t resumed,
                      int64_t first, void *ud)
{
    (void)s;
    (void)topic;
    (void)partition;
    struct seen *w = ud;
    w->rewinds++;
    w->rewind_from = resumed;
    w->rewind_to = first;
    w->count_at_rewind = w->count;
}

/* Metadata naming the partition, the committed offset and the stream's position. */
static char *commit_metadata(struct cm_stream *s, const char *topic, int32_t partition,
                             int64_t offset, void *ud)
{
    (void)ud;
    char text[64];
    snprintf(text, sizeof(text), "p%d@%lld:%lld", partition, (long long)offset,
             (long long)cm_stream_position(s, topic, partition));
    return strdup(text);
}

static void on_committed(struct cm_stream *s, const char *topic, int32_t partition, int64_t offset,
                         const char *metadata, void *ud)
{
    (void)s;
    (void)topic;
    (void)partition;
    struct seen *w = ud;
    w->committed_offset = offset;
    snprintf(w->committed_meta, sizeof(w->committed_meta), "%s", metadata ? metadata : "-");
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
                                   .max_batch = w->max_batch ? w->max_batch : 100,
                                   .metrics = metrics,
                                   .produce = w->emit_topic != NULL};
    struct cm_stream_handler h = {.process = process,
                                  .committable = committable,
                                  .on_assign = on_assign,
                                  .on_rewind = on_rewind,
                                  .commit_metadata = w->meta ? commit_metadata : NULL,
                                  .on_committed = on_committed,
                                  .ud = w};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    w->s = s;
    cm_stream_run(s);
    w->backlog_after = cm_stream_has_backlog(s, topic, 0);
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

/* A fresh one-partition topic for a test's stream to emit to. */
static void output_topic(struct cm_kafka_mock *mock, char *out, size_t len)
{
    it_unique(out, len, "it-stream-out");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, out, 1), 0);
}

static struct seen new_seen(int64_t stop_at)
{
    return (struct seen){.stop_at = stop_at,
                         .first = -1,
                         .last = -1,
                         .hold = -1,
                         .start = -1,
                         .big_at = -1,
                         .committed_offset = -1};
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

/* The consumer lag gauge counts what this instance has not read yet (measured every second and
 * when the stream stops): 1,000 records waiting, at least 300 read (the stream stops after the
 * batch that holds the 300th, and a batch under load may hold fewer than max_batch records, so
 * that batch may end past it). cm_stream_has_backlog says the same of the partition. */
Test(stream, consumer_lag_is_exported_per_topic, .timeout = 60)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-lag");
    produce(brokers, topic, 1000, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(INT64_MAX);
    a.stop_count = 300;
    run_stream(brokers, group, topic, &a, m);
    cr_assert(a.count >= 300 && a.count < 1000, "read %zu", a.count);
    cr_assert_eq(a.first, 0);
    char *text = cm_metrics_render(m);
    char want[160];
    snprintf(want, sizeof(want), "t_consumer_lag_records{topic=\"%s\"} ", topic);
    const char *at = strstr(text, want);
    cr_assert_not_null(at, "%s not in\n%s", want, text);
    double lag = strtod(at + strlen(want), NULL);
    free(text);
    cr_assert_eq(lag, 1000 - (double)a.count);
    /* the partition had records waiting (what keeps it from counting as idle) from the first
     * batch on, and still has when the stream stops */
    cr_assert_eq(a.backlog_first, 1);
    cr_assert_eq(a.backlog_after, 1);
    /* read to its end, it has none */
    struct seen b = new_seen(999);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.last, 999);
    cr_assert_eq(b.backlog_after, 0);
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
    output_topic(mock, out, sizeof(out));
    it_unique(group, sizeof(group), "g-emit");
    produce(brokers, topic, 10, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(INT64_MAX);
    a.stop_count = 10;
    a.emit_topic = out;
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.count, 10);
    /* Each acknowledgement was timed from its emit. */
    char *text = cm_metrics_render(m);
    cr_assert(strstr(text, "t_produce_latency_seconds_count{kind=\"output\"} 10\n"), "%s", text);
    cr_assert(strstr(text, "t_produce_latency_seconds_count{kind=\"internal\"} 0\n"), "%s", text);
    const char *sum = strstr(text, "t_produce_latency_seconds_sum{kind=\"output\"} ");
    cr_assert_not_null(sum, "%s", text);
    double secs = strtod(sum + strlen("t_produce_latency_seconds_sum{kind=\"output\"} "), NULL);
    cr_assert(secs > 0 && secs < 10 * 30, "sum %f", secs);
    free(text);
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
        cr_assert_str_eq(ct, "application/cloudevents+json; charset=UTF-8");
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

/* Offsets committed with metadata (what must outlive a lost checkpoint, as the processor's
 * event-time horizon): the next assignment gets it back with the committed offset. The offset is
 * held at 4 while the stream moves on, so the metadata changes under an unchanged offset: it is
 * committed again each time, and the last one (position 10) is what comes back. */
Test(stream, offsets_are_committed_with_their_metadata, .timeout = 60)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-meta");
    produce(brokers, topic, 10, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(9);
    a.hold = 4;
    a.meta = 1;
    a.max_batch = 3; /* commit points at positions 3, 6, 9 and 10 */
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.count, 10);
    cr_assert_eq(a.committed_offset, -1, "nothing was committed before");
    struct seen b = new_seen(9);
    b.meta = 1;
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.committed_offset, 4);
    cr_assert_str_eq(b.committed_meta, "p0@4:10");
    cr_assert_eq(b.first, 4, "resumed from the committed offset");
    produce(brokers, topic, 1, 50);
    struct seen c = new_seen(10);
    c.meta = 1;
    run_stream(brokers, group, topic, &c, m);
    cr_assert_eq(c.committed_offset, 10);
    cr_assert_str_eq(c.committed_meta, "p0@10:10");
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

/* A position beyond the log's end (a checkpoint kept while the topic was created anew, or the
 * broker lost its data): librdkafka goes back to the beginning, and the stream says so (log,
 * counter, /readyz detail, on_rewind before the first record is processed) instead of the
 * handler skipping the new log's records as already covered. */
Test(stream, a_log_behind_the_resumed_position_is_read_as_new, .timeout = 60)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-rewind");
    produce(brokers, topic, 10, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(9);
    a.start = 500; /* a checkpoint of the old log: resume at 500 */
    run_stream(brokers, group, topic, &a, m);
    cr_assert_eq(a.rewinds, 1);
    cr_assert_eq(a.rewind_from, 500);
    cr_assert_eq(a.rewind_to, 0);
    cr_assert_eq(a.count_at_rewind, 0, "told before any record of the new log is processed");
    cr_assert_eq(a.first, 0);
    cr_assert_eq(a.count, 10);
    char *text = cm_metrics_render(m), want[160];
    snprintf(want, sizeof(want), "t_log_rewinds_total{topic=\"%s\"} 1", topic);
    cr_assert_not_null(strstr(text, want), "expected %s in:\n%s", want, text);
    cr_assert_null(strstr(text, "t_records_lost_total{"), "no loss expected:\n%s", text);
    free(text);
    /* a position inside the log is no rewind */
    struct seen b = new_seen(9);
    b.start = 3;
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.rewinds, 0);
    cr_assert_eq(b.first, 3);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

/* A record Kafka will never take (larger than message.max.bytes) is counted, logged and left
 * out; it must not hold every later commit point for ever (the output retried without end). */
Test(stream, an_output_too_large_for_kafka_does_not_stall_the_stream, .timeout = 60)
{
    char topic[96], out[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    output_topic(mock, out, sizeof(out));
    it_unique(group, sizeof(group), "g-toobig");
    produce(brokers, topic, 10, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct seen a = new_seen(9);
    a.emit_topic = out;
    a.big_at = 4;
    setenv("KAFKA_MESSAGE_MAX_BYTES", "1500", 1);
    run_stream(brokers, group, topic, &a, m);
    unsetenv("KAFKA_MESSAGE_MAX_BYTES");
    cr_assert_eq(a.count, 10);
    char *text = cm_metrics_render(m), want[160];
    snprintf(want, sizeof(want), "t_outputs_refused_total{topic=\"%s\"} 1", out);
    cr_assert_not_null(strstr(text, want), "expected %s in:\n%s", want, text);
    free(text);
    /* every offset was stored: the group starts after the last record */
    produce(brokers, topic, 1, 50);
    struct seen b = new_seen(10);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.first, 10, "the refused record held the offsets back: restarted at %lld",
                 (long long)b.first);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

/* ---- asynchronous commit points ---- */

struct snaps {
    struct seen w;              /* first: the plain hooks above take it as their ud */
    atomic_size_t processed;    /* records processed, as the committer thread sees it */
    atomic_int taken, released; /* snapshots */
    atomic_int done;            /* the last snapshot persisted */
    atomic_int fail_first;      /* persist fails this many times first */
    int not_durable;            /* persist answers CM_STREAM_NOT_DURABLE */
    int wait_for_more;          /* persisting the first waits until processing went past it */
    atomic_int overlapped, out_of_order;
    struct cm_metrics *metrics; /* the stream's: what persist sees of the failures before it */
    atomic_int saw_not_durable; /* a failing retry found state_not_durable 1 */
};

struct snap {
    int seq;
    size_t processed;
};

static int snaps_process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct snaps *o = ud;
    int rc = process(s, msgs, n, &o->w);
    atomic_store(&o->processed, o->w.count);
    return rc;
}

static void *snaps_snapshot(struct cm_stream *s, void *ud)
{
    (void)s;
    struct snaps *o = ud;
    struct snap *p = malloc(sizeof(*p));
    p->seq = atomic_fetch_add(&o->taken, 1) + 1;
    p->processed = o->w.count;
    return p;
}

static int snaps_persist(void *snap, void *ud)
{
    struct snaps *o = ud;
    struct snap *p = snap;
    if (p->seq != atomic_load(&o->done) + 1) {
        atomic_store(&o->out_of_order, 1);
    }
    if (o->metrics && atomic_load(&o->taken) >= 1) { /* (the retries of a snapshot that failed) */
        char *text = cm_metrics_render(o->metrics);
        if (strstr(text, "\nt_state_not_durable 1\n")) { /* (not the help line) */
            atomic_store(&o->saw_not_durable, 1);
        }
        free(text);
    }
    if (atomic_load(&o->fail_first) > 0) {
        atomic_fetch_sub(&o->fail_first, 1);
        return -5; /* CM_E_UNAVAIL: the same snapshot comes again */
    }
    if (o->wait_for_more && p->seq == 1) {
        int64_t until = cm_monotonic_ms() + 10000;
        while (atomic_load(&o->processed) <= p->processed && cm_monotonic_ms() < until) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        atomic_store(&o->overlapped, atomic_load(&o->processed) > p->processed);
    }
    atomic_store(&o->done, p->seq);
    return o->not_durable ? CM_STREAM_NOT_DURABLE : 0;
}

static void snaps_release(void *snap, void *ud)
{
    struct snaps *o = ud;
    atomic_fetch_add(&o->released, 1);
    free(snap);
}

/* Consumes topic in group with snapshots, a commit point after every batch of 100. */
static void run_snaps(const char *brokers, const char *group, const char *topic, struct snaps *o,
                      struct cm_metrics *metrics)
{
    const char *topics[] = {topic};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 1,
                                   .max_batch = 100,
                                   .metrics = metrics,
                                   .produce = o->w.emit_topic != NULL};
    struct cm_stream_handler h = {.process = snaps_process,
                                  .snapshot = snaps_snapshot,
                                  .persist = snaps_persist,
                                  .release = snaps_release,
                                  .ud = o};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    o->w.s = s;
    cm_stream_run(s);
    cm_stream_free(s);
}

Test(stream, commit_points_overlap_processing_and_persist_in_order, .timeout = 60)
{
    char topic[96], out[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    output_topic(mock, out, sizeof(out));
    it_unique(group, sizeof(group), "g-async");
    produce(brokers, topic, 1000, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct snaps o = {.w = new_seen(999), .wait_for_more = 1, .metrics = m};
    o.w.emit_topic = out;
    atomic_store(&o.fail_first, 2);
    run_snaps(brokers, group, topic, &o, m);
    cr_assert_eq(o.w.count, 1000);
    cr_assert_geq(atomic_load(&o.taken), 2);
    cr_assert(atomic_load(&o.overlapped),
              "records were processed while the first snapshot was being persisted");
    cr_assert_not(atomic_load(&o.out_of_order), "snapshots persisted once each, in order");
    cr_assert_eq(atomic_load(&o.done), atomic_load(&o.taken), "every snapshot was persisted");
    cr_assert_eq(atomic_load(&o.released), atomic_load(&o.taken));
    char *text = cm_metrics_render(m);
    cr_assert(strstr(text, "t_commit_duration_seconds_count "), "%s", text);
    /* the two failures were counted and shown while they lasted, and are over */
    cr_assert(strstr(text, "t_state_persist_failures_total 2\n"), "%s", text);
    cr_assert(atomic_load(&o.saw_not_durable), "state_not_durable was 1 while persist failed");
    cr_assert(strstr(text, "t_state_not_durable 0\n"), "%s", text);
    free(text);
    /* Everything was stored: the group goes on after the last record. */
    produce(brokers, topic, 1, 50);
    struct seen b = new_seen(1000);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.first, 1000);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

Test(stream, offsets_move_only_with_a_durable_snapshot, .timeout = 60)
{
    char topic[96], group[96];
    struct cm_kafka_mock *mock = broker(topic, sizeof(topic), 1);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-notdurable");
    produce(brokers, topic, 300, 50);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct snaps o = {.w = new_seen(299), .not_durable = 1};
    run_snaps(brokers, group, topic, &o, m);
    cr_assert_eq(o.w.count, 300);
    cr_assert_geq(atomic_load(&o.done), 1, "snapshots were offered to persist");
    /* None was durable: the group starts again from the beginning. */
    struct seen b = new_seen(299);
    run_stream(brokers, group, topic, &b, m);
    cr_assert_eq(b.first, 0);
    cr_assert_eq(b.count, 300);
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
}

/* ---- flow control between stages ---- */

struct stages {
    const char *in, *internal;
    int copies; /* internal records made of each input record */
    size_t forwarded, read_back, total;
    int64_t deadline;
};

/* Stage 1 makes `copies` records of each input record on the internal topic (as a flatMap
 * would); stage 2 reads them back slowly (about 1 ms each), as a window stage slower than its
 * re-keying stage. */
static int stages_process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    struct stages *st = ud;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cm_kafka_msg_topic(msgs[i]), st->in) == 0) {
            char v[2048];
            for (int copy = 0; copy < st->copies; copy++) { /* incompressible, as the input */
                cm_random_bytes(v, sizeof(v));
                cm_stream_emit_to(s, st->internal, 0, "k", 1, v, sizeof(v), NULL, NULL, 0);
            }
            st->forwarded++;
            continue;
        }
        int64_t until = cm_monotonic_ms() + 1;
        for (volatile unsigned spin = 0; cm_monotonic_ms() < until; spin++) {
        }
        st->read_back++;
    }
    return 0;
}

/* Done, or (without flow control) records lost so the count never completes, or out of time. */
static void stages_tick(struct cm_stream *s, int64_t now_ms, void *ud)
{
    struct stages *st = ud;
    if (st->read_back == st->total || cm_stream_records_lost(s) > 0 || now_ms > st->deadline) {
        cm_stream_stop(s);
    }
}

/* small_prefetch: the client fetches little ahead (else it holds what the broker drops, and a slow
 * stage loses nothing even without flow control); 0: the daemons' defaults, where a pause drops
 * up to 64 MiB of records fetched ahead, which are fetched again after the resume. Returns the
 * records lost, all of them on the internal topic (asserted). */
static uint64_t run_stages(int copies, int64_t max_lag, int64_t max_bytes, int small_prefetch,
                           uint64_t *pauses)
{
    char in[96], internal[112], group[96];
    struct cm_kafka_mock *mock = broker(in, sizeof(in), 1);
    snprintf(internal, sizeof(internal), "%s.internal", in);
    cr_assert_eq(cm_kafka_mock_create_topic(mock, internal, 1), 0);
    const char *brokers = cm_kafka_mock_bootstraps(mock);
    it_unique(group, sizeof(group), "g-stages");
    enum { N = 1500 };
    produce(brokers, in, N, 2048); /* 3 MiB in (less than the broker keeps per partition, about
                                    * 5 MiB), 3 MiB a copy through the internal topic */
    if (small_prefetch) {
        setenv("KAFKA_QUEUED_MAX_MESSAGES_KBYTES", "256", 1);
        setenv("KAFKA_MAX_PARTITION_FETCH_BYTES", "65536", 1);
    }
    struct cm_metrics *m = cm_metrics_new("t_");
    struct stages st = {in, internal, copies, 0, 0, (size_t)copies * N, cm_monotonic_ms() + 40000};
    const char *topics[] = {in, internal}, *ensure[] = {internal};
    struct cm_stream_config cfg = {.brokers = brokers,
                                   .group = group,
                                   .topics = topics,
                                   .ntopics = 2,
                                   .max_batch = 100,
                                   .produce = 1,
                                   .ensure = ensure,
                                   .nensure = 1,
                                   .max_internal_lag = max_lag,
                                   .max_internal_bytes = max_bytes,
                                   .commit_interval_ms = 1000,
                                   .metrics = m};
    struct cm_stream_handler h = {.process = stages_process, .tick = stages_tick, .ud = &st};
    struct cm_stream *s = cm_stream_new(&cfg, &h);
    cr_assert_not_null(s);
    cm_stream_run(s);
    uint64_t lost = cm_stream_records_lost(s);
    cr_assert(lost || st.forwarded == N, "every input record went through the first stage once");
    char *text = cm_metrics_render(m);
    const char *p = strstr(text, "\nt_input_pauses_total ");
    cr_assert_not_null(p, "%s", text);
    *pauses = strtoull(p + strlen("\nt_input_pauses_total "), NULL, 10);
    if (lost) {
        char want[192];
        snprintf(want, sizeof(want), "t_records_lost_total{topic=\"%s\"} %llu\n", internal,
                 (unsigned long long)lost);
        cr_assert_not_null(strstr(text, want), "every record lost was the internal topic's: %s",
                           text);
    }
    free(text);
    if (!lost) {
        cr_assert_eq(st.read_back, st.total, "the second stage read every record");
    }
    cm_stream_free(s);
    unsetenv("KAFKA_QUEUED_MAX_MESSAGES_KBYTES");
    unsetenv("KAFKA_MAX_PARTITION_FETCH_BYTES");
    cm_metrics_free(m);
    cm_kafka_mock_free(mock);
    return lost;
}

/* No .timeout: each run ends by its own 40 s deadline (stages_tick), and Criterion 2.4's runner
 * leaks a timeout record when a timed test this long runs beside others. */
Test(stream, flow_control_keeps_an_internal_topic_within_retention)
{
    uint64_t pauses = 0;
    /* Six copies: the internal topic runs up to 5 × 1,500 records (15 MiB) ahead of the slow
     * stage, three times what the broker keeps, however the two topics' fetches interleave (with
     * three, 6 MiB at most: a run under load, its reads more even, lost nothing). It stops at the
     * first loss. */
    uint64_t lost = run_stages(6, -1, -1, 1, &pauses);
    cr_assert_gt(lost, 0, "without flow control the slow stage loses records to retention");
    cr_assert_eq(pauses, 0);
    lost = run_stages(3, 500, -1, 1, &pauses);
    cr_assert_eq(lost, 0, "with flow control nothing is lost");
    cr_assert_gt(pauses, 0, "the inputs were paused");
    /* by bytes alone: 100,000 records of 2 KiB would be 200 MiB, far past what the broker keeps;
     * 1 MiB of lag (about 500 of these records) is not */
    lost = run_stages(3, 100000, 1 << 20, 1, &pauses);
    cr_assert_eq(lost, 0, "with flow control by bytes nothing is lost");
    cr_assert_gt(pauses, 0, "the inputs were paused by bytes");
    /* with the daemons' prefetch (a million records or 64 MiB queued): every pause drops the
     * input records fetched ahead, and each is read again after the resume, once */
    lost = run_stages(3, 500, -1, 0, &pauses);
    cr_assert_eq(lost, 0, "with the default prefetch nothing is lost");
    cr_assert_gt(pauses, 0, "the inputs were paused with the default prefetch");
}
