/* http: the one HTTP server wrapper (libmicrohttpd, epoll, thread pool).
 * Routes by method and path pattern ("/subjects/{subject}/versions/{version}"), accumulates the
 * request body up to a cap (413 beyond it), answers errors in one JSON shape
 * {"error_code": <int>, "message": "..."}, and serves GET /healthz, /livez, /readyz (registered
 * dependency checks; 503 naming the failing one) and /metrics itself.
 * Handlers run on pool threads. A handler either responds before returning, or calls
 * cm_http_defer() and responds later from any thread (the connection is suspended meanwhile).
 * Request getters are valid only during the handler call; the body stays valid until the
 * response is sent. Exactly one cm_http_respond* per request.
 * cm_http_respond_upgrade answers 101 Switching Protocols and hands the connection's socket over
 * (cm/ws.h builds WebSocket on it). */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <jansson.h>
#include <stddef.h>

struct cm_metrics;
struct cm_http_server;
struct cm_http_req;
struct cm_http_upgrade;

typedef void (*cm_http_handler)(struct cm_http_req *req, void *ud);
/* A readiness check: returns 0 when ready, else nonzero with a reason written into why. */
typedef int (*cm_http_check)(void *ud, char *why, size_t whylen);

struct cm_http_options {
    const char *bind_addr; /* default "0.0.0.0" */
    unsigned port;         /* 0 = the kernel picks one (see cm_http_port) */
    unsigned threads;      /* pool size; default 4 */
    size_t max_body;       /* bytes; default 1 MiB */
    size_t max_buffered;   /* bytes all requests' bodies may hold at once, from their first byte
                            * (or their Content-Length) until answered; a request whose body
                            * would pass it is answered 503 with Retry-After: 1 and its body
                            * dropped. Default 256 MiB (at least max_body); less than max_body is
                            * refused */
    unsigned timeout_s;    /* idle connection timeout; default 30 */
    /* Connection exhaustion (see http_guard.h): over a limit a new connection is closed at once
     * and counted in http_connections_refused_total{reason}. The open-file limit is raised to
     * fit max_connections. */
    unsigned max_connections;        /* default 10000 */
    unsigned max_connections_per_ip; /* per client address; 0: no limit. Behind trusted proxies,
                                      * requests in progress per forwarded address (429 beyond) */
    unsigned request_timeout_ms;     /* a whole request (headers and body) must arrive within
                                      * this from the connection's opening or its previous
                                      * answer, else the connection is closed; default 30000 */
    struct cm_metrics *metrics;      /* borrowed; /metrics renders it, requests are counted in it */
    /* PEM files: with both set the port serves HTTPS only (libmicrohttpd with GnuTLS); read at
     * cm_http_start. NULL or "": plain HTTP. */
    const char *tls_cert_file, *tls_key_file;
    /* Browsers' cross-origin calls (CORS): the origins that may call, comma-separated
     * ("https://app.example.com,https://admin.example.com"), or "*" for any. NULL or "": none
     * (no CORS headers). A preflight (OPTIONS) from one is answered 204 with the path's methods
     * and the headers it asked for; every answer to one carries Access-Control-Allow-Origin. */
    const char *cors_origins;
};

/* Caller frees with cm_http_free. Returns NULL with a log line when options are invalid. */
struct cm_http_server *cm_http_new(const struct cm_http_options *opt);
/* Adds a route; the pattern is copied. `{name}` matches one non-empty path segment. */
void cm_http_route(struct cm_http_server *srv, const char *method, const char *pattern,
                   cm_http_handler handler, void *ud);
/* Registers a readiness check under `name` (copied); ud borrowed until cm_http_free. */
void cm_http_add_check(struct cm_http_server *srv, const char *name, cm_http_check fn, void *ud);
/* Readiness details: fn(ud) returns a JSON value (new reference) shown under "details"/name in
 * the 200 answer of /readyz (records lost, lag). ud borrowed until cm_http_free. */
typedef json_t *(*cm_http_detail)(void *ud);
void cm_http_add_detail(struct cm_http_server *srv, const char *name, cm_http_detail fn, void *ud);
/* X-Forwarded-For is believed from peers in these networks (cm/clientip.h): cm_http_client_ip
 * is then the forwarded client. Borrowed until cm_http_free; call before cm_http_start. */
struct cm_proxies;
void cm_http_set_trusted_proxies(struct cm_http_server *srv, const struct cm_proxies *proxies);
/* Binds and starts serving. Returns 0, CM_E_IO (logged), or CM_E_INVAL when the bind address
 * or the TLS files are unusable (logged, naming TLS_CERT_FILE / TLS_KEY_FILE). */
int cm_http_start(struct cm_http_server *srv);
/* The bound port (useful with port 0). */
unsigned cm_http_port(const struct cm_http_server *srv);
/* Graceful shutdown, step 1: /readyz answers 503 from now on. */
void cm_http_set_unready(struct cm_http_server *srv);
/* Step 2: take no more connections (each new one is closed as soon as it is accepted) and close
 * kept-alive ones after their next answer ("Connection: close"); /readyz answers 503. */
void cm_http_quiesce(struct cm_http_server *srv);
/* Waits up to timeout_ms for in-flight requests to be answered; 1 when none is left. */
int cm_http_wait_idle(struct cm_http_server *srv, int timeout_ms);
/* Step 3: quiesce, wait up to timeout_ms for in-flight requests, then stop the daemon. When
 * requests are still in flight the daemon is left running (their owners may still answer them)
 * and cm_http_free leaves it alone: answer or abort them first (e.g. purge a producer). */
void cm_http_stop(struct cm_http_server *srv, int timeout_ms);
void cm_http_free(struct cm_http_server *srv);

/* Request accessors (borrowed; valid during the handler call). */
const char *cm_http_method(const struct cm_http_req *req);
const char *cm_http_path(const struct cm_http_req *req);
const char *cm_http_param(const struct cm_http_req *req, const char *name); /* path parameter */
const char *cm_http_query(const struct cm_http_req *req, const char *name); /* the first */
/* A query parameter that holds one value, into *value (NULL when absent): 0, or CM_E_INVAL after
 * answering 400 naming it when the query gives it more than once (?key=a&key=b is ambiguous;
 * taking the first would answer a question that was not asked). */
int cm_http_query_one(struct cm_http_req *req, const char *name, const char **value);
/* A boolean query parameter (true/false, 1/0, yes/no, on/off) into *out, def when absent: 0, or
 * CM_E_INVAL after answering 400 naming it when it is none of these or given more than once
 * (?atomic=ture must not quietly mean false). */
int cm_http_query_bool(struct cm_http_req *req, const char *name, int def, int *out);
const char *cm_http_header(const struct cm_http_req *req, const char *name);
/* 1 when the media type of a Content-Type value (what comes before ';', case-insensitive) is
 * type: "application/json; charset=utf-8" is "application/json", "application/jsonx" is not. */
int cm_http_media_type_is(const char *content_type, const char *type);
/* RFC 9110's entity-tag list of an If-Match or If-None-Match value against the current etag
 * (quoted, e.g. "\"3\""): 1 when the resource exists and the list is "*" or holds etag
 * ("\"1\", \"3\"" holds "\"3\""). If-Match compares strongly (weak 0: W/"3" never matches),
 * If-None-Match weakly (weak 1). A value that is not such a list matches nothing past the
 * point where it stops being one. */
int cm_http_etag_matches(const char *header, const char *etag, int exists, int weak);
/* Calls fn(ud, name, value) for each request header in order (names as received) until fn
 * returns nonzero. */
typedef int (*cm_http_header_fn)(void *ud, const char *name, const char *value);
void cm_http_each_header(const struct cm_http_req *req, cm_http_header_fn fn, void *ud);
/* The client's address: the TCP peer, or behind a trusted proxy the client it forwarded for. */
const char *cm_http_client_ip(const struct cm_http_req *req);
/* The body (NUL-terminated for convenience; *len excludes the NUL). Valid until responded. */
const char *cm_http_body(const struct cm_http_req *req, size_t *len);

/* Adds a response header (copied); call before responding. */
void cm_http_add_header(struct cm_http_req *req, const char *name, const char *value);
/* Promises a later cm_http_respond* from any thread. */
void cm_http_defer(struct cm_http_req *req);
/* Responds with a copy of body. */
void cm_http_respond(struct cm_http_req *req, int status, const char *content_type,
                     const char *body, size_t len);
/* Responds with body serialized compactly; takes ownership of body. */
void cm_http_respond_json(struct cm_http_req *req, int status, json_t *body);
/* Responds {"error_code": code, "message": "..."}; error_code defaults to status when 0. */
/* The one JSON error body of the suite: {"error_code": error_code, "message": message}; a message
 * that is not valid UTF-8 becomes "(unprintable message)". Caller decrefs. */
json_t *cm_http_error_body(int error_code, const char *message);
void cm_http_respond_error(struct cm_http_req *req, int status, int error_code, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

/* Called on an MHD thread once the 101 answer is sent: fd is the connection's socket (owned by
 * the callee until cm_http_upgrade_close(up), which closes it; never close(fd) directly), extra
 * the bytes the client sent after the request that MHD already read. */
typedef void (*cm_http_upgrade_fn)(void *ud, int fd, const char *extra, size_t extra_len,
                                   struct cm_http_upgrade *up);
/* Called instead when the connection ends before the switch happened. */
typedef void (*cm_http_upgrade_abandoned_fn)(void *ud);
/* Answers 101 Switching Protocols with the headers added so far (the caller adds Upgrade and any
 * protocol headers); exactly one of fn or abandoned is called later. */
void cm_http_respond_upgrade(struct cm_http_req *req, cm_http_upgrade_fn fn,
                             cm_http_upgrade_abandoned_fn abandoned, void *ud);
/* Closes an upgraded connection (any thread). */
void cm_http_upgrade_close(struct cm_http_upgrade *up);

#endif
