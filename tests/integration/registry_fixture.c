/* registry_fixture: what the registry's integration tests (test_registry.c, test_registry_ops.c)
 * share: registry processes of the sanitizer build started over a database of their own in the
 * harness's PostgreSQL, with a users file of Basic credentials and a bearer token secret, and a
 * client for the Confluent API they serve. */
#include "registry_fixture.h"

#include "harness.h"

#include "cm/pg.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

char rit_dburl[512];
const char *rit_auth_as = "admin:ci-secret";
int rit_ports[2];
static char users_file[256];
static pid_t pids[2];

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct rit_resp *r = ud;
    size_t k = sz * n;
    if (k > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
        size_t used = strlen(r->www);
        snprintf(r->www + used, sizeof(r->www) - used, "%.*s", (int)(k - 18), p + 18);
    }
    return k;
}

long rit_call(int which, const char *method, const char *path, const char *body, const char *ctype,
              struct rit_resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", rit_ports[which], path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct it_buf answer = {r->body, sizeof(r->body), 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *h = curl_slist_append(NULL, ctype ? ctype : CT);
    h = curl_slist_append(h, "Expect:");
    char bearer[2048];
    if (rit_auth_as && strncmp(rit_auth_as, "Bearer ", 7) == 0) {
        snprintf(bearer, sizeof(bearer), "Authorization: %s", rit_auth_as);
        h = curl_slist_append(h, bearer);
    } else if (rit_auth_as) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, rit_auth_as);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? r->status : -1;
}

json_t *rit_js(const struct rit_resp *r)
{
    json_t *v = json_loads(r->body, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(v, "not JSON: %s", r->body);
    return v;
}

void rit_expect_error(const struct rit_resp *r, long status, int code)
{
    cr_assert_eq(r->status, status, "status %ld, body %s", r->status, r->body);
    json_t *v = rit_js(r);
    cr_assert_eq(json_integer_value(json_object_get(v, "error_code")), code, "%s", r->body);
    cr_assert(json_is_string(json_object_get(v, "message")));
    cr_assert_eq(json_object_size(v), 2, "exactly error_code and message: %s", r->body);
    json_decref(v);
}

static int ready(void *ud)
{
    int which = (int)(long)ud;
    struct rit_resp r;
    return rit_call(which, "GET", "/readyz", NULL, NULL, &r) == 200;
}

void rit_write_users(const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.new", users_file);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, users_file), 0);
}

/* Starts instance `which` with env's NAME, value pairs (NULL-terminated, or NULL) set too. */
void rit_start_env(int which, const char *const *env)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", rit_ports[which]);
    pids[which] = fork();
    cr_assert_geq(pids[which], 0);
    if (pids[which] == 0) {
        char bin[512];
        snprintf(bin, sizeof(bin), "%s/bin/registry", it_env("BUILD_DIR"));
        setenv("REGISTRY_PORT", port, 1);
        setenv("DATABASE_URL", rit_dburl, 1);
        setenv("BIND_ADDR", "127.0.0.1", 1);
        setenv("LOG_LEVEL", "warn", 1);
        setenv("REGISTRY_BASIC_AUTH_FILE", users_file, 1);
        setenv("JWT_HS256_SECRET", SECRET, 1);
        for (size_t i = 0; env && env[i]; i += 2) {
            setenv(env[i], env[i + 1], 1);
        }
        execl(bin, "registry", (char *)NULL);
        _exit(127);
    }
    cr_assert(it_wait_until(30000, ready, (void *)(long)which), "registry %d ready", which);
}

void rit_start(int which)
{
    rit_start_env(which, NULL);
}

void rit_stop(int which)
{
    if (pids[which] > 0) {
        kill(pids[which], SIGTERM);
        int status = 0;
        waitpid(pids[which], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "registry %d exited cleanly (status %d)", which, status);
        pids[which] = 0;
    }
}

void rit_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char db[64];
    snprintf(db, sizeof(db), "registry_it_%d", (int)getpid());
    struct cm_pg *pg = cm_pg_new(it_env("DATABASE_URL"));
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, NULL, NULL), 0);
    cm_pg_free(pg);
    /* the harness URL ends in /<database>?...: point it at the new database */
    const char *base = it_env("DATABASE_URL");
    const char *slash = strrchr(base, '/');
    const char *query = strchr(slash, '?');
    snprintf(rit_dburl, sizeof(rit_dburl), "%.*s/%s%s", (int)(slash - base), base, db,
             query ? query : "");
    snprintf(users_file, sizeof(users_file), "/tmp/registry-it-users-%d", (int)getpid());
    rit_write_users(USERS);
    rit_ports[0] = it_free_port();
    rit_ports[1] = it_free_port();
    rit_start(0);
}

void rit_teardown(void)
{
    rit_stop(0);
    rit_stop(1);
    unlink(users_file);
    curl_global_cleanup();
}

/* The request body {"schema": "<text>"} with text JSON-escaped. */
char *rit_schema_body(const char *text, const char *extra)
{
    json_t *o = json_pack("{s:s}", "schema", text);
    if (extra) {
        json_t *e = json_loads(extra, 0, NULL);
        json_object_update(o, e);
        json_decref(e);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int rit_register(int which, const char *subject, const char *text, const char *extra,
                 struct rit_resp *r)
{
    char path[256];
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    char *body = rit_schema_body(text, extra);
    rit_call(which, "POST", path, body, NULL, r);
    free(body);
    if (r->status != 200) {
        return -1;
    }
    json_t *v = rit_js(r);
    int id = (int)json_integer_value(json_object_get(v, "id"));
    json_decref(v);
    return id;
}

int rit_keys_are(const json_t *o, const char *const *keys, size_t n)
{
    if (json_object_size(o) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(o, keys[i])) {
            return 0;
        }
    }
    return 1;
}
