/* Unit tests for the registry's schema handling (services/registry/reg_schema.c, reg_avro.c,
 * reg_json.c): a compatibility table per level for Avro and JSON Schema (open, closed and
 * partially open content models included), validation of bad schemas, deduplication hashes and
 * the Parsing Canonical Form; long enums, records and lists checked in linear time. */
#include "../../services/registry/reg_avro.h"
#include "../../services/registry/reg_schema.h"
#include "schema_chain.h"

#include <criterion/criterion.h>
#include <string.h>

#define REC(fields)                                                                                \
    "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.x\",\"fields\":[" fields "]}"
#define F_ID "{\"name\":\"id\",\"type\":\"long\"}"
#define F_NAME "{\"name\":\"name\",\"type\":\"string\"}"
#define F_NAME_DEF "{\"name\":\"name\",\"type\":\"string\",\"default\":\"\"}"
#define F_AGE_INT "{\"name\":\"age\",\"type\":\"int\"}"
#define F_AGE_LONG "{\"name\":\"age\",\"type\":\"long\"}"
#define F_OPT "{\"name\":\"nick\",\"type\":[\"null\",\"string\"],\"default\":null}"

struct ccase {
    enum reg_type type;
    const char *level;
    const char *existing[3]; /* newest first */
    const char *candidate;
    int compatible;
    const char *why; /* a substring of the messages when incompatible */
};

static const struct ccase cases[] = {
    /* Avro */
    {REG_AVRO, "BACKWARD", {REC(F_ID)}, REC(F_ID "," F_NAME_DEF), 1, NULL},
    {REG_AVRO, "BACKWARD", {REC(F_ID)}, REC(F_ID "," F_NAME), 0, "READER_FIELD_MISSING_DEFAULT"},
    {REG_AVRO, "BACKWARD", {REC(F_ID "," F_NAME)}, REC(F_ID), 1, NULL},
    {REG_AVRO, "FORWARD", {REC(F_ID "," F_NAME)}, REC(F_ID), 0, "READER_FIELD_MISSING_DEFAULT"},
    {REG_AVRO, "FORWARD", {REC(F_ID "," F_NAME_DEF)}, REC(F_ID), 1, NULL},
    {REG_AVRO, "FORWARD", {REC(F_ID)}, REC(F_ID "," F_NAME), 1, NULL},
    {REG_AVRO, "FULL", {REC(F_ID)}, REC(F_ID "," F_OPT), 1, NULL},
    {REG_AVRO, "FULL", {REC(F_ID)}, REC(F_ID "," F_NAME), 0, "READER_FIELD_MISSING_DEFAULT"},
    {REG_AVRO, "BACKWARD", {REC(F_AGE_INT)}, REC(F_AGE_LONG), 1, NULL}, /* int promotes to long */
    {REG_AVRO, "BACKWARD", {REC(F_AGE_LONG)}, REC(F_AGE_INT), 0, "TYPE_MISMATCH"},
    /* a reader field's name wins over its aliases; among aliases, the writer's first field */
    {REG_AVRO,
     "BACKWARD",
     {REC("{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"a\",\"type\":\"int\"}")},
     REC("{\"name\":\"x\",\"aliases\":[\"a\",\"b\"],\"type\":\"int\"}"),
     0,
     "TYPE_MISMATCH"},
    {REG_AVRO,
     "BACKWARD",
     {REC("{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"a\",\"type\":\"int\"}")},
     REC("{\"name\":\"a\",\"aliases\":[\"b\"],\"type\":\"int\"}"),
     1,
     NULL},
    {REG_AVRO, "FULL", {REC(F_AGE_INT)}, REC(F_AGE_LONG), 0, "TYPE_MISMATCH"},
    {REG_AVRO, "NONE", {REC(F_AGE_LONG)}, REC(F_AGE_INT), 1, NULL},
    {REG_AVRO, "BACKWARD", {"\"string\""}, "\"bytes\"", 1, NULL},
    {REG_AVRO, "BACKWARD", {"\"string\""}, "\"int\"", 0, "TYPE_MISMATCH"},
    {REG_AVRO, "BACKWARD", {"\"string\""}, "[\"null\",\"string\"]", 1, NULL},
    {REG_AVRO, "BACKWARD", {"[\"null\",\"string\"]"}, "\"string\"", 0, "TYPE_MISMATCH"},
    {REG_AVRO,
     "BACKWARD",
     {"[\"null\",\"string\",\"int\"]"},
     "[\"null\",\"string\"]",
     0,
     "MISSING_UNION_BRANCH"},
    {REG_AVRO, "BACKWARD", {"[\"int\",\"string\"]"}, "[\"long\",\"string\",\"null\"]", 1, NULL},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}"},
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}",
     1,
     NULL},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}"},
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
     0,
     "MISSING_ENUM_SYMBOLS"},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}"},
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"U\"],\"default\":\"U\"}",
     1,
     NULL},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}"},
     "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}",
     0,
     "FIXED_SIZE_MISMATCH"},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"array\",\"items\":\"int\"}"},
     "{\"type\":\"array\",\"items\":\"long\"}",
     1,
     NULL},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"map\",\"values\":\"long\"}"},
     "{\"type\":\"map\",\"values\":\"int\"}",
     0,
     "TYPE_MISMATCH"},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"record\",\"name\":\"A\",\"fields\":[]}"},
     "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}",
     0,
     "NAME_MISMATCH"},
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"record\",\"name\":\"A\",\"fields\":[]}"},
     "{\"type\":\"record\",\"name\":\"B\",\"aliases\":[\"A\"],\"fields\":[]}",
     1,
     NULL},
    {REG_AVRO,
     "BACKWARD",
     {REC("{\"name\":\"old\",\"type\":\"int\"}")},
     REC("{\"name\":\"new\",\"aliases\":[\"old\"],\"type\":\"int\"}"),
     1,
     NULL},
    /* recursive types terminate */
    {REG_AVRO,
     "FULL",
     {"{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
      "\"Node\"],\"default\":null}]}"},
     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
     "\"Node\"],\"default\":null},{\"name\":\"v\",\"type\":\"int\",\"default\":0}]}",
     1,
     NULL},
    /* a named pair refused in a union's probe (field u: reader R has a string, the writer's R an
     * int; R2, an alias of R, takes it) is still refused where it is met again (field v) */
    {REG_AVRO,
     "BACKWARD",
     {"{\"type\":\"record\",\"name\":\"Top\",\"fields\":[{\"name\":\"u\",\"type\":{\"type\":"
      "\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}},{\"name\":"
      "\"v\",\"type\":\"R\"}]}"},
     "{\"type\":\"record\",\"name\":\"Top\",\"fields\":[{\"name\":\"u\",\"type\":[{\"type\":"
     "\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]},{\"type\":"
     "\"record\",\"name\":\"R2\",\"aliases\":[\"R\"],\"fields\":[{\"name\":\"a\",\"type\":"
     "\"int\"}]}]},{\"name\":\"v\",\"type\":\"R\"}]}",
     0,
     "TYPE_MISMATCH"},
    /* transitive levels look at every version, the others only at the latest */
    {REG_AVRO, "BACKWARD", {REC(F_ID "," F_NAME_DEF), REC(F_ID)}, REC(F_ID "," F_NAME), 1, NULL},
    {REG_AVRO,
     "BACKWARD_TRANSITIVE",
     {REC(F_ID "," F_NAME_DEF), REC(F_ID)},
     REC(F_ID "," F_NAME),
     0,
     "READER_FIELD_MISSING_DEFAULT"},
    {REG_AVRO,
     "FORWARD_TRANSITIVE",
     {REC(F_ID "," F_NAME_DEF), REC(F_ID "," F_NAME)},
     REC(F_ID),
     0,
     "READER_FIELD_MISSING_DEFAULT"},
    {REG_AVRO, "FULL_TRANSITIVE", {REC(F_ID "," F_OPT), REC(F_ID)}, REC(F_ID), 1, NULL},

/* JSON Schema */
#define OBJ(props, extra) "{\"type\":\"object\",\"properties\":{" props "}" extra "}"
#define P_A "\"a\":{\"type\":\"string\"}"
#define P_B "\"b\":{\"type\":\"integer\"}"
#define CLOSED ",\"additionalProperties\":false"
#define PARTIAL ",\"additionalProperties\":{\"type\":\"integer\"}"
    {REG_JSON,
     "BACKWARD",
     {OBJ(P_A, "")},
     OBJ(P_A "," P_B, ""),
     0,
     "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"},
    {REG_JSON, "BACKWARD", {OBJ(P_A, CLOSED)}, OBJ(P_A "," P_B, CLOSED), 1, NULL},
    {REG_JSON,
     "BACKWARD",
     {OBJ(P_A "," P_B, CLOSED)},
     OBJ(P_A, CLOSED),
     0,
     "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
    {REG_JSON, "BACKWARD", {OBJ(P_A "," P_B, "")}, OBJ(P_A, ""), 1, NULL},
    {REG_JSON, "BACKWARD", {OBJ(P_A, PARTIAL)}, OBJ(P_A "," P_B, PARTIAL), 1, NULL},
    {REG_JSON,
     "BACKWARD",
     {OBJ(P_A, PARTIAL)},
     OBJ(P_A ",\"c\":{\"type\":\"string\"}", PARTIAL),
     0,
     "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"},
    {REG_JSON, "BACKWARD", {OBJ(P_A, "")}, OBJ(P_A, CLOSED), 0, "ADDITIONAL_PROPERTIES_REMOVED"},
    {REG_JSON, "FORWARD", {OBJ(P_A, "")}, OBJ(P_A, CLOSED), 1, NULL},
    {REG_JSON,
     "BACKWARD",
     {OBJ(P_A, "")},
     OBJ(P_A, ",\"required\":[\"a\"]"),
     0,
     "REQUIRED_ATTRIBUTE_ADDED"},
    {REG_JSON, "BACKWARD", {OBJ(P_A, ",\"required\":[\"a\"]")}, OBJ(P_A, ""), 1, NULL},
    {REG_JSON, "BACKWARD", {"{\"type\":\"integer\"}"}, "{\"type\":\"number\"}", 1, NULL},
    {REG_JSON, "BACKWARD", {"{\"type\":\"number\"}"}, "{\"type\":\"integer\"}", 0, "TYPE_NARROWED"},
    {REG_JSON, "BACKWARD", {"{\"type\":\"string\"}"}, "{\"type\":[\"string\",\"null\"]}", 1, NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"string\",\"maxLength\":10}"},
     "{\"type\":\"string\",\"maxLength\":5}",
     0,
     "MAX_LENGTH_DECREASED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"string\",\"maxLength\":5}"},
     "{\"type\":\"string\",\"maxLength\":10}",
     1,
     NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"string\"}"},
     "{\"type\":\"string\",\"minLength\":1}",
     0,
     "MIN_LENGTH_ADDED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"string\"}"},
     "{\"type\":\"string\",\"pattern\":\"^a\"}",
     0,
     "PATTERN_ADDED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"number\",\"minimum\":0}"},
     "{\"type\":\"number\",\"minimum\":-10}",
     1,
     NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"number\",\"maximum\":100}"},
     "{\"type\":\"number\",\"maximum\":50}",
     0,
     "MAXIMUM_DECREASED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"integer\",\"multipleOf\":4}"},
     "{\"type\":\"integer\",\"multipleOf\":2}",
     1,
     NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"integer\",\"multipleOf\":2}"},
     "{\"type\":\"integer\",\"multipleOf\":4}",
     0,
     "MULTIPLE_OF_CHANGED"},
    {REG_JSON, "BACKWARD", {"{\"enum\":[\"a\",\"b\"]}"}, "{\"enum\":[\"a\",\"b\",\"c\"]}", 1, NULL},
    /* enum values compare as JSON Schema compares instances: 1 is 1.0, members in any order */
    {REG_JSON,
     "BACKWARD",
     {"{\"enum\":[1.0,{\"a\":1,\"b\":[2]}]}"},
     "{\"enum\":[{\"b\":[2.0],\"a\":1},1]}",
     1,
     NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"enum\":[1,{\"a\":1,\"b\":[2]}]}"},
     "{\"enum\":[1,{\"a\":1,\"b\":[2,2]}]}",
     0,
     "ENUM_ARRAY_NARROWED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"enum\":[\"a\",\"b\"]}"},
     "{\"enum\":[\"a\"]}",
     0,
     "ENUM_ARRAY_NARROWED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}"},
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"type\":\"null\"}]}",
     1,
     NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}"},
     "{\"oneOf\":[{\"type\":\"string\"}]}",
     0,
     "SUM_TYPE_NARROWED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}"},
     "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}",
     1,
     NULL},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"array\",\"items\":{\"type\":\"number\"}}"},
     "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}",
     0,
     "TYPE_NARROWED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"type\":\"array\"}"},
     "{\"type\":\"array\",\"maxItems\":3}",
     0,
     "MAX_ITEMS_ADDED"},
    {REG_JSON,
     "BACKWARD",
     {"{\"definitions\":{\"s\":{\"type\":\"string\"}},\"type\":\"object\",\"properties\":{\"a\":{"
      "\"$ref\":\"#/definitions/s\"}}" CLOSED "}"},
     "{\"definitions\":{\"s\":{\"type\":\"integer\"}},\"type\":\"object\",\"properties\":{\"a\":{"
     "\"$ref\":\"#/definitions/s\"}}" CLOSED "}",
     0,
     "TYPE_NARROWED"},
    {REG_JSON, "BACKWARD", {"true"}, "{\"type\":\"object\"}", 0, "TYPE_NARROWED"},
    {REG_JSON, "BACKWARD", {"{\"type\":\"object\"}"}, "true", 1, NULL},
    {REG_JSON,
     "FULL",
     {OBJ(P_A, CLOSED)},
     OBJ(P_A "," P_B, CLOSED),
     0,
     "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
};

static void parse_ok(enum reg_type t, const char *text, struct reg_schema *out)
{
    char err[256];
    cr_assert_eq(reg_schema_parse(t, text, NULL, NULL, 0, out, err, sizeof(err)), 0, "%s: %s", text,
                 err);
}

Test(reg_compat, table)
{
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ccase *c = &cases[i];
        struct reg_schema cand, ex[3];
        const struct reg_schema *exp[3];
        size_t n = 0;
        parse_ok(c->type, c->candidate, &cand);
        while (n < 3 && c->existing[n]) {
            parse_ok(c->type, c->existing[n], &ex[n]);
            exp[n] = &ex[n];
            n++;
        }
        enum reg_level level;
        cr_assert_eq(reg_level_parse(c->level, &level), 0);
        json_t *messages = json_array();
        int ok = reg_compat_check(level, &cand, exp, n, NULL, 0, messages);
        char *m = json_dumps(messages, JSON_COMPACT);
        if (ok != c->compatible || (!ok && c->why && !strstr(m, c->why))) {
            cr_log_error("case %zu (%s): expected %s%s%s, got %s %s", i, c->level,
                         c->compatible ? "compatible" : "incompatible", c->why ? " with " : "",
                         c->why ? c->why : "", ok ? "compatible" : "incompatible", m);
            failed++;
        }
        free(m);
        json_decref(messages);
        reg_schema_clear(&cand);
        for (size_t k = 0; k < n; k++) {
            reg_schema_clear(&ex[k]);
        }
    }
    cr_assert_eq(failed, 0, "%zu compatibility cases failed", failed);
}

Test(reg_compat, lenient_policy_allows_optional_properties_on_open_models)
{
    struct reg_schema old, cand;
    parse_ok(REG_JSON, OBJ(P_A, ""), &old);
    parse_ok(REG_JSON, OBJ(P_A "," P_B, ""), &cand);
    const struct reg_schema *ex[] = {&old};
    cr_assert_eq(reg_compat_check(REG_BACKWARD, &cand, ex, 1, NULL, 0, NULL), 0);
    cr_assert_eq(reg_compat_check(REG_BACKWARD, &cand, ex, 1, NULL, 1, NULL), 1);
    reg_schema_clear(&cand);
    parse_ok(REG_JSON, OBJ(P_A "," P_B, ",\"required\":[\"b\"]"), &cand);
    cr_assert_eq(reg_compat_check(REG_BACKWARD, &cand, ex, 1, NULL, 1, NULL), 0,
                 "a required property is not optional");
    reg_schema_clear(&cand);
    reg_schema_clear(&old);
}

/* A JSON Schema whose `levels` definitions each name the next twice through $ref: as properties
 * a and b of an object ("props"), or as the alternatives d and an array of d ("anyOf"); the last
 * is {"type": leaf}, or, with `cycle`, each level also accepts the leaf and the last names the
 * first. Written out, it is a tree of 2^levels subschemas. */
static char *chain(int levels, const char *kind, const char *leaf, int cycle)
{
    json_t *defs = json_object();
    for (int i = 0; i < levels; i++) {
        char next[64], name[16];
        snprintf(next, sizeof(next), "#/definitions/d%d", cycle ? (i + 1) % levels : i + 1);
        snprintf(name, sizeof(name), "d%d", i);
        json_t *d;
        if (strcmp(kind, "props") == 0) {
            d = json_pack("{s:s, s:{s:{s:s}, s:{s:s}}}", "type", "object", "properties", "a",
                          "$ref", next, "b", "$ref", next);
        } else {
            d = json_pack("{s:[{s:s}, {s:s, s:{s:s}}]}", "anyOf", "$ref", next, "type", "array",
                          "items", "$ref", next);
        }
        if (cycle) {
            json_array_append_new(json_object_get(d, "anyOf"), json_pack("{s:s}", "type", leaf));
        }
        json_object_set_new(defs, name, d);
    }
    return schema_chain_text(defs, levels, cycle ? NULL : leaf);
}

/* Checks candidate against old (BACKWARD): the verdict, and `why` among the messages. */
static void expect_verdict(const char *old_text, const char *cand_text, int compatible,
                           const char *why)
{
    struct reg_schema old, cand;
    parse_ok(REG_JSON, old_text, &old);
    parse_ok(REG_JSON, cand_text, &cand);
    const struct reg_schema *ex[] = {&old};
    json_t *messages = json_array();
    int ok = reg_compat_check(REG_BACKWARD, &cand, ex, 1, NULL, 0, messages);
    char *m = json_dumps(messages, JSON_COMPACT);
    cr_assert_eq(ok, compatible, "%s", m);
    cr_assert(compatible || strstr(m, why), "%s not among %s", why, m);
    cr_assert(!compatible || json_array_size(messages) == 0, "%s", m);
    free(m);
    json_decref(messages);
    reg_schema_clear(&cand);
    reg_schema_clear(&old);
}

/* Each pair of subschemas is compared once (recursive definitions as the subtyping of recursive
 * types is decided), so schemas that share definitions are checked in time linear in their text:
 * before, 18 levels took 11 s and 40 would never end. The verdicts are those of the tree. */
Test(reg_compat, shared_definitions_are_compared_once, .timeout = 20)
{
    const char *kinds[] = {"props", "anyOf"};
    for (size_t k = 0; k < 2; k++) {
        char *s = chain(40, kinds[k], "string", 0), *i = chain(40, kinds[k], "integer", 0);
        char *n = chain(40, kinds[k], "number", 0);
        expect_verdict(s, s, 1, NULL);
        expect_verdict(s, i, 0, "TYPE_NARROWED");
        expect_verdict(i, n, 1, NULL); /* a number reader accepts integers */
        expect_verdict(n, i, 0, "TYPE_NARROWED");
        free(s);
        free(i);
        free(n);
    }
    /* cycles: every level names the next and the last the first */
    char *s = chain(16, "anyOf", "string", 1), *i = chain(16, "anyOf", "integer", 1);
    char *n = chain(16, "anyOf", "number", 1);
    expect_verdict(s, s, 1, NULL);
    expect_verdict(i, n, 1, NULL);
    expect_verdict(s, i, 0, "SUM_TYPE_NARROWED");
    expect_verdict(n, i, 0, "SUM_TYPE_NARROWED");
    free(s);
    free(i);
    free(n);
    /* a recursive tree whose values narrow */
    const char *tree_int = "{\"definitions\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":"
                           "{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":"
                           "{\"$ref\":\"#/definitions/node\"}}}}},\"$ref\":\"#/definitions/node\"}";
    const char *tree_num = "{\"definitions\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":"
                           "{\"type\":\"number\"},\"kids\":{\"type\":\"array\",\"items\":"
                           "{\"$ref\":\"#/definitions/node\"}}}}},\"$ref\":\"#/definitions/node\"}";
    expect_verdict(tree_int, tree_num, 1, NULL);
    expect_verdict(tree_num, tree_int, 0, "TYPE_NARROWED");
    /* What was accepted only because a pair under comparison was taken as accepted is forgotten
     * when that pair is refused. Writer alternative Q (y: integer) is probed against reader Q
     * (y: string): Q.x is P, P.back is Q again, so P rests on Q, which is then refused; reader
     * alternative 3 accepts writer Q. Writer alternative P is refused by every reader
     * alternative (P.back is a Q that narrows), so the schemas are incompatible. */
#define QP(y)                                                                                      \
    "\"definitions\":{\"Q\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/definitions/" \
    "P\"},\"y\":{\"type\":\"" y "\"}}},\"P\":{\"type\":\"object\",\"properties\":{\"back\":{"      \
    "\"$ref\":\"#/definitions/Q\"}}}}"
    expect_verdict(
        "{" QP("integer") ",\"anyOf\":[{\"$ref\":\"#/definitions/Q\"},{\"$ref\":"
                          "\"#/definitions/P\"}]}",
        "{" QP(
            "string") ",\"anyOf\":[{\"$ref\":\"#/definitions/Q\"},{\"$ref\":"
                      "\"#/definitions/P\"},{\"type\":\"object\",\"properties\":{\"y\":{\"type\":"
                      "\"integer\"}}}]}",
        0, "SUM_TYPE_NARROWED");
#undef QP
}

/* Past 100,000 pairs of subschemas the check stops and says so: 320 alternatives against 320,
 * none accepting another. */
Test(reg_compat, too_many_pairs_are_refused)
{
    json_t *r = json_array(), *w = json_array();
    for (int k = 0; k < 320; k++) {
        json_array_append_new(r, json_pack("{s:s, s:i}", "type", "string", "maxLength", k));
        json_array_append_new(w, json_pack("{s:s, s:i}", "type", "string", "maxLength", 1000 + k));
    }
    json_t *rs = json_pack("{s:o}", "anyOf", r), *ws = json_pack("{s:o}", "anyOf", w);
    char *rt = json_dumps(rs, JSON_COMPACT), *wt = json_dumps(ws, JSON_COMPACT);
    expect_verdict(wt, rt, 0, "TOO_COMPLEX");
    free(rt);
    free(wt);
    json_decref(rs);
    json_decref(ws);
}

Test(reg_compat, invalid_schemas)
{
    struct {
        enum reg_type t;
        const char *text;
        const char *why;
    } bad[] = {
        {REG_AVRO, "", "invalid JSON"},
        {REG_AVRO, "{", "invalid JSON"},
        {REG_AVRO, "\"strnig\"", "unknown type"},
        {REG_AVRO, "{\"type\":\"record\",\"fields\":[]}", "name"},
        {REG_AVRO, "{\"type\":\"record\",\"name\":\"1bad\",\"fields\":[]}", "name"},
        {REG_AVRO, "{\"type\":\"record\",\"name\":\"R\"}", "fields"},
        {REG_AVRO, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\"}]}", "type"},
        {REG_AVRO,
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{"
         "\"name\":\"a\",\"type\":\"int\"}]}",
         "duplicate field"},
        {REG_AVRO, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}", "duplicate"},
        {REG_AVRO, "{\"type\":\"fixed\",\"name\":\"F\"}", "size"},
        {REG_AVRO, "[\"null\",[\"int\"]]", "unions may not contain unions"},
        {REG_AVRO, "{\"type\":\"array\"}", "items"},
        {REG_AVRO,
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}",
         "unknown type"},
        {REG_JSON, "[]", "object or a boolean"},
        {REG_JSON, "{\"type\":5}", "/type"},
        {REG_JSON, "{\"a\":1,\"a\":2}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct reg_schema s;
        char err[256] = "";
        cr_assert_neq(reg_schema_parse(bad[i].t, bad[i].text, NULL, NULL, 0, &s, err, sizeof(err)),
                      0, "accepted %s", bad[i].text);
        cr_assert(strstr(err, bad[i].why) != NULL, "%s: '%s' lacks '%s'", bad[i].text, err,
                  bad[i].why);
    }
}

Test(reg_compat, dedupe_ignores_formatting_not_meaning)
{
    struct reg_schema a, b, c, d;
    parse_ok(REG_AVRO,
             "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":[{\"name\":\"x\","
             "\"type\":\"int\"}]}",
             &a);
    parse_ok(REG_AVRO,
             "{ \"namespace\" : \"n\", \"name\":\"R\", \"type\":\"record\",\n "
             "\"fields\":[{\"type\":{\"type\":\"int\"},\"name\":\"x\"}]}",
             &b);
    parse_ok(REG_AVRO,
             "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":[{\"name\":\"x\","
             "\"type\":\"int\",\"default\":1}]}",
             &c);
    parse_ok(
        REG_AVRO,
        "{\"type\":\"record\",\"name\":\"n.R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}",
        &d);
    cr_assert_str_eq(a.hash_hex, b.hash_hex, "key order and spelling of int");
    cr_assert_str_eq(a.hash_hex, d.hash_hex, "namespace vs full name");
    cr_assert_str_neq(a.hash_hex, c.hash_hex, "a default changes the schema");
    struct reg_schema j1, j2, j3;
    parse_ok(REG_JSON, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", &j1);
    parse_ok(REG_JSON, "{\"properties\":{\"a\":{\"type\":\"string\"}}, \"type\":\"object\"}", &j2);
    parse_ok(REG_AVRO, "\"string\"", &j3);
    cr_assert_str_eq(j1.hash_hex, j2.hash_hex);
    cr_assert_str_neq(j3.hash_hex, a.hash_hex);
    reg_schema_clear(&a);
    reg_schema_clear(&b);
    reg_schema_clear(&c);
    reg_schema_clear(&d);
    reg_schema_clear(&j1);
    reg_schema_clear(&j2);
    reg_schema_clear(&j3);
}

Test(reg_compat, parsing_canonical_form)
{
    char err[128];
    json_t *s = reg_avro_parse(
        "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.x\",\"doc\":\"d\",\"fields\":["
        "{\"name\":\"id\",\"type\":{\"type\":\"long\"},\"doc\":\"x\",\"default\":1},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}}]}",
        NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    char *pcf = reg_avro_canonical_form(s);
    cr_assert_str_eq(pcf, "{\"name\":\"com.x.User\",\"type\":\"record\",\"fields\":[{\"name\":"
                          "\"id\",\"type\":\"long\"},{\"name\":\"e\",\"type\":{\"name\":"
                          "\"com.x.E\",\"type\":\"enum\",\"symbols\":[\"A\"]}}]}");
    free(pcf);
    json_decref(s);
}

/* Enums, records and required lists of many names: symbols, fields and values are looked up by
 * hash, not compared with each other pair by pair (20,000 symbols took 1.4 s to parse and 6.2 s
 * to compare, quadratic; a 1 MiB enum, as a compatibility request may carry with read scope
 * alone, minutes). Same verdicts: a duplicate is refused, a missing symbol or value found. */
Test(reg_compat, long_enums_records_and_lists_compare_by_name)
{
    enum { N = 20000 };
    json_t *syms = json_array(), *fields = json_array(), *vals = json_array(), *req = json_array();
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        json_array_append_new(syms, json_string(name));
        json_array_append_new(fields, json_pack("{s:s, s:s}", "name", name, "type", "int"));
        json_array_append_new(vals, json_pack("{s:i}", "v", i));
        json_array_append_new(req, json_string(name));
    }
    json_t *avro = json_pack("{s:s, s:s, s:[{s:s, s:{s:s, s:s, s:O}}, {s:s, s:{s:s, s:s, s:O}}]}",
                             "type", "record", "name", "R", "fields", "name", "e", "type", "type",
                             "enum", "name", "E", "symbols", syms, "name", "r", "type", "type",
                             "record", "name", "Inner", "fields", fields);
    json_t *jsch = json_pack("{s:s, s:O, s:{s:{s:O}}}", "type", "object", "required", req,
                             "properties", "e", "enum", vals);
    char *atext = json_dumps(avro, JSON_COMPACT), *jtext = json_dumps(jsch, JSON_COMPACT);
    struct reg_schema a, j, a2, j2;
    parse_ok(REG_AVRO, atext, &a);
    parse_ok(REG_JSON, jtext, &j);
    enum reg_level level;
    cr_assert_eq(reg_level_parse("FULL", &level), 0);
    const struct reg_schema *ex[1] = {&a};
    cr_assert_eq(reg_compat_check(level, &a, ex, 1, NULL, 0, NULL), 1);
    ex[0] = &j;
    cr_assert_eq(reg_compat_check(level, &j, ex, 1, NULL, 0, NULL), 1);
    /* the last symbol and the last value gone: a reader without them cannot read the writer */
    json_array_remove(syms, N - 1);
    json_array_remove(vals, N - 1);
    free(atext);
    free(jtext);
    atext = json_dumps(avro, JSON_COMPACT);
    jtext = json_dumps(jsch, JSON_COMPACT);
    parse_ok(REG_AVRO, atext, &a2);
    parse_ok(REG_JSON, jtext, &j2);
    cr_assert_eq(reg_level_parse("BACKWARD", &level), 0);
    json_t *messages = json_array();
    ex[0] = &a;
    cr_assert_eq(reg_compat_check(level, &a2, ex, 1, NULL, 0, messages), 0);
    char *m = json_dumps(messages, JSON_COMPACT);
    cr_assert(strstr(m, "MISSING_ENUM_SYMBOLS") && strstr(m, "'s19999'"), "%s", m);
    free(m);
    json_array_clear(messages);
    ex[0] = &j;
    cr_assert_eq(reg_compat_check(level, &j2, ex, 1, NULL, 0, messages), 0);
    m = json_dumps(messages, JSON_COMPACT);
    cr_assert(strstr(m, "ENUM_ARRAY_NARROWED"), "%s", m);
    free(m);
    json_decref(messages);
    /* a symbol and a field named twice, far apart, are refused */
    json_array_append_new(syms, json_string("s7"));
    free(atext);
    atext = json_dumps(avro, JSON_COMPACT);
    char err[256];
    struct reg_schema bad;
    cr_assert_neq(reg_schema_parse(REG_AVRO, atext, NULL, NULL, 0, &bad, err, sizeof(err)), 0);
    cr_assert(strstr(err, "duplicate enum symbol"), "%s", err);
    json_array_remove(syms, json_array_size(syms) - 1);
    json_array_append_new(fields, json_pack("{s:s, s:s}", "name", "s3", "type", "int"));
    free(atext);
    atext = json_dumps(avro, JSON_COMPACT);
    cr_assert_neq(reg_schema_parse(REG_AVRO, atext, NULL, NULL, 0, &bad, err, sizeof(err)), 0);
    cr_assert(strstr(err, "duplicate field name"), "%s", err);
    reg_schema_clear(&a);
    reg_schema_clear(&j);
    reg_schema_clear(&a2);
    reg_schema_clear(&j2);
    free(atext);
    free(jtext);
    json_decref(avro);
    json_decref(jsch);
    json_decref(syms);
    json_decref(fields);
    json_decref(vals);
    json_decref(req);
}
