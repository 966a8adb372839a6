/* Unit tests for the registry's read cache (services/registry/reg_cache.c): answers by key, their
 * replacement and expiry, and the bound on the bytes they hold: a lookup's key is its request
 * body, so clients choose the keys, and its answer holds a whole schema. */
#include "../../services/registry/reg_cache.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(reg_cache, answers_by_key_replaced_and_cleared)
{
    struct reg_cache *c = reg_cache_new(1000, 1 << 20, 60000);
    int status = 0;
    cr_assert_null(reg_cache_get(c, "k", 1, &status));
    reg_cache_put(c, 0, "k", 1, "{\"id\":1}", 200);
    reg_cache_put(c, 0, "k2", 2, "other", 200);
    char *v = reg_cache_get(c, "k", 1, &status);
    cr_assert_str_eq(v, "{\"id\":1}");
    cr_assert_eq(status, 200);
    free(v);
    size_t two = reg_cache_bytes(c);
    cr_assert_gt(two, 0);
    reg_cache_put(c, 0, "k", 1, "{\"id\":2}", 200); /* replaced, not added */
    cr_assert_eq(reg_cache_bytes(c), two);
    v = reg_cache_get(c, "k", 1, &status);
    cr_assert_str_eq(v, "{\"id\":2}");
    free(v);
    reg_cache_clear(c);
    cr_assert_null(reg_cache_get(c, "k", 1, &status));
    cr_assert_eq(reg_cache_bytes(c), 0);
    reg_cache_free(c);
    struct reg_cache *off = reg_cache_new(1000, 1 << 20, 0); /* a TTL of 0: nothing kept */
    reg_cache_put(off, 0, "k", 1, "v", 200);
    cr_assert_null(reg_cache_get(off, "k", 1, &status));
    reg_cache_free(off);
}

/* 2,000 lookups of one 20 KB answer, each keyed by its own request body (as white space makes
 * them): at most 1 MiB is held, not 80 MB, and the latest answers are found. An answer over a
 * sixteenth of the bound is not kept, and drops an older answer for its key. */
Test(reg_cache, the_bytes_held_stay_within_the_bound)
{
    size_t max = 1 << 20;
    struct reg_cache *c = reg_cache_new(100000, max, 60000);
    char *answer = malloc(20001);
    memset(answer, 's', 20000);
    answer[20000] = '\0';
    char *key = malloc(20000 + 16);
    memset(key, ' ', 20000);
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(key + 20000, 16, "%d", i);
        reg_cache_put(c, 0, key, 20000 + (size_t)n, answer, 200);
        cr_assert_leq(reg_cache_bytes(c), max, "after %d: %zu bytes", i, reg_cache_bytes(c));
    }
    cr_assert_gt(reg_cache_bytes(c), max / 4);
    int status;
    int n = snprintf(key + 20000, 16, "%d", 1999);
    char *v = reg_cache_get(c, key, 20000 + (size_t)n, &status);
    cr_assert_not_null(v, "the latest answer is kept");
    cr_assert_eq(strlen(v), 20000);
    free(v);
    reg_cache_put(c, 0, "small", 5, "x", 200);
    cr_assert_not_null((v = reg_cache_get(c, "small", 5, &status)));
    free(v);
    char *big = malloc(max / 16 + 1);
    memset(big, 'b', max / 16);
    big[max / 16] = '\0';
    size_t before = reg_cache_bytes(c);
    reg_cache_put(c, 0, "small", 5, big, 200);
    cr_assert_null(reg_cache_get(c, "small", 5, &status), "too large to keep, old answer dropped");
    cr_assert_lt(reg_cache_bytes(c), before);
    free(big);
    free(key);
    free(answer);
    reg_cache_free(c);
}

/* An answer read from the database before a clear (another instance's delete announced while the
 * lookup was in flight) is not kept after it: it may predate the delete. One read after is. */
Test(reg_cache, answers_read_before_a_clear_are_not_kept)
{
    struct reg_cache *c = reg_cache_new(1000, 1 << 20, 60000);
    int status = 0;
    uint64_t before = reg_cache_generation(c);
    reg_cache_clear_announced(NULL, "orders-value", c);
    cr_assert_neq(reg_cache_generation(c), before);
    reg_cache_put(c, before, "lookup", 6, "{\"id\":1}", 200);
    cr_assert_null(reg_cache_get(c, "lookup", 6, &status));
    cr_assert_eq(reg_cache_bytes(c), 0);
    reg_cache_put(c, reg_cache_generation(c), "lookup", 6, "{\"id\":2}", 200);
    char *v = reg_cache_get(c, "lookup", 6, &status);
    cr_assert_str_eq(v, "{\"id\":2}");
    free(v);
    reg_cache_free(c);
}
