/* Unit tests for the processor's results (services/processor/proc_result.c): a window result
 * written straight to text (the live processor's path) is byte for byte the CloudEvent the
 * JSON-value path builds (pipeline-run's and dry-run's), with the same Kafka key and headers,
 * for every aggregate, with and without tenant and traceparent, revisions of late firings, and
 * sums that overflow to infinity, each result with its timing (early, on_time, late); and a keyed
 * pipeline's second stage fed what the first stage evaluated (proc_engine_window_keyed: no event
 * parsed) gives the results and late events of the one-stage engine. The watermarks of input
 * partitions are tested in test_proc_sources.c. */
#include "../../services/processor/proc_engine.h"
#include "proc_test.h"

#include "cm/envelope.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs the same events through an engine with the given outputs; returns what it emitted. */
static json_t *run(const char *def, int text)
{
    struct proc_def *d = proc_test_def(def);
    struct proc_test_got g = {json_array(), NULL};
    struct proc_engine_out out = {.emit = proc_test_on_json,
                                  .emit_text = text ? proc_test_on_text : NULL,
                                  .late = proc_test_on_late,
                                  .ud = &g};
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
        struct proc_test_got g = {json_array(), NULL};
        struct proc_engine_out out = {.emit = proc_test_on_json,
                                      .emit_text = text ? proc_test_on_text : NULL,
                                      .late = proc_test_on_late,
                                      .ud = &g};
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
        struct proc_test_got g = {json_array(), NULL};
        struct proc_engine_out out = {.emit = proc_test_on_json,
                                      .emit_text = text ? proc_test_on_text : NULL,
                                      .late = proc_test_on_late,
                                      .ud = &g};
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
        struct proc_test_got g = {json_array(), json_array()};
        struct proc_engine_out out = {
            .emit = proc_test_on_json, .late = proc_test_on_late, .ud = &g};
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
    struct proc_test_got g = {json_array(), json_array()};
    struct proc_engine_out out = {.emit = proc_test_on_json, .late = proc_test_on_late, .ud = &g};
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
