/* proc_host_state: the stream hooks of the processor's partitions and their window state: which
 * pipeline versions hold state on a partition, the offsets that may be committed and the
 * event-time horizon committed with them, checkpoints (snapshots written to Redis, loaded on
 * assignment), revocation and a log found replaced. */
#include "proc_host_int.h"

#include "proc_ckpt.h"
#include "proc_def.h"
#include "proc_engine.h"
#include "proc_horizon.h"
#include "proc_window.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/stream.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* The source id of (topic, partition) in pipeline k, or -1 when it does not hold state. */
static int32_t state_source(const struct proc_def *d, const char *topic, int32_t partition)
{
    if (d->window == PROC_WIN_NONE) {
        return -1;
    }
    if (d->repartition) {
        return strcmp(topic, d->repartition_topic) == 0 ? partition : -1;
    }
    int idx = proc_host_input_index(d, topic);
    return idx < 0 ? -1 : idx * 65536 + partition;
}

static int64_t committable(struct cm_stream *s, const char *topic, int32_t partition, int64_t next,
                           void *ud)
{
    (void)s;
    struct proc_host *h = ud;
    int64_t off = next;
    for (size_t k = 0; k < h->n; k++) {
        int32_t src = state_source(h->p[k].def, topic, partition);
        int64_t min = src < 0 ? -1 : proc_engine_min_offset(h->p[k].engine, src);
        if (min >= 0 && min < off) {
            off = min;
        }
    }
    return off;
}

static void on_revoke(struct cm_stream *s, const struct cm_kafka_partition *parts, size_t n,
                      void *ud)
{
    (void)s;
    struct proc_host *h = ud;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < h->n; k++) {
            const struct proc_def *d = h->p[k].def;
            int32_t src = state_source(d, parts[i].topic, parts[i].partition);
            if (src >= 0) {
                proc_engine_drop_source(h->p[k].engine, src);
            }
            int idx = d->repartition ? proc_host_input_index(d, parts[i].topic) : -1;
            if (idx >= 0) {
                proc_engine_drop_origin(h->p[k].engine, idx * 65536 + parts[i].partition);
            }
        }
    }
}

/* A partition's log is behind the position it resumed from (cm_stream.h): its records are new to
 * every pipeline holding state from it. (A first stage's input partition replaced alone would
 * also need its second stages to forget that origin's marks; when the broker is replaced, as the
 * local stack's is on every start, the repartition partitions are replaced too.) */
static void on_rewind(struct cm_stream *s, const char *topic, int32_t partition, int64_t resumed,
                      int64_t first, void *ud)
{
    (void)resumed;
    struct proc_host *h = ud;
    h->cur = s;
    for (size_t k = 0; k < h->n; k++) {
        int32_t src = state_source(h->p[k].def, topic, partition);
        if (src >= 0) {
            proc_engine_rewind_source(h->p[k].engine, src, first);
        }
    }
}

/* ---- checkpoints ---- */

/* Kafka offset metadata of a partition's commit: the horizon of every pipeline version holding
 * window state on it (proc_horizon.h), for a recompute after Redis lost the checkpoints. */
static char *commit_metadata(struct cm_stream *s, const char *topic, int32_t partition,
                             int64_t offset, void *ud)
{
    (void)offset;
    struct proc_host *h = ud;
    struct proc_horizon_text t = {.len = 0};
    for (size_t k = 0; k < h->n; k++) {
        int32_t src = state_source(h->p[k].def, topic, partition);
        int64_t pos = src < 0 ? -1 : cm_stream_position(s, topic, partition);
        int64_t wm = src < 0 ? INT64_MIN : proc_engine_horizon(h->p[k].engine, src, &pos);
        if (wm == INT64_MIN || pos < 0) {
            continue;
        }
        char key[PROC_HORIZON_KEY_MAX];
        proc_horizon_key(key, sizeof(key), h->p[k].def->name, h->p[k].def->version,
                         h->p[k].def->digest);
        if (proc_horizon_add(&t, key, pos, wm) != 0 && !h->horizon_full_logged) {
            h->horizon_full_logged = 1;
            CM_LOG_WARN("horizon_left_out",
                        "%s [%d]: more pipelines hold state on it than Kafka's offset metadata "
                        "has room for; %s is recomputed without its horizon if Redis loses its "
                        "checkpoint",
                        topic, partition, h->p[k].def->name);
        }
    }
    return t.len ? cm_xstrdup(t.text) : NULL;
}

/* A partition resumes from its committed offset: every windowed pipeline version without a
 * checkpoint for it takes its horizon from the commit's metadata. */
static void on_committed(struct cm_stream *s, const char *topic, int32_t partition, int64_t offset,
                         const char *metadata, void *ud)
{
    (void)s;
    struct proc_host *h = ud;
    int64_t now = cm_monotonic_ms();
    for (size_t k = 0; metadata && k < h->n; k++) {
        const struct proc_def *d = h->p[k].def;
        int32_t src = state_source(d, topic, partition);
        int64_t pos, wm;
        if (src < 0 || proc_engine_has_source(h->p[k].engine, src)) {
            continue; /* (restored from its checkpoint) */
        }
        char key[PROC_HORIZON_KEY_MAX];
        proc_horizon_key(key, sizeof(key), d->name, d->version, d->digest);
        int rc = proc_horizon_find(metadata, key, &pos, &wm); /* (none of another definition) */
        if (rc < 0) {
            CM_LOG_WARN("horizon_unreadable",
                        "%s [%d]: the committed offset's metadata is not a horizon; %s is "
                        "recomputed without one",
                        topic, partition, d->name);
            return;
        }
        if (rc == 1) {
            proc_engine_restore_horizon(h->p[k].engine, src, pos, wm, now);
            CM_LOG_INFO("horizon_restored",
                        "%s [%d]: %s v%lld recomputed from offset %lld without a checkpoint; "
                        "windows finished by watermark %lld (position %lld) are not emitted again",
                        topic, partition, d->name, d->version, (long long)offset, (long long)wm,
                        (long long)pos);
        }
    }
}

struct pos_ctx {
    struct proc_host *h;
    const struct proc_def *d;
};

/* The stream position of a pipeline's source (see state_source). */
static int64_t position(int32_t source, void *ud)
{
    struct pos_ctx *c = ud;
    if (c->d->repartition) {
        return cm_stream_position(c->h->stream, c->d->repartition_topic, source);
    }
    return cm_stream_position(c->h->stream, c->d->topics[source / 65536], source % 65536);
}

/* Claims the checkpoint hash of every windowed pipeline's source on a partition (fencing,
 * proc_ckpt_claim); a claim Redis did not take leaves claim_pending set. */
static void claim_partition(struct proc_host *h, const char *topic, int32_t partition)
{
    for (size_t k = 0; k < h->n; k++) {
        int32_t src = state_source(h->p[k].def, topic, partition);
        if (src >= 0 && proc_ckpt_claim(h->redis, h->p[k].def, src, h->owner) != 0) {
            h->claim_pending = 1;
        }
    }
}

static void claim_one(const char *topic, int32_t partition, void *ud)
{
    claim_partition(ud, topic, partition);
}

/* A commit point's checkpoint: the changes of every windowed pipeline (all of their state after
 * Redis lost a checkpoint). */
static void *snapshot(struct cm_stream *s, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    if (h->claim_pending) { /* until the claims are in, the old owner's token refuses our writes */
        h->claim_pending = 0;
        cm_stream_each_partition(s, claim_one, h);
    }
    int whole = atomic_exchange(&h->ckpt_lost, 0);
    struct proc_ckpt_snap *snap = NULL;
    for (size_t k = 0; k < h->n; k++) {
        if (h->p[k].def->window == PROC_WIN_NONE) {
            continue;
        }
        if (whole) {
            proc_ckpt_whole_next(h->p[k].engine);
        }
        struct pos_ctx c = {h, h->p[k].def};
        proc_ckpt_snapshot(h->p[k].engine, position, &c, h->owner, &snap);
    }
    return snap;
}

static int persist(void *snap, void *ud)
{
    struct proc_host *h = ud;
    int rc = proc_ckpt_write(h->ckpt_redis, snap);
    if (rc > 0) { /* PROC_CKPT_LOST, PROC_CKPT_FENCED */
        atomic_store(&h->ckpt_lost, 1);
        return CM_STREAM_NOT_DURABLE;
    }
    return rc;
}

static void release(void *snap, void *ud)
{
    (void)ud;
    proc_ckpt_snap_free(snap);
}

void proc_host_track_partition(const struct proc_def *d, struct proc_engine *e, const char *topic,
                               int32_t partition, int64_t now_ms)
{
    int idx = d->window != PROC_WIN_NONE ? proc_host_input_index(d, topic) : -1;
    if (idx >= 0 && d->repartition) {
        proc_engine_add_origin(e, idx * 65536 + partition, now_ms);
    } else if (idx >= 0) {
        proc_engine_expect_source(e, idx * 65536 + partition, now_ms);
    }
}

struct track_ctx {
    const struct proc_def *d;
    struct proc_engine *e;
    int64_t now_ms;
};

static void track_one(const char *topic, int32_t partition, void *ud)
{
    struct track_ctx *c = ud;
    proc_host_track_partition(c->d, c->e, topic, partition, c->now_ms);
}

void proc_host_track_assigned(struct proc_host *h, const struct proc_def *d, struct proc_engine *e)
{
    if (h->stream) {
        struct track_ctx c = {d, e, cm_monotonic_ms()};
        cm_stream_each_partition(h->stream, track_one, &c);
    }
}

/* Loads the checkpoints of the assigned partitions; a partition resumes from the lowest of its
 * pipelines' checkpoints when every stateful pipeline reading it has one (each then skips what
 * its own state covers), else from the group's committed offset (state recomputed). */
/* Whether the broker's log of a partition ends before `furthest`, the furthest position a
 * version's checkpoint resumes from: the topic was created anew or the broker lost its data (a
 * development broker started again). Then every version's position there is of the old log:
 * each is rewound (what it holds stays; the log's records are read as new) and the stream told.
 * The stream notes it alone when every version resumes from its checkpoint (the first record
 * comes before that position); not when one version has none and the partition starts from
 * the group's offset, where a version whose position lay past the new log's end would skip the
 * records below it as if it held them. */
static int log_behind(struct proc_host *h, struct cm_stream *s,
                      const struct cm_kafka_partition *part, int64_t furthest)
{
    int64_t end;
    if (cm_stream_log_end(s, part->topic, part->partition, &end) != 0 || end >= furthest) {
        return 0; /* (not known: the stream's own check stays) */
    }
    cm_stream_note_rewound(s, part->topic, part->partition, furthest, 0);
    for (size_t k = 0; k < h->n; k++) {
        int32_t src = state_source(h->p[k].def, part->topic, part->partition);
        if (src >= 0) {
            proc_engine_rewind_source(h->p[k].engine, src, 0);
        }
    }
    return 1;
}

static void on_assign(struct cm_stream *s, struct cm_kafka_partition *parts, size_t n, void *ud)
{
    struct proc_host *h = ud;
    h->cur = s;
    int64_t now = cm_monotonic_ms();
    /* a new token for this assignment: a write of the one before, from a partition this instance
     * lost while paused and now holds again, must not pass for this one's */
    cm_uuid_v7(h->owner);
    h->claim_pending = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < h->n; k++) {
            proc_host_track_partition(h->p[k].def, h->p[k].engine, parts[i].topic,
                                      parts[i].partition, now);
        }
        if (!h->redis) {
            continue;
        }
        /* claimed before loaded: what a zombie wrote before the claim is loaded, nothing after */
        claim_partition(h, parts[i].topic, parts[i].partition);
        int64_t start = INT64_MAX, furthest = -1;
        int all = 1, any = 0;
        for (size_t k = 0; k < h->n; k++) {
            int32_t src = state_source(h->p[k].def, parts[i].topic, parts[i].partition);
            if (src < 0) {
                continue;
            }
            int64_t off;
            if (proc_ckpt_load(h->redis, h->p[k].engine, src, now, &off) == 1) {
                any = 1;
                start = off < start ? off : start;
                furthest = off > furthest ? off : furthest;
            } else {
                all = 0;
            }
        }
        if (furthest > 0 && log_behind(h, s, &parts[i], furthest)) {
            continue; /* read from the group's committed offset, or the log's start */
        }
        if (any && all) {
            parts[i].offset = start;
        }
    }
    for (size_t k = 0; k < h->n;
         k++) { /* an input topic may have grown: asked before the next batch */
        h->p[k].origins_known = 0;
        h->p[k].relearn = 1;
    }
}

void proc_host_state_hooks(struct proc_host *h, struct cm_stream_handler *hd)
{
    hd->on_assign = on_assign;
    hd->on_revoke = on_revoke;
    hd->on_rewind = on_rewind;
    hd->committable = committable;
    hd->commit_metadata = commit_metadata;
    hd->on_committed = on_committed;
    hd->snapshot = h->redis ? snapshot : NULL;
    hd->persist = persist;
    hd->release = release;
}
