/* proc_query: a key's windows read from the checkpoints (see proc_query.h). The key's hash is
 * found as the engine places it: a pipeline that re-keys through its repartition topic holds the
 * key in the one partition the first stage sends it to; one that reads input keyed already
 * ("repartition": false) may hold it in any input partition, so all are read, in one pipelined
 * round trip. Each hash's state of the key is restored into a window state of its own and
 * peeked (proc_windows_peek) at the watermark the checkpoint recorded with it. */
#include "proc_query.h"

#include "proc_ckpt.h"
#include "proc_def.h"
#include "proc_engine.h"
#include "proc_frame.h"
#include "proc_window.h"

#include "cm/err.h"
#include "cm/expr.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct found {
    int64_t start;
    long long version;
    json_t *data;
};

struct proc_query_answer {
    const struct proc_def *d; /* of the state being peeked */
    struct found *v;
    size_t n, cap;
    int truncated;
    int64_t wm;          /* the least watermark of the states that held the key; INT64_MAX: none */
    int64_t from, until; /* only windows that start in [from, until) */
};

static int on_window(const struct proc_window_result *r, int open, void *ud)
{
    struct proc_query_answer *c = ud;
    if (r->start_ms < c->from || r->start_ms >= c->until) {
        return 1;
    }
    if (c->n == PROC_QUERY_MAX_WINDOWS) {
        c->truncated = 1;
        return 0;
    }
    json_t *data = proc_result_data(c->d, r);
    if (c->d->having && cm_expr_eval_bool(c->d->having, data, NULL, 0) != CM_EXPR_TRUE) {
        json_decref(data); /* held back, as its result would be */
        return 1;
    }
    json_object_set_new(data, "open", json_boolean(open));
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = cm_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (struct found){r->start_ms, c->d->version, data};
    return 1;
}

/* By key (a scan answers many), then start, then version. */
static int found_cmp(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    const char *kx = json_string_value(json_object_get(x->data, "key")),
               *ky = json_string_value(json_object_get(y->data, "key"));
    int c = strcmp(kx ? kx : "", ky ? ky : "");
    if (c != 0) {
        return c;
    }
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return (x->version > y->version) - (x->version < y->version);
}

/* The sources of d that may hold (tenant, key) (key NULL: any key), appended to *src in ascending
 * order. 0 or CM_E_UNAVAIL. */
static int sources(const struct proc_def *d, const char *tenant, const char *key,
                   proc_query_partitions_fn partitions, void *ud, int32_t **src, size_t *n,
                   size_t *cap, char *why, size_t whylen)
{
    size_t ntopics = d->repartition ? 1 : d->ntopics;
    for (size_t t = 0; t < ntopics; t++) {
        const char *topic = d->repartition ? d->repartition_topic : d->topics[t];
        int parts = partitions(topic, ud);
        if (parts <= 0) {
            snprintf(why, whylen, "the partition count of topic %s cannot be read", topic);
            return CM_E_UNAVAIL;
        }
        int first = 0, last = parts;
        if (d->repartition && key) {
            char rkey[PROC_ROUTE_KEY_MAX];
            size_t klen = proc_frame_route_key(tenant, key, rkey);
            first = cm_kafka_partition_of(rkey, klen, parts);
            last = first + 1;
        }
        for (int p = first; p < last; p++) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                *src = cm_xrealloc(*src, *cap * sizeof(**src));
            }
            (*src)[(*n)++] = (int32_t)(t * 65536 + (size_t)p);
        }
    }
    return 0;
}

struct proc_query_answer *proc_query_answer_new(void)
{
    struct proc_query_answer *a = cm_xcalloc(1, sizeof(*a));
    a->wm = INT64_MAX;
    a->from = INT64_MIN;
    a->until = INT64_MAX;
    return a;
}

int proc_query_add_state(struct proc_query_answer *a, const struct proc_query_version *v,
                         const char *tenant, const char *key, const char *text, size_t len,
                         int64_t wm)
{
    size_t tl = strlen(tenant), kl = strlen(key);
    char *name = cm_xmalloc(tl + kl + 2);
    memcpy(name, tenant, tl);
    name[tl] = '\x1f';
    memcpy(name + tl + 1, key, kl + 1);
    json_t *state = json_loadb(text, len, 0, NULL);
    struct proc_windows *w = proc_windows_new(v->d);
    proc_windows_set_bounds(w, v->from, v->until);
    int rc = state && proc_windows_restore(w, name, state) == 0 ? 0 : CM_E_INVAL;
    if (rc == 0) {
        a->d = v->d;
        proc_windows_peek(w, tenant, key, wm, on_window, a);
        a->wm = wm < a->wm ? wm : a->wm;
    }
    proc_windows_free(w);
    json_decref(state);
    free(name);
    return rc;
}

json_t *proc_query_answer_finish(struct proc_query_answer *a)
{
    json_t *list = json_array();
    if (a->n > 1) {
        qsort(a->v, a->n, sizeof(*a->v), found_cmp);
    }
    for (size_t i = 0; i < a->n; i++) {
        json_array_append_new(list, a->v[i].data);
    }
    json_t *out = json_object();
    if (a->wm != INT64_MAX && a->wm > INT64_MIN) {
        char when[CM_RFC3339_LEN];
        cm_time_format_rfc3339(a->wm, when);
        json_object_set_new(out, "watermark", json_string(when));
    }
    json_object_set_new(out, "windows", list);
    if (a->truncated) {
        json_object_set_new(out, "truncated", json_true());
    }
    free(a->v);
    free(a);
    return out;
}

/* The watermark a checkpoint recorded (its `swm` field), INT64_MIN when none or unreadable. */
static int64_t watermark_of(const char *swm)
{
    if (!swm) {
        return INT64_MIN;
    }
    char *end;
    long long x = strtoll(swm, &end, 10);
    return end != swm && !*end ? x : INT64_MIN;
}

static void add_state(struct proc_query_answer *a, const struct proc_query_version *v,
                      const char *hkey, const char *tenant, const char *key, const char *text,
                      size_t len, int64_t wm)
{
    if (proc_query_add_state(a, v, tenant, key, text, len, wm) != 0) {
        CM_LOG_WARN("query_state_invalid",
                    "%s: the state of a key does not fit pipeline %s version %lld; left out of "
                    "the answer",
                    hkey, v->d->name, v->d->version);
    }
}

/* Whether a checkpoint's marks (whole, seq and wseq: elements i to i + 2 of an HMGET reply)
 * say Redis holds it whole: a full checkpoint began the hash and no write on it since was lost
 * (proc_ckpt.h). Else the processor is writing it anew, within a checkpoint interval. */
static int whole_hash(const struct cm_redis_reply *rep, size_t i)
{
    const char *whole = cm_redis_reply_str(cm_redis_reply_elem(rep, i), NULL);
    const char *seq = cm_redis_reply_str(cm_redis_reply_elem(rep, i + 1), NULL);
    const char *wseq = cm_redis_reply_str(cm_redis_reply_elem(rep, i + 2), NULL);
    return whole && strcmp(whole, "1") == 0 && (seq ? wseq && strcmp(seq, wseq) == 0 : !wseq);
}

static int rewritten(const char *hkey, char *why, size_t whylen)
{
    snprintf(why, whylen,
             "the window state in %s is being written anew (Redis lost part of it, in a restart "
             "or a failover); ask again in a moment",
             hkey);
    return CM_E_UNAVAIL;
}

#define HASH_FIELDS "def", "swm", "whole", "seq", "wseq" /* what a query reads of each hash */
#define NHASH_FIELDS 5

/* One hash's answer to HMGET HASH_FIELDS k:<tenant>\x1f<key>: the key's windows added to a. 0,
 * or CM_E_UNAVAIL (why says so) when Redis does not hold the checkpoint whole. */
static int take_hash(struct proc_query_answer *a, const struct proc_query_version *v,
                     const char *hkey, const struct cm_redis_reply *rep, const char *tenant,
                     const char *key, char *why, size_t whylen)
{
    const struct proc_def *d = v->d;
    if (cm_redis_reply_type(rep) != CM_REDIS_ARRAY || cm_redis_reply_len(rep) != NHASH_FIELDS + 1) {
        return 0;
    }
    const char *def = cm_redis_reply_str(cm_redis_reply_elem(rep, 0), NULL);
    const char *swm = cm_redis_reply_str(cm_redis_reply_elem(rep, 1), NULL);
    size_t len = 0;
    const char *text = cm_redis_reply_str(cm_redis_reply_elem(rep, NHASH_FIELDS), &len);
    if (!def || strcmp(def, d->digest) != 0) {
        return 0; /* no checkpoint, or another definition's */
    }
    if (!whole_hash(rep, 2)) {
        return rewritten(hkey, why, whylen);
    }
    if (text) { /* (else the key is not in it) */
        add_state(a, v, hkey, tenant, key, text, len, watermark_of(swm));
    }
    return 0;
}

int proc_query_windows(struct cm_redis *r, const struct proc_query_version *v, size_t nv,
                       const char *tenant, const char *key, int64_t from, int64_t until,
                       proc_query_partitions_fn partitions, void *ud, json_t **out, char *why,
                       size_t whylen)
{
    *out = NULL;
    char *field = cm_xasprintf("k:%s\x1f%s", tenant, key);
    struct proc_query_answer *a = proc_query_answer_new();
    a->from = from;
    a->until = until;
    int rc = 0;
    for (size_t i = 0; i < nv && rc == 0; i++) {
        int32_t *src = NULL;
        size_t n = 0, cap = 0;
        rc = sources(v[i].d, tenant, key, partitions, ud, &src, &n, &cap, why, whylen);
        if (rc != 0 || n == 0) {
            free(src);
            continue;
        }
        char **keys = cm_xcalloc(n, sizeof(*keys));
        const char **args = cm_xmalloc((NHASH_FIELDS + 3) * n * sizeof(*args));
        const char *const **argvs = cm_xmalloc(n * sizeof(*argvs));
        int *argcs = cm_xmalloc(n * sizeof(*argcs));
        struct cm_redis_reply **reps = cm_xcalloc(n, sizeof(*reps));
        for (size_t s = 0; s < n; s++) {
            keys[s] = proc_ckpt_key(v[i].d, src[s]);
            const char **x = &args[(NHASH_FIELDS + 3) * s];
            const char *const fields[] = {HASH_FIELDS};
            x[0] = "HMGET";
            x[1] = keys[s];
            memcpy(x + 2, fields, sizeof(fields));
            x[NHASH_FIELDS + 2] = field;
            argvs[s] = x;
            argcs[s] = NHASH_FIELDS + 3;
        }
        if (cm_redis_pipeline(r, n, argcs, argvs, reps) != 0) {
            snprintf(why, whylen, "Redis, which holds the window state, is unavailable");
            rc = CM_E_UNAVAIL;
        }
        for (size_t s = 0; s < n; s++) {
            if (rc == 0) {
                rc = take_hash(a, &v[i], keys[s], reps[s], tenant, key, why, whylen);
            }
            cm_redis_reply_free(reps[s]);
            free(keys[s]);
        }
        free(reps);
        free(argcs);
        free(argvs);
        free(args);
        free(keys);
        free(src);
    }
    free(field);
    json_t *answer = proc_query_answer_finish(a);
    if (rc != 0) {
        json_decref(answer);
        return rc;
    }
    *out = answer;
    return 0;
}

/* ---- scans ---- */

/* A scan's place: the version, the source (the next one at or after it) and Redis' HSCAN cursor
 * in that source's hash. */
struct place {
    long long version;
    int32_t source;
    unsigned long long cursor;
};

static int place_parse(const char *text, struct place *p)
{
    char *end;
    const char *s = text;
    for (const char *c = s; *c; c++) {
        if ((*c < '0' || *c > '9') && *c != '.') {
            return CM_E_INVAL;
        }
    }
    errno = 0;
    p->version = strtoll(s, &end, 10);
    if (end == s || *end != '.' || p->version < 1 || errno) {
        return CM_E_INVAL;
    }
    s = end + 1;
    long long src = strtoll(s, &end, 10);
    if (end == s || *end != '.' || src < 0 || src > INT32_MAX || errno) {
        return CM_E_INVAL;
    }
    p->source = (int32_t)src;
    s = end + 1;
    errno = 0;
    p->cursor = strtoull(s, &end, 10);
    return end == s || *end || errno ? CM_E_INVAL : 0;
}

/* The HSCAN pattern of a tenant's keys that start with prefix: k:<tenant>\x1f<prefix>*, glob
 * characters of both escaped. */
static char *scan_pattern(const char *tenant, const char *prefix)
{
    size_t n = strlen(tenant), m = strlen(prefix);
    char *p = cm_xmalloc(2 * (n + m) + 5), *w = p;
    *w++ = 'k';
    *w++ = ':';
    for (size_t i = 0; i < n + 1 + m; i++) {
        char c = i < n ? tenant[i] : i == n ? '\x1f' : prefix[i - n - 1];
        if (c && strchr("*?[]\\", c)) {
            *w++ = '\\';
        }
        *w++ = c;
    }
    *w++ = '*';
    *w = '\0';
    return p;
}

static int version_cmp(const void *a, const void *b)
{
    const struct proc_query_version *x = a, *y = b;
    return (x->d->version > y->d->version) - (x->d->version < y->d->version);
}

/* What a scan reads: the versions in order, the tenant and its pattern, the keys' range. */
struct scan {
    struct cm_redis *r;
    const struct proc_query_version *order;
    size_t nv;
    const char *tenant, *pattern;
    const char *key_from, *key_to; /* NULL: open */
    proc_query_partitions_fn partitions;
    void *ud;
    char *why;
    size_t whylen;
};

/* Whether a key lies in the scan's range (both ends included, byte order). */
static int in_range(const struct scan *sc, const char *key)
{
    return (!sc->key_from || strcmp(key, sc->key_from) >= 0) &&
           (!sc->key_to || strcmp(key, sc->key_to) <= 0);
}

/* Scans one source's hash with HSCAN from cursor `start` (0: its beginning) until the answer
 * holds limit windows or the hash ends; *next is the cursor to go on from (0: the hash is done),
 * *batch the cursor of the HSCAN call that filled the answer. 0, or CM_E_UNAVAIL. */
static int scan_hash(const struct scan *scan, struct proc_query_answer *a,
                     const struct proc_query_version *v, int32_t source, size_t limit,
                     unsigned long long start, unsigned long long *next, unsigned long long *batch)
{
    struct cm_redis *r = scan->r;
    const char *tenant = scan->tenant, *pattern = scan->pattern;
    *next = 0;
    *batch = start;
    char *hkey = proc_ckpt_key(v->d, source);
    const char *hm[] = {"HMGET", hkey, HASH_FIELDS};
    struct cm_redis_reply *rep = NULL;
    int rc = cm_redis_command(r, NHASH_FIELDS + 2, hm, NULL, &rep);
    int64_t wm = INT64_MIN;
    int ours = 0;
    if (rc == 0 && cm_redis_reply_type(rep) == CM_REDIS_ARRAY &&
        cm_redis_reply_len(rep) == NHASH_FIELDS) {
        const char *def = cm_redis_reply_str(cm_redis_reply_elem(rep, 0), NULL);
        ours = def && strcmp(def, v->d->digest) == 0; /* else none, or another definition's */
        wm = watermark_of(cm_redis_reply_str(cm_redis_reply_elem(rep, 1), NULL));
        if (ours && !whole_hash(rep, 2)) {
            rc = rewritten(hkey, scan->why, scan->whylen);
        }
    }
    cm_redis_reply_free(rep);
    size_t plen = strlen(tenant) + 3; /* "k:" <tenant> \x1f */
    unsigned long long cursor = start;
    while (rc == 0 && ours) {
        char cur[24];
        snprintf(cur, sizeof(cur), "%llu", cursor);
        *batch = cursor;
        const char *sc[] = {"HSCAN", hkey, cur, "MATCH", pattern, "COUNT", "100"};
        rep = NULL;
        if ((rc = cm_redis_command(r, 7, sc, NULL, &rep)) != 0) {
            break;
        }
        int shaped = cm_redis_reply_type(rep) == CM_REDIS_ARRAY && cm_redis_reply_len(rep) == 2;
        const char *after = shaped ? cm_redis_reply_str(cm_redis_reply_elem(rep, 0), NULL) : NULL;
        const struct cm_redis_reply *fields = shaped ? cm_redis_reply_elem(rep, 1) : NULL;
        if (!after || cm_redis_reply_type(fields) != CM_REDIS_ARRAY) {
            cm_redis_reply_free(rep);
            break; /* (not a hash: nothing to read) */
        }
        for (size_t i = 0; i + 1 < cm_redis_reply_len(fields); i += 2) {
            size_t flen = 0, len = 0;
            const char *f = cm_redis_reply_str(cm_redis_reply_elem(fields, i), &flen);
            const char *text = cm_redis_reply_str(cm_redis_reply_elem(fields, i + 1), &len);
            if (f && text && flen > plen && memchr(f, '\0', flen) == NULL &&
                in_range(scan, f + plen)) {
                add_state(a, v, hkey, tenant, f + plen, text, len, wm);
            }
        }
        cursor = strtoull(after, NULL, 10);
        cm_redis_reply_free(rep);
        if (cursor == 0 || a->n >= limit) {
            *next = cursor;
            break;
        }
    }
    free(hkey);
    return rc;
}

/* Reads windows into a from place `at` on until it holds limit of them or the state ends. When it
 * is full, *more is set, *next is the place after what it read and *found the place of the HSCAN
 * call that filled it (reading again from there reads that call's windows again). */
static int scan_from(const struct scan *sc, struct place at, struct proc_query_answer *a,
                     size_t limit, int *more, struct place *next, struct place *found)
{
    int rc = 0;
    *more = 0;
    for (size_t i = 0; i < sc->nv && rc == 0 && !*more; i++) {
        long long version = sc->order[i].d->version;
        if (version < at.version) {
            continue; /* scanned in earlier pages */
        }
        int32_t *src = NULL;
        size_t n = 0, cap = 0;
        rc = sources(sc->order[i].d, sc->tenant, NULL, sc->partitions, sc->ud, &src, &n, &cap,
                     sc->why, sc->whylen);
        for (size_t k = 0; rc == 0 && k < n && !*more; k++) {
            int resumed = version == at.version;
            if (resumed && src[k] < at.source) {
                continue;
            }
            unsigned long long start = resumed && src[k] == at.source ? at.cursor : 0, cursor;
            unsigned long long batch;
            rc = scan_hash(sc, a, &sc->order[i], src[k], limit, start, &cursor, &batch);
            if (rc == 0 && a->n >= limit) { /* the next page goes on from here */
                *more = 1;
                *next = cursor ? (struct place){version, src[k], cursor}
                               : (struct place){version, src[k] + 1, 0};
                *found = (struct place){version, src[k], batch};
            }
        }
        free(src);
    }
    return rc;
}

int proc_query_scan(struct cm_redis *r, const struct proc_query_version *v, size_t nv,
                    const struct proc_query_scan_req *q, proc_query_partitions_fn partitions,
                    void *ud, json_t **out, char *why, size_t whylen)
{
    const char *tenant = q->tenant, *after = q->after;
    int64_t from = q->from, until = q->until;
    size_t limit = q->limit;
    *out = NULL;
    struct place at = {0, 0, 0};
    if (after && place_parse(after, &at) != 0) {
        snprintf(why, whylen, "cursor: not a cursor this query gave");
        return CM_E_INVAL;
    }
    struct proc_query_version *order = cm_xmalloc((nv ? nv : 1) * sizeof(*order));
    memcpy(order, v, nv * sizeof(*order));
    qsort(order, nv, sizeof(*order), version_cmp);
    char *pattern = scan_pattern(tenant, q->prefix ? q->prefix : "");
    struct scan sc = {r,         order,      nv, tenant, pattern, q->key_from,
                      q->key_to, partitions, ud, why,    whylen};
    struct proc_query_answer *a = proc_query_answer_new();
    a->from = from;
    a->until = until;
    int more = 0;
    struct place next = {0, 0, 0}, found;
    int rc = scan_from(&sc, at, a, limit, &more, &next, &found);
    if (rc == 0 && more) {
        /* A next page only when one window is left to read: the cursor then points at the HSCAN
         * call that holds it (the state of the tenant's other keys read once more, never an empty
         * last page). */
        struct proc_query_answer *probe = proc_query_answer_new();
        probe->from = from;
        probe->until = until;
        struct place after_next;
        rc = scan_from(&sc, next, probe, 1, &more, &after_next, &found);
        json_decref(proc_query_answer_finish(probe));
        next = found;
    }
    free(pattern);
    free(order);
    json_t *answer = proc_query_answer_finish(a);
    if (rc != 0) {
        json_decref(answer);
        if (!why[0]) {
            snprintf(why, whylen, "Redis, which holds the window state, is unavailable");
        }
        return CM_E_UNAVAIL;
    }
    if (more) {
        char text[64];
        snprintf(text, sizeof(text), "%lld.%ld.%llu", next.version, (long)next.source, next.cursor);
        json_object_set_new(answer, "next", json_string(text));
    }
    *out = answer;
    return 0;
}
