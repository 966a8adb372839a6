/* stream: the consumer runtime's loop (see stream.h; commit points are in stream_commit.c, flow
 * control and the lag gauges in stream_flow.c). Per assigned partition it knows the next offset it
 * expects (from the committed offset or the start offset a hook chose, then from each record), so a
 * jump forward, which librdkafka makes silently when a position fell out of the broker's retention,
 * is reported as records lost. Emitted records are kept (one allocation each, owned by the pending
 * list, then by the commit job that covers them) until their delivery report says persisted. */
#include "stream_internal.h"

#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/event.h"
#include "cm/http.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 500
#define MAX_PENDING 200000 /* outputs held before a commit point is forced */
#define DEFAULT_INTERNAL_LAG 10000
#define DEFAULT_INTERNAL_BYTES (2 << 20)

/* ---- partitions ---- */

static struct part *find_part(struct cm_stream *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++) {
        if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0) {
            return &s->parts[i];
        }
    }
    return NULL;
}

int stream_is_internal(const struct cm_stream *s, const char *topic)
{
    for (size_t i = 0; i < s->ninternal; i++) {
        if (strcmp(s->internal[i], topic) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Adds a record of an internal partition, read or written here, to its recent average size. */
static void note_size(struct part *p, size_t bytes)
{
    if (p->seen_records >= 4096) {
        p->seen_bytes /= 2;
        p->seen_records /= 2;
    }
    p->seen_bytes += (double)bytes;
    p->seen_records += 1;
}

/* Counts a record emitted into an internal partition held here (its partition given, or the
 * one its key goes to), so flow control sees our own output at once. */
static void note_emit(struct cm_stream *s, const char *topic, int32_t partition, const void *key,
                      size_t keylen, size_t bytes)
{
    for (size_t i = 0; i < s->ninternal; i++) {
        if (strcmp(s->internal[i], topic) != 0) {
            continue;
        }
        if (partition < 0) {
            if (s->internal_partitions[i] <= 0) {
                s->internal_partitions[i] = cm_stream_partitions(s, topic);
            }
            if (s->internal_partitions[i] <= 0 || !key) {
                return;
            }
            partition = cm_kafka_partition_of(key, keylen, s->internal_partitions[i]);
        }
        struct part *p = find_part(s, topic, partition);
        if (p) {
            p->emitted++;
            note_size(p, bytes);
        }
        return;
    }
}

static void set_internal(struct cm_stream *s, const char *const *topics, size_t n)
{
    for (size_t i = 0; i < s->ninternal; i++) {
        free(s->internal[i]);
    }
    free(s->internal);
    free(s->internal_partitions);
    s->internal = cm_xcalloc(n ? n : 1, sizeof(*s->internal));
    s->internal_partitions = cm_xcalloc(n ? n : 1, sizeof(*s->internal_partitions));
    for (size_t i = 0; i < n; i++) {
        s->internal[i] = cm_xstrdup(topics[i]);
    }
    s->ninternal = n;
    if (s->consumer) {
        cm_kafka_consumer_prioritize(s->consumer, topics, n);
    }
    for (size_t i = 0; i < s->nparts; i++) {
        s->parts[i].internal = stream_is_internal(s, s->parts[i].topic);
    }
}

static void on_assign(const struct cm_kafka_partition *cparts, size_t n, void *ud)
{
    struct cm_stream *s = ud;
    struct cm_kafka_partition *parts = (struct cm_kafka_partition *)cparts;
    if (s->h.on_assign) {
        s->h.on_assign(s, parts, n, s->h.ud);
    }
    /* Where each partition resumes: the hook's offset, else the group's committed one. */
    struct cm_kafka_partition *asked = cm_xcalloc(n ? n : 1, sizeof(*asked));
    size_t nasked = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].offset < 0) {
            asked[nasked++] = parts[i];
        }
    }
    int committed_rc = 0;
    if (nasked > 0) {
        committed_rc = cm_kafka_consumer_committed(s->consumer, asked, nasked, 5000);
    }
    for (size_t k = 0; k < nasked; k++) {
        if (s->h.on_committed && asked[k].offset >= 0) {
            s->h.on_committed(s, asked[k].topic, asked[k].partition, asked[k].offset,
                              asked[k].metadata, s->h.ud);
        }
        free(asked[k].metadata);
    }
    /* (not where the committed offsets are unknown: a partition may have one) */
    stream_start_lookup(s, parts, n, asked, committed_rc == 0 ? nasked : 0);
    for (size_t i = 0; i < n; i++) {
        if (find_part(s, parts[i].topic, parts[i].partition)) {
            continue;
        }
        if (s->nparts == s->capparts) {
            s->capparts = s->capparts ? s->capparts * 2 : 16;
            s->parts = cm_xrealloc(s->parts, s->capparts * sizeof(*s->parts));
        }
        int64_t start = parts[i].offset;
        for (size_t k = 0; start < 0 && k < nasked; k++) {
            if (asked[k].partition == parts[i].partition &&
                strcmp(asked[k].topic, parts[i].topic) == 0) {
                start = asked[k].offset;
            }
        }
        s->parts[s->nparts++] = (struct part){.topic = cm_xstrdup(parts[i].topic),
                                              .partition = parts[i].partition,
                                              .expected = start >= 0 ? start : -1,
                                              .next = -1,
                                              .stored = -1,
                                              .skipped_next = -1,
                                              .internal = stream_is_internal(s, parts[i].topic),
                                              .base = start >= 0 ? start : 0};
    }
    free(asked);
}

static void on_revoke(const struct cm_kafka_partition *parts, size_t n, void *ud)
{
    struct cm_stream *s = ud;
    /* outputs acknowledged, state durable, offsets stored: then let go */
    stream_commit_point(s);
    stream_commit_drain(s);
    if (s->h.on_revoke) {
        s->h.on_revoke(s, parts, n, s->h.ud);
    }
    for (size_t i = 0; i < n; i++) {
        struct part *p = find_part(s, parts[i].topic, parts[i].partition);
        if (p) {
            free(p->topic);
            free(p->stored_meta);
            *p = s->parts[--s->nparts];
        }
    }
}

static void note_loss(struct cm_stream *s, struct part *p, int64_t from, int64_t to)
{
    uint64_t n = (uint64_t)(to - from);
    atomic_fetch_add(&s->lost, n);
    cm_counter_add(cm_metric_with(s->m_lost, p->topic, NULL), n);
    char when[CM_RFC3339_LEN];
    cm_time_format_rfc3339(cm_now_ms(), when);
    pthread_mutex_lock(&s->loss_lock);
    snprintf(s->last_loss, sizeof(s->last_loss),
             "%s [%d] offsets %lld..%lld (%llu records) skipped at %s", p->topic, p->partition,
             (long long)from, (long long)(to - 1), (unsigned long long)n, when);
    pthread_mutex_unlock(&s->loss_lock);
    CM_LOG_ERROR("records_lost",
                 "%s [%d]: offsets %lld..%lld were no longer on the broker when due (retention); "
                 "%llu records skipped",
                 p->topic, p->partition, (long long)from, (long long)(to - 1),
                 (unsigned long long)n);
}

/* The first record read after an assignment lies before the position the partition resumed
 * from: the broker's log is behind it (the topic was deleted and created again, or the broker
 * lost its data, as a development broker does when restarted), and librdkafka went back to the
 * log's beginning. What the log holds now is new to us; the handler is told (on_rewind). */
void cm_stream_note_rewound(struct cm_stream *s, const char *topic, int32_t partition,
                            int64_t resumed, int64_t first)
{
    atomic_fetch_add(&s->rewinds, 1);
    cm_counter_add(cm_metric_with(s->m_rewinds, topic, NULL), 1);
    char when[CM_RFC3339_LEN];
    cm_time_format_rfc3339(cm_now_ms(), when);
    pthread_mutex_lock(&s->loss_lock);
    snprintf(s->last_rewind, sizeof(s->last_rewind),
             "%s [%d] resumed at offset %lld, its log restarts at %lld (%s)", topic, partition,
             (long long)resumed, (long long)first, when);
    pthread_mutex_unlock(&s->loss_lock);
    CM_LOG_ERROR("log_rewound",
                 "%s [%d]: the broker's log is behind the position resumed from (offset %lld; its "
                 "first record is at %lld): the topic was created anew or the broker lost its "
                 "data; its records from %lld on are read as new",
                 topic, partition, (long long)resumed, (long long)first, (long long)first);
}

static void note_rewind(struct cm_stream *s, struct part *p, int64_t resumed, int64_t first)
{
    cm_stream_note_rewound(s, p->topic, p->partition, resumed, first);
    if (p->internal) {
        p->base = first; /* the log our own output lands in starts over too */
    }
    if (s->h.on_rewind) {
        s->h.on_rewind(s, p->topic, p->partition, resumed, first, s->h.ud);
    }
}

static size_t record_size(const struct cm_kafka_msg *m)
{
    size_t klen = 0, vlen = 0, lens[CM_STREAM_MAX_HEADERS];
    const char *names[CM_STREAM_MAX_HEADERS];
    const void *values[CM_STREAM_MAX_HEADERS];
    cm_kafka_msg_key(m, &klen);
    cm_kafka_msg_value(m, &vlen);
    size_t bytes = klen + vlen;
    size_t nh = cm_kafka_msg_headers(m, CM_STREAM_MAX_HEADERS, names, values, lens);
    for (size_t i = 0; i < nh; i++) {
        bytes += strlen(names[i]) + lens[i];
    }
    return bytes;
}

/* Keeps the records of partitions still assigned (a revoke may come while a batch is being
 * collected), tracking expected offsets. Returns the new count; frees the others. */
static size_t admit(struct cm_stream *s, struct cm_kafka_msg **msgs, size_t n)
{
    size_t keep = 0;
    for (size_t i = 0; i < n; i++) {
        struct part *p = find_part(s, cm_kafka_msg_topic(msgs[i]), cm_kafka_msg_partition(msgs[i]));
        if (!p) {
            cm_kafka_msg_free(msgs[i]);
            continue;
        }
        int64_t off = cm_kafka_msg_offset(msgs[i]);
        if (p->expected >= 0 && off > p->expected) {
            note_loss(s, p, p->expected, off);
        } else if (p->expected >= 0 && off < p->expected && !p->admitted) {
            note_rewind(s, p, p->expected, off);
        } else if (p->expected >= 0 && off < p->expected) {
            CM_LOG_ERROR("records_reordered",
                         "%s [%d]: offset %lld handed out after offset %lld; a handler that "
                         "skips what it has seen may skip it",
                         p->topic, p->partition, (long long)off, (long long)(p->expected - 1));
        }
        p->admitted = 1;
        p->expected = off + 1;
        if (p->internal) {
            note_size(p, record_size(msgs[i]));
        }
        if (stream_start_skip(s, p, msgs[i])) {
            cm_kafka_msg_free(msgs[i]);
            continue;
        }
        msgs[keep++] = msgs[i];
    }
    return keep;
}

/* ---- outputs ---- */

/* An output Kafka refuses for its size: producing it again cannot help. */
static void refuse(struct cm_stream *s, struct output *o)
{
    cm_counter_add(cm_metric_with(s->m_refused, o->topic, NULL), 1);
    unsigned long long left_out;
    if (cm_log_limit_pass(&s->refused_log, cm_monotonic_ms(), &left_out)) {
        CM_LOG_ERROR("output_refused",
                     "a %zu-byte record for %s (key '%.*s%s') is larger than Kafka takes in one "
                     "(message.max.bytes: KAFKA_MESSAGE_MAX_BYTES, and the broker's limit); it is "
                     "left out and the stream goes on (%llu more since the last such line)",
                     o->valuelen + o->keylen, o->topic, o->keylen > 64 ? 64 : (int)o->keylen,
                     o->key ? o->key : "", o->keylen > 64 ? "..." : "", left_out);
    }
    free(o->payload);
    o->payload = NULL;
    atomic_store(&o->state, OUT_REFUSED);
}

static void on_delivery(void *opaque, const struct cm_kafka_report *r, void *ud)
{
    struct cm_stream *s = ud;
    struct output *o = opaque;
    if (r->err == CM_E_TOOBIG) { /* the broker's limit is below the client's */
        refuse(s, o);
        return;
    }
    unsigned long long left_out;
    if (r->err) {
        if (cm_log_limit_pass(&s->failed_log, cm_monotonic_ms(), &left_out)) {
            CM_LOG_WARN("produce_failed", "%s: %s (%llu more since the last such line)", o->topic,
                        r->errstr, left_out);
        }
        atomic_store(&o->state, OUT_FAILED);
        return;
    }
    /* from the first emit: a record produced again after a failure counts its retries too */
    cm_histogram_observe(s->m_ack[o->internal], (double)(cm_monotonic_ns() - o->emitted_ns) / 1e9);
    /* librdkafka is done with the lent value; an acknowledged record is never produced again */
    free(o->payload);
    o->payload = NULL;
    atomic_store(&o->state, OUT_ACKED);
}

void stream_output_free(struct output *o)
{
    if (o) {
        free(o->payload);
        free(o);
    }
}

int stream_produce(struct cm_stream *s, struct output *o)
{
    atomic_store(&o->state, OUT_INFLIGHT);
    int rc;
    /* the value is lent: the output lives until its delivery report (and past it) */
    while ((rc = cm_kafka_produce_borrowed(s->producer, o->topic, o->partition, o->key, o->keylen,
                                           o->value, o->valuelen, o->hn, o->hv, o->nheaders, o)) ==
           CM_E_FULL) {
        cm_kafka_producer_flush(s->producer, 100);
    }
    if (rc == CM_E_TOOBIG) {
        refuse(s, o);
        return 0;
    }
    unsigned long long left_out;
    if (rc != 0 && cm_log_limit_pass(&s->failed_log, cm_monotonic_ms(), &left_out)) {
        CM_LOG_WARN("produce_failed", "%s: %s (%llu more since the last such line)", o->topic,
                    cm_strerror(rc), left_out);
    }
    if (rc != 0) {
        atomic_store(&o->state, OUT_FAILED);
    }
    return rc;
}

void cm_stream_emit(struct cm_stream *s, const char *topic, const void *key, size_t keylen,
                    const void *value, size_t valuelen, const char *const *header_names,
                    const char *const *header_values, size_t nheaders)
{
    cm_stream_emit_to(s, topic, -1, key, keylen, value, valuelen, header_names, header_values,
                      nheaders);
}

int cm_stream_partitions(struct cm_stream *s, const char *topic)
{
    return s->producer ? cm_kafka_producer_partitions(s->producer, topic, 10000) : CM_E_INVAL;
}

int cm_stream_topics_missing(struct cm_stream *s, const char *const *topics, size_t n,
                             unsigned char *missing, int max_age_ms)
{
    return s->producer
               ? cm_kafka_producer_topics_missing(s->producer, topics, n, missing, 3000, max_age_ms)
               : CM_E_INVAL;
}

void cm_stream_emit_to(struct cm_stream *s, const char *topic, int32_t partition, const void *key,
                       size_t keylen, const void *value, size_t valuelen,
                       const char *const *header_names, const char *const *header_values,
                       size_t nheaders)
{
    if (nheaders > CM_STREAM_MAX_HEADERS) {
        nheaders = CM_STREAM_MAX_HEADERS;
    }
    size_t tlen = strlen(topic), nlen[CM_STREAM_MAX_HEADERS], vlen[CM_STREAM_MAX_HEADERS];
    size_t size = 2 * nheaders * sizeof(char *) + tlen + 1 + keylen + 1 + valuelen + 1;
    for (size_t i = 0; i < nheaders; i++) {
        nlen[i] = strlen(header_names[i]);
        vlen[i] = strlen(header_values[i]);
        size += nlen[i] + vlen[i] + 2;
    }
    struct output *o = cm_xmalloc(sizeof(*o));
    o->payload = cm_xmalloc(size);
    o->hn = (const char **)(void *)o->payload;
    o->hv = o->hn + nheaders;
    char *w = (char *)(o->hv + nheaders);
#define PUT(dst, src, len)                                                                         \
    do {                                                                                           \
        memcpy(w, (src), (len));                                                                   \
        w[len] = '\0';                                                                             \
        (dst) = w;                                                                                 \
        w += (len) + 1;                                                                            \
    } while (0)
    PUT(o->topic, topic, tlen);
    PUT(o->key, key ? key : "", key ? keylen : 0);
    PUT(o->value, value, valuelen);
    for (size_t i = 0; i < nheaders; i++) {
        PUT(o->hn[i], header_names[i], nlen[i]);
        PUT(o->hv[i], header_values[i], vlen[i]);
    }
#undef PUT
    o->partition = partition < 0 ? -1 : partition;
    o->keylen = key ? keylen : 0;
    o->valuelen = valuelen;
    o->nheaders = nheaders;
    o->emitted_ns = cm_monotonic_ns();
    o->internal = s->ninternal > 0 && stream_is_internal(s, topic);
    if (s->nouts == s->capouts) {
        s->capouts = s->capouts ? s->capouts * 2 : 256;
        s->outs = cm_xrealloc(s->outs, s->capouts * sizeof(*s->outs));
    }
    s->outs[s->nouts++] = o;
    if (s->ninternal > 0) {
        note_emit(s, topic, o->partition, key, keylen,
                  size - 2 * nheaders * sizeof(char *) - tlen - 1);
    }
    stream_send(s, o);
    if (s->nouts >= MAX_PENDING) {
        s->commit_requested = 1;
    }
}

void cm_stream_emit_event(struct cm_stream *s, const char *topic, const json_t *ev)
{
    const char *names[CM_EVENT_MAX_HEADERS], *values[CM_EVENT_MAX_HEADERS];
    size_t nh = cm_event_headers(ev, names, values);
    const char *key = cm_event_key(ev);
    char *text = cm_envelope_serialize(ev);
    cm_stream_emit(s, topic, key, strlen(key), text, strlen(text), names, values, nh);
    free(text);
}

int64_t cm_stream_position(const struct cm_stream *s, const char *topic, int32_t partition)
{
    const struct part *p = find_part((struct cm_stream *)s, topic, partition);
    return p ? p->next : -1;
}

void cm_stream_each_partition(const struct cm_stream *s, cm_stream_partition_fn fn, void *ud)
{
    for (size_t i = 0; i < s->nparts; i++) {
        fn(s->parts[i].topic, s->parts[i].partition, ud);
    }
}

int cm_stream_log_end(struct cm_stream *s, const char *topic, int32_t partition, int64_t *end)
{
    return cm_kafka_consumer_end_offset(s->consumer, topic, partition, end, 5000);
}

int cm_stream_has_backlog(struct cm_stream *s, const char *topic, int32_t partition)
{
    const struct part *p = find_part(s, topic, partition);
    if (!p) {
        return 0;
    }
    int64_t end = cm_kafka_consumer_cached_end(s->consumer, topic, partition);
    if (end < 0) {
        return 1; /* not fetched since it was assigned (or paused before): not known to be empty */
    }
    int64_t pos = p->next >= 0 ? p->next : p->expected;
    return pos >= 0 && end > pos;
}

void cm_stream_stop(struct cm_stream *s)
{
    atomic_store(&s->stop, 1);
}

void cm_stream_request_commit(struct cm_stream *s)
{
    s->commit_requested = 1;
}

/* ---- the loop ---- */

/* Hands the batch to the handler until it succeeds (backoff between attempts) or a stop is
 * requested. 0 when processed. */
static int process(struct cm_stream *s, struct cm_kafka_msg **msgs, size_t n)
{
    int backoff = BACKOFF_MIN_MS;
    int rc;
    while ((rc = s->h.process(s, msgs, n, s->h.ud)) != 0) {
        atomic_store(&s->batch_error, rc);
        int64_t none = 0;
        atomic_compare_exchange_strong(&s->batch_failing_since, &none, cm_now_ms());
        if (cm_lifecycle_stopping()) {
            return rc;
        }
        cm_counter_inc(s->m_batch_retries);
        CM_LOG_WARN("batch_retry", "batch of %zu records failed (%s); retrying in %d ms", n,
                    cm_strerror(rc), backoff);
        cm_lifecycle_wait(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    atomic_store(&s->batch_failing_since, 0);
    for (size_t i = 0; i < n; i++) {
        struct part *p = find_part(s, cm_kafka_msg_topic(msgs[i]), cm_kafka_msg_partition(msgs[i]));
        if (p) {
            p->next = cm_kafka_msg_offset(msgs[i]) + 1;
        }
    }
    return 0;
}

void cm_stream_run(struct cm_stream *s)
{
    size_t max = s->cfg.max_batch;
    struct cm_kafka_msg **msgs = cm_xcalloc(max, sizeof(*msgs));
    s->last_commit_ms = cm_monotonic_ms();
    int ok = 1;
    while (ok && !cm_lifecycle_stopping() && !atomic_load(&s->stop)) {
        size_t n = cm_kafka_consumer_poll_batch(s->consumer, msgs, max, 100);
        n = admit(s, msgs, n);
        if (n > 0) {
            ok = process(s, msgs, n) == 0;
            for (size_t i = 0; i < n; i++) {
                cm_kafka_msg_free(msgs[i]);
            }
        }
        if (ok) {
            stream_start_done(s); /* records skipped: processed once those before them are */
        }
        if (ok && s->h.tick) {
            s->h.tick(s, cm_monotonic_ms(), s->h.ud);
        }
        stream_send_kick(s); /* what the batch and the tick emitted */
        stream_flow_control(s, cm_monotonic_ms());
        stream_measure_lag(s, cm_monotonic_ms(), 0);
        int64_t now = cm_monotonic_ms();
        int due = s->cfg.commit_interval_ms == 0
                      ? n > 0 || s->nouts > 0
                      : now - s->last_commit_ms >= s->cfg.commit_interval_ms;
        if (ok && (due || s->commit_requested)) {
            ok = stream_commit_point(s) == 0;
        }
    }
    if (ok) {
        stream_commit_point(s);
    }
    stream_commit_drain(s);
    stream_measure_lag(s, cm_monotonic_ms(), 1);
    free(msgs);
}

/* ---- construction ---- */

struct cm_stream *cm_stream_new(const struct cm_stream_config *cfg,
                                const struct cm_stream_handler *handler)
{
    struct cm_stream *s = cm_xcalloc(1, sizeof(*s));
    s->refused_log.every_ms = 1000;
    s->failed_log.every_ms = 1000;
    s->cfg = *cfg;
    if (s->cfg.max_batch == 0) {
        s->cfg.max_batch = DEFAULT_BATCH;
    }
    if (s->cfg.commit_interval_ms < 0) {
        s->cfg.commit_interval_ms = 0;
    }
    s->h = *handler;
    pthread_mutex_init(&s->loss_lock, NULL);
    s->topics = cm_xcalloc(cfg->ntopics + 1, sizeof(*s->topics));
    for (size_t i = 0; i < cfg->ntopics; i++) {
        s->topics[i] = cm_xstrdup(cfg->topics[i]);
    }
    s->cfg.topics = (const char *const *)s->topics;
    s->cfg.brokers = NULL; /* borrowed for construction only */
    s->cfg.group = NULL;
    s->cfg.ensure = NULL;
    if (s->cfg.max_internal_lag == 0) {
        s->cfg.max_internal_lag = DEFAULT_INTERNAL_LAG;
    }
    if (s->cfg.max_internal_bytes == 0) {
        s->cfg.max_internal_bytes = DEFAULT_INTERNAL_BYTES;
    }
    set_internal(s, cfg->ensure, cfg->nensure);
    stream_start_init(s);
    s->mgroup = cfg->metrics_by_group ? cm_xstrdup(cfg->group) : NULL;
    s->m_lost = cm_metrics_counter(cfg->metrics, "records_lost_total",
                                   "records skipped because the broker no longer had them "
                                   "(fell out of retention before being consumed)",
                                   "topic");
    s->m_rewinds = cm_metrics_counter(cfg->metrics, "log_rewinds_total",
                                      "partitions whose log was found behind the position they "
                                      "resumed from (topic created anew, broker data lost); "
                                      "their records were read as new",
                                      "topic");
    s->m_refused = cm_metrics_counter(cfg->metrics, "outputs_refused_total",
                                      "emitted records Kafka refused as larger than a record may "
                                      "be (left out, logged as output_refused)",
                                      "topic");
    s->m_batch_retries = cm_metric_with(
        cm_metrics_counter(cfg->metrics, "batch_retries_total",
                           "batches handed to the handler again after it failed", NULL),
        NULL);
    s->m_output_retries = cm_metric_with(
        cm_metrics_counter(cfg->metrics, "outputs_retried_total",
                           "emitted records produced again after a failed delivery", NULL),
        NULL);
    s->m_paused = cm_metric_with(
        cm_metrics_gauge(cfg->metrics, "inputs_paused",
                         "1 while input partitions are paused because an internal (repartition) "
                         "partition lags too far behind its end",
                         s->mgroup ? "group" : NULL),
        s->mgroup, NULL);
    s->m_lag = cm_metrics_gauge(cfg->metrics, "consumer_lag_records",
                                "records not yet consumed by this instance, per input topic "
                                "(partition end as last fetched minus position)",
                                s->mgroup ? "topic,group" : "topic");
    s->m_persist_failures = cm_metric_with(
        cm_metrics_counter(cfg->metrics, "state_persist_failures_total",
                           "attempts to make a snapshot of state durable (a checkpoint) that "
                           "failed and were retried; offsets wait meanwhile",
                           NULL),
        NULL);
    s->m_not_durable = cm_metric_with(
        cm_metrics_gauge(cfg->metrics, "state_not_durable",
                         "1 while the latest snapshot of state cannot be made durable (the store "
                         "fails): processing stops at the snapshots outstanding",
                         s->mgroup ? "group" : NULL),
        s->mgroup, NULL);
    s->m_pauses = cm_metric_with(
        cm_metrics_counter(cfg->metrics, "input_pauses_total",
                           "times input partitions were paused for an internal topic's lag", NULL),
        NULL);
    if (stream_committer_start(s) != 0) {
        cm_stream_free(s);
        return NULL;
    }
    if (cfg->produce) {
        struct cm_metric *ack = cm_metrics_histogram(
            cfg->metrics, "produce_latency_seconds",
            "time from a record's emit to its acknowledgement by Kafka, of outputs and of records "
            "to internal (repartition) topics",
            "kind", cm_metrics_latency_buckets, cm_metrics_latency_nbuckets);
        s->m_ack[0] = cm_metric_with(ack, "output", NULL);
        s->m_ack[1] = cm_metric_with(ack, "internal", NULL);
        s->producer = cm_kafka_producer_new(cfg->brokers, on_delivery, s);
        if (!s->producer || stream_sender_start(s) != 0) {
            cm_stream_free(s);
            return NULL;
        }
        for (size_t i = 0; i < cfg->nensure; i++) {
            if (cm_kafka_producer_ensure_topic(s->producer, cfg->ensure[i], 10000) != 0) {
                CM_LOG_WARN("topic_missing",
                            "topic %s does not exist and the cluster did not create it; create "
                            "it (consumption waits for it)",
                            cfg->ensure[i]);
            }
        }
    }
    struct cm_kafka_rebalance rb = {on_assign, on_revoke, s};
    s->consumer = cm_kafka_consumer_new(cfg->brokers, cfg->group, cfg->topics, cfg->ntopics, &rb);
    if (!s->consumer) {
        cm_stream_free(s);
        return NULL;
    }
    cm_kafka_consumer_prioritize(s->consumer, (const char *const *)s->internal, s->ninternal);
    return s;
}

void cm_stream_free(struct cm_stream *s)
{
    if (!s) {
        return;
    }
    cm_kafka_consumer_free(s->consumer); /* revoke: a last commit point, then commit */
    stream_committer_stop(s);
    stream_sender_stop(s);
    cm_kafka_producer_free(s->producer, 5000);
    for (size_t i = 0; i < s->nouts; i++) {
        stream_output_free(s->outs[i]);
    }
    free(s->outs);
    for (size_t i = 0; i < s->norphans; i++) {
        stream_output_free(s->orphans[i]);
    }
    free(s->orphans);
    for (size_t i = 0; i < s->nparts; i++) {
        free(s->parts[i].topic);
        free(s->parts[i].stored_meta);
    }
    free(s->parts);
    for (size_t i = 0; s->topics && s->topics[i]; i++) {
        if (s->mgroup) { /* a group's gauges outlive its stream: the group reads no more */
            cm_series_forget(cm_metric_with(s->m_lag, s->topics[i], s->mgroup, NULL));
        }
        free(s->topics[i]);
    }
    free(s->topics);
    if (s->mgroup) {
        cm_series_forget(s->m_paused);
        cm_series_forget(s->m_not_durable);
    }
    free(s->mgroup);
    for (size_t i = 0; i < s->ninternal; i++) {
        free(s->internal[i]);
    }
    free(s->internal);
    free(s->internal_partitions);
    pthread_mutex_destroy(&s->loss_lock);
    free(s);
}

int cm_stream_subscribe(struct cm_stream *s, const char *const *topics, size_t ntopics,
                        const char *const *ensure, size_t nensure)
{
    for (size_t i = 0; s->producer && i < nensure; i++) {
        if (cm_kafka_producer_ensure_topic(s->producer, ensure[i], 10000) != 0) {
            CM_LOG_WARN("topic_missing",
                        "topic %s does not exist and the cluster did not create it; create it "
                        "(consumption waits for it)",
                        ensure[i]);
        }
    }
    /* before the subscription: the rebalance it brings may run on the polling thread at once */
    cm_kafka_consumer_prioritize(s->consumer, ensure, nensure);
    int rc = cm_kafka_consumer_subscribe(s->consumer, topics, ntopics);
    if (rc != 0) {
        cm_kafka_consumer_prioritize(s->consumer, (const char *const *)s->internal, s->ninternal);
        return rc;
    }
    set_internal(s, ensure, nensure);
    for (size_t i = 0; s->topics && s->topics[i]; i++) {
        /* a topic no longer read has nothing left to read here: its lag gauge would otherwise
         * keep the last value measured, on dashboards, for as long as the process runs */
        int kept = 0;
        for (size_t j = 0; j < ntopics && !kept; j++) {
            kept = strcmp(s->topics[i], topics[j]) == 0;
        }
        if (!kept) {
            cm_series_forget(cm_metric_with(s->m_lag, s->topics[i], s->mgroup, NULL));
        }
        free(s->topics[i]);
    }
    free(s->topics);
    s->topics = cm_xcalloc(ntopics + 1, sizeof(*s->topics));
    for (size_t i = 0; i < ntopics; i++) {
        s->topics[i] = cm_xstrdup(topics[i]);
    }
    s->cfg.topics = (const char *const *)s->topics;
    s->cfg.ntopics = ntopics;
    CM_LOG_INFO("stream_subscribed", "subscribed to %zu topics", ntopics);
    return 0;
}

uint64_t cm_stream_records_lost(const struct cm_stream *s)
{
    return atomic_load(&((struct cm_stream *)s)->lost);
}
