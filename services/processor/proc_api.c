/* proc_api: the processor's pipelines as definitions (see proc_api.h): the "pipelines" kind of
 * the definitions mechanism, the definitions directory, and the windows query (the dry run is
 * proc_dry_run.c). */
#include "proc_api.h"
#include "proc_api_int.h"

#include "proc_def.h"
#include "proc_fleet.h"
#include "proc_graph.h"
#include "proc_query.h"

#include "cm/auth.h"
#include "cm/defs.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/stream.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the "pipelines" kind ---- */

static void *parse(const json_t *doc, const char *name, long long version, char *err, size_t errlen,
                   void *ud)
{
    struct proc_api *a = ud;
    const char *given = json_string_value(json_object_get(doc, "name"));
    if (given && strcmp(given, name) != 0) {
        snprintf(err, errlen, "name: '%.64s%s' differs from the definition's name '%s'", given,
                 strlen(given) > 64 ? "..." : "", name);
        return NULL;
    }
    struct proc_def *d = proc_def_parse(doc, a->events_topic, a->derived_topic, err, errlen);
    for (size_t i = 0; d && d->window != PROC_WIN_NONE && i < d->ntopics; i++) {
        if (strcmp(d->topics[i], a->late_topic) == 0) { /* its late events would come back late */
            snprintf(err, errlen,
                     "source.topics[%zu]: '%s' is where this pipeline's late events go: it would "
                     "read them again, without end",
                     i, a->late_topic);
            proc_def_free(d);
            return NULL;
        }
    }
    if (d && version > 0) {
        d->version = version;
    }
    return d;
}

struct proc_def *proc_api_parse(struct proc_api *a, const json_t *doc, const char *name,
                                long long version, char *err, size_t errlen)
{
    return parse(doc, name, version, err, errlen, a);
}

static void release(void *compiled)
{
    proc_def_free(compiled);
}

/* The other pipelines (name -> document) compiled; *n of them. One no longer valid here runs
 * nowhere and is left out. */
static struct proc_def **parse_others(struct proc_api *a, const json_t *others, size_t *n)
{
    struct proc_def **o = cm_xcalloc(json_object_size(others) + 1, sizeof(*o));
    const char *oname;
    const json_t *odoc;
    char ignored[256];
    *n = 0;
    json_object_foreach((json_t *)others, oname, odoc)
    {
        if ((o[*n] = parse(odoc, oname, 0, ignored, sizeof(ignored), a))) {
            (*n)++;
        }
    }
    return o;
}

static void free_others(struct proc_def **o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        proc_def_free(o[i]);
    }
    free(o);
}

/* No cycle of topics with the other pipelines (proc_graph). */
static int check(const json_t *doc, const char *name, const json_t *others, char *err,
                 size_t errlen, void *ud)
{
    struct proc_api *a = ud;
    struct proc_def *d = parse(doc, name, 0, err, errlen, a);
    if (!d) {
        return -1;
    }
    size_t n = 0;
    struct proc_def **o = parse_others(a, others, &n);
    struct proc_graph_topics t = {a->late_topic, a->dlq_topic};
    int rc = proc_graph_check(d, (const struct proc_def *const *)o, n, &t, err, errlen);
    free_others(o, n);
    proc_def_free(d);
    return rc;
}

/* What a source.start names, for a message ("earliest": `beginning`). */
static const char *start_note(const char *start, const char *beginning)
{
    if (start && strcmp(start, "earliest") == 0) {
        return beginning;
    }
    return start && strcmp(start, "latest") == 0 ? " (the moment its run begins)" : "";
}

/* source.start names the consumer group a pipeline runs on (proc_fleet.h): one version cannot
 * move a running pipeline off the positions it has, unless the writer starts it over. */
static int successor(const json_t *cur, const json_t *doc, int reset, char *err, size_t errlen,
                     void *ud)
{
    (void)ud;
    const json_t *was = json_object_get(json_object_get(cur, "source"), "start");
    const json_t *now = json_object_get(json_object_get(doc, "source"), "start");
    if (reset || json_equal(was, now) || (!was && !now)) {
        return 0;
    }
    const char *from = json_string_value(was), *to = json_string_value(now);
    snprintf(err, errlen,
             "source.start: where a running pipeline starts cannot change (it reads %s%s%s); "
             "put the new version with ?reset=true to start it over from %s%s%s, or delete the "
             "pipeline first",
             !from ? "on the processor's group, from its position"
                   : "on a consumer group of its own, from ",
             from ? from : "", start_note(from, " (its beginning)"),
             !to ? "the processor's position" : "", to ? to : "",
             start_note(to, " (the beginning of its topics)"));
    return -1;
}

static void changed(const struct cm_defs_change *c, void *ud)
{
    struct proc_api *a = ud;
    proc_fleet_changed(a->fleet, c);
}

/* How often a status asks the cluster for its topics at most; and when it finds one missing. */
#define STATUS_TOPICS_MAX_AGE_MS 10000
#define STATUS_TOPICS_RECHECK_MS 1000

/* Appends to out the topics a pipeline reads that the cluster does not know. For a write's
 * answer (status 0) each as a warning naming its field, the cluster asked afresh; for the
 * status each by its name, the cluster's topics reused for STATUS_TOPICS_MAX_AGE_MS (a second
 * when one is missing in them), the
 * repartition topic too (which the processor asks for when the pipeline starts: where brokers
 * auto-create topics, that creates it; elsewhere it is created by hand). A name mistyped reads
 * nothing, without an error where the brokers create topics when first asked for them (they
 * would create it empty), so the write's answer says so, as ksqlDB refuses a stream over a
 * missing topic, and the status shows it. Not refused: a pipeline may well be put before its
 * producers first write. Returns 1 when the cluster answered (none missing, or some), 0 when it
 * could not be asked (nothing appended). */
static int missing_topics(struct cm_stream *s, const struct proc_def *d, int status, json_t *out)
{
    size_t n = 0;
    const char **topics = cm_xcalloc(d->ntopics + d->nsteps + 1, sizeof(*topics));
    char **fields = cm_xcalloc(d->ntopics + d->nsteps + 1, sizeof(*fields));
    for (size_t i = 0; i < d->ntopics; i++, n++) {
        topics[n] = d->topics[i];
        fields[n] = cm_xasprintf("source.topics[%zu]", i);
    }
    for (size_t i = 0; i < d->nsteps; i++) {
        if (d->steps[i].kind == PROC_STEP_JOIN && d->steps[i].table &&
            !proc_join_redis_hash(d->steps[i].table)) { /* (a Redis hash is no topic) */
            topics[n] = d->steps[i].table;
            fields[n++] = cm_xasprintf("steps[%zu].join.topic", i);
        }
    }
    if (status && d->repartition) {
        topics[n] = d->repartition_topic;
        fields[n++] = cm_xstrdup("repartition");
    }
    unsigned char *missing = cm_xcalloc(n, 1);
    int answered = /* (a count, 0 for none missing, or an error) */
        cm_stream_topics_missing(s, topics, n, missing, status ? STATUS_TOPICS_MAX_AGE_MS : 0) >= 0;
    if (answered && status && memchr(missing, 1, n)) {
        /* one may have been created since the list was kept (a new pipeline's repartition topic,
         * moments after its PUT): asked again unless the list is younger than a second */
        unsigned char *again = cm_xcalloc(n, 1);
        if (cm_stream_topics_missing(s, topics, n, again, STATUS_TOPICS_RECHECK_MS) >= 0) {
            memcpy(missing, again, n);
        }
        free(again);
    }
    if (answered) {
        for (size_t i = 0; i < n; i++) {
            char *w = !missing[i] ? NULL
                      : status    ? cm_xstrdup(topics[i])
                                  : cm_xasprintf("%s: the cluster has no topic '%s' (yet): the "
                                                    "pipeline reads it once it exists; check the name",
                                                 fields[i], topics[i]);
            if (w) {
                json_array_append_new(out, json_string(w));
                free(w);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(fields[i]);
    }
    free(fields);
    free(missing);
    free(topics);
    return answered;
}

/* list (a JSON array, or NULL for a new one) with proc_graph_warnings of d against the other
 * pipelines: `others` (name -> document), or NULL for those this instance applies. */
static json_t *graph_warnings(struct proc_api *a, const struct proc_def *d, json_t *list,
                              const json_t *others)
{
    json_t *applied = others ? NULL : cm_defs_others(a->defs, d->name);
    size_t n = 0;
    struct proc_def **o = parse_others(a, others ? others : applied, &n);
    list = list ? list : json_array();
    proc_graph_warnings(d, (const struct proc_def *const *)o, n, list);
    free_others(o, n);
    json_decref(applied);
    return list;
}

json_t *proc_api_warnings(struct proc_api *a, const struct proc_def *d)
{
    return graph_warnings(a, d, proc_def_warnings(d), NULL);
}

/* What looks wrong about a pipeline just written without stopping it: expressions reading
 * fields of data that its steps never make (proc_def_warnings), windows of the others' results
 * taken by their time (proc_graph_warnings), and topics the cluster lacks (asked afresh). */
static json_t *warnings(const json_t *doc, const char *name, const json_t *others, void *ud)
{
    struct proc_api *a = ud;
    char err[256];
    struct proc_def *d = parse(doc, name, 0, err, sizeof(err), a);
    if (!d) {
        return NULL;
    }
    json_t *list = graph_warnings(a, d, proc_def_warnings(d), others);
    struct cm_stream *s = proc_fleet_stream(a->fleet);
    if (s) {
        missing_topics(s, d, 0, list);
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        CM_LOG_WARN("pipeline_warning", "pipeline %s: %s", name,
                    json_string_value(json_array_get(list, i)));
    }
    proc_def_free(d);
    return list;
}

/* The running state of each version (proc_host_status), and "missing_topics": the topics the
 * version in force reads that the cluster does not know (yet), its repartition topic too, so
 * that a pipeline reading nothing for want of a topic does not look as if it ran; while the
 * cluster cannot be asked, "missing_topics_unknown" says so instead. */
static json_t *status(const char *name, void *ud)
{
    struct proc_api *a = ud;
    json_t *st = proc_fleet_status(a->fleet, name);
    struct cm_stream *s = proc_fleet_stream(a->fleet);
    json_t *doc = st && s ? cm_defs_document(a->defs, name, NULL) : NULL;
    char err[256];
    struct proc_def *d = doc ? parse(doc, name, 0, err, sizeof(err), a) : NULL;
    if (d) {
        json_t *names = json_array();
        if (!missing_topics(s, d, 1, names)) { /* not "none missing" */
            json_object_set_new(st, "missing_topics_unknown",
                                json_string("the Kafka cluster could not be asked for its topics "
                                            "(asked again within 10 s)"));
        } else if (json_array_size(names) > 0) {
            json_object_set(st, "missing_topics", names);
        }
        json_decref(names);
        proc_def_free(d);
    }
    json_decref(doc);
    return st;
}

/* processor_pipeline_topics_missing{pipeline}: how many of the topics the version in force reads
 * the cluster lacks (the status's missing_topics), looked up when the metrics are read, so that an
 * alert names a pipeline that reads nothing for want of a topic. A pipeline deleted since reads
 * 0; while the cluster cannot be asked, each keeps its last value. */
static void collect_missing(struct cm_metrics *reg, void *ud)
{
    (void)reg;
    struct proc_api *a = ud;
    struct cm_stream *s = proc_fleet_stream(a->fleet);
    if (!s) {
        return;
    }
    pthread_mutex_lock(&a->missing_lock);
    json_t *all = cm_defs_others(a->defs, NULL), *shown = json_object();
    const char *name;
    json_t *doc;
    json_object_foreach(all, name, doc)
    {
        char err[256];
        struct proc_def *d = parse(doc, name, 0, err, sizeof(err), a);
        if (d) {
            json_t *names = json_array();
            if (missing_topics(s, d, 1, names)) {
                cm_gauge_set(cm_metric_with(a->missing, name, NULL),
                             (double)json_array_size(names));
            }
            json_object_set_new(shown, name, json_true());
            json_decref(names);
            proc_def_free(d);
        }
    }
    json_object_foreach(a->missing_shown, name, doc)
    {
        if (!json_object_get(shown, name)) { /* deleted: its series leaves /metrics */
            cm_series_forget(cm_metric_with(a->missing, name, NULL));
        }
    }
    json_decref(a->missing_shown);
    a->missing_shown = shown;
    json_decref(all);
    pthread_mutex_unlock(&a->missing_lock);
}

struct proc_api *proc_api_new(const char *database_url, struct proc_fleet *fleet,
                              const struct proc_api_topics *topics, struct cm_metrics *metrics)
{
    struct proc_api *a = cm_xcalloc(1, sizeof(*a));
    a->fleet = fleet;
    a->events_topic = cm_xstrdup(topics->events);
    a->derived_topic = cm_xstrdup(topics->derived);
    a->late_topic = cm_xstrdup(topics->late);
    a->dlq_topic = cm_xstrdup(topics->dlq);
    struct cm_defs_kind kind = {.kind = "pipelines",
                                .singular = "pipeline",
                                .parse = parse,
                                .release = release,
                                .changed = changed,
                                .status = status,
                                .ud = a,
                                .check = check,
                                .warnings = warnings,
                                .successor = successor};
    a->defs = cm_defs_new(database_url, &kind, metrics);
    pthread_mutex_init(&a->missing_lock, NULL);
    a->missing_shown = json_object();
    if (metrics) {
        a->missing = cm_metrics_gauge(metrics, "pipeline_topics_missing",
                                      "Topics the pipeline reads (its sources, join tables and "
                                      "repartition topic) that the Kafka cluster does not have",
                                      "pipeline");
        cm_metrics_collector(metrics, collect_missing, a);
    }
    return a;
}

void proc_api_free(struct proc_api *a)
{
    if (!a) {
        return;
    }
    cm_defs_free(a->defs);
    json_decref(a->missing_shown);
    pthread_mutex_destroy(&a->missing_lock);
    free(a->events_topic);
    free(a->derived_topic);
    free(a->late_topic);
    free(a->dlq_topic);
    free(a->scope);
    free(a);
}

int proc_api_load_dir(struct proc_api *a, const char *dir)
{
    return cm_defs_seed_dir(a->defs, dir, "PROCESSOR_PIPELINES_DIR");
}

int proc_api_start(struct proc_api *a)
{
    return cm_defs_start(a->defs);
}

/* ---- queries of a key's windows ---- */

#define QUERY_KEY_MAX 1024

static int utf8_ok(const char *s)
{
    size_t len = strlen(s), n;
    for (size_t i = 0; i < len; i += n) {
        if ((n = cm_utf8_seq_len((const unsigned char *)s + i, len - i)) == 0) {
            return 0;
        }
    }
    return 1;
}

static int partitions(const char *topic, void *ud)
{
    struct proc_api *a = ud;
    struct cm_stream *s = proc_fleet_stream(a->fleet);
    return s ? cm_stream_partitions(s, topic) : CM_E_UNAVAIL;
}

/* The tenant whose windows are read: the token's (a token never reads another tenant's state);
 * with authentication disabled, the `tenant` parameter's. NULL after answering. */
static const char *query_tenant(struct proc_api *a, struct cm_http_req *req,
                                const struct cm_principal *who)
{
    const char *given;
    if (cm_http_query_one(req, "tenant", &given) != 0) {
        return NULL;
    }
    if (!a->auth) {
        return given ? given : "";
    }
    if (given && strcmp(given, who->tenant) != 0) {
        cm_http_respond_error(req, 403, 0,
                              "tenant: the token's tenant is '%s'; a token reads only its own "
                              "tenant's windows",
                              who->tenant);
        return NULL;
    }
    return who->tenant;
}

/* The versions run here, parsed again (this thread's own definitions), into v (caller frees
 * each d). Returns how many, or 0 after answering. */
static size_t query_versions(struct proc_api *a, struct cm_http_req *req, const char *name,
                             struct proc_query_version *v, size_t cap)
{
    json_t *list = proc_fleet_versions(a->fleet, name), *item;
    size_t n = 0, i;
    if (json_array_size(list) == 0) {
        long long version = 0;
        json_t *doc = cm_defs_document(a->defs, name, &version);
        if (doc) {
            cm_http_add_header(req, "Retry-After", "1");
            cm_http_respond_error(req, 503, 0, "pipeline %s is not running here yet", name);
        } else {
            cm_http_respond_error(req, 404, 0, "pipeline %s not found", name);
        }
        json_decref(doc);
        json_decref(list);
        return 0;
    }
    json_array_foreach(list, i, item)
    {
        char err[512];
        struct proc_def *d = n < cap ? parse(json_object_get(item, "doc"), name,
                                             json_integer_value(json_object_get(item, "version")),
                                             err, sizeof(err), a)
                                     : NULL;
        if (d) {
            v[n++] =
                (struct proc_query_version){d, json_integer_value(json_object_get(item, "from")),
                                            json_integer_value(json_object_get(item, "until"))};
        }
    }
    json_decref(list);
    const struct proc_def *cur = NULL; /* the newest version decides what the pipeline keeps */
    for (size_t k = 0; k < n; k++) {
        cur = !cur || v[k].d->version > cur->version ? v[k].d : cur;
    }
    const char *refusal = !cur                           ? "its definition cannot be read"
                          : cur->window == PROC_WIN_NONE ? "window: it has none (a stateless "
                                                           "pipeline keeps no windows)"
                          : cur->window == PROC_WIN_JOIN ? "interval_join: it keeps events "
                                                           "to pair, not windows"
                                                         : NULL;
    if (refusal) {
        cm_http_respond_error(req, cur ? 400 : 500, 0, "pipeline %s: %s", name, refusal);
        for (size_t k = 0; k < n; k++) {
            proc_def_free((struct proc_def *)v[k].d);
        }
        return 0;
    }
    return n;
}

/* A time query parameter (RFC 3339) into *ms; absent: def. 0, or -1 after answering. */
static int query_time(struct cm_http_req *req, const char *name, int64_t def, int64_t *ms)
{
    const char *text;
    *ms = def;
    if (cm_http_query_one(req, name, &text) != 0) {
        return -1;
    }
    if (text && cm_time_parse_rfc3339(text, ms) != 0) {
        cm_http_respond_error(req, 400, 0, "%s: not an RFC 3339 time (2026-01-01T00:00:00Z)", name);
        return -1;
    }
    return 0;
}

#define SCAN_LIMIT_DEFAULT 1000
#define SCAN_LIMIT_MAX 5000

/* What a windows query asks besides the key: ?from= and ?to= (window starts), and for a scan
 * (no key) ?limit=, ?cursor=, ?prefix=, ?key_from= and ?key_to=. 0, or -1 after answering. */
struct windows_query {
    const char *key, *cursor, *prefix, *key_from, *key_to;
    int64_t from, until;
    size_t limit;
};

static int windows_query(struct cm_http_req *req, struct windows_query *q)
{
    const char *limit;
    q->limit = SCAN_LIMIT_DEFAULT;
    if (cm_http_query_one(req, "key", &q->key) != 0 ||
        cm_http_query_one(req, "cursor", &q->cursor) != 0 ||
        cm_http_query_one(req, "prefix", &q->prefix) != 0 ||
        cm_http_query_one(req, "key_from", &q->key_from) != 0 ||
        cm_http_query_one(req, "key_to", &q->key_to) != 0 ||
        cm_http_query_one(req, "limit", &limit) != 0 ||
        query_time(req, "from", INT64_MIN, &q->from) != 0 ||
        query_time(req, "to", INT64_MAX, &q->until) != 0) {
        return -1;
    }
    if (q->from >= q->until) {
        cm_http_respond_error(req, 400, 0, "to: must be later than from");
        return -1;
    }
    const char *scan_only[] = {"limit", "cursor", "prefix", "key_from", "key_to"};
    const char *given[] = {limit, q->cursor, q->prefix, q->key_from, q->key_to};
    for (size_t i = 0; q->key && i < sizeof(given) / sizeof(given[0]); i++) {
        if (given[i]) {
            cm_http_respond_error(req, 400, 0,
                                  "%s: only without key (a key's windows come in one answer)",
                                  scan_only[i]);
            return -1;
        }
    }
    if (limit) {
        char *end;
        long long n = strtoll(limit, &end, 10);
        if (end == limit || *end || n < 1 || n > SCAN_LIMIT_MAX) {
            cm_http_respond_error(req, 400, 0, "limit: must be an integer from 1 to %d",
                                  SCAN_LIMIT_MAX);
            return -1;
        }
        q->limit = (size_t)n;
    }
    const char *names[] = {"key", "prefix", "key_from", "key_to"};
    const char *texts[] = {q->key, q->prefix, q->key_from, q->key_to};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (texts[i] && strlen(texts[i]) >= QUERY_KEY_MAX) {
            cm_http_respond_error(req, 400, 0, "%s: longer than %d bytes", names[i],
                                  QUERY_KEY_MAX - 1);
            return -1;
        }
        if (texts[i] && !utf8_ok(texts[i])) {
            /* (keys are JSON strings: one that is not UTF-8 holds no window) */
            cm_http_respond_error(req, 400, 0, "%s: not valid UTF-8", names[i]);
            return -1;
        }
    }
    if (q->key_from && q->key_to && strcmp(q->key_from, q->key_to) > 0) {
        cm_http_respond_error(req, 400, 0, "key_to: must not come before key_from");
        return -1;
    }
    return 0;
}

static void h_windows(struct cm_http_req *req, void *ud)
{
    struct proc_api *a = ud;
    struct cm_principal who;
    if (!cm_auth_require(a->auth, req, a->scope, &who)) {
        return;
    }
    const char *name = cm_http_param(req, "name");
    const char *tenant = query_tenant(a, req, &who);
    struct windows_query q;
    if (!tenant || windows_query(req, &q) != 0) {
        return;
    }
    if (!utf8_ok(tenant)) {
        cm_http_respond_error(req, 400, 0, "tenant: not valid UTF-8");
        return;
    }
    struct proc_query_version v[32];
    size_t n = query_versions(a, req, name, v, sizeof(v) / sizeof(v[0]));
    if (n == 0) {
        return;
    }
    json_t *out = NULL;
    char why[256] = "";
    int rc =
        !a->state ? CM_E_UNAVAIL
        : q.key
            ? proc_query_windows(a->state, v, n, tenant, q.key, q.from, q.until, partitions, a,
                                 &out, why, sizeof(why))
            : proc_query_scan(a->state, v, n,
                              &(struct proc_query_scan_req){tenant, q.prefix, q.cursor, q.key_from,
                                                            q.key_to, q.from, q.until, q.limit},
                              partitions, a, &out, why, sizeof(why));
    for (size_t k = 0; k < n; k++) {
        proc_def_free((struct proc_def *)v[k].d);
    }
    if (rc == CM_E_INVAL) {
        cm_http_respond_error(req, 400, 0, "%s", why);
        return;
    }
    if (rc != 0) {
        cm_http_add_header(req, "Retry-After", "1");
        cm_http_respond_error(req, 503, 0, "%s", why[0] ? why : "no Redis holds the window state");
        return;
    }
    json_t *answer = json_pack("{s:s}", "pipeline", name);
    if (tenant[0]) {
        json_object_set_new(answer, "tenant", json_string(tenant));
    }
    if (q.key) {
        json_object_set_new(answer, "key", json_string(q.key));
    }
    const char *echo[] = {"prefix", q.prefix, "key_from", q.key_from, "key_to", q.key_to};
    for (size_t i = 0; i < sizeof(echo) / sizeof(echo[0]); i += 2) {
        if (echo[i + 1]) {
            json_object_set_new(answer, echo[i], json_string(echo[i + 1]));
        }
    }
    json_object_update(answer, out); /* then watermark, windows, truncated, next */
    json_decref(out);
    cm_http_respond_json(req, 200, answer);
}

void proc_api_routes(struct proc_api *a, struct cm_http_server *srv, struct cm_swap *auth,
                     const char *scope, struct cm_redis *state)
{
    a->auth = auth;
    a->state = state;
    a->scope = scope && *scope ? cm_xstrdup(scope) : NULL;
    cm_defs_routes(a->defs, srv, auth, scope);
    cm_http_route(srv, "POST", "/pipelines/{name}/dry-run", proc_dry_run_route, a);
    cm_http_route(srv, "GET", "/pipelines/{name}/windows", h_windows, a);
}
