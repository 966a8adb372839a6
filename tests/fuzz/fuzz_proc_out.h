/* fuzz_proc_out: what the processor's engine emitted in a fuzz run (results, transformed and late
 * events, dead letters), one line per output with its key, for the processor's fuzz targets to
 * compare: byte for byte and in order (a replay), or per key (one stage against two: outputs for
 * different keys go to different partitions and have no order between them, and windows of
 * several keys that one watermark closes fire in the order of their timers; a result's key there
 * is its tenant and key). Header only: each target is one file. */
#ifndef FUZZ_PROC_OUT_H
#define FUZZ_PROC_OUT_H

#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"

#include "cm/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The record timestamp an event without `time` takes on line `line`: the line's number, except on
 * every eleventh line a timestamp no event can state (a producer may set any int64), which
 * windowed pipelines must count and leave out alike, however they run. */
static inline int64_t outs_record_time(int64_t line)
{
    return line % 11 == 10 ? INT64_MAX - line : line;
}

/* A definition of the target's own (it must stay valid: abort otherwise). */
static struct proc_def *outs_def(const char *text)
{
    char err[512];
    json_t *doc = json_loads(text, 0, NULL);
    struct proc_def *d = doc ? proc_def_parse(doc, "events", "derived", err, sizeof(err)) : NULL;
    json_decref(doc);
    if (!d) {
        abort();
    }
    return d;
}

struct out {
    char *key, *text;
    size_t at;
};
struct outs {
    struct out *v;
    size_t n, cap;
};

static void outs_add(struct outs *b, const char *key, const char *tag, const char *text, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->v = cm_xrealloc(b->v, b->cap * sizeof(*b->v));
    }
    size_t tl = strlen(tag);
    char *t = cm_xmalloc(tl + len + 1);
    memcpy(t, tag, tl);
    memcpy(t + tl, text, len);
    t[tl + len] = '\0';
    /* a result's state key is its tenant and key: the same key of two tenants is two keys */
    const char *tenant = strstr(t, "\"tenant\":\""),
               *end = tenant ? strchr(tenant + 10, '"') : NULL;
    char *k = end ? cm_xasprintf("%s\x1f%.*s", key, (int)(end - tenant - 10), tenant + 10)
                  : cm_xstrdup(key);
    b->v[b->n] = (struct out){k, t, b->n};
    b->n++;
}

/* Appends src's outputs from index `from` on to dst. */
static inline void outs_tail(struct outs *dst, const struct outs *src, size_t from)
{
    for (size_t k = from; k < src->n; k++) {
        if (dst->n == dst->cap) {
            dst->cap = dst->cap ? 2 * dst->cap : 16;
            dst->v = cm_xrealloc(dst->v, dst->cap * sizeof(*dst->v));
        }
        dst->v[dst->n] =
            (struct out){cm_xstrdup(src->v[k].key), cm_xstrdup(src->v[k].text), dst->n};
        dst->n++;
    }
}

static void outs_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    char *text = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
    const char *key = json_string_value(json_object_get(ev, "subject"));
    outs_add(ud, key ? key : "", "emit ", text, strlen(text));
    free(text);
}

static void outs_emit_text(const struct proc_def *d, const char *key, const char *text, size_t len,
                           const char *const *names, const char *const *values, size_t nh, void *ud)
{
    (void)d;
    (void)names;
    (void)values;
    (void)nh;
    outs_add(ud, key, "text ", text, len);
}

static void outs_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    char *text = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
    outs_add(ud, "(late)", "late ", text, strlen(text));
    free(text);
}

/* A dead letter: its reason names the field that failed ("<field>: <reason>"), or the bound its
 * key found no room under ("max_keys: ..."). */
static void outs_dead(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    (void)d;
    if (!ev || !strstr(why, ": ")) {
        abort();
    }
    char *text = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
    char *line = cm_xasprintf("%s %s", why, text);
    outs_add(ud, "(dead)", "dead ", line, strlen(line));
    free(line);
    free(text);
}

/* The engine's outputs into b. */
static struct proc_engine_out outs_sink(struct outs *b)
{
    return (struct proc_engine_out){.emit = outs_emit,
                                    .emit_text = outs_emit_text,
                                    .late = outs_late,
                                    .dead_letter = outs_dead,
                                    .refused = outs_dead,
                                    .ud = b};
}

static inline int outs_by_key(const void *x, const void *y)
{
    const struct out *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->at > b->at) - (a->at < b->at);
}

/* 1 when a and b hold the same outputs: in the same order, or (per_key) in the same order per
 * key. FUZZ_DUMP=1 prints both when they differ. */
static inline int outs_same(struct outs *a, struct outs *b, int per_key)
{
    if (per_key && a->n > 1) {
        qsort(a->v, a->n, sizeof(*a->v), outs_by_key);
    }
    if (per_key && b->n > 1) {
        qsort(b->v, b->n, sizeof(*b->v), outs_by_key);
    }
    int ok = a->n == b->n;
    for (size_t i = 0; ok && i < a->n; i++) {
        ok = strcmp(a->v[i].key, b->v[i].key) == 0 && strcmp(a->v[i].text, b->v[i].text) == 0;
    }
    if (!ok && getenv("FUZZ_DUMP")) {
        for (size_t i = 0; i < a->n || i < b->n; i++) {
            fprintf(stderr, "a: %s | %.200s\nb: %s | %.200s\n", i < a->n ? a->v[i].key : "-",
                    i < a->n ? a->v[i].text : "-", i < b->n ? b->v[i].key : "-",
                    i < b->n ? b->v[i].text : "-");
        }
    }
    return ok;
}

static void outs_free(struct outs *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].key);
        free(b->v[i].text);
    }
    free(b->v);
    *b = (struct outs){0};
}

#endif
