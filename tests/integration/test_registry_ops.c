/* Integration tests of the schema registry in operation: real registry processes (the sanitizer
 * build) over the harness's PostgreSQL, each test in a database of its own (registry_fixture.c).
 * Concurrent registration from two registry processes, a restart that loses nothing, statements
 * the database does not answer in time, references shared by many schemas, one instance's
 * deletes clearing the other's cache, and access control
 * (Basic users from a file of hashes made by `openssl passwd -6`, bearer tokens with a tenant or
 * a subjects claim, schema:admin for the global config, the file reloaded on change). */
#include "harness.h"
#include "registry_fixture.h"

#include "cm/auth.h"
#include "cm/mem.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

TestSuite(registry_ops, .init = rit_setup, .fini = rit_teardown, .timeout = 120);

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
        struct rit_resp r;
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
        rc->ids[k] = rit_register(rc->which, subject, text, "{}", &r);
        if (rc->ids[k] <= 0) {
            rc->errors++;
            fprintf(stderr, "race: %ld %s\n", r.status, r.body);
        }
    }
    return NULL;
}

Test(registry_ops, concurrent_registration_from_two_processes)
{
    rit_start(1);
    struct rit_resp r;
    rit_call(0, "PUT", "/config", "{\"compatibility\":\"NONE\"}", NULL, &r);
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
    rit_call(1, "GET", "/subjects/shared/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
    rit_call(0, "GET", "/subjects/alsoshared/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
}

Test(registry_ops, restart_loses_nothing)
{
    struct rit_resp r;
    int id = rit_register(0, "keep", AVRO_V1, NULL, &r);
    rit_call(0, "PUT", "/config/keep", "{\"compatibility\":\"FULL\"}", NULL, &r);
    rit_stop(0);
    rit_start(0);
    rit_call(0, "GET", "/subjects/keep/versions/1", NULL, NULL, &r);
    json_t *v = rit_js(&r);
    cr_assert_eq(json_integer_value(json_object_get(v, "id")), id);
    json_decref(v);
    rit_call(0, "GET", "/config/keep", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"FULL\"}");
}

/* A delete made through one instance clears the other's cache at once (the database announces
 * it on registry_deletes), not after REGISTRY_CACHE_TTL (30 s): a lookup and a schema by id that
 * instance 1 answers from its cache answer 404 once instance 0 deleted them for good. */
Test(registry_ops, another_instances_delete_clears_the_cache)
{
    rit_start(1);
    struct rit_resp r;
    int id = rit_register(0, "cached", AVRO_V1, NULL, &r);
    cr_assert_gt(id, 0, "%s", r.body);
    char *lookup = rit_schema_body(AVRO_V1, NULL);
    char by_id[64];
    snprintf(by_id, sizeof(by_id), "/schemas/ids/%d", id);
    for (int i = 0; i < 2; i++) { /* the second answer is the cache's */
        cr_assert_eq(rit_call(1, "POST", "/subjects/cached", lookup, NULL, &r), 200, "%s", r.body);
        cr_assert_eq(rit_call(1, "GET", by_id, NULL, NULL, &r), 200, "%s", r.body);
    }
    cr_assert_eq(rit_call(0, "DELETE", "/subjects/cached", NULL, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(rit_call(0, "DELETE", "/subjects/cached?permanent=true", NULL, NULL, &r), 200,
                 "%s", r.body);
    long lookup_status = 0, id_status = 0;
    for (int i = 0; i < 50 && (lookup_status != 404 || id_status != 404); i++) {
        cm_sleep_ms(i ? 100 : 0);
        lookup_status = rit_call(1, "POST", "/subjects/cached", lookup, NULL, &r);
        id_status = rit_call(1, "GET", by_id, NULL, NULL, &r);
    }
    free(lookup);
    cr_assert_eq(lookup_status, 404, "the other instance's lookup within 5 s");
    cr_assert_eq(id_status, 404, "the other instance's schema by id within 5 s: %s", r.body);
    rit_call(1, "GET", "/metrics", NULL, NULL, &r);
    const char *taken =
        strstr(r.body, "\nregistry_announcements_total{channel=\"registry_deletes\"} ");
    cr_assert_not_null(taken, "%s", r.body);
    cr_assert_geq(atoi(strchr(taken, '}') + 2), 1, "the deletes taken");
    cr_assert_not_null(
        strstr(r.body, "\nregistry_announcements_listening{channel=\"registry_deletes\"} 1\n"));
}

static int registers(void *ud)
{
    struct rit_resp r;
    return rit_register(1, (const char *)ud, AVRO_V2, NULL, &r) > 0;
}

/* A statement the database does not answer in time is Confluent's 50002 (the outcome unknown),
 * not 50001: PostgreSQL's own lock_timeout (55P03), then the registry's statement deadline
 * (REGISTRY_STORE_TIMEOUT). A registration waits for its subject's advisory lock, which another
 * session holds here. The registration that timed out left no version behind. */
Test(registry_ops, timeouts_are_50002)
{
    struct rit_resp r;
    cr_assert_gt(rit_register(0, "slow", AVRO_V1, NULL, &r), 0, "%s", r.body);
    struct cm_pg *admin = cm_pg_new(rit_dburl);
    const char *db = strrchr(rit_dburl, '/') + 1; /* up to its query string */
    int dblen = (int)strcspn(db, "?");
    char sql[160];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %.*s SET lock_timeout = '300ms'", dblen, db);
    cr_assert_eq(cm_pg_exec(admin, sql, 0, NULL, NULL, NULL), 0, "%s", sql);
    const char *env[] = {"REGISTRY_STORE_TIMEOUT", "5s", NULL};
    rit_start_env(1, env);
    struct cm_pg *holder = cm_pg_new(rit_dburl);
    const char *p[] = {"slow"};
    const char *lock = "SELECT pg_advisory_lock(hashtext('registry:' || $1))";
    const char *unlock = "SELECT pg_advisory_unlock(hashtext('registry:' || $1))";
    cr_assert_eq(cm_pg_exec(holder, lock, 1, p, NULL, NULL), 0);
    int64_t t0 = cm_monotonic_ms();
    rit_register(1, "slow", AVRO_V2, NULL, &r);
    rit_expect_error(&r, 500, 50002);
    cr_assert_lt(cm_monotonic_ms() - t0, 4000, "the database's lock_timeout, not the deadline");
    cr_assert_eq(cm_pg_exec(holder, unlock, 1, p, NULL, NULL), 0);
    rit_call(1, "GET", "/subjects/slow/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1]");
    rit_stop(1);

    snprintf(sql, sizeof(sql), "ALTER DATABASE %.*s RESET lock_timeout", dblen, db);
    cr_assert_eq(cm_pg_exec(admin, sql, 0, NULL, NULL, NULL), 0, "%s", sql);
    const char *env2[] = {"REGISTRY_STORE_TIMEOUT", "1s", NULL};
    rit_start_env(1, env2);
    cr_assert_eq(cm_pg_exec(holder, lock, 1, p, NULL, NULL), 0);
    t0 = cm_monotonic_ms();
    rit_register(1, "slow", AVRO_V2, NULL, &r);
    rit_expect_error(&r, 500, 50002);
    cr_assert_geq(cm_monotonic_ms() - t0, 900, "the registry's deadline");
    cr_assert_eq(cm_pg_exec(holder, unlock, 1, p, NULL, NULL), 0);
    cr_assert(it_wait_until(15000, registers, "slow"), "registering again works");
    rit_call(1, "GET", "/subjects/slow/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]", "the registration that timed out left nothing");
    cm_pg_free(holder);
    cm_pg_free(admin);
}

/* A schema that several others name is read once per resolution, not once per path: ten levels
 * of four JSON Schemas, each level's naming all four of the next (allOf of $refs), the last
 * {"type":"string"}. Before, registering the top asked the database 4^10 times (hours); and a
 * value is validated through all of them. */
Test(registry_ops, shared_references_are_read_once)
{
    struct rit_resp r;
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
            rit_call(0, "POST", path, b, NULL, &r);
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
    rit_call(0, "POST", "/compatibility/subjects/dag-0-0/versions/latest", top, NULL, &r);
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
               struct rit_resp *r)
{
    const char *saved = rit_auth_as;
    rit_auth_as = who;
    long status = rit_call(0, method, path, body, NULL, r);
    rit_auth_as = saved;
    return status;
}

Test(registry_ops, access_control)
{
    struct rit_resp r;
    char *body = rit_schema_body(AVRO_V1, NULL);
    as(NULL, "GET", "/subjects", NULL, &r);
    rit_expect_error(&r, 401, 40101);
    cr_assert(strstr(r.www, "Basic realm=\"schema-registry\"") &&
                  strstr(r.www, "Bearer realm=\"schema-registry\""),
              "a challenge per scheme: %s", r.www);
    as("admin:wrong", "GET", "/subjects", NULL, &r);
    rit_expect_error(&r, 401, 40101);
    cr_assert_eq(as("reader:ci-secret", "GET", "/subjects", NULL, &r), 200, "%s", r.body);
    as("reader:ci-secret", "POST", "/subjects/acme.orders-value/versions", body, &r);
    rit_expect_error(&r, 403, 40301);
    cr_assert_eq(as("acme:ci-secret", "POST", "/subjects/acme.orders-value/versions", body, &r),
                 200, "%s", r.body);
    as("acme:ci-secret", "POST", "/subjects/orders-value/versions", body, &r);
    rit_expect_error(&r, 403, 40301);
    cr_assert(strstr(r.body, "User is denied operation Write on Subject: orders-value"), "%s",
              r.body);
    as("acme:ci-secret", "PUT", "/config", "{\"compatibility\":\"NONE\"}", &r);
    rit_expect_error(&r, 403, 40301);
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
    rit_expect_error(&r, 403, 40301);
    char *events = token("globex", "events:write", "");
    as(events, "GET", "/subjects", NULL, &r);
    rit_expect_error(&r, 403, 40301);
    /* the users file is reloaded when it changes */
    as("late:ci-secret", "GET", "/subjects", NULL, &r);
    rit_expect_error(&r, 401, 40101);
    cm_sleep_ms(1100); /* a new modification time even on coarse clocks */
    rit_write_users(USERS "late:" HASH "::schema:read\n");
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
