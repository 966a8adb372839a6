/* Unit tests for common/jsonschema: the official JSON-Schema-Test-Suite for draft-07 (Debian's
 * json-schema-test-suite; every required test except those needing remote references; the pass
 * count is printed), plus error pointers and messages, and schemas that must not compile. */
#include "cm/jsonschema.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#define SUITE "/usr/share/json-schema-test-suite/tests/draft7"

/* A schema that references anything outside itself, which the suite serves from a web server. */
static int needs_remote(const json_t *schema)
{
    char *text = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    int remote = text && (strstr(text, "\"$ref\":\"http://localhost:1234") ||
                          strstr(text, "\"$ref\":\"http://json-schema.org/"));
    free(text);
    return remote;
}

Test(jsonschema, draft7_test_suite)
{
    DIR *d = opendir(SUITE);
    cr_assert_not_null(d, "json-schema-test-suite is not installed (make deps)");
    struct dirent *de;
    size_t passed = 0, failed = 0, skipped = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
        int remote_file = strcmp(de->d_name, "refRemote.json") == 0;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", SUITE, de->d_name);
        json_error_t jerr;
        json_t *groups = json_load_file(path, 0, &jerr);
        cr_assert_not_null(groups, "%s: %s", path, jerr.text);
        size_t gi;
        json_t *group;
        json_array_foreach(groups, gi, group)
        {
            json_t *schema = json_object_get(group, "schema");
            json_t *tests = json_object_get(group, "tests");
            if (remote_file || needs_remote(schema)) {
                skipped += json_array_size(tests);
                continue;
            }
            char err[256];
            struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
            size_t ti;
            json_t *t;
            json_array_foreach(tests, ti, t)
            {
                int want = json_is_true(json_object_get(t, "valid"));
                int got =
                    s ? cm_jsonschema_validate(s, json_object_get(t, "data"), NULL, NULL, 0) : -1;
                if (got == want) {
                    passed++;
                } else {
                    failed++;
                    cr_log_error("%s: %s / %s: expected %s, got %s%s%s", de->d_name,
                                 json_string_value(json_object_get(group, "description")),
                                 json_string_value(json_object_get(t, "description")),
                                 want ? "valid" : "invalid",
                                 got < 0 ? "compile error: "
                                 : got   ? "valid"
                                         : "invalid",
                                 got < 0 ? err : "", "");
                }
            }
            cm_jsonschema_free(s);
        }
        json_decref(groups);
    }
    closedir(d);
    printf("JSON-Schema-Test-Suite draft7: %zu of %zu required tests passed (%zu skipped: remote "
           "references)\n",
           passed, passed + failed, skipped);
    fflush(stdout);
    cr_assert_eq(failed, 0, "%zu tests failed", failed);
    cr_assert_gt(passed, 350);
}

Test(jsonschema, errors_carry_pointers)
{
    json_t *schema = json_loads(
        "{\"type\":\"object\",\"required\":[\"id\"],\"properties\":{\"items\":{\"type\":\"array\","
        "\"items\":{\"type\":\"object\",\"properties\":{\"price\":{\"type\":\"number\","
        "\"minimum\":0},\"a/b\":{\"type\":\"string\"}}}}},\"additionalProperties\":false}",
        0, NULL);
    json_t *inst =
        json_loads("{\"items\":[{\"price\":5},{\"price\":-1,\"a/b\":3}],\"extra\":true}", 0, NULL);
    char err[128];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *errors = json_array();
    cr_assert_eq(cm_jsonschema_validate(s, inst, "/data", errors, 10), 0);
    char *text = json_dumps(errors, JSON_COMPACT);
    cr_assert(strstr(text, "\"/data: 'id' is required\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"/data/items/1/price: must be >= 0\"") != NULL, "%s", text);
    cr_assert(strstr(text, "\"/data/items/1/a~1b: must be of type string\"") != NULL, "%s", text);
    cr_assert(strstr(text, "additional property 'extra' is not allowed") != NULL, "%s", text);
    free(text);
    json_decref(errors);
    errors = json_array();
    cm_jsonschema_validate(s, inst, NULL, errors, 1);
    cr_assert_eq(json_array_size(errors), 1, "max_errors is honoured");
    json_decref(errors);
    cm_jsonschema_free(s);
    json_decref(schema);
    json_decref(inst);
}

Test(jsonschema, compile_errors)
{
    const char *bad[] = {"[]", "5", "{\"pattern\":\"(\"}", "{\"$ref\":\"#/definitions/missing\"}",
                         "{\"patternProperties\":{\"[\":{}}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *schema = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        char err[256] = "";
        struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
        cr_assert_null(s, "compiled %s", bad[i]);
        cr_assert_gt(strlen(err), 0);
        json_decref(schema);
    }
}

Test(jsonschema, referenced_documents)
{
    json_t *docs = json_loads("{\"http://example.com/money.json\":{\"type\":\"number\","
                              "\"minimum\":0}}",
                              0, NULL);
    json_t *schema = json_loads("{\"properties\":{\"amount\":{\"$ref\":"
                                "\"http://example.com/money.json\"}}}",
                                0, NULL);
    char err[128];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, docs, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *ok = json_loads("{\"amount\":3}", 0, NULL);
    json_t *bad = json_loads("{\"amount\":-3}", 0, NULL);
    cr_assert(cm_jsonschema_validate(s, ok, NULL, NULL, 0));
    cr_assert_not(cm_jsonschema_validate(s, bad, NULL, NULL, 0));
    json_decref(ok);
    json_decref(bad);
    cm_jsonschema_free(s);
    json_decref(schema);
    json_decref(docs);
}
