/* Unit tests for common/uuid: UUIDv7 layout and ordering (also across threads), deterministic
 * hash ids, validation. */
#include "cm/uuid.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

Test(uuid, v7_layout)
{
    char id[CM_UUID_STR_LEN];
    cm_uuid_v7_at(0x0123456789ABLL, id);
    cr_assert_eq(strlen(id), 36);
    cr_assert(cm_uuid_valid(id));
    cr_assert_eq(strncmp(id, "01234567-89ab-7", 15), 0, "%s", id);
    cr_assert(strchr("89ab", id[19]) != NULL, "variant bits: %s", id);
}

Test(uuid, v7_sorted_within_a_millisecond)
{
    char prev[CM_UUID_STR_LEN], cur[CM_UUID_STR_LEN];
    cm_uuid_v7_at(1795397331123LL, prev);
    for (int i = 0; i < 10000; i++) {
        cm_uuid_v7_at(1795397331123LL, cur);
        cr_assert_lt(strcmp(prev, cur), 0, "%s !< %s", prev, cur);
        memcpy(prev, cur, sizeof(cur));
    }
}

/* Threads drawing ids in the same millisecond: every id distinct, each thread's ids rising. */
#define RACE_THREADS 4
#define RACE_IDS 20000
static char race_ids[RACE_THREADS][RACE_IDS][CM_UUID_STR_LEN];

static void *race(void *arg)
{
    char(*mine)[CM_UUID_STR_LEN] = race_ids[(size_t)arg];
    for (int i = 0; i < RACE_IDS; i++) {
        cm_uuid_v7_at(1795397331999LL, mine[i]);
    }
    return NULL;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(uuid, v7_unique_and_rising_across_threads)
{
    pthread_t t[RACE_THREADS];
    for (size_t i = 0; i < RACE_THREADS; i++) {
        pthread_create(&t[i], NULL, race, (void *)i);
    }
    for (size_t i = 0; i < RACE_THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    for (size_t i = 0; i < RACE_THREADS; i++) {
        for (int k = 1; k < RACE_IDS; k++) {
            cr_assert_lt(strcmp(race_ids[i][k - 1], race_ids[i][k]), 0);
        }
    }
    qsort(race_ids, RACE_THREADS * RACE_IDS, CM_UUID_STR_LEN, by_text);
    char(*all)[CM_UUID_STR_LEN] = race_ids[0];
    for (size_t k = 1; k < RACE_THREADS * RACE_IDS; k++) {
        cr_assert_neq(strcmp(all[k - 1], all[k]), 0, "repeated id %s", all[k]);
    }
}

Test(uuid, from_parts_is_deterministic_and_framed)
{
    char a[CM_UUID_STR_LEN], b[CM_UUID_STR_LEN], c[CM_UUID_STR_LEN];
    const char *p1[] = {"ab", "c"};
    const char *p2[] = {"a", "bc"};
    cm_uuid_from_parts(p1, 2, a);
    cm_uuid_from_parts(p1, 2, b);
    cm_uuid_from_parts(p2, 2, c);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    cr_assert(cm_uuid_valid(a));
    cr_assert_eq(a[14], '8', "version 8: %s", a);
}

/* Ids already written must come out again on a replay: the framing (each part after its length
 * as 8 big-endian bytes, SHA-256, version 8) is pinned, for parts that fit the gathering buffer
 * and for parts longer than it. */
Test(uuid, from_parts_is_pinned)
{
    char id[CM_UUID_STR_LEN];
    const char *result[] = {"pipeline", "bench", "1", "", "m42", "1767225600000", "0"};
    cm_uuid_from_parts(result, 7, id);
    cr_assert_str_eq(id, "545aca1f-5c73-8d25-81ec-3e5b0950f326");
    static char big[700];
    memset(big, 'x', sizeof(big) - 1);
    const char *longer[] = {big, "a", big, "b"};
    cm_uuid_from_parts(longer, 4, id);
    cr_assert_str_eq(id, "7ba7a163-cf4f-818e-a2be-a0b6b9639ed6");
}

Test(uuid, validation)
{
    cr_assert(cm_uuid_valid("01234567-89ab-7def-8123-456789abcdef"));
    cr_assert(cm_uuid_valid("01234567-89AB-7DEF-8123-456789ABCDEF"));
    cr_assert_not(cm_uuid_valid("01234567-89ab-7def-8123-456789abcde"));
    cr_assert_not(cm_uuid_valid("01234567-89ab-7def-8123-456789abcdeff"));
    cr_assert_not(cm_uuid_valid("0123456789ab-7def-8123-456789abcdef0"));
    cr_assert_not(cm_uuid_valid("g1234567-89ab-7def-8123-456789abcdef"));
    cr_assert_not(cm_uuid_valid(""));
}

#include <sys/wait.h>
#include <unistd.h>

Test(uuid, a_forked_child_draws_other_random_bytes)
{
    unsigned char warm[8], parent[16], child[16];
    cm_random_bytes(warm, sizeof(warm)); /* the pool is filled before the fork */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        cm_random_bytes(child, sizeof(child));
        ssize_t w = write(fds[1], child, sizeof(child));
        _exit(w == (ssize_t)sizeof(child) ? 0 : 1);
    }
    cm_random_bytes(parent, sizeof(parent));
    cr_assert_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    cr_assert_neq(memcmp(parent, child, sizeof(parent)), 0,
                  "parent and child must not share the inherited pool");
}

Test(uuid, random_bytes_are_not_repeated_across_pool_refills)
{
    static unsigned char a[2048];
    cm_random_bytes(a, sizeof(a));
    for (size_t off = 512; off < sizeof(a); off += 512) {
        cr_assert_neq(memcmp(a, a + off, 32), 0, "refill at %zu repeated the pool", off);
    }
}
