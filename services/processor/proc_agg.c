/* proc_agg: accumulators (see proc_agg.h). One slot per aggregate: n counts the values used,
 * v holds the sum, minimum or maximum, m2 the variance family's sum of squared deviations from
 * the mean (next to the sum in v: Youngs and Cramer's update and its pairwise merge, as
 * PostgreSQL's float8 var_samp, so whole values keep exact intermediates), sk a sketch (or topk's
 * or collect's list), val and t first's or last's value and its event time. The checkpoint form is
 * an array of slots, [events, [n, v, integral(, m2 or t)]...] with v a number, the sketch
 * serialized in hex, first's or last's value (null while empty), topk's list of values, or
 * collect's list of [time, value]. */
#include "proc_agg.h"

#include "proc_collect.h"

#include "proc_def.h"
#include "proc_time.h"
#include "proc_topk.h"

#include "cm/expr.h"
#include "cm/jsonw.h"
#include "cm/mem.h"
#include "cm/sketch.h"
#include "cm/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t n;
    double v;
    double m2;
    int integral; /* every value used was an integer */
    void *sk;     /* struct cm_hll, cm_dds, proc_topk or proc_collect */
    json_t *val;  /* first, last: the value kept (NULL while empty) */
    int64_t t;    /* and its event time */
};

struct proc_acc {
    const struct proc_def *d;
    uint64_t events;
    struct slot s[];
};

struct proc_acc *proc_acc_new(const struct proc_def *d)
{
    struct proc_acc *a = cm_xcalloc(1, sizeof(*a) + d->naggs * sizeof(struct slot));
    a->d = d;
    for (size_t i = 0; i < d->naggs; i++) {
        a->s[i].integral = 1;
        if (d->aggs[i].kind == PROC_AGG_DISTINCT) {
            a->s[i].sk = cm_hll_new();
        } else if (d->aggs[i].kind == PROC_AGG_PERCENTILE) {
            a->s[i].sk = cm_dds_new();
        } else if (PROC_AGG_IS_TOPK(d->aggs[i].kind)) {
            a->s[i].sk = proc_topk_new(d->aggs[i].k, d->aggs[i].kind == PROC_AGG_TOPK_DISTINCT);
        } else if (PROC_AGG_IS_COLLECT(d->aggs[i].kind)) {
            a->s[i].sk = proc_collect_new(d->aggs[i].k, d->aggs[i].kind == PROC_AGG_COLLECT_SET);
        }
    }
    return a;
}

struct proc_acc *proc_acc_copy(const struct proc_acc *a)
{
    const struct proc_def *d = a->d;
    struct proc_acc *c = cm_xmalloc(sizeof(*c) + d->naggs * sizeof(struct slot));
    memcpy(c, a, sizeof(*c) + d->naggs * sizeof(struct slot));
    for (size_t i = 0; i < d->naggs; i++) {
        if (d->aggs[i].kind == PROC_AGG_DISTINCT) {
            c->s[i].sk = cm_hll_copy(a->s[i].sk);
        } else if (d->aggs[i].kind == PROC_AGG_PERCENTILE) {
            c->s[i].sk = cm_dds_copy(a->s[i].sk);
        } else if (PROC_AGG_IS_TOPK(d->aggs[i].kind)) {
            c->s[i].sk = proc_topk_copy(a->s[i].sk);
        } else if (PROC_AGG_IS_COLLECT(d->aggs[i].kind)) {
            c->s[i].sk = proc_collect_copy(a->s[i].sk);
        }
        json_incref(c->s[i].val); /* never changed in place: shared */
    }
    return c;
}

void proc_acc_free(struct proc_acc *a)
{
    if (!a) {
        return;
    }
    for (size_t i = 0; i < a->d->naggs; i++) {
        if (a->d->aggs[i].kind == PROC_AGG_DISTINCT) {
            cm_hll_free(a->s[i].sk);
        } else if (a->d->aggs[i].kind == PROC_AGG_PERCENTILE) {
            cm_dds_free(a->s[i].sk);
        } else if (PROC_AGG_IS_TOPK(a->d->aggs[i].kind)) {
            proc_topk_free(a->s[i].sk);
        } else if (PROC_AGG_IS_COLLECT(a->d->aggs[i].kind)) {
            proc_collect_free(a->s[i].sk);
        }
        json_decref(a->s[i].val);
    }
    free(a);
}

static void add_number(struct slot *s, enum proc_agg_kind kind, double x, int integral)
{
    switch (kind) {
    case PROC_AGG_SUM:
    case PROC_AGG_AVG:
        s->v += x;
        break;
    case PROC_AGG_MIN:
        s->v = s->n == 0 || x < s->v ? x : s->v;
        break;
    case PROC_AGG_MAX:
        s->v = s->n == 0 || x > s->v ? x : s->v;
        break;
    case PROC_AGG_PERCENTILE:
        cm_dds_add(s->sk, x);
        break;
    case PROC_AGG_TOPK:
    case PROC_AGG_TOPK_DISTINCT:
        proc_topk_add(s->sk, x, integral);
        break;
    case PROC_AGG_VAR_SAMP:
    case PROC_AGG_VAR_POP:
    case PROC_AGG_STDDEV_SAMP:
    case PROC_AGG_STDDEV_POP: {
        double n = (double)(s->n + 1);
        s->v += x;
        if (s->n > 0) {
            double t = x * n - s->v;
            s->m2 += t * t / (n * (double)s->n);
        }
        break;
    }
    default:
        break;
    }
    s->integral &= integral;
    s->n++;
}

/* Whether first's or last's value at time t replaces the one s keeps: an earlier time for first,
 * a later one for last; at the same time the value read first stays first and the one read last
 * becomes last (the value at t is read after the kept one). */
static int replaces(const struct slot *s, enum proc_agg_kind k, int64_t t)
{
    if (!s->val) {
        return 1;
    }
    return k == PROC_AGG_FIRST ? t < s->t : t >= s->t;
}

static void keep_value(struct slot *s, json_t *v, int64_t t)
{
    json_decref(s->val);
    s->val = v;
    s->t = t;
}

/* Adds aggregate i's value v (borrowed; NULL or null: nothing to add) of an event at time t. */
static void add_value(struct proc_acc *a, size_t i, const json_t *v, int64_t t, size_t *errors)
{
    const struct proc_agg_def *def = &a->d->aggs[i];
    struct slot *s = &a->s[i];
    if (def->kind == PROC_AGG_COUNT) {
        s->n++;
        return;
    }
    if (!v || json_is_null(v)) {
        return;
    }
    if (def->kind == PROC_AGG_COUNT_IF) {
        if (json_is_boolean(v)) {
            s->n += json_is_true(v);
        } else {
            (*errors)++; /* a condition that is not true or false */
        }
    } else if (PROC_AGG_IS_COLLECT(def->kind)) {
        if (proc_collect_add(s->sk, v, t) != 0) {
            (*errors)++;
            return;
        }
        s->n++;
    } else if (def->kind == PROC_AGG_FIRST || def->kind == PROC_AGG_LAST) {
        if (replaces(s, def->kind, t)) { /* a copy: the event may change after */
            keep_value(s, json_deep_copy(v), t);
        }
        s->integral &= json_is_integer(v);
        s->n++;
    } else if (def->kind == PROC_AGG_DISTINCT) {
        if (json_is_string(v)) {
            cm_hll_add(s->sk, json_string_value(v), json_string_length(v));
        } else {
            char *text = cm_json_dumps(v, NULL);
            cm_hll_add(s->sk, text, strlen(text));
            free(text);
        }
        s->n++;
    } else if (json_is_number(v)) {
        add_number(s, def->kind, json_number_value(v), json_is_integer(v));
    } else {
        (*errors)++;
    }
}

json_t *proc_acc_args(const struct proc_def *d, const json_t *ev, size_t *errors)
{
    json_t *args = json_array();
    for (size_t i = 0; i < d->naggs; i++) {
        json_t *v = d->aggs[i].kind == PROC_AGG_COUNT
                        ? NULL
                        : cm_expr_eval_json(d->aggs[i].arg, ev, NULL, 0);
        *errors += !v && d->aggs[i].kind != PROC_AGG_COUNT;
        json_array_append_new(args, v ? v : json_null());
    }
    return args;
}

void proc_acc_add_args(struct proc_acc *a, const json_t *args, int64_t time_ms, size_t *errors)
{
    a->events++;
    for (size_t i = 0; i < a->d->naggs; i++) {
        add_value(a, i, json_array_get(args, i), time_ms, errors);
    }
}

void proc_acc_add(struct proc_acc *a, const json_t *ev, int64_t time_ms, size_t *errors)
{
    a->events++;
    for (size_t i = 0; i < a->d->naggs; i++) {
        const struct proc_agg_def *def = &a->d->aggs[i];
        json_t *v = def->kind == PROC_AGG_COUNT ? NULL : cm_expr_eval_json(def->arg, ev, NULL, 0);
        *errors += !v && def->kind != PROC_AGG_COUNT;
        add_value(a, i, v, time_ms, errors);
        json_decref(v);
    }
}

void proc_acc_merge(struct proc_acc *into, const struct proc_acc *from)
{
    into->events += from->events;
    for (size_t i = 0; i < into->d->naggs; i++) {
        struct slot *a = &into->s[i];
        const struct slot *b = &from->s[i];
        if (b->n == 0) {
            continue;
        }
        switch (into->d->aggs[i].kind) {
        case PROC_AGG_SUM:
        case PROC_AGG_AVG:
            a->v += b->v;
            break;
        case PROC_AGG_MIN:
            a->v = a->n == 0 || b->v < a->v ? b->v : a->v;
            break;
        case PROC_AGG_MAX:
            a->v = a->n == 0 || b->v > a->v ? b->v : a->v;
            break;
        case PROC_AGG_DISTINCT:
            cm_hll_merge(a->sk, b->sk);
            break;
        case PROC_AGG_PERCENTILE:
            cm_dds_merge(a->sk, b->sk);
            break;
        case PROC_AGG_TOPK:
        case PROC_AGG_TOPK_DISTINCT:
            proc_topk_merge(a->sk, b->sk);
            break;
        case PROC_AGG_COLLECT_LIST:
        case PROC_AGG_COLLECT_SET:
            proc_collect_merge(a->sk, b->sk);
            break;
        case PROC_AGG_VAR_SAMP:
        case PROC_AGG_VAR_POP:
        case PROC_AGG_STDDEV_SAMP:
        case PROC_AGG_STDDEV_POP:
            if (a->n == 0) {
                a->v = b->v;
                a->m2 = b->m2;
            } else {
                double na = (double)a->n, nb = (double)b->n, t = a->v / na - b->v / nb;
                a->v += b->v;
                a->m2 += b->m2 + na * nb * t * t / (na + nb);
            }
            break;
        case PROC_AGG_FIRST:
        case PROC_AGG_LAST:
            if (replaces(a, into->d->aggs[i].kind, b->t)) { /* from holds what came later */
                keep_value(a, json_incref(b->val), b->t);
            }
            break;
        case PROC_AGG_COUNT:
        case PROC_AGG_COUNT_IF:
            break;
        }
        a->integral &= b->integral;
        a->n += b->n;
    }
}

size_t proc_acc_events(const struct proc_acc *a)
{
    return (size_t)a->events;
}

static json_t *number(double v, int integral)
{
    if (integral && fabs(v) < 9007199254740992.0) {
        return json_integer((json_int_t)v);
    }
    return isfinite(v) ? json_real(v) : json_null();
}

/* A real, or null where it is not finite (json_real would give no value at all). */
static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The variance or standard deviation of slot s; NaN where there is none (no value, a sample of
 * one, or values whose squares overflow). */
static double spread(const struct slot *s, enum proc_agg_kind k)
{
    int sample = k == PROC_AGG_VAR_SAMP || k == PROC_AGG_STDDEV_SAMP;
    if (s->n < (sample ? 2u : 1u)) {
        return NAN;
    }
    double var = s->m2 / (double)(s->n - (uint64_t)sample);
    var = var < 0 ? 0 : var; /* (a checkpoint restored is checked for it; never below zero) */
    return k == PROC_AGG_STDDEV_SAMP || k == PROC_AGG_STDDEV_POP ? sqrt(var) : var;
}

/* A percentile to 4 significant digits (the sketch is exact to 1 % anyway); one that rounds past
 * DBL_MAX (1.798e308) keeps its digits. */
static double four_digits(double q)
{
    char text[32];
    snprintf(text, sizeof(text), "%.4g", q);
    double r = strtod(text, NULL);
    return isinf(r) ? q : r;
}

/* The q-quantile of sk to write: the sketch's least or greatest value as it is (exact: quantile
 * 0 and 1, a single value, an estimate pulled back within them), any other estimate to 4
 * digits; NaN when empty. */
static double percentile(const struct cm_dds *sk, double q)
{
    double v = cm_dds_quantile(sk, q);
    return v == cm_dds_min(sk) || v == cm_dds_max(sk) ? v : four_digits(v);
}

void proc_acc_result(const struct proc_acc *a, json_t *obj)
{
    for (size_t i = 0; i < a->d->naggs; i++) {
        const struct slot *s = &a->s[i];
        json_t *v;
        switch (a->d->aggs[i].kind) {
        case PROC_AGG_COUNT:
        case PROC_AGG_COUNT_IF:
            v = json_integer((json_int_t)s->n);
            break;
        case PROC_AGG_SUM: /* of no value: null, as SQL's SUM */
            v = s->n ? number(s->v, s->integral) : json_null();
            break;
        case PROC_AGG_AVG:
            v = s->n ? real_or_null(s->v / (double)s->n) : json_null();
            break;
        case PROC_AGG_MIN:
        case PROC_AGG_MAX:
            v = s->n ? number(s->v, s->integral) : json_null();
            break;
        case PROC_AGG_DISTINCT:
            v = json_integer((json_int_t)llround(cm_hll_estimate(s->sk)));
            break;
        case PROC_AGG_PERCENTILE: {
            double q = percentile(s->sk, a->d->aggs[i].q);
            v = isnan(q) ? json_null() : json_real(q);
            break;
        }
        case PROC_AGG_FIRST:
        case PROC_AGG_LAST:
            v = s->val ? json_deep_copy(s->val) : json_null();
            break;
        case PROC_AGG_TOPK:
        case PROC_AGG_TOPK_DISTINCT:
            v = json_array();
            for (size_t j = 0; j < proc_topk_size(s->sk); j++) {
                int integral;
                double x = proc_topk_at(s->sk, j, &integral);
                json_array_append_new(v, number(x, integral));
            }
            break;
        case PROC_AGG_COLLECT_LIST:
        case PROC_AGG_COLLECT_SET:
            v = json_array();
            for (size_t j = 0; j < proc_collect_size(s->sk); j++) {
                int64_t t;
                json_array_append_new(v, json_deep_copy(proc_collect_at(s->sk, j, &t)));
            }
            break;
        default:
            v = real_or_null(spread(s, a->d->aggs[i].kind));
            break;
        }
        json_object_set_new(obj, a->d->aggs[i].name, v);
    }
}

/* A sum, min or max as number() makes it. */
static void write_number(struct cm_jw *w, double v, int integral)
{
    if (integral && fabs(v) < 9007199254740992.0) {
        cm_jw_int(w, (long long)v);
    } else {
        cm_jw_real(w, v); /* null when not finite, as number() */
    }
}

/* topk's list: as number() writes each value in a result; in a checkpoint (state), integers as
 * integers and every other value as a real, so that it reads back the same. */
static void write_topk(struct cm_jw *w, const struct proc_topk *t, int state)
{
    cm_jw_array(w);
    for (size_t j = 0; j < proc_topk_size(t); j++) {
        int integral;
        double x = proc_topk_at(t, j, &integral);
        if (state && !integral) {
            cm_jw_real(w, x);
        } else {
            write_number(w, x, integral);
        }
    }
    cm_jw_end(w);
}

/* collect's list: its values in a result; [time, value] pairs in a checkpoint (state). */
static void write_collect(struct cm_jw *w, const struct proc_collect *c, int state)
{
    cm_jw_array(w);
    for (size_t j = 0; j < proc_collect_size(c); j++) {
        int64_t t;
        const json_t *v = proc_collect_at(c, j, &t);
        if (state) {
            cm_jw_array(w);
            cm_jw_int(w, (long long)t);
        }
        cm_jw_value(w, v);
        if (state) {
            cm_jw_end(w);
        }
    }
    cm_jw_end(w);
}

void proc_acc_write(const struct proc_acc *a, struct cm_jw *w)
{
    for (size_t i = 0; i < a->d->naggs; i++) {
        const struct slot *s = &a->s[i];
        cm_jw_key(w, a->d->aggs[i].name);
        switch (a->d->aggs[i].kind) {
        case PROC_AGG_COUNT:
        case PROC_AGG_COUNT_IF:
            cm_jw_int(w, (long long)s->n);
            break;
        case PROC_AGG_SUM:
            if (s->n) {
                write_number(w, s->v, s->integral);
            } else {
                cm_jw_null(w);
            }
            break;
        case PROC_AGG_AVG:
            if (s->n) {
                cm_jw_real(w, s->v / (double)s->n);
            } else {
                cm_jw_null(w);
            }
            break;
        case PROC_AGG_MIN:
        case PROC_AGG_MAX:
            if (s->n) {
                write_number(w, s->v, s->integral);
            } else {
                cm_jw_null(w);
            }
            break;
        case PROC_AGG_DISTINCT:
            cm_jw_int(w, (long long)llround(cm_hll_estimate(s->sk)));
            break;
        case PROC_AGG_PERCENTILE: {
            double q = percentile(s->sk, a->d->aggs[i].q);
            if (isnan(q)) {
                cm_jw_null(w);
            } else {
                cm_jw_real(w, q);
            }
            break;
        }
        case PROC_AGG_FIRST:
        case PROC_AGG_LAST:
            if (s->val) {
                cm_jw_value(w, s->val);
            } else {
                cm_jw_null(w);
            }
            break;
        case PROC_AGG_TOPK:
        case PROC_AGG_TOPK_DISTINCT:
            write_topk(w, s->sk, 0);
            break;
        case PROC_AGG_COLLECT_LIST:
        case PROC_AGG_COLLECT_SET:
            write_collect(w, s->sk, 0);
            break;
        default:
            cm_jw_real(w, spread(s, a->d->aggs[i].kind)); /* null when not finite */
            break;
        }
    }
}

/* A real in the checkpoint form: a number, or where it overflowed (JSON has no number for it)
 * "inf", "-inf" or "nan". */
static void write_state_real(struct cm_jw *w, double v)
{
    if (isfinite(v)) {
        cm_jw_real(w, v);
    } else {
        cm_jw_string(w, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    }
}

/* Reads what write_state_real wrote into *out; -1 when v is not that. */
static int read_state_real(const json_t *v, double *out)
{
    const char *t = json_string_value(v);
    if (json_is_number(v)) {
        *out = json_number_value(v);
    } else if (t && strcmp(t, "inf") == 0) {
        *out = INFINITY;
    } else if (t && strcmp(t, "-inf") == 0) {
        *out = -INFINITY;
    } else if (t && strcmp(t, "nan") == 0) {
        *out = NAN;
    } else {
        return -1;
    }
    return 0;
}

void proc_acc_write_state(const struct proc_acc *a, struct cm_jw *w)
{
    cm_jw_array(w);
    cm_jw_int(w, (long long)a->events);
    for (size_t i = 0; i < a->d->naggs; i++) {
        const struct slot *s = &a->s[i];
        enum proc_agg_kind k = a->d->aggs[i].kind;
        cm_jw_array(w);
        cm_jw_int(w, (long long)s->n);
        if (k == PROC_AGG_DISTINCT || k == PROC_AGG_PERCENTILE) {
            unsigned char *buf;
            size_t len = k == PROC_AGG_DISTINCT ? cm_hll_serialize(s->sk, &buf)
                                                : cm_dds_serialize(s->sk, &buf);
            char *hex = cm_xmalloc(2 * len + 1);
            cm_hex_encode(buf, len, hex);
            cm_jw_stringn(w, hex, 2 * len);
            free(hex);
            free(buf);
        } else if (k == PROC_AGG_FIRST || k == PROC_AGG_LAST) {
            if (s->val) {
                cm_jw_value(w, s->val);
            } else {
                cm_jw_null(w);
            }
        } else if (PROC_AGG_IS_TOPK(k)) {
            write_topk(w, s->sk, 1);
        } else if (PROC_AGG_IS_COLLECT(k)) {
            write_collect(w, s->sk, 1);
        } else {
            write_state_real(w, s->v);
        }
        cm_jw_bool(w, s->integral);
        if (PROC_AGG_IS_SPREAD(k)) {
            write_state_real(w, s->m2);
        } else if (k == PROC_AGG_FIRST || k == PROC_AGG_LAST) {
            cm_jw_int(w, (long long)s->t);
        }
        cm_jw_end(w);
    }
    cm_jw_end(w);
}

static unsigned char *unhex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2) {
        return NULL;
    }
    unsigned char *b = cm_xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = cm_hex_digit(s[2 * i]), lo = cm_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return b;
}

struct proc_acc *proc_acc_from_json(const struct proc_def *d, const json_t *j)
{
    if (!json_is_array(j) || json_array_size(j) != d->naggs + 1 ||
        !json_is_integer(json_array_get(j, 0))) {
        return NULL;
    }
    struct proc_acc *a = proc_acc_new(d);
    a->events = (uint64_t)json_integer_value(json_array_get(j, 0));
    for (size_t i = 0; i < d->naggs; i++) {
        const json_t *e = json_array_get(j, i + 1);
        struct slot *s = &a->s[i];
        const json_t *n = json_array_get(e, 0), *v = json_array_get(e, 1);
        if (!json_is_integer(n) || !json_is_boolean(json_array_get(e, 2))) {
            proc_acc_free(a);
            return NULL;
        }
        s->n = (uint64_t)json_integer_value(n);
        s->integral = json_is_true(json_array_get(e, 2));
        enum proc_agg_kind k = d->aggs[i].kind;
        if (k == PROC_AGG_DISTINCT || k == PROC_AGG_PERCENTILE) {
            size_t len;
            unsigned char *buf = json_is_string(v) ? unhex(json_string_value(v), &len) : NULL;
            void *sk = NULL;
            if (buf) {
                sk = k == PROC_AGG_DISTINCT ? (void *)cm_hll_deserialize(buf, len)
                                            : (void *)cm_dds_deserialize(buf, len);
            }
            free(buf);
            if (!sk) {
                proc_acc_free(a);
                return NULL;
            }
            if (k == PROC_AGG_DISTINCT) {
                cm_hll_free(s->sk);
            } else {
                cm_dds_free(s->sk);
            }
            s->sk = sk;
        } else if (k == PROC_AGG_FIRST || k == PROC_AGG_LAST) {
            /* a value (of any type) with its time while values were counted, null before */
            const json_t *t = json_array_get(e, 3);
            if (!v || json_array_size(e) != 4 || !json_is_integer(t) ||
                (s->n > 0) == json_is_null(v) ||
                (s->n > 0 && !proc_state_time_ok(json_integer_value(t)))) {
                proc_acc_free(a);
                return NULL;
            }
            s->val = s->n > 0 ? json_deep_copy(v) : NULL;
            s->t = s->n > 0 ? json_integer_value(t) : 0;
        } else if (PROC_AGG_IS_COLLECT(k)) {
            /* as many values as were counted, up to the limit (fewer for collect_set) */
            uint64_t most = s->n < (uint64_t)d->aggs[i].k ? s->n : (uint64_t)d->aggs[i].k;
            size_t size;
            if (json_array_size(e) != 3 || proc_collect_from_json(s->sk, v) != 0 ||
                (size = proc_collect_size(s->sk)) > most ||
                (k == PROC_AGG_COLLECT_LIST && size != most) || (s->n > 0 && size == 0)) {
                proc_acc_free(a);
                return NULL;
            }
        } else if (PROC_AGG_IS_TOPK(k)) {
            /* as many values as were counted, up to k (fewer for topk_distinct) */
            if (json_array_size(e) != 3 || proc_topk_from_json(s->sk, v) != 0 ||
                proc_topk_size(s->sk) > s->n ||
                (k == PROC_AGG_TOPK &&
                 proc_topk_size(s->sk) !=
                     (s->n < (uint64_t)d->aggs[i].k ? s->n : (uint64_t)d->aggs[i].k)) ||
                (s->n > 0 && proc_topk_size(s->sk) == 0)) {
                proc_acc_free(a);
                return NULL;
            }
        } else if (read_state_real(v, &s->v) != 0 ||
                   (PROC_AGG_IS_SPREAD(k) &&
                    (json_array_size(e) != 4 ||
                     read_state_real(json_array_get(e, 3), &s->m2) != 0 ||
                     s->m2 < 0))) { /* a sum of squares is never negative; NaN is an overflow */
            proc_acc_free(a);
            return NULL;
        }
    }
    return a;
}
