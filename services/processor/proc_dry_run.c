/* proc_dry_run: POST /pipelines/{name}/dry-run runs the stored definition, or one given in the
 * body, over the body's events (a JSON object or pipeline-run's NDJSON lines) with the offline
 * engine, and answers the results, late events, dead letters and errors without producing
 * anything; with the warnings a PUT of the definition would answer, but the topics. */
#include "proc_api_int.h"

#include "proc_batch.h"
#include "proc_def.h"
#include "proc_engine.h"
#include "proc_offline.h"

#include "cm/auth.h"
#include "cm/defs.h"
#include "cm/err.h"
#include "cm/event.h"
#include "cm/http.h"
#include "cm/jsonw.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRY_RUN_MAX_EVENTS 10000
#define DRY_RUN_MAX_OUTPUTS 100000

struct collect {
    struct proc_offline in; /* first: the engine's lookup reads its tables */
    json_t *results, *late, *dead;
    const json_t *lines; /* the NDJSON body's line numbers, or NULL */
    struct proc_batcher *batch;
    int full; /* one of the lists holds DRY_RUN_MAX_OUTPUTS: the run stops */
};

/* Appends v (a new reference) to list, or stops the run once the list is full. */
static void keep(struct collect *c, json_t *list, json_t *v)
{
    if (json_array_size(list) < DRY_RUN_MAX_OUTPUTS) {
        json_array_append_new(list, v);
        return;
    }
    json_decref(v);
    if (!c->full) {
        c->full = 1;
        proc_engine_stop(c->in.e);
    }
}

static void on_batch(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct collect *c = ud;
    keep(c, c->results, json_deep_copy(ev));
}

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    struct collect *c = ud;
    if (c->batch) {
        proc_batcher_add(c->batch, ev, 0);
    } else {
        on_batch(d, ev, ud);
    }
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct collect *c = ud;
    keep(c, c->late, json_deep_copy(ev));
}

/* An event the pipeline cannot process: {"index", "error", "event"} (and its "line"). */
static void on_dead_letter(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    (void)d;
    struct collect *c = ud;
    json_t *o = json_pack("{s:I, s:s, s:O}", "index", (json_int_t)c->in.index, "error", why,
                          "event", (json_t *)ev);
    if (c->lines) {
        json_object_set(o, "line", json_array_get(c->lines, (size_t)c->in.index));
    }
    keep(c, c->dead, o);
}

/* The definition to run: the body's, else the stored one. NULL after answering. */
static struct proc_def *dry_run_def(struct proc_api *a, struct cm_http_req *req, const char *name,
                                    const json_t *given)
{
    char err[512];
    long long version = 0;
    json_t *doc = given ? json_deep_copy(given) : cm_defs_document(a->defs, name, &version);
    if (!doc) {
        cm_http_respond_error(req, 404, 0, "pipeline %s not found (or give a \"definition\")",
                              name);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        cm_http_respond_error(req, 422, 0, "definition: must be a JSON object");
        return NULL;
    }
    if (!json_object_get(doc, "name")) {
        json_object_set_new(doc, "name", json_string(name));
    }
    struct proc_def *d = proc_api_parse(a, doc, name, version, err, sizeof(err));
    json_decref(doc);
    if (!d) {
        cm_http_respond_error(req, 422, 0, "invalid pipeline: definition.%s", err);
    }
    return d;
}

/* Appends each non-blank line of an NDJSON body to list as a JSON value, and its line number to
 * lines. 0, or -1 after answering 400 (a line that is not JSON) or 422 (too many). */
static int ndjson_events(struct cm_http_req *req, const char *body, size_t len, json_t *list,
                         json_t *lines)
{
    const char *p = body, *end = body + len;
    for (long line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p);
        if (strspn(p, " \t\r") < n) { /* not blank */
            json_error_t jerr;
            json_t *v = json_array_size(list) < DRY_RUN_MAX_EVENTS
                            ? json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr)
                            : NULL;
            if (!v) {
                if (json_array_size(list) >= DRY_RUN_MAX_EVENTS) {
                    cm_http_respond_error(req, 422, 0, "events: at most %d", DRY_RUN_MAX_EVENTS);
                } else {
                    cm_http_respond_error(req, 400, 0, "body: line %ld: %s", line, jerr.text);
                }
                return -1;
            }
            json_array_append_new(list, v);
            json_array_append_new(lines, json_integer(line));
        }
        p = stop + 1;
    }
    return 0;
}

/* The request as {"events": [...], "definition"?: {...}, "flush"?: bool, "lines"?: [...]}: a JSON
 * body as it is, or an NDJSON one (application/x-ndjson: pipeline-run's input, one value per line;
 * ?flush=false keeps the last windows open) turned into that, with each event's line number.
 * NULL after answering. */
static json_t *dry_run_input(struct cm_http_req *req)
{
    size_t len;
    const char *body = cm_http_body(req, &len);
    const char *ct = cm_http_header(req, "Content-Type");
    if (cm_http_media_type_is(ct, "application/x-ndjson") ||
        cm_http_media_type_is(ct, "application/ndjson")) {
        int flush;
        if (cm_http_query_bool(req, "flush", 1, &flush) != 0) {
            return NULL;
        }
        json_t *in = json_pack("{s:[], s:[], s:b}", "events", "lines", "flush", flush);
        if (ndjson_events(req, body, len, json_object_get(in, "events"),
                          json_object_get(in, "lines")) != 0) {
            json_decref(in);
            return NULL;
        }
        return in;
    }
    json_error_t jerr;
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *events = json_object_get(in, "events");
    const json_t *flush = json_object_get(in, "flush");
    if (!json_is_object(in)) {
        cm_http_respond_error(req, 400, 0,
                              "body: %s (or one event per line as application/x-ndjson)",
                              in ? "must be a JSON object {\"events\": [...]}" : jerr.text);
    } else if (!json_is_array(events)) {
        cm_http_respond_error(req, 422, 0, "events: required, an array of CloudEvents");
    } else if (json_array_size(events) > DRY_RUN_MAX_EVENTS) {
        cm_http_respond_error(req, 422, 0, "events: at most %d", DRY_RUN_MAX_EVENTS);
    } else if (flush && !json_is_boolean(flush)) {
        cm_http_respond_error(req, 422, 0, "flush: true or false");
    } else {
        json_object_del(in, "lines");
        return in;
    }
    json_decref(in);
    return NULL;
}

/* Runs d over the events (with watermark and table entries as in pipeline-run) and answers
 * {"results", "late", "dead_letters", "errors"}: events the pipeline cannot process (an
 * expression failed on them) are dead letters; errors are entries that are not input at all.
 * Both name the entry's index (and its line for NDJSON). */
static void dry_run(struct cm_http_req *req, struct proc_def *d, const json_t *in, json_t *warnings)
{
    const json_t *events = json_object_get(in, "events"), *lines = json_object_get(in, "lines");
    const json_t *flush = json_object_get(in, "flush");
    struct collect c = {
        .results = json_array(), .late = json_array(), .dead = json_array(), .lines = lines};
    if (d->batch_max > 0) {
        c.batch = proc_batcher_new(d, on_batch, &c);
    }
    struct proc_engine_out out = {.emit = on_emit,
                                  .late = on_late,
                                  .lookup = proc_offline_lookup,
                                  .dead_letter = on_dead_letter,
                                  .refused = on_dead_letter,
                                  .ud = &c};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    proc_offline_init(&c.in, e);
    c.in.record_ms = cm_now_ms(); /* as if produced now: max_time_ahead as the daemon's */
    json_t *errors = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(events, i, v)
    {
        if (c.full) {
            break;
        }
        const char *why = "not a JSON object";
        size_t len;
        char *text = json_is_object(v) ? cm_json_dumps(v, &len) : NULL;
        int rc = text ? proc_offline_take(&c.in, text, len, (int64_t)i, &why) : -1;
        free(text);
        if (rc != 0) {
            json_t *err = json_pack("{s:I, s:s}", "index", (json_int_t)i, "message", why);
            if (lines) {
                json_object_set(err, "line", json_array_get(lines, i));
            }
            json_array_append_new(errors, err);
        }
    }
    if (!c.full && (!flush || json_is_true(flush))) {
        proc_engine_watermark(e, PROC_WATERMARK_MAX);
    }
    if (c.batch) {
        if (!c.full) {
            proc_batcher_flush(c.batch);
        }
        proc_batcher_free(c.batch);
    }
    proc_engine_free(e);
    proc_offline_clear(&c.in);
    json_t *answer = json_pack("{s:o, s:o, s:o, s:o}", "results", c.results, "late", c.late,
                               "dead_letters", c.dead, "errors", errors);
    if (c.full) { /* what came after is not computed: the lists are the run's first outputs */
        json_object_set_new(answer, "truncated", json_true());
    }
    if (json_array_size(warnings) > 0) {
        json_object_set(answer, "warnings", warnings);
    }
    cm_http_respond_json(req, 200, answer);
}

void proc_dry_run_route(struct cm_http_req *req, void *ud)
{
    struct proc_api *a = ud;
    if (!cm_auth_require(a->auth, req, a->scope, NULL)) {
        return;
    }
    json_t *in = dry_run_input(req);
    if (!in) {
        return;
    }
    struct proc_def *d =
        dry_run_def(a, req, cm_http_param(req, "name"), json_object_get(in, "definition"));
    if (d) {
        json_t *warnings = proc_api_warnings(a, d); /* as a PUT's, but the topics */
        dry_run(req, d, in, warnings);
        json_decref(warnings);
        proc_def_free(d);
    }
    json_decref(in);
}
