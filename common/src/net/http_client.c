/* http_client: outgoing HTTP requests over libcurl's easy interface (see http_client.h). */
#include "cm/http_client.h"

#include "cm/err.h"
#include "cm/mem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    struct cm_http_response *rs;
    size_t max;
    int too_big;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct sink *k = ud;
    size_t add = sz * n;
    if (k->rs->len + add > k->max) {
        k->too_big = 1;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    k->rs->body = cm_xrealloc(k->rs->body, k->rs->len + add + 1);
    memcpy(k->rs->body + k->rs->len, p, add);
    k->rs->len += add;
    k->rs->body[k->rs->len] = '\0';
    return add;
}

static int fail(struct cm_http_response *rs, int code, const char *why)
{
    snprintf(rs->error, sizeof(rs->error), "%s", why);
    rs->status = 0;
    return code;
}

static int translate(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return CM_E_TIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return CM_E_INVAL;
    default:
        return CM_E_UNAVAIL;
    }
}

int cm_http_fetch(const struct cm_http_request *rq, struct cm_http_response *rs)
{
    memset(rs, 0, sizeof(*rs));
    if (!rq || !rq->url || !*rq->url) {
        return fail(rs, CM_E_INVAL, "no URL");
    }
    if (strncmp(rq->url, "http://", 7) != 0 && strncmp(rq->url, "https://", 8) != 0) {
        return fail(rs, CM_E_INVAL, "only http:// and https:// URLs are fetched");
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        return fail(rs, CM_E_UNAVAIL, curl_easy_strerror(global_rc));
    }
    CURL *c = curl_easy_init();
    if (!c) {
        return fail(rs, CM_E_UNAVAIL, "libcurl could not make a handle");
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct sink k = {.rs = rs, .max = rq->max_bytes ? rq->max_bytes : CM_HTTP_CLIENT_MAX_BYTES};
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
        hdrs = curl_slist_append(hdrs, rq->headers[i]);
    }
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     (long)(rq->timeout_ms > 0 ? rq->timeout_ms : CM_HTTP_CLIENT_TIMEOUT_MS));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    if (hdrs) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    if (rq->user_info && *rq->user_info) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, rq->user_info);
    }
    if (rq->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    if (rq->method) {
        if (strcmp(rq->method, "HEAD") == 0) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
        }
    }
    CURLcode rc = curl_easy_perform(c);
    int out = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
        if (!rs->body) {
            rs->body = cm_xstrdup("");
        }
    } else if (k.too_big) {
        char why[96];
        snprintf(why, sizeof(why), "the answer is over %zu bytes", k.max);
        out = fail(rs, CM_E_TOOBIG, why);
    } else {
        out = fail(rs, translate(rc), errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (out != 0) {
        free(rs->body);
        rs->body = NULL;
        rs->len = 0;
    }
    return out;
}

void cm_http_response_free(struct cm_http_response *rs)
{
    if (rs) {
        free(rs->body);
        rs->body = NULL;
        rs->len = 0;
    }
}

char *cm_http_escape(const char *s)
{
    /* libcurl's: since 7.82 it needs no handle */
    pthread_once(&global_once, global_init);
    char *e = curl_easy_escape(NULL, s ? s : "", 0);
    if (!e) {
        return cm_xstrdup("");
    }
    char *out = cm_xstrdup(e);
    curl_free(e);
    return out;
}
