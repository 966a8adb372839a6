/* Integration tests of the schema registry's API: real registry processes (the sanitizer build)
 * over the harness's PostgreSQL, each test in a database of its own (registry_fixture.c). Every
 * endpoint and error code of the Confluent API the registry serves, compatibility, deletes and
 * references, and modes. Concurrency, restarts, timeouts and access control:
 * test_registry_ops.c. */
#include "registry_fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(registry, .init = rit_setup, .fini = rit_teardown, .timeout = 120);

Test(registry, register_read_and_lookup)
{
    struct rit_resp r;
    int id1 = rit_register(0, "users-value", AVRO_V1, NULL, &r);
    cr_assert_gt(id1, 0, "%s", r.body);
    cr_assert_str_eq(r.body, "{\"id\":1}", "exactly {\"id\": N}");
    /* re-registering, even formatted differently, returns the same id and no new version */
    cr_assert_eq(rit_register(0, "users-value",
                              "{ \"name\":\"User\", \"type\":\"record\", \"fields\":[{\"type\":"
                              "{\"type\":\"long\"},\"name\":\"id\"}]}",
                              NULL, &r),
                 id1);
    int id2 = rit_register(0, "users-value", AVRO_V2, NULL, &r);
    cr_assert_gt(id2, id1);
    /* the same schema under another subject keeps its global id */
    cr_assert_eq(rit_register(0, "other-value", AVRO_V1, NULL, &r), id1);

    rit_call(0, "GET", "/subjects", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"other-value\",\"users-value\"]");
    rit_call(0, "GET", "/subjects?subjectPrefix=users", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"users-value\"]");
    rit_call(0, "GET", "/subjects/users-value/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
    static const char *vkeys[] = {"subject", "version", "id", "schema"};
    const char *paths[] = {"/subjects/users-value/versions/2",
                           "/subjects/users-value/versions/latest",
                           "/subjects/users-value/versions/-1"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(rit_call(0, "GET", paths[i], NULL, NULL, &r), 200, "%s", r.body);
        json_t *v = rit_js(&r);
        cr_assert(rit_keys_are(v, vkeys, 4), "%s: %s", paths[i], r.body);
        cr_assert_eq(json_integer_value(json_object_get(v, "version")), 2);
        cr_assert_eq(json_integer_value(json_object_get(v, "id")), id2);
        json_decref(v);
    }
    rit_call(0, "GET", "/subjects/users-value/versions/1/schema", NULL, NULL, &r);
    json_t *raw = rit_js(&r);
    cr_assert_str_eq(json_string_value(json_object_get(raw, "name")), "User");
    json_decref(raw);
    rit_call(0, "GET", "/schemas/ids/1", NULL, NULL, &r);
    json_t *v = rit_js(&r);
    static const char *skeys[] = {"schema"};
    cr_assert(rit_keys_are(v, skeys, 1), "%s", r.body);
    json_decref(v);
    rit_call(0, "GET", "/schemas/ids/1/schema", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"User\"") != NULL);
    rit_call(0, "GET", "/schemas/ids/1/subjects", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"other-value\",\"users-value\"]");
    rit_call(0, "GET", "/schemas/ids/1/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[{\"subject\":\"other-value\",\"version\":1},{\"subject\":"
                             "\"users-value\",\"version\":1}]");
    rit_call(0, "GET", "/schemas/types", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[\"JSON\",\"AVRO\"]");
    /* lookup */
    char *body = rit_schema_body(AVRO_V1, NULL);
    rit_call(0, "POST", "/subjects/users-value", body, NULL, &r);
    free(body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    v = rit_js(&r);
    cr_assert(rit_keys_are(v, vkeys, 4), "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(v, "version")), 1);
    json_decref(v);
    /* JSON Schema answers carry schemaType */
    int jid =
        rit_register(0, "orders-value", "{\"type\":\"object\"}", "{\"schemaType\":\"JSON\"}", &r);
    cr_assert_gt(jid, 0, "%s", r.body);
    rit_call(0, "GET", "/subjects/orders-value/versions/1", NULL, NULL, &r);
    v = rit_js(&r);
    cr_assert_str_eq(json_string_value(json_object_get(v, "schemaType")), "JSON");
    json_decref(v);
    /* reals come back as registered (0.1, not jansson's 0.10000000000000001) */
    int rid = rit_register(0, "readings-value",
                           "{\"type\":\"number\",\"multipleOf\":0.1,\"maximum\":1e-7}",
                           "{\"schemaType\":\"JSON\"}", &r);
    cr_assert_gt(rid, 0, "%s", r.body);
    rit_call(0, "GET", "/subjects/readings-value/versions/1/schema", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"type\":\"number\",\"multipleOf\":0.1,\"maximum\":1e-7}");
}

Test(registry, error_codes)
{
    struct rit_resp r;
    rit_register(0, "s", AVRO_V1, NULL, &r);
    rit_call(0, "GET", "/subjects/nope/versions", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40401);
    rit_call(0, "GET", "/subjects/s/versions/9", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40402);
    rit_call(0, "GET", "/schemas/ids/999", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40403);
    rit_call(0, "GET", "/schemas/ids/abc", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40403);
    char *body = rit_schema_body("\"string\"", NULL);
    rit_call(0, "POST", "/subjects/s", body, NULL, &r);
    rit_expect_error(&r, 404, 40403);
    rit_call(0, "POST", "/subjects/nope", body, NULL, &r);
    rit_expect_error(&r, 404, 40401);
    free(body);
    const char *versions[] = {"abc", "0", "-2", "2147483648", "01"};
    for (size_t i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/subjects/s/versions/%s", versions[i]);
        rit_call(0, "GET", path, NULL, NULL, &r);
        rit_expect_error(&r, 422, 42202);
    }
    cr_assert_eq(rit_register(0, "s", "{\"type\":\"recrod\"}", NULL, &r), -1);
    rit_expect_error(&r, 422, 42201);
    /* a record holding itself with no union between has no finite value: refused (a gateway
     * encoding an event with it recursed until its stack ran out) */
    cr_assert_eq(rit_register(0, "s",
                              "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":"
                              "\"next\",\"type\":\"N\"}]}",
                              NULL, &r),
                 -1);
    rit_expect_error(&r, 422, 42201);
    cr_assert(strstr(r.body, "no value of it is finite") != NULL, "%s", r.body);
    cr_assert_eq(rit_register(0, "s", "not json", NULL, &r), -1);
    rit_expect_error(&r, 422, 42201);
    cr_assert_eq(rit_register(0, "s", "syntax = \"proto3\";", "{\"schemaType\":\"PROTOBUF\"}", &r),
                 -1);
    rit_expect_error(&r, 422, 42201);
    cr_assert(strstr(r.body, "PROTOBUF") != NULL);
    /* a JSON schema must be valid against its meta-schema (draft-07 here, 2019-09 too), known
     * offline, and may $ref it */
    cr_assert_eq(rit_register(0, "j", "{\"properties\":{\"n\":{\"minimum\":\"zero\"}}}",
                              "{\"schemaType\":\"JSON\"}", &r),
                 -1);
    rit_expect_error(&r, 422, 42201);
    cr_assert(strstr(r.body, "/properties/n/minimum") != NULL, "%s", r.body);
    cr_assert_eq(rit_register(0, "j",
                              "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\","
                              "\"properties\":{\"n\":{\"maxLength\":-1}}}",
                              "{\"schemaType\":\"JSON\"}", &r),
                 -1);
    rit_expect_error(&r, 422, 42201);
    cr_assert_gt(rit_register(0, "j",
                              "{\"properties\":{\"rule\":{\"$ref\":"
                              "\"http://json-schema.org/draft-07/schema#\"}}}",
                              "{\"schemaType\":\"JSON\"}", &r),
                 0, "%s", r.body);
    rit_call(0, "POST", "/subjects/s/versions", "{\"schema\":", NULL, &r);
    rit_expect_error(&r, 400, 400);
    rit_call(0, "POST", "/subjects/s/versions", "{\"schema\":\"\\\"int\\\"\"}",
             "Content-Type: text/plain", &r);
    rit_expect_error(&r, 415, 415);
    /* unknown request fields are ignored */
    rit_register(0, "s", AVRO_V1, "{\"extra\":1,\"metadata\":{}}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
}

Test(registry, compatibility_and_config)
{
    struct rit_resp r;
    rit_register(0, "c", AVRO_V1, NULL, &r);
    rit_call(0, "GET", "/config", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"BACKWARD\"}");
    cr_assert_eq(rit_register(0, "c", AVRO_BAD, NULL, &r), -1);
    rit_expect_error(&r, 409, 409);
    cr_assert(strstr(r.body, "READER_FIELD_MISSING_DEFAULT_VALUE") != NULL, "%s", r.body);
    char *body = rit_schema_body(AVRO_BAD, NULL);
    rit_call(0, "POST", "/compatibility/subjects/c/versions/latest?verbose=true", body, NULL, &r);
    json_t *v = rit_js(&r);
    cr_assert(json_is_false(json_object_get(v, "is_compatible")), "%s", r.body);
    cr_assert_gt(json_array_size(json_object_get(v, "messages")), 0);
    json_decref(v);
    rit_call(0, "POST", "/compatibility/subjects/c/versions", body, NULL, &r);
    cr_assert_str_eq(r.body, "{\"is_compatible\":false}");
    rit_call(0, "POST", "/compatibility/subjects/c/versions/7", body, NULL, &r);
    rit_expect_error(&r, 404, 40402);
    rit_call(0, "POST", "/compatibility/subjects/none/versions/latest", body, NULL, &r);
    rit_expect_error(&r, 404, 40401);
    rit_call(0, "GET", "/config/c", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40408);
    rit_call(0, "GET", "/config/c?defaultToGlobal=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"BACKWARD\"}");
    rit_call(0, "PUT", "/config/c", "{\"compatibility\":\"NONE\"}", NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibility\":\"NONE\"}");
    rit_call(0, "PUT", "/config/c", "{\"compatibility\":\"SIDEWAYS\"}", NULL, &r);
    rit_expect_error(&r, 422, 42203);
    cr_assert_gt(rit_register(0, "c", AVRO_BAD, NULL, &r), 0, "NONE accepts it: %s", r.body);
    rit_call(0, "DELETE", "/config/c", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"NONE\"}");
    rit_call(0, "PUT", "/config", "{\"compatibility\":\"full_transitive\"}", NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibility\":\"FULL_TRANSITIVE\"}");
    rit_call(0, "GET", "/config", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"FULL_TRANSITIVE\"}");
    rit_call(0, "DELETE", "/config", NULL, NULL, &r);
    rit_call(0, "GET", "/config", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"compatibilityLevel\":\"BACKWARD\"}");
    free(body);
}

Test(registry, deletes_and_references)
{
    struct rit_resp r;
    int a = rit_register(0, "addr",
                         "{\"type\":\"record\",\"name\":\"Address\",\"namespace\":"
                         "\"x\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}",
                         NULL, &r);
    cr_assert_gt(a, 0, "%s", r.body);
    int b = rit_register(
        0, "person",
        "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"x\",\"fields\":[{\"name\":"
        "\"home\",\"type\":\"Address\"}]}",
        "{\"references\":[{\"name\":\"x.Address\",\"subject\":\"addr\",\"version\":1}]}", &r);
    cr_assert_gt(b, 0, "a schema using a referenced named type registers: %s", r.body);
    rit_call(0, "GET", "/subjects/person/versions/1", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"references\":[{") != NULL, "%s", r.body);
    rit_call(0, "GET", "/subjects/addr/versions/1/referencedby", NULL, NULL, &r);
    char want[32];
    snprintf(want, sizeof(want), "[%d]", b);
    cr_assert_str_eq(r.body, want);
    rit_call(0, "DELETE", "/subjects/addr", NULL, NULL, &r);
    rit_expect_error(&r, 422, 42206);
    rit_call(0, "DELETE", "/subjects/addr/versions/1", NULL, NULL, &r);
    rit_expect_error(&r, 422, 42206);
    /* JSON Schema references: the reference's name is what $ref points at */
    int cust = rit_register(0, "customer",
                            "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":"
                            "\"string\"}},\"required\":[\"name\"]}",
                            "{\"schemaType\":\"JSON\"}", &r);
    cr_assert_gt(cust, 0, "%s", r.body);
    const char *jref = "{\"schemaType\":\"JSON\",\"references\":[{\"name\":\"customer.json\","
                       "\"subject\":\"customer\",\"version\":1}]}";
    int order = rit_register(0, "order",
                             "{\"type\":\"object\",\"properties\":{\"buyer\":{\"$ref\":"
                             "\"customer.json\"}}}",
                             jref, &r);
    cr_assert_gt(order, 0, "a JSON schema with a registered reference: %s", r.body);
    cr_assert_eq(rit_register(0, "order2",
                              "{\"properties\":{\"buyer\":{\"$ref\":\"nobody.json\"}}}", jref, &r),
                 -1, "a $ref that resolves nowhere");
    rit_expect_error(&r, 422, 42201);
    /* compatibility follows the $ref into the referenced document */
    char *narrower = rit_schema_body("{\"type\":\"object\",\"properties\":{\"buyer\":{\"$ref\":"
                                     "\"customer.json\"}},\"additionalProperties\":false}",
                                     jref);
    rit_call(0, "POST", "/compatibility/subjects/order/versions/latest?verbose=true", narrower,
             NULL, &r);
    cr_assert(strstr(r.body, "\"is_compatible\":false") != NULL, "%s", r.body);
    free(narrower);

    /* a reference to nothing is an invalid schema */
    cr_assert_eq(rit_register(0, "bad", "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}",
                              "{\"references\":[{\"name\":\"n\",\"subject\":\"ghost\","
                              "\"version\":1}]}",
                              &r),
                 -1);
    rit_expect_error(&r, 422, 42201);

    /* version deletes (a cached lookup must not outlive the delete) */
    rit_register(0, "d", AVRO_V1, NULL, &r);
    rit_register(0, "d", AVRO_V2, NULL, &r);
    char *lookup = rit_schema_body(AVRO_V1, NULL);
    cr_assert_eq(rit_call(0, "POST", "/subjects/d", lookup, NULL, &r), 200, "%s", r.body);
    cr_assert_eq(rit_call(0, "POST", "/subjects/d", lookup, NULL, &r), 200, "cached: %s", r.body);
    rit_call(0, "DELETE", "/subjects/d/versions/1?permanent=true", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40407);
    rit_call(0, "DELETE", "/subjects/d/versions/1", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "1");
    rit_call(0, "DELETE", "/subjects/d/versions/1", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40406);
    rit_call(0, "POST", "/subjects/d", lookup, NULL, &r);
    rit_expect_error(&r, 404, 40403);
    free(lookup);
    rit_call(0, "GET", "/subjects/d/versions", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[2]");
    rit_call(0, "GET", "/subjects/d/versions?deleted=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[1,2]");
    rit_call(0, "GET", "/subjects/d/versions/1", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40402);
    rit_call(0, "GET", "/subjects/d/versions/1?deleted=true", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    rit_call(0, "DELETE", "/subjects/d/versions/1?permanent=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "1");
    /* subject deletes */
    rit_call(0, "DELETE", "/subjects/d?permanent=true", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40405);
    rit_call(0, "DELETE", "/subjects/d", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[2]");
    rit_call(0, "DELETE", "/subjects/d", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40404);
    rit_call(0, "GET", "/subjects", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"d\"") == NULL, "%s", r.body);
    rit_call(0, "GET", "/subjects?deleted=true", NULL, NULL, &r);
    cr_assert(strstr(r.body, "\"d\"") != NULL, "%s", r.body);
    rit_call(0, "DELETE", "/subjects/d?permanent=true", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "[2]");
    rit_call(0, "DELETE", "/subjects/d", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40401);
}

Test(registry, modes)
{
    struct rit_resp r;
    rit_call(0, "GET", "/mode", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"mode\":\"READWRITE\"}");
    rit_call(0, "PUT", "/mode", "{\"mode\":\"SLEEPY\"}", NULL, &r);
    rit_expect_error(&r, 422, 42204);
    rit_call(0, "PUT", "/mode/ro", "{\"mode\":\"READONLY\"}", NULL, &r);
    cr_assert_str_eq(r.body, "{\"mode\":\"READONLY\"}");
    cr_assert_eq(rit_register(0, "ro", AVRO_V1, NULL, &r), -1);
    rit_expect_error(&r, 422, 42205);
    cr_assert_gt(rit_register(0, "rw", AVRO_V1, NULL, &r), 0, "other subjects still write");
    rit_call(0, "GET", "/mode/rw", NULL, NULL, &r);
    rit_expect_error(&r, 404, 40409);
    rit_call(0, "DELETE", "/mode/ro", NULL, NULL, &r);
    cr_assert_str_eq(r.body, "{\"mode\":\"READONLY\"}");
    cr_assert_gt(rit_register(0, "ro", AVRO_V1, NULL, &r), 0, "%s", r.body);
    /* IMPORT keeps ids, only for empty subjects unless forced */
    rit_call(0, "PUT", "/mode/ro", "{\"mode\":\"IMPORT\"}", NULL, &r);
    rit_expect_error(&r, 422, 42205);
    rit_call(0, "PUT", "/mode/imp", "{\"mode\":\"IMPORT\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(rit_register(0, "imp", AVRO_BAD, "{\"id\":500,\"version\":7}", &r), 500, "%s",
                 r.body);
    rit_call(0, "GET", "/subjects/imp/versions/7", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(rit_register(0, "rw", AVRO_V2, "{\"id\":501}", &r), -1, "ids only in IMPORT mode");
    rit_expect_error(&r, 422, 42205);
    cr_assert_eq(rit_register(0, "imp", AVRO_V2, "{\"id\":500}", &r), -1);
    rit_expect_error(&r, 422, 42207);
    cr_assert_gt(rit_register(0, "rw", AVRO_V2, NULL, &r), 500, "the sequence moved past 500");
}
