/* Unit tests for proc_windows_peek (services/processor/proc_window.c), the view the windows query
 * answers from: over random input (tumbling, hopping and session windows; emit final with allowed
 * lateness, emit update, early firings) a closed window peeks as exactly its last result (values
 * and revision), an open one as exactly the result it fires with when the watermark is taken to the
 * end at that point (the same input replayed into a fresh state), peeking changes nothing
 * (a twin state fed the same input without peeks emits the same results, byte for byte), expired
 * windows and other versions' windows are never shown, and an interval join or a key without
 * state shows none. */
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_window.h"
#include "proc_test.h"

#include "cm/mem.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NKEYS 7

/* Emitted results, as "<tenant>/<key>/<start>" → the last result's data, and in order as text. */
struct sink {
    const struct proc_def *d;
    json_t *last; /* (with `first` set, the first result of each window instead) */
    json_t *seq;
    int first;
};

static int on_emit(const struct proc_window_result *r, void *ud)
{
    struct sink *s = ud;
    json_t *data = proc_result_data(s->d, r);
    char id[128];
    snprintf(id, sizeof(id), "%s/%s/%lld", r->tenant, r->key, (long long)r->start_ms);
    json_array_append_new(s->seq, json_pack("{s:s, s:O}", "id", id, "data", data));
    if (!s->first || !json_object_get(s->last, id)) {
        json_object_set(s->last, id, data);
    }
    json_decref(data);
    return 1;
}

struct seen {
    const struct proc_def *d;
    json_t *list; /* [{id, open, data}] */
    int64_t wm;
};

static int on_peek(const struct proc_window_result *r, int open, void *ud)
{
    struct seen *s = ud;
    char id[128];
    snprintf(id, sizeof(id), "%s/%s/%lld", r->tenant, r->key, (long long)r->start_ms);
    cr_assert_eq(open, r->end_ms - 1 > s->wm, "%s: open is whether the watermark is before end-1",
                 id);
    json_array_append_new(s->list,
                          json_pack("{s:s, s:b, s:o, s:I}", "id", id, "open", open, "data",
                                    proc_result_data(s->d, r), "end", (json_int_t)r->end_ms));
    return 1;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    return proc_test_rand(&rng);
}

/* The input so far: events and watermark advances, replayed into a fresh state. */
struct op {
    int64_t t; /* event time, or the watermark of an advance (key NULL) */
    const char *tenant;
    char key[8];
    int v;
    int64_t wm;
};

/* What every window of the input so far gives when the watermark is taken to the end now:
 * "<tenant>/<key>/<start>" → the data of the first result it fires with then (with early
 * firings an early result comes before the final one, with the same values). */
static json_t *fired_now(const struct proc_def *d, const struct op *ops, size_t n)
{
    struct proc_windows *c = proc_windows_new(d);
    struct sink junk = {d, json_object(), json_array(), 0},
                out = {d, json_object(), json_array(), 1};
    size_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].key[0]) {
            json_t *ev = json_pack("{s:s, s:{s:i}}", "type", "t", "data", "v", ops[i].v);
            proc_windows_add(c, ops[i].tenant, ops[i].key, ops[i].t, ev, NULL, NULL, (int64_t)i,
                             ops[i].wm, on_emit, &junk, &errors);
            json_decref(ev);
        } else {
            proc_windows_advance(c, ops[i].t, on_emit, &junk);
        }
    }
    proc_windows_advance(c, INT64_MAX - 1, on_emit, &out);
    proc_windows_free(c);
    json_decref(junk.last);
    json_decref(junk.seq);
    json_decref(out.seq);
    return out.last;
}

/* Feeds the same random input to two states (one peeked along the way), checking each peek
 * against the results; returns the number of windows peeked. */
static size_t run(const char *def_text, int events)
{
    struct op *ops = cm_xcalloc(2 * (size_t)events, sizeof(*ops));
    size_t nops = 0;
    struct proc_def *d = proc_test_def(def_text);
    struct proc_windows *a = proc_windows_new(d), *b = proc_windows_new(d);
    struct sink sa = {d, json_object(), json_array(), 0}, sb = {d, json_object(), json_array(), 0};
    int64_t wm = INT64_MIN, tmax = 0;
    size_t errors = 0, peeked = 0, opened = 0, unchanged = 0;
    for (int i = 0; i < events; i++) {
        int64_t t = tmax - 3000 + (int64_t)(next_rand() % 5000); /* some out of order, some late */
        t = t < 0 ? 0 : t;
        tmax = t > tmax ? t : tmax;
        char key[8];
        snprintf(key, sizeof(key), "k%d", (int)(next_rand() % NKEYS));
        const char *tenant = next_rand() % 4 == 0 ? "acme" : "";
        int v = (int)(next_rand() % 100) - 20;
        json_t *ev = json_pack("{s:s, s:{s:i}}", "type", "t", "data", "v", v);
        proc_windows_add(a, tenant, key, t, ev, NULL, NULL, (int64_t)nops, wm, on_emit, &sa,
                         &errors);
        proc_windows_add(b, tenant, key, t, ev, NULL, NULL, (int64_t)nops, wm, on_emit, &sb,
                         &errors);
        json_decref(ev);
        ops[nops] = (struct op){t, tenant, "", v, wm};
        memcpy(ops[nops++].key, key, sizeof(key));
        if (next_rand() % 8 == 0) {
            wm = tmax - 1000;
            proc_windows_advance(a, wm, on_emit, &sa);
            proc_windows_advance(b, wm, on_emit, &sb);
            ops[nops++] = (struct op){wm, NULL, "", 0, 0};
        }
        if (next_rand() % 16 != 0) {
            continue;
        }
        json_t *now = fired_now(d, ops, nops);
        for (int k = 0; k < NKEYS; k++) {
            for (int ten = 0; ten < 2; ten++) {
                snprintf(key, sizeof(key), "k%d", k % 10);
                struct seen s = {d, json_array(), wm};
                size_t n = proc_windows_peek(a, ten ? "acme" : "", key, wm, on_peek, &s);
                cr_assert_eq(n, json_array_size(s.list));
                size_t j;
                json_t *item;
                int64_t prev = INT64_MIN;
                json_array_foreach(s.list, j, item)
                {
                    const char *id = json_string_value(json_object_get(item, "id"));
                    json_t *data = json_object_get(item, "data");
                    int64_t end = json_integer_value(json_object_get(item, "end"));
                    cr_assert_gt(end - 1 + d->lateness_ms, wm, "%s: an expired window is shown",
                                 id);
                    const char *start = strrchr(id, '/') + 1;
                    cr_assert_geq(atoll(start), prev, "%s: windows in start order", id);
                    prev = atoll(start);
                    json_t *last = json_object_get(sa.last, id);
                    if (!json_is_true(json_object_get(item, "open")) || d->emit_update) {
                        /* its values went out: the peek is the last result */
                        cr_assert_not_null(last, "%s: closed (or emit update) but never emitted",
                                           id);
                        char *x = json_dumps(data, JSON_SORT_KEYS),
                             *y = json_dumps(last, JSON_SORT_KEYS);
                        cr_assert_str_eq(x, y, "%s: the peek is its last result", id);
                        free(x);
                        free(y);
                    } else if (d->early_ms && last && json_equal(data, last)) {
                        /* open, unchanged since its last early result: that result */
                        unchanged++;
                    } else {
                        /* an open window: the peek is the result it fires with now */
                        json_t *fired = json_object_get(now, id);
                        cr_assert_not_null(fired, "%s: open but never fired", id);
                        char *x = json_dumps(data, JSON_SORT_KEYS),
                             *y = json_dumps(fired, JSON_SORT_KEYS);
                        cr_assert_str_eq(x, y, "%s: the peek of an open window is its result", id);
                        free(x);
                        free(y);
                        opened++;
                    }
                    peeked++;
                }
                json_decref(s.list);
            }
        }
        json_decref(now);
    }
    proc_windows_advance(a, INT64_MAX - 1, on_emit, &sa);
    proc_windows_advance(b, INT64_MAX - 1, on_emit, &sb);
    /* peeking changed nothing: the twin emitted the same results in the same order */
    char *x = json_dumps(sa.seq, JSON_SORT_KEYS), *y = json_dumps(sb.seq, JSON_SORT_KEYS);
    cr_assert_gt(json_array_size(sa.seq), 0);
    cr_assert_str_eq(x, y, "peeking changed what the state emits");
    free(x);
    free(y);
    if (!d->emit_update) {
        cr_assert_gt(opened, 0, "no open window was peeked");
    }
    if (d->early_ms) {
        cr_assert_gt(unchanged, 0, "no open window unchanged since an early result was peeked");
    }
    free(ops);
    json_decref(sa.last);
    json_decref(sa.seq);
    json_decref(sb.last);
    json_decref(sb.seq);
    proc_windows_free(a);
    proc_windows_free(b);
    proc_def_free(d);
    return peeked;
}

#define AGGS "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.v)\",\"hi\":\"max(data.v)\"}"

/* Each window kind and emit mode over random input, and the least number of windows it must
 * have peeked (the input is the same for all: a check over too few would prove little). */
static const struct {
    const char *what, *window;
    size_t min;
} KINDS[] = {
    {"tumbling, lateness", "{\"type\":\"tumbling\",\"size\":\"2s\"},\"allowed_lateness\":\"3s\"",
     100},
    {"hopping, lateness",
     "{\"type\":\"hopping\",\"size\":\"3s\",\"slide\":\"1s\"},\"allowed_lateness\":\"2s\"", 100},
    {"hopping with an offset, no lateness",
     "{\"type\":\"hopping\",\"size\":\"4s\",\"slide\":\"1s\",\"offset\":\"300ms\"}", 100},
    {"sessions, lateness", "{\"type\":\"session\",\"gap\":\"700ms\"},\"allowed_lateness\":\"2s\"",
     50},
    {"tumbling, emit update",
     "{\"type\":\"tumbling\",\"size\":\"2s\"},\"emit\":\"update\",\"allowed_lateness\":\"1s\"",
     100},
    {"sessions, emit update", "{\"type\":\"session\",\"gap\":\"500ms\"},\"emit\":\"update\"", 50},
    {"hopping, early firings",
     "{\"type\":\"hopping\",\"size\":\"3s\",\"slide\":\"1s\"},\"early\":\"400ms\","
     "\"allowed_lateness\":\"1s\"",
     100},
    {"sessions, early firings", "{\"type\":\"session\",\"gap\":\"700ms\"},\"early\":\"300ms\"", 50},
};

/* KINDS[i] peeks as its results. */
static void peek_kind(size_t i)
{
    char def[512];
    snprintf(def, sizeof(def), "{\"name\":\"p\",\"key\":\"data.k\",\"window\":%s," AGGS "}",
             KINDS[i].window);
    /* each check replays the input so far: the cost grows with the square of the events;
     * 1,200 peek 650 to 3,800 windows per kind */
    size_t n = run(def, 1200);
    cr_assert_geq(n, KINDS[i].min, "%s: %zu windows peeked", KINDS[i].what, n);
}

/* One test per kind, so that Criterion's workers share them out. */
Test(proc_peek, tumbling_with_lateness_peeks_as_its_results)
{
    peek_kind(0);
}
Test(proc_peek, hopping_with_lateness_peeks_as_its_results)
{
    peek_kind(1);
}
Test(proc_peek, hopping_with_an_offset_peeks_as_its_results)
{
    peek_kind(2);
}
Test(proc_peek, sessions_with_lateness_peek_as_their_results)
{
    peek_kind(3);
}
Test(proc_peek, tumbling_emit_update_peeks_as_its_results)
{
    peek_kind(4);
}
Test(proc_peek, sessions_emit_update_peek_as_their_results)
{
    peek_kind(5);
}
Test(proc_peek, hopping_early_firings_peek_as_their_results)
{
    peek_kind(6);
}
Test(proc_peek, sessions_early_firings_peek_as_their_results)
{
    peek_kind(7);
}

Test(proc_peek, every_window_kind_has_its_test)
{
    cr_assert_eq(sizeof(KINDS) / sizeof(KINDS[0]), 8, "a kind added to KINDS needs its Test");
}

static int count_peek(const struct proc_window_result *r, int open, void *ud)
{
    (void)open;
    json_array_append_new(ud, json_integer(r->start_ms));
    return json_array_size(ud) < 1000;
}

Test(proc_peek, bounds_unknown_keys_and_joins)
{
    struct proc_def *d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                                       "\"tumbling\",\"size\":\"1s\"}," AGGS "}");
    struct proc_windows *w = proc_windows_new(d);
    size_t errors = 0;
    for (int i = 0; i < 10; i++) {
        json_t *ev = json_pack("{s:s, s:{s:i}}", "type", "t", "data", "v", i);
        proc_windows_add(w, "", "k", i * 1000 + 5, ev, NULL, NULL, i, INT64_MIN, NULL, NULL,
                         &errors);
        json_decref(ev);
    }
    json_t *starts = json_array();
    cr_assert_eq(proc_windows_peek(w, "", "k", INT64_MIN, count_peek, starts), 10);
    cr_assert_eq(proc_windows_peek(w, "", "nobody", INT64_MIN, count_peek, starts), 0);
    cr_assert_eq(proc_windows_peek(w, "acme", "k", INT64_MIN, count_peek, starts), 0,
                 "another tenant's key");
    cr_assert_eq(proc_windows_peek(w, "", "k", 4999, count_peek, starts), 5,
                 "windows ending by 5 s expired at a watermark of 4.999 s (no lateness)");
    proc_windows_set_bounds(w, 3000, 6000);
    json_array_clear(starts);
    cr_assert_eq(proc_windows_peek(w, "", "k", INT64_MIN, count_peek, starts), 3,
                 "another version's windows are not shown");
    cr_assert_eq(json_integer_value(json_array_get(starts, 0)), 3000);
    cr_assert_eq(json_integer_value(json_array_get(starts, 2)), 5000);
    json_decref(starts);
    proc_windows_free(w);
    proc_def_free(d);

    d = proc_test_def("{\"name\":\"j\",\"key\":\"data.k\",\"interval_join\":{\"left\":{"
                      "\"filter\":\"data.v == 0\"},\"right\":{\"filter\":\"data.v == 1\"},"
                      "\"lower\":\"0s\",\"upper\":\"1s\"}}");
    w = proc_windows_new(d);
    json_t *ev =
        json_pack("{s:s, s:s, s:{s:i, s:s}}", "type", "t", "id", "1", "data", "v", 0, "k", "k");
    proc_windows_add(w, "", "k", 5, ev, NULL, NULL, 0, INT64_MIN, NULL, NULL, &errors);
    json_decref(ev);
    cr_assert_eq(proc_windows_peek(w, "", "k", INT64_MIN, count_peek, NULL), 0,
                 "an interval join keeps events, not windows");
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_peek, panes_far_apart_visit_only_windows_holding_them)
{
    struct proc_def *d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                                       "\"hopping\",\"size\":\"1m\",\"slide\":\"1s\"}," AGGS "}");
    struct proc_windows *w = proc_windows_new(d);
    size_t errors = 0;
    int64_t times[] = {5, 10LL * 365 * 86400000 + 5}; /* ten years apart */
    for (int i = 0; i < 2; i++) {
        json_t *ev = json_pack("{s:s, s:{s:i}}", "type", "t", "data", "v", i);
        proc_windows_add(w, "", "k", times[i], ev, NULL, NULL, i, INT64_MIN, NULL, NULL, &errors);
        json_decref(ev);
    }
    json_t *starts = json_array();
    /* 60 windows hold each event (not 315 million between them); count_peek stops at 1000 */
    cr_assert_eq(proc_windows_peek(w, "", "k", INT64_MIN, count_peek, starts), 120);
    cr_assert_eq(json_integer_value(json_array_get(starts, 0)), -59000);
    cr_assert_eq(json_integer_value(json_array_get(starts, 60)), times[1] / 1000 * 1000 - 59000);
    json_decref(starts);
    proc_windows_free(w);
    proc_def_free(d);

    d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":\"hopping\","
                      "\"size\":\"1h\",\"slide\":\"1s\"}," AGGS "}");
    w = proc_windows_new(d);
    json_t *ev = json_pack("{s:s, s:{s:i}}", "type", "t", "data", "v", 1);
    proc_windows_add(w, "", "k", 5, ev, NULL, NULL, 0, INT64_MIN, NULL, NULL, &errors);
    json_decref(ev);
    starts = json_array();
    cr_assert_eq(proc_windows_peek(w, "", "k", INT64_MIN, count_peek, starts), 1000,
                 "the callback stops the walk");
    json_decref(starts);
    proc_windows_free(w);
    proc_def_free(d);
}
