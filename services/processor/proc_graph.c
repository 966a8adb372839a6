/* proc_graph: refuses a pipeline that would close a cycle of topics with the others (see
 * proc_graph.h): a breadth-first walk from its outputs, through the pipelines reading each topic
 * reached, to one of its own source topics; and warns of a pipeline windowing the results of
 * another's windows by their time (each window's end), or adding up results written more than
 * once per window. */
#include "proc_graph.h"

#include "proc_def.h"

#include "cm/expr.h"
#include "cm/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OUT_SINK, OUT_LATE, OUT_DLQ, OUT_N };

static const char *const out_what[OUT_N] = {"its sink", "its late events", "its dead letters"};

static int reads(const struct proc_def *d, const char *topic)
{
    for (size_t i = 0; i < d->ntopics; i++) {
        if (strcmp(d->topics[i], topic) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *proc_graph_dead_letter_topic(const struct proc_def *d, const char *default_dlq)
{
    if (d->dead_letter_off) {
        return NULL;
    }
    if (d->dead_letter_topic) {
        return d->dead_letter_topic;
    }
    return default_dlq && !reads(d, default_dlq) ? default_dlq : NULL;
}

/* d's output topics by kind (NULL where it has none). */
static void outputs(const struct proc_def *d, const struct proc_graph_topics *t,
                    const char *out[OUT_N])
{
    out[OUT_SINK] = d->sink_topic;
    out[OUT_LATE] = d->window != PROC_WIN_NONE ? t->late : NULL;
    out[OUT_DLQ] = proc_graph_dead_letter_topic(d, t->dlq);
}

/* A topic reached: how (written by pipeline `by`, -1 for d, as output kind `kind`) and from
 * which topic that pipeline was reached (-1: d's own output). */
struct reached {
    const char *topic;
    long by;
    int kind;
    long from;
};

struct walk {
    struct reached *r;
    size_t n, cap;
};

static long find(const struct walk *w, const char *topic)
{
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->r[i].topic, topic) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static void reach(struct walk *w, const char *topic, long by, int kind, long from)
{
    if (!topic || find(w, topic) >= 0) {
        return;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->r = cm_xrealloc(w->r, w->cap * sizeof(*w->r));
    }
    w->r[w->n++] = (struct reached){topic, by, kind, from};
}

/* The message naming the path to topic i, which d reads. */
static void describe(const struct walk *w, long i, const struct proc_def *d,
                     const struct proc_def *const *others, char *err, size_t errlen)
{
    long path[64];
    size_t len = 0;
    for (long k = i; k >= 0 && len < sizeof(path) / sizeof(path[0]); k = w->r[k].from) {
        path[len++] = k;
    }
    const struct reached *first = &w->r[path[len - 1]];
    const char *field = first->kind == OUT_SINK ? "sink.topic"
                        : first->kind == OUT_DLQ
                            ? (d->dead_letter_topic ? "dead_letter.topic" : "dead_letter")
                        : d->window == PROC_WIN_JOIN ? "interval_join"
                                                     : "window";
    size_t at = 0;
    at += (size_t)snprintf(err + at, errlen - at,
                           "%s: events would go round without end: this pipeline writes '%s' (%s)",
                           field, first->topic, out_what[first->kind]);
    for (size_t k = len - 1; k-- > 0 && at < errlen;) {
        const struct reached *r = &w->r[path[k]];
        at +=
            (size_t)snprintf(err + at, errlen - at, ", pipeline '%s' reads it and writes '%s' (%s)",
                             others[r->by]->name, r->topic, out_what[r->kind]);
    }
    if (at < errlen) {
        snprintf(err + at, errlen - at, ", which this pipeline reads");
    }
}

int proc_graph_check(const struct proc_def *d, const struct proc_def *const *others, size_t n,
                     const struct proc_graph_topics *t, char *err, size_t errlen)
{
    struct walk w = {0};
    unsigned char *seen = cm_xcalloc(n ? n : 1, 1);
    const char *out[OUT_N];
    outputs(d, t, out);
    for (int k = 0; k < OUT_N; k++) {
        reach(&w, out[k], -1, k, -1);
    }
    int rc = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (reads(d, w.r[i].topic)) {
            describe(&w, (long)i, d, others, err, errlen);
            rc = -1;
            break;
        }
        for (size_t q = 0; q < n; q++) {
            if (seen[q] || !reads(others[q], w.r[i].topic)) {
                continue;
            }
            seen[q] = 1;
            outputs(others[q], t, out);
            for (int k = 0; k < OUT_N; k++) {
                reach(&w, out[k], (long)q, k, (long)i);
            }
        }
    }
    free(seen);
    free(w.r);
    return rc;
}

/* d writes the results of windows to its sink, each with the window's end as its time (a batch
 * holds several: its readers take them apart first). */
static int writes_window_results(const struct proc_def *d)
{
    return (d->window == PROC_WIN_TUMBLING || d->window == PROC_WIN_HOPPING ||
            d->window == PROC_WIN_SESSION) &&
           d->batch_max == 0;
}

/* d adds up what it reads in windows. */
static int aggregates(const struct proc_def *d)
{
    return d->window == PROC_WIN_TUMBLING || d->window == PROC_WIN_HOPPING ||
           d->window == PROC_WIN_SESSION;
}

/* d's source filter reads data.revision (keeping one result per window, say). */
static int filters_revision(const struct proc_def *d)
{
    const char *fields[64];
    size_t n = d->filter ? cm_expr_fields_of(d->filter, "data", fields, 64) : 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (strcmp(fields[i], "revision") == 0) {
            return 1;
        }
    }
    return 0;
}

/* d's source filter reads the results' `timing` (keeping the final one per window, say). */
static int filters_timing(const struct proc_def *d)
{
    const char *fields[64];
    size_t n = d->filter ? cm_expr_root_fields(d->filter, fields, 64) : 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (strcmp(fields[i], "timing") == 0) {
            return 1;
        }
    }
    return 0;
}

/* How a reader misreads the window results a writer writes. */
enum { MIS_TIME, MIS_PARTIAL, MIS_LATE, MIS_N };

/* The ways (bits of 1 << MIS_*) reader r misreads what writer w writes to topic: windowing by
 * `time` (each window's end), adding up results of one window written several times with the
 * window's values so far (early results, emit update), or again after late events. */
static unsigned misreads(const struct proc_def *r, const struct proc_def *w, const char *topic)
{
    if (!writes_window_results(w) || strcmp(w->sink_topic, topic) != 0 ||
        r->window == PROC_WIN_NONE) {
        return 0;
    }
    unsigned m = r->time ? 0 : 1u << MIS_TIME;
    /* (emit update writes no final result: `timing` keeps none of them whole) */
    if (aggregates(r) && (w->emit_update || (w->early_ms > 0 && !filters_timing(r)))) {
        m |= 1u << MIS_PARTIAL;
    } else if (aggregates(r) && w->lateness_ms > 0 && !filters_revision(r) && !filters_timing(r)) {
        m |= 1u << MIS_LATE;
    }
    return m;
}

/* Appends the warning of kind k: on the reader's side (writer 0), `who` writes the topic read by
 * field; on the writer's (writer 1), `who` (m of them) read this pipeline's sink. */
static void warn(json_t *list, int k, int writer, const char *field, const char *who, size_t m,
                 const char *topic)
{
    static const char *const reader_what[MIS_N] = {
        "the results of windows to", "several results for one window to", "a window's result to"};
    static const char *const reader_then[MIS_N] = {
        ", each with its window's end as its time, the first instant of the next window: "
        "windowed by that time, a result counts in the window after the one it covers; give "
        "\"source.time\": \"data.window_start\"",
        ", each with the window's values so far (early results, or \"emit\": \"update\"): a "
        "window of them adds up each; keep \"timing == 'on_time'\" in source.filter (each "
        "window's final result, of a pipeline with \"early\"), or roll up the results of a "
        "pipeline that writes one per window (\"emit\": \"final\")",
        " again when a late event changes it (allowed_lateness), each time with the window's full "
        "values: a window of them adds up each; keep \"timing == 'on_time'\" in source.filter "
        "(the late changes are then left out)",
    };
    static const char *const writer_why[MIS_N] = {
        " by time, which for these results is their window's end, the first instant of the next "
        "window: a result counts in the window after the one it covers; ",
        ", adding up every result, while this pipeline writes several for one window, each with "
        "the window's values so far (early results, or \"emit\": \"update\"): ",
        ", adding up every result, while this pipeline writes a window's result again when a late "
        "event changes it (allowed_lateness), each time with the window's full values: ",
    };
    static const char *const writer_need[MIS_N][2] = {
        {"that pipeline needs", "those pipelines need"},
        {"that pipeline should roll up", "those pipelines should roll up"},
        {"that pipeline needs", "those pipelines need"},
    };
    static const char *const writer_what[MIS_N] = {
        " \"source.time\": \"data.window_start\"",
        (" the results of a pipeline that writes one per window, or of one with \"early\" keep "
         "the final results alone (\"timing == 'on_time'\" in source.filter)"),
        " \"timing == 'on_time'\" in source.filter",
    };
    char msg[1024];
    const char *s = m > 1 ? "" : "s";
    if (writer) {
        snprintf(msg, sizeof(msg), "%s: %s read%s '%s' and window%s it%s%s%s", field, who, s, topic,
                 s, writer_why[k], writer_need[k][m > 1], writer_what[k]);
    } else {
        snprintf(msg, sizeof(msg), "%s: %s write%s %s '%s'%s", field, who, s, reader_what[k], topic,
                 reader_then[k]);
    }
    json_array_append_new(list, json_string(msg));
}

/* "pipeline 'a'", "pipelines 'a' and 'b'", "pipelines 'a', 'b', 'c' and 4 more" of the
 * pipelines of others marked in pick (m of them, m > 0). */
static void names(char *out, size_t len, const struct proc_def *const *others, size_t n,
                  const unsigned char *pick, size_t m)
{
    size_t at = (size_t)snprintf(out, len, "pipeline%s", m > 1 ? "s" : "");
    size_t shown = 0;
    for (size_t q = 0; q < n && at < len; q++) {
        if (!pick[q]) {
            continue;
        }
        const char *sep = shown == 0 ? " " : shown + 1 == m ? " and " : ", ";
        if (shown == 3 && m > 4) {
            snprintf(out + at, len - at, " and %zu more", m - shown);
            return;
        }
        at += (size_t)snprintf(out + at, len - at, "%s'%s'", sep, others[q]->name);
        shown++;
    }
}

void proc_graph_warnings(const struct proc_def *d, const struct proc_def *const *others, size_t n,
                         json_t *list)
{
    unsigned char *pick = cm_xcalloc(n ? n : 1, 1);
    char who[400], field[48];
    for (size_t i = 0; i <= d->ntopics; i++) { /* d's topics, then its sink */
        const char *topic = i < d->ntopics ? d->topics[i] : d->sink_topic;
        for (int k = 0; k < MIS_N; k++) {
            size_t m = 0;
            for (size_t q = 0; q < n; q++) {
                unsigned bits = i < d->ntopics ? misreads(d, others[q], topic)
                                               : misreads(others[q], d, topic) *
                                                     (unsigned)reads(others[q], topic);
                pick[q] = (bits >> k) & 1u;
                m += pick[q];
            }
            if (m > 0) {
                names(who, sizeof(who), others, n, pick, m);
                if (i < d->ntopics) {
                    snprintf(field, sizeof(field), "source.topics[%zu]", i);
                }
                warn(list, k, i == d->ntopics, i < d->ntopics ? field : "sink.topic", who, m,
                     topic);
            }
        }
    }
    free(pick);
}
