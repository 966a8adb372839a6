/* proc_engine: one pipeline at work, shared by the processor daemon and the offline twin
 * (tools/pipeline-run). Takes input events one at a time: source filter, steps (map, flatMap,
 * filter), key, then either the transformed event out (no window) or the keyed windows of the
 * event's input partition. Event time and the watermark per Flink: per input partition the
 * highest event time seen minus out_of_orderness; the pipeline's watermark is the minimum over
 * partitions that had input within idle_timeout (the maximum when all are idle); an explicit
 * watermark (pipeline-run's {"watermark": ...} lines) raises it too. It raises each partition's
 * own watermark, which never goes back, fires that partition's windows and judges its events: a
 * partition restored from a checkpoint made elsewhere goes on from where it was there.
 * Results are CloudEvents of type pipeline.result with ids from (pipeline, version, tenant, key,
 * window start, revision; a session's end too), so a replay yields the same ids and values.
 * Single-threaded: one engine belongs to the thread that feeds it. */
#ifndef PROC_ENGINE_H
#define PROC_ENGINE_H

#include "proc_time.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_metrics;
struct proc_def;
struct proc_engine;

/* A record's Kafka key (len bytes, not terminated; a record without one: len 0). */
struct proc_record_key {
    const char *key;
    size_t len;
};

struct proc_engine_out {
    /* A result or transformed event (borrowed for the call) for the pipeline's sink topic. */
    void (*emit)(const struct proc_def *d, const json_t *ev, void *ud);
    /* A window result already written: its CloudEvent's JSON text (len bytes), Kafka key and
     * headers (all borrowed for the call), as emit would have them from the JSON value. Used
     * when the pipeline has neither `having` nor `batch`. NULL: results come through emit. */
    void (*emit_text)(const struct proc_def *d, const char *key, const char *text, size_t len,
                      const char *const *names, const char *const *values, size_t nh, void *ud);
    /* An event too late for every window it belongs to (borrowed). */
    void (*late)(const struct proc_def *d, const json_t *ev, void *ud);
    /* An event (borrowed, as the pipeline keyed it: after its steps) that its window or interval
     * join's state has no room for: its key holds no state, and the state of its input partition
     * holds the definition's max_keys keys, or max_keys_per_tenant of its tenant; or an interval
     * join's key keeps max_events_per_key events. why names the bound: "max_keys: <reason>",
     * "max_keys_per_tenant: ...", "interval_join.max_events_per_key: ...". Counted (key_bound)
     * before the call. NULL: only counted. */
    void (*refused)(const struct proc_def *d, const json_t *ev, const char *why, void *ud);
    /* A join step's lookup: the row of key in the table kept from topic (a new reference), or
     * NULL when there is none. NULL: every lookup misses. */
    json_t *(*lookup)(const char *topic, const char *key, void *ud);
    /* An event of proc_engine_process_record whose record's Kafka key (rkey) is not its pipeline
     * key (key); counted in key_mismatch_total before the call. NULL: only counted. */
    void (*key_mismatch)(const struct proc_def *d, int32_t source, int64_t offset,
                         const struct proc_record_key *rkey, const char *key, void *ud);
    /* An input event (borrowed) the pipeline drops because it cannot process it: an expression
     * failed on it (the source filter, a step, the key, an interval join's side) or its time lies
     * outside the years an event can state. why is "<field>: <reason>" (e.g. "steps[0].map.amount:
     * ..."). At most once per input event, however many events its flatMaps made fail; counted
     * (expression_error, time_out_of_range) before the call. Not for what the second stage of two
     * reads back (the first stage called it). NULL: only counted. */
    void (*dead_letter)(const struct proc_def *d, const json_t *ev, const char *why, void *ud);
    void *ud;
};

/* d and out are borrowed for the engine's life; metrics may be NULL. Caller frees with
 * proc_engine_free. */
struct proc_engine *proc_engine_new(const struct proc_def *d, const struct proc_engine_out *out,
                                    struct cm_metrics *metrics);
void proc_engine_free(struct proc_engine *e);
/* Emits nothing more (windows firing stop after the key they are at; proc_windows_stop): for a
 * caller that has all the outputs it can take. The engine is then only fit to be freed. */
void proc_engine_stop(struct proc_engine *e);
const struct proc_def *proc_engine_def(const struct proc_engine *e);

/* Feeds one event (borrowed) read from input partition `source` (a small number the caller
 * gives each input partition) at `offset`, with event time time_ms, at monotonic now_ms. */
void proc_engine_process(struct proc_engine *e, int32_t source, const json_t *ev, int64_t time_ms,
                         int64_t offset, int64_t now_ms);
/* proc_engine_process for a record read from Kafka, with its timestamp record_ms (negative:
 * none, as Kafka's -1): a windowed pipeline's event whose time lies more than
 * max_time_ahead after it is counted (time_ahead) and dead-lettered, and moves no watermark.
 * rkey (NULL: not checked), with "repartition": false: every windowed event it makes whose
 * pipeline key is not the record's key is counted and passed to out.key_mismatch, since the
 * pipeline's windows are kept per input partition and a key read from two partitions would get
 * two results per window under one id. It is still windowed. */
#define PROC_NO_RECORD_TIME INT64_MIN
void proc_engine_process_record(struct proc_engine *e, int32_t source, const json_t *ev,
                                int64_t time_ms, int64_t record_ms, int64_t offset,
                                const struct proc_record_key *rkey, int64_t now_ms);
/* How many events proc_engine_process_record found keyed otherwise so far. */
uint64_t proc_engine_key_mismatches(const struct proc_engine *e);
/* Keys held in window and interval-join state over every input partition; *fullest: those of
 * the partition holding the most (which max_keys bounds); *refused: events refused so far
 * because their keys found no room (max_keys, max_keys_per_tenant). */
size_t proc_engine_keys(const struct proc_engine *e, size_t *fullest, uint64_t *refused);
/* Two stages, for a keyed windowed pipeline whose input is not partitioned by its key (the
 * processor re-keys through a repartition topic in between, as Kafka Streams does):
 * prepare runs the source filter, steps and key, calling prepared(ev, tenant, key) for each
 * resulting event (all borrowed for the call); window takes such an event back, read from
 * source at offset. proc_engine_process is the two in one. */
/* unchanged: ev is the input event as it came (no map or flatMap step), so its record's bytes
 * may be forwarded as they are. args: the aggregates' arguments evaluated over ev
 * (proc_acc_args), for proc_engine_window_keyed; NULL for an interval join. */
typedef void (*proc_prepared_fn)(const json_t *ev, const char *tenant, const char *key,
                                 int unchanged, const json_t *args, void *ud);
/* origin: the input partition's source id; time_ms the event time (its progress is reported
 * downstream by proc_engine_origin_watermarks); record_ms its record's timestamp, checked as
 * proc_engine_process_record does. */
void proc_engine_prepare(struct proc_engine *e, int32_t origin, const json_t *ev, int64_t time_ms,
                         int64_t record_ms, int64_t now_ms, proc_prepared_fn prepared, void *ud);
/* Watermarks travel through the repartition topic as in Flink: the first stage reports, for
 * each input partition it reads, its watermark (newest event time - out_of_orderness) and
 * whether it is idle (no input for idle_timeout) to every repartition partition; the second
 * stage, switched to them by proc_engine_use_reports with every input partition of the
 * pipeline, keeps per partition it reads the latest report of each input partition (in order
 * with that partition's records) and takes the minimum, as Flink does over a shuffle's channels:
 * idle ones left out, one not heard from yet holds it back. That minimum is the partition's own
 * watermark: it fires the windows of that partition's state and decides which of its events are
 * late (as a Kafka Streams task's stream time), so a partition restored from a checkpoint judges
 * what it reads again as it did the first time. use_reports with no partitions (n 0) holds the
 * second stage until the list is known. */
typedef void (*proc_origin_wm_fn)(int32_t origin, int64_t wm, int idle, void *ud);
void proc_engine_origin_watermarks(struct proc_engine *e, int64_t now_ms, proc_origin_wm_fn fn,
                                   void *ud);
/* A first-stage input partition assigned (reported idle after idle_timeout without input). */
void proc_engine_add_origin(struct proc_engine *e, int32_t origin, int64_t now_ms);
/* One stage (no repartition topic): an input partition assigned, whose first event is awaited;
 * until it comes, the partition holds the watermark back, for at most idle_timeout from now_ms
 * (as a Flink source's split). Without this, a partition that has sent nothing is left out, and
 * events it sends after another partition moved ahead are late. proc_engine_drop_source forgets
 * it. */
void proc_engine_expect_source(struct proc_engine *e, int32_t source, int64_t now_ms);
/* Forgets a first-stage input partition (revoked). */
void proc_engine_drop_origin(struct proc_engine *e, int32_t origin);
/* The second stage's input partitions (origins, ascending; n may be 0 until they are known).
 * Called again with a longer list when an input topic grew: the partitions in both keep their
 * latest reports, and a new one holds the watermark back until it is first reported. */
void proc_engine_use_reports(struct proc_engine *e, const int32_t *origins, size_t n);
/* A report read by the second stage from its partition `source` (a periodic one, or the `wm`
 * every prepared record carries, so the watermark moves with the data rather than with the
 * period); sent_ms: when the first stage sent it (its record's timestamp). An input partition
 * counts as idle only while its idle report is fresh: one sent more than
 * PROC_IDLE_REPORT_STALE_MS before the newest report the source read (its sender fell silent:
 * starved, stopped, or gone with its partitions) holds the watermark at what it last reported,
 * so that the events its sender reads late are not made late. */
#define PROC_IDLE_REPORT_STALE_MS 2000
void proc_engine_report(struct proc_engine *e, int32_t source, int32_t origin, int64_t wm, int idle,
                        int64_t sent_ms);
/* The first stage's watermark of an input partition (INT64_MIN before its first event). */
int64_t proc_engine_origin_wm(const struct proc_engine *e, int32_t origin);
/* Where a prepared event came from: its input partition (a source id of the first stage), the
 * input record's offset and the event's index among those the record gave. A first stage that
 * runs again after a crash produces the same events again; the second stage keeps, per source
 * and origin, the highest (offset, index) it took and skips what is not above it. */
struct proc_origin {
    int32_t origin;
    int64_t offset;
    int32_t seq;
};
/* origin may be NULL (no deduplication). Returns 0, or 1 when skipped as a repeat. */
int proc_engine_window(struct proc_engine *e, int32_t source, const json_t *ev, int64_t time_ms,
                       int64_t offset, const struct proc_origin *origin, int64_t now_ms);
/* The same from what the first stage evaluated, without the event: its tenant, key,
 * traceparent (NULL: none), event time and aggregate arguments (borrowed). raw is the event's
 * JSON text, parsed only when the event is late (for the late topic). Not for interval joins. */
struct proc_keyed {
    const char *tenant, *key, *traceparent;
    int64_t time_ms;
    const json_t *args;
    const char *raw;
    size_t rawlen;
};
int proc_engine_window_keyed(struct proc_engine *e, int32_t source, const struct proc_keyed *k,
                             int64_t offset, const struct proc_origin *origin, int64_t now_ms);
/* The second stage's step for one entry of a repartition frame (proc_frame.h) read from source at
 * offset: the watermark before its event, the event into the windows (by its arguments, or its
 * text parsed when it has none), then the watermark after it. 0, or CM_E_INVAL with *why when
 * the event's text cannot be read (nothing after the first watermark is taken). sent_ms: when
 * the frame was sent (its record's timestamp, as proc_engine_report's). */
struct proc_frame_entry;
int proc_engine_take_entry(struct proc_engine *e, int32_t source, const struct proc_frame_entry *fe,
                           int64_t offset, int64_t sent_ms, int64_t now_ms, const char **why);
/* 1 when source holds state (read or restored since it was assigned). */
int proc_engine_has_source(const struct proc_engine *e, int32_t source);
/* The event-time horizon of a source, for Kafka's offset metadata (docs/pipelines.md, State,
 * checkpoints and faults): the watermark that judges its events now, which every window whose
 * lateness has passed it is finished by (emitted, its state dropped), or INT64_MIN when the
 * source holds no window state. *until (the stream position the caller passes in) is raised to
 * a restored horizon's offset while that horizon is ahead of the watermark. */
int64_t proc_engine_horizon(const struct proc_engine *e, int32_t source, int64_t *until);
/* A source recomputed without a checkpoint from a committed offset whose metadata held horizon
 * wm at position `until`: windows finished by wm are never emitted again (their results went
 * out whole before; the records recomputed hold only part of them), and events read from
 * `until` on are judged late by at least wm, as they were before the state was lost. */
void proc_engine_restore_horizon(struct proc_engine *e, int32_t source, int64_t until, int64_t wm,
                                 int64_t now_ms);
/* An explicit watermark in an input (pipeline-run's lines, the dry run's events):
 * {"watermark": "<RFC 3339>"} or {"watermark": "max"}. Returns 1 with *wm set, 0 when v is not
 * one, -1 with the reason in *why when it is malformed. */
int proc_engine_watermark_input(const json_t *v, int64_t *wm, const char **why);
/* Raises the watermark to at least wm and fires what it makes ripe. */
void proc_engine_watermark(struct proc_engine *e, int64_t wm);
/* Recomputes the watermark at monotonic now_ms (partitions turning idle) and fires. */
void proc_engine_tick(struct proc_engine *e, int64_t now_ms);
/* One stage: an input partition with records waiting to be read (held back by flow control, or
 * not fetched yet) is not idle, or its records would be late once read. For each source without
 * input for half of idle_timeout (and each awaited one), asks backlog(source, ud) and counts a
 * yes as input at now_ms. The caller does this before each tick. */
typedef int (*proc_backlog_fn)(int32_t source, void *ud);
void proc_engine_note_backlog(struct proc_engine *e, int64_t now_ms, proc_backlog_fn backlog,
                              void *ud);
/* The current watermark: the least of the partitions' own (INT64_MIN before any input; it goes
 * back when a partition behind the others comes). */
int64_t proc_engine_current_watermark(const struct proc_engine *e);
/* Limits the engine to windows starting in [from, until) (sessions: events in it): around a
 * swap the old version keeps what starts before the cut-over and the new one the rest. Both
 * see every event, so the watermark of each keeps moving. */
void proc_engine_set_bounds(struct proc_engine *e, int64_t from, int64_t until);
void proc_engine_bounds(const struct proc_engine *e, int64_t *from, int64_t *until);
/* 1 when an engine bounded by `until` holds no window state and its watermark has passed the
 * last window it could compute: an old version that has drained. */
int proc_engine_drained(const struct proc_engine *e);
/* Forgets an input partition's state (revoked). */
void proc_engine_drop_source(struct proc_engine *e, int32_t source);
/* The log of an input partition was replaced (cm_stream's on_rewind): its records from `first`
 * on are new, so none is skipped as covered by the state (kept: it holds what the old log made)
 * or as a repeat of an origin seen in the old log. */
void proc_engine_rewind_source(struct proc_engine *e, int32_t source, int64_t first);
/* Lowest offset of source still held in window state, or -1 when none. */
int64_t proc_engine_min_offset(const struct proc_engine *e, int32_t source);

/* The data of a window's result (proc_result.c): {pipeline, version, key, window_start,
 * window_end, revision, <aggregate names>}; a new object. */
struct proc_window_result;
json_t *proc_result_data(const struct proc_def *d, const struct proc_window_result *r);

/* ---- checkpoints ----
 * A source's state is its windows and the newest event time seen; `resume` is the offset its
 * state covers (records below it are skipped: they are in the state already). */
struct proc_windows;
/* From now on the windows of every source remember which keys change. */
void proc_engine_track_changes(struct proc_engine *e);
/* Calls fn for each source that has window state. */
typedef void (*proc_engine_source_fn)(int32_t source, int64_t max_time, int64_t resume,
                                      struct proc_windows *w, void *ud);
void proc_engine_each_source(struct proc_engine *e, proc_engine_source_fn fn, void *ud);
/* The origin marks of a source (borrowed until the next call that feeds it); count returned. */
size_t proc_engine_marks(struct proc_engine *e, int32_t source, const struct proc_origin **marks);
/* Restores one origin mark of a source (after proc_engine_restore_source). */
void proc_engine_restore_mark(struct proc_engine *e, int32_t source,
                              const struct proc_origin *mark);
/* Starts a source from a checkpoint: its newest event time and the offset it covers. Returns
 * its (empty) windows to restore keys into (borrowed). */
struct proc_windows *proc_engine_restore_source(struct proc_engine *e, int32_t source,
                                                int64_t max_time, int64_t resume, int64_t now_ms);
/* A second-stage source's watermark and the reports it heard, for its checkpoint: wm is
 * INT64_MIN before the first; fn is called for each input partition heard from, with when its
 * report was sent. */
typedef void (*proc_engine_report_fn)(int32_t origin, int64_t wm, int idle, int64_t sent_ms,
                                      void *ud);
int64_t proc_engine_source_watermark(const struct proc_engine *e, int32_t source,
                                     proc_engine_report_fn fn, void *ud);
/* Restores them (after proc_engine_restore_source): the watermark the source's windows were
 * fired to, and one report (ignored when the origin is not among the input partitions known). */
void proc_engine_restore_watermark(struct proc_engine *e, int32_t source, int64_t wm);
void proc_engine_restore_report(struct proc_engine *e, int32_t source, int32_t origin, int64_t wm,
                                int idle, int64_t sent_ms);

#endif
