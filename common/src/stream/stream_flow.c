/* stream_flow: the stream runtime's watch over its backlog: pausing the inputs while a partition
 * of an internal topic (a repartition topic it reads back) lags too far behind what was written
 * to it, and measuring consumer lag per input topic for the metrics. On the stream's thread. */
#include "stream_internal.h"

#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"

#include <stdlib.h>
#include <string.h>

#define FLOW_CHECK_MS 1 /* a first stage can emit thousands of records in 50 ms */
#define LAG_CHECK_MS 1000

/* Flow control: pauses the input partitions while an internal partition read here lags more
 * than max_internal_lag records, or max_internal_bytes bytes, behind its end; resumes them once
 * every such lag is below half of both. */
void stream_flow_control(struct cm_stream *s, int64_t now)
{
    int64_t limit = s->cfg.max_internal_lag, blimit = s->cfg.max_internal_bytes;
    if ((limit < 0 && blimit < 0) || s->ninternal == 0 ||
        now - s->flow_checked_ms < FLOW_CHECK_MS) {
        return;
    }
    s->flow_checked_ms = now;
    int64_t worst = 0, worst_bytes = 0;
    const struct part *at = NULL;
    for (size_t i = 0; i < s->nparts; i++) {
        const struct part *p = &s->parts[i];
        /* nothing read yet from a partition without a committed offset: from its start */
        int64_t pos = p->next >= 0 ? p->next : (p->expected >= 0 ? p->expected : 0);
        int64_t end =
            p->internal ? cm_kafka_consumer_cached_end(s->consumer, p->topic, p->partition) : -1;
        if (p->internal && p->base + p->emitted > end) {
            end = p->base + p->emitted;
        }
        if (end < 0 || pos < 0 || end <= pos) {
            continue;
        }
        int64_t bytes = p->seen_records > 0
                            ? (int64_t)((double)(end - pos) * (p->seen_bytes / p->seen_records))
                            : 0;
        if (end - pos > worst) {
            worst = end - pos;
            at = p;
        }
        if (bytes > worst_bytes) {
            worst_bytes = bytes;
            at = at ? at : p;
        }
    }
    int over = (limit >= 0 && worst > limit) || (blimit >= 0 && worst_bytes > blimit);
    int above_half = (limit >= 0 && worst > limit / 2) || (blimit >= 0 && worst_bytes > blimit / 2);
    int want = s->throttled ? above_half : over;
    if (want != s->throttled) {
        s->throttled = want;
        cm_gauge_set(s->m_paused, want);
        if (want) {
            cm_counter_inc(s->m_pauses);
            CM_LOG_INFO("stream_paused",
                        "inputs paused: %s [%d] is %lld records (about %lld bytes) behind its end "
                        "(limits %lld records, %lld bytes)",
                        at->topic, (int)at->partition, (long long)worst, (long long)worst_bytes,
                        (long long)limit, (long long)blimit);
        } else {
            CM_LOG_INFO("stream_resumed",
                        "inputs resumed: internal lag down to %lld records (about %lld bytes)",
                        (long long)worst, (long long)worst_bytes);
        }
    }
    struct cm_kafka_partition *change = cm_xcalloc(s->nparts ? s->nparts : 1, sizeof(*change));
    size_t n = 0;
    for (size_t i = 0; i < s->nparts; i++) {
        struct part *p = &s->parts[i];
        if (!p->internal && p->paused != want) {
            change[n++] = (struct cm_kafka_partition){p->topic, p->partition, 0, NULL};
            p->paused = want;
        }
    }
    if (n > 0 && cm_kafka_consumer_pause(s->consumer, change, n, want) != 0) {
        CM_LOG_WARN("stream_pause_failed", "could not %s %zu partitions", want ? "pause" : "resume",
                    n);
    }
    free(change);
}

/* Consumer lag: per input topic, the records between our position and the partition's end (as
 * the last fetch saw it), summed over the partitions this instance holds. */
void stream_measure_lag(struct cm_stream *s, int64_t now, int force)
{
    if (!force && now - s->lag_checked_ms < LAG_CHECK_MS) {
        return;
    }
    s->lag_checked_ms = now;
    int64_t total = 0;
    for (size_t t = 0; s->topics[t]; t++) {
        int64_t lag = 0;
        for (size_t i = 0; i < s->nparts; i++) {
            const struct part *p = &s->parts[i];
            if (strcmp(p->topic, s->topics[t]) != 0) {
                continue;
            }
            int64_t pos = p->next >= 0 ? p->next : p->expected;
            int64_t end = cm_kafka_consumer_cached_end(s->consumer, p->topic, p->partition);
            if (pos >= 0 && end > pos) {
                lag += end - pos;
            }
        }
        cm_gauge_set(cm_metric_with(s->m_lag, s->topics[t], s->mgroup, NULL), (double)lag);
        total += lag;
    }
    atomic_store(&s->lag_total, total);
}
