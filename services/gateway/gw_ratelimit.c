/* gw_ratelimit: token buckets (see gw_ratelimit.h). Local: a striped hash map; a full bucket is
 * the same as no bucket, so when a stripe grows past its bound its full buckets are dropped, and
 * when too few are full, those nearest full too, down to three quarters of the bound.
 * Shared: GCRA in a Lua script on Redis (one key per bucket holding its theoretical arrival time,
 * Redis's clock for every instance), the local map standing in while Redis cannot answer. */
#include "gw_ratelimit.h"

#include "cm/breaker.h"
#include "cm/hash.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <stdatomic.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 16
#define BUCKETS 1024
#define MAX_PER_STRIPE 8192

struct bucket {
    struct bucket *next;
    char *key;
    double tokens;
    int64_t updated_ms;
};

struct stripe {
    pthread_mutex_t lock;
    struct bucket *heads[BUCKETS];
    size_t count;
};

#define REDIS_CONNS 8

struct gw_ratelimit {
    double rate, burst;
    struct stripe stripes[STRIPES];
    struct cm_redis *redis[REDIS_CONNS]; /* shared buckets; NULL: local only */
    atomic_uint next_conn;
    struct cm_redis_script gcra;      /* gcra_script below */
    struct cm_log_limit fallback_log; /* every 10 s at most */
    struct cm_log_limit evict_log;    /* likewise */
    struct cm_series *m_fallbacks;
    struct cm_breaker *breaker; /* after a failure Redis is left alone for a cool-down: a Redis
                                   that does not answer would cost every request the timeout */
};

/* GCRA: KEYS[1] the bucket; ARGV rate (tokens/s), burst, cost. The key holds the theoretical
 * arrival time (ms, Redis's clock): a request fits when, after adding its cost's emission time,
 * it is at most burst emission times ahead of now. Returns {allowed, remaining, retry_after ms,
 * reset ms}. */
static const char gcra_script[] =
    "local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000\n"
    "local T = 1000 / rate\n"
    "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
    "if tat < now then tat = now end\n"
    "local new_tat = tat + cost * T\n"
    "local ahead = new_tat - now\n"
    "if ahead <= burst * T + 0.001 then\n"
    "  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(ahead) + 1000)\n"
    "  return {1, math.floor((burst * T - ahead) / T + 0.001), 0, math.ceil(ahead)}\n"
    "end\n"
    "local wait = ahead - burst * T\n"
    "if cost > burst then wait = burst * T end\n"
    "return {0, math.floor((burst * T - (tat - now)) / T + 0.001), math.ceil(wait), "
    "math.ceil(tat - now)}\n";

struct gw_ratelimit *gw_ratelimit_new(double rate, double burst)
{
    struct gw_ratelimit *r = cm_xcalloc(1, sizeof(*r));
    r->fallback_log.every_ms = 10000;
    r->evict_log.every_ms = 10000;
    r->rate = rate > 0 ? rate : 1;
    r->burst = burst >= 1 ? burst : 1;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&r->stripes[i].lock, NULL);
    }
    return r;
}

void gw_ratelimit_free(struct gw_ratelimit *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < REDIS_CONNS; i++) {
        cm_redis_free(r->redis[i]);
    }
    cm_breaker_free(r->breaker);
    for (int i = 0; i < STRIPES; i++) {
        for (int b = 0; b < BUCKETS; b++) {
            struct bucket *k = r->stripes[i].heads[b];
            while (k) {
                struct bucket *next = k->next;
                free(k->key);
                free(k);
                k = next;
            }
        }
        pthread_mutex_destroy(&r->stripes[i].lock);
    }
    free(r);
}

static void refill(const struct gw_ratelimit *r, struct bucket *k, int64_t now_ms)
{
    if (now_ms > k->updated_ms) {
        k->tokens = fmin(r->burst, k->tokens + (double)(now_ms - k->updated_ms) / 1000.0 * r->rate);
        k->updated_ms = now_ms;
    }
}

/* Drops up to `most` of the stripe's buckets holding more than `above` tokens, or exactly that
 * many when `exactly`, after their refill; how many went. */
static size_t drop(const struct gw_ratelimit *r, struct stripe *s, int64_t now_ms, double above,
                   int exactly, size_t most)
{
    size_t dropped = 0;
    for (int b = 0; b < BUCKETS && dropped < most; b++) {
        struct bucket **pp = &s->heads[b];
        while (*pp && dropped < most) {
            struct bucket *k = *pp;
            refill(r, k, now_ms);
            if (exactly ? k->tokens == above : k->tokens > above) {
                *pp = k->next;
                free(k->key);
                free(k);
                s->count--;
                dropped++;
            } else {
                pp = &k->next;
            }
        }
    }
    return dropped;
}

static int more_tokens_first(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* A stripe at its bound: its full buckets go (as good as absent). When that leaves more than
 * three quarters of the bound (keys arriving faster than their buckets refill: many clients, or
 * addresses made up to fill the map), the buckets nearest full go too, down to three quarters.
 * Forgetting a bucket grants its key at most what it lacks of a full burst, where keeping them
 * all would let the map grow without bound and sweep all of the stripe at every new key. */
static void sweep(struct gw_ratelimit *r, struct stripe *s, int64_t now_ms)
{
    drop(r, s, now_ms, r->burst, 1, SIZE_MAX); /* the full ones: refill stops at burst */
    size_t keep = MAX_PER_STRIPE / 4 * 3;
    if (s->count <= keep) {
        return;
    }
    double *tokens = cm_xmalloc(s->count * sizeof(*tokens));
    size_t n = 0;
    for (int b = 0; b < BUCKETS; b++) {
        for (struct bucket *k = s->heads[b]; k; k = k->next) {
            tokens[n++] = k->tokens;
        }
    }
    qsort(tokens, n, sizeof(*tokens), more_tokens_first);
    size_t excess = n - keep;
    double edge = tokens[excess - 1]; /* the fewest tokens among those that go */
    free(tokens);
    size_t gone = drop(r, s, now_ms, edge, 0, excess);
    gone += drop(r, s, now_ms, edge, 1, excess - gone);
    unsigned long long left_out;
    if (cm_log_limit_pass(&r->evict_log, now_ms, &left_out)) {
        CM_LOG_WARN("ratelimit_evicting",
                    "more clients than the local rate limiter keeps (%d): %zu buckets with %.1f "
                    "tokens or more forgotten; their clients start again from a full burst "
                    "(logged every 10 s at most; %llu more such sweeps since the last line)",
                    STRIPES * MAX_PER_STRIPE, gone, edge, left_out);
    }
}

size_t gw_ratelimit_buckets(struct gw_ratelimit *r)
{
    size_t n = 0;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&r->stripes[i].lock);
        n += r->stripes[i].count;
        pthread_mutex_unlock(&r->stripes[i].lock);
    }
    return n;
}

static struct gw_rate_decision local_take(struct gw_ratelimit *r, const char *key, double cost,
                                          int64_t now_ms)
{
    uint64_t h = cm_hash64_table(key, strlen(key)); /* keys hold client addresses */
    struct stripe *s = &r->stripes[h % STRIPES];
    struct gw_rate_decision d = {0, 0, 0, 0};
    pthread_mutex_lock(&s->lock);
    struct bucket **head = &s->heads[(h / STRIPES) % BUCKETS];
    struct bucket *k = *head;
    while (k && strcmp(k->key, key) != 0) {
        k = k->next;
    }
    if (!k) {
        if (s->count >= MAX_PER_STRIPE) {
            sweep(r, s, now_ms);
        }
        k = cm_xcalloc(1, sizeof(*k));
        k->key = cm_xstrdup(key);
        k->tokens = r->burst;
        k->updated_ms = now_ms;
        k->next = *head;
        *head = k;
        s->count++;
    }
    refill(r, k, now_ms);
    if (k->tokens >= cost) {
        k->tokens -= cost;
        d.allowed = 1;
    } else {
        double wait = cost > r->burst ? -1 : (cost - k->tokens) / r->rate;
        d.retry_after = wait < 0 ? (long)ceil(r->burst / r->rate) : (long)ceil(wait);
        if (d.retry_after < 1) {
            d.retry_after = 1;
        }
    }
    d.remaining = (long)floor(k->tokens);
    d.reset = (long)ceil((r->burst - k->tokens) / r->rate);
    pthread_mutex_unlock(&s->lock);
    return d;
}

int gw_ratelimit_use_redis(struct gw_ratelimit *r, const char *url, struct cm_metrics *metrics)
{
    for (size_t i = 0; i < REDIS_CONNS; i++) {
        if (!(r->redis[i] = cm_redis_new(url))) {
            return -1;
        }
    }
    cm_redis_script_init(&r->gcra, gcra_script);
    r->breaker = cm_breaker_new("redis (rate limits)", 1, 1000, 30000, NULL);
    if (metrics) {
        r->m_fallbacks = cm_metric_with(
            cm_metrics_counter(metrics, "ratelimit_fallbacks_total",
                               "rate-limit decisions taken by this instance's local buckets "
                               "because Redis could not answer",
                               NULL),
            NULL);
    }
    return 0;
}

/* Runs the script. 0 with *rep (not an error), or -1. */
static int run_script(struct gw_ratelimit *r, struct cm_redis *c, const char *key, double cost,
                      struct cm_redis_reply **rep)
{
    char rate[32], burst[32], costs[32];
    snprintf(rate, sizeof(rate), "%.17g", r->rate);
    snprintf(burst, sizeof(burst), "%.17g", r->burst);
    snprintf(costs, sizeof(costs), "%.17g", cost);
    const char *argv[] = {key, rate, burst, costs};
    if (cm_redis_eval(c, &r->gcra, 1, 4, argv, NULL, rep) != 0) {
        return -1;
    }
    if (cm_redis_reply_type(*rep) == CM_REDIS_ERROR) {
        cm_redis_reply_free(*rep);
        *rep = NULL;
        return -1;
    }
    return 0;
}

/* The shared bucket's decision; 0, or -1 when Redis could not give one. */
static int shared_take(struct gw_ratelimit *r, const char *key, double cost,
                       struct gw_rate_decision *d)
{
    struct cm_redis *c = r->redis[atomic_fetch_add(&r->next_conn, 1) % REDIS_CONNS];
    char rkey[300];
    snprintf(rkey, sizeof(rkey), "gateway:ratelimit:%.250s", key); /* (no hash tag: spread) */
    struct cm_redis_reply *rep = NULL;
    if (!cm_breaker_allow(r->breaker, cm_monotonic_ms())) {
        return -1;
    }
    if (run_script(r, c, rkey, cost, &rep) != 0) {
        cm_breaker_failure(r->breaker, cm_monotonic_ms());
        return -1;
    }
    int ok = cm_redis_reply_type(rep) == CM_REDIS_ARRAY && cm_redis_reply_len(rep) == 4;
    if (ok) {
        cm_breaker_success(r->breaker);
    } else {
        cm_breaker_failure(r->breaker, cm_monotonic_ms());
    }
    if (ok) {
        d->allowed = cm_redis_reply_integer(cm_redis_reply_elem(rep, 0)) == 1;
        d->remaining = (long)cm_redis_reply_integer(cm_redis_reply_elem(rep, 1));
        long long wait_ms = cm_redis_reply_integer(cm_redis_reply_elem(rep, 2));
        long long reset_ms = cm_redis_reply_integer(cm_redis_reply_elem(rep, 3));
        d->remaining = d->remaining < 0 ? 0 : d->remaining;
        d->retry_after = d->allowed ? 0 : (long)((wait_ms + 999) / 1000);
        if (!d->allowed && d->retry_after < 1) {
            d->retry_after = 1;
        }
        d->reset = (long)((reset_ms + 999) / 1000);
    }
    cm_redis_reply_free(rep);
    return ok ? 0 : -1;
}

struct gw_rate_decision gw_ratelimit_take(struct gw_ratelimit *r, const char *key, double cost,
                                          int64_t now_ms)
{
    struct gw_rate_decision d = {0, 0, 0, 0};
    if (r->redis[0]) {
        if (shared_take(r, key, cost, &d) == 0) {
            return d;
        }
        if (r->m_fallbacks) {
            cm_counter_inc(r->m_fallbacks);
        }
        unsigned long long left_out;
        if (cm_log_limit_pass(&r->fallback_log, cm_monotonic_ms(), &left_out)) {
            CM_LOG_WARN("ratelimit_fallback",
                        "Redis cannot answer: rate limits are this instance's own until it can "
                        "(logged every 10 s at most; %llu more decisions since the last such "
                        "line)",
                        left_out);
        }
    }
    return local_take(r, key, cost, now_ms);
}

void gw_ratelimit_headers(const struct gw_ratelimit *r, const struct gw_rate_decision *d,
                          char *policy, size_t plen, char *state, size_t slen)
{
    long window = (long)ceil(r->burst / r->rate);
    snprintf(policy, plen, "\"tenant\";q=%ld;w=%ld", (long)r->burst, window < 1 ? 1 : window);
    snprintf(state, slen, "\"tenant\";r=%ld;t=%ld", d->remaining, d->reset);
}
