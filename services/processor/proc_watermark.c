/* proc_watermark: event time in the engine (see proc_engine.h). One stage of its own: the
 * watermark over its input partitions, as at a Flink source (idle ones left out), fires every
 * source's windows. The second stage of a keyed pipeline: each repartition partition's own
 * watermark, from the first stage's reports it carries, fires its windows; the first stage: the
 * reports it sends, per input partition. And the gauges that show the watermark and how many keys
 * the state holds. */
#include "proc_engine.h"
#include "proc_engine_int.h"

#include "proc_window.h"

#include "cm/expr.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sources_wm(struct proc_engine *e);

/* As Flink's timestamp assigner and ksqlDB's TIMESTAMP property: the time is taken from the
 * event as read, once, at the first stage; written into `time`, it is the time every later
 * stage, the late-events topic and a replay see. A number is milliseconds since the epoch, as a
 * Kafka record's timestamp and ksqlDB's BIGINT timestamps are. */
json_t *proc_engine_event_time(const struct proc_def *d, const json_t *ev, int64_t *time_ms,
                               char *why, size_t whylen)
{
    json_t *v = cm_expr_eval_json(d->time, ev, why, whylen);
    if (!v) {
        return NULL;
    }
    const char *text = json_string_value(v);
    double ms = json_number_value(v);
    if (json_is_integer(v) || (json_is_real(v) && ms == trunc(ms) && fabs(ms) < 9.2e18)) {
        *time_ms = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)ms;
        char t[CM_RFC3339_LEN];
        json_decref(v);
        v = json_string(cm_time_in_range(*time_ms) ? cm_time_format_rfc3339(*time_ms, t) : "");
    } else if (!text || cm_time_parse_rfc3339(text, time_ms) != 0) {
        static const char *const kinds[] = {"an object", "a list", "text",  "a number",
                                            "a number",  "true",   "false", "null"};
        char buf[CM_SHOWN_LEN], shown[CM_SHOWN_LEN + 4] = "";
        if (text) {
            snprintf(shown, sizeof(shown), " '%s'", cm_shown(text, buf));
        } else if (json_is_number(v)) { /* (a fraction, or past what 64 bits hold) */
            snprintf(shown, sizeof(shown), " %.17g", ms);
        }
        snprintf(why, whylen,
                 "gave %s%s, not a time: RFC 3339 text (\"2026-01-02T03:04:05Z\"), a timestamp, "
                 "or a whole number of milliseconds since the epoch",
                 kinds[json_typeof(v)], shown);
        json_decref(v);
        return NULL;
    }
    json_t *out = json_copy((json_t *)ev);
    json_object_set_new(out, "time", v);
    return out;
}

/* One stage: the watermark over the partitions raises each partition's own, which fires its
 * windows and judges its events. They differ only for a partition that came later (restored
 * from a checkpoint made elsewhere, or new): it goes on from where it was, as a Kafka Streams
 * task keeps its stream time, so it judges what it reads again as it did before, while the
 * others never go back. */
static void fire(struct proc_engine *e, int64_t wm)
{
    for (size_t i = 0; i < e->nsrc; i++) {
        struct source *s = &e->src[i];
        if (wm > s->wm) {
            s->wm = wm;
            if (s->w) {
                proc_windows_advance(s->w, wm, proc_engine_emit_result, e);
            }
        }
    }
    if (e->nsrc == 0 && wm > e->wm) {
        e->wm = wm; /* (forced, before any input) */
    }
    sources_wm(e);
}

/* The second stage's watermark from the reports, per Flink's rule for a shuffle: each partition
 * it reads holds the watermark of every input partition as of the records read from it so far;
 * a partition's watermark is the minimum over the input partitions not idle (the maximum when
 * all are idle), and one not heard from yet holds it back; the stage's watermark is the minimum
 * over its partitions that are not wholly idle (the maximum when all are). An idle report counts
 * only while fresh (proc_engine_report). */
static void source_wm(const struct proc_engine *e, struct source *s)
{
    int64_t min = INT64_MAX, max = INT64_MIN;
    int active = 0;
    s->rheard = 1;
    for (size_t x = 0; x < e->nexpected; x++) {
        const struct report *r = &s->reports[x];
        if (!r->heard) {
            s->rheard = 0;
            return;
        }
        max = r->wm > max ? r->wm : max;
        if (!r->idle || r->sent_ms < s->rnewest - PROC_IDLE_REPORT_STALE_MS) {
            min = r->wm < min ? r->wm : min;
            active = 1;
        }
    }
    s->rwm = active ? min : max;
    s->ridle = !active;
}

/* Second stage: a source's own watermark follows its reports (or a forced one) and fires its
 * windows. Each repartition partition carries every input partition's reports in order with its
 * events, so its own reports make a correct watermark for what is read from it, as a Kafka
 * Streams task keeps its own stream time; a partition restored from a checkpoint goes on from
 * the watermark it had there, and what is read again after that point is judged as the first
 * time (a watermark of the engine as a whole, raised meanwhile by other partitions, would make
 * it late). */
static void advance_source(struct proc_engine *e, struct source *s)
{
    int64_t wm = s->reports && s->rheard ? s->rwm : INT64_MIN;
    wm = wm > e->forced ? wm : e->forced;
    if (wm > s->wm) {
        s->wm = wm;
        if (s->w) {
            proc_windows_advance(s->w, wm, proc_engine_emit_result, e);
        }
    }
}

/* The engine's watermark in the second stage: the least of its sources' (for the gauge, the
 * status and draining); unchanged while it has none. */
static void sources_wm(struct proc_engine *e)
{
    int64_t min = INT64_MAX;
    for (size_t i = 0; i < e->nsrc; i++) {
        min = e->src[i].wm < min ? e->src[i].wm : min;
    }
    if (min != INT64_MAX && min != e->wm) {
        e->wm = min;
        if (e->m_watermark && min > INT64_MIN) {
            cm_gauge_set(e->m_watermark, (double)min / 1000.0);
        }
    }
}

void proc_engine_gauge_open(struct proc_engine *e, struct cm_metrics *metrics)
{
    if (!metrics) {
        return;
    }
    e->m_watermark = cm_metric_with(
        cm_metrics_gauge(metrics, "watermark_seconds", "event-time watermark", "pipeline"),
        e->d->name, NULL);
    e->m_keys = cm_metric_with(cm_metrics_gauge(metrics, "state_keys",
                                                "keys held in window and interval-join state "
                                                "on this instance (every version of the pipeline)",
                                                "pipeline"),
                               e->d->name, NULL);
    if (cm_series_value(e->m_watermark) == 0) {
        cm_gauge_set(e->m_watermark, NAN);
    }
}

void proc_engine_gauge_close(struct proc_engine *e)
{
    if (e->m_keys && e->keys_reported) {
        cm_gauge_add(e->m_keys, -(double)e->keys_reported);
        e->keys_reported = 0;
    }
    if (e->m_watermark && e->wm > INT64_MIN &&
        cm_series_value(e->m_watermark) == (double)e->wm / 1000.0) {
        cm_gauge_set(e->m_watermark, NAN);
    }
}

/* One stage's watermark, as at a Flink source: the least over its partitions that were read
 * within idle_timeout (the greatest when all are idle; none while no event came), and never
 * below a watermark forced from outside. A partition assigned that has sent no event yet holds
 * it back until it has been idle for idle_timeout, as a Flink source's split does; those that
 * sent one since or are idle by now are forgotten here. */
static int64_t compute(struct proc_engine *e, int64_t now_ms)
{
    int64_t min = INT64_MAX, max = INT64_MIN;
    int active = 0;
    for (size_t i = e->nwaiting; i-- > 0;) {
        const struct source *s = proc_engine_source(e, e->waiting[i].id, 0);
        if ((s && s->max_time > INT64_MIN) || now_ms - e->waiting[i].since_ms >= e->d->idle_ms) {
            e->waiting[i] = e->waiting[--e->nwaiting];
        } else {
            min = INT64_MIN;
            active = 1;
        }
    }
    for (size_t i = 0; i < e->nsrc; i++) {
        const struct source *s = &e->src[i];
        if (s->max_time == INT64_MIN) {
            continue;
        }
        int64_t wm = s->max_time - e->d->ooo_ms;
        max = wm > max ? wm : max;
        if (now_ms - s->last_seen_ms < e->d->idle_ms) {
            min = wm < min ? wm : min;
            active = 1;
        }
    }
    int64_t wm = active ? min : max;
    return wm > e->forced ? wm : e->forced;
}

/* After input or reports: the second stage moves source s (NULL: every source), one stage its
 * watermark over every source. */
void proc_engine_settle(struct proc_engine *e, struct source *s, int64_t now_ms)
{
    if (!e->by_reports) {
        fire(e, compute(e, now_ms));
        return;
    }
    for (size_t i = 0; i < e->nsrc; i++) {
        if (!s || &e->src[i] == s) {
            advance_source(e, &e->src[i]);
        }
    }
    sources_wm(e);
}

int proc_engine_watermark_input(const json_t *v, int64_t *wm, const char **why)
{
    const json_t *w = json_object_get(v, "watermark");
    if (!w || json_object_size(v) != 1) {
        return 0;
    }
    const char *s = json_string_value(w);
    if (s && strcmp(s, "max") == 0) {
        *wm = PROC_WATERMARK_MAX;
    } else if (!s || cm_time_parse_rfc3339(s, wm) != 0) {
        *why = "watermark: must be an RFC 3339 time or \"max\"";
        return -1;
    }
    return 1;
}

void proc_engine_watermark(struct proc_engine *e, int64_t wm)
{
    if (wm > e->forced) {
        e->forced = wm;
    }
    if (e->by_reports) {
        proc_engine_settle(e, NULL, 0);
    } else {
        fire(e, e->forced);
    }
}

void proc_engine_tick(struct proc_engine *e, int64_t now_ms)
{
    proc_engine_settle(e, NULL, now_ms);
    if (e->m_keys) {
        size_t keys = 0;
        for (size_t i = 0; i < e->nsrc; i++) {
            keys += e->src[i].w ? proc_windows_keys(e->src[i].w) : 0;
        }
        if (keys != e->keys_reported) {
            cm_gauge_add(e->m_keys, (double)keys - (double)e->keys_reported);
            e->keys_reported = keys;
        }
    }
}

int64_t proc_engine_current_watermark(const struct proc_engine *e)
{
    return e->wm;
}

void proc_engine_origin_watermarks(struct proc_engine *e, int64_t now_ms, proc_origin_wm_fn fn,
                                   void *ud)
{
    for (size_t i = 0; i < e->norigins; i++) {
        const struct origin *o = &e->origins[i];
        int idle = now_ms - o->last_seen_ms >= e->d->idle_ms;
        if (o->max_time > INT64_MIN || idle) {
            fn(o->id, o->max_time > INT64_MIN ? o->max_time - e->d->ooo_ms : INT64_MIN, idle, ud);
        }
    }
}

void proc_engine_expect_source(struct proc_engine *e, int32_t source, int64_t now_ms)
{
    if (e->by_reports) {
        return; /* a second stage hears of its input partitions through the reports */
    }
    for (size_t i = 0; i < e->nwaiting; i++) {
        if (e->waiting[i].id == source) {
            e->waiting[i].since_ms = now_ms;
            return;
        }
    }
    e->waiting = cm_xrealloc(e->waiting, (e->nwaiting + 1) * sizeof(*e->waiting));
    e->waiting[e->nwaiting++] = (struct waiting){source, now_ms};
}

void proc_engine_note_backlog(struct proc_engine *e, int64_t now_ms, proc_backlog_fn backlog,
                              void *ud)
{
    if (e->by_reports) {
        return; /* the first stage's reports say so for a second stage */
    }
    int64_t quiet = e->d->idle_ms / 2;
    for (size_t i = 0; i < e->nsrc; i++) {
        struct source *s = &e->src[i];
        if (s->max_time > INT64_MIN && now_ms - s->last_seen_ms >= quiet && backlog(s->id, ud)) {
            s->last_seen_ms = now_ms;
        }
    }
    for (size_t i = 0; i < e->nwaiting; i++) {
        if (now_ms - e->waiting[i].since_ms >= quiet && backlog(e->waiting[i].id, ud)) {
            e->waiting[i].since_ms = now_ms;
        }
    }
}

void proc_engine_heard(struct proc_engine *e, int32_t source)
{
    for (size_t i = 0; i < e->nwaiting; i++) {
        if (e->waiting[i].id == source) {
            e->waiting[i] = e->waiting[--e->nwaiting];
            return;
        }
    }
}

void proc_engine_drop_origin(struct proc_engine *e, int32_t origin)
{
    for (size_t i = 0; i < e->norigins; i++) {
        if (e->origins[i].id == origin) {
            e->origins[i] = e->origins[--e->norigins];
            return;
        }
    }
}

void proc_engine_add_origin(struct proc_engine *e, int32_t origin, int64_t now_ms)
{
    struct origin *o = proc_engine_origin(e, origin);
    o->last_seen_ms = now_ms;
}

void proc_engine_use_reports(struct proc_engine *e, const int32_t *origins, size_t n)
{
    int32_t *old = e->expected;
    size_t nold = e->nexpected;
    e->by_reports = 1;
    e->expected = cm_xcalloc(n ? n : 1, sizeof(*e->expected));
    if (n > 0) {
        memcpy(e->expected, origins, n * sizeof(*origins));
    }
    e->nexpected = n;
    for (size_t i = 0; i < e->nsrc; i++) {
        struct source *s = &e->src[i];
        /* an input partition in both lists keeps its latest report; a new one (its topic grew)
         * holds the watermark back until its first report, as one not heard from yet does */
        struct report *kept = n ? cm_xcalloc(n, sizeof(*kept)) : NULL;
        for (size_t x = 0, j = 0; s->reports && x < n; x++) {
            while (j < nold && old[j] < origins[x]) {
                j++;
            }
            if (j < nold && old[j] == origins[x]) {
                kept[x] = s->reports[j];
            }
        }
        free(s->reports);
        s->reports = kept;
        /* windows fired before by the watermark over every source keep it */
        s->wm = e->wm > s->wm ? e->wm : s->wm;
        source_wm(e, s);
    }
    free(old);
}

void proc_engine_report(struct proc_engine *e, int32_t source, int32_t origin, int64_t wm, int idle,
                        int64_t sent_ms)
{
    size_t lo = 0, hi = e->nexpected;
    while (lo < hi) { /* expected is ascending */
        size_t mid = (lo + hi) / 2;
        if (e->expected[mid] < origin) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == e->nexpected || e->expected[lo] != origin) {
        return; /* not an input partition known yet: its next report counts */
    }
    struct source *s = proc_engine_source(e, source, 1);
    if (!s->reports) {
        return;
    }
    struct report *r = &s->reports[lo];
    int64_t before = r->wm;
    int was_idle = r->idle, was_heard = r->heard;
    r->wm = !r->heard || wm > r->wm ? wm : r->wm; /* a replaying first stage reports less */
    s->nidle += (idle != 0) - (was_heard && was_idle);
    r->idle = idle;
    r->heard = 1;
    int stales = 0; /* a newer report: an idle one of another sender may have gone stale */
    if (sent_ms > s->rnewest) {
        s->rnewest = sent_ms;
        stales = s->nidle > 0;
    }
    if (idle && sent_ms > r->sent_ms) {
        stales = 1; /* (this one, stale so far, may be fresh again) */
    }
    r->sent_ms = sent_ms > r->sent_ms ? sent_ms : r->sent_ms;
    if (r->wm != before || r->idle != was_idle || !was_heard || stales) {
        source_wm(e, s);
        advance_source(e, s);
        sources_wm(e);
    }
}

int64_t proc_engine_origin_wm(const struct proc_engine *e, int32_t origin)
{
    for (size_t i = 0; i < e->norigins; i++) {
        if (e->origins[i].id == origin && e->origins[i].max_time > INT64_MIN) {
            return e->origins[i].max_time - e->d->ooo_ms;
        }
    }
    return INT64_MIN;
}

int64_t proc_engine_source_watermark(const struct proc_engine *e, int32_t source,
                                     proc_engine_report_fn fn, void *ud)
{
    const struct source *s = proc_engine_source((struct proc_engine *)e, source, 0);
    if (!s) {
        return INT64_MIN;
    }
    for (size_t x = 0; s->reports && x < e->nexpected; x++) {
        if (s->reports[x].heard) {
            fn(e->expected[x], s->reports[x].wm, s->reports[x].idle, s->reports[x].sent_ms, ud);
        }
    }
    return s->wm;
}

void proc_engine_restore_watermark(struct proc_engine *e, int32_t source, int64_t wm)
{
    struct source *s = proc_engine_source(e, source, 1);
    s->wm = wm > s->wm ? wm : s->wm;
    sources_wm(e);
}

void proc_engine_restore_report(struct proc_engine *e, int32_t source, int32_t origin, int64_t wm,
                                int idle, int64_t sent_ms)
{
    struct source *s = proc_engine_source(e, source, 1);
    for (size_t x = 0; s->reports && x < e->nexpected; x++) {
        if (e->expected[x] == origin) {
            s->nidle += (idle != 0) - (s->reports[x].heard && s->reports[x].idle);
            s->rnewest = sent_ms > s->rnewest ? sent_ms : s->rnewest;
            s->reports[x] = (struct report){wm, sent_ms, idle != 0, 1};
            source_wm(e, s); /* the windows are restored as they were: nothing fires here */
            return;
        }
    }
}
