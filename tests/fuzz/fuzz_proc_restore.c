/* fuzz_proc_restore: libFuzzer target for the checkpoints the processor reads back from Redis
 * (proc_ckpt_restore: the hash's offset, watermarks, reports, origin marks and horizon, and each
 * key's panes or sessions, revisions, interval-join entries, ids kept for deduplication and
 * accumulators' sketches; the first tumbling and the first session pipeline deduplicate, the
 * session one keeping at most 3 ids a key). Redis
 * is outside the process: a checkpoint written by another version, edited by hand or damaged
 * must be refused whole or taken, never crash, overflow or leak. A state taken must then work as
 * state the engine made itself does: its keys written again restore into a fresh engine, which
 * writes the same bytes a second time; each key is answered as the windows query answers it
 * (restored alone and peeked); events added to it and a last watermark that flushes every
 * window run through it under the sanitizers. The interval join holds at most 3 keys (max_keys)
 * and 3 events a key (max_events_per_key), the first tumbling pipeline at most 2 keys of a tenant
 * (max_keys_per_tenant): a checkpoint of more is taken whole, and events past them are then
 * refused.
 * Input: the first byte picks the definition; then one line, a JSON object of the hash's fields
 * (as in Redis: "offset", "whole", "seq", "wseq", "wm", "swm", "hz", "o:<n>", "r:<n>", and
 * "k:<tenant>\x1f<key>" -> the key's state, "d<n>:<tenant>\x1f<key>" -> a block of its ids, each
 * value a string); then lines
 * "<time ms> <subject>" of events to add (tenant "t" when the subject starts with "t"). */
#include "../../services/processor/proc_ckpt.h"
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_query.h"
#include "../../services/processor/proc_window.h"

#include "fuzz_proc_out.h"

#include "cm/log.h"
#include "cm/mem.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const defs[] = {
    "{\"name\": \"t\", \"key\": \"subject\", \"max_keys_per_tenant\": 2, \"deduplicate\": true,"
    " \"window\": {\"type\": "
    "\"tumbling\", \"size\": "
    "\"10ms\"}, \"out_of_orderness\": \"5ms\", \"allowed_lateness\": \"20ms\", \"early\": \"4ms\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"a\": \"avg(data.v)\","
    "  \"lo\": \"min(data.v)\", \"hi\": \"max(data.v)\", \"d\": \"distinct(data.v)\","
    "  \"p\": \"percentile(data.v, 0.9)\"}}",
    "{\"name\": \"h\", \"key\": \"subject\", \"window\": {\"type\": \"hopping\", \"size\": "
    "\"20ms\", \"slide\": \"5ms\"}, \"emit\": \"update\", \"having\": \"n > 1\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\","
    "  \"p\": \"percentile(data.v, 0.5)\", \"f\": \"first(data.v)\"}}",
    "{\"name\": \"s\", \"key\": \"subject\", \"window\": {\"type\": \"session\", \"gap\": "
    "\"7ms\"}, \"out_of_orderness\": \"3ms\", \"allowed_lateness\": \"5ms\", \"early\": \"3ms\","
    " \"deduplicate\": {\"max_ids_per_key\": 3},"
    " \"aggregates\": {\"n\": \"count()\", \"lo\": \"min(data.v)\", \"d\": \"distinct(data.v)\","
    "  \"sd\": \"stddev_pop(data.v)\"}}",
    "{\"name\": \"j\", \"key\": \"subject\", \"max_keys\": 3, \"interval_join\": {"
    " \"left\": {\"filter\": \"type == 'l'\"}, \"right\": {\"filter\": \"type == 'r'\"},"
    " \"lower\": \"-5ms\", \"upper\": \"5ms\", \"type\": \"left\", \"max_events_per_key\": 3}}",
    "{\"name\": \"k\", \"key\": \"subject\", \"window\": {\"type\": \"tumbling\", \"size\": "
    "\"10ms\", \"offset\": \"-3ms\"}, \"allowed_lateness\": \"20ms\","
    " \"aggregates\": {\"t\": \"topk(data.v, 3)\", \"td\": \"topk_distinct(data.v, 2)\","
    "  \"cl\": \"collect_list(data.v, 2)\", \"cs\": \"collect_set(data.v)\"}}",
    "{\"name\": \"r\", \"key\": \"subject\", \"window\": {\"type\": \"session\", \"gap\": "
    "\"10ms\", \"retract\": true}, \"allowed_lateness\": \"100ms\", \"having\": \"n != 2\","
    " \"aggregates\": {\"n\": \"count()\"}}",
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

/* Every key's state written, as the hash's fields of a whole checkpoint at offset 0. */
static void add_field(const char *name, int block, const char *state, size_t len, void *ud)
{
    if (state) {
        char *f = block == PROC_KEY_STATE ? cm_xasprintf("k:%s", name)
                                          : cm_xasprintf("d%d:%s", block, name);
        json_object_set_new(ud, f, json_stringn(state, len));
        free(f);
    }
}

static void write_source(int32_t source, int64_t max_time, int64_t resume, struct proc_windows *w,
                         void *ud)
{
    (void)source;
    (void)max_time;
    (void)resume;
    proc_windows_set_full(w, 1);
    proc_windows_changes(w, add_field, ud);
}

static json_t *written(struct proc_engine *e)
{
    json_t *fields = json_pack("{s:s,s:s}", "offset", "0", "whole", "1");
    proc_engine_each_source(e, write_source, fields);
    return fields;
}

/* Restores partition 0 of e from the fields as the daemon's proc_ckpt_load does: 1 when taken,
 * with the offset to resume from. */
static int restore(struct proc_engine *e, const json_t *fields, int64_t *offset)
{
    size_t n = json_object_size(fields), i = 0;
    struct proc_ckpt_field *f = cm_xcalloc(n ? n : 1, sizeof(*f));
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)fields, name, v)
    {
        f[i++] = (struct proc_ckpt_field){name, json_string_value(v), json_string_length(v)};
    }
    *offset = -1;
    int rc = proc_ckpt_restore(e, 0, "fuzz", f, n, 0, offset);
    free(f);
    if (rc == 1 && *offset < 0) {
        abort(); /* taken, but no offset to resume from */
    }
    return rc == 1;
}

/* Feeds the event lines from offset on: to a one-stage engine (proc_engine_process), or to a
 * second stage (proc_engine_window, as from frames without arguments, with "w <wm> <origin>"
 * lines as the watermark reports frames carry). */
static void add_events(struct proc_engine *e, int second, int64_t offset, const char *p,
                       const char *end)
{
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[128];
        long long t;
        int origin;
        char subject[64];
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
        } else {
            line[0] = '\0';
        }
        if (second && sscanf(line, "w %lld %d", &t, &origin) == 2) {
            proc_engine_report(e, 0, origin & 1, t, 0, offset);
        } else if (sscanf(line, "%lld %63s", &t, subject) == 2) {
            json_t *ev =
                json_pack("{s:s,s:s,s:s,s:s,s:{s:I}}", "type", t % 2 ? "l" : "r", "id", line,
                          "source", "/f", "subject", subject, "data", "v", (json_int_t)(t % 1000));
            if (ev && subject[0] == 't') {
                json_object_set_new(ev, "tenant", json_string("t"));
            }
            if (ev && second) {
                struct proc_origin o = {(int32_t)(offset & 1), offset, 0};
                proc_engine_window(e, 0, ev, t, offset, &o, offset);
            } else if (ev) { /* (NULL: not UTF-8, which no event read from Kafka is) */
                proc_engine_process(e, 0, ev, t, offset, offset);
            }
            json_decref(ev);
            if (offset == INT64_MAX) {
                break; /* (a checkpoint may say so; no record comes after that) */
            }
            offset++;
        }
        p += len + 1;
    }
}

/* Each key's state answered as the windows query does (proc_query_add_state: restored alone,
 * peeked at the hash's watermark and at none, `having` applied), the answer built and dropped. */
static void query_keys(const struct proc_def *d, const json_t *fields)
{
    const char *swm = json_string_value(json_object_get(fields, "swm"));
    int64_t wms[] = {INT64_MIN, swm ? strtoll(swm, NULL, 10) : 0};
    struct proc_query_version v = {d, INT64_MIN, INT64_MAX};
    for (int k = 0; k < 2; k++) {
        struct proc_query_answer *a = proc_query_answer_new();
        const char *name;
        const json_t *val;
        json_object_foreach((json_t *)fields, name, val)
        {
            const char *sep = strchr(name, '\x1f');
            if (strncmp(name, "k:", 2) != 0 || !sep) {
                continue;
            }
            char *tenant = cm_xstrndup(name + 2, (size_t)(sep - name - 2));
            if (proc_query_add_state(a, &v, tenant, sep + 1, json_string_value(val),
                                     json_string_length(val), wms[k]) != 0) {
                abort(); /* a key the engine took is not answered */
            }
            free(tenant);
        }
        json_decref(proc_query_answer_finish(a));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const char *in = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl = memchr(in, '\n', (size_t)(end - in));
    json_t *fields = json_loadb(in, (size_t)((nl ? nl : end) - in), 0, NULL);
    if (!json_is_object(fields)) {
        json_decref(fields);
        return 0;
    }
    cm_log_set_level((enum cm_log_level)(CM_LOG_ERROR + 1)); /* (refusals are logged) */
    struct proc_def *d = outs_def(defs[(data[0] & 0x7f) % NDEFS]);
    int second = (data[0] & 0x80) != 0; /* a repartition partition's second stage */
    const int32_t origins[] = {0, 1};
    struct outs outs = {0};
    struct proc_engine_out o = outs_sink(&outs);
    struct proc_engine *e = proc_engine_new(d, &o, NULL);
    if (second) {
        proc_engine_use_reports(e, origins, 2);
    }
    proc_engine_track_changes(e);
    int64_t offset;
    int taken = restore(e, fields, &offset);
    if (getenv("FUZZ_DUMP")) {
        fprintf(stderr, "checkpoint %s\n", taken ? "taken" : "refused");
    }
    if (taken) {
        /* taken: its keys written again restore, and write the same bytes a second time */
        json_t *once = written(e);
        struct proc_engine *e2 = proc_engine_new(d, &o, NULL);
        proc_engine_track_changes(e2);
        int64_t offset2;
        if (!restore(e2, once, &offset2)) {
            abort(); /* state the engine wrote itself does not restore */
        }
        json_t *twice = written(e2);
        if (!json_equal(once, twice)) {
            if (getenv("FUZZ_DUMP")) {
                char *a = json_dumps(once, JSON_SORT_KEYS), *b = json_dumps(twice, JSON_SORT_KEYS);
                fprintf(stderr, "once:  %s\ntwice: %s\n", a, b);
                free(a);
                free(b);
            }
            abort(); /* restoring changed the state */
        }
        json_decref(once);
        json_decref(twice);
        proc_engine_free(e2);
        query_keys(d, fields);
        if (nl) {
            add_events(e, second, offset, nl + 1, end);
        }
        proc_engine_watermark(e, PROC_WATERMARK_MAX);
    }
    proc_engine_free(e);
    outs_free(&outs);
    proc_def_free(d);
    json_decref(fields);
    return 0;
}
