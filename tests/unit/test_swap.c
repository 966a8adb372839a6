/* Unit tests of common/swap: a reader keeps the value it took across a replacement, the old
 * value is released exactly when its last hold is given back, and concurrent readers and a
 * writer neither leak nor free early (ASan and LeakSanitizer watch). */
#include "cm/swap.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int released;

static void release_int(void *v)
{
    atomic_fetch_add(&released, 1);
    free(v);
}

static int *boxed(int v)
{
    int *p = malloc(sizeof(*p));
    *p = v;
    return p;
}

Test(swap, a_hold_survives_replacement)
{
    atomic_store(&released, 0);
    struct cm_swap *s = cm_swap_new(boxed(1), release_int);
    struct cm_swap_hold old = cm_swap_get(s);
    cm_swap_replace(s, boxed(2));
    cr_assert_eq(*(const int *)old.value, 1, "the reader keeps its value");
    cr_assert_eq(atomic_load(&released), 0, "not released while held");
    struct cm_swap_hold now = cm_swap_get(s);
    cr_assert_eq(*(const int *)now.value, 2);
    cm_swap_put(old);
    cr_assert_eq(atomic_load(&released), 1, "released with its last hold");
    cm_swap_put(now);
    cr_assert_eq(atomic_load(&released), 1, "the current value stays");
    cm_swap_free(s);
    cr_assert_eq(atomic_load(&released), 2);
}

static void *reader(void *arg)
{
    struct cm_swap *s = arg;
    for (int i = 0; i < 20000; i++) {
        struct cm_swap_hold h = cm_swap_get(s);
        int v = *(const int *)h.value;
        cr_assert(v >= 0);
        cm_swap_put(h);
    }
    return NULL;
}

Test(swap, concurrent_readers_and_a_writer)
{
    atomic_store(&released, 0);
    struct cm_swap *s = cm_swap_new(boxed(0), release_int);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        pthread_create(&t[i], NULL, reader, s);
    }
    for (int i = 1; i <= 2000; i++) {
        cm_swap_replace(s, boxed(i));
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
    }
    cr_assert_eq(atomic_load(&released), 2000, "every replaced value released once");
    cm_swap_free(s);
    cr_assert_eq(atomic_load(&released), 2001);
}
