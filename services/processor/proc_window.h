/* proc_window: the keyed event-time window state of one pipeline over one input partition
 * (state moves with its partition). Windows are [start, end), aligned to the epoch.
 *  - tumbling and hopping windows are computed from panes of gcd(size, slide): an event updates
 *    one pane, a window is the monoid merge of its panes, so the cost per event does not grow
 *    with size / slide;
 *  - session windows merge when they touch ([a, b) and [b, c) become [a, c)).
 * Per Flink: a window fires when the watermark reaches end - 1 (emit final), or on every change
 * (emit update); it is expired when the watermark reaches end - 1 + allowed lateness, and its
 * state is dropped then. An event whose windows are all expired is late. A late event for a
 * window that fired but has not expired fires it again at once with the full result and the
 * next revision. Results of a key come in window order; keys fire in timer order (time, then
 * first appearance), so a replay of the same input gives the same output in the same order.
 * An interval join (window PROC_WIN_JOIN) keeps each key's events instead, pairing a left and a
 * right event when right.time - left.time lies in [lower, upper] (proc_ijoin.c).
 * Single-threaded (the stream's thread). */
#ifndef PROC_WINDOW_H
#define PROC_WINDOW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct proc_def;
struct proc_acc;
struct proc_windows;

#define PROC_TRACEPARENT_MAX 56

/* When a window's result went out, as Beam's PaneInfo.Timing says of a pane: before the
 * watermark passed the window's end (an early result, or an update of emit: update), as it
 * passed (the final result), or after (a late firing). NONE: not a window's result. */
enum proc_timing { PROC_TIMING_NONE, PROC_TIMING_EARLY, PROC_TIMING_ON_TIME, PROC_TIMING_LATE };

/* Its name in a result's `timing` attribute ("early", "on_time", "late"; NULL for NONE). */
const char *proc_timing_name(enum proc_timing t);

struct proc_window_result {
    const char *tenant; /* "" when none */
    const char *key;
    int64_t start_ms, end_ms;
    unsigned revision;
    enum proc_timing timing;
    const struct proc_acc *acc; /* borrowed for the callback */
    const char *traceparent;    /* of the latest event in it; "" when none */
    /* An interval join's pair instead: each side's {"id", "data"} (right NULL for an unmatched
     * left of an outer join); start_ms = end_ms = the pair's time (the later of the two). */
    const json_t *left, *right;
    /* A retraction instead (a session window's `retract`): the result that went out for the
     * session [start_ms, end_ms) at `revision` is withdrawn, the session having become
     * [by_start_ms, by_end_ms) (acc NULL). */
    int retraction;
    int64_t by_start_ms, by_end_ms;
};

/* Returns 1 when the result was emitted, 0 when it was held back (`having`): only an emitted
 * result takes up a revision. */
typedef int (*proc_window_emit_fn)(const struct proc_window_result *r, void *ud);

/* PROC_SKIPPED: the event's windows all lie outside the bounds (another version's share).
 * PROC_REFUSED: its key holds no state and the state holds max_keys keys already, or
 * max_keys_per_tenant of its tenant's; or, in an interval join, the event would be kept and its
 * key keeps max_events_per_key events already (nothing changed, nothing emitted). */
enum proc_add { PROC_ADDED, PROC_LATE, PROC_SKIPPED, PROC_REFUSED };

/* d borrowed (its window is not PROC_WIN_NONE). Caller frees with proc_windows_free. */
struct proc_windows *proc_windows_new(const struct proc_def *d);
void proc_windows_free(struct proc_windows *w);

/* Adds event ev (borrowed) at event time t under (tenant, key), read at Kafka offset `offset`,
 * given the current watermark wm; with args (proc_acc_args of the event; not for interval
 * joins, which keep events), ev is not read and may be NULL. Emits at once what emit update or a
 * late firing requires. Aggregate values that fail are counted in *errors. */
enum proc_add proc_windows_add(struct proc_windows *w, const char *tenant, const char *key,
                               int64_t t, const json_t *ev, const json_t *args,
                               const char *traceparent, int64_t offset, int64_t wm,
                               proc_window_emit_fn emit, void *ud, size_t *errors);
/* Fires every pending window with end - 1 <= wm (emit final) and drops what expired at wm.
 * Returns the number of results emitted. */
size_t proc_windows_advance(struct proc_windows *w, int64_t wm, proc_window_emit_fn emit, void *ud);
/* Limits the windows to those starting in [from, until) (sessions: to events in it), when a
 * pipeline's versions share the time line around a swap: the old version keeps the windows
 * that start before the cut-over, the new one takes those from it on. Default: all. */
void proc_windows_set_bounds(struct proc_windows *w, int64_t from, int64_t until);
/* Windows (sessions, an outer join's unmatched left events) that the watermark `done` had
 * finished, their lateness included, are not emitted again: after the state was lost, the
 * records recomputed hold only part of them. INT64_MIN (the default): none. w may be NULL. */
void proc_windows_set_done(struct proc_windows *w, int64_t done);
/* Fires nothing more: an advance under way stops after the key it is at (for a caller that has
 * all the outputs it can take, as the dry run; the state is then only fit to be freed). */
void proc_windows_stop(struct proc_windows *w);
/* Calls fn for each window of (tenant, key) that holds events and has not expired at wm, in
 * window order, with its current values, changing nothing (a query's view): open tells whether
 * the watermark wm is still before its end - 1; r->revision is the revision of the result that
 * holds these values: the last one that went out (emit update, or a window that fired), else the
 * one its first result will carry. fn returns 0 to stop there. Only windows holding events are
 * visited, however far apart their panes lie. An interval join's state is events, not windows:
 * none. Returns the number of windows given. */
typedef int (*proc_window_peek_fn)(const struct proc_window_result *r, int open, void *ud);
size_t proc_windows_peek(struct proc_windows *w, const char *tenant, const char *key, int64_t wm,
                         proc_window_peek_fn fn, void *ud);
/* Keys with state. */
size_t proc_windows_keys(const struct proc_windows *w);
/* The most keys an event may add state for (the definition's max_keys; 0: no bound); also at
 * most max_keys_per_tenant keys of one tenant. Keys restored from a checkpoint are all kept,
 * past either too. */
size_t proc_windows_max_keys(const struct proc_windows *w);
/* After PROC_REFUSED: why, naming the bound ("max_keys: ...", "max_keys_per_tenant: ...",
 * "interval_join.max_events_per_key: ..."), written to why (len bytes). */
void proc_windows_refusal(const struct proc_windows *w, char *why, size_t len);
/* Lowest Kafka offset still held in state, or -1 when none. */
int64_t proc_windows_min_offset(const struct proc_windows *w);

/* ---- deduplication (proc_dedup.c), for a definition's `deduplicate` ----
 * A key keeps the id of each event it took while a live window of it holds the event; a repeat
 * of such an id is a duplicate. Ids are strings of at most PROC_DEDUP_ID_MAX - 1 bytes, kept per
 * (tenant, key) and checkpointed with the key. */
#define PROC_DEDUP_ID_MAX 1024
/* a key keeping more ids than this checkpoints them in blocks of fields of their own (see
 * proc_windows_changes), at most PROC_DEDUP_BLOCKS_MAX */
#define PROC_DEDUP_INLINE_MAX 64
#define PROC_DEDUP_BLOCKS_MAX 0x7fffffff
/* 1 when (tenant, key) keeps id and a window of it that has not expired at wm holds its event. */
int proc_windows_seen(struct proc_windows *w, const char *tenant, const char *key, const char *id,
                      int64_t wm);
/* After proc_windows_add took an event at t under (tenant, key): keeps its id (ids no window
 * holds at wm may be pruned). A key at the definition's dedup_max_ids forgets its oldest ids
 * (by time, then id) down to seven eighths of it: returns how many went that windows held. */
size_t proc_windows_remember(struct proc_windows *w, const char *tenant, const char *key,
                             const char *id, int64_t t, int64_t wm);

/* ---- checkpoints (proc_window_ckpt.c) ----
 * A key's name is its tenant, "\x1f", and its key. Its checkpoint form is a JSON object of its
 * panes or sessions, revisions and next window to fire. */
/* From now on, remember which keys change. The first checkpoint after this is a full one. */
void proc_windows_track_changes(struct proc_windows *w);
/* Whether the next checkpoint must replace the stored state whole (first one, or after a failed
 * write); set_full(w, 1) also reports every key as changed at the next proc_windows_changes. */
int proc_windows_full(const struct proc_windows *w);
void proc_windows_set_full(struct proc_windows *w, int full);
/* Checkpoints are numbered, so that one written on top of a state Redis no longer holds whole (a
 * replica promoted before an incremental write reached it) is told from one that follows on:
 * the next checkpoint's number; set_seq takes the number of the one restored. */
long long proc_windows_next_seq(struct proc_windows *w);
void proc_windows_set_seq(struct proc_windows *w, long long seq);
/* Calls fn(name, PROC_KEY_STATE, state, len) for each key changed since the last call (and
 * clears `full`): state is the JSON text of the key's checkpoint form (borrowed for the call), or
 * NULL when the key's state is gone; then, for a key keeping many ids to deduplicate by,
 * fn(name, block, ids, len) for each block of its ids written (ids: JSON text) or removed (NULL)
 * (a field of its own: "db" in the key's state counts them). Returns the number of keys
 * reported. */
#define PROC_KEY_STATE (-1)
typedef void (*proc_windows_change_fn)(const char *name, int block, const char *state, size_t len,
                                       void *ud);
size_t proc_windows_changes(struct proc_windows *w, proc_windows_change_fn fn, void *ud);
/* Restores a key from its checkpoint form (borrowed). 0, or CM_E_INVAL when name or state does
 * not fit this pipeline. Then each block of its ids (restore_ids: a JSON list, borrowed), and
 * once every key and block is in, proc_windows_restored checks that each key got the blocks its
 * state names (CM_E_INVAL otherwise). (A key's state alone is what a query needs.) */
int proc_windows_restore(struct proc_windows *w, const char *name, const json_t *state);
int proc_windows_restore_ids(struct proc_windows *w, const char *name, unsigned block,
                             const json_t *ids);
int proc_windows_restored(struct proc_windows *w);

#endif
