/* Integration test of the processor's checkpoints (services/processor/proc_ckpt.c) against a real
 * redis-server: a full checkpoint and an incremental one are written and read back; then Redis is
 * made to hold the state of the checkpoint before the last (as a replica promoted by a Redis
 * Cluster or Sentinel failover before the last incremental write reached it: the `whole` mark is
 * there, one write is not). The next incremental write must say Redis lost a checkpoint, the hash
 * must be refused when loaded (a key changed only in the lost write would otherwise come back
 * with its older state, silently) and by the windows query (503: being written anew), and the
 * full checkpoint that follows must be taken again. And a zombie (an instance that lost its
 * partition while paused past the group's session timeout) is fenced: once the new owner claimed
 * the hash, the zombie's writes are refused whole; and a write sent again after a timeout is not
 * counted twice. */
#include "harness.h"

#include "../../services/processor/proc_ckpt.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_query.h"
#include "../../services/processor/proc_window.h"
#include "../unit/proc_test.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/redis.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF                                                                                        \
    "{\"name\":\"%s\",\"key\":\"subject\",\"window\":{\"type\":\"tumbling\",\"size\":\"1h\"},"     \
    "\"aggregates\":{\"n\":\"count()\"}}"

static int64_t next_offset; /* of source 0, the only one */

static int64_t position(int32_t source, void *ud)
{
    (void)source;
    (void)ud;
    return next_offset;
}

static void feed(struct proc_engine *e, const char *subject)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "specversion", "1.0", "id", subject, "source",
                           "/s", "type", "t", "subject", subject);
    proc_engine_process(e, 0, ev, 1000, next_offset, 0);
    next_offset++;
    json_decref(ev);
}

/* A checkpoint written by the instance whose fencing token is owner. */
static int checkpoint_as(struct cm_redis *r, struct proc_engine *e, const char *owner)
{
    struct proc_ckpt_snap *snap = NULL;
    proc_ckpt_snapshot(e, position, NULL, owner, &snap);
    int rc = proc_ckpt_write(r, snap);
    proc_ckpt_snap_free(snap);
    return rc;
}

static int checkpoint(struct cm_redis *r, struct proc_engine *e)
{
    return checkpoint_as(r, e, "test-owner");
}

/* Loads the checkpoint into a new engine: proc_ckpt_load's answer, the offset in *offset. */
static int load(struct cm_redis *r, const struct proc_def *d, int64_t *offset)
{
    struct proc_engine *e = proc_engine_new(d, &proc_test_drop_out, NULL);
    *offset = -1;
    int rc = proc_ckpt_load(r, e, 0, 0, offset);
    cr_assert_eq(proc_engine_has_source(e, 0), rc == 1);
    proc_engine_free(e);
    return rc;
}

static struct cm_redis_reply *command(struct cm_redis *r, int argc, const char *const *argv,
                                      const size_t *lens)
{
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, argc, argv, lens, &rep), 0, "%s", argv[0]);
    return rep;
}

/* Whether the hash holds key's state (a field ending in "\x1f" key). */
static int holds_key(struct cm_redis *r, const char *hash, const char *key)
{
    char field[64];
    snprintf(field, sizeof(field), "k:\x1f%s", key);
    const char *argv[] = {"HEXISTS", hash, field};
    struct cm_redis_reply *rep = command(r, 3, argv, NULL);
    int yes = cm_redis_reply_integer(rep) == 1;
    cm_redis_reply_free(rep);
    return yes;
}

static int one_partition(const char *topic, void *ud)
{
    (void)topic;
    (void)ud;
    return 1;
}

/* The windows query (of key a, then a scan of every key) over the checkpoint: 0 with windows, or
 * CM_E_UNAVAIL saying the state is being written anew. */
static int query(struct cm_redis *r, const struct proc_def *d)
{
    struct proc_query_version v = {d, INT64_MIN, INT64_MAX};
    json_t *answer = NULL;
    char why[512] = "";
    int rc = proc_query_windows(r, &v, 1, "", "a", INT64_MIN, INT64_MAX, one_partition, NULL,
                                &answer, why, sizeof(why));
    char swhy[512] = "";
    json_t *sout = NULL;
    struct proc_query_scan_req q = {
        .tenant = "", .from = INT64_MIN, .until = INT64_MAX, .limit = 100};
    int src = proc_query_scan(r, &v, 1, &q, one_partition, NULL, &sout, swhy, sizeof(swhy));
    cr_assert_eq(rc, src, "the key's query and the scan agree: %s / %s", why, swhy);
    if (rc == 0) {
        cr_assert_eq(json_array_size(json_object_get(answer, "windows")), 1, "a's window");
        cr_assert_geq(json_array_size(json_object_get(sout, "windows")), 2, "every key's");
    } else {
        cr_assert(strstr(why, "is being written anew") != NULL, "%s", why);
        cr_assert(strstr(swhy, "is being written anew") != NULL, "%s", swhy);
    }
    json_decref(answer);
    json_decref(sout);
    return rc;
}

/* A test's Redis connection, a definition of its own (named from prefix) and an engine that
 * tracks its changes, with the hash of its partition 0. */
struct fix {
    struct cm_redis *r;
    struct proc_def *d;
    struct proc_engine *e;
    char *hash;
};

static struct fix fix_new(const char *prefix)
{
    struct fix f;
    f.r = cm_redis_new(it_env("REDIS_URL"));
    cr_assert_not_null(f.r);
    char name[64], def[512];
    it_unique(name, sizeof(name), prefix);
    snprintf(def, sizeof(def), DEF, name);
    f.d = proc_test_def(def);
    f.e = proc_engine_new(f.d, &proc_test_drop_out, NULL);
    proc_engine_track_changes(f.e);
    f.hash = proc_ckpt_key(f.d, 0);
    next_offset = 0;
    return f;
}

/* Drops the checkpoints and frees the fixture. */
static void fix_free(struct fix *f)
{
    cr_assert_eq(proc_ckpt_drop(f->r, f->e), 0);
    free(f->hash);
    proc_engine_free(f->e);
    proc_def_free(f->d);
    cm_redis_free(f->r);
}

Test(proc_ckpt_redis, a_write_redis_lost_is_told_and_never_loaded)
{
    struct fix f = fix_new("ckpt");
    int64_t offset;

    feed(f.e, "a");
    feed(f.e, "b");
    cr_assert_eq(checkpoint(f.r, f.e), 0, "the first, full");
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 2);
    const char *dump[] = {"DUMP", f.hash};
    struct cm_redis_reply *before = command(f.r, 2, dump, NULL);
    cr_assert_eq(cm_redis_reply_type(before), CM_REDIS_STRING);

    feed(f.e, "c");
    cr_assert_eq(checkpoint(f.r, f.e), 0, "the second, incremental");
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 3);
    cr_assert(holds_key(f.r, f.hash, "c"));
    cr_assert_eq(query(f.r, f.d), 0);

    /* Redis goes back to the first checkpoint: a replica that never got the second */
    size_t dlen = 0;
    const char *dbytes = cm_redis_reply_str(before, &dlen);
    const char *restore[] = {"RESTORE", f.hash, "0", dbytes, "REPLACE"};
    size_t lens[] = {7, strlen(f.hash), 1, dlen, 7};
    struct cm_redis_reply *rep = command(f.r, 5, restore, lens);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS, "%s", cm_redis_reply_str(rep, NULL));
    cm_redis_reply_free(rep);
    cm_redis_reply_free(before);
    cr_assert_not(holds_key(f.r, f.hash, "c"), "c's state went with the lost write");

    feed(f.e, "d"); /* (c unchanged: the next increment does not hold it) */
    cr_assert_eq(checkpoint(f.r, f.e), PROC_CKPT_LOST, "the lost write is told");
    cr_assert_lt(load(f.r, f.d, &offset), 0, "a hash missing a write is refused");
    cr_assert_eq(query(f.r, f.d), CM_E_UNAVAIL, "and not answered from");
    feed(f.e, "e");
    cr_assert_eq(checkpoint(f.r, f.e), PROC_CKPT_LOST, "still told, until a full one");
    cr_assert_lt(load(f.r, f.d, &offset), 0);

    /* as the processor does after a lost checkpoint: the next one is full */
    proc_ckpt_whole_next(f.e);
    cr_assert_eq(checkpoint(f.r, f.e), 0);
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 5);
    cr_assert(holds_key(f.r, f.hash, "c"));
    cr_assert_eq(query(f.r, f.d), 0);
    feed(f.e, "f");
    cr_assert_eq(checkpoint(f.r, f.e), 0, "and increments follow on again");
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 6);

    fix_free(&f);
}

/* A checkpoint an earlier build wrote (no numbers) is loaded, and increments follow on it. */
Test(proc_ckpt_redis, a_checkpoint_without_numbers_is_followed_on)
{
    struct fix f = fix_new("ckpt-old");
    feed(f.e, "a");
    cr_assert_eq(checkpoint(f.r, f.e), 0);
    const char *hdel[] = {"HDEL", f.hash, "seq", "wseq"};
    struct cm_redis_reply *rep = command(f.r, 4, hdel, NULL);
    cr_assert_eq(cm_redis_reply_integer(rep), 2);
    cm_redis_reply_free(rep);

    struct proc_engine *back = proc_engine_new(f.d, &proc_test_drop_out, NULL);
    proc_engine_track_changes(back);
    int64_t offset = -1;
    cr_assert_eq(proc_ckpt_load(f.r, back, 0, 0, &offset), 1);
    cr_assert_eq(offset, 1);
    feed(back, "b");
    cr_assert_eq(checkpoint(f.r, back), 0, "an increment on it");
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 2);
    cr_assert(holds_key(f.r, f.hash, "a") && holds_key(f.r, f.hash, "b"));
    cr_assert_eq(query(f.r, f.d), 0, "a checkpoint without numbers is answered from");

    proc_engine_free(back);
    fix_free(&f);
}

static char *hget(struct cm_redis *r, const char *hash, const char *field)
{
    const char *argv[] = {"HGET", hash, field};
    struct cm_redis_reply *rep = command(r, 3, argv, NULL);
    const char *v = cm_redis_reply_str(rep, NULL);
    char *copy = v ? cm_xstrdup(v) : NULL;
    cm_redis_reply_free(rep);
    return copy;
}

/* Two instances, one partition: A holds it and checkpoints it; then B is given it (A paused past
 * the session timeout), claims it and loads A's checkpoint. A, waking up with its own state, goes
 * on checkpointing: every write of it is refused whole, Redis keeps what B loaded, and B's
 * increments follow on. Before the fencing, A's writes went in and B's next checkpoint found a
 * hash it had not written (told as a lost write at best, a mix of both states at worst). */
Test(proc_ckpt_redis, a_zombie_is_fenced)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_URL"));
    cr_assert_not_null(r);
    char name[64], def[512];
    it_unique(name, sizeof(name), "ckpt-fence");
    snprintf(def, sizeof(def), DEF, name);
    struct proc_def *d = proc_test_def(def);
    char *hash = proc_ckpt_key(d, 0);
    int64_t offset;

    /* a partition claimed but never checkpointed: nothing to load, nothing refused */
    cr_assert_eq(proc_ckpt_claim(r, d, 0, "A"), 0);
    cr_assert_eq(load(r, d, &offset), 0, "a hash holding only its owner holds no checkpoint");

    struct proc_engine *a = proc_engine_new(d, &proc_test_drop_out, NULL);
    proc_engine_track_changes(a);
    next_offset = 0;
    feed(a, "a");
    feed(a, "b");
    cr_assert_eq(checkpoint_as(r, a, "A"), 0, "the owner writes");

    struct proc_engine *b = proc_engine_new(d, &proc_test_drop_out, NULL);
    proc_engine_track_changes(b);
    cr_assert_eq(proc_ckpt_claim(r, d, 0, "B"), 0);
    cr_assert_eq(proc_ckpt_load(r, b, 0, 0, &offset), 1, "the new owner loads A's checkpoint");
    cr_assert_eq(offset, 2);

    feed(a, "c");
    cr_assert_eq(checkpoint_as(r, a, "A"), PROC_CKPT_FENCED, "the zombie's increment is refused");
    cr_assert_not(holds_key(r, hash, "c"));
    char *off = hget(r, hash, "offset");
    cr_assert_str_eq(off, "2", "Redis keeps the checkpoint B loaded");
    free(off);
    proc_ckpt_whole_next(a);
    cr_assert_eq(checkpoint_as(r, a, "A"), PROC_CKPT_FENCED, "and its whole one");
    cr_assert(holds_key(r, hash, "a") && holds_key(r, hash, "b") && !holds_key(r, hash, "c"));
    char *owner = hget(r, hash, "owner");
    cr_assert_str_eq(owner, "B");
    free(owner);

    next_offset = 2; /* B goes on from the checkpoint */
    feed(b, "d");
    cr_assert_eq(checkpoint_as(r, b, "B"), 0, "the new owner's increment follows on");
    cr_assert_eq(load(r, d, &offset), 1);
    cr_assert_eq(offset, 3);
    cr_assert(holds_key(r, hash, "d") && !holds_key(r, hash, "c"));
    proc_ckpt_whole_next(b);
    cr_assert_eq(checkpoint_as(r, b, "B"), 0, "and its whole one");
    owner = hget(r, hash, "owner");
    cr_assert_str_eq(owner, "B", "a whole checkpoint keeps its owner");
    free(owner);
    cr_assert_eq(load(r, d, &offset), 1);

    /* Redis loses the hash: it names no owner, so the zombie's whole write goes in, but does not
     * make the hash its own; the next claim (at the rebalance that follows) fences it again */
    const char *del[] = {"DEL", hash};
    cm_redis_reply_free(command(r, 2, del, NULL));
    proc_ckpt_whole_next(a); /* (as the daemon does after a refused write) */
    cr_assert_eq(checkpoint_as(r, a, "A"), 0);
    cr_assert_null(hget(r, hash, "owner"), "only a claim names an owner");
    cr_assert_eq(proc_ckpt_claim(r, d, 0, "B"), 0);
    feed(a, "e");
    cr_assert_eq(checkpoint_as(r, a, "A"), PROC_CKPT_FENCED);

    cr_assert_eq(proc_ckpt_drop(r, b), 0);
    free(hash);
    proc_engine_free(a);
    proc_engine_free(b);
    proc_def_free(d);
    cm_redis_free(r);
}

/* A write that timed out on the client but went in is sent again (the stream retries the same
 * snapshot until it is written): it must not count as two, which took it for a lost write (a
 * Redis that stalled for a few seconds was then told as "a replica promoted", and the next
 * checkpoint written whole). */
Test(proc_ckpt_redis, a_write_sent_again_is_not_counted_twice)
{
    struct fix f = fix_new("ckpt-again");
    int64_t offset;
    cr_assert_eq(proc_ckpt_claim(f.r, f.d, 0, "me"), 0);
    feed(f.e, "a");
    cr_assert_eq(checkpoint_as(f.r, f.e, "me"), 0, "the first, full");
    feed(f.e, "b");
    struct proc_ckpt_snap *snap = NULL;
    proc_ckpt_snapshot(f.e, position, NULL, "me", &snap);
    cr_assert_eq(proc_ckpt_write(f.r, snap), 0, "the increment");
    cr_assert_eq(proc_ckpt_write(f.r, snap), 0, "the same increment again");
    cr_assert_eq(proc_ckpt_write(f.r, snap), 0, "and again");
    proc_ckpt_snap_free(snap);
    char *seq = hget(f.r, f.hash, "seq"), *wseq = hget(f.r, f.hash, "wseq");
    cr_assert_str_eq(seq, wseq, "counted once");
    free(seq);
    free(wseq);
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 2);
    feed(f.e, "c");
    cr_assert_eq(checkpoint_as(f.r, f.e, "me"), 0, "the next increment follows on");
    cr_assert_eq(load(f.r, f.d, &offset), 1);
    cr_assert_eq(offset, 3);
    cr_assert(holds_key(f.r, f.hash, "a") && holds_key(f.r, f.hash, "b") &&
              holds_key(f.r, f.hash, "c"));

    fix_free(&f);
}
