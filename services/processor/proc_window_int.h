/* proc_window_int: the window state's structures, shared by proc_window.c (the logic),
 * proc_session.c (sessions), proc_ijoin.c (interval joins), proc_window_ckpt.c (its checkpoint
 * form) and proc_window_peek.c (queries). Not for other files. */
#ifndef PROC_WINDOW_INT_H
#define PROC_WINDOW_INT_H

#include "proc_window.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NONE INT64_MIN

struct pane {
    int64_t start;
    int64_t min_offset;
    struct proc_acc *acc;
    char tp[PROC_TRACEPARENT_MAX];
};

struct session {
    int64_t start, end;
    int64_t min_offset;
    struct proc_acc *acc;
    unsigned next_rev;
    int pending; /* changed since last emitted */
    int early;   /* fired early (and not changed since): its final result is still due */
    int out;     /* a result of exactly [start, end) went out, revision next_rev - 1: what a
                  * retraction withdraws (in checkpoints with the definition's retract only) */
    char tp[PROC_TRACEPARENT_MAX];
};

/* An interval join's buffered event: kept until the watermark shows no event can pair with it. */
struct jentry {
    int64_t time, offset;
    json_t *ev; /* {"id": ..., "data": ...} (owned) */
    int side;   /* PROC_LEFT or PROC_RIGHT */
    int matched;
    char tp[PROC_TRACEPARENT_MAX];
};

struct rev {
    int64_t start;
    unsigned next;
    uint64_t events; /* the window's events when it last fired (early firings) */
};

struct kstate {
    struct kstate *next_in_bucket;
    char *tenant, *key; /* one allocation: tenant\0key\0 */
    uint64_t hash, seq;
    struct pane *panes;
    size_t npanes, cappanes;
    struct session *sess;
    size_t nsess, capsess;
    struct rev *revs;
    size_t nrevs, caprevs;
    struct jentry *jent; /* interval join: in arrival order */
    size_t njent, capjent;
    int64_t next_start;
    int64_t early_at; /* the watermark of the next early firing of its changed windows; NONE */
    int64_t timer;    /* time of the valid heap entry; INT64_MAX: none */
    int refs;         /* heap entries pointing here */
    int dead;         /* removed from the table */
    int dirty;        /* changed since the last checkpoint (then on the changes list) */
    struct proc_seen *seen; /* deduplication: the ids it took (proc_dedup.c); NULL: none */
};

struct timer {
    int64_t time;
    uint64_t seq;
    struct kstate *k;
};

struct proc_windows {
    const struct proc_def *d;
    struct kstate **buckets;
    size_t nbuckets, nkeys;
    size_t max_keys;       /* PROC_KEY_CREATE adds none past it (0: no bound) */
    size_t max_per_tenant; /* nor past this many of one tenant (0: no bound) */
    enum { REFUSED_KEYS, REFUSED_TENANT, REFUSED_EVENTS } refused_by; /* the last refusal's bound */
    struct tenant_keys **tbuckets; /* keys per tenant (proc_window_tenants.c), with the bound */
    size_t ntbuckets, ntenants;
    uint64_t seq;
    struct timer *heap;
    size_t nheap, capheap;
    int keep_revs;           /* revisions matter: allowed lateness or emit update */
    int track;               /* changes are tracked for checkpoints */
    int full;                /* the next checkpoint replaces the stored state whole */
    long long ckpt_seq;      /* the number of the last checkpoint taken (proc_windows_next_seq) */
    int64_t from, until;     /* only windows starting in [from, until) (a version's share) */
    int64_t done;            /* windows finished by this watermark are not emitted again */
    int stopped;             /* proc_windows_stop: advancing fires nothing more */
    struct kstate **changed; /* each holds a reference (refs) until the next checkpoint */
    struct kstate *added;    /* the key the last proc_windows_add windowed its event under */
    size_t nchanged, capchanged;
};

static inline int64_t proc_sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* The revision the next result of k's window `start` gets. */
unsigned proc_window_revision(const struct kstate *k, int64_t start);
/* The events k's window `start` held when it last fired, with early firings (0: never). */
uint64_t proc_window_fired_events(const struct kstate *k, int64_t start);
/* Calls fn(w, k, s, lo, ud) for each window start s of k (tumbling, hopping) that holds panes, in
 * order (lo: the index of its first pane), until fn returns 0. fn may emit (revisions change)
 * but not add or drop panes. */
typedef int (*proc_window_each_fn)(struct proc_windows *w, struct kstate *k, int64_t s, size_t lo,
                                   void *ud);
void proc_window_each(struct proc_windows *w, struct kstate *k, proc_window_each_fn fn, void *ud);

/* ---- the ids a key took, when the pipeline deduplicates (proc_dedup.c) ---- */
struct proc_seen;
struct cm_jw;
void proc_seen_free(struct proc_seen *s);
size_t proc_seen_count(const struct proc_seen *s);
/* A key's ids are checkpointed in its state ("d") while it holds at most PROC_DEDUP_INLINE_MAX;
 * past that in blocks, each a field of its own: block 0 holds all of them as they were when last
 * written whole, each later block the ids taken since the checkpoint before (a checkpoint then
 * writes the ids new since the last, not all of them), until the later blocks would hold more
 * than block 0 (a block's field counted as 8 ids) or the table was rebuilt: then block 0 again
 * holds all, the later blocks are removed. Back in the key's state at a quarter of the bound. */
/* What a key's checkpoint writes of its ids: "d" in its state, or "db": blocks; then block
 * `write` (-1: none) with all of its ids (whole) or those taken since the last checkpoint, and
 * blocks [drop_from, drop_to) removed. */
struct proc_seen_plan {
    int inline_ids;
    unsigned blocks;
    int write, whole;
    unsigned drop_from, drop_to;
};
/* Decides k's next checkpoint of its ids (full: the hash is replaced whole, holding none of its
 * blocks) and takes it as written; proc_seen_written afterwards forgets the ids taken since. */
void proc_seen_plan(struct kstate *k, int full, struct proc_seen_plan *p);
void proc_seen_written(struct kstate *k);
/* The blocks Redis holds of k's ids (0: none, in its state). */
unsigned proc_seen_blocks(const struct kstate *k);
/* k's ids as [[id, time], ...] (whole: all of them, else those taken since the last checkpoint);
 * restored into k of w (CM_E_INVAL when malformed). */
void proc_seen_write(const struct kstate *k, int whole, struct cm_jw *w);
int proc_seen_restore(const struct proc_windows *w, struct kstate *k, const json_t *ids);
/* Restoring blocks: the number the key's state names ("db"), then each block, then a check that
 * each block was read (CM_E_INVAL otherwise). */
int proc_seen_restore_blocks(struct kstate *k, long long blocks);
int proc_seen_restore_block(const struct proc_windows *w, struct kstate *k, unsigned block,
                            const json_t *ids);
int proc_seen_restored(struct kstate *k);

/* ---- keys per tenant (proc_window_tenants.c), kept when max_per_tenant is set ---- */
struct tenant_keys;
size_t proc_window_tenant_keys(struct proc_windows *w, const char *tenant);
/* A key of tenant made (delta 1) or dropped (-1). */
void proc_window_tenant_add(struct proc_windows *w, const char *tenant, int delta);
void proc_window_tenants_free(struct proc_windows *w);

/* Marks k changed since the last checkpoint (when changes are tracked). */
void proc_window_touch(struct proc_windows *w, struct kstate *k);
/* Frees a key's state (not its table link). */
void proc_window_free_key(struct kstate *k);
/* The key of (tenant, key); when absent, created by PROC_KEY_CREATE unless the state holds
 * max_keys keys already, or max_per_tenant of tenant's, and by PROC_KEY_RESTORE whatever it
 * holds; NULL otherwise. */
enum proc_key_mode { PROC_KEY_FIND, PROC_KEY_CREATE, PROC_KEY_RESTORE };
struct kstate *proc_window_key(struct proc_windows *w, const char *tenant, const char *key,
                               enum proc_key_mode mode);
/* Schedules k's next timer. */
void proc_window_schedule(struct proc_windows *w, struct kstate *k);
/* Unlinks k when it holds nothing; freed now or when its last timer goes. */
void proc_window_drop_if_empty(struct proc_windows *w, struct kstate *k);

/* Copies a traceparent (NULL: none) into a pane's or session's slot. */
void proc_window_copy_tp(char *dst, const char *tp);
/* Adds an event (or its aggregates' arguments, when args is set) at time t to acc. */
void proc_window_acc_add(struct proc_acc *acc, const json_t *ev, const json_t *args, int64_t t,
                         size_t *errors);
/* Early firings' grid: the last point at or before wm, and the first point after wm. */
int64_t proc_early_last(const struct proc_def *d, int64_t wm);
int64_t proc_early_next(const struct proc_def *d, int64_t wm);
/* k changed while the watermark was wm, in a window still open: it asks for the next point. */
void proc_window_want_early(struct proc_windows *w, struct kstate *k, int64_t wm);

/* ---- sessions (proc_session.c) ---- */
enum proc_add proc_session_add(struct proc_windows *w, const char *tenant, const char *key,
                               int64_t t, const json_t *ev, const json_t *args, const char *tp,
                               int64_t offset, int64_t wm, proc_window_emit_fn emit, void *ud,
                               size_t *errors);
size_t proc_session_advance(struct proc_windows *w, struct kstate *k, int64_t wm,
                            proc_window_emit_fn emit, void *ud);
int64_t proc_session_next_time(const struct proc_windows *w, const struct kstate *k);

/* ---- interval joins (proc_ijoin.c) ---- */
enum proc_add proc_ijoin_add(struct proc_windows *w, const char *tenant, const char *key, int64_t t,
                             const json_t *ev, const char *tp, int64_t offset, int64_t wm,
                             proc_window_emit_fn emit, void *ud);
/* Drops k's entries that no event can pair with any more (emitting unmatched lefts of an outer
 * join). Returns the number of results emitted. */
size_t proc_ijoin_advance(struct proc_windows *w, struct kstate *k, int64_t wm,
                          proc_window_emit_fn emit, void *ud);
/* The watermark at which k's next entry expires (INT64_MAX: none). */
int64_t proc_ijoin_next_time(const struct proc_windows *w, const struct kstate *k);
void proc_ijoin_free_entries(struct kstate *k);
/* Checkpoint form of k's entries: [[side, time, offset, matched, traceparent, event], ...]. */
struct cm_jw;
void proc_ijoin_write_state(const struct kstate *k, struct cm_jw *w);
int proc_ijoin_restore(struct kstate *k, const json_t *entries);

#endif
