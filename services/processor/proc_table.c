/* proc_table: join tables kept from topics (see proc_table.h). One thread and one consumer per
 * table; the rows live in a JSON object guarded by a read-write lock. */
#include "proc_table.h"

#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct end {
    int32_t partition;
    int64_t end;  /* the end offset when the table started */
    int64_t next; /* the next offset to read */
};

struct table {
    char *topic;
    struct cm_kafka_consumer *consumer;
    pthread_t thread;
    pthread_rwlock_t lock;
    json_t *rows;
    struct end *ends; /* of the assigned partitions, for readiness */
    size_t nends;
    int assigned;
    atomic_int ready;
    struct proc_tables *owner;
};

struct proc_tables {
    char *brokers;
    struct table **t;
    size_t n;
    atomic_int stop;
    pthread_mutex_t lock; /* ready condition */
    pthread_cond_t cond;
};

struct proc_tables *proc_tables_new(const char *brokers)
{
    struct proc_tables *t = cm_xcalloc(1, sizeof(*t));
    t->brokers = cm_xstrdup(brokers);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    return t;
}

static void on_assign(const struct cm_kafka_partition *parts, size_t n, void *ud)
{
    struct table *tb = ud;
    tb->ends = cm_xrealloc(tb->ends, (n ? n : 1) * sizeof(*tb->ends));
    tb->nends = n;
    for (size_t i = 0; i < n; i++) {
        int64_t end = 0;
        if (cm_kafka_consumer_end_offset(tb->consumer, parts[i].topic, parts[i].partition, &end,
                                         10000) != 0) {
            end = 0; /* readiness then waits for nothing on this partition */
        }
        tb->ends[i] = (struct end){parts[i].partition, end, 0};
    }
    tb->assigned = 1;
}

/* Ready once every partition has been read up to its end offset at the start. */
static void check_ready(struct table *tb)
{
    if (atomic_load(&tb->ready) || !tb->assigned) {
        return;
    }
    for (size_t i = 0; i < tb->nends; i++) {
        if (tb->ends[i].next < tb->ends[i].end) {
            return;
        }
    }
    pthread_rwlock_rdlock(&tb->lock);
    size_t rows = json_object_size(tb->rows);
    pthread_rwlock_unlock(&tb->lock);
    CM_LOG_INFO("table_ready", "join table %s: %zu rows read", tb->topic, rows);
    pthread_mutex_lock(&tb->owner->lock);
    atomic_store(&tb->ready, 1);
    pthread_cond_broadcast(&tb->owner->cond);
    pthread_mutex_unlock(&tb->owner->lock);
}

static void take(struct table *tb, const struct cm_kafka_msg *m)
{
    size_t klen, vlen;
    const char *key = cm_kafka_msg_key(m, &klen);
    const char *value = cm_kafka_msg_value(m, &vlen);
    for (size_t i = 0; i < tb->nends; i++) {
        if (tb->ends[i].partition == cm_kafka_msg_partition(m)) {
            tb->ends[i].next = cm_kafka_msg_offset(m) + 1;
        }
    }
    if (!key || klen == 0 || klen > 512) {
        return;
    }
    json_t *row = value && vlen > 0 ? json_loadb(value, vlen, 0, NULL) : NULL;
    if (value && vlen > 0 && !row) {
        CM_LOG_WARN("table_row_invalid",
                    "join table %s [%d] @%lld: the value is not JSON; row "
                    "left as it was",
                    tb->topic, cm_kafka_msg_partition(m), (long long)cm_kafka_msg_offset(m));
        return;
    }
    pthread_rwlock_wrlock(&tb->lock);
    if (row && !json_is_null(row)) {
        json_object_setn_new(tb->rows, key, klen, row); /* fails (and frees) on a non-UTF-8 key */
    } else {
        char *k = cm_xstrndup(key, klen);
        json_object_del(tb->rows, k);
        free(k);
        json_decref(row);
    }
    pthread_rwlock_unlock(&tb->lock);
}

static void *follow(void *arg)
{
    struct table *tb = arg;
    while (!atomic_load(&tb->owner->stop)) {
        struct cm_kafka_msg *msgs[256];
        size_t n = cm_kafka_consumer_poll_batch(tb->consumer, msgs, 256, 100);
        for (size_t i = 0; i < n; i++) {
            take(tb, msgs[i]);
            cm_kafka_msg_free(msgs[i]);
        }
        check_ready(tb);
    }
    return NULL;
}

int proc_tables_follow(struct proc_tables *t, const char *topic)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->t[i]->topic, topic) == 0) {
            return 0;
        }
    }
    struct table *tb = cm_xcalloc(1, sizeof(*tb));
    tb->topic = cm_xstrdup(topic);
    tb->rows = json_object();
    tb->owner = t;
    pthread_rwlock_init(&tb->lock, NULL);
    char uuid[CM_UUID_STR_LEN], group[128];
    cm_uuid_v7(uuid);
    snprintf(group, sizeof(group), "processor-table-%s", uuid); /* a group of its own */
    const char *topics[] = {topic};
    struct cm_kafka_rebalance rb = {on_assign, NULL, tb};
    tb->consumer = cm_kafka_consumer_new(t->brokers, group, topics, 1, &rb);
    if (!tb->consumer || pthread_create(&tb->thread, NULL, follow, tb) != 0) {
        CM_LOG_ERROR("table_failed", "join table %s: cannot start its consumer", topic);
        cm_kafka_consumer_free(tb->consumer);
        json_decref(tb->rows);
        pthread_rwlock_destroy(&tb->lock);
        free(tb->topic);
        free(tb);
        return -1;
    }
    t->t = cm_xrealloc(t->t, (t->n + 1) * sizeof(*t->t));
    t->t[t->n++] = tb;
    CM_LOG_INFO("table_following", "join table %s: reading it from the beginning", topic);
    return 0;
}

int proc_tables_wait_ready(struct proc_tables *t, int timeout_ms)
{
    struct timespec deadline;
    cm_deadline_after(timeout_ms, &deadline);
    pthread_mutex_lock(&t->lock);
    int ready = 0, rc = 0;
    while (!ready && rc == 0) {
        ready = 1;
        for (size_t i = 0; i < t->n; i++) {
            ready &= atomic_load(&t->t[i]->ready);
        }
        if (!ready) {
            rc = pthread_cond_timedwait(&t->cond, &t->lock, &deadline);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return ready;
}

json_t *proc_tables_get(struct proc_tables *t, const char *topic, const char *key)
{
    for (size_t i = 0; i < t->n; i++) {
        struct table *tb = t->t[i];
        if (strcmp(tb->topic, topic) == 0) {
            pthread_rwlock_rdlock(&tb->lock);
            json_t *row = json_object_get(tb->rows, key);
            json_t *copy = row ? json_deep_copy(row) : NULL;
            pthread_rwlock_unlock(&tb->lock);
            return copy;
        }
    }
    return NULL;
}

json_t *proc_tables_lookup(const char *topic, const char *key, void *ud)
{
    return proc_tables_get(ud, topic, key);
}

void proc_tables_free(struct proc_tables *t)
{
    if (!t) {
        return;
    }
    atomic_store(&t->stop, 1);
    for (size_t i = 0; i < t->n; i++) {
        struct table *tb = t->t[i];
        pthread_join(tb->thread, NULL);
        cm_kafka_consumer_free(tb->consumer);
        json_decref(tb->rows);
        pthread_rwlock_destroy(&tb->lock);
        free(tb->ends);
        free(tb->topic);
        free(tb);
    }
    free(t->t);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t->brokers);
    free(t);
}

/* ---- offline ---- */

int proc_tables_fixed_entry(json_t *fixed, const json_t *v, const char **why)
{
    const json_t *table = json_object_get(v, "table");
    if (!table) {
        return 0;
    }
    const char *topic = json_string_value(table);
    const char *key = json_string_value(json_object_get(v, "key"));
    const json_t *value = json_object_get(v, "value");
    if (!topic || !key || !value || json_object_size(v) != 3) {
        *why = "a table entry is {\"table\": \"<topic>\", \"key\": \"<key>\", \"value\": <JSON>}";
        return -1;
    }
    json_t *rows = json_object_get(fixed, topic);
    if (!rows) {
        json_object_set_new(fixed, topic, rows = json_object());
    }
    if (json_is_null(value)) {
        json_object_del(rows, key);
    } else {
        json_object_set(rows, key, (json_t *)value);
    }
    return 1;
}

json_t *proc_tables_fixed_lookup(const char *topic, const char *key, void *ud)
{
    json_t *row = json_object_get(json_object_get(ud, topic), key);
    return row ? json_deep_copy(row) : NULL;
}
