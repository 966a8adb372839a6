/* proc_def_out: where a pipeline definition's outputs go, parsed and validated: the sink topic of
 * its results, the dead-letter topic of the events it cannot process, and the grouping of its
 * results into batch events. */
#include "proc_def.h"
#include "proc_def_int.h"

#include "cm/err.h"
#include "cm/kafka.h"
#include "cm/mem.h"

#include <string.h>

/* An output topic of the pipeline (field names it in errors): a valid name, neither a
 * repartition topic nor one of its source topics (it would read what it writes, without end). */
static int output_topic(const struct proc_def *d, const char *topic, const char *field, char *err,
                        size_t errlen)
{
    if (!topic || !cm_kafka_topic_name_ok(topic)) {
        return proc_def_fail(err, errlen,
                             "%s: must be a topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')",
                             field);
    }
    if (proc_def_is_repartition_topic(topic)) {
        return proc_def_fail(err, errlen,
                             "%s: a topic named *.repartition is a pipeline's own repartition "
                             "topic",
                             field);
    }
    for (size_t i = 0; i < d->ntopics; i++) {
        if (strcmp(topic, d->topics[i]) == 0) {
            return proc_def_fail(err, errlen,
                                 "%s: '%s' is also a source topic: the pipeline would read its "
                                 "own output again, without end",
                                 field, topic);
        }
    }
    return 0;
}

/* "dead_letter": {"topic": T} or false; absent: the processor's default topic. */
static int parse_dead_letter(struct proc_def *d, const json_t *v, char *err, size_t errlen)
{
    static const char *const allowed[] = {"topic", NULL};
    if (!v) {
        return 0;
    }
    if (json_is_false(v)) {
        d->dead_letter_off = 1;
        return 0;
    }
    if (!json_is_object(v)) {
        return proc_def_fail(err, errlen,
                             "dead_letter: must be an object {\"topic\": \"...\"} or false");
    }
    if (proc_def_only(v, "dead_letter", allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    const char *topic = json_string_value(json_object_get(v, "topic"));
    if (output_topic(d, topic, "dead_letter.topic", err, errlen)) {
        return CM_E_INVAL;
    }
    d->dead_letter_topic = cm_xstrdup(topic);
    return 0;
}

/* "batch": {"max": N, "timeout": "30s"}: outputs grouped into events of up to N. */
static int parse_batch(struct proc_def *d, const json_t *b, char *err, size_t errlen)
{
    static const char *const allowed[] = {"max", "timeout", NULL};
    if (!b) {
        return 0;
    }
    if (!json_is_object(b)) {
        return proc_def_fail(err, errlen,
                             "batch: must be an object {\"max\": N, \"timeout\": \"30s\"}");
    }
    if (proc_def_only(b, "batch", allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    const json_t *max = json_object_get(b, "max");
    if (!json_is_integer(max) || json_integer_value(max) < 1 ||
        json_integer_value(max) > PROC_BATCH_MAX) {
        return proc_def_fail(err, errlen, "batch.max: must be an integer from 1 to %d",
                             PROC_BATCH_MAX);
    }
    d->batch_max = (int)json_integer_value(max);
    return proc_def_duration(b, "timeout", "batch.timeout", 30000, 1, &d->batch_timeout_ms, err,
                             errlen);
}

int proc_def_parse_outputs(struct proc_def *d, const json_t *doc, const char *default_sink,
                           char *err, size_t errlen)
{
    const json_t *sink = json_object_get(doc, "sink");
    static const char *const sink_allowed[] = {"topic", NULL};
    if (sink && (!json_is_object(sink) || proc_def_only(sink, "sink", sink_allowed, err, errlen))) {
        return json_is_object(sink) ? CM_E_INVAL
                                    : proc_def_fail(err, errlen, "sink: must be an object");
    }
    const char *topic = sink ? json_string_value(json_object_get(sink, "topic")) : default_sink;
    if (output_topic(d, topic, "sink.topic", err, errlen)) {
        return CM_E_INVAL;
    }
    d->sink_topic = cm_xstrdup(topic);
    if (parse_dead_letter(d, json_object_get(doc, "dead_letter"), err, errlen)) {
        return CM_E_INVAL;
    }
    return parse_batch(d, json_object_get(doc, "batch"), err, errlen);
}
