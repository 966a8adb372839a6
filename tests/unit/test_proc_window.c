/* Unit tests for the processor's aggregates and window state (services/processor): every
 * aggregate is a monoid (associative merge, the empty accumulator as identity on both sides),
 * accumulators survive their checkpoint form and refuse a hostile one, values an aggregate
 * cannot use are counted, window state is dropped once expired (no key left behind), a hopping
 * window of 60 panes gives the same counts as the events it holds, and keys of different tenants
 * never merge; the variance family within rounding of values computed apart; first and last by
 * event time, ties by reading order; count_if; a sum of no usable value is null. */
#include "../../services/processor/proc_agg.h"
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_window.h"
#include "proc_test.h"

#include "cm/jsonw.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ALL = "{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
                         "\"aggregates\":{\"n\":\"count()\",\"s\":\"sum(data.v)\","
                         "\"a\":\"avg(data.v)\",\"lo\":\"min(data.v)\",\"hi\":\"max(data.v)\","
                         "\"d\":\"distinct(data.u)\",\"p\":\"percentile(data.v, 0.9)\"}}";

static json_t *event(double v, int u)
{
    return json_pack("{s:s, s:{s:f, s:i}}", "type", "t", "data", "v", v, "u", u);
}

static struct proc_acc *filled(const struct proc_def *d, int from, int to)
{
    struct proc_acc *a = proc_acc_new(d);
    size_t errors = 0;
    for (int i = from; i < to; i++) {
        json_t *ev = event((i * 7919 % 1000) / 10.0 - 20, i % 150);
        proc_acc_add(a, ev, i, &errors);
        json_decref(ev);
    }
    cr_assert_eq(errors, 0);
    return a;
}

Test(proc_window, aggregates_are_monoids)
{
    struct proc_def *d = proc_test_def(ALL);
    struct proc_acc *a = filled(d, 0, 300), *b = filled(d, 300, 700), *c = filled(d, 700, 1000);
    struct proc_acc *ab_c = proc_acc_copy(a);
    proc_acc_merge(ab_c, b);
    proc_acc_merge(ab_c, c);
    struct proc_acc *bc = proc_acc_copy(b);
    proc_acc_merge(bc, c);
    struct proc_acc *a_bc = proc_acc_copy(a);
    proc_acc_merge(a_bc, bc);
    struct proc_acc *whole = filled(d, 0, 1000);
    json_t *r1 = proc_test_result(ab_c), *r2 = proc_test_result(a_bc),
           *r3 = proc_test_result(whole);
    cr_assert(json_equal(r1, r2), "associativity");
    cr_assert(json_equal(r1, r3), "merging parts equals adding the whole");
    cr_assert_eq(json_integer_value(json_object_get(r1, "n")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(r1, "d")), 150);
    json_t *re = proc_test_check_identity(d, a);
    cr_assert_eq(json_integer_value(json_object_get(re, "n")), 0);
    cr_assert(json_is_null(json_object_get(re, "lo")), "min of nothing is null");
    cr_assert(json_is_null(json_object_get(re, "p")), "percentile of nothing is null");
    json_t *all[] = {r1, r2, r3, re};
    for (size_t i = 0; i < 4; i++) {
        json_decref(all[i]);
    }
    struct proc_acc *accs[] = {a, b, c, ab_c, bc, a_bc, whole};
    for (size_t i = 0; i < 7; i++) {
        proc_acc_free(accs[i]);
    }
    proc_def_free(d);
}

Test(proc_window, accumulators_round_trip_their_checkpoint_form)
{
    struct proc_def *d = proc_test_def(ALL);
    struct proc_acc *a = filled(d, 0, 500);
    struct cm_jw w = {0};
    proc_acc_write_state(a, &w);
    json_t *j = json_loads(cm_jw_text(&w, NULL), 0, NULL);
    cm_jw_free(&w);
    cr_assert_not_null(j);
    struct proc_acc *back = proc_acc_from_json(d, j);
    cr_assert_not_null(back);
    json_t *r1 = proc_test_result(a), *r2 = proc_test_result(back);
    cr_assert(json_equal(r1, r2));
    const char *hostile[] = {"null",
                             "[]",
                             "[1]",
                             "[1,[1,2,true],[1,2,true],[1,2,true],[1,2,true],"
                             "[1,2,true],[1,\"zz\",true],[1,\"00\",true]]",
                             "[\"x\",1,2,3,4,5,6,7]",
                             NULL};
    proc_test_refused(d, hostile);
    json_decref(r1);
    json_decref(r2);
    json_decref(j);
    proc_acc_free(a);
    proc_acc_free(back);
    proc_def_free(d);
}

/* A sum that overflowed to infinity (or to NaN, infinities of both signs) has no JSON number: its
 * checkpoint form names it, and it restores as it was (before, such a state was written as null
 * and refused on restore, so its partition's whole checkpoint was thrown away; found by
 * fuzz_proc_stages). */
Test(proc_window, overflowed_sums_round_trip_their_checkpoint_form)
{
    struct proc_def *d = proc_test_def("{\"name\":\"p\",\"window\":{\"type\":\"tumbling\","
                                       "\"size\":\"1s\"},\"aggregates\":{\"s\":\"sum(data.v)\","
                                       "\"t\":\"sum(data.u)\",\"a\":\"avg(data.v)\"}}");
    struct proc_acc *a = proc_acc_new(d);
    size_t errors = 0;
    for (int i = 0; i < 2; i++) { /* s and a overflow to +inf, t to -inf */
        json_t *ev = json_pack("{s:s, s:{s:f, s:f}}", "type", "t", "data", "v", 1e308, "u", -1e308);
        proc_acc_add(a, ev, i, &errors);
        json_decref(ev);
    }
    struct cm_jw w = {0};
    proc_acc_write_state(a, &w);
    const char *text = cm_jw_text(&w, NULL);
    cr_assert(strstr(text, "\"inf\"") && strstr(text, "\"-inf\""), "%s", text);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j, "%s", text);
    struct proc_acc *back = proc_acc_from_json(d, j);
    cr_assert_not_null(back, "%s", text);
    struct cm_jw w2 = {0};
    proc_acc_write_state(back, &w2);
    cr_assert_str_eq(cm_jw_text(&w2, NULL), text, "restored as it was");
    /* NaN (infinities of both signs added) the same way */
    json_t *nan = json_loads("[1,[1,\"nan\",false],[1,\"-inf\",false],[1,\"inf\",false]]", 0, NULL);
    struct proc_acc *n = proc_acc_from_json(d, nan);
    cr_assert_not_null(n);
    struct cm_jw w3 = {0};
    proc_acc_write_state(n, &w3);
    cr_assert_str_eq(cm_jw_text(&w3, NULL),
                     "[1,[1,\"nan\",false],[1,\"-inf\",false],[1,\"inf\",false]]");
    json_t *hostile = json_loads("[1,[1,\"infinity\",false],[1,1,false],[1,1,false]]", 0, NULL);
    cr_assert_null(proc_acc_from_json(d, hostile), "only inf, -inf and nan are names");
    json_decref(hostile);
    json_decref(nan);
    cm_jw_free(&w);
    cm_jw_free(&w2);
    cm_jw_free(&w3);
    json_decref(j);
    proc_acc_free(a);
    proc_acc_free(back);
    proc_acc_free(n);
    proc_def_free(d);
}

static const char *SPREAD =
    "{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
    "\"aggregates\":{\"sd\":\"stddev(data.v)\",\"sp\":\"stddev_pop(data.v)\","
    "\"vs\":\"variance(data.v)\",\"vp\":\"var_pop(data.v)\",\"vs2\":\"var_samp(data.v)\","
    "\"sd2\":\"stddev_samp(data.v)\"}}";

static double member(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    cr_assert(json_is_real(v), "%s is a real", name);
    return json_real_value(v);
}

static void assert_near(double got, double want, const char *what)
{
    cr_assert_leq(fabs(got - want), 1e-12 * fabs(want) + 1e-15, "%s: %.17g, want %.17g", what, got,
                  want);
}

/* The variance family against values computed apart (two passes, in long double): sample and
 * population, each name and its alias; merged parts within rounding of the whole, in any
 * grouping, the empty accumulator an identity (exactly); null where there is nothing to say (no
 * value; a sample of one), 0 for equal values; an overflow null, never a wrong number; and the
 * checkpoint form, which carries the sum of squares, round trips and refuses a negative or
 * missing one. */
Test(proc_window, variance_and_standard_deviation)
{
    struct proc_def *d = proc_test_def(SPREAD);
    enum { N = 1000 };
    long double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
        sum += (i * 7919 % 1000) / 10.0 - 20;
    }
    long double mean = sum / N;
    for (int i = 0; i < N; i++) {
        long double dv = (i * 7919 % 1000) / 10.0 - 20 - mean;
        sq += dv * dv;
    }
    double var_pop = (double)(sq / N), var_samp = (double)(sq / (N - 1));
    struct proc_acc *a = filled(d, 0, 300), *b = filled(d, 300, 700), *c = filled(d, 700, 1000);
    struct proc_acc *ab_c = proc_acc_copy(a), *bc = proc_acc_copy(b), *a_bc = proc_acc_copy(a);
    proc_acc_merge(ab_c, b);
    proc_acc_merge(ab_c, c);
    proc_acc_merge(bc, c);
    proc_acc_merge(a_bc, bc);
    struct proc_acc *whole = filled(d, 0, 1000);
    struct proc_acc *accs[] = {ab_c, a_bc, whole};
    for (size_t i = 0; i < 3; i++) {
        json_t *r = proc_test_result(accs[i]);
        assert_near(member(r, "vp"), var_pop, "var_pop");
        assert_near(member(r, "vs"), var_samp, "variance");
        assert_near(member(r, "vs2"), var_samp, "var_samp");
        assert_near(member(r, "sp"), sqrt(var_pop), "stddev_pop");
        assert_near(member(r, "sd"), sqrt(var_samp), "stddev");
        assert_near(member(r, "sd2"), sqrt(var_samp), "stddev_samp");
        json_decref(r);
    }
    json_t *re = proc_test_check_identity(d, a);
    cr_assert(json_is_null(json_object_get(re, "vp")), "the variance of nothing is null");
    cr_assert(json_is_null(json_object_get(re, "sd")));
    json_decref(re);
    /* one value: no sample variance, a population variance of 0; equal values: 0 */
    struct proc_acc *one = proc_acc_new(d), *same = proc_acc_new(d), *big = proc_acc_new(d);
    size_t errors = 0;
    for (int i = 0; i < 5; i++) {
        json_t *ev = event(0.1, i);
        proc_acc_add(i ? same : one, ev, i, &errors);
        json_decref(ev);
        ev = event(i % 2 ? 1e300 : -1e300, i);
        proc_acc_add(big, ev, i, &errors);
        json_decref(ev);
    }
    json_t *r1 = proc_test_result(one), *rs = proc_test_result(same), *rb = proc_test_result(big);
    cr_assert(json_is_null(json_object_get(r1, "sd")) && json_is_null(json_object_get(r1, "vs")),
              "a sample of one has no variance");
    cr_assert_eq(member(r1, "vp"), 0.0);
    cr_assert_eq(member(rs, "vs"), 0.0, "equal values vary by nothing");
    cr_assert_eq(member(rs, "sp"), 0.0);
    cr_assert(json_is_null(json_object_get(rb, "vp")), "squares past DBL_MAX: null, not a number");
    json_decref(r1);
    json_decref(rs);
    json_decref(rb);
    /* the checkpoint form: [n, sum, integral, sum of squares] per aggregate */
    struct cm_jw w = {0};
    proc_acc_write_state(whole, &w);
    json_t *j = json_loads(cm_jw_text(&w, NULL), 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_array_size(json_array_get(j, 1)), 4, "%s", cm_jw_text(&w, NULL));
    struct proc_acc *back = proc_acc_from_json(d, j);
    cr_assert_not_null(back);
    json_t *rw = proc_test_result(whole), *rback = proc_test_result(back);
    cr_assert(json_equal(rw, rback), "restored as it was");
    json_decref(rw);
    json_decref(rback);
    struct cm_jw w2 = {0};
    proc_acc_write_state(big, &w2);
    json_t *jb = json_loads(cm_jw_text(&w2, NULL), 0, NULL);
    struct proc_acc *bigback = proc_acc_from_json(d, jb);
    cr_assert_not_null(bigback, "an overflowed sum of squares restores: %s", cm_jw_text(&w2, NULL));
    const char *hostile[] = {
        "[1,[1,1,true],[1,1,true],[1,1,true],[1,1,true],[1,1,true],[1,1,true]]",
        "[1,[1,1,true,-2],[1,1,true,0],[1,1,true,0],[1,1,true,0],[1,1,true,0],"
        "[1,1,true,0]]",
        "[1,[1,1,true,\"x\"],[1,1,true,0],[1,1,true,0],[1,1,true,0],"
        "[1,1,true,0],[1,1,true,0]]",
        NULL};
    const char *good = "[2,[2,3,true,0.5],[2,3,true,0.5],[2,3,true,0.5],[2,3,true,0.5],"
                       "[2,3,true,0.5],[2,3,true,0.5]]";
    json_t *g = json_loads(good, 0, NULL);
    struct proc_acc *gacc = proc_acc_from_json(d, g);
    cr_assert_not_null(gacc, "the control row is read");
    json_t *rg = proc_test_result(gacc);
    cr_assert_eq(member(rg, "vs"), 0.5);
    json_decref(rg);
    proc_test_refused(d, hostile);
    json_decref(g);
    json_decref(j);
    json_decref(jb);
    cm_jw_free(&w);
    cm_jw_free(&w2);
    struct proc_acc *more[] = {a, b, c, ab_c, bc, a_bc, whole, one, same, big, back, bigback, gacc};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        proc_acc_free(more[i]);
    }
    proc_def_free(d);
}

static json_t *valued(json_t *v)
{
    json_t *ev = json_pack("{s:s, s:{s:o}}", "type", "t", "data", "v", v);
    cr_assert_not_null(ev);
    return ev;
}

/* first and last: the value at the earliest and latest event time, of any JSON type, not null;
 * at one time the value read first and the value read last (merging, the later accumulator's
 * counts as read later); merged parts give the whole's answer in any grouping, the empty
 * accumulator is an identity; a value kept is a copy (changing the event after does not change
 * it); and the checkpoint form, [n, value, integral, time], round trips and refuses a value
 * without a count, a count without a value, or a time no event can have. */
Test(proc_window, first_and_last_by_event_time)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
                      "\"aggregates\":{\"f\":\"first(data.v)\",\"l\":\"last(data.v)\","
                      "\"fv\":\"first_value(data.v)\",\"lv\":\"last_value(data.v)\"}}");
    /* (time, value) in the order read: the earliest time is 3 (twice), the latest 9 (twice) */
    static const struct {
        int64_t t;
        const char *v;
    } in[] = {{5, "\"five\""}, {3, "{\"a\":[1,2]}"}, {9, "9"},    {3, "\"three-b\""},
              {7, "null"},     {9, "9.5"},           {4, "true"}, {6, "[]"}};
    enum { N = sizeof(in) / sizeof(in[0]) };
    struct proc_acc *whole = proc_acc_new(d), *parts[N];
    size_t errors = 0;
    for (size_t i = 0; i < N; i++) {
        json_t *v = json_loads(in[i].v, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(v, "%s", in[i].v);
        json_t *ev = valued(v);
        proc_acc_add(whole, ev, in[i].t, &errors);
        parts[i] = proc_acc_new(d);
        proc_acc_add(parts[i], ev, in[i].t, &errors);
        json_object_set_new(json_object_get(ev, "data"), "v", json_string("changed"));
        json_decref(ev);
    }
    cr_assert_eq(errors, 0);
    json_t *want =
        json_loads("{\"f\":{\"a\":[1,2]},\"l\":9.5,\"fv\":{\"a\":[1,2]},\"lv\":9.5}", 0, NULL);
    json_t *got = proc_test_result(whole);
    cr_assert(json_equal(got, want), "%s", json_dumps(got, JSON_COMPACT));
    json_decref(got);
    /* left to right and right to left groupings of the parts, in reading order */
    struct proc_acc *left = proc_acc_copy(parts[0]), *right = proc_acc_copy(parts[N - 1]);
    for (size_t i = 1; i < N; i++) {
        proc_acc_merge(left, parts[i]);
        struct proc_acc *r = proc_acc_copy(parts[N - 1 - i]);
        proc_acc_merge(r, right);
        proc_acc_free(right);
        right = r;
    }
    struct proc_acc *same[] = {left, right};
    for (size_t i = 0; i < 2; i++) {
        got = proc_test_result(same[i]);
        cr_assert(json_equal(got, want), "grouping %zu: %s", i, json_dumps(got, JSON_COMPACT));
        json_decref(got);
    }
    got = proc_test_check_identity(d, whole);
    cr_assert(json_is_null(json_object_get(got, "f")) && json_is_null(json_object_get(got, "l")));
    json_decref(got);
    /* the checkpoint form */
    struct cm_jw w = {0};
    proc_acc_write_state(whole, &w);
    json_t *j = json_loads(cm_jw_text(&w, NULL), 0, NULL);
    cr_assert_not_null(j);
    struct proc_acc *back = proc_acc_from_json(d, j);
    cr_assert_not_null(back, "%s", cm_jw_text(&w, NULL));
    json_t *later = valued(json_string("later")); /* the restored time still decides */
    proc_acc_add(back, later, 8, &errors);
    got = proc_test_result(back);
    cr_assert(json_equal(got, want), "%s", json_dumps(got, JSON_COMPACT));
    json_decref(got);
    proc_acc_add(back, later, 10, &errors);
    got = proc_test_result(back);
    cr_assert_str_eq(json_string_value(json_object_get(got, "l")), "later");
    json_decref(got);
    json_decref(later);
    const char *ok = "[1,[1,\"x\",false,5],[1,{\"y\":1},false,5],[0,null,true,0],[1,2,true,5]]";
    const char *hostile[] = {
        "[1,[1,null,false,5],[1,1,false,5],[0,null,true,0],[1,2,true,5]]",
        "[1,[0,\"x\",false,5],[1,1,false,5],[0,null,true,0],[1,2,true,5]]",
        "[1,[1,\"x\",false],[1,1,false,5],[0,null,true,0],[1,2,true,5]]",
        "[1,[1,\"x\",false,\"5\"],[1,1,false,5],[0,null,true,0],[1,2,true,5]]",
        "[1,[1,\"x\",false,9223372036854775807],[1,1,false,5],[0,null,true,0],[1,2,true,5]]",
        NULL};
    json_t *oj = json_loads(ok, 0, NULL);
    struct proc_acc *oacc = proc_acc_from_json(d, oj);
    cr_assert_not_null(oacc, "the control row is read");
    proc_test_refused(d, hostile);
    json_decref(oj);
    json_decref(j);
    json_decref(want);
    cm_jw_free(&w);
    struct proc_acc *all[] = {whole, left, right, back, oacc};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        proc_acc_free(all[i]);
    }
    for (size_t i = 0; i < N; i++) {
        proc_acc_free(parts[i]);
    }
    proc_def_free(d);
}

Test(proc_window, unusable_values_are_counted_not_summed)
{
    struct proc_def *d = proc_test_def(ALL);
    struct proc_acc *a = proc_acc_new(d);
    size_t errors = 0;
    json_t *ev = json_pack("{s:s, s:{s:s, s:i}}", "type", "t", "data", "v", "seven", "u", 1);
    proc_acc_add(a, ev, 0, &errors);
    json_decref(ev);
    ev = json_pack("{s:s}", "type", "t"); /* no data at all */
    proc_acc_add(a, ev, 0, &errors);
    json_decref(ev);
    /* a string for sum, avg, min, max and percentile (5); a missing field for those and
     * distinct (6) */
    cr_assert_eq(errors, 5 + 6, "%zu", errors);
    json_t *r = proc_test_result(a);
    cr_assert_eq(json_integer_value(json_object_get(r, "n")), 2);
    /* a sum of no value is null, as SQL's SUM, not 0; avg, min and max too */
    const char *none[] = {"s", "a", "lo", "hi", "p"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        cr_assert(json_is_null(json_object_get(r, none[i])), "%s of no value", none[i]);
    }
    json_decref(r);
    /* the first usable value makes it a number, also merged into the empty one */
    struct proc_acc *b = proc_acc_new(d);
    ev = json_pack("{s:s, s:{s:i, s:i}}", "type", "t", "data", "v", 0, "u", 1);
    proc_acc_add(b, ev, 0, &errors);
    json_decref(ev);
    proc_acc_merge(a, b);
    r = proc_test_result(a);
    cr_assert(json_is_integer(json_object_get(r, "s")) &&
                  json_integer_value(json_object_get(r, "s")) == 0,
              "a sum of 0 is 0");
    json_decref(r);
    proc_acc_free(b);
    proc_acc_free(a);
    proc_def_free(d);
}

static int emitted;
static long long counts[256];

static int collect(const struct proc_window_result *r, void *ud)
{
    (void)ud;
    json_t *o = json_object();
    proc_acc_result(r->acc, o);
    counts[emitted % 256] = json_integer_value(json_object_get(o, "n"));
    json_decref(o);
    emitted++;
    return 1;
}

Test(proc_window, expired_state_is_dropped)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"key\":\"data.u\",\"window\":{\"type\":\"hopping\","
                      "\"size\":\"10s\",\"slide\":\"2s\"},\"allowed_lateness\":\"5s\","
                      "\"aggregates\":{\"n\":\"count()\"}}");
    struct proc_windows *w = proc_windows_new(d);
    size_t errors = 0;
    emitted = 0;
    for (int i = 0; i < 5000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i % 1000);
        json_t *ev = event(1, i);
        cr_assert_eq(proc_windows_add(w, i % 2 ? "acme" : "globex", key, i * 10, ev, NULL, NULL, i,
                                      INT64_MIN, collect, NULL, &errors),
                     PROC_ADDED);
        json_decref(ev);
    }
    cr_assert_eq(proc_windows_keys(w), 1000, "%zu", proc_windows_keys(w));
    cr_assert_eq(proc_windows_min_offset(w), 0);
    proc_windows_advance(w, 1000000, collect, NULL);
    cr_assert_gt(emitted, 0);
    cr_assert_eq(proc_windows_keys(w), 0, "every key's state expired");
    cr_assert_eq(proc_windows_min_offset(w), -1);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_window, a_hopping_window_merges_its_panes)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"window\":{\"type\":\"hopping\",\"size\":\"1h\","
                      "\"slide\":\"1m\"},\"aggregates\":{\"n\":\"count()\"}}");
    struct proc_windows *w = proc_windows_new(d);
    size_t errors = 0;
    emitted = 0;
    for (int i = 0; i < 120; i++) { /* one event a minute for two hours */
        json_t *ev = event(1, i);
        proc_windows_add(w, "", "k", (int64_t)i * 60000 + 30000, ev, NULL, NULL, i, INT64_MIN,
                         collect, NULL, &errors);
        json_decref(ev);
    }
    proc_windows_advance(w, 60LL * 60000 - 1, collect, NULL); /* fires windows ending by 1:00 */
    cr_assert_eq(emitted, 60, "windows [-59m,1m) .. [0,1h)");
    for (int i = 0; i < 60; i++) {
        cr_assert_eq(counts[i], i + 1, "window %d holds %d minutes of events, not %lld", i, i + 1,
                     counts[i]);
    }
    proc_windows_free(w);
    proc_def_free(d);
}

static int64_t starts[64];
static int nstarts;

static int collect_start(const struct proc_window_result *r, void *ud)
{
    (void)ud;
    cr_assert_lt(nstarts, 64);
    cr_assert_eq(r->end_ms - r->start_ms, 10000);
    starts[nstarts++] = r->start_ms;
    return 1;
}

static void keep_state(const char *name, int block, const char *state, size_t len, void *ud)
{
    cr_assert_eq(block, PROC_KEY_STATE);
    json_error_t e;
    cr_assert_not_null(state);
    json_object_set_new(ud, name, json_loadb(state, len, 0, &e));
}

/* Flink's offset: windows start at offset + k * slide, before 1970 too; a checkpoint of panes on
 * that grid restores, one off it is refused. */
Test(proc_window, an_offset_moves_the_grid_and_checkpoints_keep_to_it)
{
    struct proc_def *d = proc_test_def(
        "{\"name\":\"p\",\"window\":{\"type\":\"hopping\",\"size\":\"10s\",\"slide\":\"4s\","
        "\"offset\":\"-3s\"},\"aggregates\":{\"n\":\"count()\"}}");
    cr_assert_eq(d->offset_ms, 1000, "-3s is kept as 1s, the same grid");
    cr_assert_eq(proc_def_align(d, -1, d->slide_ms), -3000);
    cr_assert_eq(proc_def_align(d, 1000, d->slide_ms), 1000);
    cr_assert_eq(proc_def_align_up(d, 1001, d->slide_ms), 5000);
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    size_t errors = 0;
    json_t *ev = event(1, 0);
    /* at -1 ms: in [-7s,3s) and [-3s,7s) (not in [-11s,-1s)); at 1s also in [1s,11s) */
    proc_windows_add(w, "", "k", -1, ev, NULL, NULL, 0, INT64_MIN, collect_start, NULL, &errors);
    json_t *saved = json_object();
    cr_assert_eq(proc_windows_changes(w, keep_state, saved), 1);
    proc_windows_free(w);
    w = proc_windows_new(d);
    const char *name;
    json_t *state;
    json_object_foreach(saved, name, state)
    {
        cr_assert_eq(proc_windows_restore(w, name, state), 0, "%s", name);
    }
    proc_windows_add(w, "", "k", 1000, ev, NULL, NULL, 1, INT64_MIN, collect_start, NULL, &errors);
    nstarts = 0;
    proc_windows_advance(w, INT64_MAX / 4, collect_start, NULL);
    cr_assert_eq(nstarts, 3, "[-7s,3s), [-3s,7s) and [1s,11s), not %d windows", nstarts);
    const int64_t want[] = {-7000, -3000, 1000};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(starts[i], want[i], "window %d starts at %lld", i, (long long)starts[i]);
    }
    /* a pane checkpointed on the grid without the offset does not fit this pipeline */
    json_t *on = json_loads("{\"p\":[[-1000,0,[1,[1,0.0,true]],\"\"]],\"s\":[],\"r\":[],"
                            "\"n\":-7000}",
                            0, NULL);
    json_t *off = json_loads("{\"p\":[[0,0,[1,[1,0.0,true]],\"\"]],\"s\":[],\"r\":[],"
                             "\"n\":-7000}",
                             0, NULL);
    cr_assert(on && off);
    proc_windows_free(w);
    w = proc_windows_new(d);
    cr_assert_eq(proc_windows_restore(w, "\x1fk", on), 0, "the control: on the grid");
    proc_windows_free(w);
    w = proc_windows_new(d);
    cr_assert_neq(proc_windows_restore(w, "\x1fk", off), 0);
    json_decref(on);
    json_decref(off);
    json_decref(saved);
    json_decref(ev);
    proc_windows_free(w);
    proc_def_free(d);
}

/* count_if(cond) counts the events whose condition is true; false and null count nothing, any
 * other value is counted as unusable; it merges as count does and restores from its checkpoint. */
Test(proc_window, count_if_counts_the_true_conditions)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
                      "\"aggregates\":{\"n\":\"count()\",\"big\":\"count_if(data.v > 2.0)\","
                      "\"flag\":\"count_if(data.f)\"}}");
    const char *evs[] = {"{\"data\":{\"v\":1.0,\"f\":true}}", "{\"data\":{\"v\":3.0,\"f\":false}}",
                         "{\"data\":{\"v\":5.0,\"f\":null}}",
                         "{\"data\":{\"v\":9.0,\"f\":\"yes\"}}",
                         "{\"data\":{\"v\":\"x\",\"f\":true}}"};
    struct proc_acc *a = proc_acc_new(d), *b = proc_acc_new(d);
    size_t errors = 0;
    for (size_t i = 0; i < 5; i++) {
        json_t *ev = json_loads(evs[i], 0, NULL);
        proc_acc_add(i < 2 ? a : b, ev, (int64_t)i, &errors);
        json_decref(ev);
    }
    cr_assert_eq(errors, 2, "\"yes\" is no condition, and \"x\" > 2.0 fails: %zu", errors);
    proc_acc_merge(a, b);
    struct proc_acc *back = proc_test_restored(d, a);
    struct proc_acc *accs[] = {a, back};
    for (size_t i = 0; i < 2; i++) {
        json_t *r = proc_test_result(accs[i]);
        cr_assert_eq(json_integer_value(json_object_get(r, "n")), 5);
        cr_assert_eq(json_integer_value(json_object_get(r, "big")), 3, "3.0, 5.0 and 9.0");
        cr_assert_eq(json_integer_value(json_object_get(r, "flag")), 2);
        json_decref(r);
    }
    json_t *re = proc_test_check_identity(d, a);
    cr_assert_eq(json_integer_value(json_object_get(re, "big")), 0);
    json_decref(re);
    proc_acc_free(a);
    proc_acc_free(b);
    proc_acc_free(back);
    proc_def_free(d);
}
