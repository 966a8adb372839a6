/* gw_http: POST /events over HTTP (see gw_ingest.h): authentication, the request's headers
 * (Content-Type, Content-Encoding, Idempotency-Key, Prefer, ?atomic, and the ce- headers of the
 * CloudEvents binary mode) handed to the pipeline, and its answer written back. */
#include "gw_binary.h"
#include "gw_ingest.h"

#include "cm/auth.h"
#include "cm/http.h"
#include "cm/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void http_answer(void *ud, const struct gw_answer *a)
{
    struct cm_http_req *req = ud;
    if (a->ratelimit_policy) {
        cm_http_add_header(req, "RateLimit-Policy", a->ratelimit_policy);
        cm_http_add_header(req, "RateLimit", a->ratelimit);
    }
    if (a->retry_after > 0) {
        char retry[24];
        snprintf(retry, sizeof(retry), "%ld", a->retry_after);
        cm_http_add_header(req, "Retry-After", retry);
    }
    if (a->body) {
        cm_http_respond_json(req, a->status, json_incref((json_t *)a->body));
    } else {
        cm_http_respond(req, a->status, "application/json", a->text, a->len);
    }
}

#define MAX_CE_HEADERS 64

struct ce_headers {
    struct gw_header h[MAX_CE_HEADERS];
    size_t n; /* may count past MAX_CE_HEADERS: refused */
};

static int collect_ce(void *ud, const char *name, const char *value)
{
    struct ce_headers *ce = ud;
    if (strncasecmp(name, "ce-", 3) == 0) {
        if (ce->n < MAX_CE_HEADERS) {
            ce->h[ce->n] = (struct gw_header){name, value};
        }
        ce->n++;
    }
    return 0;
}

void gw_ingest_handle(struct cm_http_req *req, void *ud)
{
    struct gw_ingest *g = ud;
    struct cm_principal who;
    char why[160], challenge[320];
    int64_t exp_ms;
    int status = gw_ingest_authenticate(g, cm_http_header(req, "Authorization"), &who, &exp_ms, why,
                                        sizeof(why), challenge, sizeof(challenge));
    if (status) {
        cm_http_add_header(req, "WWW-Authenticate", challenge);
        cm_http_respond_error(req, status, 0, "%s", why);
        return;
    }
    const char *clientip = cm_http_client_ip(req);
    int atomic;
    if (cm_http_query_bool(req, "atomic", 0, &atomic) != 0) {
        return;
    }
    const char *prefer = cm_http_header(req, "Prefer");
    size_t len;
    const char *raw = cm_http_body(req, &len);
    struct gw_submission sub = {
        .who = &who,
        .clientip = clientip,
        .content_type = cm_http_header(req, "Content-Type"),
        .content_encoding = cm_http_header(req, "Content-Encoding"),
        .body = raw,
        .len = len,
        .idempotency_key = cm_http_header(req, "Idempotency-Key"),
        .atomic = atomic,
        .respond_async = prefer && strstr(prefer, "respond-async") != NULL,
    };
    struct ce_headers ce = {.n = 0};
    cm_http_each_header(req, collect_ce, &ce);
    if (ce.n > MAX_CE_HEADERS) {
        cm_http_respond_error(req, 400, 0, "more than %d ce- headers", MAX_CE_HEADERS);
        return;
    }
    sub.ce_headers = ce.h;
    sub.nce = ce.n;
    cm_http_defer(req);
    gw_ingest_submit(g, &sub, http_answer, req);
}
