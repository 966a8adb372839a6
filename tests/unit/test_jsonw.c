/* Unit tests of common/jsonw: the writer's text is byte for byte json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY)'s for a table of documents (escapes, control characters, UTF-8, integers at
 * the limits, nesting, empty containers), reals in their shortest form that reads back to the
 * same double (a table, and random doubles of every exponent), dumpb's length protocol, the
 * depth bound, the piecewise writer (cm_jw) giving the same bytes for the same documents, and
 * strings of every length to 40 with each byte that needs escaping (and a few that do not: UTF-8,
 * DEL, '/') at every position, for the writer that looks at 8 bytes at a time. */
#include "cm/jsonw.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* Every writer gives want for v (jansson's own text when want is NULL). */
static void writes_as(const json_t *v, const char *want_text)
{
    struct cm_jw w = {0};
    for (int round = 0; round < 2; round++) { /* the second time in a reused buffer */
        cm_jw_reset(&w);
        replay(&w, v);
        char *expect =
            want_text ? strdup(want_text) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t wlen;
        const char *wtext = cm_jw_text(&w, &wlen);
        cr_assert_eq(wlen, strlen(expect), "%s vs %s", wtext, expect);
        cr_assert_eq(memcmp(wtext, expect, wlen), 0, "%s vs %s", wtext, expect);
        free(expect);
    }
    cm_jw_free(&w);
    char *want = want_text ? strdup(want_text) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
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

static void same_as_jansson(const json_t *v)
{
    writes_as(v, NULL);
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
        /* reals whose shortest form is jansson's "%.17g" too */
        "[0.0,-0.0,1.5,0.5,1e20,1e100,1.7976931348623157e308,0.30000000000000004,-0.125,3."
        "0517578125e-5]",
        /* whole reals about 2^53, where the writer stops writing the digits itself */
        "[3.0,-42.0,1e15,9007199254740991.0,-9007199254740991.0,9007199254740992.0,"
        "-9007199254740992.0,9007199254740993.0,123456789012345678.0,4.5e15]",
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

/* A client's 0.1 stays 0.1: jansson's 0.10000000000000001 is the same double but another number
 * to PostgreSQL's numeric and jsonb, where the events end up. */
Test(jsonw, reals_take_the_fewest_digits_that_read_back)
{
    static const char *cases[][2] = {
        {"[0.1,5.003,1e-7,1e-5,123.456,123456789.123,2.675,0.3]",
         "[0.1,5.003,1e-7,1e-5,123.456,123456789.123,2.675,0.3]"},
        {"[0.10000000000000001,5.0030000000000001,9.9999999999999995e-8,1.0000000000000001e-5]",
         "[0.1,5.003,1e-7,1e-5]"},
        /* 16 and 17 digits where fewer do not read back; the extremes; subnormals */
        {"[0.30000000000000004,1.2345678901234567,9007199254740993.0,2.2250738585072014e-308]",
         "[0.30000000000000004,1.2345678901234567,9007199254740992.0,2.2250738585072014e-308]"},
        {"[4.9406564584124654e-324,5e-324,1e-310,-1e-320,1.7976931348623157e308]",
         "[5e-324,5e-324,1e-310,-1e-320,1.7976931348623157e308]"},
        /* whole reals from 2^53 on: the exponent form when it is the shorter */
        {"[1e16,1e17,-1e17,1e21,1.5e300,12345678901234567890.0]",
         "[1e16,1e17,-1e17,1e21,1.5e300,1.2345678901234567e19]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t err;
        json_t *v = json_loads(cases[i][0], JSON_DECODE_ANY, &err);
        cr_assert_not_null(v, "%s: %s", cases[i][0], err.text);
        writes_as(v, cases[i][1]);
        json_decref(v);
    }
}

/* Doubles of every exponent, from random bits: the text reads back to the same bits, and one
 * significant digit fewer would not. */
Test(jsonw, random_reals_read_back_and_are_shortest)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    size_t checked = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2) { /* a decimal as people write them: up to 9 digits, up to 12 after the point */
            v = (double)(x % 1000000000) / pow(10, (double)((x >> 59) % 13));
        } else {
            memcpy(&v, &x, sizeof(v));
        }
        if (!isfinite(v)) {
            continue;
        }
        struct cm_jw w = {0};
        cm_jw_real(&w, v);
        size_t len;
        const char *text = cm_jw_text(&w, &len);
        double back = strtod(text, NULL);
        cr_assert(memcmp(&back, &v, sizeof(v)) == 0, "%s is not %.17g", text, v);
        char sig[40]; /* the significant digits, without sign, point or the zeros around */
        size_t k = 0;
        for (const char *p = text; *p && *p != 'e'; p++) {
            if (*p >= '0' && *p <= '9' && (k > 0 || *p != '0')) {
                sig[k++] = *p;
            }
        }
        while (k > 0 && sig[k - 1] == '0') {
            k--;
        }
        cr_assert(strpbrk(text, ".e") != NULL, "%s: no point or exponent", text);
        int digits = (int)k;
        if (digits > 1) {
            char shorter[400];
            snprintf(shorter, sizeof(shorter), "%.*g", digits - 1, v);
            sig[k] = '\0';
            cr_assert_neq(strtod(shorter, NULL), v, "%s (%s): %s reads back too", text, sig,
                          shorter);
        }
        cm_jw_free(&w);
        checked++;
    }
    cr_assert_gt(checked, 190000);
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
