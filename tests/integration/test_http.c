/* Integration tests for common/http over loopback with libcurl as the client: routing and path
 * parameters, 404/405, body caps (413 by Content-Length and for chunked bodies), the JSON error
 * shape (cm_http_error_body too), deferred responses from another thread, /healthz, /readyz with
 * checks, /metrics, and HTTPS with a certificate made by OpenSSL's command line (bad TLS files
 * refused), and a server shutting down (cm_http_quiesce): no new connection, kept-alive ones
 * closed after their next answer. */
#include "harness.h"

#include "cm/err.h"
#include "cm/http.h"
#include "cm/metrics.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct cm_http_server *srv;
static struct cm_metrics *reg;
static int check_fails;

struct resp {
    long status;
    char body[65536];
    char headers[4096];
};

struct chunked_src {
    size_t left;
};

static size_t read_chunked(char *buf, size_t sz, size_t n, void *ud)
{
    struct chunked_src *s = ud;
    size_t k = sz * n < s->left ? sz * n : s->left;
    memset(buf, 'x', k);
    s->left -= k;
    return k;
}

/* Performs a request; body may be NULL; chunked_len > 0 streams that many bytes chunked. */
static void request(const char *method, const char *path, const char *body, size_t chunked_len,
                    struct resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", cm_http_port(srv), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct it_buf body_buf = {r->body, sizeof(r->body), 0};
    struct it_buf header_buf = {r->headers, sizeof(r->headers), 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body_buf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_curl_collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &header_buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    struct curl_slist *h = NULL;
    struct chunked_src src = {chunked_len};
    if (chunked_len) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_chunked);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void h_echo(struct cm_http_req *req, void *ud)
{
    (void)ud;
    size_t len;
    const char *body = cm_http_body(req, &len);
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:I, s:s}", "path", cm_http_path(req), "id",
                          cm_http_param(req, "id"), "q", cm_http_query(req, "q"), "len",
                          (json_int_t)len, "client", cm_http_client_ip(req));
    json_object_set_new(o, "body_prefix", json_stringn(body, len > 16 ? 16 : len));
    cm_http_add_header(req, "X-Test", "yes");
    cm_http_respond_json(req, 200, o);
}

static void *respond_later(void *arg)
{
    struct cm_http_req *req = arg;
    cm_http_respond(req, 202, "text/plain", "later", 5);
    return NULL;
}

static void h_deferred(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_defer(req);
    pthread_t t;
    pthread_create(&t, NULL, respond_later, req);
    pthread_detach(t);
}

static void h_forgets(struct cm_http_req *req, void *ud)
{
    (void)req;
    (void)ud;
}

static void h_error(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_respond_error(req, 422, 42201, "bad %s", "thing");
}

/* ?key= once and ?flag= as a boolean (default true), answered back. */
static void h_one(struct cm_http_req *req, void *ud)
{
    (void)ud;
    const char *key;
    int flag;
    if (cm_http_query_one(req, "key", &key) != 0 ||
        cm_http_query_bool(req, "flag", 1, &flag) != 0) {
        return;
    }
    cm_http_respond_json(req, 200, json_pack("{s:s?, s:b}", "key", key, "flag", flag));
}

static int check(void *ud, char *why, size_t len)
{
    (void)ud;
    if (check_fails) {
        snprintf(why, len, "database down");
        return -1;
    }
    return 0;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    reg = cm_metrics_new("t_");
    struct cm_http_options o = {
        .bind_addr = "127.0.0.1", .threads = 2, .max_body = 1024, .timeout_s = 5, .metrics = reg};
    srv = cm_http_new(&o);
    cm_http_route(srv, "POST", "/items/{id}", h_echo, NULL);
    cm_http_route(srv, "DELETE", "/items/{id}", h_echo, NULL);
    cm_http_route(srv, "POST", "/items/{id}", h_echo, NULL); /* listed once in Allow */
    cm_http_route(srv, "GET", "/items/{id}/raw", h_echo, NULL);
    cm_http_route(srv, "GET", "/deferred", h_deferred, NULL);
    cm_http_route(srv, "GET", "/forgets", h_forgets, NULL);
    cm_http_route(srv, "GET", "/error", h_error, NULL);
    cm_http_route(srv, "GET", "/one", h_one, NULL);
    cm_http_add_check(srv, "db", check, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    cr_assert_gt(cm_http_port(srv), 0);
}

static void teardown(void)
{
    cm_http_stop(srv, 2000);
    cm_http_free(srv);
    cm_metrics_free(reg);
    curl_global_cleanup();
}

TestSuite(http, .init = setup, .fini = teardown);

static json_t *body_json(const struct resp *r)
{
    json_t *v = json_loads(r->body, 0, NULL);
    cr_assert_not_null(v, "not JSON: %s", r->body);
    return v;
}

Test(http, route_params_query_headers)
{
    struct resp r;
    request("POST", "/items/abc?q=hello", "{\"x\":1}", 0, &r);
    cr_assert_eq(r.status, 200);
    json_t *v = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(v, "id")), "abc");
    cr_assert_str_eq(json_string_value(json_object_get(v, "q")), "hello");
    cr_assert_eq(json_integer_value(json_object_get(v, "len")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(v, "client")), "127.0.0.1");
    cr_assert(strstr(r.headers, "X-Test: yes") != NULL, "%s", r.headers);
    cr_assert(strstr(r.headers, "Content-Type: application/json") != NULL, "%s", r.headers);
    json_decref(v);
}

static void expect_error(const struct resp *r, long status)
{
    cr_assert_eq(r->status, status, "status %ld body %s", r->status, r->body);
    json_t *v = body_json(r);
    cr_assert_eq(json_integer_value(json_object_get(v, "error_code")), status);
    cr_assert(json_is_string(json_object_get(v, "message")));
    cr_assert_eq(json_object_size(v), 2, "exactly error_code and message: %s", r->body);
    json_decref(v);
}

/* A parameter meant once, given twice, is refused naming it; booleans are checked, not guessed;
 * a %00 anywhere in the target is refused rather than cutting a path or value short. */
Test(http, query_parameters_given_twice_or_not_boolean_are_refused)
{
    static const struct {
        const char *query;
        long status;
        const char *key, *says; /* the answer's key, or what the error's message holds */
        int flag;
    } cases[] = {
        {"", 200, NULL, NULL, 1},
        {"?key=a", 200, "a", NULL, 1},
        {"?key=a&other=1&other=2", 200, "a", NULL, 1}, /* a parameter not read may repeat */
        {"?key=a&flag=false", 200, "a", NULL, 0},
        {"?flag=0", 200, NULL, NULL, 0},
        {"?flag=yes", 200, NULL, NULL, 1},
        {"?key=", 200, "", NULL, 1},
        {"?key=a&key=b", 400, NULL, "key: given 2 times in the query; give it once", 0},
        {"?key=a&key=a", 400, NULL, "key: given 2 times", 0},
        {"?key=a&k%65y=b&key=c", 400, NULL, "key: given 3 times", 0},
        {"?key&key=b", 400, NULL, "key: given 2 times", 0},
        {"?flag=ture", 400, NULL, "flag: true or false", 0},
        {"?flag=", 400, NULL, "flag: true or false", 0},
        {"?flag=TRUE", 400, NULL, "flag: true or false", 0},
        {"?flag=true&flag=false", 400, NULL, "flag: given 2 times", 0},
        {"?key=k0%2500x", 200, "k0%00x", NULL, 1}, /* an escaped '%' stays one */
        {"?key=k0%00x", 400, NULL, "holds %00 (a NUL byte)", 0},
        {"?key=%00", 400, NULL, "holds %00", 0},
        {"?ke%00y=a", 400, NULL, "holds %00", 0},
        {"?key=a&other=%00", 400, NULL, "holds %00", 0}, /* even in a parameter not read */
        {"/x%00", 400, NULL, "holds %00", 0},            /* the path: /one/x cut to /one */
        {"%00?key=a", 400, NULL, "holds %00", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/one%s", cases[i].query);
        struct resp r;
        request("GET", path, NULL, 0, &r);
        if (cases[i].status != 200) {
            expect_error(&r, cases[i].status);
            cr_assert(strstr(r.body, cases[i].says) != NULL, "%s: %s", path, r.body);
            continue;
        }
        cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
        json_t *v = body_json(&r);
        json_t *key = json_object_get(v, "key");
        if (cases[i].key) {
            cr_assert_str_eq(json_string_value(key), cases[i].key, "%s: %s", path, r.body);
        } else {
            cr_assert(!key || json_is_null(key), "%s: %s", path, r.body);
        }
        cr_assert_eq(json_is_true(json_object_get(v, "flag")), cases[i].flag, "%s: %s", path,
                     r.body);
        json_decref(v);
    }
}

/* The %00 noted while parsing one request does not follow the connection to the next. */
Test(http, a_nul_in_one_request_leaves_the_next_on_the_connection_alone)
{
    CURL *c = curl_easy_init();
    char body[4096] = "", url[128];
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    const char *paths[] = {"/one?key=a%00", "/one?key=b", "/one%00", "/one?key=c"};
    const long want[] = {400, 200, 400, 200};
    for (size_t i = 0; i < 4; i++) {
        body[0] = '\0';
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", cm_http_port(srv), paths[i]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        cr_assert_eq(curl_easy_perform(c), CURLE_OK);
        long status = 0, n = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
        cr_assert_eq(status, want[i], "%s: %ld %s", paths[i], status, body);
        cr_assert(i == 0 || n == 0, "%s came on the kept-alive connection", paths[i]);
    }
    curl_easy_cleanup(c);
}

Test(http, media_types)
{
    cr_assert(cm_http_media_type_is("application/json", "application/json"));
    cr_assert(cm_http_media_type_is("Application/JSON; charset=utf-8", "application/json"));
    cr_assert(cm_http_media_type_is("application/x-ndjson;charset=utf-8", "application/x-ndjson"));
    cr_assert(cm_http_media_type_is("application/json ; q=1", "application/json"));
    cr_assert_not(cm_http_media_type_is("application/jsonx", "application/json"));
    cr_assert_not(cm_http_media_type_is("application/js", "application/json"));
    cr_assert_not(cm_http_media_type_is("", "application/json"));
    cr_assert_not(cm_http_media_type_is(NULL, "application/json"));
    cr_assert_not(cm_http_media_type_is("text/plain", "application/json"));
}

/* RFC 9110 entity-tag lists: If-Match strong, If-None-Match weak, "*" only when it exists. */
Test(http, etag_lists)
{
    static const struct {
        const char *header;
        int exists, weak, want;
    } cases[] = {
        {"\"3\"", 1, 0, 1},
        {"\"2\"", 1, 0, 0},
        {"\"1\", \"3\"", 1, 0, 1},
        {"\"1\",\"2\"", 1, 0, 0},
        {" \"1\" ,\t\"3\" ", 1, 0, 1},
        {"W/\"3\"", 1, 0, 0},
        {"W/\"3\"", 1, 1, 1},
        {"W/\"1\", W/\"3\"", 1, 1, 1},
        {"*", 1, 0, 1},
        {"*", 0, 0, 0},
        {"\"3\"", 0, 0, 0},
        {"3", 1, 0, 0},
        {"\"3", 1, 0, 0},
        {"\"3\"x", 1, 0, 0},
        {"\"1\" \"3\"", 1, 0, 0},
        {"", 1, 0, 0},
        {",,", 1, 0, 0},
        {"\"33\"", 1, 0, 0},
        {"\"\"", 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(cm_http_etag_matches(cases[i].header, "\"3\"", cases[i].exists, cases[i].weak),
                     cases[i].want, "[%s] exists %d weak %d", cases[i].header, cases[i].exists,
                     cases[i].weak);
    }
    cr_assert_not(cm_http_etag_matches(NULL, "\"3\"", 1, 0));
}

Test(http, not_found_and_method_not_allowed)
{
    struct resp r;
    request("GET", "/nothing/here", NULL, 0, &r);
    expect_error(&r, 404);
    request("GET", "/items/abc", NULL, 0, &r);
    expect_error(&r, 405);
    /* RFC 9110 15.5.6: a 405 lists the methods the resource has */
    cr_assert(strstr(r.headers, "Allow: POST, DELETE\r\n") != NULL, "%s", r.headers);
    request("POST", "/items", "{}", 0, &r);
    expect_error(&r, 404);
    request("POST", "/items/a/b", "{}", 0, &r);
    expect_error(&r, 404);
    char deep[2048] = "";
    for (int i = 0; i < 100; i++) {
        strcat(deep, "/x");
    }
    request("GET", deep, NULL, 0, &r);
    expect_error(&r, 404);
}

/* A client may send any token as its method: each made-up one is counted as "other", so they
 * cannot grow the metrics a series at a time. */
Test(http, made_up_methods_share_one_metric_series)
{
    struct resp r;
    char method[16];
    for (int i = 0; i < 20; i++) {
        snprintf(method, sizeof(method), "BREW%d", i);
        request(method, "/items/abc", NULL, 0, &r);
        expect_error(&r, 405);
    }
    request("PATCH", "/items/abc", NULL, 0, &r);
    expect_error(&r, 405);
    request("GET", "/metrics", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "t_http_requests_total{route=\"unmatched\",method=\"other\","
                             "code=\"405\"} 20") != NULL,
              "%s", r.body);
    cr_assert(strstr(r.body, "method=\"PATCH\",code=\"405\"} 1") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "BREW") == NULL, "%s", r.body);
}

Test(http, body_cap)
{
    struct resp r;
    char big[2048];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    request("POST", "/items/abc", big, 0, &r);
    expect_error(&r, 413);
    request("POST", "/items/abc", NULL, 5000, &r);
    expect_error(&r, 413);
    request("POST", "/items/abc", NULL, 1000, &r);
    cr_assert_eq(r.status, 200, "a chunked body under the cap is accepted: %s", r.body);
    big[1024] = '\0';
    request("POST", "/items/abc", big, 0, &r);
    cr_assert_eq(r.status, 200, "exactly the cap is accepted");
}

/* Status of a GET carrying one header of n bytes. */
static long status_with_header(size_t n)
{
    char *line = malloc(n + 16);
    memcpy(line, "X-Big: ", 7);
    memset(line + 7, 'a', n);
    line[7 + n] = '\0';
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/items/abc", cm_http_port(srv));
    static struct resp r; /* 70 KB: off the stack */
    memset(&r, 0, sizeof(r));
    struct curl_slist *h = curl_slist_append(NULL, line);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    struct it_buf body_buf = {r.body, sizeof(r.body), 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body_buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(line);
    return status;
}

Test(http, request_headers_up_to_about_15_kib)
{
    cr_assert_eq(status_with_header(12 * 1024), 405, "served (GET on a POST route)");
    cr_assert_eq(status_with_header(20 * 1024), 431);
}

Test(http, deferred_response_from_another_thread)
{
    for (int i = 0; i < 20; i++) {
        struct resp r;
        request("GET", "/deferred", NULL, 0, &r);
        cr_assert_eq(r.status, 202);
        cr_assert_str_eq(r.body, "later");
    }
}

Test(http, handler_without_response_is_500)
{
    struct resp r;
    request("GET", "/forgets", NULL, 0, &r);
    expect_error(&r, 500);
}

Test(http, custom_error_code)
{
    struct resp r;
    request("GET", "/error", NULL, 0, &r);
    cr_assert_eq(r.status, 422);
    json_t *v = body_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(v, "error_code")), 42201);
    cr_assert_str_eq(json_string_value(json_object_get(v, "message")), "bad thing");
    json_decref(v);
}

/* The one error body of the suite, also for messages that are not UTF-8 (each invalid byte shown
 * as '?', so the field a message names survives) or missing. */
Test(http, error_body_shape)
{
    const char *msgs[] = {"plain",
                          "caf\xc3\xa9",
                          "bad \xff\xfe bytes",
                          NULL,
                          "steps.caf\xc3: cut inside a character",
                          "x\xed\xa0\x80y: a surrogate, \xc0\xaf overlong"};
    const char *want[] = {"plain",
                          "caf\xc3\xa9",
                          "bad ?? bytes",
                          "",
                          "steps.caf?: cut inside a character",
                          "x???y: a surrogate, ?? overlong"};
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        json_t *b = cm_http_error_body(40000 + (int)i, msgs[i]);
        cr_assert_eq(json_object_size(b), 2);
        cr_assert_eq(json_integer_value(json_object_get(b, "error_code")), 40000 + (int)i);
        cr_assert_str_eq(json_string_value(json_object_get(b, "message")), want[i]);
        json_decref(b);
    }
}

Test(http, health_readiness_metrics)
{
    struct resp r;
    request("GET", "/healthz", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    request("GET", "/livez", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    request("GET", "/readyz", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    check_fails = 1;
    request("GET", "/readyz", NULL, 0, &r);
    expect_error(&r, 503);
    cr_assert(strstr(r.body, "db: database down") != NULL, "%s", r.body);
    check_fails = 0;
    cm_http_set_unready(srv);
    request("GET", "/readyz", NULL, 0, &r);
    expect_error(&r, 503);
    cr_assert(strstr(r.body, "shutting down") != NULL, "%s", r.body);
    request("GET", "/metrics", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(
        strstr(r.body, "t_http_requests_total{route=\"/readyz\",method=\"GET\",code=\"503\"} 2") !=
            NULL,
        "%s", r.body);
    cr_assert(strstr(r.headers, "text/plain; version=0.0.4") != NULL);
}

/* ---- HTTPS: a self-signed certificate made with OpenSSL's command line ---- */

static void make_cert(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem "
             "-out %s/cert.pem 2>/dev/null && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=other -keyout %s/other-key.pem -out %s/other-cert.pem 2>/dev/null",
             dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "openssl made the certificates");
}

/* GET url verifying the server against cafile (NULL: plain HTTP); the status, 0 when the
 * exchange failed. */
static long get_status(const char *url, const char *cafile)
{
    CURL *c = curl_easy_init();
    struct resp r = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    struct it_buf body_buf = {r.body, sizeof(r.body), 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body_buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (cafile) {
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    return status;
}

Test(https, serves_tls_with_a_verified_certificate_and_refuses_bad_files, .timeout = 60)
{
    char dir[] = "/tmp/https-test.XXXXXX", cert[96], key[96], other[96], missing[96];
    cr_assert_not_null(mkdtemp(dir));
    make_cert(dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(other, sizeof(other), "%s/other-key.pem", dir);
    snprintf(missing, sizeof(missing), "%s/none.pem", dir);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cm_metrics *m = cm_metrics_new("t_");
    struct cm_http_options o = {.bind_addr = "127.0.0.1",
                                .threads = 2,
                                .metrics = m,
                                .tls_cert_file = cert,
                                .tls_key_file = key};
    struct cm_http_server *s = cm_http_new(&o);
    cr_assert_eq(cm_http_start(s), 0);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/healthz", cm_http_port(s));
    cr_assert_eq(get_status(url, cert), 200, "HTTPS verified against the certificate");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", cm_http_port(s));
    cr_assert_eq(get_status(url, NULL), 0, "plain HTTP on the HTTPS port gets no answer");
    cm_http_stop(s, 2000);
    cm_http_free(s);
    /* a key that is not the certificate's, a missing file, one without the other */
    const char *bad[][2] = {{cert, other}, {cert, missing}, {cert, NULL}, {NULL, key}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.tls_cert_file = bad[i][0];
        o.tls_key_file = bad[i][1];
        s = cm_http_new(&o);
        cr_assert_eq(cm_http_start(s), CM_E_INVAL, "bad TLS files %zu are refused", i);
        cm_http_free(s);
    }
    cm_metrics_free(m);
    curl_global_cleanup();
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
}

/* The first place needle (ASCII, any case) is in hay, or NULL. */
static const char *find_nocase(const char *hay, const char *needle)
{
    for (size_t n = strlen(needle); *hay; hay++) {
        if (strncasecmp(hay, needle, n) == 0) {
            return hay;
        }
    }
    return NULL;
}

/* Sends one request on fd and reads until its answer's body (or EOF) into buf: the bytes read. */
static size_t exchange(int fd, const char *req, char *buf, size_t cap)
{
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = find_nocase(buf, "Content-Length: ");
        if (end && cl && (size_t)(end + 4 - buf) + (size_t)atoi(cl + 16) <= got) {
            break; /* the whole answer */
        }
    }
    buf[got] = '\0';
    return got;
}

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Shutting down (cm_http_quiesce): a kept-alive connection gets its next answer with
 * "Connection: close" and is closed, a new connection is closed without an answer, and the
 * server still stops. (Not MHD_quiesce_daemon, which aborted now and then: http_guard_drain.) */
Test(http, quiesced_the_server_answers_what_it_has_and_takes_no_more)
{
    static const char get[] = "GET /items/a/raw HTTP/1.1\r\nHost: t\r\n\r\n";
    char buf[4096];
    int kept = connect_to(cm_http_port(srv));
    cr_assert_gt(exchange(kept, get, buf, sizeof(buf)), 0);
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    cr_assert_null(find_nocase(buf, "Connection: close"), "kept alive before: %s", buf);
    cm_http_quiesce(srv);
    cr_assert_gt(exchange(kept, get, buf, sizeof(buf)), 0);
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    cr_assert_not_null(find_nocase(buf, "Connection: close"), "%s", buf);
    char rest[16];
    cr_assert_eq(read(kept, rest, sizeof(rest)), 0, "then closed");
    close(kept);
    int late = connect_to(cm_http_port(srv)); /* (the kernel still completes the handshake) */
    cr_assert_eq(exchange(late, get, buf, sizeof(buf)), 0, "no answer: %s", buf);
    close(late);
}
