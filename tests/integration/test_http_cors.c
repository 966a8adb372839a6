/* Integration tests of common/http's CORS (CORS_ALLOWED_ORIGINS) over real connections: a
 * preflight from an allowed origin is answered 204 with the path's methods, the headers asked
 * for and a max age; the answers to an allowed origin carry Access-Control-Allow-Origin, Vary and
 * the exposed headers, errors included; another origin, or a request without Origin, gets none;
 * "*" answers "*"; and a list that is not one of origins is refused when the server is made. */
#include "harness.h"

#include "cm/http.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

/* method path on srv with up to three extra header lines (NULL ends them); a POST sends {}. */
static void call(struct cm_http_server *srv, const char *method, const char *path, const char *h1,
                 const char *h2, const char *h3, struct it_resp *r)
{
    const char *headers[] = {h1, h1 ? h2 : NULL, h1 && h2 ? h3 : NULL, NULL};
    int post = strcmp(method, "POST") == 0;
    it_request(cm_http_port(srv), method, path, NULL, headers, post ? "{}" : NULL, post ? 2 : 0, r);
}

static int has(const struct it_resp *r, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "%s\r\n", line);
    return strstr(r->headers, want) != NULL;
}

static void h_ok(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_add_header(req, "ETag", "\"1\"");
    cm_http_respond(req, 200, "application/json", "{}", 2);
}

static struct cm_http_server *serve(const char *origins)
{
    struct cm_http_options o = {.bind_addr = "127.0.0.1", .threads = 2, .cors_origins = origins};
    struct cm_http_server *srv = cm_http_new(&o);
    cr_assert_not_null(srv);
    cm_http_route(srv, "POST", "/events", h_ok, NULL);
    cm_http_route(srv, "GET", "/things/{id}", h_ok, NULL);
    cm_http_route(srv, "PUT", "/things/{id}", h_ok, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    return srv;
}

static void stop(struct cm_http_server *srv)
{
    cm_http_stop(srv, 2000);
    cm_http_free(srv);
}

TestSuite(http_cors, .init = NULL, .fini = NULL, .timeout = 30);

Test(http_cors, allowed_origins_get_preflights_and_headers)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cm_http_server *srv = serve(" https://app.example.com , http://localhost:3000");
    struct it_resp r;
    /* the preflight of a browser's POST with a bearer token and JSON */
    call(srv, "OPTIONS", "/events", "Origin: https://app.example.com",
         "Access-Control-Request-Method: POST",
         "Access-Control-Request-Headers: authorization, content-type", &r);
    cr_assert_eq(r.status, 204, "%s", r.headers);
    cr_assert(has(&r, "Access-Control-Allow-Origin: https://app.example.com"), "%s", r.headers);
    cr_assert(has(&r, "Access-Control-Allow-Methods: POST"), "%s", r.headers);
    cr_assert(has(&r, "Access-Control-Allow-Headers: authorization, content-type"), "%s",
              r.headers);
    cr_assert(has(&r, "Access-Control-Max-Age: 600"), "%s", r.headers);
    cr_assert(has(&r, "Vary: Origin"), "%s", r.headers);
    /* a path of several methods lists them; a method it lacks is refused */
    call(srv, "OPTIONS", "/things/7", "Origin: http://localhost:3000",
         "Access-Control-Request-Method: PUT", NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.headers);
    cr_assert(has(&r, "Access-Control-Allow-Methods: GET, PUT"), "%s", r.headers);
    call(srv, "OPTIONS", "/things/7", "Origin: http://localhost:3000",
         "Access-Control-Request-Method: DELETE", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.headers);
    /* asked headers that are not a list of names are not echoed */
    call(srv, "OPTIONS", "/events", "Origin: https://app.example.com",
         "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: x\"y", &r);
    cr_assert_eq(r.status, 204);
    cr_assert_null(strstr(r.headers, "Access-Control-Allow-Headers"), "%s", r.headers);
    /* no such path */
    call(srv, "OPTIONS", "/nothing", "Origin: https://app.example.com",
         "Access-Control-Request-Method: GET", NULL, &r);
    cr_assert_eq(r.status, 404);
    /* the answer itself, and an error, carry the origin and the headers a page may read */
    call(srv, "POST", "/events", "Origin: https://app.example.com", NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(has(&r, "Access-Control-Allow-Origin: https://app.example.com"), "%s", r.headers);
    cr_assert(strstr(r.headers, "Access-Control-Expose-Headers: ETag, Location, Retry-After") !=
                  NULL,
              "%s", r.headers);
    call(srv, "GET", "/events", "Origin: https://app.example.com", NULL, NULL, &r);
    cr_assert_eq(r.status, 405);
    cr_assert(has(&r, "Access-Control-Allow-Origin: https://app.example.com"), "%s", r.headers);
    /* another origin, or none: no CORS headers; its OPTIONS is no preflight */
    call(srv, "POST", "/events", "Origin: https://evil.example", NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strstr(r.headers, "Access-Control-"), "%s", r.headers);
    call(srv, "OPTIONS", "/events", "Origin: https://evil.example",
         "Access-Control-Request-Method: POST", NULL, &r);
    cr_assert_eq(r.status, 405);
    cr_assert_null(strstr(r.headers, "Access-Control-"), "%s", r.headers);
    call(srv, "POST", "/events", NULL, NULL, NULL, &r);
    cr_assert_null(strstr(r.headers, "Access-Control-"), "%s", r.headers);
    stop(srv);
    curl_global_cleanup();
}

Test(http_cors, any_origin_and_none)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cm_http_server *srv = serve("*");
    struct it_resp r;
    call(srv, "POST", "/events", "Origin: https://anyone.example", NULL, NULL, &r);
    cr_assert(has(&r, "Access-Control-Allow-Origin: *"), "%s", r.headers);
    stop(srv);
    srv = serve(NULL);
    call(srv, "OPTIONS", "/events", "Origin: https://anyone.example",
         "Access-Control-Request-Method: POST", NULL, &r);
    cr_assert_eq(r.status, 405, "without CORS_ALLOWED_ORIGINS there are no preflights");
    cr_assert_null(strstr(r.headers, "Access-Control-"), "%s", r.headers);
    stop(srv);
    curl_global_cleanup();
}

Test(http_cors, lists_that_are_not_of_origins_are_refused)
{
    static const char *bad[] = {"https://app.example.com/",
                                "https://app.example.com/path",
                                "app.example.com",
                                "ftp://files.example",
                                "https://",
                                ", ,",
                                "https://a.example, null",
                                "https://user@a.example"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cm_http_options o = {.bind_addr = "127.0.0.1", .cors_origins = bad[i]};
        struct cm_http_server *srv = cm_http_new(&o);
        cr_assert_null(srv, "'%s' was taken", bad[i]);
    }
}
