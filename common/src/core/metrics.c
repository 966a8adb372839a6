/* metrics: registry, families and series (see metrics.h).
 * Families and series are created under a rwlock (write) and looked up under it (read); values
 * are C11 atomics, doubles stored as their bit pattern and updated by compare-and-swap. */
#include "cm/metrics.h"

#include "cm/bits.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 8

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_GAUGE_FN };

struct cm_series {
    struct cm_series *next;
    char **values;
    _Atomic uint64_t bits;     /* counter value, or gauge double bits */
    _Atomic uint64_t count;    /* histogram observations */
    _Atomic uint64_t sumbits;  /* histogram sum, double bits */
    _Atomic uint64_t *buckets; /* histogram, nbounds + 1 (non-cumulative) */
    _Atomic int forgotten;     /* left out of the exposition until updated (cm_series_forget) */
    const struct cm_metric *family;
};

struct cm_metric {
    struct cm_metric *next;
    enum kind kind;
    char *name;
    char *help;
    char *labels[MAX_LABELS];
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    double (*fn)(void *);
    void *ud;
    struct cm_series *series;
    pthread_rwlock_t lock;
};

#define MAX_COLLECTORS 8

struct collector {
    void (*fn)(struct cm_metrics *reg, void *ud);
    void *ud;
};

struct cm_metrics {
    char *prefix;
    struct cm_metric *head, *tail;
    pthread_mutex_t lock;
    struct collector collectors[MAX_COLLECTORS];
    size_t ncollectors;
};

/* Prometheus's default bounds, extended down to 0.5 ms, with 20, 30, 40 and 75 ms added so that
 * a p99 near the processor's 50 ms target (a result's emit to its acknowledgement) is placed
 * within 10 ms. */
const double cm_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,  0.02,
                                             0.025,  0.03,  0.04,   0.05,  0.075, 0.1,
                                             0.25,   0.5,   1,      2.5,   5,     10};
const size_t cm_metrics_latency_nbuckets =
    sizeof(cm_metrics_latency_buckets) / sizeof(cm_metrics_latency_buckets[0]);

struct cm_metrics *cm_metrics_new(const char *prefix)
{
    struct cm_metrics *reg = cm_xcalloc(1, sizeof(*reg));
    reg->prefix = cm_xstrdup(prefix ? prefix : "");
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

static void series_free(struct cm_series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++) {
        free(s->values[i]);
    }
    free(s->values);
    free((void *)s->buckets);
    free(s);
}

void cm_metrics_free(struct cm_metrics *reg)
{
    if (!reg) {
        return;
    }
    struct cm_metric *m = reg->head;
    while (m) {
        struct cm_metric *next = m->next;
        struct cm_series *s = m->series;
        while (s) {
            struct cm_series *sn = s->next;
            series_free(s, m->nlabels);
            s = sn;
        }
        for (size_t i = 0; i < m->nlabels; i++) {
            free(m->labels[i]);
        }
        free(m->name);
        free(m->help);
        free(m->bounds);
        pthread_rwlock_destroy(&m->lock);
        free(m);
        m = next;
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg->prefix);
    free(reg);
}

static struct cm_metric *add_family(struct cm_metrics *reg, enum kind kind, const char *name,
                                    const char *help, const char *labels)
{
    char *full = cm_xasprintf("%s%s", reg->prefix, name);
    pthread_mutex_lock(&reg->lock);
    for (struct cm_metric *m = reg->head; m; m = m->next) {
        if (strcmp(m->name, full) == 0) {
            pthread_mutex_unlock(&reg->lock);
            free(full);
            return m;
        }
    }
    struct cm_metric *m = cm_xcalloc(1, sizeof(*m));
    m->kind = kind;
    m->name = full;
    m->help = cm_xstrdup(help ? help : "");
    pthread_rwlock_init(&m->lock, NULL);
    if (labels && *labels) {
        const char *p = labels;
        while (*p && m->nlabels < MAX_LABELS) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            m->labels[m->nlabels++] = cm_xstrndup(p, len);
            if (!comma) {
                break;
            }
            p = comma + 1;
        }
    }
    if (reg->tail) {
        reg->tail->next = m;
    } else {
        reg->head = m;
    }
    reg->tail = m;
    pthread_mutex_unlock(&reg->lock);
    return m;
}

struct cm_metric *cm_metrics_counter(struct cm_metrics *reg, const char *name, const char *help,
                                     const char *labels)
{
    return add_family(reg, KIND_COUNTER, name, help, labels);
}

struct cm_metric *cm_metrics_gauge(struct cm_metrics *reg, const char *name, const char *help,
                                   const char *labels)
{
    return add_family(reg, KIND_GAUGE, name, help, labels);
}

struct cm_metric *cm_metrics_histogram(struct cm_metrics *reg, const char *name, const char *help,
                                       const char *labels, const double *bounds, size_t nbounds)
{
    struct cm_metric *m = add_family(reg, KIND_HISTOGRAM, name, help, labels);
    if (!m->bounds) {
        m->bounds = cm_xmalloc(nbounds * sizeof(double));
        memcpy(m->bounds, bounds, nbounds * sizeof(double));
        m->nbounds = nbounds;
    }
    return m;
}

void cm_metrics_gauge_fn(struct cm_metrics *reg, const char *name, const char *help,
                         double (*fn)(void *ud), void *ud)
{
    struct cm_metric *m = add_family(reg, KIND_GAUGE_FN, name, help, NULL);
    m->fn = fn;
    m->ud = ud;
}

static struct cm_series *find_series(struct cm_metric *m, const char *const *values, size_t n)
{
    for (struct cm_series *s = m->series; s; s = s->next) {
        size_t i;
        for (i = 0; i < n; i++) {
            if (strcmp(s->values[i], values[i]) != 0) {
                break;
            }
        }
        if (i == n) {
            return s;
        }
    }
    return NULL;
}

struct cm_series *cm_metric_withv(struct cm_metric *m, const char *const *values, size_t nvalues)
{
    const char *vals[MAX_LABELS];
    for (size_t i = 0; i < m->nlabels; i++) {
        vals[i] = (i < nvalues && values[i]) ? values[i] : "";
    }
    pthread_rwlock_rdlock(&m->lock);
    struct cm_series *s = find_series(m, vals, m->nlabels);
    pthread_rwlock_unlock(&m->lock);
    if (s) {
        return s;
    }
    pthread_rwlock_wrlock(&m->lock);
    s = find_series(m, vals, m->nlabels);
    if (!s) {
        s = cm_xcalloc(1, sizeof(*s));
        s->family = m;
        s->values = cm_xcalloc(m->nlabels ? m->nlabels : 1, sizeof(char *));
        for (size_t i = 0; i < m->nlabels; i++) {
            s->values[i] = cm_xstrdup(vals[i]);
        }
        if (m->kind == KIND_HISTOGRAM) {
            s->buckets = cm_xcalloc(m->nbounds + 1, sizeof(*s->buckets));
        }
        s->next = m->series;
        m->series = s;
    }
    pthread_rwlock_unlock(&m->lock);
    return s;
}

struct cm_series *cm_metric_with(struct cm_metric *m, ...)
{
    const char *vals[MAX_LABELS];
    size_t n = 0;
    va_list ap;
    va_start(ap, m);
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL && n < MAX_LABELS) {
        vals[n++] = v;
    }
    va_end(ap);
    return cm_metric_withv(m, vals, n);
}

/* An update brings a forgotten series back. */
static void remember(struct cm_series *s)
{
    if (atomic_load_explicit(&s->forgotten, memory_order_relaxed)) {
        atomic_store_explicit(&s->forgotten, 0, memory_order_relaxed);
    }
}

void cm_series_forget(struct cm_series *s)
{
    atomic_store_explicit(&s->bits, s->family->kind == KIND_COUNTER ? 0 : cm_double_bits(0),
                          memory_order_relaxed);
    if (s->family->kind == KIND_HISTOGRAM) {
        for (size_t i = 0; i <= s->family->nbounds; i++) {
            atomic_store_explicit(&s->buckets[i], 0, memory_order_relaxed);
        }
        atomic_store_explicit(&s->count, 0, memory_order_relaxed);
        atomic_store_explicit(&s->sumbits, cm_double_bits(0), memory_order_relaxed);
    }
    atomic_store_explicit(&s->forgotten, 1, memory_order_relaxed);
}

size_t cm_metrics_forget_label(struct cm_metrics *reg, const char *label, const char *value)
{
    size_t n = 0;
    pthread_mutex_lock(&reg->lock);
    for (struct cm_metric *m = reg->head; m; m = m->next) {
        size_t at = m->nlabels;
        for (size_t i = 0; i < m->nlabels && at == m->nlabels; i++) {
            at = strcmp(m->labels[i], label) == 0 ? i : at;
        }
        if (at == m->nlabels) {
            continue;
        }
        pthread_rwlock_rdlock(&m->lock);
        for (struct cm_series *s = m->series; s; s = s->next) {
            if (strcmp(s->values[at], value) == 0 &&
                !atomic_load_explicit(&s->forgotten, memory_order_relaxed)) {
                cm_series_forget(s);
                n++;
            }
        }
        pthread_rwlock_unlock(&m->lock);
    }
    pthread_mutex_unlock(&reg->lock);
    return n;
}

void cm_counter_add(struct cm_series *s, uint64_t n)
{
    atomic_fetch_add_explicit(&s->bits, n, memory_order_relaxed);
    remember(s);
}

void cm_counter_inc(struct cm_series *s)
{
    cm_counter_add(s, 1);
}

void cm_gauge_set(struct cm_series *s, double v)
{
    atomic_store_explicit(&s->bits, cm_double_bits(v), memory_order_relaxed);
    remember(s);
}

static void atomic_add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old,
                                                  cm_double_bits(cm_bits_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void cm_gauge_add(struct cm_series *s, double v)
{
    atomic_add_double(&s->bits, v);
    remember(s);
}

void cm_histogram_observe(struct cm_series *s, double v)
{
    const struct cm_metric *m = s->family;
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_add_double(&s->sumbits, v);
    remember(s);
}

double cm_series_value(const struct cm_series *s)
{
    uint64_t b = atomic_load_explicit(&s->bits, memory_order_relaxed);
    return s->family->kind == KIND_COUNTER ? (double)b : cm_bits_double(b);
}

uint64_t cm_histogram_count(const struct cm_series *s)
{
    return atomic_load_explicit(&s->count, memory_order_relaxed);
}

/* A growable string buffer for rendering. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0) + 64;
        b->p = cm_xrealloc(b->p, b->cap);
    }
}

static void sb_label_value(struct sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\') {
            sb_printf(b, "\\\\");
        } else if (*v == '"') {
            sb_printf(b, "\\\"");
        } else if (*v == '\n') {
            sb_printf(b, "\\n");
        } else {
            sb_printf(b, "%c", *v);
        }
    }
}

/* Writes `{a="x",b="y"` plus an optional extra label, closing brace included when any. */
static void sb_labels(struct sbuf *b, const struct cm_metric *m, const struct cm_series *s,
                      const char *extra_name, const char *extra_value)
{
    if (m->nlabels == 0 && !extra_name) {
        return;
    }
    sb_printf(b, "{");
    for (size_t i = 0; i < m->nlabels; i++) {
        sb_printf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
        sb_label_value(b, s->values[i]);
        sb_printf(b, "\"");
    }
    if (extra_name) {
        sb_printf(b, "%s%s=\"%s\"", m->nlabels ? "," : "", extra_name, extra_value);
    }
    sb_printf(b, "}");
}

static const char *real_text(double v, char *buf)
{
    cm_fmt_real(v, buf);
    return buf;
}

static void render_family(struct sbuf *b, struct cm_metric *m)
{
    char num[CM_REAL_LEN];
    static const char *type_names[] = {"counter", "gauge", "histogram", "gauge"};
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, type_names[m->kind]);
    if (m->kind == KIND_GAUGE_FN) {
        sb_printf(b, "%s %s\n", m->name, real_text(m->fn(m->ud), num));
        return;
    }
    pthread_rwlock_rdlock(&m->lock);
    for (struct cm_series *s = m->series; s; s = s->next) {
        if (atomic_load_explicit(&s->forgotten, memory_order_relaxed)) {
            continue;
        }
        if (m->kind == KIND_COUNTER || m->kind == KIND_GAUGE) {
            sb_printf(b, "%s", m->name);
            sb_labels(b, m, s, NULL, NULL);
            if (m->kind == KIND_COUNTER) {
                sb_printf(b, " %llu\n", (unsigned long long)atomic_load(&s->bits));
            } else {
                sb_printf(b, " %s\n", real_text(cm_bits_double(atomic_load(&s->bits)), num));
            }
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= m->nbounds; i++) {
            cum += atomic_load(&s->buckets[i]);
            char le[32];
            if (i < m->nbounds) {
                snprintf(le, sizeof(le), "%g", m->bounds[i]);
            } else {
                snprintf(le, sizeof(le), "+Inf");
            }
            sb_printf(b, "%s_bucket", m->name);
            sb_labels(b, m, s, "le", le);
            sb_printf(b, " %llu\n", (unsigned long long)cum);
        }
        sb_printf(b, "%s_sum", m->name);
        sb_labels(b, m, s, NULL, NULL);
        sb_printf(b, " %s\n", real_text(cm_bits_double(atomic_load(&s->sumbits)), num));
        sb_printf(b, "%s_count", m->name);
        sb_labels(b, m, s, NULL, NULL);
        sb_printf(b, " %llu\n", (unsigned long long)cum);
    }
    pthread_rwlock_unlock(&m->lock);
}

void cm_metrics_collector(struct cm_metrics *reg, void (*fn)(struct cm_metrics *reg, void *ud),
                          void *ud)
{
    pthread_mutex_lock(&reg->lock);
    if (reg->ncollectors == MAX_COLLECTORS) {
        fprintf(stderr, "metrics: more than %d collectors (a programming error)\n", MAX_COLLECTORS);
        abort();
    }
    reg->collectors[reg->ncollectors++] = (struct collector){fn, ud};
    pthread_mutex_unlock(&reg->lock);
}

char *cm_metrics_render(struct cm_metrics *reg)
{
    struct collector c[MAX_COLLECTORS];
    pthread_mutex_lock(&reg->lock);
    size_t nc = reg->ncollectors;
    memcpy(c, reg->collectors, sizeof(c));
    pthread_mutex_unlock(&reg->lock);
    for (size_t i = 0; i < nc; i++) { /* outside the lock: a collector may declare families */
        c[i].fn(reg, c[i].ud);
    }
    struct sbuf b = {cm_xmalloc(4096), 0, 4096};
    b.p[0] = '\0';
    pthread_mutex_lock(&reg->lock);
    for (struct cm_metric *m = reg->head; m; m = m->next) {
        render_family(&b, m);
    }
    pthread_mutex_unlock(&reg->lock);
    return b.p;
}
