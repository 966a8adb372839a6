/* proc_result: what an engine emits: window results (CloudEvents of type pipeline.result, or
 * pipeline.joined for an interval join's pairs, and pipeline.retraction for a session's result
 * that a merge withdrew) with deterministic ids, and a stateless
 * pipeline's transformed events. A plain window result (no `having`, no batching) is written
 * straight to its JSON text (cm_jw) with its Kafka key and headers, the same bytes the JSON-value
 * path (cm_event_derived_new, then cm_envelope_serialize) makes: results are about as many as
 * input events in a keyed pipeline over many keys, and building then dumping a jansson tree for
 * each was a quarter of the stream thread's time. */
#include "proc_engine_int.h"

#include "proc_agg.h"

#include "cm/envelope.h"
#include "cm/event.h"
#include "cm/expr.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <stdio.h>
#include <string.h>

const char *proc_timing_name(enum proc_timing t)
{
    switch (t) {
    case PROC_TIMING_EARLY:
        return "early";
    case PROC_TIMING_ON_TIME:
        return "on_time";
    case PROC_TIMING_LATE:
        return "late";
    case PROC_TIMING_NONE:
        break;
    }
    return NULL;
}

void proc_engine_inc(struct cm_series *s, uint64_t n)
{
    if (s && n) {
        cm_counter_add(s, n);
    }
}

/* Emits a result of a key (data taken): a CloudEvent of the given type with the key as subject,
 * the result's time, tenant and traceparent, and an id from (pipeline, version, tenant, key, then
 * the n parts given: at most 4), so a replay yields the same ids. */
static void emit_keyed(struct proc_engine *e, const struct proc_window_result *r, const char *type,
                       const char *const *more, unsigned n, json_t *data)
{
    const struct proc_def *d = e->d;
    char version[24];
    snprintf(version, sizeof(version), "%lld", d->version);
    const char *parts[9] = {"pipeline", d->name, version, r->tenant, r->key};
    n = n < 4 ? n : 4;
    for (unsigned i = 0; i < n; i++) {
        parts[5 + i] = more[i];
    }
    struct cm_derived der = {.type = type,
                             .source = e->source_attr,
                             .subject = r->key,
                             .time_ms = r->end_ms,
                             .id_parts = parts,
                             .nid_parts = 5 + n,
                             .tenant = r->tenant[0] ? r->tenant : NULL,
                             .traceparent = r->traceparent};
    const char *ext[] = {"timing", proc_timing_name(r->timing)};
    if (ext[1]) {
        der.ext = ext;
        der.next = 1;
    }
    json_t *ev = cm_event_derived_new(&der, data);
    e->out.emit(d, ev, e->out.ud);
    json_decref(ev);
    proc_engine_inc(e->m_results, 1);
}

/* An interval join's pair: data {pipeline, version, key, <left as>: the left event's data,
 * <right as>: the right one's (null for an outer join's unmatched left), ids: {<left as>: the
 * left event's id, <right as>: the right one's or null}}; the id from the two events' sources and
 * ids (an id is unique within its source only: two sources may both send an event "1"). */
static int emit_pair(struct proc_engine *e, const struct proc_window_result *r)
{
    const struct proc_def *d = e->d;
    json_t *data = json_object();
    json_object_set_new(data, "pipeline", json_string(d->name));
    json_object_set_new(data, "version", json_integer(d->version));
    json_object_set_new(data, "key", json_string(r->key));
    json_object_set(data, d->ijoin.as[PROC_LEFT], json_object_get(r->left, "data"));
    json_object_set(data, d->ijoin.as[PROC_RIGHT],
                    r->right ? json_object_get(r->right, "data") : json_null());
    const char *lid = json_string_value(json_object_get(r->left, "id"));
    const char *rid = r->right ? json_string_value(json_object_get(r->right, "id")) : "";
    json_object_set_new(data, "ids",
                        json_pack("{s:s,s:s?}", d->ijoin.as[PROC_LEFT], lid,
                                  d->ijoin.as[PROC_RIGHT], r->right ? rid : NULL));
    const char *lsrc = json_string_value(json_object_get(r->left, "source"));
    const char *rsrc = r->right ? json_string_value(json_object_get(r->right, "source")) : "";
    const char *more[] = {lsrc ? lsrc : "", lid ? lid : "", rsrc ? rsrc : "", rid ? rid : ""};
    emit_keyed(e, r, "pipeline.joined", more, 4, data);
    return 1;
}

/* A plain window result straight to text: the envelope of cm_event_derived_new with the data of
 * the JSON-value path below, members in the same order; then its key and headers as
 * cm_event_key and cm_event_headers give them. */
static void emit_text(struct proc_engine *e, const struct proc_window_result *r)
{
    const struct proc_def *d = e->d;
    char rev[CM_DEC_LEN], id[CM_UUID_STR_LEN];
    if (r->start_ms != e->text_start_ms) { /* a window's results come one after another */
        e->text_start_ms = r->start_ms;
        cm_fmt_dec(r->start_ms, e->start_ms_text);
        cm_time_format_rfc3339(r->start_ms, e->start_text);
    }
    if (r->end_ms != e->text_end_ms) {
        e->text_end_ms = r->end_ms;
        cm_fmt_dec(r->end_ms, e->end_ms_text);
        cm_time_format_rfc3339(r->end_ms, e->end_text);
    }
    const char *start = e->start_text, *end = e->end_text;
    cm_fmt_dec(r->revision, rev);
    const char *parts[] = {"pipeline",       d->name, e->version_text, r->tenant, r->key,
                           e->start_ms_text, rev,     e->end_ms_text};
    cm_uuid_from_parts(parts, d->window == PROC_WIN_SESSION ? 8 : 7, id);
    const char *tenant = r->tenant[0] ? r->tenant : NULL;
    const char *tp = r->traceparent && cm_traceparent_valid(r->traceparent) ? r->traceparent : NULL;
    struct cm_jw *w = &e->text;
    cm_jw_reset(w);
    cm_jw_object(w);
    cm_jw_key(w, "specversion");
    cm_jw_string(w, "1.0");
    cm_jw_key(w, "id");
    cm_jw_string(w, id);
    cm_jw_key(w, "source");
    cm_jw_string(w, e->source_attr);
    cm_jw_key(w, "type");
    cm_jw_string(w, "pipeline.result");
    cm_jw_key(w, "subject");
    cm_jw_string(w, r->key);
    cm_jw_key(w, "time");
    cm_jw_string(w, end);
    cm_jw_key(w, "datacontenttype");
    cm_jw_string(w, "application/json");
    if (tenant) {
        cm_jw_key(w, "tenant");
        cm_jw_string(w, tenant);
    }
    if (tp) {
        cm_jw_key(w, "traceparent");
        cm_jw_string(w, tp);
    }
    const char *timing = proc_timing_name(r->timing);
    if (timing) {
        cm_jw_key(w, "timing");
        cm_jw_string(w, timing);
    }
    cm_jw_key(w, "data");
    cm_jw_object(w);
    cm_jw_key(w, "pipeline");
    cm_jw_string(w, d->name);
    cm_jw_key(w, "version");
    cm_jw_int(w, d->version);
    cm_jw_key(w, "key");
    cm_jw_string(w, r->key);
    cm_jw_key(w, "window_start");
    cm_jw_string(w, start);
    cm_jw_key(w, "window_end");
    cm_jw_string(w, end);
    cm_jw_key(w, "revision");
    cm_jw_int(w, r->revision);
    proc_acc_write(r->acc, w);
    cm_jw_end(w);
    cm_jw_end(w);
    const char *names[CM_EVENT_MAX_HEADERS] = {"content-type", "ce_id", "ce_type", "ce_source"};
    const char *values[CM_EVENT_MAX_HEADERS] = {CM_EVENT_CONTENT_TYPE, id, "pipeline.result",
                                                e->source_attr};
    size_t nh = 4;
    if (tenant) {
        names[nh] = "ce_tenant";
        values[nh++] = tenant;
    }
    if (tp) {
        names[nh] = "traceparent";
        values[nh++] = tp;
    }
    size_t len;
    const char *text = cm_jw_text(w, &len);
    e->out.emit_text(d, r->key, text, len, names, values, nh, e->out.ud);
    proc_engine_inc(e->m_results, 1);
}

json_t *proc_result_data(const struct proc_def *d, const struct proc_window_result *r)
{
    char start[CM_RFC3339_LEN], end[CM_RFC3339_LEN];
    cm_time_format_rfc3339(r->start_ms, start);
    cm_time_format_rfc3339(r->end_ms, end);
    json_t *data = json_object();
    json_object_set_new(data, "pipeline", json_string(d->name));
    json_object_set_new(data, "version", json_integer(d->version));
    json_object_set_new(data, "key", json_string(r->key));
    json_object_set_new(data, "window_start", json_string(start));
    json_object_set_new(data, "window_end", json_string(end));
    json_object_set_new(data, "revision", json_integer(r->revision));
    proc_acc_result(r->acc, data);
    return data;
}

/* A session window's retraction: data {pipeline, version, key, window_start, window_end,
 * revision, result_id: the id of the result withdrawn, replaced_by: {window_start, window_end}
 * of the session it became}; the id from the withdrawn result's parts and "retraction". */
static void emit_retraction(struct proc_engine *e, const struct proc_window_result *r)
{
    const struct proc_def *d = e->d;
    char startms[24], endms[24], rev[16], version[24], id[CM_UUID_STR_LEN];
    char start[CM_RFC3339_LEN], end[CM_RFC3339_LEN], by_start[CM_RFC3339_LEN],
        by_end[CM_RFC3339_LEN];
    snprintf(startms, sizeof(startms), "%lld", (long long)r->start_ms);
    snprintf(rev, sizeof(rev), "%u", r->revision);
    snprintf(endms, sizeof(endms), "%lld", (long long)r->end_ms);
    snprintf(version, sizeof(version), "%lld", d->version);
    const char *parts[] = {"pipeline", d->name, version, r->tenant, r->key, startms, rev, endms};
    cm_uuid_from_parts(parts, 8, id);
    cm_time_format_rfc3339(r->start_ms, start);
    cm_time_format_rfc3339(r->end_ms, end);
    cm_time_format_rfc3339(r->by_start_ms, by_start);
    cm_time_format_rfc3339(r->by_end_ms, by_end);
    json_t *data = json_pack("{s:s,s:I,s:s,s:s,s:s,s:i,s:s,s:{s:s,s:s}}", "pipeline", d->name,
                             "version", (json_int_t)d->version, "key", r->key, "window_start",
                             start, "window_end", end, "revision", (int)r->revision, "result_id",
                             id, "replaced_by", "window_start", by_start, "window_end", by_end);
    const char *more[] = {startms, rev, endms, "retraction"};
    emit_keyed(e, r, "pipeline.retraction", more, 4, data);
}

int proc_engine_emit_result(const struct proc_window_result *r, void *ud)
{
    struct proc_engine *e = ud;
    const struct proc_def *d = e->d;
    if (r->left) {
        return emit_pair(e, r);
    }
    if (r->retraction) {
        emit_retraction(e, r);
        return 1;
    }
    if (e->out.emit_text && !d->having && d->batch_max == 0) {
        emit_text(e, r);
        return 1;
    }
    char startms[24], endms[24], rev[16];
    json_t *data = proc_result_data(d, r);
    if (d->having) {
        enum cm_expr_outcome keep = cm_expr_eval_bool(d->having, data, NULL, 0);
        if (keep != CM_EXPR_TRUE) {
            proc_engine_inc(e->m_errors, keep == CM_EXPR_ERROR);
            json_decref(data);
            return 0;
        }
    }
    snprintf(startms, sizeof(startms), "%lld", (long long)r->start_ms);
    snprintf(rev, sizeof(rev), "%u", r->revision);
    snprintf(endms, sizeof(endms), "%lld", (long long)r->end_ms);
    const char *more[] = {startms, rev, endms};
    emit_keyed(e, r, "pipeline.result", more, d->window == PROC_WIN_SESSION ? 3 : 2, data);
    return 1;
}

/* A stateless pipeline's output: the event with its new data, a deterministic id from the
 * input's source and id and the element's path through flatMaps, and the processor as source. */
void proc_engine_emit_transformed(struct proc_engine *e, const json_t *ev, const char *path)
{
    const struct proc_def *d = e->d;
    char version[24];
    snprintf(version, sizeof(version), "%lld", d->version);
    const char *src = json_string_value(json_object_get(ev, "source"));
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *parts[] = {"pipeline", d->name, version, src ? src : "", id ? id : "", path};
    char newid[CM_UUID_STR_LEN];
    cm_uuid_from_parts(parts, 6, newid);
    json_t *out = json_copy((json_t *)ev);
    json_object_set_new(out, "id", json_string(newid));
    json_object_set_new(out, "source", json_string(e->source_attr));
    if (id) {
        json_object_set_new(out, "sourceevent", json_string(id));
    }
    e->out.emit(d, out, e->out.ud);
    json_decref(out);
    proc_engine_inc(e->m_results, 1);
}
