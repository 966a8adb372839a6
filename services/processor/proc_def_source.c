/* proc_def_source: a pipeline's `source`: the topics it reads, its filter, the event time it
 * takes, and where it starts (`start`: "earliest", "latest" or a time, on a consumer group of
 * its own; proc_fleet.h). */
#include "proc_def.h"
#include "proc_def_int.h"

#include "cm/err.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_topics(struct proc_def *d, const json_t *src, const char *defaults, char *err,
                        size_t errlen)
{
    const json_t *topics = json_object_get(src, "topics");
    if (!topics) {
        char *copy = cm_xstrdup(defaults), *save = NULL;
        d->topics = cm_xcalloc(strlen(defaults) + 2, sizeof(char *));
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            d->topics[d->ntopics++] = cm_xstrdup(t);
        }
        free(copy);
    } else if (!json_is_array(topics) || json_array_size(topics) == 0 ||
               json_array_size(topics) > 16) {
        return proc_def_fail(err, errlen, "source.topics: must be an array of 1 to 16 topic names");
    } else {
        d->topics = cm_xcalloc(json_array_size(topics), sizeof(char *));
        size_t i;
        const json_t *t;
        json_array_foreach(topics, i, t)
        {
            const char *name = json_string_value(t);
            if (!name || !cm_kafka_topic_name_ok(name)) {
                return proc_def_fail(
                    err, errlen,
                    "source.topics[%zu]: must be a topic name (1 to 249 of a-z, A-Z, "
                    "0-9, '.', '_', '-')",
                    i);
            }
            d->topics[d->ntopics++] = cm_xstrdup(name);
        }
    }
    for (size_t i = 0; i < d->ntopics; i++) {
        if (proc_def_is_repartition_topic(d->topics[i])) {
            return proc_def_fail(
                err, errlen,
                "source.topics[%zu]: a topic named *.repartition is a pipeline's own "
                "repartition topic",
                i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(d->topics[i], d->topics[j]) == 0) {
                return proc_def_fail(err, errlen, "source.topics[%zu]: '%s' is listed twice", i,
                                     d->topics[i]);
            }
        }
    }
    return 0;
}

static int parse_start(struct proc_def *d, const json_t *start, char *err, size_t errlen)
{
    const char *text = json_string_value(start);
    int64_t ms = 0;
    int latest = text && strcmp(text, "latest") == 0;
    if (!text ||
        (!latest && strcmp(text, "earliest") != 0 && cm_time_parse_rfc3339(text, &ms) != 0)) {
        return proc_def_fail(err, errlen,
                             "source.start: must be \"earliest\" (the beginning of the topics), "
                             "\"latest\" (the records stamped from the moment the pipeline is "
                             "put on) or an RFC 3339 time such as \"2026-12-01T00:00:00Z\" (the "
                             "records stamped at or after it), read on a consumer group of the "
                             "pipeline's own; without it the pipeline starts at the processor's "
                             "position");
    }
    d->own_group = 1;
    d->start_latest = latest;
    d->start_ms = ms > 0 ? ms : 0;
    return 0;
}

int proc_def_parse_source(struct proc_def *d, const json_t *src, const char *default_topics,
                          char *err, size_t errlen)
{
    static const char *const allowed[] = {"topics", "filter", "time", "start", NULL};
    if (src && !json_is_object(src)) {
        return proc_def_fail(err, errlen, "source: must be an object");
    }
    if ((src && proc_def_only(src, "source", allowed, err, errlen)) ||
        parse_topics(d, src, default_topics, err, errlen) ||
        (src && json_object_get(src, "filter") &&
         proc_def_compile(json_object_get(src, "filter"), "source.filter", &d->filter, err,
                          errlen)) ||
        (src && json_object_get(src, "time") &&
         proc_def_compile(json_object_get(src, "time"), "source.time", &d->time, err, errlen))) {
        return CM_E_INVAL;
    }
    const json_t *start = src ? json_object_get(src, "start") : NULL;
    return start ? parse_start(d, start, err, errlen) : 0;
}
