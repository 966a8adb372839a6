/* defs_api: the HTTP side of the definitions mechanism (see cm/defs.h): list, read, write and
 * delete a kind's definitions with ETag/If-Match, and read their history. */
#include "defs_internal.h"

#include "cm/auth.h"
#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/pg.h"
#include "cm/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 100

static void set_etag(struct cm_http_req *req, long long version)
{
    char etag[40];
    snprintf(etag, sizeof(etag), "\"%lld\"", version);
    cm_http_add_header(req, "ETag", etag);
}

/* The {name} parameter, or NULL after answering 400. */
static const char *name_param(struct cm_defs *d, struct cm_http_req *req)
{
    const char *name = cm_http_param(req, "name");
    if (!name || !cm_name_valid(name, NAME_MAX_LEN)) {
        cm_http_respond_error(req, 400, 0,
                              "name: a %s name is 1 to %d letters, digits, '.', '_' or '-'",
                              d->singular, NAME_MAX_LEN);
        return NULL;
    }
    return name;
}

/* Adds what this instance makes of item (a current definition): the kind's status, and when this
 * instance refused the stored version, "rejected" ({"version", "error"}) and "in_force" (the
 * version it runs instead, or null). */
static void add_status(struct cm_defs *d, json_t *item, const char *name)
{
    long long in_force = 0;
    json_t *rej =
        defs_rejection(d, name, json_integer_value(json_object_get(item, "version")), &in_force);
    if (rej) {
        json_object_set_new(item, "rejected", rej);
        json_object_set_new(item, "in_force", in_force ? json_integer(in_force) : json_null());
    }
    json_t *st = d->kind.status ? d->kind.status(name, d->kind.ud) : NULL;
    if (st) {
        json_object_set_new(item, "status", st);
    }
}

/* Every current definition, from the store when there is one (read-your-writes), else from
 * what is in force. */
static json_t *current(struct cm_defs *d, const char *only, int *status)
{
    json_t *list = json_array();
    *status = 200;
    if (!d->pool) {
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; i < d->n; i++) {
            if (d->e[i].doc && (!only || strcmp(only, d->e[i].name) == 0)) {
                json_array_append_new(list, json_pack("{s:s, s:I, s:O}", "name", d->e[i].name,
                                                      "version", (json_int_t)d->e[i].in_force,
                                                      "definition", d->e[i].doc));
            }
        }
        pthread_mutex_unlock(&d->lock);
        return list;
    }
    const char *p[] = {d->kind_name, only};
    struct cm_pg_result *res =
        defs_query(d,
                   only ? "SELECT name, version, body::text FROM definitions WHERE kind = $1"
                          " AND name = $2 ORDER BY version DESC LIMIT 1"
                        : "SELECT DISTINCT ON (name) name, version, body::text FROM definitions"
                          " WHERE kind = $1 ORDER BY name, version DESC",
                   only ? 2 : 1, p);
    if (!res) {
        json_decref(list);
        *status = 503;
        return NULL;
    }
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        const char *body = cm_pg_value(res, i, 2);
        json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
        if (doc) {
            json_array_append_new(
                list, json_pack("{s:s, s:I, s:o}", "name", cm_pg_value(res, i, 0), "version",
                                (json_int_t)strtoll(cm_pg_value(res, i, 1), NULL, 10), "definition",
                                doc));
        }
    }
    cm_pg_result_free(res);
    return list;
}

static void h_list(struct cm_http_req *req, void *ud)
{
    struct cm_defs *d = ud;
    if (!cm_auth_require(d->auth, req, d->scope, NULL)) {
        return;
    }
    int status;
    json_t *list = current(d, NULL, &status);
    if (!list) {
        cm_http_respond_error(req, status, 0, "definitions store unreachable");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        add_status(d, item, json_string_value(json_object_get(item, "name")));
    }
    cm_http_respond_json(req, 200, json_pack("{s:o}", d->kind_name, list));
}

/* A read's checks: the token and the name. The name, or NULL after answering. */
static const char *read_allowed(struct cm_defs *d, struct cm_http_req *req)
{
    return cm_auth_require(d->auth, req, d->scope, NULL) ? name_param(d, req) : NULL;
}

/* Answers a read that found nothing (404) or could not ask the store (503). */
static void not_read(struct cm_defs *d, struct cm_http_req *req, const char *name, int status)
{
    cm_http_respond_error(req, status, 0,
                          status == 404 ? "%s %s not found" : "%s %s: store unreachable",
                          d->singular, name);
}

static void h_get(struct cm_http_req *req, void *ud)
{
    struct cm_defs *d = ud;
    const char *name = read_allowed(d, req);
    if (!name) {
        return;
    }
    const char *vq;
    if (cm_http_query_one(req, "version", &vq) != 0) {
        return;
    }
    int status;
    json_t *item = NULL;
    if (vq) {
        char *end;
        long long v = strtoll(vq, &end, 10);
        if (!*vq || *end || v < 1) {
            cm_http_respond_error(req, 400, 0, "version: a positive integer");
            return;
        }
        if (!d->pool) {
            cm_http_respond_error(req, 404, 0, "no history without a definitions store");
            return;
        }
        item = defs_store_version(d, name, v, &status);
    } else {
        json_t *list = current(d, name, &status);
        item = list && json_array_size(list) ? json_incref(json_array_get(list, 0)) : NULL;
        json_decref(list);
        if (item) {
            set_etag(req, json_integer_value(json_object_get(item, "version")));
            add_status(d, item, name);
        } else if (status == 200) {
            status = 404;
        }
    }
    if (!item) {
        not_read(d, req, name, status);
        return;
    }
    cm_http_respond_json(req, 200, item);
}

static void h_versions(struct cm_http_req *req, void *ud)
{
    struct cm_defs *d = ud;
    const char *name = read_allowed(d, req);
    if (!name) {
        return;
    }
    if (!d->pool) {
        cm_http_respond_error(req, 404, 0, "no history without a definitions store");
        return;
    }
    int status;
    json_t *v = defs_store_versions(d, name, &status);
    if (!v) {
        not_read(d, req, name, status);
        return;
    }
    cm_http_respond_json(req, 200, json_pack("{s:s, s:o}", "name", name, "versions", v));
}

/* Answers a failed write; 1 when it answered. */
static int write_failed(struct cm_defs *d, struct cm_http_req *req, const char *name, int status,
                        const struct defs_write *w, const char *msg)
{
    if (status < 300) {
        return 0;
    }
    if (status == 412 && w->version > 0) {
        set_etag(req, w->version);
    }
    cm_http_respond_error(req, status, 0, "%s %s: %s", d->singular, name, msg);
    return 1;
}

/* 1 when writes are possible, else answers 405. */
static int writable(struct cm_defs *d, struct cm_http_req *req)
{
    if (d->pool) {
        return 1;
    }
    cm_http_add_header(req, "Allow", "GET");
    cm_http_respond_error(
        req, 405, 0, "%s are read-only here: they come from files (no DATABASE_URL)", d->kind_name);
    return 0;
}

/* A write's checks: the token, the name, a store to write to. The name, or NULL after
 * answering. */
static const char *write_allowed(struct cm_defs *d, struct cm_http_req *req,
                                 struct cm_principal *who)
{
    if (!cm_auth_require(d->auth, req, d->scope, who)) {
        return NULL;
    }
    const char *name = name_param(d, req);
    return name && writable(d, req) ? name : NULL;
}

static void h_put(struct cm_http_req *req, void *ud)
{
    struct cm_defs *d = ud;
    struct cm_principal who;
    const char *name = write_allowed(d, req, &who);
    if (!name) {
        return;
    }
    const char *ctype = cm_http_header(req, "Content-Type");
    if (!cm_http_media_type_is(ctype, "application/json")) {
        cm_http_respond_error(req, 415, 0, "a %s is application/json", d->singular);
        return;
    }
    int reset;
    if (cm_http_query_bool(req, "reset", 0, &reset) != 0) {
        return;
    }
    size_t len;
    const char *body = cm_http_body(req, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *given = json_object_get(doc, "name");
    char err[512];
    if (!json_is_object(doc)) {
        snprintf(err, sizeof(err), "body: %s", doc ? "not a JSON object" : jerr.text);
    } else if (given && (!json_is_string(given) || strcmp(json_string_value(given), name) != 0)) {
        snprintf(err, sizeof(err), "name: '%s' in the document differs from '%s' in the path",
                 json_is_string(given) ? json_string_value(given) : "(not a string)", name);
    } else {
        json_object_set_new(doc, "name", json_string(name));
        json_object_del(doc, "version"); /* the store numbers versions */
        err[0] = defs_validate(d, doc, name, err, sizeof(err)) == 0 ? '\0' : err[0];
    }
    if (err[0]) {
        json_decref(doc);
        cm_http_respond_error(req, 422, 0, "invalid %s: %s", d->singular, err);
        return;
    }
    struct defs_write w = {.if_match = cm_http_header(req, "If-Match"),
                           .if_none_match = cm_http_header(req, "If-None-Match"),
                           .source = "api",
                           .author = who.subject,
                           .reset = reset};
    char msg[512];
    int status = defs_store_write(d, name, doc, &w, msg, sizeof(msg));
    if (write_failed(d, req, name, status, &w, msg)) {
        json_decref(doc);
        return;
    }
    CM_LOG_INFO("definition_written", "%s %s version %lld %s by %s", d->singular, name, w.version,
                w.unchanged ? "unchanged"
                : w.created ? "created"
                            : "replaced",
                who.subject[0] ? who.subject : "(anonymous)");
    set_etag(req, w.version);
    if (status == 201) {
        char *loc = cm_xasprintf("/%s/%s", d->kind_name, name);
        cm_http_add_header(req, "Location", loc);
        free(loc);
    }
    json_t *answer = json_pack("{s:s, s:I, s:O, s:b}", "name", name, "version",
                               (json_int_t)w.version, "definition", doc, "unchanged", w.unchanged);
    json_t *warnings = defs_warnings(d, doc, name);
    if (json_array_size(warnings) > 0) {
        json_object_set(answer, "warnings", warnings);
    }
    json_decref(warnings);
    json_decref(doc);
    cm_http_respond_json(req, status, answer);
}

static void h_delete(struct cm_http_req *req, void *ud)
{
    struct cm_defs *d = ud;
    struct cm_principal who;
    const char *name = write_allowed(d, req, &who);
    if (!name) {
        return;
    }
    struct defs_write w = {
        .if_match = cm_http_header(req, "If-Match"), .source = "api", .author = who.subject};
    char msg[512];
    int status = defs_store_write(d, name, NULL, &w, msg, sizeof(msg));
    if (write_failed(d, req, name, status, &w, msg)) {
        return;
    }
    CM_LOG_INFO("definition_deleted", "%s %s deleted by %s", d->singular, name,
                who.subject[0] ? who.subject : "(anonymous)");
    cm_http_respond(req, 204, "application/json", "", 0);
}

void cm_defs_routes(struct cm_defs *d, struct cm_http_server *srv, struct cm_swap *auth,
                    const char *scope)
{
    d->auth = auth;
    free(d->scope);
    d->scope = scope && *scope ? cm_xstrdup(scope) : NULL;
    char *base = cm_xasprintf("/%s", d->kind_name);
    char *one = cm_xasprintf("/%s/{name}", d->kind_name);
    char *versions = cm_xasprintf("/%s/{name}/versions", d->kind_name);
    cm_http_route(srv, "GET", base, h_list, d);
    cm_http_route(srv, "GET", one, h_get, d);
    cm_http_route(srv, "PUT", one, h_put, d);
    cm_http_route(srv, "DELETE", one, h_delete, d);
    cm_http_route(srv, "GET", versions, h_versions, d);
    free(base);
    free(one);
    free(versions);
}
