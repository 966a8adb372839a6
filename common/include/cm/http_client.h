/* http_client: the one outgoing HTTP client (libcurl's easy interface), for what a daemon
 * fetches or delivers over HTTP: the gateway's schema lookups today, the output's webhooks and
 * S3 requests next. One blocking request per call, with a whole-request timeout, an optional
 * basic-auth user, extra headers, a body, and a cap on the answer's size. libcurl's global state
 * is set up once, on first use, before any request runs. */
#ifndef CM_HTTP_CLIENT_H
#define CM_HTTP_CLIENT_H

#include <stddef.h>

#define CM_HTTP_CLIENT_TIMEOUT_MS 5000      /* when a request names none */
#define CM_HTTP_CLIENT_MAX_BYTES (16 << 20) /* answers larger fail, when none is named */

struct cm_http_request {
    const char *method;         /* NULL: GET, or POST when a body is given */
    const char *url;            /* http:// or https:// only */
    const char *user_info;      /* "user:password" for basic auth; NULL or "": none */
    const char *const *headers; /* "Name: value" lines; NULL-terminated, or NULL */
    const char *body;           /* NULL: none */
    size_t body_len;
    int timeout_ms;   /* the whole request; <= 0: CM_HTTP_CLIENT_TIMEOUT_MS */
    size_t max_bytes; /* the answer's body; 0: CM_HTTP_CLIENT_MAX_BYTES */
};

struct cm_http_response {
    long status; /* the HTTP status; 0 when no answer came */
    char *body;  /* the answer's body, NUL-terminated (never NULL after an answer) */
    size_t len;
    char error[256]; /* why no answer came, for logs */
};

/* Performs the request. 0 when an answer came, whatever its status (the caller judges it):
 * rs->status and rs->body are set. Otherwise a negative code with rs->error saying why:
 * CM_E_INVAL (a malformed request or URL, or a scheme other than http and https),
 * CM_E_TIMEDOUT (no whole answer within the timeout), CM_E_TOOBIG (the answer's body is over
 * max_bytes) or CM_E_UNAVAIL (the server could not be reached or broke the exchange). Free rs
 * with cm_http_response_free in every case. */
int cm_http_fetch(const struct cm_http_request *rq, struct cm_http_response *rs);
void cm_http_response_free(struct cm_http_response *rs);

/* s percent-encoded for one URL path segment or query value (RFC 3986: everything but
 * unreserved characters is escaped). Caller frees. */
char *cm_http_escape(const char *s);

#endif
