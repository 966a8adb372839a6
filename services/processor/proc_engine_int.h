/* proc_engine_int: the engine's state, shared by proc_engine.c (input, steps, windows),
 * proc_sources.c (input partitions for checkpoints and swaps), proc_watermark.c (event time) and
 * proc_result.c (results and transformed events written out). */
#ifndef PROC_ENGINE_INT_H
#define PROC_ENGINE_INT_H

#include "proc_def.h"
#include "proc_engine.h"
#include "proc_window.h"

#include "cm/jsonw.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Room for a key and its NUL: a key's text (a grouping key, an interval join's or a join step's)
 * is at most 1,023 bytes, as the windows query takes; a longer one makes the event a dead letter
 * rather than being cut (two keys cut to the same bytes would merge). */
#define KEY_MAX 1024
#define FLATMAP_MAX 10000 /* events the flatMaps of a pipeline may make of one input event */

struct source {
    int32_t id;
    int64_t max_time; /* INT64_MIN before the first event */
    int64_t last_seen_ms;
    int64_t resume; /* records below this offset are in the state already */
    struct proc_windows *w;
    struct proc_origin *marks; /* highest origin taken, per origin */
    size_t nmarks;
    /* second stage: the latest report of each input partition (engine's expected) as read from
     * this partition, whose records come in order after the records they cover; its watermark
     * (rwm), whether every input partition was heard (rheard) and all are idle (ridle) */
    struct report *reports;
    int64_t rwm;
    int rheard, ridle;
    int64_t rnewest; /* when the newest report read was sent */
    int nidle;       /* reports saying idle (their freshness changes as newer ones come) */
    int64_t wm; /* second stage: this source's watermark, which fired its windows (monotonic) */
    /* recomputed without a checkpoint (proc_engine_restore_horizon): from offset hz_until on,
     * events are judged late by at least hz_wm, the watermark when that offset was committed;
     * hz_until -1 and hz_wm INT64_MIN when none */
    int64_t hz_until, hz_wm;
};

/* First stage: an input partition's progress, reported downstream as its watermark. */
struct origin {
    int32_t id;
    int64_t max_time, last_seen_ms;
};

/* One stage: an input partition assigned at since_ms that has sent nothing yet. */
struct waiting {
    int32_t id;
    int64_t since_ms;
};

/* Second stage: the watermark an origin last reported through this source. */
struct report {
    int64_t wm, sent_ms; /* sent_ms: its record's timestamp (0: not known, restored) */
    int idle, heard;
};

struct proc_engine {
    const struct proc_def *d;
    struct proc_engine_out out;
    struct source *src;
    size_t nsrc, capsrc;
    int64_t wm, forced;
    int64_t from, until;    /* the windows this version computes (proc_windows_set_bounds) */
    int by_reports;         /* the watermark comes from the first stage's reports */
    int mutates;            /* a map or flatMap step changes events (else they are shared) */
    struct origin *origins; /* first stage: the input partitions read here */
    size_t norigins;
    int32_t *expected; /* second stage: every input partition of the pipeline (ascending) */
    size_t nexpected;
    /* one stage: input partitions assigned that have sent no event yet, each holding the
     * watermark back until idle_timeout after its assignment (proc_engine_expect_source) */
    struct waiting *waiting;
    size_t nwaiting;
    int track;
    char source_attr[PROC_NAME_MAX + 16];
    struct cm_jw idw; /* a deduplication id being written (proc_engine.c) */
    struct cm_series *m_repeats, *m_duplicates, *m_forgotten, *m_bad_time, *m_ahead, *m_key_bound;
    struct cm_series *m_windowed, *m_transformed, *m_late, *m_filtered, *m_errors, *m_results;
    struct cm_series *m_unmatched, *m_key_mismatch;
    uint64_t key_mismatches; /* as m_key_mismatch counts them, for the status */
    uint64_t key_refusals;   /* as m_key_bound counts them, for the status */
    struct cm_series *m_watermark;
    struct cm_series *m_keys; /* processor_state_keys{pipeline}, shared by its versions */
    size_t keys_reported;     /* what this engine added to m_keys */
    struct cm_jw text;        /* results written here (out.emit_text), reused */
    /* what every result of one window shares, written once: the pipeline's version, the
     * window's bounds as numbers (the id's parts) and as times */
    char version_text[CM_DEC_LEN];
    int64_t text_start_ms, text_end_ms;
    char start_ms_text[CM_DEC_LEN], end_ms_text[CM_DEC_LEN], start_text[CM_RFC3339_LEN],
        end_text[CM_RFC3339_LEN];
};

void proc_engine_inc(struct cm_series *s, uint64_t n);
/* The source (input or repartition partition) id, added when create; NULL when absent. Adding
 * may move the array: a pointer held across it is stale. */
struct source *proc_engine_source(struct proc_engine *e, int32_t id, int create);
/* The first stage's record of input partition id, added when new. */
struct origin *proc_engine_origin(struct proc_engine *e, int32_t id);
/* Forgets that source is awaited (it sent its first event, or it was revoked). */
void proc_engine_heard(struct proc_engine *e, int32_t source);
/* After input or reports: the second stage moves source s (NULL: every source), one stage its
 * watermark over every source; windows the watermark passes fire. */
/* The gauges of a new engine: processor_state_keys{pipeline}, the keys its versions hold in
 * window and join state here (each engine adds what it holds at each tick and takes it away at
 * its end); and the watermark gauge (processor_watermark_seconds{pipeline}): NaN until it has
 * a watermark, not the 0 of a new series (1970, which an alert on the watermark's lag took for a
 * stalled pipeline); a version of the pipeline running beside it keeps its value. */
void proc_engine_gauge_open(struct proc_engine *e, struct cm_metrics *metrics);
/* At the engine's end: NaN again, so a pipeline deleted (or a version gone) leaves no watermark
 * behind that seems to stall, unless a version that replaced it wrote its own since. */
void proc_engine_gauge_close(struct proc_engine *e);
void proc_engine_settle(struct proc_engine *e, struct source *s, int64_t now_ms);
/* source.time (proc_watermark.c): ev with its `time` set to what the expression gives (a new
 * reference) and that time in *time_ms; or NULL with the reason in why (the expression failed,
 * or gave no RFC 3339 time). */
json_t *proc_engine_event_time(const struct proc_def *d, const json_t *ev, int64_t *time_ms,
                               char *why, size_t whylen);
/* A window's result (proc_window_emit_fn; ud is the engine). */
int proc_engine_emit_result(const struct proc_window_result *r, void *ud);
/* A stateless pipeline's output for ev reached through the flatMap path `path`. */
void proc_engine_emit_transformed(struct proc_engine *e, const json_t *ev, const char *path);

#endif
