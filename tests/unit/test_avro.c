/* Unit tests for common/avro: a table of JSON values against Avro schemas (Avro's JSON encoding,
 * defaults, unions, bytes, ranges) and the binary and Confluent wire-format encodings, byte for
 * byte. Recursive records: through a union, array or map they encode; holding themselves through
 * plain fields (no finite value) they are refused, where libavro recursed until the stack ran
 * out. */
#include "cm/avro.h"
#include "cm/err.h"

#include <criterion/criterion.h>
#include <string.h>

#define PAY                                                                                        \
    "{\"type\":\"record\",\"name\":\"Pay\",\"namespace\":\"shop\",\"fields\":["                    \
    "{\"name\":\"id\",\"type\":\"long\"},"                                                         \
    "{\"name\":\"cur\",\"type\":\"string\",\"default\":\"EUR\"},"                                  \
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"                         \
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"K\",\"symbols\":[\"A\",\"B\"]}},"   \
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"       \
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"int\"},\"default\":{}},"          \
    "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\"},"                                      \
    "{\"name\":\"h\",\"type\":[\"null\",{\"type\":\"fixed\",\"name\":\"H\",\"size\":2}],"          \
    "\"default\":null}]}"

static struct cm_avro_schema *schema(const char *text)
{
    char err[256];
    struct cm_avro_schema *s = cm_avro_schema_new(text, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    return s;
}

Test(avro, validation_table)
{
    struct cm_avro_schema *s = schema(PAY);
    struct {
        const char *value;
        const char *error; /* NULL = valid */
    } cases[] = {
        {"{\"id\":1,\"kind\":\"A\"}", NULL},
        {"{\"id\":1,\"kind\":\"B\",\"cur\":\"USD\",\"note\":{\"string\":\"x\"},\"tags\":[\"a\"],"
         "\"attrs\":{\"k\":1},\"raw\":\"\\u00ff\\u0000\",\"h\":{\"shop.H\":\"ab\"}}",
         NULL},
        {"{\"id\":1,\"kind\":\"A\",\"h\":{\"H\":\"ab\"}}", NULL},
        {"{\"kind\":\"A\"}", "/id: required field is missing"},
        {"{\"id\":\"1\",\"kind\":\"A\"}", "/id: must be an integer"},
        {"{\"id\":1.5,\"kind\":\"A\"}", "/id: must be an integer"},
        {"{\"id\":1,\"kind\":\"C\"}", "/kind: must be a symbol of enum K"},
        {"{\"id\":1,\"kind\":\"A\",\"note\":\"x\"}", "/note: a union value is null or"},
        {"{\"id\":1,\"kind\":\"A\",\"note\":{\"int\":1}}", "'int' is not a branch"},
        {"{\"id\":1,\"kind\":\"A\",\"note\":{\"string\":1}}", "/note/string: must be a string"},
        {"{\"id\":1,\"kind\":\"A\",\"tags\":[1]}", "/tags/0: must be a string"},
        {"{\"id\":1,\"kind\":\"A\",\"attrs\":{\"k\":3000000000}}", "/attrs/k: must be a 32-bit"},
        {"{\"id\":1,\"kind\":\"A\",\"raw\":\"\\u0100\"}", "/raw: must be a string of code points"},
        {"{\"id\":1,\"kind\":\"A\",\"h\":{\"H\":\"abc\"}}", "/h/H: must be exactly 2 bytes"},
        {"{\"id\":1,\"kind\":\"A\",\"zzz\":1}", "/zzz: is not a field of record Pay"},
        {"[]", "must be an object"},
        {"null", "must be an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_assert_not_null(v, "%s", cases[i].value);
        json_t *errors = json_array();
        int ok = cm_avro_validate(s, v, NULL, errors, 10);
        char *text = json_dumps(errors, JSON_COMPACT);
        if (cases[i].error) {
            cr_assert_not(ok, "accepted %s", cases[i].value);
            cr_assert(strstr(text, cases[i].error) != NULL, "%s: %s lacks %s", cases[i].value, text,
                      cases[i].error);
        } else {
            cr_assert(ok, "%s: %s", cases[i].value, text);
        }
        free(text);
        json_decref(errors);
        json_decref(v);
    }
    cm_avro_schema_free(s);
}

Test(avro, encodes_binary_and_wire_format)
{
    struct cm_avro_schema *s = schema("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                                      "\"id\",\"type\":\"long\"},{\"name\":\"s\",\"type\":"
                                      "\"string\",\"default\":\"a\"},{\"name\":\"u\",\"type\":["
                                      "\"null\",\"int\"],\"default\":null}]}");
    json_t *v = json_loads("{\"id\":-1,\"u\":{\"int\":3}}", 0, NULL);
    char err[128];
    size_t len = 0;
    unsigned char *b = cm_avro_encode(s, v, -1, &len, err, sizeof(err));
    cr_assert_not_null(b, "%s", err);
    /* zigzag(-1)=1, string "a" = len 1 (0x02) + 'a', union branch 1 (0x02) + int 3 (0x06) */
    unsigned char want[] = {0x01, 0x02, 'a', 0x02, 0x06};
    cr_assert_eq(len, sizeof(want));
    cr_assert_eq(memcmp(b, want, len), 0);
    free(b);
    b = cm_avro_encode(s, v, 42, &len, err, sizeof(err));
    unsigned char wire[] = {0x00, 0x00, 0x00, 0x00, 0x2A, 0x01, 0x02, 'a', 0x02, 0x06};
    cr_assert_eq(len, sizeof(wire));
    cr_assert_eq(memcmp(b, wire, len), 0, "magic byte, big-endian id, payload");
    free(b);
    json_decref(v);
    v = json_loads("{\"id\":\"no\"}", 0, NULL);
    cr_assert_null(cm_avro_encode(s, v, 1, &len, err, sizeof(err)));
    cr_assert(strstr(err, "/id: must be an integer") != NULL, "%s", err);
    json_decref(v);
    cm_avro_schema_free(s);
}

Test(avro, bad_schemas)
{
    const char *bad[] = {"", "{", "\"nosuchtype\"", "{\"type\":\"record\"}",
                         "{\"type\":\"enum\",\"name\":\"E\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        cr_assert_null(cm_avro_schema_new(bad[i], err, sizeof(err)), "accepted %s", bad[i]);
        cr_assert_gt(strlen(err), 0);
        err[0] = '\0';
        cr_assert_eq(cm_avro_schema_check(bad[i], err, sizeof(err)), CM_E_INVAL, "%s", bad[i]);
        cr_assert_gt(strlen(err), 0);
    }
    const char *good[] = {"\"long\"", "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                                      "[{\"name\":\"a\",\"type\":[\"null\",\"string\"]}]}"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[256] = "";
        cr_assert_eq(cm_avro_schema_check(good[i], err, sizeof(err)), 0, "%s: %s", good[i], err);
    }
}

/* A named type defined twice is refused naming it, before avro-c (which refuses it too, but
 * leaks the definition it could not save: the sanitizer build of this test finds that). The
 * full name counts: one name in two namespaces is two types. */
Test(avro, a_named_type_defined_twice_is_refused_by_its_full_name)
{
    static const char *const twice[][2] = {
        {"[\"int\",{\"type\":\"record\",\"name\":\"N\",\"fields\":[]},"
         "{\"type\":\"record\",\"name\":\"N\",\"fields\":[]}]",
         "'N'"},
        {"{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"x\",\"type\":"
         "{\"type\":\"fixed\",\"name\":\"N\",\"size\":1}}]}",
         "'N'"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}},{\"name\":\"b\",\"type\":"
         "{\"type\":\"array\",\"items\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"B\"]}}}]}",
         "'E'"},
        /* a nested type is in its record's namespace: a.N twice */
        {"{\"type\":\"record\",\"name\":\"a.R\",\"fields\":[{\"name\":\"x\",\"type\":"
         "{\"type\":\"record\",\"name\":\"N\",\"fields\":[]}},{\"name\":\"y\",\"type\":"
         "{\"type\":\"map\",\"values\":{\"type\":\"record\",\"name\":\"N\",\"namespace\":\"a\","
         "\"fields\":[]}}}]}",
         "'a.N'"},
        {"{\"type\":{\"type\":\"array\",\"items\":[\"null\",{\"type\":\"fixed\",\"name\":\"b.F\","
         "\"size\":2},{\"type\":\"fixed\",\"name\":\"F\",\"namespace\":\"b\",\"size\":3}]}}",
         "'b.F'"},
    };
    for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
        char err[256] = "";
        cr_assert_null(cm_avro_schema_new(twice[i][0], err, sizeof(err)), "%s", twice[i][0]);
        char want[64];
        snprintf(want, sizeof(want), "a type named %s is defined twice", twice[i][1]);
        cr_assert_str_eq(err, want, "%s", twice[i][0]);
        cr_assert_eq(cm_avro_schema_check(twice[i][0], err, sizeof(err)), CM_E_INVAL);
    }
    static const char *const once[] = {
        /* one name in two namespaces; a reference to a defined name is no definition */
        "[{\"type\":\"record\",\"name\":\"N\",\"namespace\":\"a\",\"fields\":[]},"
        "{\"type\":\"record\",\"name\":\"N\",\"namespace\":\"b\",\"fields\":[]}]",
        "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"x\",\"type\":[\"null\",\"N\"]}"
        ","
        "{\"name\":\"y\",\"type\":{\"type\":\"array\",\"items\":\"N\"}}]}",
    };
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        char err[256] = "";
        struct cm_avro_schema *s = cm_avro_schema_new(once[i], err, sizeof(err));
        cr_assert_not_null(s, "%s: %s", once[i], err);
        cm_avro_schema_free(s);
    }
}

Test(avro, references_resolve_named_types_defined_elsewhere)
{
    /* Confluent references: com.acme.Address and com.acme.Money live in other subjects; Money
     * itself uses the enum com.acme.Currency from a third one */
    json_t *named =
        json_pack("{s:o, s:o, s:o}", "com.acme.Address",
                  json_loads("{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"com.acme\","
                             "\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}",
                             0, NULL),
                  "com.acme.Money",
                  json_loads("{\"type\":\"record\",\"name\":\"Money\",\"namespace\":\"com.acme\","
                             "\"fields\":[{\"name\":\"units\",\"type\":\"long\"},"
                             "{\"name\":\"currency\",\"type\":\"Currency\"}]}",
                             0, NULL),
                  "com.acme.Currency",
                  json_loads("{\"type\":\"enum\",\"name\":\"Currency\",\"namespace\":\"com.acme\","
                             "\"symbols\":[\"EUR\",\"USD\"]}",
                             0, NULL));
    const char *order =
        "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"com.acme\",\"fields\":["
        "{\"name\":\"ship_to\",\"type\":\"Address\"},"
        "{\"name\":\"bill_to\",\"type\":[\"null\",\"com.acme.Address\"],\"default\":null},"
        "{\"name\":\"total\",\"type\":\"com.acme.Money\"},"
        "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":\"Money\"}}]}";
    char err[256];
    struct cm_avro_schema *s = cm_avro_schema_new_with_refs(order, named, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_t *good = json_loads(
        "{\"ship_to\":{\"city\":\"Lyon\"},\"bill_to\":{\"com.acme.Address\":{\"city\":\"Nice\"}},"
        "\"total\":{\"units\":5,\"currency\":\"EUR\"},"
        "\"lines\":[{\"units\":5,\"currency\":\"USD\"}]}",
        0, NULL);
    json_t *errors = json_array();
    cr_assert(cm_avro_validate(s, good, "/data", errors, 10), "%s",
              json_string_value(json_array_get(errors, 0)));
    json_t *bad =
        json_loads("{\"ship_to\":{\"city\":7},\"total\":{\"units\":5,\"currency\":\"GBP\"},"
                   "\"lines\":[]}",
                   0, NULL);
    cr_assert_not(cm_avro_validate(s, bad, "/data", errors, 10));
    cr_assert_geq(json_array_size(errors), 1);
    cm_avro_schema_free(s);
    cr_assert_null(cm_avro_schema_new(order, err, sizeof(err)),
                   "without the references: unknown names");
    /* a reference that never resolves */
    json_t *empty = json_object();
    cr_assert_null(cm_avro_schema_new_with_refs(order, empty, err, sizeof(err)));
    cr_assert_null(cm_avro_schema_new_with_refs("{not json", named, err, sizeof(err)));
    json_decref(empty);
    json_decref(good);
    json_decref(bad);
    json_decref(errors);
    json_decref(named);
}

Test(avro, records_that_hold_themselves)
{
    /* no finite value: refused, naming the record (libavro built their values without end) */
    const char *infinite[] = {
        "{\"type\":\"record\",\"name\":\"GGGGG.N\",\"fields\":[{\"name\":\"next\",\"type\":"
        "\"GGGGG.N\"}]}",
        "{\"type\":\"record\",\"name\":\"A\",\"namespace\":\"x\",\"fields\":[{\"name\":\"id\","
        "\"type\":\"int\"},{\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":\"B\","
        "\"fields\":[{\"name\":\"a\",\"type\":\"A\"}]}}]}",
        "[\"null\",{\"type\":\"record\",\"name\":\"U\",\"fields\":[{\"name\":\"u\",\"type\":"
        "\"U\"}]}]"};
    const char *named[] = {"record GGGGG.N ", "record x.A ", "record U "};
    for (size_t i = 0; i < sizeof(infinite) / sizeof(infinite[0]); i++) {
        char err[256] = "";
        cr_assert_null(cm_avro_schema_new(infinite[i], err, sizeof(err)), "accepted %s",
                       infinite[i]);
        cr_assert(strstr(err, named[i]) != NULL && strstr(err, "no value of it is finite"), "%s",
                  err);
        err[0] = '\0';
        cr_assert_eq(cm_avro_schema_check(infinite[i], err, sizeof(err)), CM_E_INVAL);
        cr_assert(strstr(err, named[i]) != NULL, "%s", err);
    }
    /* through a union, an array or a map: finite values, encoded */
    struct {
        const char *schema, *value;
        size_t len;
    } finite[] = {
        {"{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
         "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
         "{\"v\":1,\"next\":{\"L\":{\"v\":2,\"next\":{\"L\":{\"v\":3,\"next\":null}}}}}", 6},
        {"{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"kids\",\"type\":"
         "{\"type\":\"array\",\"items\":\"T\"}}]}",
         "{\"kids\":[{\"kids\":[]},{\"kids\":[]}]}", 4},
        {"{\"type\":\"record\",\"name\":\"M\",\"fields\":[{\"name\":\"m\",\"type\":"
         "{\"type\":\"map\",\"values\":\"M\"}}]}",
         "{\"m\":{\"a\":{\"m\":{}}}}", 5},
    };
    for (size_t i = 0; i < sizeof(finite) / sizeof(finite[0]); i++) {
        struct cm_avro_schema *s = schema(finite[i].schema);
        json_t *v = json_loads(finite[i].value, 0, NULL);
        char err[256] = "";
        size_t len = 0;
        unsigned char *b = cm_avro_encode(s, v, -1, &len, err, sizeof(err));
        cr_assert_not_null(b, "%s: %s", finite[i].schema, err);
        cr_assert_eq(len, finite[i].len, "%s: %zu bytes", finite[i].schema, len);
        free(b);
        json_decref(v);
        cm_avro_schema_free(s);
    }
    /* a type used many times over is explored once: 30 levels of two fields each (2^30 paths) */
    char text[8192];
    size_t at = (size_t)snprintf(text, sizeof(text), "\"int\"");
    for (int level = 0; level < 30; level++) {
        char prev[8192];
        snprintf(prev, sizeof(prev), "%s", text);
        if (level == 0) {
            at = (size_t)snprintf(text, sizeof(text),
                                  "{\"type\":\"record\",\"name\":\"R0\",\"fields\":[{\"name\":"
                                  "\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\"}]}");
        } else {
            at = (size_t)snprintf(text, sizeof(text),
                                  "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":"
                                  "\"a\",\"type\":%s},{\"name\":\"b\",\"type\":\"R%d\"}]}",
                                  level, prev, level - 1);
        }
        cr_assert_lt(at, sizeof(text));
    }
    char err[256] = "";
    cr_assert_eq(cm_avro_schema_check(text, err, sizeof(err)), 0, "%s", err);
}

Test(avro, fixed_sizes_libavro_cannot_hold)
{
    /* libavro allocates a fixed's size for each value: a negative one (found by fuzz_avro) or a
     * huge one is refused; in arrays and unions too */
    const char *bad[] = {
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-6}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":1099511627776}",
        "{\"type\":\"array\",\"items\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":1048577}}",
        "[\"null\",{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":"
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}}]}]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        cr_assert_null(cm_avro_schema_new(bad[i], err, sizeof(err)), "accepted %s", bad[i]);
        cr_assert(strstr(err, "fixed F: size ") != NULL && strstr(err, "is not between 0 and"),
                  "%s", err);
        cr_assert_eq(cm_avro_schema_check(bad[i], err, sizeof(err)), CM_E_INVAL, "%s", bad[i]);
    }
    /* the largest accepted, and an empty one, encode */
    const char *good[] = {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":1048576}",
                          "{\"type\":\"fixed\",\"name\":\"F\",\"size\":0}"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cm_avro_schema *s = schema(good[i]);
        json_t *v = json_string("");
        char err[256] = "";
        size_t len = 0;
        unsigned char *b = cm_avro_encode(s, v, -1, &len, err, sizeof(err));
        if (i == 1) {
            cr_assert_not_null(b, "%s", err);
            cr_assert_eq(len, 0);
        } else {
            cr_assert_null(b, "a string of 0 code points is not 1048576 bytes");
            cr_assert_gt(strlen(err), 0);
        }
        free(b);
        json_decref(v);
        cm_avro_schema_free(s);
    }
}

/* A union's branches and a record's fields are found by name through an index (a union of 3,000
 * records over a 0.5 MB array took 5.3 s, a record of 5,000 fields against 50,000 members 2.7 s,
 * both read name by name): the first branch of a full or short name wins, as before, and a nested
 * union, a union in a map, one met through a recursive record are each found. */
Test(avro, unions_and_fields_are_found_by_name)
{
    json_t *branches = json_loads(
        "[\"null\", {\"type\": \"record\", \"name\": \"R\", \"namespace\": \"a\", \"fields\": []},"
        " {\"type\": \"record\", \"name\": \"R\", \"namespace\": \"b\", \"fields\":"
        " [{\"name\": \"x\", \"type\": \"int\"}]}, \"string\","
        " {\"type\": \"record\", \"name\": \"Node\", \"fields\": [{\"name\": \"next\","
        " \"type\": [\"null\", \"Node\"]}, {\"name\": \"m\", \"type\": {\"type\": \"map\","
        " \"values\": [\"null\", \"string\"]}}]}]",
        0, NULL);
    cr_assert_not_null(branches);
    for (int i = 0; i < 3000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "Q%d", i);
        json_array_append_new(branches, json_pack("{s:s, s:s, s:s, s:[]}", "type", "record", "name",
                                                  name, "namespace", "ns", "fields"));
    }
    json_t *doc = json_pack("{s:s, s:o}", "type", "array", "items", branches);
    char *text = json_dumps(doc, JSON_COMPACT);
    struct cm_avro_schema *s = schema(text);
    static const struct {
        const char *value;
        const char *want; /* encoded bytes, or the error */
        size_t len;
    } cases[] = {
        /* one item: count 1 (0x02), branch index (zigzag), the value, end of blocks */
        {"[null]", "\x02\x00\x00", 3},
        {"[{\"R\": {}}]", "\x02\x02\x00", 3},               /* a.R: the first R */
        {"[{\"a.R\": {}}]", "\x02\x02\x00", 3},             /* by full name */
        {"[{\"b.R\": {\"x\": 1}}]", "\x02\x04\x02\x00", 4}, /* b.R, x = 1 */
        {"[{\"string\": \"\"}]", "\x02\x06\x00\x00", 4},    /* string "" */
        {"[{\"ns.Q2999\": {}}]", "\x02\xf8\x2e\x00", 4},    /* branch 3,004 */
        {"[{\"Q0\": {}}]", "\x02\x0a\x00", 3},              /* branch 5 */
        {"[{\"Node\": {\"next\": {\"Node\": {\"next\": null, \"m\": {\"k\": {\"string\": \"v\"}}}},"
         " \"m\": {}}}]",
         "\x02\x08\x02\x00\x02\x02k\x02\x02v\x00\x00\x00", 13},
        {"[{\"Q3000\": {}}]", "/0: 'Q3000' is not a branch of this union", 0},
        {"[{\"ns\": {}}]", "/0: 'ns' is not a branch of this union", 0},
        {"[{\"b.R\": {\"x\": 1, \"y\": 2}}]", "/0/b.R/y: is not a field of record R", 0},
        {"[{\"Node\": {\"next\": {\"int\": 1}, \"m\": {}}}]",
         "/0/Node/next: 'int' is not a branch of this union", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].value, 0, NULL);
        cr_assert_not_null(v, "%s", cases[i].value);
        char err[256];
        size_t len = 0;
        unsigned char *b = cm_avro_encode(s, v, -1, &len, err, sizeof(err));
        if (cases[i].len) {
            cr_assert_not_null(b, "%s: %s", cases[i].value, err);
            cr_assert_eq(len, cases[i].len, "%s: %zu bytes", cases[i].value, len);
            cr_assert_eq(memcmp(b, cases[i].want, len), 0, "%s", cases[i].value);
        } else {
            cr_assert_null(b, "%s", cases[i].value);
            cr_assert(strstr(err, cases[i].want), "%s: %s", cases[i].value, err);
        }
        free(b);
        json_decref(v);
    }
    cm_avro_schema_free(s);
    free(text);
    json_decref(doc);
}
