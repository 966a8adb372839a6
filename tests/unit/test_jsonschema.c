/* Unit tests for common/jsonschema: the official JSON-Schema-Test-Suite for draft-07 (Debian's
 * json-schema-test-suite; every required test, remote references resolved to the suite's
 * remotes and to the meta-schemas known offline; the pass count is printed), error pointers and
 * messages, schemas that must not compile, and schemas checked against their meta-schema. */
#include "cm/err.h"
#include "cm/jsonschema.h"
#include "schema_chain.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#define SUITE "/usr/share/json-schema-test-suite/tests/draft7"

#define REMOTES "/usr/share/json-schema-test-suite/remotes"

/* The documents the suite serves at http://localhost:1234/ (its remotes directory), by URI: a
 * remote reference resolves to them as to documents the registry hands over. */
static void add_remotes(json_t *docs, const char *dir, const char *uri)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char path[512], sub[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snprintf(sub, sizeof(sub), "%s%s", uri, de->d_name);
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
            json_t *doc = json_load_file(path, 0, NULL);
            cr_assert_not_null(doc, "%s", path);
            json_object_set_new(docs, sub, doc);
        } else {
            strcat(sub, "/");
            add_remotes(docs, path, sub);
        }
    }
    closedir(d);
}

Test(jsonschema, draft7_test_suite)
{
    DIR *d = opendir(SUITE);
    cr_assert_not_null(d, "json-schema-test-suite is not installed (make deps)");
    struct dirent *de;
    size_t passed = 0, failed = 0;
    json_t *remotes = json_object();
    add_remotes(remotes, REMOTES, "http://localhost:1234/");
    cr_assert_gt(json_object_size(remotes), 3);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
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
            char err[256];
            struct cm_jsonschema *s = cm_jsonschema_compile(schema, remotes, err, sizeof(err));
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
    json_decref(remotes);
    printf("JSON-Schema-Test-Suite draft7: %zu of %zu required tests passed (remote references "
           "to the suite's remotes and to the meta-schema included)\n",
           passed, passed + failed);
    fflush(stdout);
    cr_assert_eq(failed, 0, "%zu tests failed", failed);
    cr_assert_gt(passed, 420);
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

/* errors of inst (a JSON text) against schema (a JSON text), joined with " | ". */
static char *errors_of(const char *schema_text, const char *inst_text)
{
    json_t *schema = json_loads(schema_text, 0, NULL);
    json_t *inst = json_loads(inst_text, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(inst);
    char err[256];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *errors = json_array();
    cm_jsonschema_validate(s, inst, NULL, errors, 10);
    char out[1024] = "";
    for (size_t i = 0; i < json_array_size(errors); i++) {
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " | " : "",
                 json_string_value(json_array_get(errors, i)));
    }
    json_decref(errors);
    cm_jsonschema_free(s);
    json_decref(schema);
    json_decref(inst);
    return strdup(out);
}

/* A pattern that backtracks without end gives up at the match limit (cm/regex.h), and the value
 * is refused saying so, not passed and not "must match"; a plain pattern on a long string is
 * decided (it outgrew PCRE2's 32 KiB JIT stack at 1,500 characters and was refused as not
 * matching). */
Test(jsonschema, patterns_are_decided_or_refused_within_the_limits)
{
    const char *evil = "{\"type\":\"string\",\"pattern\":\"^(a|a)*$\"}";
    char *e = errors_of(evil, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"");
    cr_assert_str_eq(e, "/: not validated: the string could not be checked against pattern "
                        "'^(a|a)*$' (match limit exceeded)");
    free(e);
    e = errors_of(evil, "\"aaaa\"");
    cr_assert_str_eq(e, "");
    free(e);
    e = errors_of(evil, "\"b\"");
    cr_assert_str_eq(e, "/: must match pattern '^(a|a)*$'");
    free(e);
    /* 200,000 characters of a plain repetition: matched, and one character off: not */
    size_t n = 200000;
    char *text = malloc(n + 3);
    text[0] = '"';
    for (size_t i = 1; i <= n; i++) {
        text[i] = i % 2 ? 'a' : 'b';
    }
    text[n + 1] = '"';
    text[n + 2] = '\0';
    const char *plain = "{\"type\":\"string\",\"pattern\":\"^(a|b)*$\"}";
    e = errors_of(plain, text);
    cr_assert_str_eq(e, "", "a long string is decided");
    free(e);
    text[n / 2] = 'c';
    e = errors_of(plain, text);
    cr_assert_str_eq(e, "/: must match pattern '^(a|b)*$'");
    free(e);
    free(text);
    /* a property name that cannot be decided is refused, not taken for an additional one */
    e = errors_of(
        "{\"type\":\"object\",\"patternProperties\":{\"^(a|a)*$\":{\"type\":\"integer\"}}}",
        "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\":\"not checked\",\"aa\":1}");
    cr_assert_str_eq(e,
                     "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!: not validated: a property name could not "
                     "be checked against pattern '^(a|a)*$' (match limit exceeded)");
    free(e);
    e = errors_of("{\"type\":\"object\",\"properties\":{\"s\":{\"pattern\":\"^(a|a)*$\"}}}",
                  "{\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"}");
    cr_assert_str_eq(e, "/s: not validated: the string could not be checked against pattern "
                        "'^(a|a)*$' (match limit exceeded)");
    free(e);
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

/* The meta-schemas known offline: schemas checked against their dialect's meta-schema (2019-09's
 * recursion through its vocabularies included), and $ref to a meta-schema without a network. */
Test(jsonschema, schemas_are_checked_against_their_meta_schema)
{
    const char *good[] = {
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":0}},"
        "\"required\":[\"a\"]}",
        "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"items\":[{\"enum\":[1]}]}",
        "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$defs\":{\"n\":"
        "{\"type\":\"number\"}},\"properties\":{\"a\":{\"$ref\":\"#/$defs/n\"}}}",
        "true",
    };
    const char *bad[][2] = {
        {"{\"type\":12}", "/type"},
        {"{\"required\":\"a\"}", "/required"},
        {"{\"properties\":{\"a\":{\"minLength\":-1}}}", "/properties/a/minLength"},
        /* under anyOf (items is a schema or an array of them): the pointer stops there */
        {"{\"items\":{\"properties\":{\"b\":{\"type\":\"nope\"}}}}", "/items: must match"},
        /* 2019-09: a keyword of the validation vocabulary, reached from the applicator's
         * properties through $recursiveRef back to the whole meta-schema */
        {"{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"properties\":{\"a\":"
         "{\"maxItems\":-3}}}",
         "/properties/a/maxItems"},
        {"{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$defs\":{\"x\":"
         "{\"minContains\":\"one\"}}}",
         "/$defs/x/minContains"},
        {"{\"$schema\":\"http://example.com/my-dialect\"}", "$schema"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *s = json_loads(good[i], JSON_DECODE_ANY, NULL);
        cr_assert_eq(cm_jsonschema_check(s, err, sizeof(err)), 0, "good %zu: %s", i, err);
        json_decref(s);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *s = json_loads(bad[i][0], JSON_DECODE_ANY, NULL);
        err[0] = '\0';
        cr_assert_eq(cm_jsonschema_check(s, err, sizeof(err)), -1, "bad %zu accepted", i);
        cr_assert(strstr(err, bad[i][1]), "bad %zu: '%s' does not name %s", i, err, bad[i][1]);
        json_decref(s);
    }
    /* a $ref to the meta-schema resolves offline: here, "a schema whose a is a schema" */
    json_t *s = json_loads("{\"properties\":{\"a\":{\"$ref\":\"http://json-schema.org/draft-07/"
                           "schema#\"}}}",
                           0, NULL);
    struct cm_jsonschema *c = cm_jsonschema_compile(s, NULL, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    json_t *ok = json_loads("{\"a\":{\"type\":\"string\"}}", 0, NULL);
    json_t *ko = json_loads("{\"a\":{\"type\":\"strin\"}}", 0, NULL);
    cr_assert(cm_jsonschema_validate(c, ok, NULL, NULL, 0));
    cr_assert_not(cm_jsonschema_validate(c, ko, NULL, NULL, 0));
    json_decref(ok);
    json_decref(ko);
    cm_jsonschema_free(c);
    json_decref(s);
}

/* A schema whose definitions each name the next twice: "anyOf" (d and d again, through `not` of
 * `not`), "allOf" (d twice), or "props" (an object whose property a is d under either of two
 * alternatives, which a nested value walks down). The last is {"type": leaf}. */
static char *shared_chain(int levels, const char *kind, const char *leaf)
{
    json_t *defs = json_object();
    for (int i = 0; i < levels; i++) {
        char next[64], name[16];
        snprintf(next, sizeof(next), "#/definitions/d%d", i + 1);
        snprintf(name, sizeof(name), "d%d", i);
        json_t *d;
        if (strcmp(kind, "anyOf") == 0) {
            d = json_pack("{s:[{s:s}, {s:{s:{s:s}}}]}", "anyOf", "$ref", next, "not", "not", "$ref",
                          next);
        } else if (strcmp(kind, "allOf") == 0) {
            d = json_pack("{s:[{s:s}, {s:s}]}", "allOf", "$ref", next, "$ref", next);
        } else {
            d = json_pack("{s:[{s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}, s:[s]}]}", "anyOf", "type",
                          "object", "properties", "a", "$ref", next, "type", "object", "properties",
                          "a", "$ref", next, "required", "a");
        }
        json_object_set_new(defs, name, d);
    }
    return schema_chain_text(defs, levels, leaf);
}

/* {"a": {"a": ... leaf ...}}, `levels` deep. */
static char *nested(int levels, const char *leaf)
{
    size_t cap = (size_t)levels * 8 + strlen(leaf) + 1;
    char *s = malloc(cap);
    s[0] = '\0';
    for (int i = 0; i < levels; i++) {
        strcat(s, "{\"a\":");
    }
    strcat(s, leaf);
    for (int i = 0; i < levels; i++) {
        strcat(s, "}");
    }
    return s;
}

/* A walk that gets long remembers each (subschema, value) pair's outcome: definitions that name
 * the next twice cost time linear in their number (before, 24 levels took over a minute: an
 * event against such a registered schema held a gateway thread that long). The verdicts and
 * the errors reported are those of the full walk. */
Test(jsonschema, shared_definitions_cost_linear_time, .timeout = 20)
{
    char *s = shared_chain(30, "anyOf", "string");
    char *e = errors_of(s, "\"x\"");
    cr_assert_str_eq(e, "");
    free(e);
    e = errors_of(s, "5");
    cr_assert_str_eq(e, "/: must match at least one schema of anyOf");
    free(e);
    free(s);
    s = shared_chain(60, "allOf", "string");
    /* (at most 4 levels of nesting per definition above, 2 here, 3 below: within the 128 of
     * MAX_DEPTH) */
    e = errors_of(s, "\"x\"");
    cr_assert_str_eq(e, "");
    free(e);
    e = errors_of(s, "5");
    cr_assert(strncmp(e, "/: must be of type string", 25) == 0, "%s", e);
    free(e);
    free(s);
    /* a value walked down 36 levels, under two alternatives at each */
    s = shared_chain(36, "props", "integer");
    char *v = nested(36, "5"), *bad = nested(36, "\"x\"");
    e = errors_of(s, v);
    cr_assert_str_eq(e, "");
    free(e);
    e = errors_of(s, bad);
    cr_assert_str_eq(e, "/: must match at least one schema of anyOf");
    free(e);
    free(v);
    free(bad);
    free(s);
}

/* A walk that goes too deep stops as a whole and the value is invalid: a probe cut short is no
 * answer. Before, a cut under `not` of `not` turned into a pass, and 5 was a valid string. */
Test(jsonschema, a_walk_too_deep_is_refused_as_a_whole)
{
    char *s = shared_chain(60, "anyOf", "string");
    char *e = errors_of(s, "5");
    cr_assert_str_eq(e, "/: not validated: schema recursion too deep");
    free(e);
    e = errors_of(s, "\"x\""); /* (its first alternatives hold: no deeper walk) */
    cr_assert_str_eq(e, "");
    free(e);
    free(s);
}

/* A walk has a budget of 1,000,000 steps: 1,001 values, each against 1,000 alternatives. */
Test(jsonschema, a_walk_past_its_budget_is_refused_saying_so)
{
    json_t *alts = json_array();
    for (int i = 0; i < 1000; i++) {
        json_array_append_new(alts, json_pack("{s:i}", "const", i));
    }
    json_t *schema = json_pack("{s:s, s:{s:o}}", "type", "array", "items", "anyOf", alts);
    json_t *inst = json_array();
    for (int i = 0; i < 1001; i++) {
        json_array_append_new(inst, json_integer(999));
    }
    char err[256];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *errors = json_array();
    cr_assert_eq(cm_jsonschema_validate(s, inst, NULL, errors, 10), 0);
    char *text = json_dumps(errors, JSON_COMPACT);
    cr_assert(strstr(text, "not validated: its schema took more than 1000000 steps"), "%s", text);
    free(text);
    json_decref(errors);
    while (json_array_size(inst) > 998) { /* 998 values fit: 1,001 steps each */
        json_array_remove(inst, json_array_size(inst) - 1);
    }
    cr_assert_eq(cm_jsonschema_validate(s, inst, NULL, NULL, 0), 1);
    cm_jsonschema_free(s);
    json_decref(schema);
    json_decref(inst);
}

/* A budget shared by several values (a request's events): each walk takes the steps it used;
 * one that runs out of it is neither valid nor invalid (CM_E_TOOBIG), and a value past its own
 * 1,000,000 steps is invalid whatever the budget has left. */
Test(jsonschema, values_share_a_budget_of_steps)
{
    json_t *alts = json_array();
    for (int i = 0; i < 1000; i++) {
        json_array_append_new(alts, json_pack("{s:i}", "const", i));
    }
    json_t *schema = json_pack("{s:s, s:{s:o}}", "type", "array", "items", "anyOf", alts);
    char err[256];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *one = json_pack("[i]", 999), *three = json_pack("[i,i,i]", 999, 999, 999);
    size_t budget = 5000;
    /* the array, then per element its items schema and 1,000 alternatives */
    cr_assert_eq(cm_jsonschema_validate_budget(s, one, NULL, NULL, 0, &budget), 1);
    cr_assert_eq(budget, 5000 - 1002, "%zu", budget);
    cr_assert_eq(cm_jsonschema_validate_budget(s, three, NULL, NULL, 0, &budget), 1);
    cr_assert_eq(budget, 5000 - 1002 - 3004, "%zu", budget);
    json_t *errors = json_array();
    cr_assert_eq(cm_jsonschema_validate_budget(s, one, "/data", errors, 10, &budget), CM_E_TOOBIG);
    cr_assert_eq(budget, 0);
    cr_assert_eq(json_array_size(errors), 1);
    char *text = json_dumps(errors, JSON_COMPACT);
    cr_assert(strstr(text, "not validated: the budget of steps shared with other values is spent"),
              "%s", text);
    free(text);
    json_decref(errors);
    cr_assert_eq(cm_jsonschema_validate_budget(s, one, NULL, NULL, 0, &budget), CM_E_TOOBIG);
    /* an invalid value within the budget stays invalid, saying why */
    budget = 5000;
    json_t *bad = json_pack("[i]", 5000);
    errors = json_array();
    cr_assert_eq(cm_jsonschema_validate_budget(s, bad, NULL, errors, 10, &budget), 0);
    cr_assert_gt(json_array_size(errors), 0);
    text = json_dumps(errors, JSON_COMPACT);
    cr_assert_null(strstr(text, "not validated"), "%s", text);
    free(text);
    json_decref(errors);
    /* a value past its own steps is invalid, with a budget to spare */
    json_t *many = json_array();
    for (int i = 0; i < 1001; i++) {
        json_array_append_new(many, json_integer(999));
    }
    budget = 3000000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, many, NULL, NULL, 0, &budget), 0);
    cr_assert_eq(budget, 2000000, "%zu", budget);
    cm_jsonschema_free(s);
    json_decref(schema);
    json_decref(one);
    json_decref(three);
    json_decref(bad);
    json_decref(many);
}

/* A search that gives up undecided stops the walk, and the value is invalid saying so: under
 * `not` or `if` the undecided probe turned into an answer ("aaa…ax" matches "…|x", so it must
 * not pass under `not`; it was valid). */
Test(jsonschema, an_undecided_pattern_stops_the_walk)
{
    static const char *const schemas[] = {
        "{\"not\": {\"pattern\": \"^(a|a)*$|x\"}}",
        "{\"if\": {\"pattern\": \"^(a|a)*$|x\"}, \"then\": false}",
        "{\"type\": \"array\", \"items\": {\"anyOf\": [{\"not\": {\"not\": {\"pattern\": "
        "\"^(a|a)*$|x\"}}}, {\"type\": \"number\"}]}}",
        "{\"propertyNames\": {\"not\": {\"pattern\": \"^(a|a)*$|x\"}}}",
        "{\"patternProperties\": {\"^(a|a)*$|x\": false}, \"minProperties\": 5}",
    };
    char a30x[32];
    memset(a30x, 'a', 30);
    memcpy(a30x + 30, "x", 2);
    json_t *insts[] = {json_string(a30x), json_string(a30x), json_pack("[i,s]", 1, a30x),
                       json_pack("{s:i}", a30x, 1), json_pack("{s:i}", a30x, 1)};
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        char err[256];
        json_t *schema = json_loads(schemas[i], 0, NULL);
        struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
        cr_assert_not_null(s, "%s: %s", schemas[i], err);
        json_t *errors = json_array();
        cr_assert_eq(cm_jsonschema_validate(s, insts[i], "/data", errors, 10), 0, "%s", schemas[i]);
        cr_assert_eq(json_array_size(errors), 1, "%s", schemas[i]);
        const char *e = json_string_value(json_array_get(errors, 0));
        cr_assert(strstr(e, "could not be checked against pattern '^(a|a)*$|x' (match limit "
                            "exceeded)") &&
                      strncmp(e, "/data", 5) == 0 && strstr(e, ": not validated: "),
                  "%s: %s", schemas[i], e);
        json_decref(errors);
        cm_jsonschema_free(s);
        json_decref(schema);
        json_decref(insts[i]);
    }
}

/* A search that backtracks at length is paid from the walk's steps (50 backtracks a step, a
 * search's first 64 + 4 per byte free, then runs of 4 times as many each): 2,000 strings that each
 * take 524,287 backtracks to refuse were a second's work and valid; the walk now stops once its
 * million steps are spent. A pattern that decides at once costs a step and its scan. */
Test(jsonschema, costly_patterns_are_paid_from_the_walks_steps)
{
    json_t *costly = json_pack("{s:s, s:{s:{s:s}, s:b}}", "type", "array", "items", "if", "pattern",
                               "^(a|a)*$", "then", 1);
    json_t *cheap = json_pack("{s:s, s:{s:{s:s}, s:b}}", "type", "array", "items", "if", "pattern",
                              "^[a-z]+!$", "then", 1);
    json_t *inst = json_array();
    for (int i = 0; i < 2000; i++) {
        json_array_append_new(inst, json_string("aaaaaaaaaaaaaaaaaa!")); /* 18 a's */
    }
    char err[256];
    struct cm_jsonschema *s = cm_jsonschema_compile(costly, NULL, err, sizeof(err));
    struct cm_jsonschema *t = cm_jsonschema_compile(cheap, NULL, err, sizeof(err));
    cr_assert(s && t, "%s", err);
    json_t *errors = json_array();
    size_t budget = 3000000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, inst, NULL, errors, 10, &budget), 0);
    cr_assert_eq(budget, 2000000, "%zu", budget);
    char *text = json_dumps(errors, JSON_COMPACT);
    cr_assert(strstr(text, "not validated: its schema took more than 1000000 steps"), "%s", text);
    free(text);
    json_decref(errors);
    /* one string's search decided within the steps: runs of 560, 2,240, 8,960, 35,840, 143,360
     * and 573,440 backtracks after its 140 free ones, 15,291 steps; the next one's cut short by
     * the budget */
    json_t *two = json_pack("[s,s]", "aaaaaaaaaaaaaaaaaa!", "aaaaaaaaaaaaaaaaaa!");
    budget = 25000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, two, NULL, NULL, 0, &budget), CM_E_TOOBIG);
    cr_assert_eq(budget, 0);
    budget = 25000;
    json_array_remove(two, 1);
    cr_assert_eq(cm_jsonschema_validate_budget(s, two, NULL, NULL, 0, &budget), 1);
    size_t used = 25000 - budget; /* the array, the string, its if and then, the search's scan */
    cr_assert(used >= 15291 + 4 && used <= 15291 + 8, "%zu", used);
    budget = 3000000; /* the array, then each string, its if, then and search (2 for 19 bytes) */
    cr_assert_eq(cm_jsonschema_validate_budget(t, inst, NULL, NULL, 0, &budget), 1);
    cr_assert_eq(budget, 3000000 - 1 - 2000 * 5, "%zu", budget);
    cm_jsonschema_free(s);
    cm_jsonschema_free(t);
    json_decref(costly);
    json_decref(cheap);
    json_decref(inst);
    json_decref(two);
}

/* A search is charged what it needs within a factor, not the walk's budget: 200 strings that each
 * take 26,243 backtracks to decide (a quadratic pattern on 160 characters; 708 free) cost about
 * 1,200 steps each. Each had been charged 20,000 (a run at the match limit), so the 51st was
 * refused as too costly though every one would have been decided. */
Test(jsonschema, a_search_is_charged_about_what_it_needs)
{
    json_t *sch =
        json_pack("{s:s, s:{s:{s:s}}}", "type", "array", "items", "not", "pattern", "^a*a*a*$");
    char err[256], text[162];
    struct cm_jsonschema *s = cm_jsonschema_compile(sch, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    memset(text, 'a', 160);
    strcpy(text + 160, "x");
    json_t *inst = json_array();
    for (int i = 0; i < 200; i++) {
        json_array_append_new(inst, json_string(text));
    }
    json_t *errors = json_array();
    size_t budget = 1000000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, inst, NULL, errors, 10, &budget), 1);
    cr_assert_eq(json_array_size(errors), 0);
    size_t used = 1000000 - budget; /* runs of 57 + 227 + 907 steps, the scan, the string, not */
    cr_assert(used >= 200 * 1191 && used <= 200 * 1220, "%zu steps", used); /* 242,801 */
    /* the same strings ending in 'a' match: each is refused by the not */
    text[160] = 'a';
    json_array_set_new(inst, 7, json_string(text));
    cr_assert_eq(cm_jsonschema_validate(s, inst, NULL, errors, 10), 0);
    cr_assert_str_eq(json_string_value(json_array_get(errors, 0)),
                     "/7: must not match the schema in not");
    cm_jsonschema_free(s);
    json_decref(sch);
    json_decref(inst);
    json_decref(errors);
}

static json_t *range_array(json_int_t n)
{
    json_t *a = json_array();
    for (json_int_t i = 0; i < n; i++) {
        json_array_append_new(a, json_integer(i));
    }
    return a;
}

/* uniqueItems and a long enum compare values by hash (jsonschema_values.c), not every pair: 20,000
 * items took 2.3 s and a 1 MiB array minutes; equality stays JSON Schema's (1 equals 1.0, members
 * in any order, integers past 2^53 compared exactly), and the work is paid from the walk's steps
 * (4 values hashed or compared a step). */
Test(jsonschema, unique_items_and_long_enums_cost_linear_time)
{
    char err[256];
    json_t *uniq = json_pack("{s:b}", "uniqueItems", 1);
    struct cm_jsonschema *s = cm_jsonschema_compile(uniq, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *big = range_array(200000);
    size_t budget = 10000000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, big, NULL, NULL, 0, &budget), 1);
    size_t used = 10000000 - budget; /* 200,000 hashed, none compared */
    cr_assert(used >= 50000 && used <= 50001, "%zu steps", used);
    json_array_append_new(big, json_integer(5));
    json_t *errors = json_array();
    cr_assert_eq(cm_jsonschema_validate(s, big, NULL, errors, 10), 0);
    cr_assert_str_eq(json_string_value(json_array_get(errors, 0)),
                     "/: items 5 and 200000 are equal; items must be unique");
    json_decref(errors);
    static const struct {
        const char *items;
        int valid;
    } cases[] = {
        {"[1, 2, 1.0]", 0},
        {"[{\"a\": 1, \"b\": [1, {\"c\": 2}]}, {\"b\": [1.0, {\"c\": 2}], \"a\": 1}]", 0},
        {"[{\"a\": 1, \"b\": 2}, {\"a\": 2, \"b\": 1}]", 1},
        {"[0, -0.0]", 0},
        {"[9007199254740992, 9007199254740993]", 1},
        {"[9007199254740993, 9007199254740992.0]", 0},
        {"[\"a\", [\"a\"], {\"a\": null}, null, false, 0, \"\"]", 1},
        {"[[1, 2], [2, 1]]", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *inst = json_loads(cases[i].items, 0, NULL);
        cr_assert_not_null(inst, "%s", cases[i].items);
        cr_assert_eq(cm_jsonschema_validate(s, inst, NULL, NULL, 0), cases[i].valid, "%s",
                     cases[i].items);
        json_decref(inst);
    }
    cm_jsonschema_free(s);
    /* an enum of 20,000 values checked for each of 50,000 items */
    json_t *values = json_array();
    for (int i = 0; i < 20000; i++) {
        json_array_append_new(values, json_pack("{s:i}", "id", i));
    }
    json_array_append_new(values, json_real(1.5));
    json_t *en = json_pack("{s:{s:o}}", "items", "enum", values);
    s = cm_jsonschema_compile(en, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *inst = json_array();
    for (int i = 0; i < 50000; i++) {
        json_array_append_new(inst, json_pack("{s:f}", "id", (double)(i * 7919 % 20000)));
    }
    budget = 10000000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, inst, NULL, NULL, 0, &budget), 1);
    used = 10000000 - budget; /* each item: its step, 2 nodes hashed and 2 compared */
    cr_assert(used >= 50001 && used <= 100001, "%zu steps", used);
    json_array_append_new(inst, json_pack("{s:i}", "id", 20000));
    json_array_append_new(inst, json_integer(1));
    json_array_append_new(inst, json_real(1.5));
    errors = json_array();
    cr_assert_eq(cm_jsonschema_validate(s, inst, NULL, errors, 10), 0);
    char *text = json_dumps(errors, JSON_COMPACT);
    cr_assert_str_eq(text,
                     "[\"/50000: must be one of the enumerated values\",\"/50001: must be one "
                     "of the enumerated values\"]");
    free(text);
    json_decref(errors);
    cm_jsonschema_free(s);
    json_decref(en);
    json_decref(inst);
    json_decref(uniq);
    json_decref(big);
}

/* An object's members and a schema's required names are paid as values compared: a schema that
 * only counts members still walks them (and under many alternatives, once per alternative). */
Test(jsonschema, an_objects_members_are_paid_for)
{
    json_t *inst = json_object();
    char name[16];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        json_object_set_new(inst, name, json_integer(i));
    }
    json_t *schema =
        json_pack("{s:i, s:[s,s,s,s]}", "minProperties", 1, "required", "m1", "m2", "m3", "m4");
    char err[256];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    size_t budget = 1000000;
    cr_assert_eq(cm_jsonschema_validate_budget(s, inst, NULL, NULL, 0, &budget), 1);
    cr_assert_eq(1000000 - budget, 1 + 100004 / 4, "%zu", 1000000 - budget);
    cm_jsonschema_free(s);
    json_decref(schema);
    json_decref(inst);
}
