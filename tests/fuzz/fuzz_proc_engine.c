/* fuzz_proc_engine: libFuzzer target for the processor's engine over hostile events (records on
 * the input topics, and the dry run's request bodies, come from anyone who may write them). The
 * input is lines, each an event (any JSON object: its `time` or, without one, a time that grows
 * line by line) or a watermark line; they go through pipelines of every kind (map, flatMap with and
 * without `as`, filter; tumbling, hopping, session windows with every aggregate, `having`,
 * update mode, lateness; a stateless transform; an interval join), then a last watermark flushes
 * every window. The sanitizers catch memory errors and leaks; a second run of the same input
 * must emit the same results, byte for byte (a replay gives the same ids and values). */
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"

#include "cm/event.h"
#include "cm/mem.h"

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
    " \"out_of_orderness\": \"5ms\", \"allowed_lateness\": \"20ms\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"a\": \"avg(data.v)\","
    "  \"lo\": \"min(data.v)\", \"hi\": \"max(data.v)\", \"d\": \"distinct(subject)\","
    "  \"p\": \"percentile(data.v, 0.9)\"}, \"having\": \"n >= 1\"}",
    "{\"name\": \"hop\", \"key\": \"subject\", \"window\": {\"type\": \"hopping\", \"size\": "
    "\"20ms\", \"slide\": \"5ms\"}, \"emit\": \"update\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"d\": \"distinct(data.v)\"}}",
    "{\"name\": \"sess\", \"key\": \"string(data.k)\", \"window\": {\"type\": \"session\", "
    "\"gap\": "
    "\"7ms\"}, \"out_of_orderness\": \"3ms\", \"allowed_lateness\": \"5ms\","
    " \"aggregates\": {\"n\": \"count()\", \"p\": \"percentile(data.v, 0.5)\","
    "  \"lo\": \"min(data.v)\"}}",
    "{\"name\": \"flat\", \"steps\": [{\"flatMap\": \"data.items\"},"
    "  {\"flatMap\": {\"expr\": \"data.more\", \"as\": \"m\"}}, {\"map\": {\"x\": \"data\"}}]}",
    "{\"name\": \"ij\", \"key\": \"string(data.k)\", \"interval_join\": {"
    " \"left\": {\"filter\": \"type == 'l'\"}, \"right\": {\"filter\": \"type == 'r'\"},"
    " \"lower\": \"-5ms\", \"upper\": \"5ms\", \"type\": \"left\"}}",
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

/* What a run emitted, in order. */
struct buf {
    char *p;
    size_t n, cap;
};

static void add(struct buf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->p = cm_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void put(struct buf *b, const char *tag, const char *text, size_t len)
{
    add(b, tag, strlen(tag));
    add(b, text, len);
    add(b, "\n", 1);
}

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    char *text = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
    put(ud, "emit ", text, strlen(text));
    free(text);
}

static void on_emit_text(const struct proc_def *d, const char *key, const char *text, size_t len,
                         const char *const *names, const char *const *values, size_t nh, void *ud)
{
    (void)d;
    (void)names;
    (void)values;
    (void)nh;
    put(ud, "key ", key, strlen(key));
    put(ud, "text ", text, len);
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    char *text = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
    put(ud, "late ", text, strlen(text));
    free(text);
}

static char *run(const struct proc_def *d, const char *in, size_t size, size_t *outlen)
{
    struct buf w = {0};
    struct proc_engine_out out = {
        .emit = on_emit, .emit_text = on_emit_text, .late = on_late, .ud = &w};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    size_t pos = 0;
    int64_t line = 0;
    while (pos < size) {
        const char *nl = memchr(in + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (in + pos)) : size - pos;
        json_t *v = json_loadb(in + pos, len, 0, NULL);
        int64_t wm;
        const char *why;
        if (json_is_object(v) && proc_engine_watermark_input(v, &wm, &why) == 1) {
            proc_engine_watermark(e, wm);
        } else {
            struct cm_event ev;
            if (cm_event_from_text(in + pos, len, line, CM_EVENT_OBJECT, &ev, &why) == 0) {
                proc_engine_process(e, (int32_t)(line % 3), ev.ev, ev.time_ms, line, line);
                cm_event_clear(&ev);
            }
        }
        json_decref(v);
        line++;
        pos += len + 1;
    }
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    proc_engine_free(e);
    *outlen = w.n;
    return w.p; /* NULL when nothing was emitted */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so reading past them is caught */
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    for (size_t i = 0; i < NDEFS; i++) {
        char err[512];
        json_t *doc = json_loads(defs[i], 0, NULL);
        struct proc_def *d =
            doc ? proc_def_parse(doc, "events", "derived", err, sizeof(err)) : NULL;
        json_decref(doc);
        if (!d) {
            abort(); /* the target's own definitions must stay valid */
        }
        size_t n1, n2;
        char *a = run(d, in, size, &n1);
        char *b = run(d, in, size, &n2);
        if (n1 != n2 || (n1 > 0 && memcmp(a, b, n1) != 0)) {
            abort(); /* a replay of the same input emitted something else */
        }
        free(a);
        free(b);
        proc_def_free(d);
    }
    free(in);
    return 0;
}
