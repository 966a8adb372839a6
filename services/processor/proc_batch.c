/* proc_batch: outputs grouped into batch events (see proc_batch.h); one open batch per tenant. */
#include "proc_batch.h"

#include "proc_def.h"

#include "cm/event.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct open_batch {
    char *tenant; /* "" when none */
    json_t *results;
    int64_t first_ms;
    int64_t last_time_ms; /* event time of the latest output */
    char traceparent[64];
};

struct proc_batcher {
    const struct proc_def *d;
    proc_batch_emit_fn emit;
    void *ud;
    struct open_batch *open;
    size_t nopen;
    char source[160];
};

struct proc_batcher *proc_batcher_new(const struct proc_def *d, proc_batch_emit_fn emit, void *ud)
{
    struct proc_batcher *b = cm_xcalloc(1, sizeof(*b));
    b->d = d;
    b->emit = emit;
    b->ud = ud;
    snprintf(b->source, sizeof(b->source), "processor/%s", d->name);
    return b;
}

/* Emits batch i and removes it. */
static void close_batch(struct proc_batcher *b, size_t i)
{
    struct open_batch *ob = &b->open[i];
    size_t n = json_array_size(ob->results);
    char version[24], count[24];
    snprintf(version, sizeof(version), "%lld", b->d->version);
    snprintf(count, sizeof(count), "%zu", n);
    const char **parts = cm_xcalloc(n + 5, sizeof(*parts));
    size_t np = 0;
    parts[np++] = "pipeline.batch";
    parts[np++] = b->d->name;
    parts[np++] = version;
    parts[np++] = ob->tenant;
    parts[np++] = count;
    for (size_t k = 0; k < n; k++) {
        const char *id = json_string_value(json_object_get(json_array_get(ob->results, k), "id"));
        parts[np++] = id ? id : "";
    }
    json_t *data =
        json_pack("{s:s, s:I, s:I, s:O}", "pipeline", b->d->name, "version",
                  (json_int_t)b->d->version, "count", (json_int_t)n, "results", ob->results);
    struct cm_derived der = {.type = "pipeline.batch",
                             .source = b->source,
                             .subject = b->d->name,
                             .time_ms = ob->last_time_ms,
                             .id_parts = parts,
                             .nid_parts = (unsigned)np,
                             .tenant = ob->tenant[0] ? ob->tenant : NULL,
                             .traceparent = ob->traceparent};
    json_t *ev = cm_event_derived_new(&der, data);
    free(parts);
    b->emit(b->d, ev, b->ud);
    json_decref(ev);
    json_decref(ob->results);
    free(ob->tenant);
    memmove(&b->open[i], &b->open[i + 1], (b->nopen - i - 1) * sizeof(*b->open));
    b->nopen--; /* the others keep their order: the oldest closes first */
}

void proc_batcher_add(struct proc_batcher *b, const json_t *ev, int64_t now_ms)
{
    const char *tenant = json_string_value(json_object_get(ev, "tenant"));
    tenant = tenant ? tenant : "";
    size_t i = 0;
    while (i < b->nopen && strcmp(b->open[i].tenant, tenant) != 0) {
        i++;
    }
    if (i == b->nopen) {
        b->open = cm_xrealloc(b->open, (b->nopen + 1) * sizeof(*b->open));
        b->open[b->nopen++] = (struct open_batch){cm_xstrdup(tenant), json_array(), now_ms, 0, ""};
    }
    struct open_batch *ob = &b->open[i];
    json_array_append_new(ob->results, json_deep_copy(ev));
    int64_t t = 0;
    const char *time = json_string_value(json_object_get(ev, "time"));
    if (time && cm_time_parse_rfc3339(time, &t) == 0 && t > ob->last_time_ms) {
        ob->last_time_ms = t;
    }
    const char *tp = json_string_value(json_object_get(ev, "traceparent"));
    if (tp) {
        cm_strlcpy(ob->traceparent, tp, sizeof(ob->traceparent));
    }
    if (json_array_size(ob->results) >= (size_t)b->d->batch_max) {
        close_batch(b, i);
    }
}

void proc_batcher_tick(struct proc_batcher *b, int64_t now_ms)
{
    for (size_t i = b->nopen; i-- > 0;) {
        if (now_ms - b->open[i].first_ms >= b->d->batch_timeout_ms) {
            close_batch(b, i);
        }
    }
}

void proc_batcher_flush(struct proc_batcher *b)
{
    while (b->nopen > 0) {
        close_batch(b, 0);
    }
}

void proc_batcher_free(struct proc_batcher *b)
{
    if (!b) {
        return;
    }
    for (size_t i = 0; i < b->nopen; i++) {
        json_decref(b->open[i].results);
        free(b->open[i].tenant);
    }
    free(b->open);
    free(b);
}
