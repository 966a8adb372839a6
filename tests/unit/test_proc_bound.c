/* The bound on a pipeline's state (the definition's max_keys): per input partition, a key that
 * holds no state is refused once the state holds max_keys keys, for tumbling, hopping and session
 * windows and interval joins alike, changing nothing; keys that hold state go on; keys that
 * expire make room; a checkpoint restores every key it holds, past the bound too; one tenant's
 * keys are bound apart (max_keys_per_tenant), so it cannot take every other tenant's room; the
 * engine
 * hands a refused event (as the pipeline keyed it, also when the second stage reads it back as
 * text) to out.refused with the reason, and counts it; the definition's member is checked. */
#include "proc_test.h"

#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_window.h"

#include "cm/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 1767225600000LL

static size_t emitted;

static int count_emit(const struct proc_window_result *r, void *ud)
{
    (void)r;
    (void)ud;
    emitted++;
    return 1;
}

static enum proc_add add(struct proc_windows *w, const char *tenant, const char *key, int64_t t,
                         int64_t wm)
{
    json_t *ev = json_pack("{s:s, s:s, s:{s:s}}", "id", key, "type", "t", "data", "side", "l");
    size_t errors = 0;
    enum proc_add r =
        proc_windows_add(w, tenant, key, t, ev, NULL, NULL, 0, wm, count_emit, NULL, &errors);
    cr_assert_eq(errors, 0);
    json_decref(ev);
    return r;
}

#define AGG "\"aggregates\":{\"n\":\"count()\"}"

static const char *const kinds[] = {
    "{\"name\":\"p\",\"max_keys\":3,\"window\":{\"type\":\"tumbling\",\"size\":\"1m\"}," AGG "}",
    "{\"name\":\"p\",\"max_keys\":3,\"window\":{\"type\":\"hopping\",\"size\":\"1m\","
    "\"slide\":\"20s\"}," AGG "}",
    "{\"name\":\"p\",\"max_keys\":3,\"window\":{\"type\":\"session\",\"gap\":\"1m\"}," AGG "}",
    "{\"name\":\"p\",\"key\":\"id\",\"max_keys\":3,\"interval_join\":{\"left\":{\"filter\":\"data."
    "side == "
    "'l'\"},\"right\":{\"filter\":\"data.side == 'r'\"},\"lower\":\"0s\",\"upper\":\"1m\"}}",
};

Test(proc_bound, a_new_key_past_max_keys_is_refused_and_changes_nothing)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct proc_def *d = proc_test_def(kinds[i]);
        cr_assert_eq(d->max_keys, 3);
        struct proc_windows *w = proc_windows_new(d);
        cr_assert_eq(proc_windows_max_keys(w), 3);
        cr_assert_eq(add(w, "acme", "a", T, INT64_MIN), PROC_ADDED, "%s", kinds[i]);
        cr_assert_eq(add(w, "acme", "b", T, INT64_MIN), PROC_ADDED);
        /* the same key of another tenant is another key */
        cr_assert_eq(add(w, "globex", "a", T, INT64_MIN), PROC_ADDED);
        cr_assert_eq(proc_windows_keys(w), 3);
        emitted = 0;
        cr_assert_eq(add(w, "acme", "c", T + 1000, INT64_MIN), PROC_REFUSED, "%s", kinds[i]);
        cr_assert_eq(add(w, "", "a", T + 1000, INT64_MIN), PROC_REFUSED);
        cr_assert_eq(proc_windows_keys(w), 3, "a refused event adds no key");
        cr_assert_eq(emitted, 0);
        /* keys that hold state go on */
        cr_assert_eq(add(w, "acme", "a", T + 2000, INT64_MIN), PROC_ADDED, "%s", kinds[i]);
        cr_assert_eq(add(w, "globex", "a", T + 3000, INT64_MIN), PROC_ADDED);
        /* a late event is late, whether its key would fit or not */
        cr_assert_eq(add(w, "acme", "z", T - 3600000, T + 1000), PROC_LATE, "%s", kinds[i]);
        /* once their state expires, the keys make room */
        emitted = 0;
        proc_windows_advance(w, T + 3600000, count_emit, NULL);
        cr_assert_eq(proc_windows_keys(w), 0, "%s", kinds[i]);
        cr_assert_eq(add(w, "acme", "c", T + 3600000 + 5, T + 3600000), PROC_ADDED, "%s", kinds[i]);
        proc_windows_free(w);
        proc_def_free(d);
    }
}

Test(proc_bound, max_keys_0_bounds_nothing)
{
    struct proc_def *d = proc_test_def("{\"name\":\"p\",\"max_keys\":0,\"window\":{\"type\":"
                                       "\"tumbling\",\"size\":\"1m\"}," AGG "}");
    struct proc_windows *w = proc_windows_new(d);
    cr_assert_eq(proc_windows_max_keys(w), 0);
    for (int i = 0; i < 20000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(add(w, "", key, T, INT64_MIN), PROC_ADDED);
    }
    cr_assert_eq(proc_windows_keys(w), 20000);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_bound, one_tenant_cannot_take_the_others_room)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "{\"max_keys_per_tenant\":2,%s", kinds[i] + 1);
        struct proc_def *d = proc_test_def(text);
        cr_assert_eq(d->max_keys_per_tenant, 2, "%s", text);
        struct proc_windows *w = proc_windows_new(d);
        char why[256];
        cr_assert_eq(add(w, "acme", "a", T, INT64_MIN), PROC_ADDED, "%s", text);
        cr_assert_eq(add(w, "acme", "b", T, INT64_MIN), PROC_ADDED);
        cr_assert_eq(add(w, "acme", "c", T, INT64_MIN), PROC_REFUSED, "%s", text);
        proc_windows_refusal(w, why, sizeof(why));
        cr_assert_str_eq(why, "max_keys_per_tenant: the state of its input partition holds 2 keys "
                              "of its tenant, the most it may, and none is this event's");
        cr_assert_eq(add(w, "globex", "c", T, INT64_MIN), PROC_ADDED, "another tenant's room");
        /* the bound of all tenants together is max_keys (3), and it is the one named */
        cr_assert_eq(add(w, "", "c", T, INT64_MIN), PROC_REFUSED);
        proc_windows_refusal(w, why, sizeof(why));
        cr_assert_str_eq(why, "max_keys: the state of its input partition holds 3 keys, the most "
                              "it may, and none is this event's");
        cr_assert_eq(add(w, "acme", "a", T + 1, INT64_MIN), PROC_ADDED);
        proc_windows_advance(w, T + 3600000, count_emit, NULL);
        cr_assert_eq(proc_windows_keys(w), 0);
        cr_assert_eq(add(w, "acme", "c", T + 3600000 + 5, T + 3600000), PROC_ADDED, "%s", text);
        cr_assert_eq(add(w, "acme", "d", T + 3600000 + 5, T + 3600000), PROC_ADDED);
        cr_assert_eq(add(w, "acme", "e", T + 3600000 + 5, T + 3600000), PROC_REFUSED);
        proc_windows_free(w);
        proc_def_free(d);
    }
}

/* An interval join's key keeps at most max_events_per_key events: one more that would be kept is
 * refused without pairing, one that would not be kept (its bound passed) pairs as before, and
 * events that expire make room. */
Test(proc_bound, a_join_key_keeps_at_most_max_events_per_key)
{
    struct proc_def *d = proc_test_def(
        "{\"name\":\"p\",\"key\":\"id\",\"interval_join\":{\"left\":{\"filter\":\"data.side == "
        "'l'\"},\"right\":{\"filter\":\"data.side == 'r'\"},\"lower\":\"10s\",\"upper\":\"1m\","
        "\"max_events_per_key\":2}}");
    cr_assert_eq(d->ijoin.max_events, 2);
    struct proc_windows *w = proc_windows_new(d);
    json_t *left = json_pack("{s:s, s:s, s:{s:s}}", "id", "a", "type", "t", "data", "side", "l");
    json_t *right = json_pack("{s:s, s:s, s:{s:s}}", "id", "a", "type", "t", "data", "side", "r");
    size_t errors = 0;
    emitted = 0;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(proc_windows_add(w, "", "a", T + i, left, NULL, NULL, i, INT64_MIN, count_emit,
                                      NULL, &errors),
                     PROC_ADDED);
    }
    cr_assert_eq(proc_windows_add(w, "", "a", T + 2, left, NULL, NULL, 2, INT64_MIN, count_emit,
                                  NULL, &errors),
                 PROC_REFUSED);
    char why[256];
    proc_windows_refusal(w, why, sizeof(why));
    cr_assert_str_eq(why, "interval_join.max_events_per_key: its key holds 2 events, the most it "
                          "may");
    /* a right event that would be kept is refused too, pairing with neither */
    cr_assert_eq(proc_windows_add(w, "", "a", T + 20000, right, NULL, NULL, 3, INT64_MIN,
                                  count_emit, NULL, &errors),
                 PROC_REFUSED);
    cr_assert_eq(emitted, 0);
    /* with the watermark past the time a left event to come would need to pair with it (its own
     * time - lower), it is not kept, so it pairs as before */
    int64_t wm = T + 15000;
    cr_assert_eq(proc_windows_add(w, "", "a", T + 20000, right, NULL, NULL, 4, wm, count_emit, NULL,
                                  &errors),
                 PROC_ADDED);
    cr_assert_eq(emitted, 2, "paired with both left events");
    /* the left events expire: room again */
    proc_windows_advance(w, T + 3600000, count_emit, NULL);
    cr_assert_eq(proc_windows_keys(w), 0);
    cr_assert_eq(proc_windows_add(w, "", "a", T + 3600000 + 5, left, NULL, NULL, 5, T + 3600000,
                                  count_emit, NULL, &errors),
                 PROC_ADDED);
    json_decref(left);
    json_decref(right);
    proc_windows_free(w);
    proc_def_free(d);
}

struct saved {
    json_t *keys; /* {name: state} */
};

static void on_change(const char *name, int block, const char *state, size_t len, void *ud)
{
    struct saved *s = ud;
    cr_assert_eq(block, PROC_KEY_STATE);
    cr_assert_not_null(state);
    json_t *v = json_loadb(state, len, 0, NULL);
    cr_assert_not_null(v);
    json_object_set_new(s->keys, name, v);
}

Test(proc_bound, a_checkpoint_restores_every_key_past_the_bound)
{
    struct proc_def *wide = proc_test_def("{\"name\":\"p\",\"max_keys\":5,\"window\":{\"type\":"
                                          "\"tumbling\",\"size\":\"1m\"}," AGG "}");
    struct proc_windows *w = proc_windows_new(wide);
    proc_windows_track_changes(w);
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(add(w, "", names[i], T, INT64_MIN), PROC_ADDED);
    }
    struct saved s = {json_object()};
    cr_assert_eq(proc_windows_changes(w, on_change, &s), 5);
    proc_windows_free(w);
    /* the definition changed to a lower bound: what was held is kept, nothing new comes in */
    struct proc_def *narrow = proc_test_def("{\"name\":\"p\",\"max_keys\":2,\"window\":{\"type\":"
                                            "\"tumbling\",\"size\":\"1m\"}," AGG "}");
    struct proc_windows *r = proc_windows_new(narrow);
    const char *name;
    json_t *state;
    json_object_foreach(s.keys, name, state)
    {
        cr_assert_eq(proc_windows_restore(r, name, state), 0, "%s", name);
    }
    cr_assert_eq(proc_windows_keys(r), 5);
    cr_assert_eq(add(r, "", "f", T, INT64_MIN), PROC_REFUSED);
    cr_assert_eq(add(r, "", "c", T, INT64_MIN), PROC_ADDED);
    cr_assert_eq(proc_windows_keys(r), 5);
    proc_windows_free(r);
    /* restored keys count against their tenant's bound too */
    struct proc_def *per = proc_test_def("{\"name\":\"p\",\"max_keys_per_tenant\":4,\"window\":"
                                         "{\"type\":\"tumbling\",\"size\":\"1m\"}," AGG "}");
    r = proc_windows_new(per);
    json_object_foreach(s.keys, name, state)
    {
        cr_assert_eq(proc_windows_restore(r, name, state), 0, "%s", name);
    }
    cr_assert_eq(add(r, "", "f", T, INT64_MIN), PROC_REFUSED);
    cr_assert_eq(add(r, "acme", "f", T, INT64_MIN), PROC_ADDED);
    json_decref(s.keys);
    proc_windows_free(r);
    proc_def_free(per);
    proc_def_free(narrow);
    proc_def_free(wide);
}

struct got {
    json_t *events, *whys;
    size_t results;
};

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    ((struct got *)ud)->results++;
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
    cr_assert_fail("nothing is late here");
}

static void on_refused(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    (void)d;
    struct got *g = ud;
    json_array_append_new(g->events, json_deep_copy(ev));
    json_array_append_new(g->whys, json_string(why));
}

static const char *counted(struct cm_metrics *m, const char *outcome)
{
    static char value[32];
    char *all = cm_metrics_render(m), series[128];
    snprintf(series, sizeof(series), "t_records_total{pipeline=\"m\",outcome=\"%s\"} ", outcome);
    const char *at = strstr(all, series);
    cr_assert_not_null(at, "%s in %s", series, all);
    at += strlen(series);
    size_t n = strcspn(at, "\n");
    cr_assert_lt(n, sizeof(value));
    memcpy(value, at, n);
    value[n] = '\0';
    free(all);
    return value;
}

#define MAPPED                                                                                     \
    "{\"name\":\"m\",\"max_keys\":2,\"steps\":[{\"map\":{\"k\":\"data.k\",\"twice\":\"data.v * "   \
    "2\"}}],\"key\":\"data.k\",\"window\":{\"type\":\"tumbling\",\"size\":\"1m\"},"                \
    "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.twice)\"}}"

static json_t *keyed_event(const char *k, int v)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:i}}", "specversion", "1.0", "id", k, "source",
                     "s", "type", "t", "data", "k", k, "v", v);
}

Test(proc_bound, the_engine_hands_over_a_refused_event_as_it_keyed_it)
{
    struct proc_def *d = proc_test_def(MAPPED);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct got g = {json_array(), json_array(), 0};
    struct proc_engine_out out = {
        .emit = on_emit, .late = on_late, .refused = on_refused, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, m);
    const char *keys[] = {"a", "b", "c", "a", "d"};
    for (int i = 0; i < 5; i++) {
        json_t *ev = keyed_event(keys[i], i);
        proc_engine_process(e, 0, ev, T + i, i, 0);
        json_decref(ev);
    }
    cr_assert_eq(json_array_size(g.events), 2, "c and d");
    const json_t *c = json_array_get(g.events, 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "id")), "c");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(c, "data"), "twice")), 4,
                 "after the map step");
    cr_assert_null(json_object_get(json_object_get(c, "data"), "v"));
    const char *why = json_string_value(json_array_get(g.whys, 0));
    cr_assert(strncmp(why, "max_keys: ", 10) == 0 && strstr(why, " 2 keys"), "%s", why);
    cr_assert_str_eq(counted(m, "key_bound"), "2");
    cr_assert_str_eq(counted(m, "windowed"), "3");
    size_t fullest;
    uint64_t refused;
    cr_assert_eq(proc_engine_keys(e, &fullest, &refused), 2);
    cr_assert_eq(fullest, 2);
    cr_assert_eq(refused, 2);
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    cr_assert_eq(g.results, 2, "a's and b's windows");
    proc_engine_free(e);
    json_decref(g.events);
    json_decref(g.whys);
    cm_metrics_free(m);
    proc_def_free(d);
}

Test(proc_bound, a_tenant_past_its_bound_is_told_so)
{
    struct proc_def *d = proc_test_def("{\"name\":\"m\",\"max_keys_per_tenant\":1,\"key\":"
                                       "\"data.k\",\"window\":{\"type\":\"tumbling\",\"size\":"
                                       "\"1m\"},\"aggregates\":{\"n\":\"count()\"}}");
    struct got g = {json_array(), json_array(), 0};
    struct proc_engine_out out = {
        .emit = on_emit, .late = on_late, .refused = on_refused, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    const char *tenants[] = {"acme", "acme", "globex"};
    const char *keys[] = {"a", "b", "b"};
    for (int i = 0; i < 3; i++) {
        json_t *ev = keyed_event(keys[i], i);
        json_object_set_new(ev, "tenant", json_string(tenants[i]));
        proc_engine_process(e, 0, ev, T + i, i, 0);
        json_decref(ev);
    }
    cr_assert_eq(json_array_size(g.events), 1, "acme's b");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(g.events, 0), "tenant")),
                     "acme");
    cr_assert_str_eq(json_string_value(json_array_get(g.whys, 0)),
                     "max_keys_per_tenant: the state of its input partition holds 1 key of its "
                     "tenant, the most it may, and none is this event's");
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    cr_assert_eq(g.results, 2, "acme's a and globex's b");
    proc_engine_free(e);
    json_decref(g.events);
    json_decref(g.whys);
    proc_def_free(d);
}

Test(proc_bound, the_second_stage_parses_a_refused_event_from_its_text)
{
    struct proc_def *d = proc_test_def(MAPPED);
    struct got g = {json_array(), json_array(), 0};
    struct proc_engine_out out = {
        .emit = on_emit, .late = on_late, .refused = on_refused, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    const char *keys[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        char raw[256];
        snprintf(raw, sizeof(raw),
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"s\",\"type\":\"t\","
                 "\"time\":\"2026-01-01T00:00:00.00%dZ\",\"data\":{\"k\":\"%s\",\"twice\":%d}}",
                 keys[i], i, keys[i], 2 * i);
        size_t errors = 0;
        json_t *ev = json_loads(raw, 0, NULL);
        json_t *args = proc_acc_args(d, ev, &errors);
        cr_assert_eq(errors, 0);
        struct proc_keyed k = {"", keys[i], NULL, T + i, args, raw, strlen(raw)};
        cr_assert_eq(proc_engine_window_keyed(e, 0, &k, i, NULL, 0), 0);
        json_decref(args);
        json_decref(ev);
    }
    cr_assert_eq(json_array_size(g.events), 1);
    const json_t *c = json_array_get(g.events, 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "id")), "c");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(c, "data"), "twice")), 4);
    proc_engine_free(e);
    json_decref(g.events);
    json_decref(g.whys);
    proc_def_free(d);
}

Test(proc_bound, without_a_refused_output_a_refused_event_is_only_counted)
{
    struct proc_def *d = proc_test_def(MAPPED);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct got g = {json_array(), json_array(), 0};
    struct proc_engine_out out = {.emit = on_emit, .late = on_late, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, m);
    for (int i = 0; i < 4; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_t *ev = keyed_event(k, i);
        proc_engine_process(e, 0, ev, T + i, i, 0);
        json_decref(ev);
    }
    cr_assert_str_eq(counted(m, "key_bound"), "2");
    proc_engine_free(e);
    json_decref(g.events);
    json_decref(g.whys);
    cm_metrics_free(m);
    proc_def_free(d);
}

struct bad_case {
    const char *member; /* what follows "max_keys": */
    const char *why;    /* the error's start; NULL: accepted */
};

Test(proc_bound, the_definition_checks_max_keys)
{
    static const struct bad_case cases[] = {
        {"-1", "max_keys: must be an integer from 0"},
        {"1.5", "max_keys: must be an integer"},
        {"\"10\"", "max_keys: must be an integer"},
        {"true", "max_keys: must be an integer"},
        {"null", "max_keys: must be an integer"},
        {"1000000001", "max_keys: must be an integer"},
        {"1e3", "max_keys: must be an integer"},
        {"0", NULL},
        {"1", NULL},
        {"1000000000", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256], err[256];
        snprintf(text, sizeof(text),
                 "{\"name\":\"p\",\"max_keys%s\":%s,\"window\":{\"type\":\"tumbling\","
                 "\"size\":\"1m\"}," AGG "}",
                 i % 2 ? "_per_tenant" : "", cases[i].member);
        json_t *doc = json_loads(text, 0, NULL);
        cr_assert_not_null(doc, "%s", text);
        struct proc_def *d = proc_def_parse(doc, "events", "derived", err, sizeof(err));
        if (cases[i].why) {
            cr_assert_null(d, "%s", text);
            const char *why = cases[i].why + strlen("max_keys");
            cr_assert(strncmp(err, i % 2 ? "max_keys_per_tenant" : "max_keys", 8) == 0 &&
                          strstr(err, why) == err + strcspn(err, ":"),
                      "%s: %s", text, err);
        } else {
            cr_assert_not_null(d, "%s: %s", text, err);
            cr_assert_eq(i % 2 ? d->max_keys_per_tenant : d->max_keys,
                         strtoll(cases[i].member, NULL, 10));
        }
        proc_def_free(d);
        json_decref(doc);
    }
    struct proc_def *dflt = proc_test_def("{\"name\":\"p\",\"window\":{\"type\":\"tumbling\","
                                          "\"size\":\"1m\"}," AGG "}");
    cr_assert_eq(dflt->max_keys, PROC_MAX_KEYS_DEFAULT);
    cr_assert_eq(dflt->max_keys_per_tenant, 0, "no bound per tenant unless asked");
    struct proc_def *join = proc_test_def(
        "{\"name\":\"p\",\"key\":\"id\",\"interval_join\":{\"left\":{\"filter\":\"true\"},"
        "\"right\":{\"filter\":\"false\"},\"lower\":\"0s\",\"upper\":\"1m\"}}");
    cr_assert_eq(join->ijoin.max_events, PROC_JOIN_MAX_EVENTS_DEFAULT);
    proc_def_free(join);
    static const char *const bad_events[] = {"-1", "\"5\"", "2.5", "1000000001", "false"};
    for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
        char text[320];
        snprintf(text, sizeof(text),
                 "{\"name\":\"p\",\"key\":\"id\",\"interval_join\":{\"left\":{\"filter\":"
                 "\"true\"},\"right\":{\"filter\":\"false\"},\"lower\":\"0s\",\"upper\":\"1m\","
                 "\"max_events_per_key\":%s}}",
                 bad_events[i]);
        json_t *doc = json_loads(text, 0, NULL);
        cr_assert_not_null(doc, "%s", text);
        char err[256];
        cr_assert_null(proc_def_parse(doc, "events", "derived", err, sizeof(err)), "%s", text);
        cr_assert(strstr(err, "interval_join.max_events_per_key: must be an integer from 0") == err,
                  "%s", err);
        json_decref(doc);
    }
    proc_def_free(dflt);
    struct proc_def *stateless = proc_test_def("{\"name\":\"p\"}");
    cr_assert_eq(stateless->max_keys, 0);
    proc_def_free(stateless);
    char err[256];
    json_t *doc = json_loads("{\"name\":\"p\",\"max_keys\":5}", 0, NULL);
    cr_assert_null(proc_def_parse(doc, "events", "derived", err, sizeof(err)));
    cr_assert(strstr(err, "max_keys: only with a window or an interval join"), "%s", err);
    json_decref(doc);
}
