/* proc_topk: the k greatest values (see proc_topk.h), kept sorted greatest first in arrays that
 * grow up to k, so a window with few values costs few bytes. */
#include "proc_topk.h"

#include "cm/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct proc_topk {
    int k, distinct;
    size_t n, cap;
    double *v;
    unsigned char *integral;
};

#define EXACT_BELOW 9007199254740992.0 /* 2^53 */

struct proc_topk *proc_topk_new(int k, int distinct)
{
    struct proc_topk *t = cm_xcalloc(1, sizeof(*t));
    t->k = k;
    t->distinct = distinct;
    return t;
}

struct proc_topk *proc_topk_copy(const struct proc_topk *t)
{
    struct proc_topk *c = proc_topk_new(t->k, t->distinct);
    if (t->n > 0) {
        c->cap = t->n;
        c->v = cm_xmalloc(t->n * sizeof(*c->v));
        c->integral = cm_xmalloc(t->n);
        memcpy(c->v, t->v, t->n * sizeof(*c->v));
        memcpy(c->integral, t->integral, t->n);
        c->n = t->n;
    }
    return c;
}

void proc_topk_free(struct proc_topk *t)
{
    if (t) {
        free(t->v);
        free(t->integral);
        free(t);
    }
}

/* Whether (a, ai) ranks above (b, bi): greater, or equal and an integer where b is not. */
static int above(double a, int ai, double b, int bi)
{
    return a > b || (a == b && ai && !bi);
}

static void reserve(struct proc_topk *t, size_t n)
{
    if (n <= t->cap) {
        return;
    }
    size_t cap = t->cap ? t->cap * 2 : 4;
    cap = cap < n ? n : cap;
    cap = cap > (size_t)t->k ? (size_t)t->k : cap;
    t->v = cm_xrealloc(t->v, cap * sizeof(*t->v));
    t->integral = cm_xrealloc(t->integral, cap);
    t->cap = cap;
}

void proc_topk_add(struct proc_topk *t, double x, int integral)
{
    x = x == 0 ? 0.0 : x; /* -0.0 and 0.0 are one value, written "0" or "0.0" */
    integral = integral && fabs(x) < EXACT_BELOW;
    /* pos: the first value that (x, integral) ranks above; equal ranks keep their order */
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (above(x, integral, t->v[mid], t->integral[mid])) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    size_t pos = lo;
    if (t->distinct) {
        /* an equal value sits just before pos (ranked at or above x), or at pos (a real that
         * the integer x ranks above) */
        if (pos > 0 && t->v[pos - 1] == x) {
            return;
        }
        if (pos < t->n && t->v[pos] == x) {
            t->integral[pos] = 1;
            return;
        }
    }
    if (pos >= (size_t)t->k) {
        return;
    }
    if (t->n == (size_t)t->k) {
        t->n--; /* the least gives way */
    }
    reserve(t, t->n + 1);
    memmove(t->v + pos + 1, t->v + pos, (t->n - pos) * sizeof(*t->v));
    memmove(t->integral + pos + 1, t->integral + pos, t->n - pos);
    t->v[pos] = x;
    t->integral[pos] = (unsigned char)integral;
    t->n++;
}

void proc_topk_merge(struct proc_topk *into, const struct proc_topk *from)
{
    if (from->n == 0) {
        return;
    }
    size_t cap = into->n + from->n;
    cap = cap > (size_t)into->k ? (size_t)into->k : cap;
    double *v = cm_xmalloc(cap * sizeof(*v));
    unsigned char *in = cm_xmalloc(cap);
    size_t i = 0, j = 0, m = 0;
    while (m < cap && (i < into->n || j < from->n)) {
        int a = j == from->n || (i < into->n && !above(from->v[j], from->integral[j], into->v[i],
                                                       into->integral[i]));
        double x = a ? into->v[i] : from->v[j];
        unsigned char xi = a ? into->integral[i++] : from->integral[j++];
        if (into->distinct && m > 0 && v[m - 1] == x) {
            continue; /* the one ranked first (the integer) is kept */
        }
        v[m] = x;
        in[m++] = xi;
    }
    free(into->v);
    free(into->integral);
    into->v = v;
    into->integral = in;
    into->n = m;
    into->cap = cap;
}

size_t proc_topk_size(const struct proc_topk *t)
{
    return t->n;
}

double proc_topk_at(const struct proc_topk *t, size_t i, int *integral)
{
    *integral = t->integral[i];
    return t->v[i];
}

int proc_topk_from_json(struct proc_topk *t, const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n > (size_t)t->k || t->n != 0) {
        return -1;
    }
    reserve(t, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        double x = json_number_value(e);
        int integral = json_is_integer(e);
        if (!json_is_number(e) || !isfinite(x) || (integral && fabs(x) >= EXACT_BELOW) ||
            (x == 0 && signbit(x))) {
            t->n = 0;
            return -1; /* never written so: only integers below 2^53 are kept as integers */
        }
        if (i > 0 && (above(x, integral, t->v[i - 1], t->integral[i - 1]) ||
                      (t->distinct && x == t->v[i - 1]))) {
            t->n = 0;
            return -1;
        }
        t->v[i] = x;
        t->integral[i] = (unsigned char)integral;
        t->n = i + 1;
    }
    return 0;
}
