/* Integration tests for common/http_client against a cm_http server on loopback: status and body
 * of an answer, basic auth and extra headers sent, methods and bodies, a deferred answer past the
 * timeout (CM_E_TIMEDOUT), an answer over the size cap (CM_E_TOOBIG), a port nothing listens on
 * (CM_E_UNAVAIL), refused schemes and malformed URLs (CM_E_INVAL), and path escaping. */
#include "harness.h"

#include "cm/err.h"
#include "cm/http.h"
#include "cm/http_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct cm_http_server *srv;
static char base[64];

/* Answers what it was asked: method, path, query q, Authorization, X-Extra and the body. */
static void h_echo(struct cm_http_req *req, void *ud)
{
    (void)ud;
    size_t len;
    const char *body = cm_http_body(req, &len);
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s%}", "method", cm_http_method(req),
                          "path", cm_http_path(req), "q", cm_http_query(req, "q"), "auth",
                          cm_http_header(req, "Authorization"), "extra",
                          cm_http_header(req, "X-Extra"), "body", body ? body : "", len);
    cm_http_respond_json(req, 200, o);
}

static void h_missing(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_respond_error(req, 404, 40401, "no such thing");
}

static void h_big(struct cm_http_req *req, void *ud)
{
    (void)ud;
    static char big[100000];
    memset(big, 'x', sizeof(big));
    cm_http_respond(req, 200, "text/plain", big, sizeof(big));
}

static void *answer_late(void *arg)
{
    struct timespec ts = {1, 500000000L};
    nanosleep(&ts, NULL);
    cm_http_respond(arg, 200, "text/plain", "late", 4);
    return NULL;
}

static void h_slow(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_defer(req);
    pthread_t t;
    pthread_create(&t, NULL, answer_late, req);
    pthread_detach(t);
}

/* A loopback port nothing listens on: bound by the kernel's choice, then closed. */
static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void setup(void)
{
    struct cm_http_options o = {
        .bind_addr = "127.0.0.1", .threads = 2, .max_body = 4096, .timeout_s = 5};
    srv = cm_http_new(&o);
    cm_http_route(srv, "GET", "/echo/{x}", h_echo, NULL);
    cm_http_route(srv, "PUT", "/echo/{x}", h_echo, NULL);
    cm_http_route(srv, "POST", "/echo/{x}", h_echo, NULL);
    cm_http_route(srv, "GET", "/missing", h_missing, NULL);
    cm_http_route(srv, "GET", "/big", h_big, NULL);
    cm_http_route(srv, "GET", "/slow", h_slow, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", cm_http_port(srv));
}

static void teardown(void)
{
    cm_http_stop(srv, 3000);
    cm_http_free(srv);
}

TestSuite(http_client, .init = setup, .fini = teardown);

static json_t *fetch_json(const struct cm_http_request *rq, long want_status)
{
    struct cm_http_response rs;
    int rc = cm_http_fetch(rq, &rs);
    cr_assert_eq(rc, 0, "%s: %s", rq->url, rs.error);
    cr_assert_eq(rs.status, want_status, "%s: %ld %s", rq->url, rs.status, rs.body);
    json_t *v = json_loads(rs.body, 0, NULL);
    cr_assert_not_null(v, "not JSON: %s", rs.body);
    cr_assert_eq(rs.len, strlen(rs.body));
    cm_http_response_free(&rs);
    return v;
}

Test(http_client, get_with_auth_headers_and_query)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/echo/a?q=1", base);
    const char *hdrs[] = {"X-Extra: yes", NULL};
    struct cm_http_request rq = {.url = url, .user_info = "alice:s3cret", .headers = hdrs};
    json_t *v = fetch_json(&rq, 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "method")), "GET");
    cr_assert_str_eq(json_string_value(json_object_get(v, "path")), "/echo/a");
    cr_assert_str_eq(json_string_value(json_object_get(v, "q")), "1");
    cr_assert_str_eq(json_string_value(json_object_get(v, "extra")), "yes");
    /* base64("alice:s3cret") */
    cr_assert_str_eq(json_string_value(json_object_get(v, "auth")), "Basic YWxpY2U6czNjcmV0");
    json_decref(v);
}

Test(http_client, bodies_and_methods)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/echo/b", base);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    struct cm_http_request rq = {.url = url, .body = "{\"n\":1}", .body_len = 7, .headers = hdrs};
    json_t *v = fetch_json(&rq, 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "method")), "POST");
    cr_assert_str_eq(json_string_value(json_object_get(v, "body")), "{\"n\":1}");
    cr_assert(json_is_null(json_object_get(v, "auth")), "no user, no Authorization");
    json_decref(v);
    rq.method = "PUT";
    rq.body = "xy";
    rq.body_len = 2;
    v = fetch_json(&rq, 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "method")), "PUT");
    cr_assert_str_eq(json_string_value(json_object_get(v, "body")), "xy");
    json_decref(v);
}

Test(http_client, any_status_is_an_answer)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/missing", base);
    struct cm_http_request rq = {.url = url};
    json_t *v = fetch_json(&rq, 404);
    cr_assert_eq(json_integer_value(json_object_get(v, "error_code")), 40401);
    json_decref(v);
}

Test(http_client, timeout_size_cap_and_unreachable)
{
    char url[128];
    struct cm_http_response rs;
    snprintf(url, sizeof(url), "%s/slow", base);
    struct cm_http_request rq = {.url = url, .timeout_ms = 300};
    cr_assert_eq(cm_http_fetch(&rq, &rs), CM_E_TIMEDOUT);
    cr_assert_eq(rs.status, 0);
    cr_assert_null(rs.body);
    cr_assert_neq(rs.error[0], '\0');
    cm_http_response_free(&rs);

    snprintf(url, sizeof(url), "%s/big", base);
    rq = (struct cm_http_request){.url = url, .max_bytes = 99999};
    cr_assert_eq(cm_http_fetch(&rq, &rs), CM_E_TOOBIG);
    cr_assert(strstr(rs.error, "99999"), "%s", rs.error);
    cm_http_response_free(&rs);
    rq.max_bytes = 100000; /* exactly the answer's size */
    cr_assert_eq(cm_http_fetch(&rq, &rs), 0, "%s", rs.error);
    cr_assert_eq(rs.len, 100000);
    cr_assert_eq(rs.body[99999], 'x');
    cm_http_response_free(&rs);

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", closed_port());
    rq = (struct cm_http_request){.url = url, .timeout_ms = 2000};
    cr_assert_eq(cm_http_fetch(&rq, &rs), CM_E_UNAVAIL);
    cr_assert_neq(rs.error[0], '\0');
    cm_http_response_free(&rs);
}

Test(http_client, refuses_other_schemes_and_bad_urls)
{
    const char *bad[] = {"",
                         "file:///etc/passwd",
                         "ftp://127.0.0.1/",
                         "gopher://127.0.0.1/",
                         "127.0.0.1:80/x",
                         "http://",
                         "http://[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cm_http_request rq = {.url = bad[i], .timeout_ms = 1000};
        struct cm_http_response rs;
        int rc = cm_http_fetch(&rq, &rs);
        cr_assert_eq(rc, CM_E_INVAL, "%s: %d (%s)", bad[i], rc, rs.error);
        cr_assert_neq(rs.error[0], '\0', "%s", bad[i]);
        cm_http_response_free(&rs);
    }
    struct cm_http_response rs;
    cr_assert_eq(cm_http_fetch(NULL, &rs), CM_E_INVAL);
}

Test(http_client, escapes_path_segments)
{
    const char *in[] = {"plain-Name_1.~", "a b/c?d#e", "ünï", "%", ""};
    const char *out[] = {"plain-Name_1.~", "a%20b%2Fc%3Fd%23e", "%C3%BCn%C3%AF", "%25", ""};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char *e = cm_http_escape(in[i]);
        cr_assert_str_eq(e, out[i]);
        free(e);
    }
    /* an escaped segment arrives whole as one path parameter */
    char *e = cm_http_escape("y z");
    char url[128];
    snprintf(url, sizeof(url), "%s/echo/%s", base, e);
    free(e);
    struct cm_http_request rq = {.url = url};
    json_t *v = fetch_json(&rq, 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "path")), "/echo/y z");
    json_decref(v);
}
