/* http_internal: what the HTTP server's files share (http.c: routing, libmicrohttpd's callbacks
 * and the server's life; http_req.c: a request's accessors and its answers): the server, its
 * routes and checks, and one request. Internal to common/src/net. */
#ifndef CM_HTTP_INTERNAL_H
#define CM_HTTP_INTERNAL_H

#include "cm/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct cm_metric;
struct cm_proxies;
struct http_guard;
struct http_conn;
struct http_cors;

#define MAX_SEGMENTS 16
#define MAX_PARAMS 8
#define MAX_RESP_HEADERS 16

struct route {
    char *method;
    char *pattern;
    char *segs[MAX_SEGMENTS];
    char *pnames[MAX_SEGMENTS]; /* parameter name for "{name}" segments, else NULL */
    size_t nsegs;
    cm_http_handler handler;
    void *ud;
};

struct check {
    char *name;
    cm_http_check fn;      /* NULL for a detail */
    cm_http_detail detail; /* NULL for a check */
    void *ud;
};

struct cm_http_server {
    struct cm_http_options opt;
    struct MHD_Daemon *daemon;
    struct route *routes;
    size_t nroutes;
    struct check *checks;
    size_t nchecks;
    atomic_int unready;
    atomic_int inflight;
    atomic_size_t buffered; /* bytes the requests' bodies hold (opt.max_buffered) */
    atomic_int quiesced;    /* shutting down: new connections closed, kept-alive ones closed after
                             * their next answer */
    int abandoned;
    unsigned port;
    struct cm_metric *m_requests;
    struct cm_metric *m_duration;
    struct cm_series *m_buffered, *m_no_room; /* NULL without metrics */
    struct http_guard *guard;
    const struct cm_proxies *proxies; /* borrowed; X-Forwarded-For believed from these */
    struct http_cors *cors;           /* NULL: no cross-origin answers */
};

struct param {
    const char *name; /* borrowed from the route */
    char *value;
};

struct cm_http_req {
    struct cm_http_server *srv;
    struct MHD_Connection *conn;
    const char *method; /* borrowed from MHD, valid for the request */
    const char *path;
    const struct route *route; /* NULL: built-in or no match */
    cm_http_handler builtin;
    int method_mismatch;
    char allow[64];          /* the path's methods, for a 405's Allow header: "GET, PUT" */
    const char *cors_origin; /* Access-Control-Allow-Origin of the answer, or NULL (borrowed) */
    int preflight;           /* a CORS preflight (OPTIONS from an allowed origin) */
    struct param params[MAX_PARAMS];
    size_t nparams;
    char *body;
    size_t body_len, body_cap;
    size_t buffered; /* of srv->buffered, this request's */
    int too_big;
    int no_room; /* its body would pass opt.max_buffered: answered 503 */
    int handled;
    int nul_in_target; /* a %00 cut its path or a query value short: answered 400 */
    char client_ip[INET6_ADDRSTRLEN];
    struct http_conn *gconn; /* the connection's record in the guard */
    int64_t start_ns;
    char *hdr_names[MAX_RESP_HEADERS];
    char *hdr_values[MAX_RESP_HEADERS];
    size_t nhdrs;
    pthread_mutex_t lock;
    int deferred, suspended, responded;
    int status;
    struct MHD_Response *resp;
    cm_http_upgrade_fn upgrade_fn; /* set by cm_http_respond_upgrade */
    cm_http_upgrade_abandoned_fn upgrade_abandoned;
    void *upgrade_ud;
    int upgraded;
};

/* http_cors.c: CORS_ALLOWED_ORIGINS parsed (NULL with err empty when unset, NULL with err set
 * when invalid); the Access-Control-Allow-Origin for a request's Origin ("*", the origin, or NULL
 * when it may not call); a preflight's answer (204 with the path's methods and the asked
 * headers); and the headers an allowed origin's answers carry. */
struct http_cors *http_cors_new(const char *list, char *err, size_t errlen);
void http_cors_free(struct http_cors *c);
const char *http_cors_allow_origin(const struct http_cors *c, const char *origin);
void http_cors_preflight(struct cm_http_req *req);
void http_cors_add_headers(const struct cm_http_req *req, struct MHD_Response *resp);

#endif
