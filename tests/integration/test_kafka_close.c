/* Integration test of a consumer closing while its group rebalances (cm_kafka_consumer_free,
 * common/src/clients/kafka_consumer.c) against an in-process development broker: a second member
 * joins a group whose first member holds every partition, stops polling while the rebalance its
 * join began is under way, and is closed once it ended. The assignment that rebalance ends in
 * reaches the closing consumer's rebalance callback (served by rd_kafka_consumer_close), which
 * librdkafka then takes as an unassign: the caller's assign hook must not be asked where those
 * partitions resume (a stream's reads their state and committed offsets, which waited 5 s for a
 * coordinator going away). The first member then holds every partition again. */
#include "harness.h"

#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct member {
    struct cm_kafka_consumer *c;
    pthread_t thread;
    atomic_int held;      /* partitions assigned and not revoked */
    atomic_int revokes;   /* revocations so far */
    atomic_int closing;   /* set just before cm_kafka_consumer_free */
    atomic_int late_hook; /* the assign hook was called while closing */
    atomic_int stop;
};

static void on_assign(const struct cm_kafka_partition *parts, size_t n, void *ud)
{
    (void)parts;
    struct member *m = ud;
    if (atomic_load(&m->closing)) {
        atomic_fetch_add(&m->late_hook, 1);
    }
    atomic_fetch_add(&m->held, (int)n);
}

static void on_revoke(const struct cm_kafka_partition *parts, size_t n, void *ud)
{
    (void)parts;
    struct member *m = ud;
    atomic_fetch_sub(&m->held, (int)n);
    atomic_fetch_add(&m->revokes, 1);
}

static void *poll_loop(void *arg)
{
    struct member *m = arg;
    while (!atomic_load(&m->stop)) {
        struct cm_kafka_msg *msg = cm_kafka_consumer_poll(m->c, 20);
        if (msg) {
            cm_kafka_consumer_done(m->c, msg);
            cm_kafka_msg_free(msg);
        }
    }
    return NULL;
}

static void join(struct member *m, const char *brokers, const char *group, const char *topic)
{
    const char *topics[] = {topic};
    struct cm_kafka_rebalance rb = {on_assign, on_revoke, m};
    m->c = cm_kafka_consumer_new(brokers, group, topics, 1, &rb);
    cr_assert_not_null(m->c);
    cr_assert_eq(pthread_create(&m->thread, NULL, poll_loop, m), 0);
}

static void stop_polling(struct member *m)
{
    atomic_store(&m->stop, 1);
    pthread_join(m->thread, NULL);
}

static void leave(struct member *m)
{
    atomic_store(&m->closing, 1);
    cm_kafka_consumer_free(m->c);
}

static int holds_all(void *ud)
{
    return atomic_load(&((struct member *)ud)->held) == 4;
}

static int holds_half(void *ud)
{
    return atomic_load(&((struct member *)ud)->held) == 2;
}

static int revoked(void *ud)
{
    return atomic_load(&((struct member *)ud)->revokes) > 0;
}

Test(kafka_close, an_assignment_reaching_a_closing_consumer_is_not_taken, .timeout = 60)
{
    /* the development broker holds a rebalance that a member's join begins for the session
     * timeout less a second: 2 s here */
    setenv("KAFKA_SESSION_TIMEOUT_MS", "3000", 1);
    setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "200", 1);
    char topic[64], group[64];
    struct cm_kafka_mock *mock = it_dev_broker("close", topic, sizeof(topic));
    it_unique(group, sizeof(group), "close-group");
    const char *brokers = cm_kafka_mock_bootstraps(mock);

    struct member a = {0}, b = {0};
    join(&a, brokers, group, topic);
    cr_assert(it_wait_until(20000, holds_all, &a), "the first member holds the 4 partitions");
    join(&b, brokers, group, topic);
    /* the first member revokes once the rebalance that the second's join began is under way;
     * the second stops polling (as a daemon stopping does before it closes its consumer), so the
     * assignment that rebalance ends in waits in its queue until the close serves it */
    cr_assert(it_wait_until(20000, revoked, &a), "the second member's join starts a rebalance");
    stop_polling(&b);
    cr_assert_eq(atomic_load(&b.held), 0, "the rebalance has not ended yet");
    cr_assert(it_wait_until(20000, holds_half, &a), "the rebalance ends: the first holds 2");
    int64_t t0 = cm_now_ms();
    leave(&b);
    int64_t took = cm_now_ms() - t0;
    cr_assert_eq(atomic_load(&b.late_hook), 0,
                 "the assign hook was not called while the consumer closed");
    cr_assert_eq(atomic_load(&b.held), 0);
    cr_log_info("the second member closed in %lld ms", (long long)took);
    cr_assert(it_wait_until(20000, holds_all, &a), "the first member holds every partition again");

    stop_polling(&a);
    leave(&a);
    cm_kafka_mock_free(mock);
}
