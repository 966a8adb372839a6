/* proc_stages: what passes between the two stages of a keyed pipeline through its repartition
 * topic, as the host handles it (see proc_host_int.h): the second stage's intake of the frames
 * and watermark reports read back (each with when it was sent, so that a silent sender's idle
 * report stops counting: proc_engine_report), and the first stage's periodic reports of its
 * input partitions' watermarks. */
#include "proc_host_int.h"

#include "proc_def.h"
#include "proc_engine.h"
#include "proc_frame.h"

#include "cm/event.h"
#include "cm/jsonw.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* When a repartition record was sent: its timestamp, within the times an event can state (0 for
 * none), so that its reports' freshness can be judged (proc_engine_report). */
static int64_t record_sent(const struct cm_kafka_msg *m)
{
    int64_t t = cm_kafka_msg_timestamp_ms(m);
    return t < 0 ? 0 : t > CM_TIME_MAX_MS ? CM_TIME_MAX_MS : t;
}

/* A frame read from a repartition partition goes to the second stage of its version. */
static void take_frame(struct proc_host *h, const struct cm_kafka_msg *m, long long version,
                       int64_t now)
{
    const char *topic = cm_kafka_msg_topic(m);
    int32_t part = cm_kafka_msg_partition(m);
    int64_t offset = cm_kafka_msg_offset(m);
    struct pipeline *p = NULL;
    for (size_t k = 0; k < h->n && !p; k++) {
        const struct proc_def *d = h->p[k].def;
        if (d->repartition && d->version == version && strcmp(topic, d->repartition_topic) == 0) {
            p = &h->p[k];
        }
    }
    if (!p) {
        return; /* prepared by another version of the pipeline */
    }
    size_t len, pos = 0;
    const char *data = cm_kafka_msg_value(m, &len);
    struct proc_frame_entry fe;
    int rc;
    while ((rc = proc_frame_next(data ? data : "", data ? len : 0, &pos, &fe)) == 1) {
        const char *why;
        if (proc_engine_take_entry(p->engine, part, &fe, offset, record_sent(m), now, &why) != 0) {
            cm_event_log_invalid(m, why);
            cm_counter_inc(h->m_invalid);
        }
    }
    if (rc < 0) {
        cm_event_log_invalid(m, "malformed repartition frame");
        cm_counter_inc(h->m_invalid);
    }
}

#define REPORT_EVERY_MS 200

/* A first stage's report {"watermarks": [[origin, wm, idle], ...]} read from a repartition
 * partition goes to the second stage of the version that sent it. */
static void take_reports(struct proc_host *h, const struct cm_kafka_msg *m)
{
    const char *topic = cm_kafka_msg_topic(m);
    char version[24];
    long long v = cm_kafka_msg_header(m, "version", version, sizeof(version)) == 0
                      ? strtoll(version, NULL, 10)
                      : -1;
    size_t len;
    const char *text = cm_kafka_msg_value(m, &len);
    json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    const json_t *list = json_object_get(doc, "watermarks");
    int64_t sent = record_sent(m);
    if (!json_is_array(list)) {
        cm_event_log_invalid(m, "watermark report that is not {\"watermarks\": [...]}");
        cm_counter_inc(h->m_invalid);
    }
    for (size_t k = 0; json_is_array(list) && k < h->n; k++) {
        const struct proc_def *d = h->p[k].def;
        if (!d->repartition || d->version != v || strcmp(topic, d->repartition_topic) != 0) {
            continue;
        }
        size_t i;
        const json_t *r;
        json_array_foreach(list, i, r)
        {
            const json_t *o = json_array_get(r, 0), *wm = json_array_get(r, 1);
            if (json_is_integer(o) && json_is_integer(wm)) {
                proc_engine_report(h->p[k].engine, cm_kafka_msg_partition(m),
                                   (int32_t)json_integer_value(o), json_integer_value(wm),
                                   json_is_true(json_array_get(r, 2)), sent);
            }
        }
    }
    json_decref(doc);
}

/* A record of a repartition topic: a watermark report or a frame (header kind). Anything else
 * there (written by something other than a processor) is counted invalid. */
void proc_host_take_repartition(struct proc_host *h, const struct cm_kafka_msg *m, int64_t now)
{
    char kind[16], text[64];
    if (cm_kafka_msg_header(m, "kind", kind, sizeof(kind)) != 0) {
        kind[0] = '\0';
    }
    if (strcmp(kind, "watermark") == 0) {
        take_reports(h, m);
    } else if (strcmp(kind, "frame") == 0 &&
               cm_kafka_msg_header(m, "version", text, sizeof(text)) == 0) {
        take_frame(h, m, strtoll(text, NULL, 10), now);
    } else {
        cm_event_log_invalid(m,
                             "repartition record that is neither a frame nor a watermark report");
        cm_counter_inc(h->m_invalid);
    }
}

/* Tells a second stage every input partition of its pipeline (whose reports it awaits): when it
 * starts, and after every rebalance, since an input topic may have grown (Kafka then rebalances
 * the group); the engine keeps the reports of the partitions it knew. */
void proc_host_learn_origins(struct proc_host *h, struct pipeline *p)
{
    int32_t *ids = NULL;
    size_t n = 0;
    for (size_t i = 0; i < p->def->ntopics; i++) {
        int parts = cm_stream_partitions(h->cur, p->def->topics[i]);
        if (parts <= 0) {
            free(ids);
            return; /* asked again at the next report */
        }
        ids = cm_xrealloc(ids, (n + (size_t)parts) * sizeof(*ids));
        for (int k = 0; k < parts; k++) {
            ids[n++] = (int32_t)(i * 65536 + (size_t)k);
        }
    }
    proc_engine_use_reports(p->engine, ids, n);
    p->origins_known = 1;
    free(ids);
}

struct report_ctx {
    json_t *list;
    struct proc_host *h;
    const struct proc_def *d;
};

/* An input partition's watermark for the report. It counts as idle (left out of the second
 * stage's minimum) only when it also has nothing waiting to be read: records held back while
 * the second stage catches up (priority, flow control) are not a partition gone quiet, and
 * passing them by would make them late. */
static void add_report(int32_t origin, int64_t wm, int idle, void *ud)
{
    struct report_ctx *c = ud;
    size_t topic = (size_t)origin / 65536;
    if (idle && topic < c->d->ntopics &&
        cm_stream_has_backlog(c->h->cur, c->d->topics[topic], origin % 65536)) {
        idle = 0;
    }
    json_array_append_new(c->list, json_pack("[i, I, b]", (int)origin, (json_int_t)wm, idle));
}

/* Every REPORT_EVERY_MS, each repartitioned pipeline's first stage sends the watermarks of the
 * input partitions it reads to every partition of its repartition topic. */
void proc_host_send_reports(struct proc_host *h, int64_t now)
{
    for (size_t k = 0; h->cur && k < h->n; k++) {
        struct pipeline *p = &h->p[k];
        if (!p->def->repartition || now - p->reported_ms < REPORT_EVERY_MS) {
            continue;
        }
        if (!p->origins_known) {
            proc_host_learn_origins(h, p);
        }
        p->reported_ms = now;
        json_t *list = json_array();
        struct report_ctx rc = {list, h, p->def};
        proc_engine_origin_watermarks(p->engine, now, add_report, &rc);
        if (json_array_size(list) > 0 && proc_host_rep_partitions(h, p) > 0) {
            json_t *doc = json_pack("{s:o}", "watermarks", list);
            char *text = cm_json_dumps(doc, NULL);
            char version[24];
            snprintf(version, sizeof(version), "%lld", p->def->version);
            const char *names[] = {"kind", "version"}, *values[] = {"watermark", version};
            for (int part = 0; part < p->rep_partitions; part++) {
                cm_stream_emit_to(h->cur, p->def->repartition_topic, part, NULL, 0, text,
                                  strlen(text), names, values, 2);
            }
            free(text);
            json_decref(doc);
        } else {
            json_decref(list);
        }
    }
}
