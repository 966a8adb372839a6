/* bench-processor: the hand-written C path that bench/processor/run.sh puts the processor's
 * one-stage figure next to. It does the bench's one-stage pipeline (events keyed by merchant,
 * count and sum of data.amount per merchant in 10 s tumbling windows of event time, watermark =
 * the least over the partitions of their latest event time less 5 s, a result per key and window
 * written to Kafka when the watermark passes the window's end, state and offsets written to Redis
 * every second) straight on librdkafka, jansson and hiredis, as a team would write that one job by
 * hand: no definitions, expression language, runtime or metrics.
 *   bench-processor <brokers> <topic> <group> <events> <out-topic> <redis-host> <redis-port>
 * It reads <events> events from the beginning of <topic> and prints one line:
 *   <events/s from its first event to its last> <CPU ns of this process per event over that time>
 * What it leaves out that the processor does: results are not awaited before the offsets are
 * stored (the processor commits only what its results' acknowledgements cover), events whose
 * window has passed are dropped rather than sent on, and nothing is validated beyond what the
 * arithmetic needs. It is the smaller job, so the processor's share of it is a lower bound. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define WINDOW_MS 10000
#define OUT_OF_ORDER_MS 5000
#define CHECKPOINT_MS 1000
#define MAX_PARTS 256
#define BATCH 1000

struct entry {
    struct entry *chain; /* the next in its hash bucket */
    struct entry *next;  /* the next of its window */
    int64_t wstart;
    uint64_t n;
    double total;
    int part;
    int dirty; /* changed since the last checkpoint */
    struct entry *dirty_next;
    char key[];
};

struct window {
    int64_t start;
    struct entry *entries;
};

static struct entry **buckets;
static size_t nbuckets = 1 << 18;
static struct window *windows; /* open windows, by start */
static size_t nwindows, capwindows;
static struct entry *dirty[MAX_PARTS];
static char **dropped[MAX_PARTS]; /* fields of fired windows, deleted at the next checkpoint */
static size_t ndropped[MAX_PARTS], capdropped[MAX_PARTS];
static int64_t part_max[MAX_PARTS];
static int64_t next_offset[MAX_PARTS];
static int nparts;
static int64_t fired_wm = INT64_MIN; /* the watermark windows were last fired at */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench-processor: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "bench-processor: out of memory\n");
        exit(1);
    }
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t cpu_ns(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000LL;
}

static uint64_t fnv(const char *s, int64_t w)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return (h ^ (uint64_t)w) * 1099511628211ULL;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" → ms since the epoch (days from the civil date), or -1 */
static int64_t parse_time(const char *s)
{
    int y, mo, d, h, mi, se, ms = 0;
    if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se)) {
        return -1;
    }
    if (s[19] == '.' && digits(s + 20, 3, &ms)) {
        return -1;
    }
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return ((days * 24 + h) * 60 + mi) * 60000LL + se * 1000LL + ms;
}

static struct window *window_at(int64_t start)
{
    size_t i = 0;
    while (i < nwindows && windows[i].start < start) {
        i++;
    }
    if (i < nwindows && windows[i].start == start) {
        return &windows[i];
    }
    if (nwindows == capwindows) {
        capwindows = capwindows ? capwindows * 2 : 16;
        windows = xrealloc(windows, capwindows * sizeof(*windows));
    }
    memmove(&windows[i + 1], &windows[i], (nwindows - i) * sizeof(*windows));
    nwindows++;
    windows[i] = (struct window){start, NULL};
    return &windows[i];
}

static void add(const char *key, int64_t t, double amount, int part)
{
    int64_t ws = t - ((t % WINDOW_MS) + WINDOW_MS) % WINDOW_MS;
    size_t b = fnv(key, ws) & (nbuckets - 1);
    struct entry *e = buckets[b];
    while (e && (e->wstart != ws || strcmp(e->key, key) != 0)) {
        e = e->chain;
    }
    if (!e) {
        size_t len = strlen(key) + 1;
        e = xmalloc(sizeof(*e) + len);
        memcpy(e->key, key, len);
        e->wstart = ws;
        e->n = 0;
        e->total = 0;
        e->part = part;
        e->dirty = 0;
        e->chain = buckets[b];
        buckets[b] = e;
        struct window *w = window_at(ws);
        e->next = w->entries;
        w->entries = e;
    }
    e->n++;
    e->total += amount;
    if (!e->dirty) {
        e->dirty = 1;
        e->dirty_next = dirty[part];
        dirty[part] = e;
    }
}

static void field_of(const struct entry *e, char *out, size_t len)
{
    snprintf(out, len, "%s|%" PRId64, e->key, e->wstart);
}

static void iso(int64_t ms, char *out, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void produce(rd_kafka_t *prod, const char *topic, const struct entry *e)
{
    char start[64], end[64], id[40], value[1024];
    iso(e->wstart, start, sizeof(start));
    iso(e->wstart + WINDOW_MS, end, sizeof(end));
    uint64_t h = fnv(e->key, e->wstart);
    snprintf(id, sizeof(id), "%016" PRIx64 "-0", h);
    int n = snprintf(value, sizeof(value),
                     "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"processor/bench\","
                     "\"type\":\"pipeline.result\",\"subject\":\"%s\",\"time\":\"%s\","
                     "\"datacontenttype\":\"application/json\",\"data\":{\"pipeline\":\"bench\","
                     "\"key\":\"%s\",\"window_start\":\"%s\",\"window_end\":\"%s\",\"revision\":0,"
                     "\"n\":%" PRIu64 ",\"total\":%.17g}}",
                     id, e->key, end, e->key, start, end, e->n, e->total);
    if (n < 0 || (size_t)n >= sizeof(value)) {
        return;
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(e->key, strlen(e->key)),
            RD_KAFKA_V_VALUE(value, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("ce_id", id, -1), RD_KAFKA_V_HEADER("ce_type", "pipeline.result", -1),
            RD_KAFKA_V_HEADER("ce_source", "processor/bench", -1),
            RD_KAFKA_V_HEADER("content-type", "application/cloudevents+json", -1), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (err) {
                fprintf(stderr, "bench-processor: produce: %s\n", rd_kafka_err2str(err));
            }
            return;
        }
        rd_kafka_poll(prod, 50);
    }
}

static void drop_field(const struct entry *e)
{
    int p = e->part;
    if (ndropped[p] == capdropped[p]) {
        capdropped[p] = capdropped[p] ? capdropped[p] * 2 : 1024;
        dropped[p] = xrealloc(dropped[p], capdropped[p] * sizeof(char *));
    }
    char f[256];
    field_of(e, f, sizeof(f));
    dropped[p][ndropped[p]++] = strdup(f);
}

/* Writes the windows the watermark has passed, and forgets them. */
static void fire(rd_kafka_t *prod, const char *topic, int64_t wm)
{
    fired_wm = wm > fired_wm ? wm : fired_wm;
    while (nwindows > 0 && windows[0].start + WINDOW_MS - 1 <= wm) {
        for (struct entry *e = windows[0].entries, *next; e; e = next) {
            next = e->next;
            produce(prod, topic, e);
            size_t b = fnv(e->key, e->wstart) & (nbuckets - 1);
            struct entry **pp = &buckets[b];
            while (*pp != e) {
                pp = &(*pp)->chain;
            }
            *pp = e->chain;
            drop_field(e);
            if (e->dirty) { /* unlinked from the dirty list at the checkpoint */
                e->n = UINT64_MAX;
            } else {
                free(e);
            }
        }
        memmove(&windows[0], &windows[1], (nwindows - 1) * sizeof(*windows));
        nwindows--;
    }
}

/* Per partition, in one MULTI/EXEC: the changed state, the fired windows' fields deleted, and
 * the next offset; then the offsets stored for the consumer's commits. */
static void checkpoint(redisContext *redis, rd_kafka_t *cons, const char *topic)
{
    int sent = 0;
    char hash[64], field[256], value[64], off[32];
    for (int p = 0; p < nparts; p++) {
        if (!dirty[p] && !ndropped[p]) {
            continue;
        }
        snprintf(hash, sizeof(hash), "bench:{%d}", p);
        redisAppendCommand(redis, "MULTI");
        sent++;
        for (struct entry *e = dirty[p], *next; e; e = next) {
            next = e->dirty_next;
            if (e->n == UINT64_MAX) { /* fired since it changed */
                free(e);
                continue;
            }
            e->dirty = 0;
            field_of(e, field, sizeof(field));
            snprintf(value, sizeof(value), "%" PRIu64 " %.17g", e->n, e->total);
            redisAppendCommand(redis, "HSET %s %s %s", hash, field, value);
            sent++;
        }
        dirty[p] = NULL;
        for (size_t i = 0; i < ndropped[p]; i++) {
            redisAppendCommand(redis, "HDEL %s %s", hash, dropped[p][i]);
            sent++;
            free(dropped[p][i]);
        }
        ndropped[p] = 0;
        snprintf(off, sizeof(off), "%" PRId64, next_offset[p]);
        redisAppendCommand(redis, "HSET %s offset %s", hash, off);
        redisAppendCommand(redis, "EXEC");
        sent += 2;
    }
    for (int i = 0; i < sent; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "bench-processor: redis: %s\n", redis->errstr);
            exit(1);
        }
        freeReplyObject(r);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) {
        if (next_offset[p] > 0) {
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = next_offset[p];
        }
    }
    if (l->cnt > 0) {
        rd_kafka_offsets_store(cons, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    for (; kv[0]; kv += 2) {
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "bench-processor: %s\n", err);
            exit(2);
        }
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "bench-processor: %s\n", err);
        exit(2);
    }
    return rk;
}

/* One event: 1 when it counted, 0 when it could not be read (skipped). */
static int handle(const rd_kafka_message_t *m)
{
    json_error_t jerr;
    json_t *ev = json_loadb(m->payload, m->len, 0, &jerr);
    if (!ev) {
        return 0;
    }
    const char *t = json_string_value(json_object_get(ev, "time"));
    json_t *data = json_object_get(ev, "data");
    const char *key = json_string_value(json_object_get(data, "merchant"));
    json_t *amount = json_object_get(data, "amount");
    int64_t ms = t ? parse_time(t) : -1;
    int ok =
        key && json_is_number(amount) && ms >= 0 && strlen(key) < 200 && m->partition < MAX_PARTS;
    if (ok) {
        int p = (int)m->partition;
        if (ms > part_max[p]) {
            part_max[p] = ms;
        }
        next_offset[p] = m->offset + 1;
        int64_t ws = ms - ((ms % WINDOW_MS) + WINDOW_MS) % WINDOW_MS;
        if (ws + WINDOW_MS - 1 > fired_wm) { /* else late: its window was written */
            add(key, ms, json_number_value(amount), p);
        }
    }
    json_decref(ev);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bench-processor <brokers> <topic> <group> <events> <out-topic> "
                        "<redis-host> <redis-port>\n");
        return 2;
    }
    const char *brokers = argv[1], *topic = argv[2], *out = argv[5];
    long want = atol(argv[4]);
    redisContext *redis = redisConnect(argv[6], atoi(argv[7]));
    if (!redis || redis->err) {
        fprintf(stderr, "bench-processor: redis: %s\n", redis ? redis->errstr : "no memory");
        return 1;
    }
    /* the processor's own consumer and producer settings (kafka_consumer.c, kafka.c) */
    const char *ckv[] = {"bootstrap.servers",
                         brokers,
                         "group.id",
                         argv[3],
                         "auto.offset.reset",
                         "earliest",
                         "enable.auto.offset.store",
                         "false",
                         "queued.min.messages",
                         "1000000",
                         "fetch.wait.max.ms",
                         "10",
                         NULL};
    const char *pkv[] = {"bootstrap.servers", brokers, "enable.idempotence", "true", "acks", "all",
                         "linger.ms",         "5",     "compression.type",   "lz4",  NULL};
    rd_kafka_t *cons = client(RD_KAFKA_CONSUMER, ckv);
    rd_kafka_t *prod = client(RD_KAFKA_PRODUCER, pkv);
    rd_kafka_poll_set_consumer(cons);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons, topic, NULL);
    if (rd_kafka_metadata(cons, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
        md->topics[0].partition_cnt < 1 || md->topics[0].partition_cnt > MAX_PARTS) {
        fprintf(stderr, "bench-processor: no metadata for %s\n", topic);
        return 1;
    }
    nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    for (int p = 0; p < nparts; p++) {
        part_max[p] = INT64_MIN;
    }
    buckets = calloc(nbuckets, sizeof(*buckets));
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    if (!buckets || rd_kafka_subscribe(cons, sub)) {
        fprintf(stderr, "bench-processor: could not subscribe\n");
        return 1;
    }
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(cons);
    rd_kafka_message_t *batch[BATCH];
    long got = 0;
    int64_t t0 = 0, cpu0 = 0, last_ckpt = now_ms(), started = now_ms();
    while (got < want) {
        if (now_ms() - started > 300000) {
            fprintf(stderr, "bench-processor: %ld of %ld events after 300 s\n", got, want);
            return 1;
        }
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, batch, BATCH);
        for (ssize_t i = 0; i < n; i++) {
            if (!batch[i]->err) {
                if (got == 0) {
                    t0 = now_ms();
                    cpu0 = cpu_ns();
                }
                got += handle(batch[i]);
            }
            rd_kafka_message_destroy(batch[i]);
        }
        int64_t wm = INT64_MAX;
        for (int p = 0; p < nparts; p++) {
            wm = part_max[p] < wm ? part_max[p] : wm;
        }
        if (wm != INT64_MIN) {
            fire(prod, out, wm - OUT_OF_ORDER_MS);
        }
        rd_kafka_poll(prod, 0);
        if (now_ms() - last_ckpt >= CHECKPOINT_MS) {
            checkpoint(redis, cons, topic);
            last_ckpt = now_ms();
        }
    }
    int64_t t1 = now_ms(), cpu1 = cpu_ns();
    printf("%ld %" PRId64 "\n", (long)((double)(want - 1) * 1000.0 / (double)(t1 - t0 + 1)),
           (cpu1 - cpu0) / (want > 1 ? want - 1 : 1));
    fflush(stdout);
    rd_kafka_queue_destroy(q);
    fire(prod, out, INT64_MAX - WINDOW_MS); /* what is open is forgotten, its results written */
    checkpoint(redis, cons, topic);
    free(windows);
    free(buckets);
    for (int p = 0; p < nparts; p++) {
        free(dropped[p]);
    }
    rd_kafka_flush(prod, 10000);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);
    redisFree(redis);
    return 0;
}
