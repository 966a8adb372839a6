/* defs: definitions stored with every version in PostgreSQL, changes announced by NOTIFY and
 * applied on every instance by a follower of their channel (cm_pg_follow, see cm/defs.h); the HTTP
 * side is defs_api.c. */
#include "defs_internal.h"

#include "cm/err.h"
#include "cm/http.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANNEL "cm_definitions"
#define RESYNC_MS 30000

static const char *const migrations[] = {
    ("CREATE TABLE definitions ("
     " kind text NOT NULL, name text NOT NULL, version bigint NOT NULL,"
     " body json, source text NOT NULL DEFAULT 'api', reset boolean NOT NULL DEFAULT false,"
     " author text, created_at timestamptz NOT NULL DEFAULT now(),"
     " PRIMARY KEY (kind, name, version))"),
    ("CREATE FUNCTION definitions_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
     " PERFORM pg_notify('" CHANNEL "', NEW.kind || '/' || NEW.version || '/' || NEW.name);"
     " RETURN NULL; END $$"),
    ("CREATE TRIGGER definitions_notify AFTER INSERT ON definitions"
     " FOR EACH ROW EXECUTE FUNCTION definitions_notify()"),
};

struct cm_defs *cm_defs_new(const char *database_url, const struct cm_defs_kind *kind,
                            struct cm_metrics *metrics)
{
    struct cm_defs *d = cm_xcalloc(1, sizeof(*d));
    d->kind = *kind;
    d->kind_name = cm_xstrdup(kind->kind);
    d->singular = cm_xstrdup(kind->singular);
    d->kind.kind = d->kind_name;
    d->kind.singular = d->singular;
    pthread_mutex_init(&d->lock, NULL);
    if (database_url && *database_url) {
        d->url = cm_xstrdup(database_url);
        d->pool = cm_pg_pool_new(database_url, 2);
    }
    d->metrics = metrics;
    if (metrics) {
        struct cm_metric *m = cm_metrics_counter(
            metrics, "definitions_changes_total",
            "definition versions taken into force (applied) or refused by this instance (rejected)",
            "kind,outcome");
        d->m_applied = cm_metric_with(m, d->kind_name, "applied", NULL);
        d->m_rejected = cm_metric_with(m, d->kind_name, "rejected", NULL);
        d->m_refused = cm_metric_with(
            cm_metrics_gauge(metrics, "definitions_refused",
                             "definitions whose newest stored version this instance refuses (it "
                             "runs the version before, or none; GET answers why)",
                             "kind"),
            d->kind_name, NULL);
    }
    return d;
}

void cm_defs_free(struct cm_defs *d)
{
    if (!d) {
        return;
    }
    cm_pg_follower_free(d->follower); /* before the entries it applies go */
    for (size_t i = 0; i < d->n; i++) {
        free(d->e[i].name);
        free(d->e[i].rejected_error);
        json_decref(d->e[i].doc);
    }
    free(d->e);
    cm_pg_pool_free(d->pool);
    pthread_mutex_destroy(&d->lock);
    free(d->url);
    free(d->scope);
    free(d->kind_name);
    free(d->singular);
    free(d);
}

static void count(struct cm_series *s)
{
    if (s) {
        cm_counter_inc(s);
    }
}

/* ---- the definitions in force ---- */

static struct defs_entry *find(struct cm_defs *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->e[i].name, name) == 0) {
            return &d->e[i];
        }
    }
    return NULL;
}

json_t *defs_rejection(struct cm_defs *d, const char *name, long long version, long long *in_force)
{
    json_t *out = NULL;
    pthread_mutex_lock(&d->lock);
    const struct defs_entry *e = find(d, name);
    if (e && e->rejected_error && e->rejected >= version) {
        out =
            json_pack("{s:I, s:s}", "version", (json_int_t)e->rejected, "error", e->rejected_error);
        *in_force = e->in_force;
    }
    pthread_mutex_unlock(&d->lock);
    return out;
}

json_t *cm_defs_document(struct cm_defs *d, const char *name, long long *version)
{
    pthread_mutex_lock(&d->lock);
    struct defs_entry *e = find(d, name);
    json_t *doc = e && e->doc ? json_deep_copy(e->doc) : NULL;
    if (version) {
        *version = doc ? e->in_force : 0;
    }
    pthread_mutex_unlock(&d->lock);
    return doc;
}

int defs_validate(struct cm_defs *d, const json_t *doc, const char *name, char *err, size_t errlen)
{
    void *c = d->kind.parse(doc, name, 0, err, errlen, d->kind.ud);
    if (!c) {
        return -1;
    }
    d->kind.release(c);
    return 0;
}

/* A stored row: its version, body (NULL: a deletion, unless bad), reset flag and creation
 * time. */
struct row {
    long long version;
    json_t *doc;
    int bad; /* the stored body is not a JSON object */
    unsigned flags;
    int64_t created_ms;
    long long since; /* the version its run began with (struct cm_defs_change); 0: not read */
    int64_t since_created_ms; /* when `since` was stored */
};

static void read_row(const struct cm_pg_result *res, int i, int col, struct row *out);

#define ROW_COLS(t)                                                                                \
    t ".version, " t ".body::text, " t ".reset, (extract(epoch FROM " t                            \
      ".created_at) * 1000)::bigint"

/* Sets c's prev_* to row r when this instance's parser takes it; 1 when it does. */
static int take_prev(struct cm_defs *d, const char *name, const struct row *r,
                     struct cm_defs_change *c)
{
    char err[512];
    void *compiled =
        r->doc ? d->kind.parse(r->doc, name, r->version, err, sizeof(err), d->kind.ud) : NULL;
    if (compiled) {
        c->prev_version = r->version;
        c->prev_compiled = compiled;
        c->prev_created_ms = r->created_ms;
        c->prev_flags = r->flags;
    }
    return compiled != NULL;
}

/* The version before cur that ran here (struct cm_defs_change): prev when taken, else (prev
 * refused, or no JSON object) the newest older one taken, read on pg, back to a deletion. */
static void find_prev(struct cm_defs *d, struct cm_pg *pg, const char *name, const struct row *cur,
                      const struct row *prev, struct cm_defs_change *c)
{
    if (!prev || prev->version <= 0 || take_prev(d, name, prev, c) || !cur->doc || !pg ||
        (!prev->doc && !prev->bad)) {
        return; /* (a deletion's is the row before it, when taken) */
    }
    char below[32];
    snprintf(below, sizeof(below), "%lld", prev->version);
    const char *params[] = {d->kind_name, name, below};
    struct cm_pg_result *res = NULL;
    struct cm_pg_error err;
    if (cm_pg_exec(pg,
                   "SELECT " ROW_COLS("o") " FROM definitions o WHERE o.kind = $1 AND o.name = $2"
                                           " AND o.version < $3 ORDER BY o.version DESC LIMIT 100",
                   3, params, &res, &err) != 0) {
        CM_LOG_WARN("definitions_unreadable", "%s %s: %s", d->kind_name, name, err.message);
        return;
    }
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        struct row r;
        read_row(res, i, 0, &r);
        int stop = (!r.doc && !r.bad) || take_prev(d, name, &r, c);
        json_decref(r.doc);
        if (stop) {
            break;
        }
    }
    cm_pg_result_free(res);
}

/* Takes row `cur` of name (with the row before it, prev.version 0 when none) into force.
 * Versions not newer than the one seen are ignored; an invalid one is logged and counted, the
 * one in force kept. Only the follower's thread (or cm_defs_start's caller before it runs) calls
 * this. */
static void apply(struct cm_defs *d, struct cm_pg *pg, const char *name, const struct row *cur,
                  const struct row *prev)
{
    pthread_mutex_lock(&d->lock);
    struct defs_entry *e = find(d, name);
    if (e && e->version >= cur->version) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    int had = e && e->doc;
    pthread_mutex_unlock(&d->lock);
    struct cm_defs_change c = {name,
                               cur->version,
                               NULL,
                               cur->created_ms,
                               cur->flags,
                               0,
                               NULL,
                               0,
                               0,
                               cur->since > 0 ? cur->since : cur->version,
                               cur->since > 0 ? cur->since_created_ms : cur->created_ms};
    int take = 0, refused = 0;
    char err[512];
    if (cur->bad) {
        snprintf(err, sizeof(err), "stored body is not a JSON object");
        refused = 1;
    } else if (cur->doc) {
        c.compiled = d->kind.parse(cur->doc, name, cur->version, err, sizeof(err), d->kind.ud);
        refused = !c.compiled;
        take = !refused;
    } else {
        take = had;
    }
    if (refused) {
        CM_LOG_ERROR("definition_rejected", "%s %s version %lld: %s; keeping the one in force",
                     d->singular, name, cur->version, err);
        count(d->m_rejected);
    }
    if (take) {
        find_prev(d, pg, name, cur, prev, &c);
    }
    if (take) {
        d->kind.changed(&c, d->kind.ud);
        count(d->m_applied);
        CM_LOG_INFO("definition_applied", "%s %s version %lld %s", d->singular, name, cur->version,
                    cur->doc ? "in force" : "deleted");
    }
    pthread_mutex_lock(&d->lock);
    e = find(d, name);
    if (!e) {
        d->e = cm_xrealloc(d->e, (d->n + 1) * sizeof(*d->e));
        e = &d->e[d->n++];
        *e = (struct defs_entry){cm_xstrdup(name), 0, NULL, 0, 0, NULL};
    }
    e->version = cur->version;
    if (refused || take || !cur->doc) { /* the refusal shown is the newest version's */
        free(e->rejected_error);
        e->rejected_error = refused ? cm_xstrdup(err) : NULL;
        e->rejected = refused ? cur->version : 0;
    }
    if (d->m_refused) {
        size_t n = 0;
        for (size_t i = 0; i < d->n; i++) {
            n += d->e[i].rejected_error != NULL;
        }
        cm_gauge_set(d->m_refused, (double)n);
    }
    if (take) {
        json_decref(e->doc);
        e->doc = cur->doc ? json_incref(cur->doc) : NULL;
        e->in_force = cur->doc ? cur->version : 0;
    }
    pthread_mutex_unlock(&d->lock);
}

/* Reads columns col.. (version, body, reset, created ms) of a result row (a body that is not a
 * JSON object: bad). */
static void read_row(const struct cm_pg_result *res, int i, int col, struct row *out)
{
    *out = (struct row){0, NULL, 0, 0, 0, 0, 0};
    const char *version = cm_pg_value(res, i, col);
    if (!version) {
        return;
    }
    out->version = strtoll(version, NULL, 10);
    const char *body = cm_pg_value(res, i, col + 1);
    const char *reset = cm_pg_value(res, i, col + 2);
    const char *created = cm_pg_value(res, i, col + 3);
    out->flags = reset && strcmp(reset, "t") == 0 ? CM_DEFS_RESET : 0;
    out->created_ms = created ? strtoll(created, NULL, 10) : 0;
    if (body) {
        out->doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(out->doc)) {
            json_decref(out->doc);
            out->doc = NULL;
            out->bad = 1;
        }
    }
}

/* The version row c's run began with (struct cm_defs_change's since_version): the newest one
 * stored with reset after the last deletion before c, else the first one after that deletion. */
#define SINCE_COL                                                                                  \
    "(SELECT COALESCE((SELECT max(r.version) FROM definitions r WHERE r.kind = c.kind"             \
    "   AND r.name = c.name AND r.reset AND r.version > b.v AND r.version <= c.version),"          \
    "  (SELECT min(f.version) FROM definitions f WHERE f.kind = c.kind AND f.name = c.name"        \
    "   AND f.version > b.v))"                                                                     \
    " FROM (SELECT COALESCE(max(x.version), 0) AS v FROM definitions x WHERE x.kind = c.kind"      \
    "   AND x.name = c.name AND x.body IS NULL AND x.version < c.version) b)"
/* When that version was stored. */
#define SINCE_AT_COL                                                                               \
    "(SELECT (extract(epoch FROM s.created_at) * 1000)::bigint FROM definitions s"                 \
    " WHERE s.kind = c.kind AND s.name = c.name AND s.version = " SINCE_COL ")"

/* Reads the newest version of every name (or of one) on pg, with the version before it, and
 * applies what is new. */
static int sync(struct cm_defs *d, struct cm_pg *pg, const char *name)
{
    const char *params[] = {d->kind_name, name};
    struct cm_pg_result *res = NULL;
    struct cm_pg_error err;
    int rc =
        cm_pg_exec(pg,
                   name ? "SELECT c.name, " ROW_COLS("c") ", " ROW_COLS(
                              "p") ", " SINCE_COL ", " SINCE_AT_COL
                                   " FROM (SELECT * FROM definitions WHERE kind = $1"
                                   "       AND name = $2 ORDER BY version DESC LIMIT 1) c"
                                   " LEFT JOIN definitions p ON p.kind = c.kind AND p.name = c.name"
                                   "  AND p.version = c.version - 1"
                        : "SELECT c.name, " ROW_COLS("c") ", " ROW_COLS(
                              "p") ", " SINCE_COL ", " SINCE_AT_COL
                                   " FROM (SELECT DISTINCT ON (name) * FROM definitions"
                                   "       WHERE kind = $1 ORDER BY name, version DESC) c"
                                   " LEFT JOIN definitions p ON p.kind = c.kind AND p.name = c.name"
                                   "  AND p.version = c.version - 1",
                   name ? 2 : 1, params, &res, &err);
    if (rc != 0) {
        CM_LOG_WARN("definitions_unreadable", "%s: %s", d->kind_name, err.message);
        return rc;
    }
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        const char *n = cm_pg_value(res, i, 0);
        struct row cur, prev;
        read_row(res, i, 1, &cur);
        read_row(res, i, 5, &prev);
        const char *since = cm_pg_value(res, i, 9);
        cur.since = since ? strtoll(since, NULL, 10) : 0;
        const char *since_at = cm_pg_value(res, i, 10);
        cur.since_created_ms = since_at ? strtoll(since_at, NULL, 10) : 0;
        apply(d, pg, n, &cur, &prev);
        json_decref(prev.doc);
        json_decref(cur.doc);
    }
    cm_pg_result_free(res);
    return 0;
}

/* The follower's callback (cm_pg_follow): a notification "<kind>/<version>/<name>" of this kind
 * reads that name again; NULL (listening anew, and every RESYNC_MS) reads every name. */
static int announced(struct cm_pg *pg, const char *payload, void *ud)
{
    struct cm_defs *d = ud;
    if (!payload) {
        return sync(d, pg, NULL);
    }
    size_t klen = strlen(d->kind_name);
    const char *slash = strncmp(payload, d->kind_name, klen) == 0 && payload[klen] == '/'
                            ? strchr(payload + klen + 1, '/')
                            : NULL;
    return slash ? sync(d, pg, slash + 1) : 0;
}

/* Creates the table once (a migration; safe with several instances starting at once). */
static int migrate(struct cm_defs *d)
{
    if (d->migrated) {
        return 0;
    }
    struct cm_pg *pg = cm_pg_pool_acquire(d->pool, 10000);
    int rc = pg ? cm_pg_migrate(pg, "definitions", migrations,
                                sizeof(migrations) / sizeof(migrations[0]))
                : CM_E_UNAVAIL;
    if (pg) {
        cm_pg_pool_release(d->pool, pg);
    }
    d->migrated = rc == 0;
    return rc;
}

int cm_defs_start(struct cm_defs *d)
{
    if (!d->pool) {
        return 0;
    }
    int rc = migrate(d);
    if (rc == 0) { /* read once before serving; the follower reads all again once it listens */
        struct cm_pg *pg = cm_pg_pool_acquire(d->pool, 10000);
        rc = pg ? sync(d, pg, NULL) : CM_E_UNAVAIL;
        if (pg) {
            cm_pg_pool_release(d->pool, pg);
        }
    }
    if (rc != 0) {
        CM_LOG_ERROR("definitions_unavailable",
                     "%s: cannot read the definitions from "
                     "PostgreSQL",
                     d->kind_name);
        return rc;
    }
    d->follower = cm_pg_follow(d->url, CHANNEL, RESYNC_MS, d->metrics, announced, d);
    return 0;
}

/* ---- the store ---- */

static int pg_fail(int rc, const struct cm_pg_error *err, char *msg, size_t msglen)
{
    snprintf(msg, msglen, "definitions store: %s", err->message[0] ? err->message : "unreachable");
    if (rc != CM_E_UNAVAIL) {
        CM_LOG_ERROR("definitions_store_failed", "%s", err->message);
    }
    return 503;
}

/* The write's checks against the newest row (version cur, deleted or not, its body). 0 to
 * write, or the status to answer. */
static int precondition(struct defs_write *w, long long cur, int live, const json_t *body,
                        const json_t *doc, char *msg, size_t msglen)
{
    char etag[40];
    snprintf(etag, sizeof(etag), "\"%lld\"", cur);
    w->version = live ? cur : 0;
    if (cm_http_etag_matches(w->if_none_match, etag, live, 1)) {
        snprintf(msg, msglen, "it exists (version %lld) and If-None-Match is %s", cur,
                 w->if_none_match);
        return 412;
    }
    if (w->if_match && !cm_http_etag_matches(w->if_match, etag, live, 0)) {
        if (live) {
            snprintf(msg, msglen, "it is at version %lld, not %s", cur, w->if_match);
        } else {
            snprintf(msg, msglen, "it does not exist; If-Match %s cannot hold", w->if_match);
        }
        return 412;
    }
    if (!doc && !live) {
        snprintf(msg, msglen, "it does not exist");
        return 404;
    }
    if (doc && live && body && json_equal(doc, body) && !w->reset) {
        w->unchanged = 1;
        return 200;
    }
    return 0;
}

/* The kind's check of doc against the other live definitions in the store, read on pg (in the
 * write's transaction). Returns the statement's rc; *status 409 with the reason in msg when the
 * check refuses. */
static int check_store(struct cm_defs *d, struct cm_pg *pg, const char *name, const json_t *doc,
                       int *status, char *msg, size_t msglen, struct cm_pg_error *err)
{
    const char *p[] = {d->kind_name, name};
    struct cm_pg_result *res = NULL;
    int rc = cm_pg_exec(pg,
                        "SELECT name, body::text FROM (SELECT DISTINCT ON (name) name, body"
                        " FROM definitions WHERE kind = $1 ORDER BY name, version DESC) cur"
                        " WHERE body IS NOT NULL AND name <> $2",
                        2, p, &res, err);
    if (rc != 0) {
        return rc;
    }
    json_t *others = json_object();
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        json_t *body = json_loads(cm_pg_value(res, i, 1), 0, NULL);
        if (json_is_object(body)) {
            json_object_set_new(others, cm_pg_value(res, i, 0), body);
        } else {
            json_decref(body);
        }
    }
    cm_pg_result_free(res);
    if (d->kind.check(doc, name, others, msg, msglen, d->kind.ud) != 0) {
        *status = 409;
    }
    json_decref(others);
    return 0;
}

json_t *cm_defs_others(struct cm_defs *d, const char *name)
{
    json_t *others = json_object();
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->n; i++) {
        if (d->e[i].doc && (!name || strcmp(d->e[i].name, name) != 0)) {
            json_object_set(others, d->e[i].name, d->e[i].doc);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return others;
}

/* The kind's check of doc against the definitions applied here (no store: files only). */
static int check_applied(struct cm_defs *d, const char *name, const json_t *doc, char *msg,
                         size_t msglen)
{
    if (!d->kind.check) {
        return 0;
    }
    json_t *others = cm_defs_others(d, name);
    int rc = d->kind.check(doc, name, others, msg, msglen, d->kind.ud);
    json_decref(others);
    return rc;
}

json_t *defs_warnings(struct cm_defs *d, const json_t *doc, const char *name)
{
    if (!d->kind.warnings) {
        return NULL;
    }
    json_t *others = cm_defs_others(d, name);
    json_t *w = d->kind.warnings(doc, name, others, d->kind.ud);
    json_decref(others);
    return w;
}

int defs_store_write(struct cm_defs *d, const char *name, const json_t *doc, struct defs_write *w,
                     char *msg, size_t msglen)
{
    struct cm_pg *pg = cm_pg_pool_acquire(d->pool, 5000);
    if (!pg) {
        snprintf(msg, msglen, "definitions store: every connection is busy");
        return 503;
    }
    struct cm_pg_error err;
    struct cm_pg_result *res = NULL;
    int status = 0;
    const char *kn[] = {d->kind_name, name, w->source};
    int rc = cm_pg_exec(pg, "BEGIN", 0, NULL, NULL, &err);
    if (rc == 0 && d->kind.check && doc) { /* the kind's lock first, then the name's */
        rc = cm_pg_exec(pg, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", 1, kn, NULL,
                        &err);
    }
    if (rc == 0) {
        rc = cm_pg_exec(pg, "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7))", 2,
                        kn, NULL, &err);
    }
    if (rc == 0 && w->skip_if_source_seen) {
        rc = cm_pg_exec(pg,
                        "SELECT 1 FROM definitions WHERE kind = $1 AND name = $2 AND source = $3"
                        " LIMIT 1",
                        3, kn, &res, &err);
        if (rc == 0 && cm_pg_ntuples(res) > 0) {
            w->unchanged = 1;
            status = 200;
        }
        cm_pg_result_free(res);
        res = NULL;
    }
    long long cur = 0;
    if (rc == 0 && !status) {
        rc = cm_pg_exec(pg,
                        "SELECT version, body::text FROM definitions WHERE kind = $1 AND name = $2"
                        " ORDER BY version DESC LIMIT 1",
                        2, kn, &res, &err);
    }
    if (rc == 0 && !status) {
        int any = cm_pg_ntuples(res) > 0;
        cur = any ? strtoll(cm_pg_value(res, 0, 0), NULL, 10) : 0;
        const char *btext = any ? cm_pg_value(res, 0, 1) : NULL;
        json_t *body = btext ? json_loads(btext, 0, NULL) : NULL;
        w->created = !btext;
        status = precondition(w, cur, btext != NULL, body, doc, msg, msglen);
        if (!status && doc && json_is_object(body) && d->kind.successor &&
            d->kind.successor(body, doc, w->reset, msg, msglen, d->kind.ud) != 0) {
            status = 409;
        }
        json_decref(body);
        cm_pg_result_free(res);
        res = NULL;
    }
    if (rc == 0 && !status && doc && d->kind.check) {
        rc = check_store(d, pg, name, doc, &status, msg, msglen, &err);
    }
    if (rc == 0 && !status) {
        char version[24];
        snprintf(version, sizeof(version), "%lld", cur + 1);
        char *text = doc ? cm_json_dumps(doc, NULL) : NULL;
        const char *p[] = {d->kind_name,
                           name,
                           version,
                           text,
                           w->source,
                           w->reset ? "t" : "f",
                           w->author && *w->author ? w->author : NULL};
        rc = cm_pg_exec(pg,
                        "INSERT INTO definitions (kind, name, version, body, source, reset, author)"
                        " VALUES ($1, $2, $3, $4::json, $5, $6::boolean, $7)",
                        7, p, NULL, &err);
        free(text);
        if (rc == 0) {
            w->version = doc ? cur + 1 : 0;
            status = !doc ? 204 : w->created ? 201 : 200;
        }
    }
    if (rc == 0) {
        rc = cm_pg_exec(pg, status >= 200 && status < 300 ? "COMMIT" : "ROLLBACK", 0, NULL, NULL,
                        &err);
    }
    if (rc != 0) {
        cm_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, NULL);
        status = pg_fail(rc, &err, msg, msglen);
    }
    cm_pg_pool_release(d->pool, pg);
    return status;
}

/* ---- files ---- */

int cm_defs_seed(struct cm_defs *d, const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    const char *name = json_string_value(json_object_get(doc, "name"));
    char err[512];
    if (!json_is_object(doc)) {
        snprintf(err, sizeof(err), "line %d: %s", jerr.line, doc ? "not a JSON object" : jerr.text);
    } else if (!name || !cm_name_valid(name, 100)) {
        snprintf(err, sizeof(err), "name: required, 1 to 100 letters, digits, '.', '_' or '-'");
    } else if (json_object_del(doc, "version"), 0) {
    } else if (defs_validate(d, doc, name, err, sizeof(err)) == 0) {
        err[0] = '\0';
    }
    if (err[0]) {
        CM_LOG_ERROR("config_invalid", "%s: %s", path, err);
        json_decref(doc);
        return CM_E_INVAL;
    }
    /* what looks wrong about a valid file, as an API write would answer it (the kind logs it) */
    json_decref(defs_warnings(d, doc, name));
    int rc = 0;
    if (!d->pool) {
        if (find(d, name)) {
            CM_LOG_ERROR("config_invalid", "%s: name: '%s' is defined twice", path, name);
            rc = CM_E_INVAL;
        } else if (check_applied(d, name, doc, err, sizeof(err)) != 0) {
            CM_LOG_ERROR("config_invalid", "%s: %s", path, err);
            rc = CM_E_INVAL;
        } else {
            struct row cur = {.version = 1, .doc = doc, .created_ms = cm_now_ms()};
            apply(d, NULL, name, &cur, NULL);
        }
        json_decref(doc);
        return rc;
    }
    char *text = cm_json_dumps(doc, NULL);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    free(text);
    char source[5 + 2 * EVP_MAX_MD_SIZE + 1] = "file:";
    cm_hex_encode(md, mdlen, source + 5);
    struct defs_write w = {.source = source, .skip_if_source_seen = 1};
    int status = migrate(d) == 0 ? defs_store_write(d, name, doc, &w, err, sizeof(err)) : 503;
    if (status == 503 && !err[0]) {
        snprintf(err, sizeof(err), "cannot create the definitions table");
    }
    if (status == 409) {
        CM_LOG_ERROR("config_invalid", "%s: %s", path, err);
        rc = CM_E_INVAL;
    } else if (status >= 300) {
        CM_LOG_ERROR("definitions_unavailable", "%s: %s", path, err);
        rc = CM_E_UNAVAIL;
    } else {
        CM_LOG_INFO("definition_seeded", "%s: %s %s %s", path, d->singular, name,
                    w.unchanged ? "applied before (left as it is)" : "stored");
    }
    json_decref(doc);
    return rc;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int cm_defs_seed_dir(struct cm_defs *d, const char *dir, const char *var)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        CM_LOG_ERROR("config_invalid", "%s: cannot open %s", var, dir);
        return CM_E_INVAL;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 && de->d_name[0] != '.') {
            names = cm_xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = cm_xstrdup(de->d_name);
        }
    }
    closedir(dh);
    if (n > 1) {
        qsort(names, n, sizeof(*names), by_name);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = cm_xasprintf("%s/%s", dir, names[i]);
        if (rc == 0) {
            rc = cm_defs_seed(d, path);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}
