/* Unit tests for common/jsonscan: a table of valid, invalid and unsure documents (hostile input:
 * truncation, control characters, bad UTF-8, bad escapes and numbers, duplicate keys, deep
 * nesting), member and element spans, and its agreement with jansson on each row. */
#include "cm/jsonscan.h"

#include <criterion/criterion.h>
#include <jansson.h>
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
