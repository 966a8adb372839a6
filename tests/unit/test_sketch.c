/* Unit tests for common/sketch: HyperLogLog error within 2 % from 1 to 1M distinct values, exact
 * while sparse, merge laws (commutative, associative, identity), copies that keep growing,
 * serialization round trips and
 * hostile serialized input; DDSketch quantiles within 1 % of the true value of their rank, merge
 * laws, negative values and zero, round trips and hostile input; exact extremes (quantile 0 and
 * 1, a single value, no estimate beyond them), kept by merges and round trips, and format 1
 * still read. */
#include "cm/sketch.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_range(struct cm_hll *h, long from, long to)
{
    char buf[32];
    for (long i = from; i < to; i++) {
        int n = snprintf(buf, sizeof(buf), "user-%ld", i);
        cm_hll_add(h, buf, (size_t)n);
    }
}

Test(sketch, hll_is_exact_while_sparse_and_within_two_percent_up_to_a_million)
{
    struct cm_hll *h = cm_hll_new();
    cr_assert_eq(cm_hll_estimate(h), 0.0);
    add_range(h, 0, 100);
    add_range(h, 0, 100); /* repeats do not count */
    cr_assert_eq(cm_hll_estimate(h), 100.0);
    long checkpoints[] = {1000, 10000, 50000, 100000, 1000000};
    long done = 100;
    for (size_t k = 0; k < sizeof(checkpoints) / sizeof(checkpoints[0]); k++) {
        add_range(h, done, checkpoints[k]);
        done = checkpoints[k];
        double est = cm_hll_estimate(h);
        double err = fabs(est - (double)done) / (double)done;
        cr_assert_lt(err, 0.02, "%ld distinct estimated as %.0f (%.2f %%)", done, est, err * 100);
    }
    cm_hll_free(h);
}

Test(sketch, hll_merge_laws)
{
    struct cm_hll *a = cm_hll_new(), *b = cm_hll_new(), *c = cm_hll_new(), *e = cm_hll_new();
    add_range(a, 0, 5000);
    add_range(b, 3000, 9000);
    add_range(c, 50, 120); /* sparse */
    /* (a+b)+c == a+(b+c) == (c+b)+a */
    struct cm_hll *ab = cm_hll_copy(a);
    cm_hll_merge(ab, b);
    cm_hll_merge(ab, c);
    struct cm_hll *bc = cm_hll_copy(b);
    cm_hll_merge(bc, c);
    struct cm_hll *a_bc = cm_hll_copy(a);
    cm_hll_merge(a_bc, bc);
    struct cm_hll *cba = cm_hll_copy(c);
    cm_hll_merge(cba, b);
    cm_hll_merge(cba, a);
    cr_assert_eq(cm_hll_estimate(ab), cm_hll_estimate(a_bc));
    cr_assert_eq(cm_hll_estimate(ab), cm_hll_estimate(cba));
    double err = fabs(cm_hll_estimate(ab) - 9000) / 9000;
    cr_assert_lt(err, 0.02);
    /* identity */
    struct cm_hll *ae = cm_hll_copy(a);
    cm_hll_merge(ae, e);
    cr_assert_eq(cm_hll_estimate(ae), cm_hll_estimate(a));
    struct cm_hll *ea = cm_hll_copy(e);
    cm_hll_merge(ea, a);
    cr_assert_eq(cm_hll_estimate(ea), cm_hll_estimate(a));
    struct cm_hll *all[] = {a, b, c, e, ab, bc, a_bc, cba, ae, ea};
    for (size_t i = 0; i < 10; i++) {
        cm_hll_free(all[i]);
    }
}

/* A copy of a sparse HyperLogLog of every size takes new values as the original does: a hopping
 * window copies its first pane's, then merges the others' into it. The copy had room for exactly
 * its values while adding assumes room up to the next power of two, so the fourth value of a
 * copy of three wrote past its end (the sanitizer build catches it). */
Test(sketch, hll_copies_of_every_sparse_size_take_more_values)
{
    for (long n = 1; n <= 128; n++) { /* 128 values at most are kept sparse */
        struct cm_hll *h = cm_hll_new();
        add_range(h, 0, n);
        struct cm_hll *c = cm_hll_copy(h);
        cr_assert_eq(cm_hll_estimate(c), (double)n);
        add_range(c, n, n + 100);
        add_range(h, n, n + 100);
        cr_assert_eq(cm_hll_estimate(c), cm_hll_estimate(h), "copy of %ld", n);
        if (n + 100 <= 128) {
            cr_assert_eq(cm_hll_estimate(c), (double)(n + 100));
        }
        cm_hll_free(c);
        cm_hll_free(h);
    }
}

Test(sketch, hll_round_trips_and_refuses_garbage)
{
    struct cm_hll *sparse = cm_hll_new(), *dense = cm_hll_new();
    add_range(sparse, 0, 77);
    add_range(dense, 0, 20000);
    struct cm_hll *hs[] = {sparse, dense};
    for (int k = 0; k < 2; k++) {
        unsigned char *buf;
        size_t len = cm_hll_serialize(hs[k], &buf);
        struct cm_hll *back = cm_hll_deserialize(buf, len);
        cr_assert_not_null(back);
        cr_assert_eq(cm_hll_estimate(back), cm_hll_estimate(hs[k]));
        for (size_t cut = 0; cut < len; cut += 1 + len / 50) { /* truncations */
            struct cm_hll *t = cm_hll_deserialize(buf, cut);
            if (t) {
                cr_assert(cut >= 2 && k == 0, "a truncated dense sketch must be refused");
                cm_hll_free(t);
            }
        }
        cm_hll_free(back);
        free(buf);
    }
    unsigned char junk[300];
    srand(7);
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)(rand() % (int)sizeof(junk));
        for (size_t j = 0; j < len; j++) {
            junk[j] = (unsigned char)rand();
        }
        if (len >= 2) {
            junk[0] = 'H';
            junk[1] = i % 2 ? 'z' : 's';
        }
        cm_hll_free(cm_hll_deserialize(junk, len)); /* NULL or a valid sketch, never a crash */
    }
    cm_hll_free(sparse);
    cm_hll_free(dense);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Checks every percentile of d against the sorted values: within the sketch's accuracy of the
 * true value at that rank. */
static void check_quantiles(const struct cm_dds *d, double *vals, size_t n)
{
    qsort(vals, n, sizeof(double), cmp_double);
    for (int p = 0; p <= 100; p++) {
        double q = p / 100.0;
        double truth = vals[(size_t)floor(q * (double)(n - 1))];
        double got = cm_dds_quantile(d, q);
        double tol = CM_DDS_ACCURACY * fabs(truth) + 1e-9;
        cr_assert_leq(fabs(got - truth), tol * 1.0001, "q=%.2f: %g, true %g", q, got, truth);
    }
}

Test(sketch, dds_quantiles_are_within_their_relative_accuracy)
{
    enum { N = 20000 };
    static double vals[N];
    struct cm_dds *d = cm_dds_new();
    cr_assert(isnan(cm_dds_quantile(d, 0.5)));
    srand(42);
    for (int i = 0; i < N; i++) {
        double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
        vals[i] = i % 10 == 0 ? -exp(u * 5) : i % 97 == 0 ? 0.0 : exp(u * 20) / 1000.0;
        cm_dds_add(d, vals[i]);
    }
    cr_assert_eq(cm_dds_count(d), N);
    check_quantiles(d, vals, N);
    cm_dds_free(d);
}

/* Values up to DBL_MAX and down to the smallest the sketch counts apart from zero: each quantile
 * is finite and within the accuracy (values near DBL_MAX made an infinite quantile: null). */
Test(sketch, dds_extremes_stay_finite_and_accurate)
{
    static double vals[] = {-DBL_MAX, -1e308, -1e-8, 1e-8, 1.5e-9, 1e300, 1e308, DBL_MAX};
    const size_t n = sizeof(vals) / sizeof(vals[0]);
    for (size_t i = 0; i < n; i++) {
        struct cm_dds *one = cm_dds_new();
        cm_dds_add(one, vals[i]);
        double got = cm_dds_quantile(one, 0.5);
        cr_assert(isfinite(got), "%g", vals[i]);
        cr_assert_leq(fabs(got - vals[i]), CM_DDS_ACCURACY * fabs(vals[i]) * 1.0001, "%g: %g",
                      vals[i], got);
        cm_dds_free(one);
    }
    /* together, within the 2,048 bins a sign keeps (a factor of about 10^17 between the ends) */
    static double top[] = {-DBL_MAX, -1e308, -1e300, 1e300, 3e303, 1e308, 1.7e308, DBL_MAX};
    struct cm_dds *d = cm_dds_new();
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        cm_dds_add(d, top[i]);
    }
    check_quantiles(d, top, sizeof(top) / sizeof(top[0]));
    cm_dds_free(d);
}

Test(sketch, dds_merge_laws_and_round_trip)
{
    struct cm_dds *a = cm_dds_new(), *b = cm_dds_new(), *e = cm_dds_new();
    static double vals[3000];
    for (int i = 0; i < 3000; i++) {
        vals[i] = (i * 37 % 1000) + 0.5 - (i % 7 == 0 ? 800 : 0);
        cm_dds_add(i < 1800 ? a : b, vals[i]);
    }
    struct cm_dds *ab = cm_dds_copy(a), *ba = cm_dds_copy(b), *ae = cm_dds_copy(a);
    cm_dds_merge(ab, b);
    cm_dds_merge(ba, a);
    cm_dds_merge(ae, e);
    for (int p = 0; p <= 100; p++) {
        cr_assert_eq(cm_dds_quantile(ab, p / 100.0), cm_dds_quantile(ba, p / 100.0));
        cr_assert_eq(cm_dds_quantile(ae, p / 100.0), cm_dds_quantile(a, p / 100.0));
    }
    check_quantiles(ab, vals, 3000);
    unsigned char *buf;
    size_t len = cm_dds_serialize(ab, &buf);
    struct cm_dds *back = cm_dds_deserialize(buf, len);
    cr_assert_not_null(back);
    cr_assert_eq(cm_dds_count(back), 3000);
    for (int p = 0; p <= 100; p++) {
        cr_assert_eq(cm_dds_quantile(back, p / 100.0), cm_dds_quantile(ab, p / 100.0));
    }
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_null(cm_dds_deserialize(buf, cut), "truncated at %zu", cut);
    }
    free(buf);
    /* bins outside what values can have (DDS_MIN_VALUE to DBL_MAX) are refused: merging a sketch
     * at INT32_MAX overflowed its index arithmetic */
    const struct {
        uint32_t offset, len;
    } far[] = {
        {142, 2}, {0x7fffffffu, 2}, {0x7fffff00u, 1}, {0x80000000u, 1}, {(uint32_t)-5000, 1}};
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        for (int neg = 0; neg < 2; neg++) {
            unsigned char b2[2 + 8 + 8 + 16 + 8] = {'D', '1'};
            unsigned char *head = b2 + 10 + (neg ? 8 : 0);
            uint64_t h = ((uint64_t)far[i].offset << 32) | far[i].len;
            size_t total = 2 + 8 + 8 + 8 + 8 * far[i].len;
            for (int k = 0; k < 8; k++) {
                head[k] = (unsigned char)(h >> (8 * k));
            }
            head[8 + 8 * (far[i].len - 1)] = 1; /* the last bin holds one value */
            struct cm_dds *got = cm_dds_deserialize(b2, total);
            if (i == 0) { /* the same bytes with bins values have: read */
                cr_assert_not_null(got);
                cr_assert_eq(cm_dds_count(got), 1);
                double want = neg ? -1.0 : 1.0, v = cm_dds_quantile(got, 0.5) * want;
                cr_assert(v > 15 && v < 20, "bin 143 stands for about 17: %g", v);
                cr_assert(isnan(cm_dds_min(got)) && isnan(cm_dds_max(got)),
                          "format 1 kept no extremes: nothing is clamped to them");
                unsigned char *again; /* written as format 2, unknown extremes and all */
                size_t alen = cm_dds_serialize(got, &again);
                struct cm_dds *v2 = cm_dds_deserialize(again, alen);
                cr_assert_not_null(v2, "a format 1 sketch written again reads back");
                cr_assert_eq(cm_dds_quantile(v2, 0.5), cm_dds_quantile(got, 0.5));
                cr_assert(isnan(cm_dds_min(v2)));
                cm_dds_free(v2);
                free(again);
                cm_dds_free(got);
                continue;
            }
            cr_assert_null(got, "offset %u (%s)", far[i].offset, neg ? "negative" : "positive");
        }
    }
    struct cm_dds *inf = cm_dds_new();
    cm_dds_add(inf, INFINITY);
    cm_dds_add(inf, -INFINITY);
    cm_dds_add(inf, NAN);
    cr_assert_eq(cm_dds_count(inf), 0, "non-finite values are left out");
    cm_dds_free(inf);
    struct cm_dds *all[] = {a, b, e, ab, ba, ae, back};
    for (size_t i = 0; i < 7; i++) {
        cm_dds_free(all[i]);
    }
}

static void put_real(unsigned char *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    for (int k = 0; k < 8; k++) {
        b[k] = (unsigned char)(u >> (8 * k));
    }
}

/* The sketch keeps its least and greatest values exactly: quantiles 0 and 1 are them, a single
 * value comes back as it was (1.994 for a lone 2 before), and no estimate lies beyond them; merges
 * and round trips keep them, and serialized extremes that contradict the bins are refused. */
Test(sketch, dds_keeps_exact_extremes_and_clamps_estimates_to_them)
{
    static const double singles[] = {2.0, 0.1, -3.7, 123456.789, 5e-9, 0.0, 1e-12, -DBL_MAX};
    static const double qs[] = {0, 0.01, 0.5, 0.99, 1};
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        struct cm_dds *one = cm_dds_new();
        cr_assert(isnan(cm_dds_min(one)) && isnan(cm_dds_max(one)), "empty: no extremes");
        cm_dds_add(one, singles[i]);
        for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
            cr_assert_eq(cm_dds_quantile(one, qs[k]), singles[i], "q %g of %g: %.17g", qs[k],
                         singles[i], cm_dds_quantile(one, qs[k]));
        }
        cm_dds_free(one);
    }
    enum { N = 500 };
    static double vals[N];
    struct cm_dds *a = cm_dds_new(), *b = cm_dds_new(), *e = cm_dds_new();
    for (int i = 0; i < N; i++) {
        vals[i] = 1.0 + i * 0.731 - (i % 5 == 0 ? 400.0 : 0.0);
        cm_dds_add(i % 3 ? a : b, vals[i]);
    }
    struct cm_dds *ab = cm_dds_copy(a);
    cm_dds_merge(ab, b);
    cm_dds_merge(ab, e);
    check_quantiles(ab, vals, N); /* sorts vals */
    cr_assert_eq(cm_dds_quantile(ab, 0), vals[0]);
    cr_assert_eq(cm_dds_quantile(ab, 1), vals[N - 1]);
    cr_assert_eq(cm_dds_min(ab), vals[0]);
    cr_assert_eq(cm_dds_max(ab), vals[N - 1]);
    for (int p = 0; p <= 1000; p++) {
        double v = cm_dds_quantile(ab, p / 1000.0);
        cr_assert(v >= vals[0] && v <= vals[N - 1], "q %g: %g", p / 1000.0, v);
    }
    unsigned char *buf;
    size_t len = cm_dds_serialize(ab, &buf);
    struct cm_dds *back = cm_dds_deserialize(buf, len);
    cr_assert_not_null(back);
    cr_assert_eq(cm_dds_min(back), vals[0]);
    cr_assert_eq(cm_dds_max(back), vals[N - 1]);
    /* extremes that no sketch with these bins can have (min at 10..17, max at 18..25) */
    const struct {
        double min, max;
        const char *why;
    } bad[] = {
        {5.0, 400.0, "a least value above zero with values counted below it"},
        {-500.0, -1.0, "a greatest value below zero with values counted above it"},
        {10.0, -10.0, "least above greatest"},
        {NAN, 400.0, "not a number"},
        {-INFINITY, 400.0, "infinite"},
        {-500.0, INFINITY, "infinite"},
        {INFINITY, -INFINITY, "the empty sketch's extremes with values counted"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *c = malloc(len);
        memcpy(c, buf, len);
        put_real(c + 10, bad[i].min);
        put_real(c + 18, bad[i].max);
        cr_assert_null(cm_dds_deserialize(c, len), "%s", bad[i].why);
        put_real(c + 10, -500.0); /* control: extremes the bins allow are read */
        put_real(c + 18, 400.0);
        struct cm_dds *ok = cm_dds_deserialize(c, len);
        cr_assert_not_null(ok);
        cr_assert_eq(cm_dds_min(ok), -500.0);
        cm_dds_free(ok);
        free(c);
    }
    free(buf);
    len = cm_dds_serialize(e, &buf);
    struct cm_dds *empty = cm_dds_deserialize(buf, len);
    cr_assert_not_null(empty, "the empty sketch reads back");
    cr_assert(isnan(cm_dds_quantile(empty, 0.5)));
    cm_dds_free(empty);
    put_real(buf + 10, 0.0);
    cr_assert_null(cm_dds_deserialize(buf, len), "an empty sketch with a least value");
    free(buf);
    struct cm_dds *all[] = {a, b, e, ab, back};
    for (size_t i = 0; i < 5; i++) {
        cm_dds_free(all[i]);
    }
}
