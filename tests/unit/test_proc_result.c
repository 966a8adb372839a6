/* Unit tests for the processor's results (services/processor/proc_result.c): a window result
 * written straight to text (the live processor's path) is byte for byte the CloudEvent the
 * JSON-value path builds (pipeline-run's and dry-run's), with the same Kafka key and headers,
 * for every aggregate, with and without tenant and traceparent, revisions of late firings, and
 * sums that overflow to infinity. */
#include "../../services/processor/proc_engine.h"
#include "proc_test.h"

#include "cm/envelope.h"
#include "cm/event.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
    json_t *list; /* [{"key", "text", "headers": [[name, value], ...]}] */
};

static void add(struct got *g, const char *key, const char *text, size_t len,
                const char *const *names, const char *const *values, size_t nh)
{
    json_t *h = json_array();
    for (size_t i = 0; i < nh; i++) {
        json_array_append_new(h, json_pack("[s,s]", names[i], values[i]));
    }
    json_array_append_new(g->list,
                          json_pack("{s:s,s:s%,s:o}", "key", key, "text", text, len, "headers", h));
}

static void on_text(const struct proc_def *d, const char *key, const char *text, size_t len,
                    const char *const *names, const char *const *values, size_t nh, void *ud)
{
    (void)d;
    add(ud, key, text, len, names, values, nh);
}

static void on_json(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    const char *names[CM_EVENT_MAX_HEADERS], *values[CM_EVENT_MAX_HEADERS];
    size_t nh = cm_event_headers(ev, names, values);
    char *text = cm_envelope_serialize(ev);
    add(ud, cm_event_key(ev), text, strlen(text), names, values, nh);
    free(text);
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
}

/* Runs the same events through an engine with the given outputs; returns what it emitted. */
static json_t *run(const char *def, int text)
{
    struct proc_def *d = proc_test_def(def);
    struct got g = {json_array()};
    struct proc_engine_out out = {
        .emit = on_json, .emit_text = text ? on_text : NULL, .late = on_late, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    static const char *tenants[] = {NULL, "acme", "globex"};
    static const char *tps[] = {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                "not a traceparent", NULL};
    for (int i = 0; i < 600; i++) {
        int64_t t = 1767225600000LL + (int64_t)i * 37;
        double v = i % 10 == 9 ? 1e308 : (i * 7919 % 1000) / 8.0 - 20;
        json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:f,s:i,s:s}}", "specversion", "1.0", "id",
                               "e", "source", "/t", "type", "t", "data", "k", "k\"1", "v", v, "u",
                               i % 17, "g", i % 3 ? "a" : "b");
        if (tenants[i % 3]) {
            json_object_set_new(ev, "tenant", json_string(tenants[i % 3]));
        }
        if (tps[i % 3]) {
            json_object_set_new(ev, "traceparent", json_string(tps[i % 3]));
        }
        /* every 100th event is 3 s late: within allowed lateness, so a window fires again */
        int64_t at = i % 100 == 99 ? t - 3000 : t;
        proc_engine_process(e, i % 2, ev, at, i, 0);
        json_decref(ev);
    }
    proc_engine_watermark(e, INT64_MAX);
    proc_engine_free(e);
    proc_def_free(d);
    return g.list;
}

Test(proc_result, text_results_are_the_json_results)
{
    static const char *defs[] = {
        "{\"name\":\"p\",\"key\":\"data.g\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
        "\"allowed_lateness\":\"10s\","
        "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.v)\",\"a\":\"avg(data.v)\","
        "\"lo\":\"min(data.v)\",\"hi\":\"max(data.v)\",\"d\":\"distinct(data.u)\","
        "\"p\":\"percentile(data.v, 0.9)\",\"c\":\"sum(data.u)\"}}",
        "{\"name\":\"h\",\"key\":\"data.k\",\"window\":{\"type\":\"hopping\",\"size\":\"2s\","
        "\"slide\":\"500ms\"},\"emit\":\"update\",\"aggregates\":{\"n\":\"count()\"}}",
        "{\"name\":\"s\",\"key\":\"data.g\",\"window\":{\"type\":\"session\",\"gap\":\"40ms\"},"
        "\"aggregates\":{\"lo\":\"min(data.u)\",\"a\":\"avg(data.u)\"}}",
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        json_t *t = run(defs[i], 1), *j = run(defs[i], 0);
        cr_assert_gt(json_array_size(j), 10, "results expected from %s", defs[i]);
        cr_assert_eq(json_array_size(t), json_array_size(j));
        for (size_t k = 0; k < json_array_size(j); k++) {
            const json_t *a = json_array_get(t, k), *b = json_array_get(j, k);
            cr_assert(json_equal(a, b), "result %zu of %s:\n%s\nvs\n%s", k, defs[i],
                      json_string_value(json_object_get(a, "text")),
                      json_string_value(json_object_get(b, "text")));
        }
        if (i == 0) { /* the cases above did come up */
            int revised = 0, overflowed = 0;
            for (size_t k = 0; k < json_array_size(t); k++) {
                const char *text = json_string_value(json_object_get(json_array_get(t, k), "text"));
                revised |= strstr(text, "\"revision\":1") != NULL;
                overflowed |= strstr(text, "\"s\":null") != NULL;
            }
            cr_assert(revised, "a late event fired a window again");
            cr_assert(overflowed, "a sum overflowed");
        }
        json_decref(t);
        json_decref(j);
    }
}
