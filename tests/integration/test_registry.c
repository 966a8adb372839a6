/* Integration tests of the schema registry: real registry processes (the sanitizer build) over
 * the harness's PostgreSQL, each test in a database of its own. Every endpoint and error code of
 * the Confluent API the registry serves, compatibility, deletes and references, modes,
 * concurrent registration from two registry processes, a restart that loses nothing, and access
 * control (Basic users from a file of hashes made by `openssl passwd -6`, bearer tokens with a
 * tenant or a subjects claim, schema:admin for the global config, the file reloaded on change). */
#include "harness.h"

#include "cm/auth.h"
#include "cm/mem.h"
#include "cm/pg.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CT "Content-Type: application/vnd.schemaregistry.v1+json"

#define SECRET "registry-it-secret-0123456789abcdef0123456789"
/* openssl passwd -6 -salt Qx7Lp2aZ 'ci-secret' */
#define HASH                                                                                       \
    "$6$Qx7Lp2aZ$xT0LDMBrGhJwqPff.mCdhYU9AG9tQaPlIH11dsfJjETb9QrIAbUL/WgGwcvkkeewfD.WXRHt/"        \
    "pZHJfgzw8l/T1"
#define USERS                                                                                      \
    "admin:" HASH "::schema:admin\n"                                                               \
    "reader:" HASH "::schema:read\n"                                                               \
    "acme:" HASH ":acme:schema:write\n"

static char dburl[512];
static char users_file[256];
/* the credentials requests carry: "user:password" (Basic), "Bearer <token>", or NULL */
static const char *auth_as = "admin:ci-secret";
static pid_t pids[2];
static int ports[2];

struct resp {
    long status;
    char body[65536];
    size_t len;
    char www[512]; /* the WWW-Authenticate headers, one per line */
};

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = sz * n;
    if (k > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
        size_t used = strlen(r->www);
        snprintf(r->www + used, sizeof(r->www) - used, "%.*s", (int)(k - 18), p + 18);
    }
    return k;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = sz * n;
    if (r->len + k < sizeof(r->body)) {
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = '\0';
    }
    return k;
}

/* method path [body] against registry instance `which`. */
static long call(int which, const char *method, const char *path, const char *body,
                 const char *ctype, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", ports[which], path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *h = curl_slist_append(NULL, ctype ? ctype : CT);
    h = curl_slist_append(h, "Expect:");
    char bearer[2048];
    if (auth_as && strncmp(auth_as, "Bearer ", 7) == 0) {
        snprintf(bearer, sizeof(bearer), "Authorization: %s", auth_as);
        h = curl_slist_append(h, bearer);
    } else if (auth_as) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, auth_as);
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

static json_t *js(const struct resp *r)
{
    json_t *v = json_loads(r->body, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(v, "not JSON: %s", r->body);
    return v;
}

static void expect_error(const struct resp *r, long status, int code)
{
    cr_assert_eq(r->status, status, "status %ld, body %s", r->status, r->body);
    json_t *v = js(r);
    cr_assert_eq(json_integer_value(json_object_get(v, "error_code")), code, "%s", r->body);
    cr_assert(json_is_string(json_object_get(v, "message")));
    cr_assert_eq(json_object_size(v), 2, "exactly error_code and message: %s", r->body);
    json_decref(v);
}

static int ready(void *ud)
{
    int which = (int)(long)ud;
    struct resp r;
    return call(which, "GET", "/readyz", NULL, NULL, &r) == 200;
}

static void write_users(const char *text)
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
static void start_env(int which, const char *const *env)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", ports[which]);
    pids[which] = fork();
    cr_assert_geq(pids[which], 0);
    if (pids[which] == 0) {
        char bin[512];
        snprintf(bin, sizeof(bin), "%s/bin/registry", it_env("BUILD_DIR"));
        setenv("REGISTRY_PORT", port, 1);
        setenv("DATABASE_URL", dburl, 1);
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

static void start(int which)
{
    start_env(which, NULL);
}

static void stop(int which)
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

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char db[64];
    snprintf(db, sizeof(db), "registry_it_%d", (int)getpid());
    struct cm_pg *pg = cm_pg_new(it_env("DATABASE_URL"));
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, NULL, NULL), 0);
    cm_pg_free(pg);
    /* the harness URL is .../events?...: point it at the new database */
    const char *base = it_env("DATABASE_URL");
    const char *slash = strrchr(base, '/');
    const char *query = strchr(slash, '?');
    snprintf(dburl, sizeof(dburl), "%.*s/%s%s", (int)(slash - base), base, db, query ? query : "");
    snprintf(users_file, sizeof(users_file), "/tmp/registry-it-users-%d", (int)getpid());
    write_users(USERS);
    ports[0] = it_free_port();
    ports[1] = it_free_port();
    start(0);
}

static void teardown(void)
{
    stop(0);
    stop(1);
    unlink(users_file);
    curl_global_cleanup();
}

TestSuite(registry, .init = setup, .fini = teardown, .timeout = 120);

#define AVRO_V1                                                                                    \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"
#define AVRO_V2                                                                                    \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{"     \
    "\"name\":\"name\",\"type\":\"string\",\"default\":\"\"}]}"
#define AVRO_BAD                                                                                   \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{"     \
    "\"name\":\"age\",\"type\":\"int\"}]}"

/* The request body {"schema": "<text>"} with text JSON-escaped. */
static char *schema_body(const char *text, const char *extra)
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

static int register_schema(int which, const char *subject, const char *text, const char *extra,
                           struct resp *r)
{
    char path[256];
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    char *body = schema_body(text, extra);
    call(which, "POST", path, body, NULL, r);
    free(body);
    if (r->status != 200) {
        return -1;
    }
    json_t *v = js(r);
    int id = (int)json_integer_value(json_object_get(v, "id"));
    json_decref(v);
    return id;
}

static int keys_are(const json_t *o, const char *const *keys, size_t n)
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

Test(registry, register_read_and_lookup)
{
    struct resp r;
    int id1 = register_schema(0, "users-value", AVRO_V1, NULL, &r);
    cr_assert_gt(id1, 0, "%s", r.body);
    cr_assert_str_eq(r.body, "{\"id\":1}", "exactly {\"id\": N}");
    /* re-registering, even formatted differently, returns the same id and no new version */
    cr_assert_eq(register_schema(0, "users-value",
                                 "{ \"name\":\"User\", \"type\":\"record\", \"fields\":[{\"type\":"
                                 "{\"type\":\"long\"},\"name\":\"id\"}]}",
                                 NULL, &r),
                 id1);
    int id2 = register_schema(0, "users-value", AVRO_V2, NULL, &r);
    cr_assert_gt(id2, id1);
    /* the same schema under another subject keeps its global id */
    cr_assert_eq(register_schema(0, "other-value", AVRO_V1, NULL, &r), id1);

    call(0, "GET", "/subjects", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"other-value\",\"users-value\"]");
    call(0, "GET", "/subjects?subjectPrefix=users", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"users-value\"]");
    call(0, "GET", "/subjects/users-value/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
    static const char *vkeys[] = {"subject", "version", "id", "schema"};
    const char *paths[] = {"/subjects/users-value/versions/2",
                           "/subjects/users-value/versions/latest",
                           "/subjects/users-value/versions/-1"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(call(0, "GET", paths[i], NULL, NULL, &r), 200, "%s", r.body);
        json_t *v = js(&r);
        cr_assert(keys_are(v, vkeys, 4), "%s: %s", paths[i], r.body);
        cr_assert_eq(json_integer_value(json_object_get(v, "version")), 2);
        cr_assert_eq(json_integer_value(json_object_get(v, "id")), id2);
        json_decref(v);
    }
    call(0, "GET", "/subjects/users-value/versions/1/schema", NULL, NULL, &r);
    json_t *raw = js(&r);
    cr_assert_str_eq(json_string_value(json_object_get(raw, "name")), "User");
    json_decref(raw);
    call(0, "GET", "/schemas/ids/1", NULL, NULL, &r);
    json_t *v = js(&r);
    static const char *skeys[] = {"schema"};
    cr_assert(keys_are(v, skeys, 1), "%s", r.body);
    json_decref(v);
    call(0, "GET", "/schemas/ids/1/schema", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"User\"") != NULL);
    call(0, "GET", "/schemas/ids/1/subjects", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"other-value\",\"users-value\"]");
    call(0, "GET", "/schemas/ids/1/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[{\"subject\":\"other-value\",\"version\":1},{\"subject\":"
                             "\"users-value\",\"version\":1}]");
    call(0, "GET", "/schemas/types", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"JSON\",\"AVRO\"]");
    /* lookup */
    char *body = schema_body(AVRO_V1, NULL);
    call(0, "POST", "/subjects/users-value", body, NULL, &r);
    free(body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    v = js(&r);
    cr_assert(keys_are(v, vkeys, 4), "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(v, "version")), 1);
    json_decref(v);
    /* JSON Schema answers carry schemaType */
    int jid = register_schema(0, "orders-value", "{\"type\":\"object\"}",
                              "{\"schemaType\":\"JSON\"}", &r);
    cr_assert_gt(jid, 0, "%s", r.body);
    call(0, "GET", "/subjects/orders-value/versions/1", NULL, NULL, &r);
    v = js(&r);
    cr_assert_str_eq(json_string_value(json_object_get(v, "schemaType")), "JSON");
    json_decref(v);
    /* reals come back as registered (0.1, not jansson's 0.10000000000000001) */
    int rid = register_schema(0, "readings-value",
                              "{\"type\":\"number\",\"multipleOf\":0.1,\"maximum\":1e-7}",
                              "{\"schemaType\":\"JSON\"}", &r);
    cr_assert_gt(rid, 0, "%s", r.body);
    call(0, "GET", "/subjects/readings-value/versions/1/schema", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"type\":\"number\",\"multipleOf\":0.1,\"maximum\":1e-7}");
}

Test(registry, error_codes)
{
    struct resp r;
    register_schema(0, "s", AVRO_V1, NULL, &r);
    call(0, "GET", "/subjects/nope/versions", NULL, NULL, &r);
    expect_error(&r, 404, 40401);
    call(0, "GET", "/subjects/s/versions/9", NULL, NULL, &r);
    expect_error(&r, 404, 40402);
    call(0, "GET", "/schemas/ids/999", NULL, NULL, &r);
    expect_error(&r, 404, 40403);
    call(0, "GET", "/schemas/ids/abc", NULL, NULL, &r);
    expect_error(&r, 404, 40403);
    char *body = schema_body("\"string\"", NULL);
    call(0, "POST", "/subjects/s", body, NULL, &r);
    expect_error(&r, 404, 40403);
    call(0, "POST", "/subjects/nope", body, NULL, &r);
    expect_error(&r, 404, 40401);
    free(body);
    const char *versions[] = {"abc", "0", "-2", "2147483648", "01"};
    for (size_t i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/subjects/s/versions/%s", versions[i]);
        call(0, "GET", path, NULL, NULL, &r);
        expect_error(&r, 422, 42202);
    }
    cr_assert_eq(register_schema(0, "s", "{\"type\":\"recrod\"}", NULL, &r), -1);
    expect_error(&r, 422, 42201);
    /* a record holding itself with no union between has no finite value: refused (a gateway
     * encoding an event with it recursed until its stack ran out) */
    cr_assert_eq(register_schema(0, "s",
                                 "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":"
                                 "\"next\",\"type\":\"N\"}]}",
                                 NULL, &r),
                 -1);
    expect_error(&r, 422, 42201);
    cr_assert(strstr(r.body, "no value of it is finite") != NULL, "%s", r.body);
    cr_assert_eq(register_schema(0, "s", "not json", NULL, &r), -1);
    expect_error(&r, 422, 42201);
    cr_assert_eq(
        register_schema(0, "s", "syntax = \"proto3\";", "{\"schemaType\":\"PROTOBUF\"}", &r), -1);
    expect_error(&r, 422, 42201);
    cr_assert(strstr(r.body, "PROTOBUF") != NULL);
    /* a JSON schema must be valid against its meta-schema (draft-07 here, 2019-09 too), known
     * offline, and may $ref it */
    cr_assert_eq(register_schema(0, "j", "{\"properties\":{\"n\":{\"minimum\":\"zero\"}}}",
                                 "{\"schemaType\":\"JSON\"}", &r),
                 -1);
    expect_error(&r, 422, 42201);
    cr_assert(strstr(r.body, "/properties/n/minimum") != NULL, "%s", r.body);
    cr_assert_eq(register_schema(0, "j",
                                 "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\","
                                 "\"properties\":{\"n\":{\"maxLength\":-1}}}",
                                 "{\"schemaType\":\"JSON\"}", &r),
                 -1);
    expect_error(&r, 422, 42201);
    cr_assert_gt(register_schema(0, "j",
                                 "{\"properties\":{\"rule\":{\"$ref\":"
                                 "\"http://json-schema.org/draft-07/schema#\"}}}",
                                 "{\"schemaType\":\"JSON\"}", &r),
                 0, "%s", r.body);
    call(0, "POST", "/subjects/s/versions", "{\"schema\":", NULL, &r);
    expect_error(&r, 400, 400);
    call(0, "POST", "/subjects/s/versions", "{\"schema\":\"\\\"int\\\"\"}",
         "Content-Type: text/plain", &r);
    expect_error(&r, 415, 415);
    /* unknown request fields are ignored */
    register_schema(0, "s", AVRO_V1, "{\"extra\":1,\"metadata\":{}}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
}

Test(registry, compatibility_and_config)
{
    struct resp r;
    register_schema(0, "c", AVRO_V1, NULL, &r);
    call(0, "GET", "/config", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"BACKWARD\"}");
    cr_assert_eq(register_schema(0, "c", AVRO_BAD, NULL, &r), -1);
    expect_error(&r, 409, 409);
    cr_assert(strstr(r.body, "READER_FIELD_MISSING_DEFAULT_VALUE") != NULL, "%s", r.body);
    char *body = schema_body(AVRO_BAD, NULL);
    call(0, "POST", "/compatibility/subjects/c/versions/latest?verbose=true", body, NULL, &r);
    json_t *v = js(&r);
    cr_assert(json_is_false(json_object_get(v, "is_compatible")), "%s", r.body);
    cr_assert_gt(json_array_size(json_object_get(v, "messages")), 0);
    json_decref(v);
    call(0, "POST", "/compatibility/subjects/c/versions", body, NULL, &r);
    cr_assert_str_eq(r.body, "{\"is_compatible\":false}");
    call(0, "POST", "/compatibility/subjects/c/versions/7", body, NULL, &r);
    expect_error(&r, 404, 40402);
    call(0, "POST", "/compatibility/subjects/none/versions/latest", body, NULL, &r);
    expect_error(&r, 404, 40401);
    call(0, "GET", "/config/c", NULL, NULL, &r);
    expect_error(&r, 404, 40408);
    call(0, "GET", "/config/c?defaultToGlobal=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"BACKWARD\"}");
    call(0, "PUT", "/config/c", "{\"compatibility\":\"NONE\"}", NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibility\":\"NONE\"}");
    call(0, "PUT", "/config/c", "{\"compatibility\":\"SIDEWAYS\"}", NULL, &r);
    expect_error(&r, 422, 42203);
    cr_assert_gt(register_schema(0, "c", AVRO_BAD, NULL, &r), 0, "NONE accepts it: %s", r.body);
    call(0, "DELETE", "/config/c", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"NONE\"}");
    call(0, "PUT", "/config", "{\"compatibility\":\"full_transitive\"}", NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibility\":\"FULL_TRANSITIVE\"}");
    call(0, "GET", "/config", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"FULL_TRANSITIVE\"}");
    call(0, "DELETE", "/config", NULL, NULL, &r);
    call(0, "GET", "/config", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"BACKWARD\"}");
    free(body);
}

Test(registry, deletes_and_references)
{
    struct resp r;
    int a = register_schema(0, "addr",
                            "{\"type\":\"record\",\"name\":\"Address\",\"namespace\":"
                            "\"x\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}",
                            NULL, &r);
    cr_assert_gt(a, 0, "%s", r.body);
    int b = register_schema(
        0, "person",
        "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"x\",\"fields\":[{\"name\":"
        "\"home\",\"type\":\"Address\"}]}",
        "{\"references\":[{\"name\":\"x.Address\",\"subject\":\"addr\",\"version\":1}]}", &r);
    cr_assert_gt(b, 0, "a schema using a referenced named type registers: %s", r.body);
    call(0, "GET", "/subjects/person/versions/1", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"references\":[{") != NULL, "%s", r.body);
    call(0, "GET", "/subjects/addr/versions/1/referencedby", NULL, NULL, &r);
    char want[32];
    snprintf(want, sizeof(want), "[%d]", b);
    cr_assert_str_eq(r.body, want);
    call(0, "DELETE", "/subjects/addr", NULL, NULL, &r);
    expect_error(&r, 422, 42206);
    call(0, "DELETE", "/subjects/addr/versions/1", NULL, NULL, &r);
    expect_error(&r, 422, 42206);
    /* JSON Schema references: the reference's name is what $ref points at */
    int cust = register_schema(0, "customer",
                               "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":"
                               "\"string\"}},\"required\":[\"name\"]}",
                               "{\"schemaType\":\"JSON\"}", &r);
    cr_assert_gt(cust, 0, "%s", r.body);
    const char *jref = "{\"schemaType\":\"JSON\",\"references\":[{\"name\":\"customer.json\","
                       "\"subject\":\"customer\",\"version\":1}]}";
    int order = register_schema(0, "order",
                                "{\"type\":\"object\",\"properties\":{\"buyer\":{\"$ref\":"
                                "\"customer.json\"}}}",
                                jref, &r);
    cr_assert_gt(order, 0, "a JSON schema with a registered reference: %s", r.body);
    cr_assert_eq(register_schema(0, "order2",
                                 "{\"properties\":{\"buyer\":{\"$ref\":\"nobody.json\"}}}", jref,
                                 &r),
                 -1, "a $ref that resolves nowhere");
    expect_error(&r, 422, 42201);
    /* compatibility follows the $ref into the referenced document */
    char *narrower = schema_body("{\"type\":\"object\",\"properties\":{\"buyer\":{\"$ref\":"
                                 "\"customer.json\"}},\"additionalProperties\":false}",
                                 jref);
    call(0, "POST", "/compatibility/subjects/order/versions/latest?verbose=true", narrower, NULL,
         &r);
    cr_assert(strstr(r.body, "\"is_compatible\":false") != NULL, "%s", r.body);
    free(narrower);

    /* a reference to nothing is an invalid schema */
    cr_assert_eq(register_schema(0, "bad", "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}",
                                 "{\"references\":[{\"name\":\"n\",\"subject\":\"ghost\","
                                 "\"version\":1}]}",
                                 &r),
                 -1);
    expect_error(&r, 422, 42201);

    /* version deletes (a cached lookup must not outlive the delete) */
    register_schema(0, "d", AVRO_V1, NULL, &r);
    register_schema(0, "d", AVRO_V2, NULL, &r);
    char *lookup = schema_body(AVRO_V1, NULL);
    cr_assert_eq(call(0, "POST", "/subjects/d", lookup, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(call(0, "POST", "/subjects/d", lookup, NULL, &r), 200, "cached: %s", r.body);
    call(0, "DELETE", "/subjects/d/versions/1?permanent=true", NULL, NULL, &r);
    expect_error(&r, 404, 40407);
    call(0, "DELETE", "/subjects/d/versions/1", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "1");
    call(0, "DELETE", "/subjects/d/versions/1", NULL, NULL, &r);
    expect_error(&r, 404, 40406);
    call(0, "POST", "/subjects/d", lookup, NULL, &r);
    expect_error(&r, 404, 40403);
    free(lookup);
    call(0, "GET", "/subjects/d/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[2]");
    call(0, "GET", "/subjects/d/versions?deleted=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
    call(0, "GET", "/subjects/d/versions/1", NULL, NULL, &r);
    expect_error(&r, 404, 40402);
    call(0, "GET", "/subjects/d/versions/1?deleted=true", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    call(0, "DELETE", "/subjects/d/versions/1?permanent=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "1");
    /* subject deletes */
    call(0, "DELETE", "/subjects/d?permanent=true", NULL, NULL, &r);
    expect_error(&r, 404, 40405);
    call(0, "DELETE", "/subjects/d", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[2]");
    call(0, "DELETE", "/subjects/d", NULL, NULL, &r);
    expect_error(&r, 404, 40404);
    call(0, "GET", "/subjects", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"d\"") == NULL, "%s", r.body);
    call(0, "GET", "/subjects?deleted=true", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"d\"") != NULL, "%s", r.body);
    call(0, "DELETE", "/subjects/d?permanent=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[2]");
    call(0, "DELETE", "/subjects/d", NULL, NULL, &r);
    expect_error(&r, 404, 40401);
}

Test(registry, modes)
{
    struct resp r;
    call(0, "GET", "/mode", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"mode\":\"READWRITE\"}");
    call(0, "PUT", "/mode", "{\"mode\":\"SLEEPY\"}", NULL, &r);
    expect_error(&r, 422, 42204);
    call(0, "PUT", "/mode/ro", "{\"mode\":\"READONLY\"}", NULL, &r);
    cr_assert_str_eq(r.body, "{\"mode\":\"READONLY\"}");
    cr_assert_eq(register_schema(0, "ro", AVRO_V1, NULL, &r), -1);
    expect_error(&r, 422, 42205);
    cr_assert_gt(register_schema(0, "rw", AVRO_V1, NULL, &r), 0, "other subjects still write");
    call(0, "GET", "/mode/rw", NULL, NULL, &r);
    expect_error(&r, 404, 40409);
    call(0, "DELETE", "/mode/ro", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"mode\":\"READONLY\"}");
    cr_assert_gt(register_schema(0, "ro", AVRO_V1, NULL, &r), 0, "%s", r.body);
    /* IMPORT keeps ids, only for empty subjects unless forced */
    call(0, "PUT", "/mode/ro", "{\"mode\":\"IMPORT\"}", NULL, &r);
    expect_error(&r, 422, 42205);
    call(0, "PUT", "/mode/imp", "{\"mode\":\"IMPORT\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(register_schema(0, "imp", AVRO_BAD, "{\"id\":500,\"version\":7}", &r), 500, "%s",
                 r.body);
    call(0, "GET", "/subjects/imp/versions/7", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(register_schema(0, "rw", AVRO_V2, "{\"id\":501}", &r), -1,
                 "ids only in IMPORT mode");
    expect_error(&r, 422, 42205);
    cr_assert_eq(register_schema(0, "imp", AVRO_V2, "{\"id\":500}", &r), -1);
    expect_error(&r, 422, 42207);
    cr_assert_gt(register_schema(0, "rw", AVRO_V2, NULL, &r), 500, "the sequence moved past 500");
}

struct racer {
    int which;
    int index;
    int ids[8];
    int errors;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    for (int k = 0; k < 8; k++) {
        struct resp r;
        char subject[32], text[256];
        /* all racers register the same 8 schemas, into shared and own subjects */
        snprintf(text, sizeof(text),
                 "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":\"f\",\"type\":"
                 "\"int\"}]}",
                 k);
        snprintf(subject, sizeof(subject), "%s", k % 2 ? "shared" : "alsoshared");
        if (k >= 4) {
            snprintf(subject, sizeof(subject), "own-%d-%d", rc->index, k);
        }
        rc->ids[k] = register_schema(rc->which, subject, text, "{}", &r);
        if (rc->ids[k] <= 0) {
            rc->errors++;
            fprintf(stderr, "race: %ld %s\n", r.status, r.body);
        }
    }
    return NULL;
}

Test(registry, concurrent_registration_from_two_processes)
{
    start(1);
    struct resp r;
    call(0, "PUT", "/config", "{\"compatibility\":\"NONE\"}", NULL, &r);
    pthread_t t[6];
    struct racer rc[6];
    for (int i = 0; i < 6; i++) {
        rc[i] = (struct racer){i % 2, i, {0}, 0};
        pthread_create(&t[i], NULL, race, &rc[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(rc[i].errors, 0);
    }
    for (int k = 0; k < 8; k++) {
        for (int i = 1; i < 6; i++) {
            cr_assert_eq(rc[i].ids[k], rc[0].ids[k], "one id per distinct schema (%d)", k);
        }
        for (int j = 0; j < k; j++) {
            cr_assert_neq(rc[0].ids[k], rc[0].ids[j], "distinct schemas, distinct ids");
        }
    }
    /* two registered schemas per shared subject, consecutive versions, no duplicates */
    call(1, "GET", "/subjects/shared/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
    call(0, "GET", "/subjects/alsoshared/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
}

Test(registry, restart_loses_nothing)
{
    struct resp r;
    int id = register_schema(0, "keep", AVRO_V1, NULL, &r);
    call(0, "PUT", "/config/keep", "{\"compatibility\":\"FULL\"}", NULL, &r);
    stop(0);
    start(0);
    call(0, "GET", "/subjects/keep/versions/1", NULL, NULL, &r);
    json_t *v = js(&r);
    cr_assert_eq(json_integer_value(json_object_get(v, "id")), id);
    json_decref(v);
    call(0, "GET", "/config/keep", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"FULL\"}");
}

static int registers(void *ud)
{
    struct resp r;
    return register_schema(1, (const char *)ud, AVRO_V2, NULL, &r) > 0;
}

/* A statement the database does not answer in time is Confluent's 50002 (the outcome unknown),
 * not 50001: PostgreSQL's own lock_timeout (55P03), then the registry's statement deadline
 * (REGISTRY_STORE_TIMEOUT). A registration waits for its subject's advisory lock, which another
 * session holds here. The registration that timed out left no version behind. */
Test(registry, timeouts_are_50002)
{
    struct resp r;
    cr_assert_gt(register_schema(0, "slow", AVRO_V1, NULL, &r), 0, "%s", r.body);
    struct cm_pg *admin = cm_pg_new(dburl);
    const char *db = strrchr(dburl, '/') + 1; /* up to its query string */
    int dblen = (int)strcspn(db, "?");
    char sql[160];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %.*s SET lock_timeout = '300ms'", dblen, db);
    cr_assert_eq(cm_pg_exec(admin, sql, 0, NULL, NULL, NULL), 0, "%s", sql);
    const char *env[] = {"REGISTRY_STORE_TIMEOUT", "5s", NULL};
    start_env(1, env);
    struct cm_pg *holder = cm_pg_new(dburl);
    const char *p[] = {"slow"};
    const char *lock = "SELECT pg_advisory_lock(hashtext('registry:' || $1))";
    const char *unlock = "SELECT pg_advisory_unlock(hashtext('registry:' || $1))";
    cr_assert_eq(cm_pg_exec(holder, lock, 1, p, NULL, NULL), 0);
    int64_t t0 = cm_monotonic_ms();
    register_schema(1, "slow", AVRO_V2, NULL, &r);
    expect_error(&r, 500, 50002);
    cr_assert_lt(cm_monotonic_ms() - t0, 4000, "the database's lock_timeout, not the deadline");
    cr_assert_eq(cm_pg_exec(holder, unlock, 1, p, NULL, NULL), 0);
    call(1, "GET", "/subjects/slow/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1]");
    stop(1);

    snprintf(sql, sizeof(sql), "ALTER DATABASE %.*s RESET lock_timeout", dblen, db);
    cr_assert_eq(cm_pg_exec(admin, sql, 0, NULL, NULL, NULL), 0, "%s", sql);
    const char *env2[] = {"REGISTRY_STORE_TIMEOUT", "1s", NULL};
    start_env(1, env2);
    cr_assert_eq(cm_pg_exec(holder, lock, 1, p, NULL, NULL), 0);
    t0 = cm_monotonic_ms();
    register_schema(1, "slow", AVRO_V2, NULL, &r);
    expect_error(&r, 500, 50002);
    cr_assert_geq(cm_monotonic_ms() - t0, 900, "the registry's deadline");
    cr_assert_eq(cm_pg_exec(holder, unlock, 1, p, NULL, NULL), 0);
    cr_assert(it_wait_until(15000, registers, "slow"), "registering again works");
    call(1, "GET", "/subjects/slow/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]", "the registration that timed out left nothing");
    cm_pg_free(holder);
    cm_pg_free(admin);
}

/* A schema that several others name is read once per resolution, not once per path: ten levels
 * of four JSON Schemas, each level's naming all four of the next (allOf of $refs), the last
 * {"type":"string"}. Before, registering the top asked the database 4^10 times (hours); and a
 * value is validated through all of them. */
Test(registry, shared_references_are_read_once)
{
    struct resp r;
    char *top = NULL;
    for (int level = 10; level >= 0; level--) {
        for (int k = 0; k < (level ? 4 : 1); k++) {
            json_t *schema = json_object(), *refs = json_array(), *all = json_array();
            for (int j = 0; level < 10 && j < 4; j++) {
                char name[32], subject[32];
                snprintf(name, sizeof(name), "L%d-%d", level + 1, j);
                snprintf(subject, sizeof(subject), "dag-%d-%d", level + 1, j);
                json_array_append_new(all, json_pack("{s:s}", "$ref", name));
                json_array_append_new(refs, json_pack("{s:s, s:s, s:i}", "name", name, "subject",
                                                      subject, "version", 1));
            }
            if (level == 10) {
                json_object_set_new(schema, "type", json_string("string"));
            } else {
                json_object_set_new(schema, "allOf", json_incref(all));
            }
            char *text = json_dumps(schema, JSON_COMPACT);
            json_t *body = json_pack("{s:s, s:s, s:O}", "schemaType", "JSON", "schema", text,
                                     "references", refs);
            char *b = json_dumps(body, JSON_COMPACT), path[64];
            snprintf(path, sizeof(path), "/subjects/dag-%d-%d/versions", level, k);
            int64_t t0 = cm_monotonic_ms();
            call(0, "POST", path, b, NULL, &r);
            cr_assert_eq(r.status, 200, "level %d: %s", level, r.body);
            cr_assert_lt(cm_monotonic_ms() - t0, 10000, "level %d took %lld ms", level,
                         (long long)(cm_monotonic_ms() - t0));
            if (level == 0) {
                top = b;
                b = NULL;
            }
            free(b);
            free(text);
            json_decref(body);
            json_decref(schema);
            json_decref(refs);
            json_decref(all);
        }
    }
    /* the same schema is compatible with the top, read through all of them again */
    call(0, "POST", "/compatibility/subjects/dag-0-0/versions/latest", top, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"is_compatible\":true"), "%s", r.body);
    free(top);
}

/* A bearer token for tenant with scope and extra claims (",\"subjects\":[...]" or ""). */
static char *token(const char *tenant, const char *scope, const char *extra)
{
    char claims[512];
    snprintf(claims, sizeof(claims),
             "{\"tenant\":\"%s\",\"sub\":\"it\",\"scope\":\"%s\",\"exp\":%lld%s}", tenant, scope,
             (long long)time(NULL) + 600, extra);
    char *t = cm_auth_sign_hs256(SECRET, claims);
    char *h = cm_xasprintf("Bearer %s", t);
    free(t);
    return h;
}

static long as(const char *who, const char *method, const char *path, const char *body,
               struct resp *r)
{
    const char *saved = auth_as;
    auth_as = who;
    long status = call(0, method, path, body, NULL, r);
    auth_as = saved;
    return status;
}

Test(registry, access_control)
{
    struct resp r;
    char *body = schema_body(AVRO_V1, NULL);
    as(NULL, "GET", "/subjects", NULL, &r);
    expect_error(&r, 401, 40101);
    cr_assert(strstr(r.www, "Basic realm=\"schema-registry\"") &&
                  strstr(r.www, "Bearer realm=\"schema-registry\""),
              "a challenge per scheme: %s", r.www);
    as("admin:wrong", "GET", "/subjects", NULL, &r);
    expect_error(&r, 401, 40101);
    cr_assert_eq(as("reader:ci-secret", "GET", "/subjects", NULL, &r), 200, "%s", r.body);
    as("reader:ci-secret", "POST", "/subjects/acme.orders-value/versions", body, &r);
    expect_error(&r, 403, 40301);
    cr_assert_eq(as("acme:ci-secret", "POST", "/subjects/acme.orders-value/versions", body, &r),
                 200, "%s", r.body);
    as("acme:ci-secret", "POST", "/subjects/orders-value/versions", body, &r);
    expect_error(&r, 403, 40301);
    cr_assert(strstr(r.body, "User is denied operation Write on Subject: orders-value"), "%s",
              r.body);
    as("acme:ci-secret", "PUT", "/config", "{\"compatibility\":\"NONE\"}", &r);
    expect_error(&r, 403, 40301);
    cr_assert_eq(as("acme:ci-secret", "PUT", "/config/acme.orders-value",
                    "{\"compatibility\":\"FULL\"}", &r),
                 200, "%s", r.body);
    cr_assert_eq(as("admin:ci-secret", "PUT", "/config", "{\"compatibility\":\"FULL\"}", &r), 200,
                 "%s", r.body);
    /* tokens: the tenant's prefix and the subjects claim */
    char *globex = token("globex", "schema:write", ",\"subjects\":[\"shared-*\"]");
    cr_assert_eq(as(globex, "POST", "/subjects/globex.a-value/versions", body, &r), 200, "%s",
                 r.body);
    cr_assert_eq(as(globex, "POST", "/subjects/shared-value/versions", body, &r), 200, "%s",
                 r.body);
    as(globex, "DELETE", "/subjects/acme.orders-value", NULL, &r);
    expect_error(&r, 403, 40301);
    char *events = token("globex", "events:write", "");
    as(events, "GET", "/subjects", NULL, &r);
    expect_error(&r, 403, 40301);
    /* the users file is reloaded when it changes */
    as("late:ci-secret", "GET", "/subjects", NULL, &r);
    expect_error(&r, 401, 40101);
    cm_sleep_ms(1100); /* a new modification time even on coarse clocks */
    write_users(USERS "late:" HASH "::schema:read\n");
    int64_t deadline = cm_monotonic_ms() + 10000;
    while (as("late:ci-secret", "GET", "/subjects", NULL, &r) != 200 &&
           cm_monotonic_ms() < deadline) {
        cm_sleep_ms(100);
    }
    cr_assert_eq(r.status, 200, "the new user is in force: %s", r.body);
    free(globex);
    free(events);
    free(body);
}
