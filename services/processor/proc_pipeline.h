/* proc_pipeline: a counting pipeline: consumes events, keeps those its filter expression accepts,
 * counts them per key (an expression, `type` by default) in event-time tumbling windows, produces each closed window as a derived CloudEvent and late
 * records to the late topic. Offsets advance only past records whose windows were emitted and
 * acknowledged. Partitions idle for idle_ms flush their open windows.
 * Runs as a cm_stream handler on the stream's thread. */
#ifndef PROC_PIPELINE_H
#define PROC_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

struct cm_metrics;
struct proc_pipeline;

struct proc_pipeline_config {
    const char *name;   /* pipeline name, part of every result's id */
    const char *filter; /* expression: records for which it is not true are skipped */
    const char *key;    /* expression: the grouping key */
    const char *brokers;
    const char *group;
    const char *events_topic;
    const char *derived_topic;
    const char *late_topic;
    int64_t window_ms;
    int64_t out_of_orderness_ms;
    int64_t idle_ms;
};

/* Strings are copied. NULL after logging (one line naming the setting) when an expression does not
 * compile or Kafka cannot be configured. Caller frees with proc_pipeline_free. */
struct proc_pipeline *proc_pipeline_new(const struct proc_pipeline_config *cfg,
                                        struct cm_metrics *metrics);
/* The stream it runs on (cm_stream_run, cm_stream_add_checks); borrowed. */
struct cm_stream *proc_pipeline_stream(struct proc_pipeline *p);
/* Leaves the group (committing what was emitted), flushes, destroys. */
void proc_pipeline_free(struct proc_pipeline *p);

#endif
