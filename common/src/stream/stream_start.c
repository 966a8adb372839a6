/* stream_start: a stream that starts at a time (cm_stream_config.start_ms), as Flink's
 * OffsetsInitializer.timestamp or kafka-consumer-groups --to-datetime. A partition of a topic it
 * reads (not an internal one) that has neither a start offset from on_assign nor a committed one
 * starts at the first offset the broker finds stamped at or after the start; where the broker
 * names none (the development broker cannot look offsets up by time) it starts at the earliest.
 * Either way, records stamped before the start (their Kafka timestamp) are skipped: never handed
 * to the handler, counted in <svc>_records_before_start_total{topic}, and their offsets pass into
 * the commit once every record before them was processed, so the result does not depend on the
 * broker's answer. */
#include "stream_internal.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <string.h>

void stream_start_init(struct cm_stream *s)
{
    if (s->cfg.start_ms <= 0) {
        return;
    }
    s->m_before_start = cm_metrics_counter(s->cfg.metrics, "records_before_start_total",
                                           "records read and skipped because they are stamped "
                                           "before the time the stream starts at",
                                           "topic");
}

void stream_start_lookup(struct cm_stream *s, struct cm_kafka_partition *parts, size_t n,
                         const struct cm_kafka_partition *asked, size_t nasked)
{
    if (s->cfg.start_ms <= 0 || nasked == 0) {
        return;
    }
    struct cm_kafka_partition *fresh = cm_xcalloc(nasked, sizeof(*fresh));
    size_t nfresh = 0;
    for (size_t k = 0; k < nasked; k++) {
        if (asked[k].offset < 0 && !stream_is_internal(s, asked[k].topic)) {
            fresh[nfresh] = asked[k];
            fresh[nfresh++].metadata = NULL;
        }
    }
    char when[CM_RFC3339_LEN];
    cm_time_format_rfc3339(s->cfg.start_ms, when);
    if (nfresh > 0 && cm_kafka_consumer_offsets_for_time(s->consumer, fresh, nfresh,
                                                         s->cfg.start_ms, 5000) != 0) {
        for (size_t k = 0; k < nfresh; k++) {
            fresh[k].offset = -1;
        }
    }
    for (size_t k = 0; k < nfresh; k++) {
        for (size_t i = 0; fresh[k].offset >= 0 && i < n; i++) {
            if (parts[i].partition == fresh[k].partition &&
                strcmp(parts[i].topic, fresh[k].topic) == 0) {
                parts[i].offset = fresh[k].offset;
            }
        }
        if (fresh[k].offset >= 0) {
            CM_LOG_INFO("stream_start_at_time",
                        "%s [%d] starts at offset %lld, the first stamped at or after %s",
                        fresh[k].topic, fresh[k].partition, (long long)fresh[k].offset, when);
        } else {
            CM_LOG_INFO("stream_start_at_time",
                        "%s [%d]: the broker names no offset stamped at or after %s; it is read "
                        "from the earliest, skipping the records stamped before",
                        fresh[k].topic, fresh[k].partition, when);
        }
    }
    free(fresh);
}

int stream_start_skip(struct cm_stream *s, struct part *p, const struct cm_kafka_msg *m)
{
    if (s->cfg.start_ms <= 0 || p->internal) {
        return 0;
    }
    int64_t t = cm_kafka_msg_timestamp_ms(m);
    if (t < 0 || t >= s->cfg.start_ms) {
        return 0;
    }
    p->skipped_next = cm_kafka_msg_offset(m) + 1;
    cm_counter_add(cm_metric_with(s->m_before_start, p->topic, NULL), 1);
    return 1;
}

void stream_start_done(struct cm_stream *s)
{
    for (size_t i = 0; s->cfg.start_ms > 0 && i < s->nparts; i++) {
        struct part *p = &s->parts[i];
        if (p->skipped_next >= 0 && p->skipped_next > p->next) {
            p->next = p->skipped_next;
        }
        p->skipped_next = -1;
    }
}
