/* Unit tests for common/jsonscan: a table of valid, invalid and unsure documents (hostile input:
 * truncation, control characters, bad UTF-8, bad escapes and numbers, duplicate keys, deep
 * nesting), member and element spans, and its agreement with jansson on each row; and
 * cm_jscan_load giving exactly what json_loadb gives. */
#include "cm/jsonscan.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum want { OK, UNSURE, INVALID, TOO_DEEP };

static void check(const char *text, size_t len, enum want want)
{
    struct cm_jscan_span v;
    int rc = cm_jscan_document(text, len, &v);
    enum want got = rc == CM_JSCAN_INVALID    ? INVALID
                    : rc == CM_JSCAN_TOO_DEEP ? TOO_DEEP
                    : v.unsure                ? UNSURE
                                              : OK;
    cr_assert_eq(got, want, "%.*s: got %d, want %d", (int)len, text, got, want);
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (want == OK) {
        cr_assert_not_null(j, "jansson refuses what the scanner accepts: %.*s", (int)len, text);
    } else if (want == INVALID) {
        cr_assert_null(j, "jansson accepts what the scanner refuses: %.*s", (int)len, text);
    }
    json_decref(j);
}

Test(jsonscan, table)
{
    static const struct {
        const char *text;
        enum want want;
    } rows[] = {
        {"{}", OK},
        {" [ ] ", OK},
        {"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", OK},
        {"\"plain\"", OK},
        {"-0", OK},
        {"1.5e-10", OK},
        {"123456789012345678", OK},
        {"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"", OK},
        {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", OK},
        {"{\"a\":1,\"A\":2}", OK},
        /* only jansson can say */
        {"1234567890123456789", UNSURE},
        {"1e400", UNSURE},
        {"12345678901234567890.5", OK},
        {"1234567890123456789012345.5", UNSURE},
        {"\"\\u0000\"", UNSURE},
        {"\"\\ud83d\\ude00\"", UNSURE},
        {"\"\\ud83d\"", UNSURE},
        {"{\"\\u0061\":1,\"a\":2}", UNSURE},
        /* refused */
        {"", INVALID},
        {"   ", INVALID},
        {"{", INVALID},
        {"{\"a\":", INVALID},
        {"{\"a\":1", INVALID},
        {"{\"a\":1,}", INVALID},
        {"[1,]", INVALID},
        {"[1 2]", INVALID},
        {"{\"a\" 1}", INVALID},
        {"{a:1}", INVALID},
        {"{\"a\":1,\"a\":2}", INVALID},
        {"{\"a\":{\"b\":1,\"b\":1}}", INVALID},
        {"\"unterminated", INVALID},
        {"\"tab\there\"", INVALID},
        {"\"\\x\"", INVALID},
        {"\"\\u12\"", INVALID},
        {"\"\\u12g4\"", INVALID},
        {"\"\xc3\"", INVALID},
        {"\"\xc0\xaf\"", INVALID},
        {"\"\xed\xa0\x80\"", INVALID},
        {"\"\xf4\x90\x80\x80\"", INVALID},
        {"\"\xff\"", INVALID},
        {"01", INVALID},
        {"-", INVALID},
        {"1.", INVALID},
        {".5", INVALID},
        {"1e", INVALID},
        {"+1", INVALID},
        {"tru", INVALID},
        {"truex", INVALID},
        {"nul", INVALID},
        {"[1]x", INVALID},
        {"{}{}", INVALID},
        {"'a'", INVALID},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        check(rows[i].text, strlen(rows[i].text), rows[i].want);
    }
    check("\"a\0b\"", 5, INVALID); /* a raw NUL inside a string */
}

Test(jsonscan, nesting_past_the_limit_is_left_to_jansson)
{
    char deep[2 * CM_JSCAN_MAX_DEPTH + 3];
    size_t n = CM_JSCAN_MAX_DEPTH + 1;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    check(deep, 2 * n, TOO_DEEP);
    check(deep + 1, 2 * n - 2, OK); /* exactly at the limit */
    /* a million unclosed brackets: no recursion past the limit */
    size_t big = 1 << 20;
    char *bomb = malloc(big);
    memset(bomb, '[', big);
    struct cm_jscan_span v;
    cr_assert_eq(cm_jscan_document(bomb, big, &v), CM_JSCAN_TOO_DEEP);
    free(bomb);
}

Test(jsonscan, members_and_elements)
{
    const char *text =
        " [ {\"type\" : \"t\", \"n\":-1.5e3, \"o\":{\"x\":[1,\"]\"]}, \"s\":\"q\\\"}\"},"
        "7, \"\\u0000\" ] ";
    struct cm_jscan_span e[4];
    size_t n;
    cr_assert_eq(cm_jscan_array(text, strlen(text), e, 4, &n, NULL, 0), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(e[0].type, 'o');
    cr_assert_eq(e[0].unsure, 0);
    cr_assert_eq(e[1].type, 'n');
    cr_assert(e[1].integer);
    cr_assert(e[2].unsure, "only the unsure element is marked");
    struct cm_jscan_member m[8];
    cr_assert_eq(cm_jscan_members(&e[0], m, 8, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(m[0].key.len, 4);
    cr_assert_eq(memcmp(m[0].key.text, "type", 4), 0);
    cr_assert_eq(m[0].value.type, 's');
    cr_assert_eq(m[0].value.len, 1);
    cr_assert_eq(m[1].value.type, 'n');
    cr_assert_eq(m[1].value.integer, 0);
    cr_assert_eq(m[1].value.len, 6);
    cr_assert_eq(m[2].value.type, 'o');
    cr_assert_eq(m[2].value.len, strlen("{\"x\":[1,\"]\"]}"));
    cr_assert_eq(m[3].value.type, 's');
    cr_assert(m[3].value.escaped);
    cr_assert_eq(m[3].value.len, strlen("q\\\"}"));
    cr_assert_eq(cm_jscan_members(&e[0], m, 3, &n), CM_JSCAN_TOO_MANY);
    cr_assert_null(e[0].members, "nothing gathered without a pool");
    /* gathered while scanning: the same spans, nested objects' members not among them */
    struct cm_jscan_member pool[8];
    cr_assert_eq(cm_jscan_array(text, strlen(text), e, 4, &n, pool, 8), 0);
    cr_assert_eq(e[0].members, pool);
    cr_assert_eq(e[0].nmembers, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(pool[i].key.text, m[i].key.text);
        cr_assert_eq(pool[i].value.text, m[i].value.text);
        cr_assert_eq(pool[i].value.len, m[i].value.len);
    }
    /* no room: left for a second pass */
    cr_assert_eq(cm_jscan_array(text, strlen(text), e, 4, &n, pool, 3), 0);
    cr_assert_null(e[0].members);
    cr_assert_eq(cm_jscan_array(text, strlen(text), e, 2, &n, NULL, 0), CM_JSCAN_TOO_MANY);
    cr_assert_eq(cm_jscan_array("{}", 2, e, 2, &n, NULL, 0), CM_JSCAN_INVALID);
}

Test(jsonscan, many_keys_are_unsure_not_wrong)
{
    char text[4096];
    size_t at = 0;
    text[at++] = '{';
    for (int i = 0; i < CM_JSCAN_MAX_KEYS + 1; i++) {
        at += (size_t)snprintf(text + at, sizeof(text) - at, "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    text[at++] = '}';
    check(text, at, UNSURE);
}

/* cm_jscan_load reads text as json_loadb(JSON_REJECT_DUPLICATES) does: NULL for both, or equal
 * values written out the same (member order, reals' digits). */
static void same_as_jansson(const char *text, size_t len)
{
    json_t *want = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *got = cm_jscan_load(text, len);
    cr_assert_eq(!want, !got, "%.*s: jansson %s, cm_jscan_load %s", (int)len, text,
                 want ? "reads it" : "refuses it", got ? "reads it" : "refuses it");
    if (want) {
        char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_assert(json_equal(want, got), "%.*s", (int)len, text);
        cr_assert_str_eq(b, a);
        free(a);
        free(b);
    }
    json_decref(want);
    json_decref(got);
}

Test(jsonscan, load_reads_as_jansson)
{
    static const char *docs[] = {
        "{\"specversion\":\"1.0\",\"id\":\"b1\",\"time\":\"2026-01-01T00:00:00.001Z\","
        "\"data\":{\"merchant\":\"m1\",\"amount\":478}}",
        "{\"z\":1,\"a\":2,\"m\":3}", /* member order kept */
        "[1,-0,0,-1,9223372036854775807,-9223372036854775808,123456789012345678]",
        "[2.5,-0.0,1e2,1E+2,1e-2,2.5e-3,0.1,1.7976931348623157e308,4.9e-324,1e-99,123.456e7]",
        "{\"s\":\"\\u20ac\\u00e9\\\"\\\\\\/\\b\\f\\n\\r\\t "
        "x\",\"u\":\"\\u0041\\u07ff\\u0800\\uffff\"}",
        "{\"e\":\"\\ud83d\\ude00\",\"n\":\"a\\u0000b\"}", /* surrogates, NUL: jansson's */
        "{\"k\\u00e9\":1,\"k\\u00e9x\":2}",               /* escaped keys: jansson's */
        "{\"a\":1,\"a\":2}",                              /* duplicate key: refused */
        "{\"a\":[true,false,null,{},[],{\"b\":[[],[{}]]}]}",
        " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n",
        "[1e400]",
        "[12345678901234567890]",
        "\"a string\"", /* scalars at the top: json_loadb refuses them */
        "42",
        "null",
        "",
        "{",
        "{\"a\":}",
        "[1,]",
        "{\"a\":1}x",
        "[\"\xff\"]",  /* not UTF-8 */
        "[\"a\x01\"]", /* a control character */
        "[01]",
        "{\"a\":tru}",
    };
    size_t read = 0;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        same_as_jansson(docs[i], strlen(docs[i]));
        json_t *v = cm_jscan_load(docs[i], strlen(docs[i]));
        read += v != NULL;
        json_decref(v);
    }
    cr_assert_eq(read, 8, "the rows jansson reads");
    /* a NUL byte after a number, which jansson reads past */
    static const char nul[] = "[1.5,-0.0e-12\0,2]";
    same_as_jansson(nul, sizeof(nul) - 1);
    same_as_jansson("{\"a\":1}\0", 8);
    cr_assert_null(cm_jscan_load(NULL, 0));
}

Test(jsonscan, load_long_strings_keys_and_deep_documents)
{
    char *doc = malloc(20000);
    /* a key and a string past the loader's stack buffers, with and without escapes */
    size_t n = (size_t)sprintf(doc, "{\"");
    for (int i = 0; i < 300; i++) {
        doc[n++] = (char)('a' + i % 26);
    }
    n += (size_t)sprintf(doc + n, "\":\"");
    for (int i = 0; i < 300; i++) {
        n += (size_t)sprintf(doc + n, i % 7 ? "x" : "\\u00e9\\n");
    }
    n += (size_t)sprintf(doc + n, "\",\"plain\":\"");
    for (int i = 0; i < 1000; i++) {
        doc[n++] = 'p';
    }
    n += (size_t)sprintf(doc + n, "\"}");
    same_as_jansson(doc, n);
    /* 70 keys (more than the scanner tracks) and 70 levels (deeper than it goes) */
    n = (size_t)sprintf(doc, "{");
    for (int i = 0; i < 70; i++) {
        n += (size_t)sprintf(doc + n, "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    n += (size_t)sprintf(doc + n, "}");
    same_as_jansson(doc, n);
    n = 0;
    for (int i = 0; i < 70; i++) {
        doc[n++] = '[';
    }
    for (int i = 0; i < 70; i++) {
        doc[n++] = ']';
    }
    same_as_jansson(doc, n);
    free(doc);
}
