/* Unit tests of common/jsonw: the writer's text is byte for byte json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY)'s for a table of documents (escapes, control characters, UTF-8, integers at
 * the limits, reals of every shape, nesting, empty containers), dumpb's length protocol, the
 * depth bound, the piecewise writer (cm_jw) giving the same bytes for the same documents, and
 * strings of every length to 40 with each byte that needs escaping (and a few that do not: UTF-8,
 * DEL, '/') at every position, for the writer that looks at 8 bytes at a time. */
#include "cm/jsonw.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Writes v through the piecewise writer, value by value. */
static void replay(struct cm_jw *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        cm_jw_object(w);
        const char *k;
        size_t klen;
        json_t *m;
        json_object_keylen_foreach((json_t *)v, k, klen, m)
        {
            if (strlen(k) != klen) { /* a NUL in a name: cm_jw_key takes C strings */
                cm_jw_end(w);
                return;
            }
            cm_jw_key(w, k);
            replay(w, m);
        }
        cm_jw_end(w);
        return;
    }
    case JSON_ARRAY:
        cm_jw_array(w);
        for (size_t i = 0; i < json_array_size(v); i++) {
            replay(w, json_array_get(v, i));
        }
        cm_jw_end(w);
        return;
    case JSON_STRING:
        cm_jw_stringn(w, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        cm_jw_int(w, json_integer_value(v));
        return;
    case JSON_REAL:
        cm_jw_real(w, json_real_value(v));
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        cm_jw_bool(w, json_is_true(v));
        return;
    case JSON_NULL:
        cm_jw_null(w);
        return;
    }
}

static void same_as_jansson(const json_t *v)
{
    struct cm_jw w = {0};
    for (int round = 0; round < 2; round++) { /* the second time in a reused buffer */
        cm_jw_reset(&w);
        replay(&w, v);
        char *expect = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t wlen;
        const char *wtext = cm_jw_text(&w, &wlen);
        cr_assert_eq(wlen, strlen(expect));
        cr_assert_eq(memcmp(wtext, expect, wlen), 0, "%s vs %s", wtext, expect);
        free(expect);
    }
    cm_jw_free(&w);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len;
    char *got = cm_json_dumps(v, &len);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    cr_assert_eq(len, strlen(want));
    char buf[4096];
    size_t n = cm_json_dumpb(v, buf, sizeof(buf));
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(buf, want, n), 0);
    free(want);
    free(got);
}

Test(jsonw, documents_match_jansson)
{
    static const char *docs[] = {
        "{}",
        "[]",
        "[[],{}]",
        "{\"a\":{\"b\":[1,2,{\"c\":null}]}}",
        "\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"",
        "\"\\u0000\\u0001\\u001f\\u007f \\u00e9 \\u20ac \\ud83d\\ude00\"",
        "[true,false,null]",
        "[0,-1,9223372036854775807,-9223372036854775808]",
        "[0.0,-0.0,1.5,0.1,1e20,1e-5,1.7976931348623157e308,5e-324,123456789.123,1e100,-2.5e-7]",
        /* whole reals about 2^53, where the writer stops writing the digits itself */
        "[3.0,-42.0,1e15,9007199254740991.0,-9007199254740991.0,9007199254740992.0,"
        "-9007199254740992.0,9007199254740993.0,1e16,1e17,-1e17,123456789012345678.0,4.5e15]",
        "{\"type\":\"payment.created\",\"source\":\"/bench\",\"data\":{\"amount\":1500}}",
        "{\"\":\"empty key\",\"k\\u0001\":\"control in key\"}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t err;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        cr_assert_not_null(v, "%s: %s", docs[i], err.text);
        same_as_jansson(v);
        json_decref(v);
    }
    json_t *r = json_real(3.0); /* an integral real keeps its ".0" */
    same_as_jansson(r);
    json_decref(r);
    json_t *s = json_stringn("a\0b", 3); /* an embedded NUL */
    same_as_jansson(s);
    json_decref(s);
}

Test(jsonw, escapes_at_every_position_of_every_length)
{
    /* every byte that needs escaping, then neighbours of the tests' thresholds that do not */
    static const unsigned char specials[] = {0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, '"',
                                             '\\', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff};
    size_t checked = 0;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                char text[48];
                for (size_t i = 0; i < len; i++) {
                    text[i] = (char)('a' + i % 26);
                }
                text[pos] = (char)specials[k];
                if (specials[k] >= 0x80) { /* a whole UTF-8 sequence, so jansson takes it */
                    if (pos + 1 >= len) {
                        continue;
                    }
                    text[pos] = (char)0xc3;
                    text[pos + 1] = (char)(specials[k] == 0x80 ? 0xa9 : 0xbf);
                }
                json_t *v = json_stringn(text, len);
                cr_assert_not_null(v, "length %zu, byte %#x at %zu", len, specials[k], pos);
                same_as_jansson(v);
                json_decref(v);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 10000, "%zu strings", checked);
}

Test(jsonw, piecewise_writer_embeds_values)
{
    json_t *data = json_pack("{s:[i,f,s],s:n}", "a", 1, 2.5, "x\"y", "b");
    struct cm_jw w = {0};
    cm_jw_object(&w);
    cm_jw_key(&w, "id");
    cm_jw_string(&w, "e1");
    cm_jw_key(&w, "data");
    cm_jw_value(&w, data);
    cm_jw_key(&w, "list");
    cm_jw_array(&w);
    cm_jw_value(&w, data);
    cm_jw_int(&w, -3);
    cm_jw_real(&w, NAN);
    cm_jw_end(&w);
    cm_jw_end(&w);
    cr_assert_str_eq(cm_jw_text(&w, NULL), "{\"id\":\"e1\",\"data\":{\"a\":[1,2.5,\"x\\\"y\"],"
                                           "\"b\":null},\"list\":[{\"a\":[1,2.5,\"x\\\"y\"],"
                                           "\"b\":null},-3,null]}");
    cm_jw_free(&w);
    json_decref(data);
}

Test(jsonw, dumpb_reports_the_length_it_needs)
{
    json_t *v = json_pack("{s:s}", "key", "a value longer than the buffer");
    char small[8];
    size_t need = cm_json_dumpb(v, small, sizeof(small));
    cr_assert_eq(need, strlen("{\"key\":\"a value longer than the buffer\"}"));
    cr_assert_eq(cm_json_dumpb(NULL, small, sizeof(small)), 0);
    cr_assert_null(cm_json_dumps(NULL, NULL));
    json_decref(v);
}

Test(jsonw, depth_is_bounded)
{
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 3000; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    cr_assert_null(cm_json_dumps(root, NULL), "3000 levels are refused");
    json_decref(root);
}
