/* http_cors: cross-origin requests from browsers (the Fetch standard's CORS protocol) for the
 * HTTP server: which origins may call (CORS_ALLOWED_ORIGINS), the preflight's answer and the
 * headers an allowed origin's answers carry. Internal to common/src/net (see http_internal.h). */
#include "http_internal.h"

#include "cm/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_cors {
    char **origins;
    size_t n;
    int any; /* "*": every origin, answered with "*" */
};

/* An origin as browsers send it: scheme "://" host [":" port], nothing after. */
static int origin_ok(const char *s, size_t len)
{
    size_t scheme = 0;
    if (len > 8 && strncasecmp(s, "https://", 8) == 0) {
        scheme = 8;
    } else if (len > 7 && strncasecmp(s, "http://", 7) == 0) {
        scheme = 7;
    } else {
        return 0;
    }
    for (size_t i = scheme; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == ',') {
            return 0;
        }
    }
    return 1;
}

struct http_cors *http_cors_new(const char *list, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!list || !*list) {
        return NULL;
    }
    struct http_cors *c = cm_xcalloc(1, sizeof(*c));
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len == 0) {
            p += strcspn(p, ",");
            continue;
        }
        if (len == 1 && *p == '*') {
            c->any = 1;
        } else if (origin_ok(p, len)) {
            c->origins = cm_xrealloc(c->origins, (c->n + 1) * sizeof(*c->origins));
            c->origins[c->n++] = cm_xstrndup(p, len);
        } else {
            snprintf(err, errlen,
                     "CORS_ALLOWED_ORIGINS: '%.*s' is not an origin (scheme://host[:port], "
                     "e.g. https://app.example.com) or *",
                     (int)(len > 100 ? 100 : len), p);
            http_cors_free(c);
            return NULL;
        }
        p += strcspn(p, ",");
    }
    if (!c->any && c->n == 0) {
        snprintf(err, errlen, "CORS_ALLOWED_ORIGINS: no origin listed");
        http_cors_free(c);
        return NULL;
    }
    return c;
}

void http_cors_free(struct http_cors *c)
{
    if (c) {
        for (size_t i = 0; i < c->n; i++) {
            free(c->origins[i]);
        }
        free(c->origins);
        free(c);
    }
}

const char *http_cors_allow_origin(const struct http_cors *c, const char *origin)
{
    if (!c || !origin) {
        return NULL;
    }
    if (c->any) {
        return "*";
    }
    for (size_t i = 0; i < c->n; i++) {
        if (strcasecmp(c->origins[i], origin) == 0) {
            return origin;
        }
    }
    return NULL;
}

/* 1 when a preflight's Access-Control-Request-Headers is a list of header names: tokens
 * separated by commas and spaces (echoed back, so nothing else may pass). */
static int header_list_ok(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    size_t n = 0;
    for (; *s; s++, n++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == ',' || c == ' ' || (c && strchr(tchar, c)))) {
            return 0;
        }
    }
    return n <= 1000;
}

void http_cors_preflight(struct cm_http_req *req)
{
    if (!req->allow[0]) {
        cm_http_respond_error(req, 404, 0, "no route for %s", req->path);
        return;
    }
    const char *want = cm_http_header(req, "Access-Control-Request-Method");
    cm_http_add_header(req, "Access-Control-Allow-Methods", req->allow);
    const char *headers = cm_http_header(req, "Access-Control-Request-Headers");
    if (headers && *headers && header_list_ok(headers)) {
        cm_http_add_header(req, "Access-Control-Allow-Headers", headers);
    }
    cm_http_add_header(req, "Access-Control-Max-Age", "600");
    size_t n = strlen(want);
    const char *hit = strstr(req->allow, want);
    int allowed = hit && (hit == req->allow || hit[-1] == ' ') && (hit[n] == ',' || !hit[n]);
    if (!allowed) { /* the browser refuses it on the listed methods; say why too */
        cm_http_respond_error(req, 405, 0, "method %s not allowed on %s", want, req->path);
        return;
    }
    cm_http_respond(req, 204, NULL, "", 0);
}

void http_cors_add_headers(const struct cm_http_req *req, struct MHD_Response *resp)
{
    if (!req->cors_origin) {
        return;
    }
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", req->cors_origin);
    MHD_add_response_header(resp, "Vary", "Origin");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "ETag, Location, Retry-After, RateLimit, RateLimit-Policy, "
                            "WWW-Authenticate");
}
