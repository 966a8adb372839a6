/* Unit tests for the processor's results (services/processor/proc_result.c): a window result
 * written straight to text (the live processor's path) is byte for byte the CloudEvent the
 * JSON-value path builds (pipeline-run's and dry-run's), with the same Kafka key and headers,
 * for every aggregate, with and without tenant and traceparent, revisions of late firings, and
 * sums that overflow to infinity, each result with its timing (early, on_time, late); and a keyed
 * pipeline's second stage fed what the first stage evaluated (proc_engine_window_keyed: no event
 * parsed) gives the results and late events of the one-stage engine; one stage's per-partition
 * watermarks; and one stage's records whose Kafka key is not the pipeline's key, reported. */
#include "../../services/processor/proc_engine.h"
#include "proc_test.h"

#include "cm/envelope.h"
#include "cm/event.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
    json_t *list; /* [{"key", "text", "headers": [[name, value], ...]}] */
    json_t *late; /* late events, or NULL */
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
    struct got *g = ud;
    if (g->late) {
        json_array_append(g->late, (json_t *)ev);
    }
}

/* Runs the same events through an engine with the given outputs; returns what it emitted. */
static json_t *run(const char *def, int text)
{
    struct proc_def *d = proc_test_def(def);
    struct got g = {json_array(), NULL};
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
        "\"p\":\"percentile(data.v, 0.9)\",\"c\":\"sum(data.u)\",\"sd\":\"stddev(data.v)\","
        "\"f\":\"first(data.v)\",\"l\":\"last(data)\"}}",
        "{\"name\":\"h\",\"key\":\"data.k\",\"window\":{\"type\":\"hopping\",\"size\":\"2s\","
        "\"slide\":\"500ms\"},\"emit\":\"update\",\"aggregates\":{\"n\":\"count()\","
        "\"f\":\"first(data.v)\",\"vp\":\"var_pop(data.v)\",\"t\":\"topk(data.v, 3)\","
        "\"td\":\"topk_distinct(data.u, 2)\"}}",
        "{\"name\":\"s\",\"key\":\"data.g\",\"window\":{\"type\":\"session\",\"gap\":\"40ms\"},"
        "\"aggregates\":{\"lo\":\"min(data.u)\",\"a\":\"avg(data.u)\","
        "\"cl\":\"collect_list(data, 4)\",\"cs\":\"collect_set(data.v)\"}}",
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
        /* each says when it went out: emit final gives the final results and late firings,
         * emit update early updates (and late ones) */
        int timings[3] = {0, 0, 0};
        static const char *const TIMINGS[] = {"\"timing\":\"early\",", "\"timing\":\"on_time\",",
                                              "\"timing\":\"late\","};
        for (size_t k = 0; k < json_array_size(t); k++) {
            const char *text = json_string_value(json_object_get(json_array_get(t, k), "text"));
            for (int m = 0; m < 3; m++) {
                timings[m] += strstr(text, TIMINGS[m]) != NULL;
            }
        }
        cr_assert_eq(timings[0] + timings[1] + timings[2], (int)json_array_size(t),
                     "every result of %s has one timing", defs[i]);
        cr_assert((i == 1) == (timings[0] > 0), "early results only with emit update (%s)",
                  defs[i]);
        cr_assert((i != 1) == (timings[1] > 0), "final results only with emit final (%s)", defs[i]);
        cr_assert((i == 0) == (timings[2] > 0), "late firings only with allowed_lateness (%s)",
                  defs[i]);
        if (i == 0) { /* the cases above did come up */
            int revised = 0, overflowed = 0;
            for (size_t k = 0; k < json_array_size(t); k++) {
                const char *text = json_string_value(json_object_get(json_array_get(t, k), "text"));
                revised |= strstr(text, "\"revision\":1,") != NULL &&
                           strstr(text, "\"timing\":\"late\",") != NULL;
                overflowed |= strstr(text, "\"s\":null") != NULL;
            }
            cr_assert(revised, "a late event fired a window again");
            cr_assert(overflowed, "a sum overflowed");
        }
        json_decref(t);
        json_decref(j);
    }
}

/* A session that expired can be followed by another with the same start: an event at its start
 * merged into a later session that is still open. Both go out with revision 0; sinks deduplicate
 * by id, so the second must not take the first's id (it did when ids held only the start). The
 * id holds a session's end too, on both paths alike. */
Test(proc_result, a_session_again_at_an_expired_ones_start_gets_its_own_id)
{
    struct proc_def *d = proc_test_def(
        "{\"name\":\"s\",\"key\":\"data.g\",\"window\":{\"type\":\"session\",\"gap\":\"20ms\"},"
        "\"aggregates\":{\"n\":\"count()\"}}");
    char ids[2][2][64], ends[2][2][32];
    for (int text = 0; text < 2; text++) {
        struct got g = {json_array(), NULL};
        struct proc_engine_out out = {
            .emit = on_json, .emit_text = text ? on_text : NULL, .late = on_late, .ud = &g};
        struct proc_engine *e = proc_engine_new(d, &out, NULL);
        /* x at 360 ([360, 380)); y at 379 moves the watermark to 379: x's session fires and
         * expires; x at 378 opens [378, 398), x at 360 merges into it: [360, 398) */
        static const struct {
            const char *g;
            int64_t t;
        } evs[] = {{"x", 360}, {"y", 379}, {"x", 378}, {"x", 360}};
        for (int i = 0; i < 4; i++) {
            json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "specversion", "1.0", "id", "e",
                                   "source", "/t", "type", "t", "data", "g", evs[i].g);
            proc_engine_process(e, 0, ev, 1767225600000LL + evs[i].t, i, 0);
            json_decref(ev);
        }
        proc_engine_watermark(e, INT64_MAX);
        proc_engine_free(e);
        int nx = 0;
        for (size_t k = 0; k < json_array_size(g.list); k++) {
            json_t *r = json_loads(
                json_string_value(json_object_get(json_array_get(g.list, k), "text")), 0, NULL);
            cr_assert_not_null(r);
            const json_t *data = json_object_get(r, "data");
            if (strcmp(json_string_value(json_object_get(data, "key")), "x") == 0) {
                cr_assert_lt(nx, 2);
                cr_assert_str_eq(json_string_value(json_object_get(data, "window_start")),
                                 "2026-01-01T00:00:00.360Z");
                cr_assert_eq(json_integer_value(json_object_get(data, "revision")), 0);
                snprintf(ids[text][nx], sizeof(ids[text][nx]), "%s",
                         json_string_value(json_object_get(r, "id")));
                snprintf(ends[text][nx], sizeof(ends[text][nx]), "%s",
                         json_string_value(json_object_get(data, "window_end")));
                nx++;
            }
            json_decref(r);
        }
        cr_assert_eq(nx, 2, "two sessions of x starting at 360 (got %d)", nx);
        cr_assert_str_eq(ends[text][0], "2026-01-01T00:00:00.380Z");
        cr_assert_str_eq(ends[text][1], "2026-01-01T00:00:00.398Z");
        cr_assert_str_neq(ids[text][0], ids[text][1]);
        json_decref(g.list);
    }
    cr_assert_str_eq(ids[0][0], ids[1][0]);
    cr_assert_str_eq(ids[0][1], ids[1][1]);
    proc_def_free(d);
}

/* A client's 0.1 comes out as 0.1 (not 0.10000000000000001, another number to PostgreSQL), a
 * percentile with its 4 significant digits only, and one of values near DBL_MAX as a number, not
 * null; on both paths alike. */
Test(proc_result, reals_come_out_as_short_as_they_read_back)
{
    struct proc_def *d = proc_test_def(
        "{\"name\":\"r\",\"key\":\"data.g\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
        "\"aggregates\":{\"hi\":\"max(data.v)\",\"a\":\"avg(data.v)\",\"p\":\"percentile(data.v, "
        "0.5)\","
        "\"top\":\"percentile(data.v, 1)\"}}");
    for (int text = 0; text < 2; text++) {
        struct got g = {json_array(), NULL};
        struct proc_engine_out out = {
            .emit = on_json, .emit_text = text ? on_text : NULL, .late = on_late, .ud = &g};
        struct proc_engine *e = proc_engine_new(d, &out, NULL);
        static const double vals[] = {0.1, 1e308, 1.7976931348623157e308};
        for (int i = 0; i < 3; i++) {
            json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:f}}", "specversion", "1.0", "id", "e",
                                   "source", "/t", "type", "t", "data", "g", "k", "v", vals[i]);
            proc_engine_process(e, 0, ev, 1767225600000LL + (i ? 1000 : 0), i, 0);
            json_decref(ev);
        }
        proc_engine_watermark(e, INT64_MAX);
        proc_engine_free(e);
        cr_assert_eq(json_array_size(g.list), 2);
        const char *small = json_string_value(json_object_get(json_array_get(g.list, 0), "text"));
        const char *big = json_string_value(json_object_get(json_array_get(g.list, 1), "text"));
        cr_assert(strstr(small, "\"hi\":0.1,\"a\":0.1,\"p\":0.") != NULL, "%s", small);
        json_t *r = json_loads(small, 0, NULL);
        cr_assert_not_null(r);
        char digits[32];
        snprintf(digits, sizeof(digits), "%.4g",
                 json_real_value(json_object_get(json_object_get(r, "data"), "p")));
        char want[48];
        snprintf(want, sizeof(want), "\"p\":%s,", digits);
        cr_assert(strstr(small, want) != NULL, "%s: %s", small, want);
        json_decref(r);
        cr_assert(strstr(big, "\"hi\":1.7976931348623157e308,") != NULL, "%s", big);
        json_t *b = json_loads(big, 0, NULL);
        cr_assert_not_null(b);
        const json_t *bd = json_object_get(b, "data");
        double p50 = json_real_value(json_object_get(bd, "p"));
        double top = json_real_value(json_object_get(bd, "top"));
        cr_assert(json_is_real(json_object_get(bd, "top")), "%s", big);
        cr_assert_leq(fabs(p50 - 1e308), 0.01 * 1e308, "%s", big);
        cr_assert_leq(fabs(top - 1.7976931348623157e308), 0.01 * 1.7976931348623157e308, "%s", big);
        json_decref(b);
        json_decref(g.list);
    }
    proc_def_free(d);
}

/* ---- two stages ---- */

struct stage {
    struct proc_engine *e;
    int32_t source;
    int64_t offset;
    int keyed; /* calls made */
};

/* The first stage's output goes straight to the second stage of the same engine, as if through
 * a repartition topic with one partition per input partition. */
static void prepared(const json_t *ev, const char *tenant, const char *key, int unchanged,
                     const json_t *args, void *ud)
{
    (void)unchanged;
    struct stage *st = ud;
    char *raw = cm_envelope_serialize(ev);
    const json_t *tp = json_object_get(ev, "traceparent");
    struct proc_keyed k = {.tenant = tenant,
                           .key = key,
                           .traceparent = json_string_value(tp),
                           .time_ms = cm_envelope_time_ms(ev, 0),
                           .args = args,
                           .raw = raw,
                           .rawlen = strlen(raw)};
    cr_assert_not_null(args);
    proc_engine_window_keyed(st->e, st->source, &k, st->offset, NULL, 0);
    st->keyed++;
    free(raw);
}

static void run_both(const char *def, json_t **one, json_t **two, json_t **late1, json_t **late2)
{
    for (int staged = 0; staged < 2; staged++) {
        struct proc_def *d = proc_test_def(def);
        struct got g = {json_array(), json_array()};
        struct proc_engine_out out = {.emit = on_json, .late = on_late, .ud = &g};
        struct proc_engine *e = proc_engine_new(d, &out, NULL);
        struct stage st = {e, 0, 0, 0};
        for (int i = 0; i < 400; i++) {
            /* every 40th event 4 s late: past the lateness of 2 s, so late */
            int64_t t = 1767225600000LL + (int64_t)i * 53 - (i % 40 == 39 ? 4000 : 0);
            char when[CM_RFC3339_LEN];
            cm_time_format_rfc3339(t, when);
            json_t *ev =
                json_pack("{s:s,s:s%,s:s,s:s,s:s,s:s,s:{s:s,s:i,s:s}}", "specversion", "1.0", "id",
                          "e", (size_t)1, "source", "/t", "type", "t", "time", when, "tenant",
                          i % 2 ? "acme" : "globex", "data", "g", i % 3 ? "a" : "b", "v",
                          i % 7 == 0 ? -1 : i, "u", i % 5 ? "x" : "y");
            if (i % 4 == 0) {
                json_object_set_new(
                    ev, "traceparent",
                    json_string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
            }
            if (i % 11 == 0) {
                json_object_set_new(json_object_get(ev, "data"), "v", json_string("bad"));
            }
            st.source = i % 2;
            st.offset = i;
            if (staged) {
                proc_engine_prepare(e, i % 2, ev, t, PROC_NO_RECORD_TIME, 0, prepared, &st);
            } else {
                proc_engine_process(e, i % 2, ev, t, i, 0);
            }
            json_decref(ev);
        }
        proc_engine_watermark(e, INT64_MAX);
        if (staged) {
            cr_assert_gt(st.keyed, 300);
            *two = g.list;
            *late2 = g.late;
        } else {
            *one = g.list;
            *late1 = g.late;
        }
        proc_engine_free(e);
        proc_def_free(d);
    }
}

Test(proc_result, a_second_stage_fed_evaluated_arguments_matches_one_stage)
{
    static const char *defs[] = {
        "{\"name\":\"p\",\"key\":\"data.g\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
        "\"allowed_lateness\":\"2s\",\"steps\":[{\"filter\":\"data.g != 'z'\"}],"
        "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.v)\",\"a\":\"avg(data.v)\","
        "\"d\":\"distinct(data.u)\",\"p\":\"percentile(data.v, 0.5)\",\"m\":\"max(data.v)\","
        "\"f\":\"first(data)\",\"l\":\"last(data.v)\",\"sd\":\"stddev_pop(data.v)\"}}",
        "{\"name\":\"h\",\"key\":\"data.u\",\"window\":{\"type\":\"hopping\",\"size\":\"2s\","
        "\"slide\":\"1s\"},\"emit\":\"update\",\"allowed_lateness\":\"1s\","
        "\"aggregates\":{\"n\":\"count()\",\"lo\":\"min(data.v)\"}}",
        "{\"name\":\"s\",\"key\":\"data.g\",\"window\":{\"type\":\"session\",\"gap\":\"100ms\"},"
        "\"steps\":[{\"map\":{\"g\":\"data.g\",\"v\":\"data.v\"}}],"
        "\"aggregates\":{\"s\":\"sum(data.v)\"}}",
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        json_t *one = NULL, *two = NULL, *late1 = NULL, *late2 = NULL;
        run_both(defs[i], &one, &two, &late1, &late2);
        cr_assert_gt(json_array_size(one), 10, "results expected from %s", defs[i]);
        cr_assert(json_equal(one, two), "%s: results differ", defs[i]);
        cr_assert_gt(json_array_size(late1), 0, "late events expected from %s", defs[i]);
        cr_assert(json_equal(late1, late2), "%s: late events differ", defs[i]);
        json_decref(one);
        json_decref(two);
        json_decref(late1);
        json_decref(late2);
    }
}

/* The arguments a repartition frame entry carries come from outside (anyone may write to the
 * topic): arguments missing, of the wrong types or nested are skipped or counted, never trusted
 * blindly; the late path parses the raw event, and a raw value that is not JSON is counted. */
Test(proc_result, hostile_evaluated_arguments_are_refused_not_trusted)
{
    struct proc_def *d = proc_test_def(
        "{\"name\":\"p\",\"key\":\"data.g\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
        "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.v)\",\"d\":\"distinct(data.u)\","
        "\"p\":\"percentile(data.v, 0.5)\"}}");
    struct got g = {json_array(), json_array()};
    struct proc_engine_out out = {.emit = on_json, .late = on_late, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    static const char *hostile[] = {"[]",
                                    "[1]",
                                    "[null,\"x\",{},[1,2]]",
                                    "[null,1e308,true,\"1\"]",
                                    "[null,[],[],[]]",
                                    "[null,{\"a\":{\"b\":[]}},null,null,9,9]"};
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        json_t *args = json_loads(hostile[i], 0, NULL);
        cr_assert_not_null(args);
        struct proc_keyed k = {.tenant = "t",
                               .key = i % 2 ? "" : "k",
                               .traceparent = "garbage",
                               .time_ms = 1767225600000LL + (int64_t)i,
                               .args = args,
                               .raw = "not json",
                               .rawlen = 8};
        proc_engine_window_keyed(e, 0, &k, (int64_t)i, NULL, 0);
        json_decref(args);
    }
    /* a late one whose raw value is not JSON: counted, nothing sent to the late topic */
    proc_engine_watermark(e, 1767225700000LL);
    json_t *args = json_loads("[null,1,\"u\",1]", 0, NULL);
    struct proc_keyed late = {.tenant = "",
                              .key = "k",
                              .time_ms = 1767225600000LL,
                              .args = args,
                              .raw = "{\"broken",
                              .rawlen = 8};
    proc_engine_window_keyed(e, 0, &late, 99, NULL, 0);
    json_decref(args);
    cr_assert_eq(json_array_size(g.late), 0);
    cr_assert_gt(json_array_size(g.list), 0, "the windows fired");
    for (size_t i = 0; i < json_array_size(g.list); i++) {
        json_t *ev = json_loads(
            json_string_value(json_object_get(json_array_get(g.list, i), "text")), 0, NULL);
        cr_assert_not_null(ev, "a result is JSON");
        cr_assert_null(json_object_get(ev, "traceparent"), "an invalid traceparent is dropped");
        json_decref(ev);
    }
    json_decref(g.list);
    json_decref(g.late);
    proc_engine_free(e);
    proc_def_free(d);
}

struct heard {
    int64_t *v;
    size_t *n;
};

static void collect_report(int32_t origin, int64_t wm, int idle, int64_t sent_ms, void *ud)
{
    (void)sent_ms;
    struct heard *rl = ud;
    (void)origin;
    (void)idle;
    rl->v[(*rl->n)++] = wm;
}

/* A keyed tumbling count of 10 ms windows read through the repartition topic (its second stage,
 * fed by reports and proc_engine_window_keyed), and what it emits. */
struct second_stage {
    struct proc_def *d;
    struct proc_engine *e;
    struct got g;
};

static void second_stage_new(struct second_stage *t)
{
    t->d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                         "\"tumbling\",\"size\":\"10ms\"},\"aggregates\":{\"n\":\"count()\"}}");
    t->g = (struct got){json_array(), json_array()};
    struct proc_engine_out out = {.emit = on_json, .late = on_late, .ud = &t->g};
    t->e = proc_engine_new(t->d, &out, NULL);
}

/* The count `n` of the i-th result emitted (its text parsed). */
static json_int_t result_n(const struct got *g, size_t i)
{
    json_t *ev =
        json_loads(json_string_value(json_object_get(json_array_get(g->list, i), "text")), 0, NULL);
    cr_assert_not_null(ev);
    json_int_t n = json_integer_value(json_object_get(json_object_get(ev, "data"), "n"));
    json_decref(ev);
    return n;
}

static void second_stage_free(struct second_stage *t)
{
    json_decref(t->g.list);
    json_decref(t->g.late);
    proc_engine_free(t->e);
    proc_def_free(t->d);
}

/* A second-stage partition is judged by its own reports: one restored from a checkpoint (its
 * watermark and the reports it had heard) after another partition of the same engine moved far
 * ahead takes what it reads again as it did the first time. With one watermark over the whole
 * engine, raised meanwhile by the other partition, the event below was late (an instance that
 * took over partitions under load sent events of open windows to events.late). */
Test(proc_result, a_restored_partition_keeps_its_own_watermark)
{
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    struct got g = t.g;
    const int32_t origins[] = {0, 1};
    proc_engine_use_reports(e, origins, 2);
    proc_engine_report(e, 0, 0, 1000, 0, 0); /* partition 0 hears both input partitions at 1000 */
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "one input partition not heard");
    proc_engine_report(e, 0, 1, 1000, 0, 0);
    cr_assert_eq(proc_engine_current_watermark(e), 1000);
    /* partition 1 restored from a checkpoint taken when both input partitions were at 15 */
    proc_engine_restore_source(e, 1, 15, 5, 0);
    proc_engine_restore_watermark(e, 1, 15);
    proc_engine_restore_report(e, 1, 0, 15, 0, 0);
    proc_engine_restore_report(e, 1, 1, 15, 0, 0);
    proc_engine_restore_report(e, 1, 7, 99, 0, 0); /* not an input partition: ignored */
    cr_assert_eq(proc_engine_current_watermark(e), 15, "the least of its partitions'");
    int64_t heard[4];
    size_t nheard = 0;
    struct heard rl = {heard, &nheard};
    cr_assert_eq(proc_engine_source_watermark(e, 1, collect_report, &rl), 15);
    cr_assert_eq(nheard, 2, "both reports kept for the next checkpoint");
    /* read again after the checkpoint: an event at 17, in [10, 20), is on time */
    json_t *args = json_loads("[null]", 0, NULL);
    struct proc_keyed k = {
        .tenant = "", .key = "a", .time_ms = 17, .args = args, .raw = "{}", .rawlen = 2};
    cr_assert_eq(proc_engine_window_keyed(e, 1, &k, 5, NULL, 0), 0);
    json_decref(args);
    cr_assert_eq(json_array_size(g.late), 0, "not late");
    proc_engine_report(e, 1, 0, 1000, 0, 0);
    cr_assert_eq(json_array_size(g.list), 0, "input partition 1 still at 15 there");
    proc_engine_report(e, 1, 1, 1000, 0, 0);
    cr_assert_eq(json_array_size(g.list), 1, "[10, 20) fired by partition 1's own reports");
    cr_assert_eq(result_n(&g, 0), 1);
    second_stage_free(&t);
}

/* A second stage told again its input partitions when an input topic grew (the processor asks
 * after every rebalance): the partitions it knew keep their reports, so nothing already fired
 * waits again, and the new one holds the watermark back until it is first reported, so its
 * events are judged by it. Told the same list again, nothing changes. */
Test(proc_result, a_grown_input_topic_keeps_the_reports_and_awaits_its_new_partition)
{
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    struct got g = t.g;
    const int32_t two[] = {0, 65536}, three[] = {0, 1, 65536};
    proc_engine_use_reports(e, two, 2);
    json_t *args = json_loads("[null]", 0, NULL);
    struct proc_keyed k = {
        .tenant = "", .key = "a", .time_ms = 5, .args = args, .raw = "{}", .rawlen = 2};
    for (int32_t src = 0; src < 2; src++) {
        proc_engine_report(e, src, 0, 20, 0, 0);
        proc_engine_report(e, src, 65536, 20, 0, 0);
    }
    cr_assert_eq(proc_engine_current_watermark(e), 20);
    proc_engine_use_reports(e, two, 2); /* the same list: nothing changes */
    cr_assert_eq(proc_engine_current_watermark(e), 20);
    proc_engine_use_reports(e, three, 3); /* the first topic got a second partition */
    cr_assert_eq(proc_engine_current_watermark(e), 20, "a watermark never goes back");
    k.time_ms = 25;
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 0, NULL, 0), 0);
    proc_engine_report(e, 0, 0, 40, 0, 0);
    proc_engine_report(e, 0, 65536, 40, 0, 0);
    cr_assert_eq(proc_engine_current_watermark(e), 20, "input partition 1 not heard yet");
    cr_assert_eq(json_array_size(g.list), 0, "[20, 30) waits for it");
    k.time_ms = 22; /* the new partition's first event, older than the others' 40 */
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 1, NULL, 0), 0);
    cr_assert_eq(json_array_size(g.late), 0, "on time");
    proc_engine_report(e, 0, 1, 40, 0, 0);
    cr_assert_eq(json_array_size(g.list), 1, "[20, 30) fired with both events");
    cr_assert_eq(result_n(&g, 0), 2);
    /* source 1 kept its reports of 0 and 65536; it waits only for the new partition */
    proc_engine_report(e, 1, 1, 40, 0, 0);
    int64_t heard[4];
    size_t nheard = 0;
    struct heard rl = {heard, &nheard};
    cr_assert_eq(proc_engine_source_watermark(e, 1, collect_report, &rl), 20);
    cr_assert_eq(nheard, 3, "the two kept and the new one");
    cr_assert_eq(proc_engine_current_watermark(e), 20, "source 1's other partitions still at 20");
    json_decref(args);
    second_stage_free(&t);
}

/* An input partition's idle report counts only while its sender keeps saying so. Input partition
 * 0 is idle on instance A, which then falls silent (starved, stopped) while partition 1's
 * reports (instance B) go on: sent more than PROC_IDLE_REPORT_STALE_MS after A's last one, they
 * no longer pass partition 0 by, so the event A reads late is on time. Before, A's last word
 * stood: [10, 20) fired without it and it went to the late events. The same reports within the
 * bound still pass the idle partition by (the control), and A's fresh idle report does again. */
static void silent_sender(int64_t b_sent, size_t want_results_before, size_t want_late)
{
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    const int32_t origins[] = {0, 1};
    proc_engine_use_reports(e, origins, 2);
    proc_engine_report(e, 0, 0, 5, 1, 1000); /* A: partition 0 idle */
    proc_engine_report(e, 0, 1, 5, 0, 1000); /* B: partition 1 at 5 */
    json_t *args = json_loads("[null]", 0, NULL);
    struct proc_keyed k = {
        .tenant = "", .key = "a", .time_ms = 12, .args = args, .raw = "{}", .rawlen = 2};
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 0, NULL, 0), 0); /* (of partition 1) */
    proc_engine_report(e, 0, 1, 25, 0, b_sent); /* B moves on; A says nothing */
    cr_assert_eq(json_array_size(t.g.list), want_results_before, "B's report at %lld",
                 (long long)b_sent);
    k.time_ms = 15; /* A reads partition 0's event at last */
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 1, NULL, 0), 0);
    cr_assert_eq(json_array_size(t.g.late), want_late);
    proc_engine_report(e, 0, 0, 30, 0, b_sent + 100); /* A: partition 0 at 30 */
    cr_assert_eq(json_array_size(t.g.list), 1, "[10, 20) fired once");
    cr_assert_eq(result_n(&t.g, 0), 2 - (json_int_t)want_late);
    json_decref(args);
    second_stage_free(&t);
}

Test(proc_result, a_silent_senders_idle_report_stops_counting)
{
    silent_sender(1000 + PROC_IDLE_REPORT_STALE_MS + 1, 0, 0);
}

Test(proc_result, a_fresh_idle_report_passes_the_partition_by)
{
    silent_sender(1000 + PROC_IDLE_REPORT_STALE_MS, 1, 1);
    /* and one that went stale counts again once its sender says idle anew; the staleness comes
     * back from a checkpoint with the reports */
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    const int32_t origins[] = {0, 1};
    proc_engine_use_reports(e, origins, 2);
    proc_engine_report(e, 0, 0, 5, 1, 1000);
    proc_engine_report(e, 0, 1, 25, 0, 9000);
    cr_assert_eq(proc_engine_current_watermark(e), 5, "held by the stale idle partition");
    proc_engine_restore_source(e, 1, 5, 0, 0);
    proc_engine_restore_report(e, 1, 0, 5, 1, 1000);
    proc_engine_restore_report(e, 1, 1, 25, 0, 9000);
    int64_t heard[4];
    size_t nheard = 0;
    struct heard rl = {heard, &nheard};
    proc_engine_source_watermark(e, 0, collect_report, &rl);
    cr_assert_eq(nheard, 2);
    proc_engine_report(e, 0, 0, 5, 1, 9100);  /* A again: idle */
    proc_engine_report(e, 1, 1, 25, 0, 9100); /* (source 1 hears B anew) */
    cr_assert_eq(proc_engine_current_watermark(e), 5, "source 1 restored A's stale report");
    proc_engine_report(e, 1, 0, 5, 1, 9100);
    cr_assert_eq(proc_engine_current_watermark(e), 25,
                 "both sources pass partition 0 by again (%lld)",
                 (long long)proc_engine_current_watermark(e));
    second_stage_free(&t);
}

/* A keyed tumbling count of 10 ms windows read in one stage (idle_timeout 1 s, no
 * out-of-orderness), what it emits, and an event to feed it. */
struct one_stage {
    struct proc_def *d;
    struct proc_engine *e;
    struct got g;
    json_t *ev;
};

static void one_stage_new(struct one_stage *o)
{
    o->d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                         "\"tumbling\",\"size\":\"10ms\"},\"idle_timeout\":\"1s\","
                         "\"out_of_orderness\":\"0ms\",\"aggregates\":{\"n\":\"count()\"},"
                         "\"repartition\":false}");
    o->g = (struct got){json_array(), json_array()};
    struct proc_engine_out out = {.emit = on_json, .late = on_late, .ud = &o->g};
    o->e = proc_engine_new(o->d, &out, NULL);
    o->ev = json_loads("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\","
                       "\"data\":{\"k\":\"a\"}}",
                       0, NULL);
}

static void one_stage_free(struct one_stage *o)
{
    json_decref(o->ev);
    json_decref(o->g.list);
    json_decref(o->g.late);
    proc_engine_free(o->e);
    proc_def_free(o->d);
}

/* One stage: an input partition assigned that has sent nothing holds the watermark back until
 * it has been idle for idle_timeout (as a Flink source's split), so its events that come after
 * another partition moved ahead are on time; then it is left out, and it holds nothing back
 * once revoked. Without it, partition 1's event below was late. */
Test(proc_result, an_assigned_partition_not_heard_yet_holds_the_watermark)
{
    struct one_stage o;
    one_stage_new(&o);
    struct proc_engine *e = o.e;
    struct got g = o.g;
    const json_t *ev = o.ev;
    for (int32_t p = 0; p < 3; p++) {
        proc_engine_expect_source(e, p, 100000);
    }
    proc_engine_process(e, 0, ev, 45, 0, 100010);
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "partitions 1 and 2 not heard");
    proc_engine_process(e, 1, ev, 5, 0, 100020);
    cr_assert_eq(json_array_size(g.late), 0, "partition 1's event is on time");
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "partition 2 still awaited");
    proc_engine_tick(e, 100999);
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "not idle before idle_timeout");
    proc_engine_drop_source(e, 2); /* revoked: awaited no more */
    proc_engine_tick(e, 101000);
    cr_assert_eq(proc_engine_current_watermark(e), 5, "the least of partitions 0 and 1");
    cr_assert_eq(json_array_size(g.list), 0, "[0, 10) has not ended");
    proc_engine_expect_source(e, 3, 101000); /* assigned later: holds back from now on */
    proc_engine_process(e, 1, ev, 30, 1, 101010);
    cr_assert_eq(proc_engine_current_watermark(e), 5, "partition 3 awaited");
    proc_engine_tick(e, 102000); /* partition 3 idle now; 0 too, 1 not */
    cr_assert_eq(proc_engine_current_watermark(e), 30);
    proc_engine_tick(e, 102010); /* all idle: the greatest */
    cr_assert_eq(proc_engine_current_watermark(e), 45);
    cr_assert_eq(json_array_size(g.list), 2, "[0, 10) and [30, 40) fired; [40, 50) not ended");
    cr_assert_eq(json_array_size(g.late), 0);
    one_stage_free(&o);
}

static int backlog_calls;

static int backlog_of_1(int32_t source, void *ud)
{
    (void)ud;
    backlog_calls++;
    return source == 1;
}

/* One stage: a partition with records waiting to be read (its fetching paused by flow control,
 * say) is not idle, as in a first stage's reports; else the partition ahead moves the watermark
 * past the records it holds back, and they are late once read. The same engine without the
 * backlog noted sends that event to the late topic. */
Test(proc_result, a_partition_with_records_waiting_is_not_idle)
{
    for (int noted = 0; noted <= 1; noted++) {
        struct one_stage o;
        one_stage_new(&o);
        struct proc_engine *e = o.e;
        struct got g = o.g;
        const json_t *ev = o.ev;
        proc_engine_expect_source(e, 0, 100000);
        proc_engine_expect_source(e, 1, 100000);
        proc_engine_process(e, 0, ev, 45, 0, 100000);
        proc_engine_process(e, 1, ev, 5, 0, 100000);
        cr_assert_eq(proc_engine_current_watermark(e), 5);
        backlog_calls = 0;
        if (noted) {
            proc_engine_note_backlog(e, 100400, backlog_of_1, NULL);
            cr_assert_eq(backlog_calls, 0, "not asked before half of idle_timeout");
            proc_engine_note_backlog(e, 100600, backlog_of_1, NULL);
            cr_assert_eq(backlog_calls, 2, "both partitions asked");
        }
        proc_engine_tick(e, 101000);
        cr_assert_eq(proc_engine_current_watermark(e), noted ? 5 : 45,
                     "partition 0 idle; partition 1 %s", noted ? "has records waiting" : "too");
        proc_engine_process(e, 1, ev, 8, 1, 101010);
        cr_assert_eq(json_array_size(g.late), noted ? 0 : 1);
        one_stage_free(&o);
    }
}

/* One stage: a partition that moves here with its checkpoint (restored behind the watermark
 * this instance's other partitions made) judges what it reads again as it did before: by its
 * own watermark, not by the one of the partitions that were here. With one watermark over the
 * engine, the event below was late (an instance that took over a partition sent events of its
 * open windows to events.late). */
Test(proc_result, one_stage_a_restored_partition_keeps_its_own_watermark)
{
    struct one_stage o;
    one_stage_new(&o);
    proc_engine_process(o.e, 0, o.ev, 100, 0, 0);
    proc_engine_process(o.e, 1, o.ev, 100, 0, 0);
    cr_assert_eq(proc_engine_current_watermark(o.e), 100);
    size_t fired = json_array_size(o.g.list);
    /* partition 2, checkpointed elsewhere at event time 90 (its window [90, 100) open) */
    proc_engine_expect_source(o.e, 2, 0);
    proc_engine_restore_source(o.e, 2, 90, 7, 0);
    proc_engine_restore_watermark(o.e, 2, 90);
    proc_engine_process(o.e, 2, o.ev, 92, 7, 0);
    cr_assert_eq(json_array_size(o.g.late), 0, "on time by partition 2's own watermark");
    cr_assert_eq(json_array_size(o.g.list), fired, "[90, 100) of partition 2 not ended for it");
    proc_engine_process(o.e, 2, o.ev, 100, 8, 0);
    cr_assert_eq(json_array_size(o.g.list), fired + 1, "fired when partition 2 passed it");
    one_stage_free(&o);
}

struct mismatch {
    json_t *seen; /* ["<source>@<offset> <record key>≠<key>", ...] */
};

static void on_mismatch(const struct proc_def *d, int32_t source, int64_t offset,
                        const struct proc_record_key *rkey, const char *key, void *ud)
{
    (void)d;
    struct mismatch *m = ud;
    char line[128];
    snprintf(line, sizeof(line), "%d@%lld %.*s/%s", (int)source, (long long)offset, (int)rkey->len,
             rkey->key ? rkey->key : "", key);
    json_array_append_new(m->seen, json_string(line));
}

static void mismatch_json(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
}

/* One stage ("repartition": false): an event whose pipeline key (after the steps: a flatMap's
 * elements may each have their own) is not its record's Kafka key is counted and reported, and
 * still windowed; a record without a key is reported too; events fed without a record key
 * (pipeline-run, the dry run) are not checked. */
Test(proc_result, one_stage_reports_records_not_keyed_by_the_pipeline_key)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"steps\":[{\"flatMap\":\"data.items\"}],\"key\":\"data.k\","
                      "\"window\":{\"type\":\"tumbling\",\"size\":\"10ms\"},\"out_of_orderness\":"
                      "\"0ms\",\"aggregates\":{\"n\":\"count()\"},\"repartition\":false}");
    struct mismatch m = {json_array()};
    struct proc_engine_out out = {.emit = mismatch_json, .key_mismatch = on_mismatch, .ud = &m};
    struct cm_metrics *metrics = cm_metrics_new("t_");
    struct proc_engine *e = proc_engine_new(d, &out, metrics);
    json_t *ev =
        json_loads("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\","
                   "\"data\":{\"items\":[{\"k\":\"a\"},{\"k\":\"b\"}]}}",
                   0, NULL);
    struct proc_record_key a = {"a", 1}, none = {NULL, 0}, longer = {"ab", 2}, prefix = {"a", 0};
    proc_engine_process_record(e, 3, ev, 1, -1, 10, &a, 0);
    proc_engine_process_record(e, 3, ev, 2, -1, 11, &none, 0);
    proc_engine_process_record(e, 65539, ev, 3, -1, 12, &longer, 0);
    proc_engine_process_record(e, 3, ev, 4, -1, 13, &prefix, 0);
    proc_engine_process(e, 3, ev, 5, 14, 0); /* no record key: not checked */
    /* an empty pipeline key and a record without a key agree (compared without reading the
     * record's absent key bytes) */
    json_t *empty = json_loads("{\"specversion\":\"1.0\",\"id\":\"y\",\"source\":\"/s\","
                               "\"type\":\"t\",\"data\":{\"items\":[{\"k\":\"\"}]}}",
                               0, NULL);
    proc_engine_process_record(e, 3, empty, 6, -1, 15, &none, 0);
    json_decref(empty);
    json_t *want = json_pack("[s,s,s,s,s,s,s]", "3@10 a/b", "3@11 /a", "3@11 /b", "65539@12 ab/a",
                             "65539@12 ab/b", "3@13 /a", "3@13 /b");
    char *got = json_dumps(m.seen, 0);
    cr_assert(json_equal(m.seen, want), "reported %s", got);
    free(got);
    json_decref(want);
    char *text = cm_metrics_render(metrics);
    cr_assert_not_null(strstr(text, "t_key_mismatch_total{pipeline=\"p\"} 7\n"), "%s", text);
    cr_assert_eq(proc_engine_key_mismatches(e), 7);
    cr_assert_not_null(strstr(text, "outcome=\"windowed\"} 11\n"), "all still windowed: %s", text);
    free(text);
    json_decref(ev);
    json_decref(m.seen);
    proc_engine_free(e);
    proc_def_free(d);
    cm_metrics_free(metrics);
}
