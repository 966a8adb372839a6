/* dlq: a record to the dead-letter topic with its reasons (see dlq.h). */
#include "cm/dlq.h"

#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/stream.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLQ_HEADERS (5 + CM_DLQ_MAX_BY)

void cm_dlq_send(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                 const char *sink, const char *error, int attempts)
{
    static struct cm_log_limit lim = CM_LOG_LIMIT(1000);
    const char *name = "dlq_sink";
    unsigned long long left_out;
    if (cm_log_limit_pass(&lim, cm_monotonic_ms(), &left_out)) {
        CM_LOG_WARN("dead_letter",
                    "%s [%d] @%lld → %s: %s: %s (%llu more since the last such line)",
                    cm_kafka_msg_topic(m), (int)cm_kafka_msg_partition(m),
                    (long long)cm_kafka_msg_offset(m), dlq_topic, sink, error, left_out);
    }
    cm_dlq_send_by(s, dlq_topic, m, &name, &sink, 1, error, attempts);
}

/* Sends (key, value) to dlq_topic with headers: the nh given (C strings), then who gave up, the
 * error, the attempts and where m came from. */
static void send(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                 const void *key, size_t klen, const void *value, size_t vlen, const char **names,
                 const char **values, size_t nh, const char *const *by_names,
                 const char *const *by_values, size_t nby, const char *error, int attempts)
{
    if (nby > CM_DLQ_MAX_BY) {
        nby = CM_DLQ_MAX_BY;
    }
    char att[16], part[16], off[24];
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(part, sizeof(part), "%d", (int)cm_kafka_msg_partition(m));
    snprintf(off, sizeof(off), "%lld", (long long)cm_kafka_msg_offset(m));
    for (size_t i = 0; i < nby; i++) {
        names[nh] = by_names[i];
        values[nh++] = by_values[i];
    }
    const char *extra[5][2] = {{"dlq_error", error},
                               {"dlq_attempts", att},
                               {"dlq_topic", cm_kafka_msg_topic(m)},
                               {"dlq_partition", part},
                               {"dlq_offset", off}};
    for (size_t i = 0; i < 5; i++) {
        names[nh] = extra[i][0];
        values[nh++] = extra[i][1];
    }
    cm_stream_emit(s, dlq_topic, key, key ? klen : 0, value ? value : "", value ? vlen : 0, names,
                   values, nh);
}

void cm_dlq_send_by(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                    const char *const *by_names, const char *const *by_values, size_t nby,
                    const char *error, int attempts)
{
    const char *names[CM_STREAM_MAX_HEADERS], *values[CM_STREAM_MAX_HEADERS];
    const void *raw[CM_STREAM_MAX_HEADERS];
    size_t lens[CM_STREAM_MAX_HEADERS];
    char *copies[CM_STREAM_MAX_HEADERS];
    size_t n = cm_kafka_msg_headers(m, CM_STREAM_MAX_HEADERS - DLQ_HEADERS, names, raw, lens);
    for (size_t i = 0; i < n; i++) { /* the record's own headers, as C strings */
        copies[i] = cm_xstrndup(raw[i] ? raw[i] : "", raw[i] ? lens[i] : 0);
        values[i] = copies[i];
    }
    size_t klen, vlen;
    const void *key = cm_kafka_msg_key(m, &klen);
    const void *value = cm_kafka_msg_value(m, &vlen);
    send(s, dlq_topic, m, key, klen, value, vlen, names, values, n, by_names, by_values, nby, error,
         attempts);
    for (size_t i = 0; i < n; i++) {
        free(copies[i]);
    }
}

void cm_dlq_send_value(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                       const char *key, const char *value, size_t vlen, const char *const *hnames,
                       const char *const *hvalues, size_t nh, const char *const *by_names,
                       const char *const *by_values, size_t nby, const char *error)
{
    const char *names[CM_STREAM_MAX_HEADERS], *values[CM_STREAM_MAX_HEADERS];
    nh = nh < CM_STREAM_MAX_HEADERS - DLQ_HEADERS ? nh : CM_STREAM_MAX_HEADERS - DLQ_HEADERS;
    for (size_t i = 0; i < nh; i++) {
        names[i] = hnames[i];
        values[i] = hvalues[i];
    }
    send(s, dlq_topic, m, key, key ? strlen(key) : 0, value, vlen, names, values, nh, by_names,
         by_values, nby, error, 1);
}
