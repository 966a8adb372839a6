/* gw_ratelimit: striped hash map of token buckets (see gw_ratelimit.h). A full bucket is the same
 * as no bucket, so when a stripe grows past its bound its full buckets are dropped. */
#include "gw_ratelimit.h"

#include "cm/mem.h"

#include <math.h>
#include <pthread.h>
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

struct gw_ratelimit {
    double rate, burst;
    struct stripe stripes[STRIPES];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

struct gw_ratelimit *gw_ratelimit_new(double rate, double burst)
{
    struct gw_ratelimit *r = cm_xcalloc(1, sizeof(*r));
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

/* Drops the stripe's buckets that are full (as good as absent). */
static void sweep(const struct gw_ratelimit *r, struct stripe *s, int64_t now_ms)
{
    for (int b = 0; b < BUCKETS; b++) {
        struct bucket **pp = &s->heads[b];
        while (*pp) {
            struct bucket *k = *pp;
            refill(r, k, now_ms);
            if (k->tokens >= r->burst) {
                *pp = k->next;
                free(k->key);
                free(k);
                s->count--;
            } else {
                pp = &k->next;
            }
        }
    }
}

struct gw_rate_decision gw_ratelimit_take(struct gw_ratelimit *r, const char *key, double cost,
                                          int64_t now_ms)
{
    uint64_t h = hash(key);
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

void gw_ratelimit_headers(const struct gw_ratelimit *r, const struct gw_rate_decision *d,
                          char *policy, size_t plen, char *state, size_t slen)
{
    long window = (long)ceil(r->burst / r->rate);
    snprintf(policy, plen, "\"tenant\";q=%ld;w=%ld", (long)r->burst, window < 1 ? 1 : window);
    snprintf(state, slen, "\"tenant\";r=%ld;t=%ld", d->remaining, d->reset);
}
