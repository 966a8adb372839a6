/* Unit tests for the gateway's token buckets (services/gateway/gw_ratelimit.c): burst, refill,
 * costs larger than the bucket, independent keys, the IETF header values, many keys. */
#include "../../services/gateway/gw_ratelimit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(gw_ratelimit, burst_then_refill)
{
    struct gw_ratelimit *r = gw_ratelimit_new(2.0, 5.0);
    for (int i = 0; i < 5; i++) {
        cr_assert(gw_ratelimit_take(r, "t:a", 1, 0).allowed, "token %d of the burst", i);
    }
    struct gw_rate_decision d = gw_ratelimit_take(r, "t:a", 1, 0);
    cr_assert_not(d.allowed);
    cr_assert_eq(d.retry_after, 1);
    cr_assert_eq(d.remaining, 0);
    cr_assert_eq(d.reset, 3, "5 tokens at 2/s: full again in 3 s");
    cr_assert(gw_ratelimit_take(r, "t:a", 1, 500).allowed, "one token after 0.5 s at 2/s");
    cr_assert_not(gw_ratelimit_take(r, "t:a", 1, 500).allowed);
    d = gw_ratelimit_take(r, "t:a", 3, 1000);
    cr_assert_not(d.allowed, "a batch of 3 needs 3 tokens");
    cr_assert_eq(d.retry_after, 1);
    cr_assert(gw_ratelimit_take(r, "t:a", 3, 2000).allowed);
    cr_assert(gw_ratelimit_take(r, "t:b", 5, 0).allowed, "keys are independent");
    d = gw_ratelimit_take(r, "t:c", 6, 0);
    cr_assert_not(d.allowed, "more than the burst is never allowed at once");
    cr_assert_eq(d.retry_after, 3);
    gw_ratelimit_free(r);
}

Test(gw_ratelimit, header_values)
{
    struct gw_ratelimit *r = gw_ratelimit_new(10.0, 100.0);
    struct gw_rate_decision d = gw_ratelimit_take(r, "ip:127.0.0.1", 40, 0);
    char policy[96], state[96];
    gw_ratelimit_headers(r, &d, policy, sizeof(policy), state, sizeof(state));
    cr_assert_str_eq(policy, "\"tenant\";q=100;w=10");
    cr_assert_str_eq(state, "\"tenant\";r=60;t=4");
    gw_ratelimit_free(r);
}

Test(gw_ratelimit, many_keys_stay_bounded)
{
    struct gw_ratelimit *r = gw_ratelimit_new(1000.0, 1000.0);
    char key[32];
    for (int i = 0; i < 300000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        cr_assert(gw_ratelimit_take(r, key, 1, (int64_t)i).allowed);
    }
    cr_assert_gt(gw_ratelimit_buckets(r), 0);
    cr_assert_leq(gw_ratelimit_buckets(r), 16 * 8192);
    gw_ratelimit_free(r);
}

/* 300,000 keys in one millisecond, each bucket seconds from full: none can be dropped as full,
 * yet the map stays within its bound (before, it grew to hold every key, and each new key swept
 * a whole stripe: 55 s for this test), and the buckets forgotten are those nearest full: every
 * key left with 2 tokens or fewer is still refused 3. */
Test(gw_ratelimit, keys_arriving_faster_than_they_refill_stay_bounded)
{
    struct gw_ratelimit *r = gw_ratelimit_new(1.0, 10.0);
    char key[32];
    for (int i = 0; i < 300000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        cr_assert(gw_ratelimit_take(r, key, 1 + i % 9, 0).allowed); /* 9 to 1 tokens left */
    }
    size_t kept = gw_ratelimit_buckets(r);
    cr_assert_gt(kept, 16 * 8192 / 2, "%zu kept", kept);
    cr_assert_leq(kept, 16 * 8192, "%zu kept", kept);
    int checked = 0;
    for (int i = 7; i < 300000; i += 9) {
        for (int j = i; j < i + 2 && j < 300000; j++) { /* took 8 or 9 */
            snprintf(key, sizeof(key), "ip:%d", j);
            cr_assert_not(gw_ratelimit_take(r, key, 3, 0).allowed, "%s forgotten", key);
            checked++;
        }
    }
    cr_assert_gt(checked, 60000);
    gw_ratelimit_free(r);
}
