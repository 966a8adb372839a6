/* Unit tests for the aggregates topk(x, k) and topk_distinct(x, k) (services/processor/
 * proc_topk.c): the k greatest values whatever the order they come in, equal to a brute-force
 * answer to the byte (an integer before an equal real, -0.0 taken as 0.0), merged as a monoid,
 * read back from their checkpoint form, and a hostile checkpoint form refused. */
#include "../../services/processor/proc_agg.h"
#include "../../services/processor/proc_def.h"
#include "proc_test.h"

#include "cm/jsonw.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static const char *TOPK = "{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
                          "\"aggregates\":{\"n\":\"count()\",\"t\":\"topk(data.v, 5)\","
                          "\"td\":\"topk_distinct(data.v, 4)\"}}";

/* Value i of the topk tests: few distinct values (ties), integers and equal reals (7 and 7.0),
 * negatives, -0.0 and 0, and now and then a string (not a number: counted, not kept). */
static json_t *topk_value(unsigned i)
{
    unsigned h = i * 2654435761u;
    int x = (int)(h % 23) - 8;
    switch (h >> 28 & 3) {
    case 0:
        return json_real(x == 0 ? -0.0 : x);
    case 1:
        return i % 17 == 0 ? json_string("7") : json_real(x + 0.5);
    default:
        return json_integer(x);
    }
}

static struct proc_acc *topk_filled(const struct proc_def *d, const unsigned *order, size_t n,
                                    size_t *errors)
{
    struct proc_acc *a = proc_acc_new(d);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_pack("{s:s, s:{s:o}}", "type", "t", "data", "v", topk_value(order[i]));
        proc_acc_add(a, ev, (int64_t)i, errors);
        json_decref(ev);
    }
    return a;
}

/* The k greatest of values[0..n) by brute force: greatest first, an integer before an equal real;
 * distinct: each value once (the integer where there is one). */
static json_t *topk_expected(unsigned n, size_t k, int distinct)
{
    json_t *all = json_array();
    for (unsigned i = 0; i < n; i++) {
        json_t *v = topk_value(i);
        if (json_is_number(v)) {
            json_array_append(all, v);
        }
        json_decref(v);
    }
    json_t *out = json_array();
    while (json_array_size(out) < k && json_array_size(all) > 0) {
        size_t best = 0;
        for (size_t i = 1; i < json_array_size(all); i++) {
            json_t *a = json_array_get(all, i), *b = json_array_get(all, best);
            double x = json_number_value(a), y = json_number_value(b);
            if (x > y || (x == y && json_is_integer(a) && !json_is_integer(b))) {
                best = i;
            }
        }
        json_t *v = json_array_get(all, best);
        double x = json_number_value(v);
        json_array_append_new(out, json_is_integer(v) ? json_integer((json_int_t)x)
                                                      : json_real(x == 0 ? 0.0 : x));
        if (distinct) { /* every equal value goes */
            for (size_t i = json_array_size(all); i-- > 0;) {
                if (json_number_value(json_array_get(all, i)) == x) {
                    json_array_remove(all, i);
                }
            }
        } else {
            json_array_remove(all, best);
        }
    }
    json_decref(all);
    return out;
}

/* Two JSON lists of numbers alike to the byte: integers stay integers, 0.0 is not -0.0. */
static void assert_same_list(const json_t *got, const json_t *want, const char *what)
{
    char *g = json_dumps(got, JSON_ENCODE_ANY), *w = json_dumps(want, JSON_ENCODE_ANY);
    cr_assert_str_eq(g, w, "%s", what);
    free(g);
    free(w);
}

Test(proc_topk, topk_keeps_the_greatest_in_any_order_and_merges)
{
    struct proc_def *d = proc_test_def(TOPK);
    enum { N = 400 };
    unsigned order[N], rev[N];
    for (unsigned i = 0; i < N; i++) {
        order[i] = i;
        rev[i] = N - 1 - i;
    }
    size_t errors = 0;
    struct proc_acc *whole = topk_filled(d, order, N, &errors);
    cr_assert_gt(errors, 0, "strings are counted as unusable");
    struct proc_acc *backwards = topk_filled(d, rev, N, &errors);
    struct proc_acc *a = topk_filled(d, order, 150, &errors);
    struct proc_acc *b = topk_filled(d, order + 150, 100, &errors);
    struct proc_acc *c = topk_filled(d, order + 250, N - 250, &errors);
    struct proc_acc *ab_c = proc_acc_copy(a), *bc = proc_acc_copy(b), *a_bc = proc_acc_copy(a);
    proc_acc_merge(ab_c, b);
    proc_acc_merge(ab_c, c);
    proc_acc_merge(bc, c);
    proc_acc_merge(a_bc, bc);
    json_t *want_t = topk_expected(N, 5, 0), *want_td = topk_expected(N, 4, 1);
    cr_assert_eq(json_array_size(want_t), 5);
    cr_assert_eq(json_array_size(want_td), 4);
    struct proc_acc *accs[] = {whole, backwards, ab_c, a_bc};
    const char *names[] = {"in order", "backwards", "(a b) c", "a (b c)"};
    for (size_t i = 0; i < 4; i++) {
        json_t *r = proc_test_result(accs[i]);
        assert_same_list(json_object_get(r, "t"), want_t, names[i]);
        assert_same_list(json_object_get(r, "td"), want_td, names[i]);
        json_decref(r);
    }
    json_t *re = proc_test_check_identity(d, a);
    cr_assert_eq(json_array_size(json_object_get(re, "t")), 0, "topk of nothing is []");
    cr_assert(json_is_array(json_object_get(re, "td")));
    json_decref(re);
    /* the checkpoint form reads back the same lists */
    struct proc_acc *back = proc_test_restored(d, whole);
    json_t *r1 = proc_test_result(whole), *r2 = proc_test_result(back);
    cr_assert(json_equal(r1, r2));
    json_decref(r1);
    json_decref(r2);
    json_decref(want_t);
    json_decref(want_td);
    struct proc_acc *rest[] = {whole, backwards, a, b, c, ab_c, bc, a_bc, back};
    for (size_t i = 0; i < 9; i++) {
        proc_acc_free(rest[i]);
    }
    proc_def_free(d);
}

/* The checkpoint form of TOPK: events, count's slot, then topk's and topk_distinct's. */
#define TOPK_FORM(t, td) "[3,[3,0.0,true]," t "," td "]"
#define TD_OK "[3,[9,2.5,2],true]"

Test(proc_topk, topk_refuses_a_hostile_checkpoint)
{
    struct proc_def *d = proc_test_def(TOPK);
    const char *good[] = {TOPK_FORM("[3,[9,2.5,2],true]", TD_OK),
                          TOPK_FORM("[7,[9,9,9.0,8,-1],false]", "[7,[9,8,0.0,-1],false]"),
                          TOPK_FORM("[0,[],true]", "[0,[],true]"),
                          TOPK_FORM("[3,[9,9.0,2],true]", TD_OK), /* ties: an integer first */
                          NULL};
    for (size_t i = 0; good[i]; i++) {
        json_t *g = json_loads(good[i], 0, NULL);
        struct proc_acc *ok = proc_acc_from_json(d, g);
        cr_assert_not_null(ok, "the control: %s", good[i]);
        proc_acc_free(ok);
        json_decref(g);
    }
    const char *hostile[] = {
        TOPK_FORM("[3,[2.5,9,2],true]", TD_OK),                /* out of order */
        TOPK_FORM("[3,[9.0,9,2],true]", TD_OK),                /* a real before an equal integer */
        TOPK_FORM("[3,[9,2.5,2],true]", "[3,[9,9.0,2],true]"), /* equal values, topk_distinct */
        TOPK_FORM("[3,[9,2.5],true]", TD_OK),                  /* fewer than the count and k */
        TOPK_FORM("[7,[9,8,7,6,5,4],true]", TD_OK),            /* more than k */
        TOPK_FORM("[2,[9,2.5,2],true]", TD_OK),                /* more than counted */
        TOPK_FORM("[3,[9,2.5,2],true]", "[3,[],true]"),        /* counted, none kept */
        TOPK_FORM("[3,[9,\"2\",2],true]", TD_OK),              /* not a number */
        TOPK_FORM("[3,[9007199254740993,2.5,2],true]", TD_OK), /* an integer past 2^53 */
        TOPK_FORM("[3,[9,2.5,-0.0],true]", TD_OK),             /* -0.0, never written */
        TOPK_FORM("[3,{},true]", TD_OK),
        TOPK_FORM("[3,[9,2.5,2],true,1]", TD_OK),
        TOPK_FORM("[3,null,true]", TD_OK),
        NULL};
    proc_test_refused(d, hostile);
    proc_def_free(d);
}

/* -0.0 and 0.0 are one value, written 0.0 (a checkpoint never holds -0.0). */
Test(proc_topk, topk_takes_negative_zero_as_zero)
{
    struct proc_def *d = proc_test_def(TOPK);
    struct proc_acc *a = proc_acc_new(d);
    size_t errors = 0;
    const double v[] = {-1, -0.0, 0.0, -2};
    for (size_t i = 0; i < 4; i++) {
        json_t *ev = json_pack("{s:s, s:{s:f}}", "type", "t", "data", "v", v[i]);
        proc_acc_add(a, ev, (int64_t)i, &errors);
        json_decref(ev);
    }
    json_t *r = proc_test_result(a), *want_t = json_loads("[0.0, 0.0, -1.0, -2.0]", 0, NULL),
           *want_td = json_loads("[0.0, -1.0, -2.0]", 0, NULL);
    assert_same_list(json_object_get(r, "t"), want_t, "topk");
    assert_same_list(json_object_get(r, "td"), want_td, "topk_distinct");
    json_decref(r);
    json_decref(want_t);
    json_decref(want_td);
    proc_acc_free(a);
    proc_def_free(d);
}
