/* http: libmicrohttpd wrapper (see http.h).
 * One struct req per request lives in MHD's per-connection pointer from the first callback until
 * the completion notification. A deferred request is suspended; cm_http_respond* stores the
 * response under the request's lock and resumes the connection, and MHD's next callback queues it.
 * Threads: MHD's pool threads run handlers; responders may be any thread. Here: routing,
 * libmicrohttpd's callbacks, the built-in endpoints and the server's life; a request's accessors
 * and answers are in http_req.c. */
#include "cm/http.h"

#include "http_guard.h"
#include "http_internal.h"

#include "cm/clientip.h"
#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void split_path(char *copy, char **segs, size_t *n)
{
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok && *n < MAX_SEGMENTS;
         tok = strtok_r(NULL, "/", &save)) {
        segs[(*n)++] = tok;
    }
}

struct cm_http_server *cm_http_new(const struct cm_http_options *opt)
{
    struct cm_http_server *srv = cm_xcalloc(1, sizeof(*srv));
    srv->opt = *opt;
    if (!srv->opt.bind_addr) {
        srv->opt.bind_addr = "0.0.0.0";
    }
    if (!srv->opt.threads) {
        srv->opt.threads = 4;
    }
    if (!srv->opt.max_body) {
        srv->opt.max_body = 1024 * 1024;
    }
    if (!srv->opt.timeout_s) {
        srv->opt.timeout_s = 30;
    }
    if (!srv->opt.max_buffered) {
        srv->opt.max_buffered = (size_t)256 << 20;
        srv->opt.max_buffered = srv->opt.max_buffered > srv->opt.max_body ? srv->opt.max_buffered
                                                                          : srv->opt.max_body + 1;
    } else if (srv->opt.max_buffered <= srv->opt.max_body) {
        CM_LOG_ERROR("config_invalid",
                     "the memory for request bodies (<SVC>_MAX_BUFFERED, %zu bytes) must exceed "
                     "the largest body (%zu bytes)",
                     srv->opt.max_buffered, srv->opt.max_body);
        free(srv);
        return NULL;
    }
    if (!srv->opt.max_connections) {
        srv->opt.max_connections = 10000;
    }
    if (!srv->opt.request_timeout_ms) {
        srv->opt.request_timeout_ms = 30000;
    }
    char err[200];
    srv->cors = http_cors_new(srv->opt.cors_origins, err, sizeof(err));
    if (!srv->cors && err[0]) {
        CM_LOG_ERROR("config_invalid", "%s", err);
        free(srv);
        return NULL;
    }
    struct http_guard_options gopt = {.max_connections = srv->opt.max_connections,
                                      .max_per_ip = srv->opt.max_connections_per_ip,
                                      .request_timeout_ms = srv->opt.request_timeout_ms,
                                      .threads = srv->opt.threads,
                                      .metrics = srv->opt.metrics};
    srv->guard = http_guard_new(&gopt);
    if (srv->opt.metrics) {
        srv->m_requests = cm_metrics_counter(srv->opt.metrics, "http_requests_total",
                                             "HTTP requests answered", "route,method,code");
        srv->m_duration = cm_metrics_histogram(
            srv->opt.metrics, "http_request_duration_seconds", "HTTP request latency", "route",
            cm_metrics_latency_buckets, cm_metrics_latency_nbuckets);
        srv->m_buffered = cm_metric_with(
            cm_metrics_gauge(srv->opt.metrics, "http_buffered_bytes",
                             "bytes the bodies of requests in progress hold (max_buffered bounds "
                             "them)",
                             NULL),
            NULL);
        srv->m_no_room = cm_metric_with(
            cm_metrics_counter(srv->opt.metrics, "http_bodies_refused_total",
                               "requests answered 503 because their bodies would have passed "
                               "max_buffered",
                               NULL),
            NULL);
    }
    return srv;
}

void cm_http_route(struct cm_http_server *srv, const char *method, const char *pattern,
                   cm_http_handler handler, void *ud)
{
    srv->routes = cm_xrealloc(srv->routes, (srv->nroutes + 1) * sizeof(*srv->routes));
    struct route *r = &srv->routes[srv->nroutes++];
    memset(r, 0, sizeof(*r));
    r->method = cm_xstrdup(method);
    r->pattern = cm_xstrdup(pattern);
    char *copy = cm_xstrdup(pattern);
    char *segs[MAX_SEGMENTS];
    split_path(copy, segs, &r->nsegs);
    for (size_t i = 0; i < r->nsegs; i++) {
        size_t len = strlen(segs[i]);
        r->segs[i] = cm_xstrdup(segs[i]);
        if (len >= 2 && segs[i][0] == '{' && segs[i][len - 1] == '}') {
            r->pnames[i] = cm_xstrndup(segs[i] + 1, len - 2);
        }
    }
    free(copy);
    r->handler = handler;
    r->ud = ud;
}

void cm_http_add_check(struct cm_http_server *srv, const char *name, cm_http_check fn, void *ud)
{
    srv->checks = cm_xrealloc(srv->checks, (srv->nchecks + 1) * sizeof(*srv->checks));
    srv->checks[srv->nchecks].name = cm_xstrdup(name);
    srv->checks[srv->nchecks].fn = fn;
    srv->checks[srv->nchecks].detail = NULL;
    srv->checks[srv->nchecks].ud = ud;
    srv->nchecks++;
}

void cm_http_add_detail(struct cm_http_server *srv, const char *name, cm_http_detail fn, void *ud)
{
    cm_http_add_check(srv, name, NULL, ud);
    srv->checks[srv->nchecks - 1].detail = fn;
}

/* ---- built-in endpoints ---- */

static void h_healthz(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void h_readyz(struct cm_http_req *req, void *ud)
{
    struct cm_http_server *srv = ud;
    if (atomic_load(&srv->unready)) {
        cm_http_respond_error(req, 503, 0, "shutting down");
        return;
    }
    json_t *details = NULL;
    for (size_t i = 0; i < srv->nchecks; i++) {
        char why[256] = "";
        if (srv->checks[i].detail) {
            details = details ? details : json_object();
            json_object_set_new(details, srv->checks[i].name,
                                srv->checks[i].detail(srv->checks[i].ud));
        } else if (srv->checks[i].fn(srv->checks[i].ud, why, sizeof(why)) != 0) {
            json_decref(details);
            cm_http_respond_error(req, 503, 0, "not ready: %s: %s", srv->checks[i].name,
                                  why[0] ? why : "check failed");
            return;
        }
    }
    if (!details) {
        cm_http_respond(req, 200, "application/json", "{\"status\":\"ready\"}", 18);
        return;
    }
    cm_http_respond_json(req, 200, json_pack("{s:s, s:o}", "status", "ready", "details", details));
}

static void h_metrics(struct cm_http_req *req, void *ud)
{
    struct cm_http_server *srv = ud;
    if (!srv->opt.metrics) {
        cm_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", "", 0);
        return;
    }
    char *text = cm_metrics_render(srv->opt.metrics);
    cm_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

/* ---- MHD callbacks ---- */

static int match_route(const struct route *r, char **segs, size_t nsegs, struct cm_http_req *req)
{
    if (r->nsegs != nsegs) {
        return 0;
    }
    for (size_t i = 0; i < nsegs; i++) {
        if (!r->pnames[i] && strcmp(r->segs[i], segs[i]) != 0) {
            return 0;
        }
    }
    if (!req) {
        return 1;
    }
    for (size_t i = 0; i < nsegs && req->nparams < MAX_PARAMS; i++) {
        if (r->pnames[i]) {
            req->params[req->nparams].name = r->pnames[i];
            req->params[req->nparams].value = cm_xstrdup(segs[i]);
            req->nparams++;
        }
    }
    return 1;
}

/* The methods of the routes matching the path, as a 405's Allow header lists them ("GET, PUT,
 * DELETE"), into out. */
static void allow_methods(const struct cm_http_server *srv, char **segs, size_t nsegs, char *out,
                          size_t len)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const char *m = srv->routes[i].method;
        if (!match_route(&srv->routes[i], segs, nsegs, NULL)) {
            continue;
        }
        size_t n = strlen(m);
        int listed = 0;
        for (const char *p = out; (p = strstr(p, m)) != NULL; p += n) {
            listed |= (p == out || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0');
        }
        if (!listed && used + n + 3 <= len) {
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", m);
        }
    }
}

static void resolve(struct cm_http_server *srv, struct cm_http_req *req)
{
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/livez") == 0) {
            req->builtin = h_healthz;
            return;
        }
        if (strcmp(req->path, "/readyz") == 0) {
            req->builtin = h_readyz;
            return;
        }
        if (strcmp(req->path, "/metrics") == 0) {
            req->builtin = h_metrics;
            return;
        }
    }
    char *copy = cm_xstrdup(req->path);
    char *segs[MAX_SEGMENTS + 1];
    size_t nsegs = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (nsegs == MAX_SEGMENTS) {
            nsegs++; /* too deep to match any route */
            break;
        }
        segs[nsegs++] = tok;
    }
    for (size_t i = 0; i < srv->nroutes && nsegs <= MAX_SEGMENTS; i++) {
        if (!match_route(&srv->routes[i], segs, nsegs, NULL)) {
            continue;
        }
        if (strcmp(srv->routes[i].method, req->method) != 0) {
            req->method_mismatch = 1;
            continue;
        }
        match_route(&srv->routes[i], segs, nsegs, req);
        req->route = &srv->routes[i];
        break;
    }
    if (!req->route && req->method_mismatch) {
        allow_methods(srv, segs, nsegs, req->allow, sizeof(req->allow));
    }
    free(copy);
}

/* The client's address: the peer's, or behind a trusted proxy the forwarded client's. */
static void fill_client_ip(struct cm_http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    req->client_ip[0] = '\0';
    if (!ci || !ci->client_addr) {
        return;
    }
    char peer[INET6_ADDRSTRLEN] = "";
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, peer,
                  sizeof(peer));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, peer,
                  sizeof(peer));
    }
    const char *xff = req->srv->proxies ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                                      "X-Forwarded-For")
                                        : NULL;
    cm_client_ip(req->srv->proxies, peer, xff, req->client_ip, sizeof(req->client_ip));
}

static enum MHD_Result queue_ready(struct cm_http_req *req)
{
    struct MHD_Response *resp = req->resp;
    req->resp = NULL;
    if (atomic_load(&req->srv->quiesced) && req->status != MHD_HTTP_SWITCHING_PROTOCOLS) {
        /* a kept-alive client goes to another instance */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* Makes this request's share of the bodies' memory cap bytes; 0 (and no change) when that would
 * pass the server's bound. */
static int reserve_body(struct cm_http_req *req, size_t cap)
{
    struct cm_http_server *srv = req->srv;
    if (cap <= req->buffered) {
        return 1;
    }
    size_t more = cap - req->buffered;
    size_t now = atomic_fetch_add(&srv->buffered, more) + more;
    if (now > srv->opt.max_buffered) {
        atomic_fetch_sub(&srv->buffered, more);
        if (srv->m_no_room) {
            cm_counter_inc(srv->m_no_room);
        }
        return 0;
    }
    req->buffered = cap;
    if (srv->m_buffered) {
        cm_gauge_add(srv->m_buffered, (double)more);
    }
    return 1;
}

/* Drops the request's body and its share of the bodies' memory. */
static void drop_body(struct cm_http_req *req)
{
    free(req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
    atomic_fetch_sub(&req->srv->buffered, req->buffered);
    if (req->buffered && req->srv->m_buffered) {
        cm_gauge_add(req->srv->m_buffered, -(double)req->buffered);
    }
    req->buffered = 0;
}

static void run_handler(struct cm_http_req *req)
{
    if (req->too_big) {
        cm_http_respond_error(req, 413, 0, "request body exceeds %zu bytes",
                              req->srv->opt.max_body);
    } else if (req->no_room) {
        cm_http_add_header(req, "Retry-After", "1");
        cm_http_respond_error(req, 503, 0,
                              "the server holds as much of requests' bodies as it may (%zu "
                              "bytes); retry shortly",
                              req->srv->opt.max_buffered);
    } else if (req->preflight) {
        http_cors_preflight(req);
    } else if (req->builtin) {
        req->builtin(req, req->srv);
    } else if (req->route) {
        req->route->handler(req, req->route->ud);
    } else if (req->method_mismatch) {
        if (req->allow[0]) {
            cm_http_add_header(req, "Allow", req->allow);
        }
        cm_http_respond_error(req, 405, 0, "method %s not allowed on %s", req->method, req->path);
    } else {
        cm_http_respond_error(req, 404, 0, "no route for %s %s", req->method, req->path);
    }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct cm_http_server *srv = cls;
    (void)version;
    struct cm_http_req *req = *con_cls;
    if (!req) {
        req = cm_xcalloc(1, sizeof(*req));
        req->srv = srv;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->start_ns = cm_monotonic_ns();
        pthread_mutex_init(&req->lock, NULL);
        fill_client_ip(req);
        resolve(srv, req);
        req->cors_origin = http_cors_allow_origin(
            srv->cors, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
        req->preflight =
            req->cors_origin && strcmp(method, "OPTIONS") == 0 &&
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
        atomic_fetch_add(&srv->inflight, 1);
        *con_cls = req;
        req->gconn = http_guard_conn(conn);
        if (http_guard_request_begin(srv->guard, req->gconn, req->client_ip) != 0) {
            req->handled = 1;
            http_guard_request_received(req->gconn);
            cm_http_add_header(req, "Retry-After", "1");
            cm_http_respond_error(req, 429, 0, "too many requests in progress from %s",
                                  req->client_ip);
            return queue_ready(req);
        }
        req->nul_in_target = http_guard_take_nul(req->gconn);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
        if (announced > 0 && announced <= srv->opt.max_body &&
            !reserve_body(req, (size_t)announced + 1)) {
            req->no_room = 1; /* answered 503 like a body too large, below */
        } else if (announced > 0 && announced <= srv->opt.max_body) {
            req->body_cap = (size_t)announced + 1; /* the whole body at once: no regrowing */
            req->body = cm_xmalloc(req->body_cap);
            req->body[0] = '\0';
        }
        if (announced > srv->opt.max_body || req->no_room) {
            req->too_big = !req->no_room;
            /* Answer before the body when the client waits for "100 Continue" or the body is
             * huge; otherwise read and drop it, so the client is not reset mid-upload and does
             * get its 413. */
            const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
            if (expect || announced > (unsigned long long)srv->opt.max_body * 64) {
                req->handled = 1;
                http_guard_request_received(req->gconn);
                run_handler(req);
                return queue_ready(req);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_big || req->no_room || req->handled) {
            return MHD_YES;
        }
        if (req->body_len + n > srv->opt.max_body) {
            req->too_big = 1; /* keep reading (and dropping) so the client gets its 413 */
            drop_body(req);
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = (req->body_len + n + 1) * 2;
            cap = cap > srv->opt.max_body + 1 ? srv->opt.max_body + 1 : cap;
            if (!reserve_body(req, cap)) {
                req->no_room = 1; /* read and dropped, then answered 503 */
                drop_body(req);
                return MHD_YES;
            }
            req->body_cap = cap;
            req->body = cm_xrealloc(req->body, req->body_cap);
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }
    if (!req->handled) {
        req->handled = 1;
        http_guard_request_received(req->gconn);
        if (req->nul_in_target) { /* answered once read whole: the connection stays usable */
            cm_http_respond_error(req, 400, 0,
                                  "the request target holds %%00 (a NUL byte), which no path or "
                                  "query parameter may hold");
        } else {
            run_handler(req);
        }
    }
    pthread_mutex_lock(&req->lock);
    if (req->responded && req->resp) {
        pthread_mutex_unlock(&req->lock);
        return queue_ready(req);
    }
    if (req->deferred && !req->responded) {
        req->suspended = 1;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&req->lock);
        return MHD_YES;
    }
    pthread_mutex_unlock(&req->lock);
    if (!req->responded) {
        CM_LOG_ERROR("http_no_response", "handler for %s %s did not respond", method, url);
        cm_http_respond_error(req, 500, 0, "internal error");
        return queue_ready(req);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct cm_http_server *srv = cls;
    struct cm_http_req *req = *con_cls;
    (void)conn;
    (void)toe;
    if (!req) {
        return;
    }
    *con_cls = NULL;
    http_guard_request_end(srv->guard, req->gconn);
    if (req->upgrade_fn && !req->upgraded && req->upgrade_abandoned) {
        req->upgrade_abandoned(req->upgrade_ud); /* the client left before the switch */
    }
    if (req->resp) {
        MHD_destroy_response(req->resp);
    }
    for (size_t i = 0; i < req->nparams; i++) {
        free(req->params[i].value);
    }
    for (size_t i = 0; i < req->nhdrs; i++) {
        free(req->hdr_names[i]);
        free(req->hdr_values[i]);
    }
    drop_body(req);
    pthread_mutex_destroy(&req->lock);
    free(req);
    atomic_fetch_sub(&srv->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r')) {
        msg[--len] = '\0';
    }
    CM_LOG_WARN("http_server", "%s", msg);
}

/* Each connection's memory pool in libmicrohttpd (request line and headers, read and write
 * buffers; bodies are copied out as they arrive). libmicrohttpd zeroes the whole pool between the
 * requests of a keep-alive connection: its default of 32 KiB cost a tenth of a small request's
 * CPU. 16 KiB still takes request headers of up to about 15 KiB (more than the 8 KiB most web
 * servers allow; larger ones are answered 431). */
#define CONNECTION_MEMORY 16384

/* The TLS options for MHD (an array ending in MHD_OPTION_END), PEM texts read into pem[2]. */
static int tls_options(const struct cm_http_server *srv, struct MHD_OptionItem opts[3],
                       char *pem[2])
{
    const char *cert = srv->opt.tls_cert_file, *key = srv->opt.tls_key_file;
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if ((!cert || !*cert) && (!key || !*key)) {
        return 0;
    }
    char err[256];
    size_t len;
    if (!cert || !*cert || !key || !*key) {
        CM_LOG_ERROR("config_invalid", "%s: needed with %s for HTTPS",
                     cert && *cert ? "TLS_KEY_FILE" : "TLS_CERT_FILE",
                     cert && *cert ? "TLS_CERT_FILE" : "TLS_KEY_FILE");
        return CM_E_INVAL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        CM_LOG_ERROR("config_invalid", "TLS_CERT_FILE: libmicrohttpd was built without TLS");
        return CM_E_INVAL;
    }
    const char *files[2] = {cert, key}, *names[2] = {"TLS_CERT_FILE", "TLS_KEY_FILE"};
    for (int i = 0; i < 2; i++) {
        pem[i] = cm_file_read(files[i], 1 << 20, &len, err, sizeof(err));
        if (!pem[i]) {
            CM_LOG_ERROR("config_invalid", "%s: %s", names[i], err);
            return CM_E_INVAL;
        }
    }
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, pem[0]};
    opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, pem[1]};
    opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 1;
}

int cm_http_start(struct cm_http_server *srv)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)srv->opt.port);
    if (inet_pton(AF_INET, srv->opt.bind_addr, &sin.sin_addr) != 1) {
        CM_LOG_ERROR("http_bind_failed", "bind address '%s' is not an IPv4 address",
                     srv->opt.bind_addr);
        return CM_E_INVAL;
    }
    struct MHD_OptionItem tls[3];
    char *pem[2] = {NULL, NULL};
    int https = tls_options(srv, tls, pem);
    if (https < 0) {
        free(pem[0]);
        free(pem[1]);
        return https;
    }
    http_guard_set_proxies(srv->guard, srv->proxies);
    unsigned limit = http_guard_start(srv->guard);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | (https ? MHD_USE_TLS : 0);
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)srv->opt.port, http_guard_accept, srv->guard, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->opt.threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->opt.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, srv->guard, MHD_OPTION_UNESCAPE_CALLBACK,
        http_guard_unescape, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    free(pem[0]); /* GnuTLS has parsed them */
    free(pem[1]);
    if (!srv->daemon) {
        CM_LOG_ERROR("http_bind_failed", "cannot listen on %s:%u%s", srv->opt.bind_addr,
                     srv->opt.port,
                     https ? " (or TLS_CERT_FILE and TLS_KEY_FILE are not a matching PEM "
                             "certificate and key)"
                           : "");
        return https ? CM_E_INVAL : CM_E_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : srv->opt.port;
    CM_LOG_INFO("http_listening", "listening on %s:%u (%s) with %u threads", srv->opt.bind_addr,
                srv->port, https ? "HTTPS" : "HTTP", srv->opt.threads);
    return 0;
}

void cm_http_set_trusted_proxies(struct cm_http_server *srv, const struct cm_proxies *proxies)
{
    srv->proxies = proxies;
}

unsigned cm_http_port(const struct cm_http_server *srv)
{
    return srv->port;
}

void cm_http_set_unready(struct cm_http_server *srv)
{
    atomic_store(&srv->unready, 1);
}

void cm_http_quiesce(struct cm_http_server *srv)
{
    if (!srv || !srv->daemon || srv->quiesced) {
        return;
    }
    atomic_store(&srv->unready, 1);
    http_guard_drain(srv->guard); /* (not MHD_quiesce_daemon: see http_guard_drain) */
    atomic_store(&srv->quiesced, 1);
}

int cm_http_wait_idle(struct cm_http_server *srv, int timeout_ms)
{
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    while (atomic_load(&srv->inflight) > 0 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(10);
    }
    return atomic_load(&srv->inflight) == 0;
}

void cm_http_stop(struct cm_http_server *srv, int timeout_ms)
{
    if (!srv || !srv->daemon) {
        return;
    }
    cm_http_quiesce(srv);
    if (!cm_http_wait_idle(srv, timeout_ms)) {
        /* MHD aborts when stopped with suspended connections, and their owners may still
         * answer them: leave the daemon running (the process is exiting) rather than crash */
        CM_LOG_ERROR("http_stop_timeout",
                     "%d requests still in flight at shutdown; leaving them to the exit",
                     atomic_load(&srv->inflight));
        srv->abandoned = 1;
        return;
    }
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}

void cm_http_free(struct cm_http_server *srv)
{
    if (!srv || srv->abandoned) {
        return; /* still serving requests in flight (see cm_http_stop) */
    }
    if (srv->daemon) {
        MHD_stop_daemon(srv->daemon);
    }
    http_guard_free(srv->guard);
    http_cors_free(srv->cors);
    for (size_t i = 0; i < srv->nroutes; i++) {
        free(srv->routes[i].method);
        free(srv->routes[i].pattern);
        for (size_t k = 0; k < srv->routes[i].nsegs; k++) {
            free(srv->routes[i].segs[k]);
            free(srv->routes[i].pnames[k]);
        }
    }
    free(srv->routes);
    for (size_t i = 0; i < srv->nchecks; i++) {
        free(srv->checks[i].name);
    }
    free(srv->checks);
    free(srv);
}
