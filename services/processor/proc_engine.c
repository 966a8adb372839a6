/* proc_engine: one pipeline at work (see proc_engine.h): its steps, its windows' input and the
 * state it restores. Sources (input partitions) are kept in a small array grown on demand, each
 * with its watermark inputs and its window state; event time is in proc_watermark.c. */
#include "proc_engine.h"
#include "proc_engine_int.h"

#include "proc_agg.h"
#include "proc_def.h"
#include "proc_frame.h"
#include "proc_window.h"

#include "cm/config.h"
#include "cm/err.h"
#include "cm/event.h"
#include "cm/expr.h"
#include "cm/jsonscan.h"
#include "cm/jsonw.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cm_series *series(struct cm_metrics *m, const char *name, const char *help,
                                const char *labels, const char *pipeline, const char *outcome)
{
    if (!m) {
        return NULL;
    }
    struct cm_metric *f = cm_metrics_counter(m, name, help, labels);
    return outcome ? cm_metric_with(f, pipeline, outcome, NULL) : cm_metric_with(f, pipeline, NULL);
}

struct proc_engine *proc_engine_new(const struct proc_def *d, const struct proc_engine_out *out,
                                    struct cm_metrics *metrics)
{
    struct proc_engine *e = cm_xcalloc(1, sizeof(*e));
    e->d = d;
    e->out = *out;
    e->wm = INT64_MIN;
    e->forced = INT64_MIN;
    e->from = INT64_MIN;
    e->until = INT64_MAX;
    for (size_t i = 0; i < d->nsteps; i++) {
        e->mutates |= d->steps[i].kind != PROC_STEP_FILTER; /* map, flatMap and join change */
    }
    e->mutates |= d->time != NULL; /* so does source.time */
    snprintf(e->source_attr, sizeof(e->source_attr), "processor/%s", d->name);
    cm_fmt_dec(d->version, e->version_text);
    e->text_start_ms = e->text_end_ms = INT64_MIN;
    const char *h = "input events by pipeline and outcome";
    e->m_windowed = series(metrics, "records_total", h, "pipeline,outcome", d->name, "windowed");
    e->m_transformed =
        series(metrics, "records_total", h, "pipeline,outcome", d->name, "transformed");
    e->m_late = series(metrics, "records_total", h, "pipeline,outcome", d->name, "late");
    e->m_filtered = series(metrics, "records_total", h, "pipeline,outcome", d->name, "filtered");
    e->m_unmatched =
        series(metrics, "records_total", h, "pipeline,outcome", d->name, "join_unmatched");
    e->m_errors =
        series(metrics, "records_total", h, "pipeline,outcome", d->name, "expression_error");
    e->m_repeats =
        series(metrics, "records_total", h, "pipeline,outcome", d->name, "repeat_skipped");
    e->m_duplicates = series(metrics, "records_total", h, "pipeline,outcome", d->name, "duplicate");
    e->m_forgotten = series(metrics, "dedup_ids_forgotten_total",
                            "ids a key of a deduplicating pipeline forgot while its windows held "
                            "them, being at deduplicate.max_ids_per_key",
                            "pipeline", d->name, NULL);
    e->m_bad_time =
        series(metrics, "records_total", h, "pipeline,outcome", d->name, "time_out_of_range");
    e->m_ahead = series(metrics, "records_total", h, "pipeline,outcome", d->name, "time_ahead");
    e->m_key_bound = series(metrics, "records_total", h, "pipeline,outcome", d->name, "key_bound");
    e->m_key_mismatch = series(metrics, "key_mismatch_total",
                               "events of a pipeline with \"repartition\": false whose record's "
                               "Kafka key is not the pipeline's key (their windows are split "
                               "between input partitions)",
                               "pipeline", d->name, NULL);
    e->m_results = series(metrics, "results_total",
                          "results emitted (window results and "
                          "transformed events)",
                          "pipeline", d->name, NULL);
    proc_engine_gauge_open(e, metrics);
    return e;
}

void proc_engine_stop(struct proc_engine *e)
{
    for (size_t i = 0; i < e->nsrc; i++) {
        proc_windows_stop(e->src[i].w);
    }
}

void proc_engine_free(struct proc_engine *e)
{
    if (!e) {
        return;
    }
    proc_engine_gauge_close(e);
    cm_jw_free(&e->idw);
    for (size_t i = 0; i < e->nsrc; i++) {
        proc_windows_free(e->src[i].w);
        free(e->src[i].marks);
        free(e->src[i].reports);
    }
    free(e->src);
    free(e->origins);
    free(e->expected);
    free(e->waiting);
    cm_jw_free(&e->text);
    free(e);
}

const struct proc_def *proc_engine_def(const struct proc_engine *e)
{
    return e->d;
}

struct source *proc_engine_source(struct proc_engine *e, int32_t id, int create)
{
    for (size_t i = 0; i < e->nsrc; i++) {
        if (e->src[i].id == id) {
            return &e->src[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (e->nsrc == e->capsrc) {
        e->capsrc = e->capsrc ? e->capsrc * 2 : 8;
        e->src = cm_xrealloc(e->src, e->capsrc * sizeof(*e->src));
    }
    struct source *s = &e->src[e->nsrc++];
    *s = (struct source){id,
                         INT64_MIN,
                         0,
                         -1,
                         e->d->window != PROC_WIN_NONE ? proc_windows_new(e->d) : NULL,
                         NULL,
                         0,
                         e->nexpected ? cm_xcalloc(e->nexpected, sizeof(struct report)) : NULL,
                         INT64_MIN,
                         0,
                         0,
                         0,
                         0,
                         e->forced, /* a source new here starts at the watermark forced so far */
                         -1,
                         INT64_MIN};
    if (s->w && e->track) {
        proc_windows_track_changes(s->w);
    }
    if (s->w) {
        proc_windows_set_bounds(s->w, e->from, e->until);
    }
    return s;
}

/* ---- steps ---- */

struct input {
    int32_t source;
    int64_t time_ms, offset, wm;
    int64_t record_ms;         /* its Kafka record's timestamp; PROC_NO_RECORD_TIME: none */
    proc_prepared_fn prepared; /* NULL: window or emit here */
    void *ud;
    size_t made; /* events its flatMaps made so far (at most FLATMAP_MAX in all) */
    const struct proc_record_key *rkey; /* NULL: the input's keys are not checked */
    const json_t *orig;                 /* the input event as read (for out.dead_letter) */
    int dead;                           /* out.dead_letter was called for it */
};

/* An event dropped because an expression failed on it (or its time is out of range), counted in
 * m; the input event goes to out.dead_letter with the reason, once however many of the events
 * its flatMaps made fail. The reason is "<field>: <why>". */
static void drop(struct proc_engine *e, struct input *in, struct cm_series *m, const char *field,
                 const char *why)
{
    proc_engine_inc(m, 1);
    if (in->dead || !e->out.dead_letter || !in->orig) {
        return;
    }
    in->dead = 1;
    char reason[512];
    snprintf(reason, sizeof(reason), "%s: %s", field, why && *why ? why : "failed");
    e->out.dead_letter(e->d, in->orig, reason, e->out.ud);
}

/* Why an interval join's side filters failed on ev (proc_def_join_side gave -2). */
static void join_side_failed(struct proc_engine *e, struct input *in, const json_t *ev)
{
    static const char *const field[2] = {"interval_join.left.filter", "interval_join.right.filter"};
    for (int side = PROC_LEFT; side <= PROC_RIGHT; side++) {
        char why[256];
        why[0] = '\0';
        if (cm_expr_eval_bool(e->d->ijoin.filter[side], ev, why, sizeof(why)) == CM_EXPR_ERROR) {
            drop(e, in, e->m_errors, field[side], why);
            return;
        }
    }
    drop(e, in, e->m_errors, "interval_join", "a side's filter failed");
}

/* The pipeline's key of ev into key; 0, or -1 (counted, dead-lettered) when the expression
 * fails. */
static int key_of(struct proc_engine *e, struct input *in, const json_t *ev, char *key, size_t len)
{
    const struct proc_def *d = e->d;
    const struct cm_expr *expr = d->key;
    const char *field = "key";
    key[0] = '\0';
    if (d->window == PROC_WIN_JOIN) { /* of neither side: filtered; each side may have a key */
        int side = proc_def_join_side(d, ev);
        if (side == -1) {
            proc_engine_inc(e->m_filtered, 1);
            return -1;
        }
        if (side < 0) {
            join_side_failed(e, in, ev);
            return -1;
        }
        if (d->ijoin.key[side]) {
            expr = d->ijoin.key[side];
            field = side == PROC_LEFT ? "interval_join.left.key" : "interval_join.right.key";
        }
    }
    if (expr && cm_expr_eval_string(expr, ev, key, len) != 0) {
        drop(e, in, e->m_errors, field, key); /* (the reason is in key) */
        key[0] = '\0';
        return -1;
    }
    return 0;
}

/* ev's deduplication id into id; -1 (counted, dead-lettered) when its expression fails. The
 * default, [source, id], is written directly as the JSON text of those two strings (a fifth of
 * the stream thread's time per event as an expression). */
static int dedup_id(struct proc_engine *e, struct input *in, const json_t *ev,
                    char id[PROC_DEDUP_ID_MAX])
{
    const json_t *src = json_object_get(ev, "source"), *eid = json_object_get(ev, "id");
    if (e->d->dedup_default && json_is_string(src) && json_is_string(eid)) {
        size_t len;
        cm_jw_reset(&e->idw);
        cm_jw_array(&e->idw);
        cm_jw_stringn(&e->idw, json_string_value(src), json_string_length(src));
        cm_jw_stringn(&e->idw, json_string_value(eid), json_string_length(eid));
        cm_jw_end(&e->idw);
        const char *text = cm_jw_text(&e->idw, &len);
        if (len < PROC_DEDUP_ID_MAX) {
            memcpy(id, text, len + 1);
            return 0;
        }
    }
    if (cm_expr_eval_string(e->d->dedup, ev, id, PROC_DEDUP_ID_MAX) != 0) {
        drop(e, in, e->m_errors, "deduplicate.by", id); /* (the reason is in id) */
        return -1;
    }
    return 0;
}

/* Adds an event, or what the first stage evaluated of it (k; ev NULL), to its windows. */
static void windows_add(struct proc_engine *e, struct input *in, const json_t *ev,
                        const struct proc_keyed *k)
{
    const struct proc_def *d = e->d;
    char buf[KEY_MAX];
    const char *key = buf, *tenant, *tp;
    if (k) {
        key = k->key;
        tenant = k->tenant;
        tp = k->traceparent;
    } else {
        if (key_of(e, in, ev, buf, sizeof(buf)) != 0) {
            return;
        }
        if (in->rkey && (strlen(key) != in->rkey->len ||
                         (in->rkey->len > 0 && memcmp(key, in->rkey->key, in->rkey->len) != 0))) {
            proc_engine_inc(e->m_key_mismatch, 1);
            e->key_mismatches++;
            if (e->out.key_mismatch) {
                e->out.key_mismatch(d, in->source, in->offset, in->rkey, key, e->out.ud);
            }
        }
        tenant = json_string_value(json_object_get(ev, "tenant"));
        tp = json_string_value(json_object_get(ev, "traceparent"));
    }
    char idbuf[PROC_DEDUP_ID_MAX];
    const char *id = NULL;
    if (d->dedup && k) { /* the first stage sent it after the aggregates' arguments */
        id = json_string_value(json_array_get(k->args, d->naggs));
        proc_engine_inc(e->m_errors, id == NULL);
    } else if (d->dedup) {
        if (dedup_id(e, in, ev, idbuf) != 0) {
            return;
        }
        id = idbuf;
    }
    struct source *s = proc_engine_source(e, in->source, 1);
    if (id && proc_windows_seen(s->w, tenant ? tenant : "", key, id, in->wm)) {
        proc_engine_inc(e->m_duplicates, 1);
        return;
    }
    size_t errors = 0;
    enum proc_add r =
        proc_windows_add(s->w, tenant ? tenant : "", key, in->time_ms, ev, k ? k->args : NULL, tp,
                         in->offset, in->wm, proc_engine_emit_result, e, &errors);
    proc_engine_inc(e->m_errors, errors);
    if (r == PROC_LATE || r == PROC_REFUSED) {
        proc_engine_inc(r == PROC_LATE ? e->m_late : e->m_key_bound, 1);
        e->key_refusals += r == PROC_REFUSED;
        if (r == PROC_REFUSED && !e->out.refused) {
            return;
        }
        struct cm_event parsed = {0};
        const char *why;
        if (!ev && cm_event_from_text(k->raw, k->rawlen, k->time_ms, CM_EVENT_OBJECT, &parsed,
                                      &why) == 0) {
            ev = parsed.ev;
        }
        if (!ev) {
            proc_engine_inc(e->m_errors, 1); /* (the first stage forwarded a JSON object) */
        } else if (r == PROC_LATE) {
            e->out.late(d, ev, e->out.ud);
        } else {
            char reason[224];
            proc_windows_refusal(s->w, reason, sizeof(reason));
            e->out.refused(d, ev, reason, e->out.ud);
        }
        json_decref(parsed.ev);
    } else if (r == PROC_ADDED) {
        proc_engine_inc(e->m_windowed, 1);
        if (id) {
            proc_engine_inc(e->m_forgotten, proc_windows_remember(s->w, tenant ? tenant : "", key,
                                                                  id, in->time_ms, in->wm));
        }
    }
}

static void window_add(struct proc_engine *e, struct input *in, const json_t *ev)
{
    windows_add(e, in, ev, NULL);
}

/* ev's data as an object that can take a member: data itself, or (absent, or not an object) a
 * fresh object in its place holding the old value as "value". */
static json_t *data_object(json_t *ev)
{
    json_t *data = json_object_get(ev, "data");
    if (!json_is_object(data)) {
        json_t *fresh = json_object();
        if (data) {
            json_object_set(fresh, "value", data);
        }
        json_object_set_new(ev, "data", fresh);
        data = fresh;
    }
    return data;
}

/* A join step: data.<as> = the table's row for the step's key (an inner join drops an event
 * without one, a left join sets null). 0, or -1 when the event is dropped (counted). */
static int join_row(struct proc_engine *e, struct input *in, size_t i, json_t *ev)
{
    const struct proc_step *st = &e->d->steps[i];
    char why[256];
    why[0] = '\0';
    json_t *k = cm_expr_eval_json(st->expr, ev, why, sizeof(why));
    char key[KEY_MAX];
    int ok = k && (json_is_string(k) || json_is_number(k));
    if (ok) { /* its text, whole: a key cut (or read up to a NUL) would find another's row */
        char *text = json_is_string(k) ? NULL : cm_json_dumps(k, NULL);
        const char *p = text ? text : json_string_value(k);
        size_t n = text ? strlen(text) : json_string_length(k);
        if (n >= sizeof(key) || memchr(p, '\0', n)) {
            if (n >= sizeof(key)) {
                snprintf(why, sizeof(why), "is %zu bytes long, more than the %zu a key may have", n,
                         sizeof(key) - 1);
            } else {
                snprintf(why, sizeof(why), "%s", "holds a NUL character");
            }
            ok = 0;
        } else {
            memcpy(key, p, n + 1);
        }
        free(text);
    } else if (k) {
        snprintf(why, sizeof(why), "%s", "not a string or a number");
    }
    json_decref(k);
    if (!ok && !st->left) { /* (a left join keeps it, with null: it has no row) */
        char field[64];
        snprintf(field, sizeof(field), "steps[%zu].join.key", i);
        drop(e, in, e->m_errors, field, why);
        return -1;
    }
    json_t *row = ok && e->out.lookup ? e->out.lookup(st->table, key, e->out.ud) : NULL;
    if (!row && !st->left) {
        proc_engine_inc(e->m_unmatched, 1);
        return -1;
    }
    json_object_set_new(data_object(ev), st->as, row ? row : json_null());
    return 0;
}

/* The id of an event a flatMap made in a windowed pipeline: its input's id, `#`, and its place
 * in each flatMap ("ord-7#0", "ord-7#1.2"). The elements of one event are different events: a
 * late one, or a pair an interval join makes of one, must not share an id with its siblings'. */
static void element_id(json_t *ev, const char *path)
{
    const char *id = json_string_value(json_object_get(ev, "id"));
    if (!id) {
        return;
    }
    size_t il = strlen(id), pl = strlen(path);
    char *nid = cm_xmalloc(il + pl + 2);
    memcpy(nid, id, il);
    nid[il] = '#';
    memcpy(nid + il + 1, path, pl + 1);
    json_object_set_new(ev, "id", json_stringn(nid, il + pl + 1));
    free(nid);
}

/* Runs steps from index i on ev (owned), then windows or emits each resulting event. */
static void run_steps(struct proc_engine *e, struct input *in, json_t *ev, size_t i,
                      const char *path)
{
    const struct proc_def *d = e->d;
    for (; i < d->nsteps; i++) {
        const struct proc_step *st = &d->steps[i];
        char why[256], field[160];
        why[0] = '\0';
        if (st->kind == PROC_STEP_FILTER) {
            enum cm_expr_outcome keep = cm_expr_eval_bool(st->expr, ev, why, sizeof(why));
            if (keep != CM_EXPR_TRUE) {
                if (keep == CM_EXPR_FALSE) {
                    proc_engine_inc(e->m_filtered, 1);
                } else {
                    snprintf(field, sizeof(field), "steps[%zu].filter", i);
                    drop(e, in, e->m_errors, field, why);
                }
                json_decref(ev);
                return;
            }
        } else if (st->kind == PROC_STEP_JOIN) {
            if (join_row(e, in, i, ev) != 0) {
                json_decref(ev);
                return;
            }
        } else if (st->kind == PROC_STEP_MAP) {
            json_t *data = json_object();
            for (size_t k = 0; k < st->n; k++) {
                json_t *v = cm_expr_eval_json(st->exprs[k], ev, why, sizeof(why));
                if (!v) {
                    snprintf(field, sizeof(field), "steps[%zu].map.%s", i, st->names[k]);
                    drop(e, in, e->m_errors, field, why);
                    json_decref(data);
                    json_decref(ev);
                    return;
                }
                json_object_set_new(data, st->names[k], v);
            }
            json_object_set_new(ev, "data", data);
        } else {
            json_t *list = cm_expr_eval_json(st->expr, ev, why, sizeof(why));
            /* nested flatMaps multiply: one input event makes at most FLATMAP_MAX in all */
            if (!json_is_array(list) || json_array_size(list) > FLATMAP_MAX - in->made) {
                snprintf(field, sizeof(field), "steps[%zu].flatMap", i);
                if (list && !json_is_array(list)) {
                    snprintf(why, sizeof(why), "not a list");
                } else if (list) {
                    snprintf(why, sizeof(why), "more than %d events from one input event",
                             FLATMAP_MAX);
                }
                drop(e, in, e->m_errors, field, why);
                json_decref(list);
                json_decref(ev);
                return;
            }
            in->made += json_array_size(list);
            size_t k;
            json_t *elem;
            json_array_foreach(list, k, elem)
            {
                json_t *child = json_copy(ev);
                if (st->as) { /* the element beside the rest of data, which each child copies */
                    json_t *data = json_copy(data_object(child));
                    json_object_set_new(child, "data", data);
                    json_object_set(data, st->as, elem);
                } else {
                    json_object_set(child, "data", elem);
                }
                char sub[256];
                snprintf(sub, sizeof(sub), "%s%s%zu", path, *path ? "." : "", k);
                run_steps(e, in, child, i + 1, sub);
            }
            json_decref(list);
            json_decref(ev);
            return;
        }
    }
    if (d->window == PROC_WIN_NONE) {
        proc_engine_inc(e->m_transformed, 1);
        proc_engine_emit_transformed(e, ev, path);
        json_decref(ev);
        return;
    }
    if (*path) { /* made by a flatMap: its own id, or its siblings would share it (late, joined) */
        element_id(ev, path);
    }
    if (in->prepared) {
        char key[KEY_MAX];
        if (key_of(e, in, ev, key, sizeof(key)) == 0) {
            const char *tenant = json_string_value(json_object_get(ev, "tenant"));
            size_t errors = 0;
            json_t *args = d->window == PROC_WIN_JOIN ? NULL : proc_acc_args(d, ev, &errors);
            proc_engine_inc(e->m_errors, errors);
            char id[PROC_DEDUP_ID_MAX];
            if (!d->dedup || dedup_id(e, in, ev, id) == 0) {
                if (d->dedup) { /* sent after the aggregates' arguments */
                    json_array_append_new(args, json_string(id));
                }
                in->prepared(ev, tenant ? tenant : "", key, !e->mutates, args, in->ud);
            }
            json_decref(args);
        }
    } else {
        window_add(e, in, ev);
    }
    json_decref(ev);
}

/* The watermark that judges an event read from s at offset: the source's own, and at least the
 * horizon of a state lost and recomputed for what is read after that state's commit. */
static int64_t judged_by(const struct source *s, int64_t offset)
{
    if (s->hz_until >= 0 && offset >= s->hz_until && s->hz_wm > s->wm) {
        return s->hz_wm; /* read after the lost state's commit: judged as it was then at least */
    }
    return s->wm;
}

uint64_t proc_engine_key_mismatches(const struct proc_engine *e)
{
    return e->key_mismatches;
}

size_t proc_engine_keys(const struct proc_engine *e, size_t *fullest, uint64_t *refused)
{
    size_t all = 0;
    *fullest = 0;
    for (size_t i = 0; i < e->nsrc; i++) {
        size_t n = e->src[i].w ? proc_windows_keys(e->src[i].w) : 0;
        all += n;
        *fullest = n > *fullest ? n : *fullest;
    }
    *refused = e->key_refusals;
    return all;
}

/* 1 (counted) when a windowed pipeline's event has a time outside the years 0000..9999 that an
 * event's `time` can state: a Kafka record's timestamp (taken when the event has none) can be
 * any int64, and a repartition frame anything written to its topic. Such an event would move
 * the watermark past every other event and overflow window arithmetic: it is left out, as a
 * record that is not an event is. So is one whose time lies more than max_time_ahead ahead of
 * its record's timestamp (a producer's clock years ahead would make every later event of its
 * partition late); the record's timestamp, not the clock, so a replay judges it the same. */
static int time_refused(struct proc_engine *e, struct input *in, int64_t time_ms)
{
    if (e->d->window == PROC_WIN_NONE) {
        return 0;
    }
    char why[160];
    if (!cm_time_in_range(time_ms)) {
        snprintf(why, sizeof(why), "%lld ms is outside the years 0000 to 9999", (long long)time_ms);
        drop(e, in, e->m_bad_time, "time", why);
        return 1;
    }
    int64_t max = e->d->max_ahead_ms;
    if (max <= 0 || in->record_ms < 0 || time_ms - max <= in->record_ms) { /* (Kafka: -1 none) */
        return 0;
    }
    char t[CM_RFC3339_LEN], r[CM_RFC3339_LEN], ahead[32];
    snprintf(why, sizeof(why),
             "%s is more than %s ahead of its record's timestamp %s "
             "(max_time_ahead)",
             cm_time_format_rfc3339(time_ms, t), cm_format_duration_ms(max, ahead, sizeof(ahead)),
             cm_time_format_rfc3339(in->record_ms, r));
    drop(e, in, e->m_ahead, "time", why);
    return 1;
}

/* An event read, before anything else: its time set by source.time when the pipeline has one
 * (*own: the event with it, a new reference; else NULL) into in->time_ms, and checked. 0, or -1
 * when it has no usable time (made a dead letter). */
static int admit(struct proc_engine *e, struct input *in, const json_t *ev, json_t **own)
{
    *own = NULL;
    if (e->d->time) {
        char why[256];
        *own = proc_engine_event_time(e->d, ev, &in->time_ms, why, sizeof(why));
        if (!*own) {
            drop(e, in, e->m_errors, "source.time", why);
            return -1;
        }
    }
    if (time_refused(e, in, in->time_ms)) {
        json_decref(*own);
        *own = NULL;
        return -1;
    }
    return 0;
}

/* source.filter, then the steps. */
static void source_in(struct proc_engine *e, struct input *in, const json_t *ev)
{
    char why[256];
    why[0] = '\0';
    enum cm_expr_outcome keep =
        e->d->filter ? cm_expr_eval_bool(e->d->filter, ev, why, sizeof(why)) : CM_EXPR_TRUE;
    if (keep == CM_EXPR_FALSE) {
        proc_engine_inc(e->m_filtered, 1);
    } else if (keep == CM_EXPR_ERROR) {
        drop(e, in, e->m_errors, "source.filter", why);
    } else {
        run_steps(e, in, e->mutates ? json_copy((json_t *)ev) : json_incref((json_t *)ev), 0, "");
    }
}

void proc_engine_process(struct proc_engine *e, int32_t source, const json_t *ev, int64_t time_ms,
                         int64_t offset, int64_t now_ms)
{
    proc_engine_process_record(e, source, ev, time_ms, PROC_NO_RECORD_TIME, offset, NULL, now_ms);
}

void proc_engine_process_record(struct proc_engine *e, int32_t source, const json_t *ev,
                                int64_t time_ms, int64_t record_ms, int64_t offset,
                                const struct proc_record_key *rkey, int64_t now_ms)
{
    struct source *s = proc_engine_source(e, source, 1);
    s->last_seen_ms = now_ms;
    if (offset < s->resume) {
        return; /* in the restored state already */
    }
    struct input in = {source, time_ms, offset, judged_by(s, offset), record_ms, NULL, NULL, 0,
                       rkey,   ev,      0};
    json_t *own;
    if (admit(e, &in, ev, &own) != 0) {
        return;
    }
    time_ms = in.time_ms;
    source_in(e, &in, own ? own : ev);
    s = proc_engine_source(e, source, 1); /* the array may have grown */
    /* every event read moves its partition's watermark, one the filter or the steps drop too
     * (as at a Flink source, and as the first stage of two does), after its windows took it */
    if (s->max_time == INT64_MIN && e->nwaiting) {
        proc_engine_heard(e, source);
    }
    if (time_ms > s->max_time) {
        s->max_time = time_ms;
    }
    json_decref(own);
    proc_engine_settle(e, NULL, now_ms);
}

struct origin *proc_engine_origin(struct proc_engine *e, int32_t id)
{
    for (size_t i = 0; i < e->norigins; i++) {
        if (e->origins[i].id == id) {
            return &e->origins[i];
        }
    }
    e->origins = cm_xrealloc(e->origins, (e->norigins + 1) * sizeof(*e->origins));
    e->origins[e->norigins] = (struct origin){id, INT64_MIN, 0};
    return &e->origins[e->norigins++];
}

void proc_engine_prepare(struct proc_engine *e, int32_t origin, const json_t *ev, int64_t time_ms,
                         int64_t record_ms, int64_t now_ms, proc_prepared_fn prepared, void *ud)
{
    struct origin *o = proc_engine_origin(e, origin);
    o->last_seen_ms = now_ms;
    struct input in = {0, time_ms, 0, e->wm, record_ms, prepared, ud, 0, NULL, ev, 0};
    json_t *own;
    if (admit(e, &in, ev, &own) != 0) {
        return;
    }
    if (in.time_ms > o->max_time) {
        o->max_time = in.time_ms;
    }
    source_in(e, &in, own ? own : ev);
    json_decref(own);
}

/* 1 when origin is not above the source's mark for it (a repeat); else raises the mark. */
static int repeat(struct source *s, const struct proc_origin *o)
{
    for (size_t i = 0; i < s->nmarks; i++) {
        struct proc_origin *m = &s->marks[i];
        if (m->origin == o->origin) {
            if (o->offset < m->offset || (o->offset == m->offset && o->seq <= m->seq)) {
                return 1;
            }
            *m = *o;
            return 0;
        }
    }
    s->marks = cm_xrealloc(s->marks, (s->nmarks + 1) * sizeof(*s->marks));
    s->marks[s->nmarks++] = *o;
    return 0;
}

static int window_in(struct proc_engine *e, int32_t source, const json_t *ev,
                     const struct proc_keyed *k, int64_t time_ms, int64_t offset,
                     const struct proc_origin *origin, int64_t now_ms)
{
    struct source *s = proc_engine_source(e, source, 1);
    s->last_seen_ms = now_ms;
    if (offset < s->resume) {
        return 1; /* in the restored state already */
    }
    /* (read back from the repartition topic: its input event was dead-lettered, if it failed, by
     * the first stage) */
    struct input in = {
        source, time_ms, offset, judged_by(s, offset), PROC_NO_RECORD_TIME, NULL, NULL, 0,
        NULL,   NULL,    0};
    if (time_refused(e, &in, time_ms)) {
        return 1;
    }
    if (origin && repeat(s, origin)) {
        proc_engine_inc(e->m_repeats, 1);
        return 1;
    }
    windows_add(e, &in, ev, k);
    s = proc_engine_source(e, source, 1);
    if (time_ms > s->max_time) {
        s->max_time = time_ms;
    }
    if (!e->by_reports) { /* (the second stage's watermark moves with reports only) */
        proc_engine_settle(e, NULL, now_ms);
    }
    return 0;
}

int proc_engine_window(struct proc_engine *e, int32_t source, const json_t *ev, int64_t time_ms,
                       int64_t offset, const struct proc_origin *origin, int64_t now_ms)
{
    return window_in(e, source, ev, NULL, time_ms, offset, origin, now_ms);
}

int proc_engine_window_keyed(struct proc_engine *e, int32_t source, const struct proc_keyed *k,
                             int64_t offset, const struct proc_origin *origin, int64_t now_ms)
{
    return window_in(e, source, NULL, k, k->time_ms, offset, origin, now_ms);
}

void proc_engine_restore_mark(struct proc_engine *e, int32_t source, const struct proc_origin *mark)
{
    struct source *s = proc_engine_source(e, source, 1);
    repeat(s, mark);
}

int proc_engine_take_entry(struct proc_engine *e, int32_t source, const struct proc_frame_entry *fe,
                           int64_t offset, int64_t sent_ms, int64_t now_ms, const char **why)
{
    struct proc_origin o = {fe->origin, fe->offset, fe->seq};
    if (fe->wm_before > INT64_MIN) { /* what the events before it, dropped ones too, made */
        proc_engine_report(e, source, fe->origin, fe->wm_before, 0, sent_ms);
    }
    json_t *args =
        fe->args && e->d->window != PROC_WIN_JOIN ? cm_jscan_load(fe->args, fe->argslen) : NULL;
    if (json_is_array(args)) { /* the first stage evaluated what the windows need */
        struct proc_keyed pk = {.tenant = fe->tenant,
                                .key = fe->key,
                                .traceparent = fe->traceparent,
                                .time_ms = fe->time_ms,
                                .args = args,
                                .raw = fe->raw,
                                .rawlen = fe->rawlen};
        proc_engine_window_keyed(e, source, &pk, offset, &o, now_ms);
    } else {
        struct cm_event ev;
        if (cm_event_from_text(fe->raw, fe->rawlen, fe->time_ms, CM_EVENT_OBJECT, &ev, why) != 0) {
            json_decref(args);
            return CM_E_INVAL;
        }
        proc_engine_window(e, source, ev.ev, ev.time_ms, offset, &o, now_ms);
        cm_event_clear(&ev);
    }
    json_decref(args);
    if (fe->wm > INT64_MIN) {
        proc_engine_report(e, source, fe->origin, fe->wm, 0, sent_ms);
    }
    return 0;
}
