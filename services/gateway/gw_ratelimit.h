/* gw_ratelimit: token-bucket rate limits per key (the tenant, or the client IP when a request
 * carries none). Each key refills `rate` tokens per second up to `burst`; a request costs one
 * token per event. Limits are per gateway instance, or, with gw_ratelimit_use_redis, shared by
 * every instance (GCRA in a Redis script; the local bucket decides, logged and counted, while
 * Redis cannot). Thread-safe (striped locks). The IETF
 * RateLimit-Policy / RateLimit header values (draft-ietf-httpapi-ratelimit-headers) describe the
 * policy and a key's state. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct gw_ratelimit;

struct gw_rate_decision {
    int allowed;
    long remaining;   /* whole tokens left after this request (or now, when refused) */
    long retry_after; /* seconds until the request's cost is available (refused only) */
    long reset;       /* seconds until the bucket is full again */
};

/* rate > 0 events/s, burst >= 1. Free with gw_ratelimit_free. */
struct gw_ratelimit *gw_ratelimit_new(double rate, double burst);
void gw_ratelimit_free(struct gw_ratelimit *r);
struct cm_metrics;
/* Shares the buckets through Redis at url (gateway_ratelimit_fallbacks_total counts the local
 * decisions taken while it cannot answer). 0, or -1 for an invalid URL (logged). */
int gw_ratelimit_use_redis(struct gw_ratelimit *r, const char *url, struct cm_metrics *metrics);
/* Takes `cost` tokens from key's bucket at time now_ms when it has them. */
struct gw_rate_decision gw_ratelimit_take(struct gw_ratelimit *r, const char *key, double cost,
                                          int64_t now_ms);
/* Buckets this instance keeps in memory: at most 131,072 (see gw_ratelimit.c). */
size_t gw_ratelimit_buckets(struct gw_ratelimit *r);
/* "RateLimit-Policy" and "RateLimit" header values for a decision. */
void gw_ratelimit_headers(const struct gw_ratelimit *r, const struct gw_rate_decision *d,
                          char *policy, size_t plen, char *state, size_t slen);

#endif
