/* Unit tests for the processor's tumbling windows (services/processor/proc_window.c): window
 * assignment, watermark firing, late records, offsets to commit, idle advance, revocation. */
#include "../../services/processor/proc_window.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

struct fired {
    char key[32];
    int64_t start, end;
    uint64_t count;
};

static struct fired out[64];
static size_t nout;

static void collect(const struct proc_window_result *w, void *ud)
{
    (void)ud;
    cr_assert_lt(nout, 64);
    snprintf(out[nout].key, sizeof(out[nout].key), "%s", w->key);
    out[nout].start = w->start_ms;
    out[nout].end = w->end_ms;
    out[nout].count = w->count;
    nout++;
}

static void reset(void)
{
    nout = 0;
}

TestSuite(proc_window, .init = reset);

Test(proc_window, counts_per_key_and_window)
{
    struct proc_windows *w = proc_windows_new(10000, 0);
    proc_windows_add(w, 0, "a", 1000, 1);
    proc_windows_add(w, 0, "a", 9999, 2);
    proc_windows_add(w, 0, "b", 5000, 3);
    proc_windows_add(w, 0, "a", 10000, 4); /* next window; watermark 10000 closes [0,10000) */
    cr_assert_eq(proc_windows_fire(w, 0, collect, NULL), 2);
    cr_assert_eq(nout, 2);
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i < nout; i++) {
        cr_assert_eq(out[i].start, 0);
        cr_assert_eq(out[i].end, 10000);
        if (strcmp(out[i].key, "a") == 0) {
            a = out[i].count;
        } else {
            b = out[i].count;
        }
    }
    cr_assert_eq(a, 2);
    cr_assert_eq(b, 1);
    cr_assert_eq(proc_windows_open_count(w, 0), 1);
    cr_assert_eq(proc_windows_min_open_offset(w, 0), 4);
    proc_windows_free(w);
}

Test(proc_window, out_of_orderness_delays_firing)
{
    struct proc_windows *w = proc_windows_new(10000, 2000);
    proc_windows_add(w, 0, "a", 9000, 1);
    proc_windows_add(w, 0, "a", 11000, 2); /* watermark 9000 */
    cr_assert_eq(proc_windows_fire(w, 0, collect, NULL), 0);
    cr_assert_eq(proc_windows_add(w, 0, "a", 9500, 3), PROC_ADDED, "within the allowed disorder");
    proc_windows_add(w, 0, "a", 12000, 4); /* watermark 10000 */
    cr_assert_eq(proc_windows_fire(w, 0, collect, NULL), 1);
    cr_assert_eq(out[0].count, 2);
    cr_assert_eq(proc_windows_add(w, 0, "a", 9999, 5), PROC_LATE);
    cr_assert_eq(proc_windows_min_open_offset(w, 0), 2);
    proc_windows_free(w);
}

Test(proc_window, partitions_are_independent)
{
    struct proc_windows *w = proc_windows_new(1000, 0);
    proc_windows_add(w, 3, "a", 500, 10);
    proc_windows_add(w, 7, "a", 5000, 20);
    cr_assert_eq(proc_windows_fire(w, 3, collect, NULL), 0, "partition 3's watermark is 500");
    cr_assert_eq(proc_windows_watermark(w, 7), 5000);
    cr_assert_eq(proc_windows_min_open_offset(w, 3), 10);
    cr_assert_eq(proc_windows_min_open_offset(w, 5), -1);
    proc_windows_drop_partition(w, 3);
    cr_assert_eq(proc_windows_open_count(w, 3), 0);
    cr_assert_eq(proc_windows_min_open_offset(w, 3), -1);
    cr_assert_eq(proc_windows_add(w, 3, "a", 100, 11), PROC_ADDED, "state forgotten");
    proc_windows_free(w);
}

Test(proc_window, idle_advance_flushes_and_makes_older_records_late)
{
    struct proc_windows *w = proc_windows_new(1000, 60000);
    proc_windows_add(w, 0, "a", 100, 1);
    proc_windows_add(w, 0, "b", 2500, 2);
    cr_assert_eq(proc_windows_max_open_end(w, 0), 3000);
    cr_assert_eq(proc_windows_advance(w, 0, 3000, collect, NULL), 2);
    cr_assert_eq(proc_windows_open_count(w, 0), 0);
    cr_assert_eq(proc_windows_add(w, 0, "a", 2999, 3), PROC_LATE);
    cr_assert_eq(proc_windows_add(w, 0, "a", 3000, 4), PROC_ADDED);
    cr_assert_eq(proc_windows_max_open_end(w, 5), INT64_MIN);
    proc_windows_free(w);
}

Test(proc_window, negative_times_floor_correctly)
{
    struct proc_windows *w = proc_windows_new(1000, 0);
    proc_windows_add(w, 0, "a", -1, 1);
    proc_windows_add(w, 0, "a", 0, 2);
    cr_assert_eq(proc_windows_fire(w, 0, collect, NULL), 1);
    cr_assert_eq(out[0].start, -1000);
    cr_assert_eq(out[0].end, 0);
    proc_windows_free(w);
}

Test(proc_window, many_keys)
{
    struct proc_windows *w = proc_windows_new(1000, 0);
    char key[16];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "k%d", i % 50);
        proc_windows_add(w, 1, key, i, i);
    }
    cr_assert_eq(proc_windows_open_count(w, 1), 50);
    proc_windows_free(w);
}
