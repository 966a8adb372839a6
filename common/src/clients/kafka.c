/* kafka: librdkafka producer and consumer wrappers (see kafka.h).
 * The producer owns a thread that calls rd_kafka_poll every 100 ms to serve delivery reports.
 * The consumer is in kafka_consumer.c; the configuration from the environment is shared. */
#include "cm/kafka.h"

#include "kafka_internal.h"

#include "cm/err.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/memlimit.h"
#include "cm/timeutil.h"

#include <ctype.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* One topic handle kept per topic produced to. Naming the topic on every produce makes
 * librdkafka take its handle's write lock, look the topic up and release it again per record
 * (about 0.5 µs of a 5 µs record here); a kept handle costs one walk of this short list. */
#define TOPIC_HANDLES_MAX 64
struct topic_handle {
    struct topic_handle *next;
    rd_kafka_topic_t *rkt;
    char name[];
};

struct cm_kafka_producer {
    rd_kafka_t *rk;
    cm_kafka_delivery_cb cb;
    void *ud;
    pthread_t poller;
    atomic_int stop;
    atomic_int unreported;               /* produced, delivery report not yet handled */
    _Atomic(struct topic_handle *) rkts; /* read without a lock; entries are never removed */
    pthread_mutex_t rkts_lock;           /* serializes additions, and guards the topics below */
    int nrkts;
    char **topics; /* the cluster's topics as last asked (sorted), for topics_missing */
    size_t ntopics;
    int64_t topics_ms; /* when they were asked (monotonic); 0: never */
    int64_t failed_ms; /* when asking them last failed (monotonic); 0: never */
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum cm_log_level lvl = level <= 3   ? CM_LOG_ERROR
                            : level == 4 ? CM_LOG_WARN
                            : level <= 6 ? CM_LOG_INFO
                                         : CM_LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0) {
        lvl = CM_LOG_DEBUG; /* one KAFKA_* set serves producers and consumers alike */
    }
    CM_LOG_AT(lvl, "kafka_log", "%s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    CM_LOG_WARN("kafka_error", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int conf_set(rd_kafka_conf_t *conf, const char *origin, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        CM_LOG_ERROR("config_invalid", "%s: %s", origin, err);
        return CM_E_INVAL;
    }
    return 0;
}

/* Builds a configuration: defaults, then KAFKA_* from the environment. NULL after logging. */
rd_kafka_conf_t *kafka_build_conf(const char *brokers, const char *const *defaults)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (conf_set(conf, "KAFKA_BROKERS", "bootstrap.servers", brokers) != 0) {
        goto fail;
    }
    for (size_t i = 0; defaults[i]; i += 2) {
        if (conf_set(conf, "default", defaults[i], defaults[i + 1]) != 0) {
            goto fail;
        }
    }
    for (char **envp = environ; envp && *envp; envp++) {
        if (strncmp(*envp, "KAFKA_", 6) != 0 || strncmp(*envp, "KAFKA_BROKERS=", 14) == 0) {
            continue;
        }
        const char *eq = strchr(*envp, '=');
        if (!eq) {
            continue;
        }
        char name[128], origin[128];
        size_t len = (size_t)(eq - *envp) - 6;
        if (len == 0 || len >= sizeof(name)) {
            continue;
        }
        for (size_t k = 0; k < len; k++) {
            char c = (*envp)[6 + k];
            name[k] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        name[len] = '\0';
        snprintf(origin, sizeof(origin), "%.*s", (int)(eq - *envp), *envp);
        if (conf_set(conf, origin, name, eq + 1) != 0) {
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kafka_translate(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return CM_E_FULL;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return CM_E_TIMEDOUT;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return CM_E_TOOBIG;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return CM_E_INVAL;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__FATAL:
        return CM_E_UNAVAIL;
    default:
        return CM_E_INTERNAL;
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct cm_kafka_producer *p = opaque;
    struct cm_kafka_report r;
    r.err = kafka_translate(m->err);
    r.errstr = m->err ? rd_kafka_err2str(m->err) : "";
    switch (rd_kafka_message_status(m)) {
    case RD_KAFKA_MSG_STATUS_PERSISTED:
        r.persisted = CM_KAFKA_PERSISTED;
        break;
    case RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED:
        r.persisted = CM_KAFKA_MAYBE_PERSISTED;
        break;
    default:
        r.persisted = CM_KAFKA_NOT_PERSISTED;
        break;
    }
    if (r.err == 0) {
        r.persisted = CM_KAFKA_PERSISTED;
    }
    r.partition = m->partition;
    r.offset = m->offset;
    atomic_fetch_sub(&p->unreported, 1);
    if (p->cb) {
        p->cb(m->_private, &r, p->ud);
    }
}

static void *producer_poll_main(void *arg)
{
    struct cm_kafka_producer *p = arg;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 100);
    }
    return NULL;
}

struct cm_kafka_producer *cm_kafka_producer_new(const char *brokers, cm_kafka_delivery_cb cb,
                                                void *ud)
{
    /* message.timeout.ms bounds how long a caller waits for a report when brokers are down
     * (librdkafka's default is 5 minutes, too long for a request waiting on an answer). */
    static const char *defaults[] = {
        "enable.idempotence", "true",  "acks", "all", "linger.ms", "5", "compression.type", "lz4",
        "message.timeout.ms", "30000", NULL};
    rd_kafka_conf_t *conf = kafka_build_conf(brokers, defaults);
    if (!conf) {
        return NULL;
    }
    /* librdkafka may queue 1 GiB of records by default: in a container, an eighth of its memory
     * limit at most (at least 16 MiB), unless KAFKA_QUEUE_BUFFERING_MAX_KBYTES says */
    const char *queue_set = getenv("KAFKA_QUEUE_BUFFERING_MAX_KBYTES");
    int64_t queue_kb =
        cm_memory_bound(1048576, queue_set && *queue_set, cm_memory_limit() / 1024, 8, 16384);
    if (queue_kb != 1048576) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)queue_kb);
        if (conf_set(conf, "a container's memory limit", "queue.buffering.max.kbytes", v) != 0) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
        CM_LOG_INFO("memory_bound_sized",
                    "KAFKA_QUEUE_BUFFERING_MAX_KBYTES: %s, 1/8 of the container's memory limit, "
                    "below librdkafka's default 1048576; set it to choose",
                    v);
    }
    struct cm_kafka_producer *p = cm_xcalloc(1, sizeof(*p));
    p->cb = cb;
    p->ud = ud;
    pthread_mutex_init(&p->rkts_lock, NULL);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    char err[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p->rk) {
        CM_LOG_ERROR("config_invalid", "kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&p->rkts_lock);
        free(p);
        return NULL;
    }
    conf = NULL; /* owned by rk now */
    if (pthread_create(&p->poller, NULL, producer_poll_main, p) != 0) {
        CM_LOG_ERROR("thread_failed", "cannot start the producer poll thread");
        rd_kafka_destroy(p->rk);
        pthread_mutex_destroy(&p->rkts_lock);
        free(p);
        return NULL;
    }
    return p;
}

int cm_kafka_produce(struct cm_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                     const void *value, size_t valuelen, const char *const *header_names,
                     const char *const *header_values, size_t nheaders, void *opaque)
{
    return cm_kafka_produce_partition(p, topic, RD_KAFKA_PARTITION_UA, key, keylen, value, valuelen,
                                      header_names, header_values, nheaders, opaque);
}

/* The kept handle of `topic`, added on first use; NULL when TOPIC_HANDLES_MAX topics are kept
 * already or librdkafka refuses the name (the caller then names the topic per record). */
static rd_kafka_topic_t *topic_handle(struct cm_kafka_producer *p, const char *topic)
{
    for (struct topic_handle *h = atomic_load_explicit(&p->rkts, memory_order_acquire); h;
         h = h->next) {
        if (strcmp(h->name, topic) == 0) {
            return h->rkt;
        }
    }
    pthread_mutex_lock(&p->rkts_lock);
    struct topic_handle *h = atomic_load_explicit(&p->rkts, memory_order_relaxed);
    for (; h; h = h->next) { /* another thread may have added it meanwhile */
        if (strcmp(h->name, topic) == 0) {
            break;
        }
    }
    if (!h && p->nrkts < TOPIC_HANDLES_MAX) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
        if (rkt) {
            size_t len = strlen(topic);
            h = cm_xmalloc(sizeof(*h) + len + 1);
            memcpy(h->name, topic, len + 1);
            h->rkt = rkt;
            h->next = atomic_load_explicit(&p->rkts, memory_order_relaxed);
            atomic_store_explicit(&p->rkts, h, memory_order_release);
            p->nrkts++;
        }
    }
    pthread_mutex_unlock(&p->rkts_lock);
    return h ? h->rkt : NULL;
}

static int produce(struct cm_kafka_producer *p, const char *topic, int32_t partition,
                   const void *key, size_t keylen, const void *value, size_t valuelen,
                   const char *const *header_names, const char *const *header_values,
                   size_t nheaders, void *opaque, int msgflags)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (nheaders > 0) {
        hdrs = rd_kafka_headers_new(nheaders);
        for (size_t i = 0; i < nheaders; i++) {
            rd_kafka_header_add(hdrs, header_names[i], -1, header_values[i], -1);
        }
    }
    rd_kafka_topic_t *rkt = topic_handle(p, topic);
    int32_t part = partition < 0 ? RD_KAFKA_PARTITION_UA : partition;
    atomic_fetch_add(&p->unreported, 1); /* before: the report may come before producev returns */
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(part),
                                RD_KAFKA_V_KEY((void *)key, keylen),
                                RD_KAFKA_V_VALUE((void *)value, valuelen),
                                RD_KAFKA_V_MSGFLAGS(msgflags), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END)
            : rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                RD_KAFKA_V_KEY((void *)key, keylen),
                                RD_KAFKA_V_VALUE((void *)value, valuelen),
                                RD_KAFKA_V_MSGFLAGS(msgflags), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err) {
        if (hdrs) {
            rd_kafka_headers_destroy(hdrs); /* ownership passes only on success; NULL crashes */
        }
        atomic_fetch_sub(&p->unreported, 1);
        return kafka_translate(err);
    }
    return 0;
}

int cm_kafka_produce_partition(struct cm_kafka_producer *p, const char *topic, int32_t partition,
                               const void *key, size_t keylen, const void *value, size_t valuelen,
                               const char *const *header_names, const char *const *header_values,
                               size_t nheaders, void *opaque)
{
    return produce(p, topic, partition, key, keylen, value, valuelen, header_names, header_values,
                   nheaders, opaque, RD_KAFKA_MSG_F_COPY);
}

int cm_kafka_produce_borrowed(struct cm_kafka_producer *p, const char *topic, int32_t partition,
                              const void *key, size_t keylen, const void *value, size_t valuelen,
                              const char *const *header_names, const char *const *header_values,
                              size_t nheaders, void *opaque)
{
    return produce(p, topic, partition, key, keylen, value, valuelen, header_names, header_values,
                   nheaders, opaque, 0);
}

int cm_kafka_producer_queue_len(struct cm_kafka_producer *p)
{
    return atomic_load(&p->unreported);
}

void cm_kafka_producer_purge(struct cm_kafka_producer *p)
{
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

int cm_kafka_producer_flush(struct cm_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : CM_E_TIMEDOUT;
}

int kafka_ping(rd_kafka_t *rk, int timeout_ms, char *why, size_t len)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err) {
        snprintf(why, len, "no broker answered: %s", rd_kafka_err2str(err));
        return CM_E_UNAVAIL;
    }
    int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers == 0) {
        snprintf(why, len, "metadata lists no brokers");
        return CM_E_UNAVAIL;
    }
    return 0;
}

int cm_kafka_producer_ping(struct cm_kafka_producer *p, int timeout_ms, char *why, size_t len)
{
    return kafka_ping(p->rk, timeout_ms, why, len);
}

int cm_kafka_producer_partitions(struct cm_kafka_producer *p, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    int rc = CM_E_UNAVAIL;
    while (rc <= 0 && cm_monotonic_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(p->rk, 0, rkt, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt > 0) {
                rc = md->topics[0].partition_cnt;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (rc <= 0) {
            cm_sleep_ms(100);
        }
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* Asks the cluster for its topics and keeps them in p (sorted). 0 or CM_E_UNAVAIL. */
static int refresh_topics(struct cm_kafka_producer *p, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&p->rkts_lock);
        p->failed_ms = cm_monotonic_ms();
        pthread_mutex_unlock(&p->rkts_lock);
        return CM_E_UNAVAIL;
    }
    char **names = cm_xcalloc((size_t)md->topic_cnt + 1, sizeof(*names));
    size_t n = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        if (md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            names[n++] = cm_xstrdup(md->topics[t].topic);
        }
    }
    rd_kafka_metadata_destroy(md);
    qsort(names, n, sizeof(*names), cmp_name);
    pthread_mutex_lock(&p->rkts_lock);
    char **old = p->topics;
    size_t nold = p->ntopics;
    p->topics = names;
    p->ntopics = n;
    p->topics_ms = cm_monotonic_ms();
    pthread_mutex_unlock(&p->rkts_lock);
    free_names(old, nold);
    return 0;
}

int cm_kafka_producer_topics_missing(struct cm_kafka_producer *p, const char *const *topics,
                                     size_t n, unsigned char *missing, int timeout_ms,
                                     int max_age_ms)
{
    pthread_mutex_lock(&p->rkts_lock);
    int64_t now = cm_monotonic_ms();
    int fresh = max_age_ms > 0 && p->topics_ms > 0 && now - p->topics_ms <= max_age_ms;
    /* a cluster that did not answer within max_age_ms is not asked again meanwhile: a list of
     * many statuses while Kafka is down waits for one timeout, not one each */
    int failed = max_age_ms > 0 && p->failed_ms > p->topics_ms && now - p->failed_ms <= max_age_ms;
    pthread_mutex_unlock(&p->rkts_lock);
    if (failed || (!fresh && refresh_topics(p, timeout_ms) != 0)) {
        return CM_E_UNAVAIL;
    }
    int count = 0;
    pthread_mutex_lock(&p->rkts_lock);
    for (size_t i = 0; i < n; i++) {
        missing[i] = !bsearch(&topics[i], p->topics, p->ntopics, sizeof(*p->topics), cmp_name);
        count += missing[i];
    }
    pthread_mutex_unlock(&p->rkts_lock);
    return count;
}

int cm_kafka_topic_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

int32_t cm_kafka_partition_of(const void *key, size_t keylen, int32_t partitions)
{
    /* the producers keep librdkafka's default partitioner, consistent_random: a key's CRC-32 */
    return rd_kafka_msg_partitioner_consistent_random(NULL, key, keylen, partitions, NULL, NULL);
}

int cm_kafka_producer_ensure_topic(struct cm_kafka_producer *p, const char *topic, int timeout_ms)
{
    return cm_kafka_producer_partitions(p, topic, timeout_ms) > 0 ? 0 : CM_E_UNAVAIL;
}

void cm_kafka_producer_free(struct cm_kafka_producer *p, int flush_timeout_ms)
{
    if (!p) {
        return;
    }
    rd_kafka_flush(p->rk, flush_timeout_ms);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0) {
        CM_LOG_WARN("kafka_flush_incomplete", "%d messages not delivered at shutdown", left);
    }
    atomic_store(&p->stop, 1);
    pthread_join(p->poller, NULL);
    struct topic_handle *h = atomic_load(&p->rkts);
    while (h) {
        struct topic_handle *next = h->next;
        rd_kafka_topic_destroy(h->rkt);
        free(h);
        h = next;
    }
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->rkts_lock);
    free_names(p->topics, p->ntopics);
    free(p);
}

int cm_kafka_producer_check(void *producer, char *why, size_t len)
{
    return cm_kafka_producer_ping(producer, 1000, why, len);
}

const char *cm_kafka_msg_topic(const struct cm_kafka_msg *m)
{
    return rd_kafka_topic_name(((const rd_kafka_message_t *)m)->rkt);
}

int32_t cm_kafka_msg_partition(const struct cm_kafka_msg *m)
{
    return ((const rd_kafka_message_t *)m)->partition;
}

int64_t cm_kafka_msg_offset(const struct cm_kafka_msg *m)
{
    return ((const rd_kafka_message_t *)m)->offset;
}

const void *cm_kafka_msg_key(const struct cm_kafka_msg *m, size_t *len)
{
    const rd_kafka_message_t *r = (const rd_kafka_message_t *)m;
    *len = r->key_len;
    return r->key;
}

const void *cm_kafka_msg_value(const struct cm_kafka_msg *m, size_t *len)
{
    const rd_kafka_message_t *r = (const rd_kafka_message_t *)m;
    *len = r->len;
    return r->payload;
}

int cm_kafka_msg_header(const struct cm_kafka_msg *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers((const rd_kafka_message_t *)m, &hdrs) != 0 ||
        rd_kafka_header_get_last(hdrs, name, &val, &size) != 0 || len == 0) {
        return CM_E_INVAL;
    }
    size_t n = size < len - 1 ? size : len - 1;
    if (val) {
        memcpy(buf, val, n);
    }
    buf[n] = '\0';
    return 0;
}

size_t cm_kafka_msg_headers(const struct cm_kafka_msg *m, size_t max, const char **names,
                            const void **values, size_t *lens)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers((const rd_kafka_message_t *)m, &hdrs) != 0) {
        return 0;
    }
    size_t n = 0;
    while (n < max && rd_kafka_header_get_all(hdrs, n, &names[n], &values[n], &lens[n]) == 0) {
        n++;
    }
    return n;
}

const void *cm_kafka_msg_header_ref(const struct cm_kafka_msg *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers((const rd_kafka_message_t *)m, &hdrs) != 0 ||
        rd_kafka_header_get_last(hdrs, name, &val, &size) != 0 || !val) {
        return NULL;
    }
    *len = size;
    return val;
}

int64_t cm_kafka_msg_timestamp_ms(const struct cm_kafka_msg *m)
{
    return rd_kafka_message_timestamp((const rd_kafka_message_t *)m, NULL);
}

void cm_kafka_msg_free(struct cm_kafka_msg *m)
{
    if (m) {
        rd_kafka_message_destroy((rd_kafka_message_t *)m);
    }
}
