/* Unit tests for common/hash: SipHash-2-4 against its authors' test vectors, and why tables of
 * outside input use the keyed hash: inputs built from cm_hash64's structure (a difference in the
 * top bit survives its multiply, and the next block cancels it) all share one cm_hash64, 2^n of
 * them from n pairs of blocks; under cm_hash64_table they spread as random keys do. */
#include "cm/hash.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(hash, siphash24_matches_the_reference_vectors)
{
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++) {
        key[i] = (unsigned char)i;
    }
    for (int i = 0; i < 64; i++) {
        msg[i] = (unsigned char)i;
    }
    cr_assert_eq(cm_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
    cr_assert_eq(cm_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
    cr_assert_eq(cm_hash64_table(msg, 15), cm_hash64_table(msg, 15), "stable in a process");
    cr_assert_neq(cm_hash64_table(msg, 15), cm_siphash24(key, msg, 15), "under a key of its own");
}

static uint64_t unshift(uint64_t x)
{
    return x ^ (x >> 32); /* its own inverse */
}

/* The inverse of cm_hash64's block mixer (xor-shifts and odd multiplies undone). */
static uint64_t unmix(uint64_t y)
{
    const uint64_t c = 0xd6e8feb86659fd93ULL;
    uint64_t inv = c;
    for (int i = 0; i < 6; i++) {
        inv *= 2 - c * inv; /* Newton's step doubles the correct low bits */
    }
    y = unshift(y) * inv;
    y = unshift(y) * inv;
    return unshift(y);
}

static uint64_t mix(uint64_t x)
{
    x = unshift(x) * 0xd6e8feb86659fd93ULL;
    x = unshift(x) * 0xd6e8feb86659fd93ULL;
    return unshift(x);
}

Test(hash, chosen_inputs_collide_in_cm_hash64_not_in_the_table_hash)
{
    enum { PAIRS = 10, N = 1 << PAIRS, LEN = 16 * PAIRS };
    /* per pair of blocks two choices: (a, b) or (a', b') with mix(a') = mix(a) ^ 2^63 and
     * mix(b') = mix(b) ^ 2^30 (the rotation by 31 moves the surviving bit 63 to bit 30) */
    uint64_t choice[PAIRS][2][2];
    for (int p = 0; p < PAIRS; p++) {
        uint64_t a = 0x1000 + (uint64_t)p, b = 0x2000 + (uint64_t)p;
        choice[p][0][0] = a;
        choice[p][0][1] = b;
        choice[p][1][0] = unmix(mix(a) ^ (1ULL << 63));
        choice[p][1][1] = unmix(mix(b) ^ (1ULL << 30));
        cr_assert_eq(mix(unmix(a)), a);
    }
    unsigned char *keys = malloc((size_t)N * LEN);
    for (int n = 0; n < N; n++) {
        for (int p = 0; p < PAIRS; p++) {
            memcpy(keys + (size_t)n * LEN + 16 * p, &choice[p][(n >> p) & 1][0], 8);
            memcpy(keys + (size_t)n * LEN + 16 * p + 8, &choice[p][(n >> p) & 1][1], 8);
        }
    }
    uint64_t first = cm_hash64(keys, LEN);
    unsigned char *bucket = calloc(N, 1);
    uint64_t *seen = malloc(N * sizeof(*seen));
    size_t buckets = 0;
    for (int n = 0; n < N; n++) {
        cr_assert_eq(cm_hash64(keys + (size_t)n * LEN, LEN), first, "key %d", n);
        seen[n] = cm_hash64_table(keys + (size_t)n * LEN, LEN);
        buckets += !bucket[seen[n] & (N - 1)];
        bucket[seen[n] & (N - 1)] = 1;
    }
    for (int n = 1; n < N; n++) {
        for (int m = 0; m < n; m++) {
            cr_assert_neq(seen[n], seen[m], "keys %d and %d", m, n);
        }
    }
    /* 1,024 random keys fill about 647 of 1,024 buckets (1 - 1/e), a standard deviation of 9 */
    cr_assert_gt(buckets, 550, "%zu buckets", buckets);
    free(keys);
    free(bucket);
    free(seen);
}
