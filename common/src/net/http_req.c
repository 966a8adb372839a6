/* http_req: a request's accessors (method, path, parameters, query, headers, client address,
 * body) and its answers: plain, JSON, the one error body, deferred from any thread, and the
 * upgrade that hands the socket over (see http.h). An answer is stored under the request's lock
 * and, for a suspended request, its connection is resumed so libmicrohttpd queues it. */
#include "http_guard.h"
#include "http_internal.h"

#include "cm/config.h"
#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- request accessors ---- */

const char *cm_http_method(const struct cm_http_req *req)
{
    return req->method;
}

const char *cm_http_path(const struct cm_http_req *req)
{
    return req->path;
}

const char *cm_http_param(const struct cm_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, name) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

const char *cm_http_query(const struct cm_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_count {
    const char *name;
    unsigned n;
};

static enum MHD_Result count_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    struct query_count *c = cls;
    c->n += key && strcmp(key, c->name) == 0;
    return MHD_YES;
}

int cm_http_query_one(struct cm_http_req *req, const char *name, const char **value)
{
    struct query_count c = {name, 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, count_name, &c);
    *value = c.n ? cm_http_query(req, name) : NULL;
    if (c.n > 1) {
        *value = NULL;
        cm_http_respond_error(req, 400, 0, "%s: given %u times in the query; give it once", name,
                              c.n);
        return CM_E_INVAL;
    }
    return 0;
}

int cm_http_query_bool(struct cm_http_req *req, const char *name, int def, int *out)
{
    const char *v;
    *out = def;
    if (cm_http_query_one(req, name, &v) != 0) {
        return CM_E_INVAL;
    }
    if (v && cm_parse_bool(v, out) != 0) {
        *out = def;
        cm_http_respond_error(req, 400, 0, "%s: true or false", name);
        return CM_E_INVAL;
    }
    return 0;
}

const char *cm_http_header(const struct cm_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int cm_http_media_type_is(const char *content_type, const char *type)
{
    if (!content_type) {
        return 0;
    }
    size_t len = strcspn(content_type, "; \t");
    return strlen(type) == len && strncasecmp(content_type, type, len) == 0;
}

int cm_http_etag_matches(const char *header, const char *etag, int exists, int weak)
{
    if (!header || !exists) {
        return 0;
    }
    const char *p = header;
    for (;;) {
        p += strspn(p, " \t,");
        if (!*p) {
            return 0;
        }
        if (*p == '*') {
            return 1;
        }
        int is_weak = strncmp(p, "W/", 2) == 0;
        const char *tag = is_weak ? p + 2 : p;
        const char *end = *tag == '"' ? strchr(tag + 1, '"') : NULL;
        if (!end) {
            return 0; /* not an entity-tag: nothing after it is trusted to match */
        }
        size_t len = (size_t)(end + 1 - tag);
        p = end + 1;
        p += strspn(p, " \t");
        if (*p && *p != ',') {
            return 0;
        }
        if ((!is_weak || weak) && strlen(etag) == len && memcmp(tag, etag, len) == 0) {
            return 1;
        }
    }
}

struct each_header {
    cm_http_header_fn fn;
    void *ud;
};

static enum MHD_Result each_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct each_header *e = cls;
    return e->fn(e->ud, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void cm_http_each_header(const struct cm_http_req *req, cm_http_header_fn fn, void *ud)
{
    struct each_header e = {fn, ud};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, each_header, &e);
}

const char *cm_http_client_ip(const struct cm_http_req *req)
{
    return req->client_ip;
}

const char *cm_http_body(const struct cm_http_req *req, size_t *len)
{
    if (len) {
        *len = req->body_len;
    }
    return req->body ? req->body : "";
}

/* ---- responding ---- */

void cm_http_add_header(struct cm_http_req *req, const char *name, const char *value)
{
    pthread_mutex_lock(&req->lock);
    if (req->nhdrs < MAX_RESP_HEADERS) {
        req->hdr_names[req->nhdrs] = cm_xstrdup(name);
        req->hdr_values[req->nhdrs] = cm_xstrdup(value);
        req->nhdrs++;
    }
    pthread_mutex_unlock(&req->lock);
}

void cm_http_defer(struct cm_http_req *req)
{
    pthread_mutex_lock(&req->lock);
    req->deferred = 1;
    pthread_mutex_unlock(&req->lock);
}

static const char *route_label(const struct cm_http_req *req)
{
    if (req->route) {
        return req->route->pattern;
    }
    return req->builtin ? req->path : "unmatched";
}

/* The method as a metric label: a client may send any token as its method, and a series per
 * distinct one would let it grow the metrics without bound; those outside RFC 9110's methods
 * (and PATCH) count as "other". */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "OPTIONS", "CONNECT", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(method, known[i]) == 0) {
            return known[i];
        }
    }
    return "other";
}

static void record(struct cm_http_req *req, int status)
{
    struct cm_http_server *srv = req->srv;
    double secs = (double)(cm_monotonic_ns() - req->start_ns) / 1e9;
    if (srv->m_requests) {
        char code[8];
        snprintf(code, sizeof(code), "%d", status);
        cm_counter_inc(cm_metric_with(srv->m_requests, route_label(req), method_label(req->method),
                                      code, NULL));
        cm_histogram_observe(cm_metric_with(srv->m_duration, route_label(req), NULL), secs);
    }
    CM_LOG_DEBUG("http_request", "%s %s %d %.3fms", req->method, req->path, status, secs * 1e3);
}

/* Hands resp to the request (adding the handler's headers) and resumes a suspended connection. */
static void finish_response(struct cm_http_req *req, int status, struct MHD_Response *resp)
{
    pthread_mutex_lock(&req->lock);
    if (req->responded) {
        pthread_mutex_unlock(&req->lock);
        MHD_destroy_response(resp);
        CM_LOG_ERROR("http_double_response", "second response for %s %s ignored", req->method,
                     req->path);
        return;
    }
    for (size_t i = 0; i < req->nhdrs; i++) {
        MHD_add_response_header(resp, req->hdr_names[i], req->hdr_values[i]);
    }
    http_cors_add_headers(req, resp);
    req->resp = resp;
    req->status = status;
    req->responded = 1;
    int resume = req->suspended;
    req->suspended = 0;
    record(req, status);
    pthread_mutex_unlock(&req->lock);
    if (resume) {
        MHD_resume_connection(req->conn);
    }
}

void cm_http_respond(struct cm_http_req *req, int status, const char *content_type,
                     const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        CM_LOG_ERROR("out_of_memory", "MHD_create_response_from_buffer failed");
        abort();
    }
    if (content_type) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    finish_response(req, status, resp);
}

/* MHD calls this on the connection's thread once the 101 answer is sent; con_cls is the request,
 * still alive until the completion notification. */
static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
                        size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)cls;
    (void)conn;
    struct cm_http_req *req = con_cls;
    req->upgraded = 1;
    http_guard_upgraded(req->gconn);
    req->upgrade_fn(req->upgrade_ud, sock, extra, extra_len, (struct cm_http_upgrade *)urh);
}

void cm_http_respond_upgrade(struct cm_http_req *req, cm_http_upgrade_fn fn,
                             cm_http_upgrade_abandoned_fn abandoned, void *ud)
{
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, NULL);
    if (!resp) {
        CM_LOG_ERROR("out_of_memory", "MHD_create_response_for_upgrade failed");
        abort();
    }
    req->upgrade_fn = fn;
    req->upgrade_abandoned = abandoned;
    req->upgrade_ud = ud;
    finish_response(req, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

void cm_http_upgrade_close(struct cm_http_upgrade *up)
{
    MHD_upgrade_action((struct MHD_UpgradeResponseHandle *)up, MHD_UPGRADE_ACTION_CLOSE);
}

void cm_http_respond_json(struct cm_http_req *req, int status, json_t *body)
{
    size_t len;
    char *text = cm_json_dumps(body, &len);
    json_decref(body);
    if (!text) {
        CM_LOG_ERROR("json_unwritable", "a response body nests too deeply");
        abort();
    }
    cm_http_respond(req, status, "application/json", text, len);
    free(text);
}

json_t *cm_http_error_body(int error_code, const char *message)
{
    json_t *body = json_object();
    json_object_set_new(body, "error_code", json_integer(error_code));
    json_object_set_new(body, "message", json_string(message ? message : ""));
    if (!json_object_get(body, "message")) {
        /* not valid UTF-8 (a name echoed from the request, or a message cut inside a character):
         * each invalid byte becomes '?', so the field it names survives */
        size_t len = strlen(message), at = 0;
        char *clean = cm_xmalloc(len + 1);
        for (size_t i = 0; i < len;) {
            size_t n = cm_utf8_seq_len((const unsigned char *)message + i, len - i);
            if (n == 0) {
                clean[at++] = '?';
                i++;
            } else {
                memcpy(clean + at, message + i, n);
                at += n;
                i += n;
            }
        }
        clean[at] = '\0';
        json_object_set_new(body, "message", json_string(clean));
        free(clean);
    }
    return body;
}

void cm_http_respond_error(struct cm_http_req *req, int status, int error_code, const char *fmt,
                           ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cm_http_respond_json(req, status, cm_http_error_body(error_code ? error_code : status, msg));
}
