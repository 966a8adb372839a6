/* Unit tests for early firings ("early", services/processor/proc_window.c): the state they need
 * (a key's next early firing, the events each window last fired with) survives its checkpoint
 * form: over random input, state written at any point and restored into a fresh window state
 * goes on to emit exactly what the uninterrupted state emits (tumbling, hopping and session
 * windows); hostile forms are refused: an early firing or a revision's events in the state of a
 * pipeline without early firings, and values that are not times or counts. The rules themselves
 * are checked against the reference model (tests/tools/pipeline_model.py) and the golden
 * scenario tests/tools/pipelines/early. */
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_window.h"
#include "proc_test.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int on_emit(const struct proc_window_result *r, void *ud)
{
    json_t *o = json_object();
    proc_acc_result(r->acc, o);
    json_object_set_new(o, "key", json_string(r->key));
    json_object_set_new(o, "start", json_integer(r->start_ms));
    json_object_set_new(o, "end", json_integer(r->end_ms));
    json_object_set_new(o, "revision", json_integer(r->revision));
    json_array_append_new(ud, o);
    return 1;
}

static void keep(const char *name, int block, const char *state, size_t len, void *ud)
{
    cr_assert_eq(block, PROC_KEY_STATE);
    if (state) {
        json_object_set_new(ud, name, json_stringn(state, len));
    }
}

static uint64_t rng;
static uint64_t next_rand(void)
{
    return proc_test_rand(&rng);
}

struct op {
    int64_t t; /* event time, or (key < 0) an advance to t */
    int key, v;
    int64_t wm;
};

static void apply(struct proc_windows *w, const struct op *o, json_t *out)
{
    size_t errors = 0;
    if (o->key < 0) {
        proc_windows_advance(w, o->t, on_emit, out);
        return;
    }
    char key[8];
    snprintf(key, sizeof(key), "k%d", o->key % 10);
    json_t *ev = json_pack("{s:s, s:{s:i}}", "type", "t", "data", "v", o->v);
    proc_windows_add(w, "", key, o->t, ev, NULL, NULL, 0, o->wm, on_emit, out, &errors);
    json_decref(ev);
}

/* The same random input uninterrupted, and written and restored after op `cut`: the same
 * results. Returns how many results there were. */
static size_t continue_after(const char *def, uint64_t seed, size_t cut)
{
    enum { NOPS = 1500 };
    static struct op ops[NOPS];
    rng = seed;
    int64_t tmax = 0, wm = INT64_MIN;
    for (size_t i = 0; i < NOPS; i++) {
        if (next_rand() % 6 == 0) {
            wm = tmax - (int64_t)(next_rand() % 400);
            ops[i] = (struct op){wm, -1, 0, 0};
            continue;
        }
        int64_t t = tmax - 300 + (int64_t)(next_rand() % 500);
        t = t < 0 ? 0 : t;
        tmax = t > tmax ? t : tmax;
        ops[i] = (struct op){t, (int)(next_rand() % 5), (int)(next_rand() % 50), wm};
    }
    struct proc_def *d = proc_test_def(def);
    json_t *whole = json_array(), *split = json_array(), *state = json_object();
    struct proc_windows *a = proc_windows_new(d), *b = proc_windows_new(d);
    for (size_t i = 0; i < NOPS; i++) {
        apply(a, &ops[i], whole);
    }
    proc_windows_advance(a, PROC_WATERMARK_MAX, on_emit, whole);
    proc_windows_track_changes(b);
    for (size_t i = 0; i < cut; i++) {
        apply(b, &ops[i], split);
    }
    proc_windows_changes(b, keep, state); /* the first after tracking: every key, whole */
    proc_windows_free(b);
    struct proc_windows *c = proc_windows_new(d);
    const char *name;
    json_t *text;
    json_object_foreach(state, name, text)
    {
        json_t *st = json_loads(json_string_value(text), 0, NULL);
        cr_assert_eq(proc_windows_restore(c, name, st), 0, "%s: %s", name, json_string_value(text));
        json_decref(st);
    }
    for (size_t i = cut; i < NOPS; i++) {
        apply(c, &ops[i], split);
    }
    proc_windows_advance(c, PROC_WATERMARK_MAX, on_emit, split);
    char *x = json_dumps(whole, JSON_SORT_KEYS), *y = json_dumps(split, JSON_SORT_KEYS);
    cr_assert_str_eq(y, x, "%s: restored after op %zu, the results differ", def, cut);
    size_t n = json_array_size(whole);
    free(x);
    free(y);
    json_decref(whole);
    json_decref(split);
    json_decref(state);
    proc_windows_free(a);
    proc_windows_free(c);
    proc_def_free(d);
    return n;
}

#define AGGS "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.v)\"}"

Test(proc_early, state_restored_anywhere_goes_on_as_if_uninterrupted)
{
    static const char *const defs[] = {
        "{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":\"tumbling\",\"size\":\"100ms\"},"
        "\"early\":\"30ms\"," AGGS "}",
        "{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":\"hopping\",\"size\":\"120ms\","
        "\"slide\":\"40ms\",\"offset\":\"-15ms\"},\"early\":\"25ms\",\"allowed_lateness\":\"60ms\","
        "\"having\":\"n >= 2\"," AGGS "}",
        "{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":\"session\",\"gap\":\"20ms\"},"
        "\"early\":\"35ms\",\"allowed_lateness\":\"30ms\"," AGGS "}",
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        for (size_t cut = 1; cut < 1500; cut += 149) {
            size_t n = continue_after(defs[i], 0x9E3779B97F4A7C15ULL + i, cut);
            cr_assert_gt(n, 100, "%zu results", n);
        }
    }
}

Test(proc_early, an_early_result_holds_the_events_before_the_point)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                      "\"tumbling\",\"size\":\"1s\"},\"early\":\"250ms\"," AGGS "}");
    struct proc_windows *w = proc_windows_new(d);
    json_t *out = json_array();
    struct op ops[] = {
        {100, 0, 1, INT64_MIN}, {120, -1, 0, 0},  /* the first watermark: no point in [0, 1s) */
        {200, 0, 2, 120},       {260, -1, 0, 0},  /* passes 249: early, n = 2 */
        {300, -1, 0, 0},        {520, -1, 0, 0},  /* passes 499, nothing changed: nothing */
        {530, 0, 4, 520},       {1300, -1, 0, 0}, /* passes 749 and the end at once: early */
    };                                            /* (n = 3), then final (n = 3) */
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        apply(w, &ops[i], out);
    }
    char *got = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert_str_eq(got,
                     "[{\"end\":1000,\"key\":\"k0\",\"n\":2,\"revision\":0,\"s\":3,\"start\":0},"
                     "{\"end\":1000,\"key\":\"k0\",\"n\":3,\"revision\":1,\"s\":7,\"start\":0},"
                     "{\"end\":1000,\"key\":\"k0\",\"n\":3,\"revision\":2,\"s\":7,\"start\":0}]");
    free(got);
    json_decref(out);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_early, hostile_state_is_refused)
{
    struct proc_def *plain = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{"
                                           "\"type\":\"tumbling\",\"size\":\"1s\"},"
                                           "\"allowed_lateness\":\"1s\"," AGGS "}");
    struct proc_def *early = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{"
                                           "\"type\":\"tumbling\",\"size\":\"1s\"},"
                                           "\"early\":\"100ms\"," AGGS "}");
    static const struct {
        int early_def; /* 1: the pipeline has early firings */
        const char *state;
        int ok;
    } cases[] = {
        {1, "{\"p\":[],\"s\":[],\"r\":[[0,1,5]],\"n\":null,\"e\":99}", 1},
        {1, "{\"p\":[],\"s\":[],\"r\":[[0,1]],\"n\":null}", 1},
        {1, "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"e\":-9223372036854775807}", 1},
        {0, "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"e\":99}", 0},
        {0, "{\"p\":[],\"s\":[],\"r\":[[0,1,5]],\"n\":null}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[[0,1,-5]],\"n\":null}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[[0,1,\"5\"]],\"n\":null}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[[0,1,5,6]],\"n\":null}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"e\":\"soon\"}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"e\":4611686018427387903}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"e\":-9223372036854775808}", 0},
        {1, "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"e\":1.5}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proc_windows *w = proc_windows_new(cases[i].early_def ? early : plain);
        json_t *st = json_loads(cases[i].state, 0, NULL);
        cr_assert_not_null(st, "%s", cases[i].state);
        int rc = proc_windows_restore(w, "\x1fk", st);
        cr_assert_eq(rc == 0, cases[i].ok, "%s (early %d): %s", cases[i].state, cases[i].early_def,
                     rc == 0 ? "taken" : "refused");
        json_decref(st);
        proc_windows_free(w);
    }
    proc_def_free(plain);
    proc_def_free(early);
}
