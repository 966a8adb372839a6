/* Unit tests for the aggregates collect_list(x[, n]) and collect_set(x[, n]) (services/processor/
 * proc_collect.c): the values in event-time order whatever the order they are read in (ties by
 * reading order), the first n of them; collect_set each value once at its first occurrence,
 * values equal by their canonical JSON text (5 and 5.0, maps in any member order); equal to a
 * brute-force answer; merged as a monoid over panes of disjoint times; read back from their
 * checkpoint form, and a hostile checkpoint form refused. */
#include "../../services/processor/proc_agg.h"
#include "../../services/processor/proc_def.h"
#include "proc_test.h"

#include "cm/jsonw.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static const char *COLLECT = "{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
                             "\"aggregates\":{\"n\":\"count()\",\"l\":\"collect_list(data.v)\","
                             "\"l5\":\"collect_list(data.v, 5)\",\"s\":\"collect_set(data.v)\","
                             "\"s3\":\"collect_set(data.v, 3)\"}}";

enum { N = 300 };

/* Event i: its time (few distinct times, so ties) and value (a few values: integers, an equal
 * real, maps with their members in either order, strings; now and then null, which is skipped). */
static int64_t ev_time(unsigned i)
{
    return (int64_t)((i * 2654435761u) >> 7) % 97;
}

static json_t *ev_value(unsigned i)
{
    unsigned h = (i * 40503u) >> 3;
    switch (h % 6) {
    case 0:
        return json_integer(h % 5);
    case 1:
        return json_real((double)(h % 5));
    case 2:
        return json_pack("{s:i,s:i}", "a", h % 3, "b", 1);
    case 3:
        return json_pack("{s:i,s:i}", "b", 1, "a", h % 3);
    case 4:
        return json_sprintf("s%u", h % 4);
    default:
        return json_null(); /* skipped */
    }
}

/* Adds events order[0..n) to a (t = ev_time, in that reading order). */
static void add(struct proc_acc *a, const unsigned *order, size_t n)
{
    size_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_pack("{s:s,s:{}}", "type", "t", "data");
        json_object_set_new(json_object_get(ev, "data"), "v", ev_value(order[i]));
        proc_acc_add(a, ev, ev_time(order[i]), &errors);
        json_decref(ev);
    }
    cr_assert_eq(errors, 0);
}

/* The brute-force list of the events read in `order`: stable by time, values only, the first
 * `limit`; distinct: each canonical text once. */
static json_t *expected(const unsigned *order, size_t n, size_t limit, int distinct)
{
    json_t *out = json_array(), *seen = json_object();
    for (int64_t t = 0; t < 97; t++) {
        for (size_t i = 0; i < n && json_array_size(out) < limit; i++) {
            json_t *v = ev_time(order[i]) == t ? ev_value(order[i]) : NULL;
            if (!v || json_is_null(v)) {
                json_decref(v);
                continue;
            }
            char *key = cm_json_dumps_canonical(v, NULL);
            if (!distinct || !json_object_get(seen, key)) {
                json_array_append(out, v);
                json_object_set_new(seen, key, json_true());
            }
            free(key);
            json_decref(v);
        }
    }
    json_decref(seen);
    return out;
}

/* Alike to the byte: 5 is not 5.0, and maps keep their members' order. */
static void assert_same(const json_t *got, const json_t *want, const char *what)
{
    char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER),
         *w = json_dumps(want, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    cr_assert_str_eq(g, w, "%s", what);
    free(g);
    free(w);
}

static void check(const struct proc_acc *a, const unsigned *order, const char *what)
{
    static const struct {
        const char *name;
        size_t limit;
        int distinct;
    } aggs[] = {{"l", 1000, 0}, {"l5", 5, 0}, {"s", 1000, 1}, {"s3", 3, 1}};
    json_t *r = proc_test_result(a);
    for (size_t i = 0; i < 4; i++) {
        json_t *want = expected(order, N, aggs[i].limit, aggs[i].distinct);
        cr_assert_gt(json_array_size(want), 2);
        assert_same(json_object_get(r, aggs[i].name), want, what);
        json_decref(want);
    }
    json_decref(r);
}

Test(proc_collect, values_in_time_order_whatever_the_reading_order)
{
    struct proc_def *d = proc_test_def(COLLECT);
    unsigned order[N];
    for (unsigned i = 0; i < N; i++) {
        order[i] = i;
    }
    struct proc_acc *a = proc_acc_new(d);
    add(a, order, N);
    check(a, order, "read in order");
    /* read sorted by time (ties kept in reading order): the same lists */
    unsigned by_time[N];
    size_t m = 0;
    for (int64_t t = 0; t < 97; t++) {
        for (unsigned i = 0; i < N; i++) {
            if (ev_time(i) == t) {
                by_time[m++] = i;
            }
        }
    }
    cr_assert_eq(m, N);
    struct proc_acc *b = proc_acc_new(d);
    add(b, by_time, N);
    json_t *ra = proc_test_result(a), *rb = proc_test_result(b);
    cr_assert(json_equal(ra, rb), "out of order gives what in order does");
    json_decref(ra);
    json_decref(rb);
    /* panes of disjoint times, merged either way round: the whole */
    unsigned lo[N], mid[N], hi[N];
    size_t nlo = 0, nmid = 0, nhi = 0;
    for (unsigned i = 0; i < N; i++) {
        int64_t t = ev_time(i);
        if (t < 30) {
            lo[nlo++] = i;
        } else if (t < 60) {
            mid[nmid++] = i;
        } else {
            hi[nhi++] = i;
        }
    }
    struct proc_acc *pl = proc_acc_new(d), *pm = proc_acc_new(d), *ph = proc_acc_new(d);
    add(pl, lo, nlo);
    add(pm, mid, nmid);
    add(ph, hi, nhi);
    struct proc_acc *lm_h = proc_acc_copy(pl), *mh = proc_acc_copy(pm), *l_mh = proc_acc_copy(pl),
                    *hml = proc_acc_copy(ph);
    proc_acc_merge(lm_h, pm);
    proc_acc_merge(lm_h, ph);
    proc_acc_merge(mh, ph);
    proc_acc_merge(l_mh, mh);
    proc_acc_merge(hml, pm);
    proc_acc_merge(hml, pl);
    check(lm_h, order, "(lo mid) hi");
    check(l_mh, order, "lo (mid hi)");
    check(hml, order, "hi mid lo: panes merged in any order");
    json_t *re = proc_test_check_identity(d, pm);
    cr_assert_eq(json_array_size(json_object_get(re, "l")), 0, "collect of nothing is []");
    json_decref(re);
    /* the checkpoint form reads back the same lists */
    struct proc_acc *back = proc_test_restored(d, a);
    check(back, order, "restored");
    struct proc_acc *all[] = {a, b, pl, pm, ph, lm_h, mh, l_mh, hml, back};
    for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
        proc_acc_free(all[i]);
    }
    proc_def_free(d);
}

/* The checkpoint form of SMALL: events, collect_list(x, 2)'s slot, collect_set(x)'s. */
static const char *SMALL = "{\"name\":\"p\",\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
                           "\"aggregates\":{\"l\":\"collect_list(data.v, 2)\","
                           "\"s\":\"collect_set(data.v)\"}}";
#define FORM(l, s) "[3," l "," s "]"
#define L_OK "[3,[[1,\"a\"],[1,{\"x\":1}]],true]"
#define S_OK "[3,[[1,5],[2,5.5]],true]"

Test(proc_collect, a_hostile_checkpoint_is_refused)
{
    struct proc_def *d = proc_test_def(SMALL);
    const char *good[] = {FORM(L_OK, S_OK), FORM("[0,[],true]", "[0,[],true]"),
                          FORM("[1,[[-5,false]],true]", "[4,[[1,5],[2,5.5]],false]"), NULL};
    for (size_t i = 0; good[i]; i++) {
        json_t *g = json_loads(good[i], 0, NULL);
        cr_assert_not_null(g, "%s", good[i]);
        struct proc_acc *a = proc_acc_from_json(d, g);
        cr_assert_not_null(a, "the control: %s", good[i]);
        proc_acc_free(a);
        json_decref(g);
    }
    const char *hostile[] = {
        FORM("[3,[[2,\"a\"],[1,\"b\"]],true]", S_OK),           /* out of order */
        FORM("[3,[[1,\"a\"],[1,null]],true]", S_OK),            /* a null value */
        FORM("[3,[[1,\"a\"]],true]", S_OK),                     /* fewer than counted */
        FORM("[3,[[1,\"a\"],[1,\"b\"],[2,\"c\"]],true]", S_OK), /* more than the limit */
        FORM(L_OK, "[3,[[1,5],[2,5.0]],true]"),                 /* 5 and 5.0 are one value */
        FORM(L_OK, "[3,[[1,{\"a\":1,\"b\":2}],[2,{\"b\":2,\"a\":1}]],true]"), /* one map */
        FORM(L_OK, "[1,[[1,5],[2,6]],true]"),              /* more than counted */
        FORM(L_OK, "[3,[],true]"),                         /* counted, none kept */
        FORM("[3,[[\"1\",\"a\"],[1,\"b\"]],true]", S_OK),  /* a time not a number */
        FORM("[3,[[1e3,\"a\"],[2000,\"b\"]],true]", S_OK), /* a time not an integer */
        FORM("[3,[[1,\"a\",2],[1,\"b\"]],true]", S_OK),    /* not a pair */
        FORM("[3,[[1],[1,\"b\"]],true]", S_OK),
        FORM("[3,[[9223372036854775807,\"a\"],[9223372036854775807,\"b\"]],true]", S_OK),
        FORM("[3,{},true]", S_OK),
        FORM("[3,[[1,\"a\"],[1,\"b\"]],true,1]", S_OK),
        NULL};
    proc_test_refused(d, hostile);
    proc_def_free(d);
}
