/* proc_collect: collect_list and collect_set (see proc_collect.h): entries kept sorted by time,
 * in arrays that grow up to the limit; collect_set also keeps each entry's canonical text and
 * its hash, and finds an equal value by scanning them (the limit bounds the scan; the hash is keyed
 * per process, so values cannot be chosen to share one and make each comparison a full one). */
#include "proc_collect.h"

#include "proc_time.h"

#include "cm/hash.h"
#include "cm/jsonw.h"
#include "cm/mem.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    json_t *v;
    int64_t t;
    char *key; /* collect_set: the canonical text */
    uint64_t h;
};

struct proc_collect {
    int limit, distinct;
    size_t n, cap;
    struct entry *e;
};

struct proc_collect *proc_collect_new(int limit, int distinct)
{
    struct proc_collect *c = cm_xcalloc(1, sizeof(*c));
    c->limit = limit;
    c->distinct = distinct;
    return c;
}

struct proc_collect *proc_collect_copy(const struct proc_collect *c)
{
    struct proc_collect *d = proc_collect_new(c->limit, c->distinct);
    if (c->n > 0) {
        d->e = cm_xmalloc(c->n * sizeof(*d->e));
        d->cap = d->n = c->n;
        for (size_t i = 0; i < c->n; i++) {
            d->e[i] = c->e[i];
            json_incref(d->e[i].v); /* never changed in place: shared */
            d->e[i].key = c->e[i].key ? cm_xstrdup(c->e[i].key) : NULL;
        }
    }
    return d;
}

static void entry_free(struct entry *e)
{
    json_decref(e->v);
    free(e->key);
}

void proc_collect_free(struct proc_collect *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        entry_free(&c->e[i]);
    }
    free(c->e);
    free(c);
}

/* Where an entry of time t goes: after every entry of a time up to t. */
static size_t position(const struct proc_collect *c, int64_t t)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].t <= t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Index of the entry with canonical text key (hash h), or -1. */
static long find(const struct proc_collect *c, const char *key, uint64_t h)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].h == h && strcmp(c->e[i].key, key) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static void remove_at(struct proc_collect *c, size_t i)
{
    entry_free(&c->e[i]);
    memmove(c->e + i, c->e + i + 1, (c->n - i - 1) * sizeof(*c->e));
    c->n--;
}

/* Inserts e (taken) in time order, unless it falls past the limit (then freed). */
static void insert(struct proc_collect *c, struct entry e)
{
    size_t pos = position(c, e.t);
    if (pos >= (size_t)c->limit) {
        entry_free(&e);
        return;
    }
    if (c->n == (size_t)c->limit) {
        remove_at(c, c->n - 1); /* the latest gives way */
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        c->cap = cap > (size_t)c->limit ? (size_t)c->limit : cap;
        c->e = cm_xrealloc(c->e, c->cap * sizeof(*c->e));
    }
    memmove(c->e + pos + 1, c->e + pos, (c->n - pos) * sizeof(*c->e));
    c->e[pos] = e;
    c->n++;
}

/* The canonical text of v and its hash (collect_set); -1 when v has none. */
static int keyed(struct entry *e)
{
    size_t len;
    e->key = cm_json_dumps_canonical(e->v, &len);
    if (!e->key) {
        return -1;
    }
    e->h = cm_hash64_table(e->key, len);
    return 0;
}

int proc_collect_add(struct proc_collect *c, const json_t *v, int64_t t)
{
    if (!c->distinct && c->n == (size_t)c->limit && c->e[c->n - 1].t <= t) {
        return 0; /* the common case of a full list: later than all it keeps */
    }
    struct entry e = {json_deep_copy(v), t, NULL, 0}; /* a copy: the event may change after */
    if (!e.v) {
        return -1;
    }
    if (c->distinct) {
        if (keyed(&e) != 0) {
            entry_free(&e);
            return -1;
        }
        long i = find(c, e.key, e.h);
        if (i >= 0 && c->e[i].t <= t) {
            entry_free(&e); /* it occurred first before */
            return 0;
        }
        if (i >= 0) {
            remove_at(c, (size_t)i); /* it occurs first now, as this value */
        }
    }
    insert(c, e);
    return 0;
}

void proc_collect_merge(struct proc_collect *into, const struct proc_collect *from)
{
    if (from->n == 0) {
        return;
    }
    size_t cap = into->n + from->n;
    cap = cap > (size_t)into->limit ? (size_t)into->limit : cap;
    struct proc_collect m = {into->limit, into->distinct, 0, cap, cm_xmalloc(cap * sizeof(*m.e))};
    size_t i = 0, j = 0;
    while (m.n < cap && (i < into->n || j < from->n)) {
        int a = j == from->n || (i < into->n && into->e[i].t <= from->e[j].t);
        const struct entry *e = a ? &into->e[i++] : &from->e[j++];
        if (m.distinct && find(&m, e->key, e->h) >= 0) {
            continue; /* it occurred first before */
        }
        m.e[m.n] = *e;
        json_incref(e->v);
        m.e[m.n++].key = e->key ? cm_xstrdup(e->key) : NULL;
    }
    for (size_t k = 0; k < into->n; k++) {
        entry_free(&into->e[k]);
    }
    free(into->e);
    into->e = m.e;
    into->n = m.n;
    into->cap = m.cap;
}

size_t proc_collect_size(const struct proc_collect *c)
{
    return c->n;
}

const json_t *proc_collect_at(const struct proc_collect *c, size_t i, int64_t *t)
{
    *t = c->e[i].t;
    return c->e[i].v;
}

int proc_collect_from_json(struct proc_collect *c, const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n > (size_t)c->limit || c->n != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *pair = json_array_get(arr, i), *tv = json_array_get(pair, 0),
                     *v = json_array_get(pair, 1);
        int64_t t = json_integer_value(tv);
        struct entry e = {NULL, t, NULL, 0};
        int bad = json_array_size(pair) != 2 || !json_is_integer(tv) || !proc_state_time_ok(t) ||
                  !v || json_is_null(v) || (c->n > 0 && t < c->e[c->n - 1].t);
        if (!bad) {
            e.v = json_deep_copy(v);
            bad = !e.v || (c->distinct && (keyed(&e) != 0 || find(c, e.key, e.h) >= 0));
        }
        if (bad) {
            entry_free(&e);
            while (c->n > 0) {
                remove_at(c, c->n - 1);
            }
            return -1;
        }
        insert(c, e);
    }
    return 0;
}
