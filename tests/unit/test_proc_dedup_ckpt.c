/* Unit tests for the checkpoints of the ids a deduplicating pipeline's keys keep
 * (services/processor/proc_dedup.c, proc_window_ckpt.c): a key's few ids go in its state; many go
 * in blocks of fields of their own, in the order taken, and a checkpoint then writes only the ids
 * taken since the one before, until the later blocks would outweigh block 0 or ids were dropped
 * (pruned once no window holds them): then block 0 holds all of them again and the later blocks
 * are removed. A key that goes removes its blocks; one left with few ids takes them
 * back into its state. Each checkpoint, applied to a hash as Redis applies it, restores to the
 * same ids; a hash missing a block, or naming blocks wrongly, is refused; a key of an earlier
 * build, its many ids in its state, moves them to blocks at its next write. */
#include "proc_test.h"

#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_window.h"

#include "cm/err.h"
#include "cm/mem.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 1767225600000LL /* 2026-01-01T00:00:00Z */
#define AGGS "\"aggregates\": {\"n\": \"count()\"}"
#define HOPPING                                                                                    \
    "{\"name\": \"p\", \"key\": \"data.k\", \"deduplicate\": true, \"window\": {\"type\": "        \
    "\"hopping\", \"size\": \"10s\", \"slide\": \"5s\"}, " AGGS "}"

static int nop_emit(const struct proc_window_result *r, void *ud)
{
    (void)r;
    (void)ud;
    return 1;
}

/* What one checkpoint wrote, and the hash it leaves ("k:<name>" or "d<n>:<name>" -> JSON). */
struct ckpt {
    json_t *hash;
    json_t *set;  /* the fields written by the last checkpoint (names) */
    json_t *gone; /* the fields removed by it */
};

static void on_change(const char *name, int block, const char *text, size_t len, void *ud)
{
    struct ckpt *c = ud;
    char *f =
        block == PROC_KEY_STATE ? cm_xasprintf("k:%s", name) : cm_xasprintf("d%d:%s", block, name);
    if (text) {
        json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        cr_assert_not_null(v, "%s: %.*s", f, (int)len, text);
        json_object_set_new(c->hash, f, v);
        json_array_append_new(c->set, json_string(f));
    } else {
        json_object_del(c->hash, f);
        json_array_append_new(c->gone, json_string(f));
    }
    free(f);
}

/* Takes w's checkpoint into c->hash; returns the keys reported. */
static size_t take(struct proc_windows *w, struct ckpt *c)
{
    if (!c->hash) {
        c->hash = json_object();
    }
    json_decref(c->set);
    json_decref(c->gone);
    c->set = json_array();
    c->gone = json_array();
    if (proc_windows_full(w)) {
        json_object_clear(c->hash); /* (a full one replaces the hash) */
    }
    return proc_windows_changes(w, on_change, c);
}

static void ckpt_free(struct ckpt *c)
{
    json_decref(c->hash);
    json_decref(c->set);
    json_decref(c->gone);
}

/* A fresh state of d restored from hash as the daemon reads it: keys, then blocks, then the
 * check; 0 or the first error. */
static int restore(struct proc_windows *r, const json_t *hash)
{
    const char *f;
    json_t *v;
    json_object_foreach((json_t *)hash, f, v)
    {
        if (strncmp(f, "k:", 2) == 0 && proc_windows_restore(r, f + 2, v) != 0) {
            return CM_E_INVAL;
        }
    }
    json_object_foreach((json_t *)hash, f, v)
    {
        unsigned block;
        int at = 0;
        if (sscanf(f, "d%u:%n", &block, &at) == 1 && at > 0 &&
            proc_windows_restore_ids(r, f + at, block, v) != 0) {
            return CM_E_INVAL;
        }
    }
    return proc_windows_restored(r);
}

/* Adds n events of ids "<prefix><i>" at t to key "m" of w, each remembered. */
static void add_ids(struct proc_windows *w, const char *key, const char *prefix, int n, int64_t t,
                    int64_t wm)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        json_t *ev = json_pack("{s:{s:i}}", "data", "v", 1);
        size_t errors = 0;
        cr_assert_eq(proc_windows_add(w, "", key, t, ev, NULL, "", 0, wm, nop_emit, NULL, &errors),
                     PROC_ADDED);
        proc_windows_remember(w, "", key, id, t, wm);
        json_decref(ev);
    }
}

static const json_t *block_of(const struct ckpt *c, int n)
{
    char f[32];
    snprintf(f, sizeof(f), "d%d:\x1fm", n);
    return json_object_get(c->hash, f);
}

static const char *id_at(const json_t *ids, size_t i)
{
    return json_string_value(json_array_get(json_array_get(ids, i), 0));
}

static int has(const json_t *names, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach(names, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A tracked state of d whose key "m" took n0 ids "a<i>" at t0, checkpointed into c, then n1 ids
 * "b<i>" at t1, checkpointed in block 1. */
static struct proc_windows *two_blocks(const struct proc_def *d, struct ckpt *c, int n0, int64_t t0,
                                       int n1, int64_t t1)
{
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    add_ids(w, "m", "a", n0, t0, INT64_MIN);
    take(w, c);
    add_ids(w, "m", "b", n1, t1, INT64_MIN);
    take(w, c);
    cr_assert_not_null(block_of(c, 1));
    return w;
}

Test(proc_dedup_ckpt, a_key_with_few_ids_keeps_them_in_its_state)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    add_ids(w, "m", "a", PROC_DEDUP_INLINE_MAX, T + 1000, INT64_MIN);
    struct ckpt c = {0};
    cr_assert_eq(take(w, &c), 1);
    const json_t *state = json_object_get(c.hash, "k:\x1fm");
    cr_assert_eq(json_array_size(json_object_get(state, "d")), PROC_DEDUP_INLINE_MAX);
    cr_assert_null(json_object_get(state, "db"));
    cr_assert_eq(json_object_size(c.hash), 1, "no field but the key's");
    ckpt_free(&c);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_dedup_ckpt, many_ids_are_written_in_blocks_each_checkpoint_only_the_new_ones)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    add_ids(w, "m", "a", 5000, T + 1000, INT64_MIN); /* in [-5 s, 5 s) and [0, 10 s) */
    add_ids(w, "m", "b", 3000, T + 7000, INT64_MIN); /* in [0, 10 s) and [5 s, 15 s) */
    struct ckpt c = {0};
    cr_assert_eq(take(w, &c), 1);
    const json_t *state = json_object_get(c.hash, "k:\x1fm");
    cr_assert_null(json_object_get(state, "d"));
    cr_assert_eq(json_integer_value(json_object_get(state, "db")), 1);
    const json_t *ids = block_of(&c, 0);
    cr_assert_eq(json_array_size(ids), 8000);
    /* in the order taken */
    cr_assert_str_eq(id_at(ids, 0), "a0");
    cr_assert_str_eq(id_at(ids, 1), "a1");
    cr_assert_str_eq(id_at(ids, 5000), "b0");
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(ids, 5000), 1)), T + 7000);

    /* the next checkpoint writes the 11 new ids alone, in block 1, in the order taken (not of
     * time: one of an earlier time comes last) */
    add_ids(w, "m", "c", 10, T + 8000, INT64_MIN);
    add_ids(w, "m", "early", 1, T + 500, INT64_MIN);
    cr_assert_eq(take(w, &c), 1);
    cr_assert_eq(json_array_size(c.set), 2, "the key's state and one block");
    cr_assert(has(c.set, "d1:\x1fm"));
    cr_assert_eq(json_array_size(c.gone), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(c.hash, "k:\x1fm"), "db")), 2);
    cr_assert_eq(json_array_size(block_of(&c, 1)), 11);
    cr_assert_str_eq(id_at(block_of(&c, 1), 0), "c0");
    cr_assert_str_eq(id_at(block_of(&c, 1), 10), "early0");
    cr_assert_eq(json_array_size(block_of(&c, 0)), 8000, "block 0 as it was");
    /* an id taken again at a later time (its first's windows expired) goes in the next block with
     * that time; a checkpoint without new ids writes none */
    cr_assert_eq(proc_windows_remember(w, "", "m", "a7", T + 9000, INT64_MIN), 0);
    cr_assert_eq(take(w, &c), 1);
    cr_assert_eq(json_array_size(block_of(&c, 2)), 1);
    cr_assert_str_eq(id_at(block_of(&c, 2), 0), "a7");
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(block_of(&c, 2), 0), 1)),
                 T + 9000);

    /* the hash restores to the same ids: written whole, the same bytes as the original written
     * whole */
    struct proc_windows *r = proc_windows_new(d);
    proc_windows_track_changes(r);
    cr_assert_eq(restore(r, c.hash), 0);
    cr_assert(proc_windows_seen(r, "", "m", "a4999", T));
    cr_assert(proc_windows_seen(r, "", "m", "b0", T));
    cr_assert(proc_windows_seen(r, "", "m", "c9", T));
    cr_assert_not(proc_windows_seen(r, "", "m", "x0", T));
    cr_assert_not(proc_windows_seen(r, "acme", "m", "a0", T), "another tenant's key");
    /* a7 was taken again at 9 s: held by [5 s, 15 s) until that expires, not only until 10 s */
    cr_assert(proc_windows_seen(r, "", "m", "a7", T + 12000));
    cr_assert_not(proc_windows_seen(r, "", "m", "a6", T + 12000));
    struct ckpt again = {0}, orig = {0};
    proc_windows_set_full(r, 1);
    proc_windows_set_full(w, 1);
    take(r, &again);
    take(w, &orig);
    cr_assert(json_equal(again.hash, orig.hash));
    cr_assert_eq(json_array_size(block_of(&orig, 0)), 8011);
    cr_assert_str_eq(id_at(block_of(&orig, 0), 8010), "early0", "in the order taken");
    cr_assert_null(block_of(&orig, 1), "a full checkpoint writes them whole, in block 0");
    ckpt_free(&again);
    ckpt_free(&orig);
    ckpt_free(&c);
    proc_windows_free(w);
    proc_windows_free(r);
    proc_def_free(d);
}

Test(proc_dedup_ckpt, blocks_are_merged_when_they_outweigh_block_0)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    add_ids(w, "m", "a", 2000, T + 1000, INT64_MIN);
    struct ckpt c = {0};
    take(w, &c);
    /* checkpoints of 20 new ids each: blocks 1, 2, ... until their ids and fields (8 ids each)
     * would pass block 0's, then block 0 holds all of them and the others go */
    int merged = 0, n = 1;
    for (int round = 1; round < 200 && !merged; round++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "r%d.", round);
        add_ids(w, "m", prefix, 20, T + 1000 + round, INT64_MIN);
        take(w, &c);
        n = (int)json_integer_value(json_object_get(json_object_get(c.hash, "k:\x1fm"), "db"));
        if (n == 1) {
            merged = round;
        } else {
            cr_assert_eq(n, round + 1);
            cr_assert_eq(json_array_size(c.gone), 0);
        }
    }
    /* (each round's block counts as 28 ids: the 72nd passes block 0's 2,000; the index, grown
     * meanwhile, moved no id) */
    cr_assert_eq(merged, 72, "merged at round %d", merged);
    cr_assert_eq(json_array_size(block_of(&c, 0)), 2000 + 20 * 72);
    cr_assert_eq(json_array_size(c.gone), 71, "blocks 1 to 71 removed");
    cr_assert(has(c.gone, "d71:\x1fm"));
    cr_assert_eq(json_object_size(c.hash), 2, "the key's state and block 0");
    struct proc_windows *r = proc_windows_new(d);
    cr_assert_eq(restore(r, c.hash), 0);
    cr_assert(proc_windows_seen(r, "", "m", "r72.19", T));
    cr_assert(proc_windows_seen(r, "", "m", "r1.0", T));
    ckpt_free(&c);
    proc_windows_free(w);
    proc_windows_free(r);
    proc_def_free(d);
}

Test(proc_dedup_ckpt, pruned_ids_rewrite_block_0_and_a_key_that_goes_takes_its_blocks)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct ckpt c = {0};
    struct proc_windows *w = two_blocks(d, &c, 5000, T + 1000, 1000, T + 7000);
    /* at 10 s the windows holding 1 s have fired and expired: a's ids no longer count; the next
     * ids prune them once the table fills, and block 0 then holds the rest (b's and d's: [5 s,
     * 15 s) being live), block 1 going */
    int64_t wm = T + 9999;
    proc_windows_advance(w, wm, nop_emit, NULL);
    cr_assert_not(proc_windows_seen(w, "", "m", "a0", wm));
    cr_assert(proc_windows_seen(w, "", "m", "b999", wm));
    add_ids(w, "m", "d", 20000, T + 12000, wm);
    take(w, &c);
    cr_assert_eq(json_array_size(block_of(&c, 0)), 21000, "a's 5,000 ids pruned");
    cr_assert_str_eq(id_at(block_of(&c, 0), 0), "b0");
    cr_assert(has(c.gone, "d1:\x1fm"));
    cr_assert_null(block_of(&c, 1));
    struct proc_windows *r = proc_windows_new(d);
    cr_assert_eq(restore(r, c.hash), 0);
    cr_assert(proc_windows_seen(r, "", "m", "d19999", wm));
    proc_windows_free(r);

    /* a checkpoint with a block more, then the key goes (every window expired): its state and
     * every block are removed */
    add_ids(w, "m", "e", 5, T + 12000, wm);
    take(w, &c);
    cr_assert_not_null(block_of(&c, 1));
    proc_windows_advance(w, PROC_WATERMARK_MAX, nop_emit, NULL);
    take(w, &c);
    cr_assert_eq(json_object_size(c.hash), 0, "nothing left of the key");
    cr_assert(has(c.gone, "k:\x1fm"));
    cr_assert(has(c.gone, "d0:\x1fm"));
    cr_assert(has(c.gone, "d1:\x1fm"));
    ckpt_free(&c);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_dedup_ckpt, a_key_left_with_few_ids_takes_them_back_into_its_state)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct ckpt c = {0};
    /* 764 ids at 1 s (the index grown to 1,024 slots at 192: full at 768), 3 at 7 s in block 1 */
    struct proc_windows *w = two_blocks(d, &c, 764, T + 1000, 3, T + 7000);
    /* at 10 s the 1 s ones expire, the key living on ([5 s, 15 s) holds b's); the second id at
     * 12 s fills the index, which drops them: 5 ids are left, back in the key's state */
    int64_t wm = T + 9999;
    proc_windows_advance(w, wm, nop_emit, NULL);
    add_ids(w, "m", "c", 2, T + 12000, wm);
    take(w, &c);
    const json_t *state = json_object_get(c.hash, "k:\x1fm");
    cr_assert_null(json_object_get(state, "db"));
    const json_t *ids = json_object_get(state, "d");
    cr_assert_eq(json_array_size(ids), 5);
    cr_assert_str_eq(id_at(ids, 0), "b0");
    cr_assert_str_eq(id_at(ids, 4), "c1");
    /* (found one by one again, without an index) */
    cr_assert(proc_windows_seen(w, "", "m", "b2", wm));
    cr_assert(proc_windows_seen(w, "", "m", "c1", wm));
    cr_assert_not(proc_windows_seen(w, "", "m", "a5", wm));
    cr_assert(has(c.gone, "d0:\x1fm"));
    cr_assert(has(c.gone, "d1:\x1fm"));
    cr_assert_eq(json_object_size(c.hash), 1);
    ckpt_free(&c);
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_dedup_ckpt, a_hash_missing_a_block_or_naming_blocks_wrongly_is_refused)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct proc_def *plain = proc_test_def(
        "{\"name\": \"p\", \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": "
        "\"10s\"}, " AGGS "}");
    struct ckpt c = {0};
    struct proc_windows *w = two_blocks(d, &c, 100, T + 1000, 3, T + 1000);
    cr_assert_eq(json_object_size(c.hash), 3);
    struct proc_windows *r = proc_windows_new(d);
    cr_assert_eq(restore(r, c.hash), 0, "the control: whole");
    proc_windows_free(r);
    static const char *const edits[] = {
        "-d1:\x1fm", /* a block missing */
        "-d0:\x1fm", /* block 0 missing */
        "+d2:\x1fm", /* a block past those the state names */
        "+d0:\x1fx", /* a block of a key not there */
        "=db:0",     /* no block */
        "=db:-1",    /* fewer than none */
        "=db:s",     /* not a number */
        "=db:3",     /* one more than there are */
        "=d:[]",     /* both in the state and in blocks */
        "~d1:\x1fm", /* a block not a list */
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        json_t *h = json_deep_copy(c.hash);
        const char *e = edits[i];
        json_t *state = json_object_get(h, "k:\x1fm");
        if (e[0] == '-') {
            json_object_del(h, e + 1);
        } else if (e[0] == '+') {
            json_object_set_new(h, e + 1, json_pack("[[s,I]]", "z", T + 1000));
        } else if (e[0] == '~') {
            json_object_set_new(h, e + 1, json_string("a"));
        } else {
            const char *colon = strchr(e + 1, ':');
            char member[8];
            snprintf(member, sizeof(member), "%.*s", (int)(colon - e - 1), e + 1);
            json_t *v = json_loads(colon + 1, JSON_DECODE_ANY, NULL);
            json_object_set_new(state, member, v ? v : json_string(colon + 1));
        }
        struct proc_windows *rr = proc_windows_new(d);
        cr_assert_eq(restore(rr, h), CM_E_INVAL, "edit %zu", i);
        proc_windows_free(rr);
        json_decref(h);
    }
    /* blocks in the state of a pipeline that does not deduplicate */
    struct proc_windows *rp = proc_windows_new(plain);
    cr_assert_eq(proc_windows_restore(rp, "\x1fm", json_object_get(c.hash, "k:\x1fm")), CM_E_INVAL);
    proc_windows_free(rp);
    ckpt_free(&c);
    proc_windows_free(w);
    proc_def_free(d);
    proc_def_free(plain);
}

Test(proc_dedup_ckpt, an_earlier_builds_key_with_many_ids_in_its_state_moves_them_to_blocks)
{
    struct proc_def *d = proc_test_def(HOPPING);
    struct proc_windows *w = proc_windows_new(d);
    proc_windows_track_changes(w);
    add_ids(w, "m", "a", 1, T + 1000, INT64_MIN);
    struct ckpt c = {0};
    take(w, &c);
    /* as earlier builds wrote it: 100 ids in the key's state */
    json_t *state = json_deep_copy(json_object_get(c.hash, "k:\x1fm"));
    json_t *ids = json_array();
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof(id), "old%d", i);
        json_array_append_new(ids, json_pack("[s,I]", id, T + 1000));
    }
    json_object_set_new(state, "d", ids);
    struct proc_windows *r = proc_windows_new(d);
    proc_windows_track_changes(r);
    cr_assert_eq(proc_windows_restore(r, "\x1fm", state), 0);
    cr_assert_eq(proc_windows_restored(r), 0);
    proc_windows_set_full(r, 0); /* (Redis holds it: the daemon's restore) */
    cr_assert(proc_windows_seen(r, "", "m", "old99", T));
    struct ckpt rc = {.hash = json_pack("{s:O}", "k:\x1fm", state)};
    add_ids(r, "m", "new", 1, T + 2000, INT64_MIN);
    cr_assert_eq(take(r, &rc), 1);
    const json_t *now = json_object_get(rc.hash, "k:\x1fm");
    cr_assert_null(json_object_get(now, "d"));
    cr_assert_eq(json_integer_value(json_object_get(now, "db")), 1);
    cr_assert_eq(json_array_size(block_of(&rc, 0)), 101, "all of them in block 0");
    json_decref(state);
    ckpt_free(&c);
    ckpt_free(&rc);
    proc_windows_free(w);
    proc_windows_free(r);
    proc_def_free(d);
}
