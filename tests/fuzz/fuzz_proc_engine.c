/* fuzz_proc_engine: libFuzzer target for the processor's engine over hostile events (records on
 * the input topics, and the dry run's request bodies, come from anyone who may write them). The
 * input is lines, each an event (any JSON object: its `time` or, without one, a time that grows
 * line by line, or on every eleventh line one past year 9999) or a watermark line; they go through
 * pipelines of every kind (map, flatMap with and without `as`, filter; tumbling, hopping with an
 * offset, session windows (retracting what merges replace) with every aggregate, `having`, update
 * mode, lateness, early firings; a
 * stateless transform; an interval join; a tumbling window over the times data.at gives:
 * source.time), then a last watermark flushes every window. Line i is
 * read at i ms from partition i % 3, the three partitions awaited from the start; the session
 * pipeline's partitions turn idle after 2 ms, unless said to have records waiting. The session
 * pipeline and the interval join hold at most 4 and 3 keys per partition (max_keys), and the
 * hopping one at most 3 of a tenant (max_keys_per_tenant), and a key of the join at most 4 events
 * (max_events_per_key), so events past them are refused as dead letters. Each event comes
 * as a record keyed by its subject (or not keyed), so the check of records not keyed by the
 * pipeline's key runs on every event it windows. The sanitizers catch memory errors and leaks; a
 * second run of the same input must emit the same results, byte for byte (a replay gives the same
 * ids and values). */
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"

#include "fuzz_proc_out.h"

#include "cm/event.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const defs[] = {
    "{\"name\": \"all\", \"source\": {\"filter\": \"type != 'skip'\"},"
    " \"steps\": [{\"flatMap\": {\"expr\": \"data.items\", \"as\": \"item\"}},"
    "  {\"map\": {\"k\": \"string(data.item.k)\", \"v\": \"double(data.item.v)\"}},"
    "  {\"filter\": \"data.v >= 0.0\"}],"
    " \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"10ms\"},"
    " \"out_of_orderness\": \"5ms\", \"allowed_lateness\": \"20ms\", \"early\": \"3ms\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"a\": \"avg(data.v)\","
    "  \"lo\": \"min(data.v)\", \"hi\": \"max(data.v)\", \"d\": \"distinct(subject)\","
    "  \"p\": \"percentile(data.v, 0.9)\"}, \"having\": \"n >= 1\"}",
    "{\"name\": \"hop\", \"key\": \"subject\", \"max_keys_per_tenant\": 3, \"window\": {\"type\": "
    "\"hopping\", \"size\": "
    "\"20ms\", \"slide\": \"5ms\", \"offset\": \"-2ms\"}, \"emit\": \"update\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"d\": \"distinct(data.v)\","
    "  \"sd\": \"stddev(data.v)\", \"f\": \"first(data.v)\", \"l\": \"last(data)\","
    "  \"t\": \"topk(data.v, 3)\", \"td\": \"topk_distinct(data.v, 2)\"}}",
    "{\"name\": \"sess\", \"key\": \"string(data.k)\", \"max_keys\": 4, \"window\": {\"type\": "
    "\"session\", "
    "\"gap\": "
    "\"7ms\", \"retract\": true}, \"out_of_orderness\": \"3ms\", \"allowed_lateness\": \"5ms\", "
    "\"idle_timeout\": "
    "\"2ms\","
    " \"aggregates\": {\"n\": \"count()\", \"p\": \"percentile(data.v, 0.5)\","
    "  \"lo\": \"min(data.v)\", \"cl\": \"collect_list(data.v, 3)\", \"cs\": "
    "\"collect_set(data)\", \"ci\": \"count_if(data.k == 'a')\"}}",
    "{\"name\": \"flat\", \"steps\": [{\"flatMap\": \"data.items\"},"
    "  {\"flatMap\": {\"expr\": \"data.more\", \"as\": \"m\"}}, {\"map\": {\"x\": \"data\"}}]}",
    "{\"name\": \"ij\", \"key\": \"string(data.k)\", \"max_keys\": 3, \"interval_join\": {"
    " \"left\": {\"filter\": \"type == 'l'\"}, \"right\": {\"filter\": \"type == 'r'\"},"
    " \"lower\": \"-5ms\", \"upper\": \"5ms\", \"type\": \"left\", \"max_events_per_key\": 4}}",
    ("{\"name\": \"et\", \"source\": {\"time\": \"data.at\"}, \"key\": \"subject\","
     " \"window\": {\"type\": \"tumbling\", \"size\": \"4ms\"}, \"out_of_orderness\": \"1ms\","
     " \"aggregates\": {\"n\": \"count()\"}}"),
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

/* Whether a partition has records waiting, as the stream would say: now and then. */
static int backlog(int32_t source, void *ud)
{
    return (source + *(const int64_t *)ud) % 5 == 0;
}

/* A record keyed otherwise than by its event's pipeline key: the keys given must differ. */
static void mismatch(const struct proc_def *d, int32_t source, int64_t offset,
                     const struct proc_record_key *rkey, const char *key, void *ud)
{
    (void)d;
    (void)source;
    (void)offset;
    (void)ud;
    if (strlen(key) == rkey->len && (rkey->len == 0 || memcmp(key, rkey->key, rkey->len) == 0)) {
        abort(); /* reported, but the keys are equal */
    }
}

static void run(const struct proc_def *d, const char *in, size_t size, struct outs *w)
{
    struct proc_engine_out out = outs_sink(w);
    out.key_mismatch = mismatch;
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    size_t pos = 0;
    int64_t line = 0;
    for (int32_t p = 0; p < 3; p++) { /* assigned: awaited until their first event */
        proc_engine_expect_source(e, p, 0);
    }
    while (pos < size) {
        proc_engine_note_backlog(e, line, backlog, &line);
        const char *nl = memchr(in + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (in + pos)) : size - pos;
        json_t *v = json_loadb(in + pos, len, 0, NULL);
        int64_t wm;
        const char *why;
        if (json_is_object(v) && proc_engine_watermark_input(v, &wm, &why) == 1) {
            proc_engine_watermark(e, wm);
        } else {
            struct cm_event ev;
            if (cm_event_from_text(in + pos, len, outs_record_time(line), CM_EVENT_OBJECT, &ev,
                                   &why) == 0) {
                /* the record's Kafka key: the event's subject (a copy of exactly its bytes), or
                 * none; the key check must not change what is emitted */
                const char *subject = json_string_value(json_object_get(ev.ev, "subject"));
                size_t klen = subject ? json_string_length(json_object_get(ev.ev, "subject")) : 0;
                char *kbytes = klen ? malloc(klen) : NULL;
                if (kbytes) {
                    memcpy(kbytes, subject, klen);
                }
                struct proc_record_key rkey = {kbytes, klen};
                /* the record's timestamp: mostly the event's time, sometimes one far behind it
                 * (max_time_ahead refuses the event) or far ahead */
                int64_t record_ms = line % 7 == 6 ? outs_record_time(line) : ev.time_ms;
                proc_engine_process_record(e, (int32_t)(line % 3), ev.ev, ev.time_ms, record_ms,
                                           line, &rkey, line);
                free(kbytes);
                cm_event_clear(&ev);
            }
        }
        json_decref(v);
        line++;
        pos += len + 1;
        proc_engine_tick(e, line);
    }
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    proc_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so reading past them is caught */
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    for (size_t i = 0; i < NDEFS; i++) {
        struct proc_def *d = outs_def(defs[i]);
        struct outs a = {0}, b = {0};
        run(d, in, size, &a);
        run(d, in, size, &b);
        if (!outs_same(&a, &b, 0)) {
            abort(); /* a replay of the same input emitted something else */
        }
        outs_free(&a);
        outs_free(&b);
        proc_def_free(d);
    }
    free(in);
    return 0;
}
