/* Unit tests for the processor's interval join (services/processor/proc_ijoin.c), each against
 * a brute-force join of the same events: every pair (same tenant and key, right.time -
 * left.time in [lower, upper], negative bounds included) comes out exactly once, in order and
 * out of order within the watermark's bound; an outer join adds each unmatched left once with
 * null; state is gone once the watermark passes; a run cut in two by a checkpoint and restored
 * gives the same pairs; two versions with bounds split the pairs without loss or overlap; a
 * hostile checkpoint form is refused. */
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_window.h"
#include "proc_test.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 600
#define KEYS 3

static struct proc_def *def(const char *type, const char *lower, const char *upper)
{
    char text[512];
    snprintf(text, sizeof(text),
             "{\"name\":\"j\",\"key\":\"data.k\",\"interval_join\":{"
             "\"left\":{\"filter\":\"type == 'l'\"},\"right\":{\"filter\":\"type == 'r'\"},"
             "\"lower\":\"%s\",\"upper\":\"%s\",\"type\":\"%s\"}}",
             lower, upper, type);
    return proc_test_def(text);
}

struct ev {
    int right;
    int64_t t;
    int key;
    char id[16];
};

static struct ev evs[N];

/* Random events: time i * 10 ms jittered by up to ±jitter ms. */
static void make_events(unsigned seed, int jitter)
{
    srand(seed);
    for (int i = 0; i < N; i++) {
        evs[i].right = rand() % 2;
        evs[i].t = (int64_t)i * 10 + (jitter ? rand() % (2 * jitter + 1) - jitter : 0);
        evs[i].key = rand() % KEYS;
        snprintf(evs[i].id, sizeof(evs[i].id), "e%d", i);
    }
}

/* Outputs seen: a count per (left, right) pair; right index N for an outer null. */
static unsigned char seen[N][N + 1];
static size_t outputs;

static int index_of(const json_t *side)
{
    const char *id = json_string_value(json_object_get(side, "id"));
    cr_assert_not_null(id);
    return atoi(id + 1);
}

static int collect(const struct proc_window_result *r, void *ud)
{
    (void)ud;
    cr_assert_not_null(r->left);
    int l = index_of(r->left), rr = r->right ? index_of(r->right) : N;
    cr_assert(!evs[l].right, "the left side holds a left event");
    cr_assert(rr == N || evs[rr].right, "the right side holds a right event");
    int64_t t = rr == N ? evs[l].t : (evs[l].t > evs[rr].t ? evs[l].t : evs[rr].t);
    cr_assert_eq(r->end_ms, t, "a pair's time is the later of its two");
    seen[l][rr]++;
    outputs++;
    return 1;
}

static void reset(void)
{
    memset(seen, 0, sizeof(seen));
    outputs = 0;
}

static void feed(struct proc_windows *w, int from, int to, int64_t ooo, int64_t *max)
{
    for (int i = from; i < to; i++) {
        json_t *ev = json_pack("{s:s,s:s,s:{s:i}}", "type", evs[i].right ? "r" : "l", "id",
                               evs[i].id, "data", "k", evs[i].key);
        char key[8];
        snprintf(key, sizeof(key), "%d", evs[i].key);
        *max = evs[i].t > *max ? evs[i].t : *max;
        int64_t wm = *max - ooo;
        size_t errors = 0;
        cr_assert_eq(
            proc_windows_add(w, "", key, evs[i].t, ev, NULL, NULL, i, wm, collect, NULL, &errors),
            PROC_ADDED, "event %d is not late (out of order within the bound)", i);
        proc_windows_advance(w, wm, collect, NULL);
        json_decref(ev);
    }
}

/* Every expected pair exactly once, outer nulls exactly for lefts without a pair, nothing
 * else. */
static void check(const struct proc_def *d)
{
    size_t expected = 0;
    for (int l = 0; l < N; l++) {
        if (evs[l].right) {
            continue;
        }
        int any = 0;
        for (int r = 0; r < N; r++) {
            int64_t diff = evs[r].t - evs[l].t;
            int pair = evs[r].right && evs[r].key == evs[l].key && diff >= d->ijoin.lower &&
                       diff <= d->ijoin.upper;
            cr_assert_eq(seen[l][r], pair, "pair (e%d, e%d): seen %d times, expected %d", l, r,
                         seen[l][r], pair);
            any |= pair;
            expected += (size_t)pair;
        }
        int null = d->ijoin.outer && !any;
        cr_assert_eq(seen[l][N], null, "e%d with null: seen %d times, expected %d", l, seen[l][N],
                     null);
        expected += (size_t)null;
    }
    cr_assert_gt(expected, 100, "the scenario pairs enough events to mean something");
    cr_assert_eq(outputs, expected);
}

static void run(const char *type, const char *lower, const char *upper, int jitter)
{
    struct proc_def *d = def(type, lower, upper);
    make_events(42, jitter);
    reset();
    struct proc_windows *w = proc_windows_new(d);
    int64_t max = INT64_MIN;
    feed(w, 0, N, 2 * jitter, &max);
    proc_windows_advance(w, INT64_MAX / 4, collect, NULL);
    cr_assert_eq(proc_windows_keys(w), 0, "no state is left once the watermark has passed");
    check(d);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_ijoin, every_pair_once_in_order)
{
    run("inner", "0ms", "50ms", 0);
}

Test(proc_ijoin, every_pair_once_out_of_order_with_negative_bounds)
{
    run("inner", "-30ms", "40ms", 25);
}

Test(proc_ijoin, bounds_both_negative)
{
    run("inner", "-60ms", "-10ms", 15);
}

Test(proc_ijoin, an_outer_join_adds_each_unmatched_left_once)
{
    run("left", "0ms", "20ms", 10);
}

struct ckpt {
    json_t *state; /* name -> state */
};

static void on_change(const char *name, int block, const char *state, size_t len, void *ud)
{
    struct ckpt *c = ud;
    cr_assert_eq(block, PROC_KEY_STATE);
    if (state) {
        json_t *v = json_loadb(state, len, JSON_REJECT_DUPLICATES, NULL);
        cr_assert_not_null(v, "a checkpoint form is JSON: %.*s", (int)len, state);
        json_object_set_new(c->state, name, v);
    } else {
        json_object_del(c->state, name);
    }
}

Test(proc_ijoin, a_restored_checkpoint_gives_the_same_pairs)
{
    struct proc_def *d = def("left", "-20ms", "30ms");
    make_events(7, 10);
    reset();
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    int64_t max = INT64_MIN;
    feed(w, 0, N / 2, 20, &max);
    struct ckpt c = {json_object()};
    proc_windows_changes(w, on_change, &c);
    cr_assert_gt(json_object_size(c.state), 0, "the checkpoint holds keys");
    proc_windows_free(w); /* the process dies; a new one restores */
    w = proc_windows_new(d);
    const char *name;
    json_t *state;
    json_object_foreach(c.state, name, state)
    {
        cr_assert_eq(proc_windows_restore(w, name, state), 0, "%s", name);
    }
    feed(w, N / 2, N, 20, &max);
    proc_windows_advance(w, INT64_MAX / 4, collect, NULL);
    check(d);
    json_decref(c.state);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_ijoin, two_versions_split_the_pairs_at_the_cut_over)
{
    struct proc_def *d = def("left", "-30ms", "30ms");
    make_events(9, 10);
    reset();
    int64_t cut = N * 10 / 2 + 3;
    struct proc_windows *old = proc_windows_new(d), *cur = proc_windows_new(d);
    proc_windows_set_bounds(old, INT64_MIN, cut);
    proc_windows_set_bounds(cur, cut, INT64_MAX);
    int64_t max = INT64_MIN;
    for (int i = 0; i < N; i++) { /* both see every event; each emits its own share */
        json_t *ev = json_pack("{s:s,s:s,s:{s:i}}", "type", evs[i].right ? "r" : "l", "id",
                               evs[i].id, "data", "k", evs[i].key);
        char key[8];
        snprintf(key, sizeof(key), "%d", evs[i].key);
        max = evs[i].t > max ? evs[i].t : max;
        size_t errors = 0;
        proc_windows_add(old, "", key, evs[i].t, ev, NULL, NULL, i, max - 20, collect, NULL,
                         &errors);
        proc_windows_add(cur, "", key, evs[i].t, ev, NULL, NULL, i, max - 20, collect, NULL,
                         &errors);
        proc_windows_advance(old, max - 20, collect, NULL);
        proc_windows_advance(cur, max - 20, collect, NULL);
        json_decref(ev);
    }
    proc_windows_advance(old, INT64_MAX / 4, collect, NULL);
    proc_windows_advance(cur, INT64_MAX / 4, collect, NULL);
    check(d);
    proc_windows_free(old);
    proc_windows_free(cur);
    proc_def_free(d);
}

Test(proc_ijoin, a_late_event_is_refused_and_a_hostile_checkpoint_too)
{
    struct proc_def *d = def("inner", "0ms", "10ms");
    struct proc_windows *w = proc_windows_new(d);
    json_t *ev = json_pack("{s:s,s:s,s:{}}", "type", "l", "id", "x", "data");
    size_t errors = 0;
    cr_assert_eq(proc_windows_add(w, "", "k", 100, ev, NULL, NULL, 0, 101, collect, NULL, &errors),
                 PROC_LATE);
    cr_assert_eq(proc_windows_add(w, "", "k", 100, ev, NULL, NULL, 0, 100, collect, NULL, &errors),
                 PROC_ADDED, "an event at the watermark is not late");
    json_decref(ev);
    static const char *const hostile[] = {
        "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"j\":7}",
        "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"j\":[[2,1,1,false,\"\",{\"id\":\"a\",\"data\":1}]"
        "]}",
        "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"j\":[[0,1,1,false,\"\",{\"data\":1}]]}",
        "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"j\":[[0,1,1,false,\"\",{\"id\":\"a\"}]]}",
        "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"j\":[[0,\"1\",1,false,\"\",{\"id\":\"a\","
        "\"data\":1}]]}",
        "{\"p\":[],\"s\":[],\"r\":[],\"n\":null,\"j\":[[0,1,1,false,\"\",{\"id\":\"a\",\"data\":1},"
        "9]]}",
        NULL};
    for (int i = 0; hostile[i]; i++) {
        struct proc_windows *fresh = proc_windows_new(d);
        json_t *state = json_loads(hostile[i], 0, NULL);
        cr_assert_not_null(state, "%s", hostile[i]);
        cr_assert_neq(proc_windows_restore(fresh, "\x1fk", state), 0, "refused: %s", hostile[i]);
        json_decref(state);
        proc_windows_free(fresh);
    }
    proc_windows_free(w);
    proc_def_free(d);
}
