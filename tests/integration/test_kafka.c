/* Integration tests for common/kafka against devkafka: delivery reports carry the caller's
 * context, headers and keys round-trip, offsets are committed only for records marked done (a
 * second group member resumes after them), a full producer queue answered with or without
 * headers, records to more topics than the producer keeps handles for, from several threads at
 * once, land in their own topics, priority topics handed out before records prefetched
 * ahead of them, topics the cluster lacks found without creating them, and the batch helpers. */
#include "harness.h"

#include "cm/err.h"
#include "cm/kafka.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int delivered_ok;
static atomic_int delivered_err;
static atomic_int context_matches;

static void on_report(void *opaque, const struct cm_kafka_report *r, void *ud)
{
    int *tag = opaque;
    if (r->err == 0 && r->persisted == CM_KAFKA_PERSISTED && r->offset >= 0) {
        atomic_fetch_add(&delivered_ok, 1);
    } else {
        atomic_fetch_add(&delivered_err, 1);
    }
    if (ud == (void *)0x1234 && *tag >= 0) {
        atomic_fetch_add(&context_matches, 1);
    }
}

static void produce_n(const char *topic, int n, int start)
{
    struct cm_kafka_producer *p =
        cm_kafka_producer_new(it_env("KAFKA_BROKERS"), on_report, (void *)0x1234);
    cr_assert_not_null(p);
    static int tags[1000];
    for (int i = 0; i < n; i++) {
        char key[16], value[32];
        snprintf(key, sizeof(key), "k%d", (start + i) % 3);
        snprintf(value, sizeof(value), "v%d", start + i);
        const char *hn[] = {"ce_id"};
        const char *hv[] = {value};
        tags[i] = i;
        cr_assert_eq(
            cm_kafka_produce(p, topic, key, strlen(key), value, strlen(value), hn, hv, 1, &tags[i]),
            0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 10000), 0);
    cr_assert_eq(cm_kafka_producer_queue_len(p), 0);
    char why[128];
    cr_assert_eq(cm_kafka_producer_ping(p, 2000, why, sizeof(why)), 0, "%s", why);
    cm_kafka_producer_free(p, 1000);
}

Test(kafka, delivery_reports_carry_context)
{
    char topic[96];
    it_unique(topic, sizeof(topic), "it-dr");
    produce_n(topic, 50, 0);
    cr_assert_eq(atomic_load(&delivered_ok), 50);
    cr_assert_eq(atomic_load(&delivered_err), 0);
    cr_assert_eq(atomic_load(&context_matches), 50);
}

/* Topics the cluster lacks are found without creating them, though the development broker
 * creates a topic when a producer asks for its metadata (as partitions() does); the topic list
 * is asked again once older than the age given. */
Test(kafka, missing_topics_are_found_without_creating_them)
{
    char have[96], lack[96], lack2[96];
    it_unique(have, sizeof(have), "it-have");
    it_unique(lack, sizeof(lack), "it-lack");
    it_unique(lack2, sizeof(lack2), "it-lack2");
    produce_n(have, 1, 0);
    struct cm_kafka_producer *p = cm_kafka_producer_new(it_env("KAFKA_BROKERS"), NULL, NULL);
    cr_assert_not_null(p);
    const char *topics[] = {lack, have, lack2};
    unsigned char missing[3] = {9, 9, 9};
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 3, missing, 5000, 0), 2);
    cr_assert(missing[0] == 1 && missing[1] == 0 && missing[2] == 1, "%d %d %d", missing[0],
              missing[1], missing[2]);
    /* asked again: still missing, so asking created nothing */
    memset(missing, 9, sizeof(missing));
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 3, missing, 5000, 0), 2);
    cr_assert(missing[0] == 1 && missing[2] == 1);
    /* and once a topic exists it is found */
    cr_assert_gt(cm_kafka_producer_partitions(p, lack, 5000), 0);
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 3, missing, 5000, 0), 1);
    cr_assert(missing[0] == 0 && missing[1] == 0 && missing[2] == 1);
    /* a topic list asked within max_age_ms serves again: lack2 created since is not seen until
     * the list is asked afresh */
    cr_assert_gt(cm_kafka_producer_partitions(p, lack2, 5000), 0);
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 3, missing, 5000, 60000), 1);
    cr_assert(missing[2] == 1);
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 3, missing, 5000, 0), 0);
    cr_assert(missing[0] == 0 && missing[1] == 0 && missing[2] == 0);
    cm_kafka_producer_free(p, 1000);
}

/* A cluster that does not answer is not asked again within the age given: a list of many
 * pipelines' statuses while Kafka is down waits for one timeout, not one each; asked afresh
 * (age 0), it is asked again. */
Test(kafka, a_cluster_that_did_not_answer_is_not_asked_again_at_once)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", it_free_port());
    struct cm_kafka_producer *p = cm_kafka_producer_new(addr, NULL, NULL);
    cr_assert_not_null(p);
    const char *topics[] = {"t"};
    unsigned char missing[1];
    int64_t t0 = cm_monotonic_ms();
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 1, missing, 1500, 60000),
                 CM_E_UNAVAIL);
    int64_t first = cm_monotonic_ms() - t0;
    cr_assert_geq(first, 1000, "the first attempt waits for its timeout (%lld ms)",
                  (long long)first);
    t0 = cm_monotonic_ms();
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 1, missing, 1500, 60000),
                 CM_E_UNAVAIL);
    int64_t again = cm_monotonic_ms() - t0;
    cr_assert_lt(again, 500, "answered from the failed attempt (%lld ms)", (long long)again);
    t0 = cm_monotonic_ms();
    cr_assert_eq(cm_kafka_producer_topics_missing(p, topics, 1, missing, 1500, 0), CM_E_UNAVAIL);
    cr_assert_geq(cm_monotonic_ms() - t0, 1000, "asked afresh, it waits again");
    cm_kafka_producer_free(p, 100);
}

/* A full producer queue is an answer (CM_E_FULL), with or without headers: a record without
 * any once crashed on it (its NULL header list was destroyed). */
Test(kafka, full_queue_is_answered_with_and_without_headers)
{
    setenv("KAFKA_QUEUE_BUFFERING_MAX_MESSAGES", "8", 1);
    setenv("KAFKA_LINGER_MS", "2000", 1);
    struct cm_kafka_producer *p =
        cm_kafka_producer_new(it_env("KAFKA_BROKERS"), on_report, (void *)0x1234);
    unsetenv("KAFKA_QUEUE_BUFFERING_MAX_MESSAGES");
    unsetenv("KAFKA_LINGER_MS");
    cr_assert_not_null(p);
    char topic[96];
    it_unique(topic, sizeof(topic), "it-full");
    static int tags[32];
    int accepted = 0, full = 0;
    for (int i = 0; i < 32; i++) {
        const char *hn[] = {"ce_id", "ce_type"};
        const char *hv[] = {"x", "t"};
        size_t nh = i % 2 ? 2 : 0; /* every other record without headers */
        tags[i] = i;
        int rc = cm_kafka_produce(p, topic, "k", 1, "v", 1, hn, hv, nh, &tags[i]);
        cr_assert(rc == 0 || rc == CM_E_FULL, "record %d: %d", i, rc);
        accepted += rc == 0;
        full += rc == CM_E_FULL;
    }
    cr_assert_eq(accepted, 8, "the queue holds 8: %d accepted", accepted);
    cr_assert_eq(full, 24);
    cr_assert_eq(cm_kafka_producer_flush(p, 10000), 0);
    cr_assert_eq(cm_kafka_producer_queue_len(p), 0);
    cm_kafka_producer_free(p, 1000);
}

/* The producer keeps one handle per topic for the first 64 topics and names later ones per
 * record; threads producing at once add handles concurrently. */
#define MANY_TOPICS 80
#define MANY_THREADS 4
static char many_topic[MANY_TOPICS][96];
static struct cm_kafka_producer *many_producer;

static void *produce_to_every_topic(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < MANY_TOPICS; i++) {
        int k = (i + t * 20) % MANY_TOPICS; /* each thread starts elsewhere */
        const char *hn[] = {"ce_id"};
        const char *hv[] = {many_topic[k]};
        if (cm_kafka_produce(many_producer, many_topic[k], "kk", 2, many_topic[k],
                             strlen(many_topic[k]), hn, hv, 1, NULL) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Reads every record of the many topics with one consumer: each must name its own topic;
 * counts them per topic into `per_topic`. */
static int read_many_topics(int *per_topic)
{
    const char *topics[MANY_TOPICS];
    for (int i = 0; i < MANY_TOPICS; i++) {
        topics[i] = many_topic[i];
    }
    char group[96];
    it_unique(group, sizeof(group), "it-many-g");
    struct cm_kafka_consumer *c =
        cm_kafka_consumer_new(it_env("KAFKA_BROKERS"), group, topics, MANY_TOPICS, NULL);
    cr_assert_not_null(c);
    int got = 0;
    for (int tries = 0; tries < 300 && got < MANY_TOPICS * MANY_THREADS; tries++) {
        struct cm_kafka_msg *msgs[64];
        size_t n = cm_kafka_consumer_poll_batch(c, msgs, 64, 100);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *v = cm_kafka_msg_value(msgs[i], &len);
            const char *topic = cm_kafka_msg_topic(msgs[i]);
            cr_assert(len == strlen(topic) && memcmp(v, topic, len) == 0,
                      "a record of another topic in %s", topic);
            for (int k = 0; k < MANY_TOPICS; k++) {
                per_topic[k] += strcmp(many_topic[k], topic) == 0;
            }
            got++;
            cm_kafka_msg_free(msgs[i]);
        }
    }
    cm_kafka_consumer_free(c);
    return got;
}

Test(kafka, records_to_many_topics_from_many_threads)
{
    for (int i = 0; i < MANY_TOPICS; i++) {
        it_unique(many_topic[i], sizeof(many_topic[i]), "it-many");
    }
    atomic_store(&delivered_ok, 0);
    atomic_store(&delivered_err, 0);
    many_producer = cm_kafka_producer_new(it_env("KAFKA_BROKERS"), on_report, NULL);
    cr_assert_not_null(many_producer);
    pthread_t th[MANY_THREADS];
    for (int t = 0; t < MANY_THREADS; t++) {
        cr_assert_eq(pthread_create(&th[t], NULL, produce_to_every_topic, (void *)(intptr_t)t), 0);
    }
    for (int t = 0; t < MANY_THREADS; t++) {
        void *rc;
        pthread_join(th[t], &rc);
        cr_assert_null(rc, "thread %d could not produce", t);
    }
    cr_assert_eq(cm_kafka_producer_flush(many_producer, 20000), 0);
    cm_kafka_producer_free(many_producer, 1000);
    cr_assert_eq(atomic_load(&delivered_ok), MANY_TOPICS * MANY_THREADS);
    cr_assert_eq(atomic_load(&delivered_err), 0);
    /* 64 topics went through kept handles, the others were named per record */
    int per_topic[MANY_TOPICS] = {0};
    cr_assert_eq(read_many_topics(per_topic), MANY_TOPICS * MANY_THREADS);
    for (int k = 0; k < MANY_TOPICS; k++) {
        cr_assert_eq(per_topic[k], MANY_THREADS, "%s holds %d records", many_topic[k],
                     per_topic[k]);
    }
}

/* Consumes until `want` records are collected (at most 30 s); marks the first `mark` done. */
static int consume(const char *group, const char *topic, int want, int mark, int *first_value)
{
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c =
        cm_kafka_consumer_new(it_env("KAFKA_BROKERS"), group, topics, 1, NULL);
    cr_assert_not_null(c);
    int got = 0;
    *first_value = -1;
    for (int tries = 0; tries < 300 && got < want; tries++) {
        struct cm_kafka_msg *msgs[64];
        size_t n = cm_kafka_consumer_poll_batch(c, msgs, 64, 100);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *v = cm_kafka_msg_value(msgs[i], &len);
            char hdr[32];
            cr_assert_eq(cm_kafka_msg_header(msgs[i], "ce_id", hdr, sizeof(hdr)), 0);
            cr_assert_eq(strncmp(hdr, v, len), 0, "header matches value");
            size_t klen;
            cr_assert_not_null(cm_kafka_msg_key(msgs[i], &klen));
            cr_assert_eq(klen, 2);
            cr_assert_str_eq(cm_kafka_msg_topic(msgs[i]), topic);
            int value = atoi(v + 1);
            if (*first_value < 0 || value < *first_value) {
                *first_value = value;
            }
            if (got < mark) {
                cm_kafka_consumer_done(c, msgs[i]);
            }
            got++;
            cm_kafka_msg_free(msgs[i]);
        }
    }
    cr_assert_eq(cm_kafka_consumer_commit(c), 0);
    cm_kafka_consumer_free(c);
    return got;
}

Test(kafka, offsets_stored_only_when_done)
{
    char topic[96], group[96];
    it_unique(topic, sizeof(topic), "it-off");
    it_unique(group, sizeof(group), "it-group");
    /* one key so the records share one partition and arrive in order */
    struct cm_kafka_producer *p = cm_kafka_producer_new(it_env("KAFKA_BROKERS"), NULL, NULL);
    for (int i = 0; i < 10; i++) {
        char value[16];
        snprintf(value, sizeof(value), "v%d", i);
        const char *hn[] = {"ce_id"};
        const char *hv[] = {value};
        cr_assert_eq(cm_kafka_produce(p, topic, "kk", 2, value, strlen(value), hn, hv, 1, NULL), 0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 10000), 0);
    cm_kafka_producer_free(p, 1000);
    int first;
    cr_assert_eq(consume(group, topic, 10, 4, &first), 10);
    cr_assert_eq(first, 0);
    /* the next member of the group resumes after the 4 records marked done */
    cr_assert_eq(consume(group, topic, 6, 6, &first), 6);
    cr_assert_eq(first, 4, "resumed at v%d", first);
}

/* How many records of `bulk` a consumer hands out before the last of 50 records of `urgent`
 * produced after it has prefetched the bulk topic's 20,000; `prioritize` makes `urgent` a
 * priority topic. */
static int records_before_urgent(int prioritize)
{
    char bulk[96], urgent[96], group[96];
    it_unique(bulk, sizeof(bulk), "it-bulk");
    it_unique(urgent, sizeof(urgent), "it-urgent");
    it_unique(group, sizeof(group), "it-prio");
    struct cm_kafka_producer *p = cm_kafka_producer_new(it_env("KAFKA_BROKERS"), NULL, NULL);
    cr_assert_not_null(p);
    enum { BULK = 20000, URGENT = 50 };
    for (int i = 0; i < BULK; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i % 7);
        cr_assert_eq(cm_kafka_produce(p, bulk, key, strlen(key), "bulk", 4, NULL, NULL, 0, NULL),
                     0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 10000), 0);
    cr_assert_gt(cm_kafka_producer_partitions(p, urgent, 5000), 0); /* created */
    const char *topics[] = {bulk, urgent}, *prio[] = {urgent};
    struct cm_kafka_consumer *c =
        cm_kafka_consumer_new(it_env("KAFKA_BROKERS"), group, topics, 2, NULL);
    cr_assert_not_null(c);
    if (prioritize) {
        cm_kafka_consumer_prioritize(c, prio, 1);
    }
    struct cm_kafka_msg *msgs[100];
    size_t n = 0;
    for (int tries = 0; tries < 300 && n == 0; tries++) { /* joined, fetching */
        n = cm_kafka_consumer_poll_batch(c, msgs, 1, 100);
    }
    cr_assert_eq(n, 1);
    cm_kafka_msg_free(msgs[0]);
    cm_sleep_ms(1000); /* the bulk topic prefetched */
    int32_t part = cm_kafka_partition_of("u", 1, cm_kafka_producer_partitions(p, urgent, 5000));
    for (int i = 0; i < URGENT; i++) {
        cr_assert_eq(cm_kafka_produce(p, urgent, "u", 1, "urgent", 6, NULL, NULL, 0, NULL), 0);
    }
    cr_assert_eq(cm_kafka_producer_flush(p, 10000), 0);
    cm_kafka_producer_free(p, 1000);
    /* the urgent records fetched too: the partition's end as the consumer saw it */
    for (int tries = 0; tries < 1000 && cm_kafka_consumer_cached_end(c, urgent, part) < URGENT;
         tries++) {
        cm_sleep_ms(10);
    }
    cr_assert_eq(cm_kafka_consumer_cached_end(c, urgent, part), URGENT);
    int bulk_seen = 0, urgent_seen = 0;
    for (int tries = 0; tries < 600 && urgent_seen < URGENT; tries++) {
        n = cm_kafka_consumer_poll_batch(c, msgs, 100, 100);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(cm_kafka_msg_topic(msgs[i]), urgent) == 0) {
                urgent_seen++;
            } else {
                bulk_seen += urgent_seen < URGENT;
            }
            cm_kafka_msg_free(msgs[i]);
        }
    }
    cr_assert_eq(urgent_seen, URGENT);
    cm_kafka_consumer_free(c);
    return bulk_seen;
}

Test(kafka, priority_topics_are_handed_out_first)
{
    /* without priority the urgent records wait behind the prefetched bulk records */
    cr_assert_gt(records_before_urgent(0), 5000);
    /* with it they come in the first batch (which keeps one place for the consumer queue) */
    cr_assert_leq(records_before_urgent(1), 1);
}

static int batches_seen;
static int fail_first;

static int batch_fn(struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    (void)msgs;
    int *total = ud;
    batches_seen++;
    if (fail_first) {
        fail_first = 0;
        return -5; /* the loop must retry the same batch */
    }
    *total += (int)n;
    return 0;
}

Test(kafka, unknown_property_is_rejected)
{
    setenv("KAFKA_NO_SUCH_PROPERTY", "1", 1);
    struct cm_kafka_producer *p = cm_kafka_producer_new(it_env("KAFKA_BROKERS"), NULL, NULL);
    unsetenv("KAFKA_NO_SUCH_PROPERTY");
    cr_assert_null(p);
}

Test(kafka, env_properties_are_passed)
{
    setenv("KAFKA_LINGER_MS", "notanumber", 1);
    struct cm_kafka_producer *p = cm_kafka_producer_new(it_env("KAFKA_BROKERS"), NULL, NULL);
    unsetenv("KAFKA_LINGER_MS");
    cr_assert_null(p, "linger.ms got the bad value, so KAFKA_LINGER_MS reached librdkafka");
}

Test(kafka, batch_helper_counts)
{
    char topic[96], group[96];
    it_unique(topic, sizeof(topic), "it-batch");
    it_unique(group, sizeof(group), "it-bgroup");
    produce_n(topic, 30, 0);
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c =
        cm_kafka_consumer_new(it_env("KAFKA_BROKERS"), group, topics, 1, NULL);
    int total = 0;
    fail_first = 1;
    for (int i = 0; i < 300 && total < 30; i++) {
        struct cm_kafka_msg *msgs[16];
        size_t n = cm_kafka_consumer_poll_batch(c, msgs, 16, 100);
        cr_assert_leq(n, 16);
        if (n == 0) {
            continue;
        }
        while (batch_fn(msgs, n, &total) != 0) {
        }
        for (size_t k = 0; k < n; k++) {
            cm_kafka_consumer_done(c, msgs[k]);
            cm_kafka_msg_free(msgs[k]);
        }
    }
    cr_assert_eq(total, 30);
    cr_assert_gt(batches_seen, 1);
    cm_kafka_consumer_free(c);
}
