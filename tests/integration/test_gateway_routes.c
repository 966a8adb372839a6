/* Integration tests of the routing table's REST API (gw_route_admin over common/http): reading
 * the table in force with its version, replacing it (validated first, 422 naming the field;
 * conditional on If-Match; written back to the file), the admin scope, and reloading the file. */
#include "harness.h"

#include "../../services/gateway/gw_route.h"
#include "../../services/gateway/gw_route_admin.h"
#include "cm/auth.h"

#include "cm/http.h"
#include "cm/swap.h"
#include "cm/text.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECRET "integration-secret-0123456789abcdef"

static struct cm_swap *auth, *routes;
static struct gw_route_admin *admin;
static struct cm_http_server *srv;
static char file[128];
static char admin_token[2048], writer_token[2048];

static void sign(const char *scope, char *out, size_t len)
{
    char claims[256];
    snprintf(claims, sizeof(claims), "{\"sub\":\"ops\",\"scope\":\"%s\",\"exp\":%lld}", scope,
             (long long)time(NULL) + 600);
    char *t = cm_auth_sign_hs256(SECRET, claims);
    snprintf(out, len, "%s", t);
    free(t);
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cm_auth_config ac = {SECRET, NULL, NULL, 30, "tenant", NULL, NULL, 0};
    char err[256];
    auth = cm_swap_new(cm_auth_new(&ac, err, sizeof(err)), cm_auth_release);
    snprintf(file, sizeof(file), "/tmp/gw-routes-%d.json", (int)getpid());
    FILE *f = fopen(file, "w");
    fputs("{\"routes\":[{\"when\":\"type == 'a'\",\"topics\":[\"ta\"]}]}", f);
    fclose(f);
    struct gw_routes *r = gw_routes_load_file(file, "events", err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    routes = cm_swap_new(r, gw_routes_release);
    admin = gw_route_admin_new(routes, file, "events", auth, "gateway:admin");
    struct cm_http_options o = {.bind_addr = "127.0.0.1",
                                .threads = 2,
                                .max_body = 65536,
                                .timeout_s = 10,
                                .metrics = NULL};
    srv = cm_http_new(&o);
    cm_http_route(srv, "GET", "/routes", gw_route_admin_get, admin);
    cm_http_route(srv, "PUT", "/routes", gw_route_admin_put, admin);
    cr_assert_eq(cm_http_start(srv), 0);
    sign("gateway:admin", admin_token, sizeof(admin_token));
    sign("events:write", writer_token, sizeof(writer_token));
}

static void teardown(void)
{
    cm_http_stop(srv, 5000);
    cm_http_free(srv);
    gw_route_admin_free(admin);
    cm_swap_free(routes);
    cm_swap_free(auth);
    unlink(file);
    curl_global_cleanup();
}

TestSuite(gateway_routes, .init = setup, .fini = teardown, .timeout = 60);

/* method /routes with an optional token, body (JSON unless extra gives a Content-Type) and extra
 * header line. */
static void call(const char *method, const char *token, const char *body, const char *extra,
                 struct it_resp *r)
{
    char line[2200];
    snprintf(line, sizeof(line), "Authorization: Bearer %s", token ? token : "");
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (token) {
        headers[n++] = line;
    }
    headers[n] = extra;
    const char *ctype =
        body && (!extra || strncmp(extra, "Content-Type", 12) != 0) ? "application/json" : NULL;
    it_request(cm_http_port(srv), method, "/routes", ctype, headers, body, body ? strlen(body) : 0,
               r);
}

/* The first topic the table in force gives an event of this type. */
static const char *route_of(const char *type)
{
    static char out[64];
    json_t *ev = json_pack("{s:s}", "type", type);
    struct cm_swap_hold h = cm_swap_get(routes);
    const char *const *topics;
    gw_routes_select(h.value, ev, &topics, NULL);
    snprintf(out, sizeof(out), "%s", topics[0]);
    cm_swap_put(h);
    json_decref(ev);
    return out;
}

Test(gateway_routes, read_with_version_and_admin_scope)
{
    struct it_resp r;
    call("GET", NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 401);
    call("GET", writer_token, NULL, NULL, &r);
    cr_assert_eq(r.status, 403, "events:write is not the admin scope");
    cr_assert(strstr(r.headers, "insufficient_scope") != NULL, "%s", r.headers);
    call("GET", admin_token, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.headers, "ETag: \"1\"") != NULL, "%s", r.headers);
    json_t *doc = json_loads(r.body, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(doc, "version")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "default"), 0)),
                     "events", "the default topic is named in the document in force");
    cr_assert_eq(json_array_size(json_object_get(doc, "routes")), 1);
    json_decref(doc);
}

Test(gateway_routes, replace_validated_conditional_and_persisted)
{
    struct it_resp r;
    call("PUT", admin_token, "{\"routes\":[{\"when\":\"type ==\",\"topics\":[\"x\"]}]}", NULL, &r);
    cr_assert_eq(r.status, 422, "%s", r.body);
    cr_assert(strstr(r.body, "routes[0].when") != NULL, "names the field: %s", r.body);
    call("PUT", admin_token, "{\"routes\":[],\"default\":[\"bad topic!\"]}", NULL, &r);
    cr_assert_eq(r.status, 422, "%s", r.body);
    call("PUT", admin_token, "not json", NULL, &r);
    cr_assert_eq(r.status, 422, "%s", r.body);
    call("PUT", writer_token, "{\"routes\":[]}", NULL, &r);
    cr_assert_eq(r.status, 403);
    cr_assert_str_eq(route_of("a"), "ta", "nothing changed so far");

    const char *next = "{\"routes\":[{\"when\":\"type == 'b'\",\"topics\":[\"tb\"]}],"
                       "\"default\":[\"other\"]}";
    call("PUT", admin_token, next, "If-Match: \"7\"", &r);
    cr_assert_eq(r.status, 412, "a stale version: %s", r.body);
    call("PUT", admin_token, next, "If-Match: W/\"1\"", &r);
    cr_assert_eq(r.status, 412, "If-Match compares strongly: %s", r.body);
    call("PUT", admin_token, next, "If-Match: \"7\", \"1\"", &r);
    cr_assert_eq(r.status, 200, "a list holding the current version: %s", r.body);
    cr_assert(strstr(r.body, "\"version\":2") != NULL, "%s", r.body);
    cr_assert_str_eq(route_of("b"), "tb", "switched");
    cr_assert_str_eq(route_of("a"), "other");
    size_t len;
    char err[128];
    char *on_disk = cm_file_read(file, 65536, &len, err, sizeof(err));
    cr_assert_not_null(on_disk);
    cr_assert(strstr(on_disk, "type == 'b'") != NULL, "written back: %s", on_disk);
    free(on_disk);
    gw_route_admin_poll(admin, 0);
    call("GET", admin_token, NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"version\":2") != NULL, "our own write is no reload: %s", r.body);
}

Test(gateway_routes, file_changes_and_sighup_reload)
{
    struct timespec ts = {0, 20 * 1000000L}; /* a new modification time on any clock */
    nanosleep(&ts, NULL);
    FILE *f = fopen(file, "w");
    fputs("{\"routes\":[],\"default\":[\"fromfile\"]}", f);
    fclose(f);
    gw_route_admin_poll(admin, 0);
    cr_assert_str_eq(route_of("a"), "fromfile");
    struct it_resp r;
    call("GET", admin_token, NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"version\":2") != NULL, "%s", r.body);
    f = fopen(file, "w");
    fputs("{\"routes\": [", f); /* broken */
    fclose(f);
    gw_route_admin_poll(admin, 1);
    cr_assert_str_eq(route_of("a"), "fromfile", "a broken file keeps the table in force");
    call("PUT", admin_token, "{\"routes\":[]}", "Content-Type: text/plain", &r);
    cr_assert_eq(r.status, 415, "%s", r.body);
}
