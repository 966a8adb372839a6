/* Unit tests for common/expr: a table of expressions evaluated against one event, covering every
 * operator, function, precedence, CEL's error semantics and hostile input; compile errors with
 * their positions; the bool/string entry points; several threads on one compiled expression. */
#include "cm/expr.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *EVENT =
    "{\"specversion\":\"1.0\",\"id\":\"e1\",\"type\":\"payment.created\",\"source\":\"/shop\","
    "\"subject\":\"order-7\",\"time\":\"2026-01-02T03:04:05.678Z\",\"tenant\":\"acme\","
    "\"data\":{\"amount\":1500,\"price\":12.5,\"currency\":\"EUR\","
    "\"items\":[{\"sku\":\"A1\",\"qty\":2},{\"sku\":\"B2\",\"qty\":1}],"
    "\"odd key\":\"v\",\"nested\":{\"deep\":{\"x\":true}},\"tags\":[\"a\",\"b\"],\"zero\":0,"
    "\"neg\":-3,\"nul\":null,\"text\":\"Hello W\\u00f6rld\",\"big\":9223372036854775807,"
    "\"small\":-9223372036854775808,\"flag\":false,\"list\":[1,2.0,\"3\"]}}";

/* expected: JSON text of the value, "error: <substring>" for an evaluation error, or
 * "compile: <line:col: substring>" for a compile error. */
struct tcase {
    const char *expr;
    const char *expected;
};

static const struct tcase cases[] = {
    /* literals */
    {"null", "null"},
    {"true", "true"},
    {"false", "false"},
    {"0", "0"},
    {"42", "42"},
    {"-42", "-42"},
    {"0x1F", "31"},
    {"9223372036854775807", "9223372036854775807"},
    {"-9223372036854775808", "-9223372036854775808"},
    {"1.5", "1.5"},
    {"1e3", "1000.0"},
    {"2.5e-1", "0.25"},
    {".5", "0.5"},
    {"\"abc\"", "\"abc\""},
    {"'abc'", "\"abc\""},
    {"\"a\\nb\"", "\"a\\nb\""},
    {"\"tab\\there\"", "\"tab\\there\""},
    {"\"\\x41\\u00e9\\U0001F600\"", "\"A\\u00e9\\ud83d\\ude00\""},
    {"\"\\101\"", "\"A\""},
    {"'it\\'s'", "\"it's\""},
    {"r\"a\\nb\"", "\"a\\\\nb\""},
    {"\"\"\"multi\nline\"\"\"", "\"multi\\nline\""},
    {"\"\"", "\"\""},
    {"[]", "[]"},
    {"[1, 'a', true, null]", "[1,\"a\",true,null]"},
    {"[1, 2,]", "[1,2]"},
    {"{}", "{}"},
    {"{'a': 1, 'b': [2]}", "{\"a\":1,\"b\":[2]}"},
    /* fields and indexes */
    {"type", "\"payment.created\""},
    {".type", "\"payment.created\""},
    {"data.amount", "1500"},
    {"data.price", "12.5"},
    {"data.items[0].sku", "\"A1\""},
    {"data.items[1]['qty']", "1"},
    {"data[\"odd key\"]", "\"v\""},
    {"data.nested.deep.x", "true"},
    {"data.nul", "null"},
    {"data.items[2]", "error: index out of range: 2"},
    {"data.items[-1]", "error: index out of range"},
    {"data.items['x']", "error: list index must be an int"},
    {"data.items[1.0].sku", "\"B2\""},
    {"missing", "error: no such key: missing"},
    {"data.missing", "error: no such key: missing"},
    {"data.missing.deeper", "error: no such key: missing"},
    {"type.length", "error: type string has no field 'length'"},
    {"data.amount[0]", "error: type int cannot be indexed"},
    {"data[1]", "error: no such key"},
    {"{'a': 1}.a", "1"},
    {"[10, 20][1]", "20"},
    /* has() */
    {"has(data.amount)", "true"},
    {"has(data.missing)", "false"},
    {"has(data.nul)", "true"},
    {"has(data.nested.deep)", "true"},
    {"has(data.missing.x)", "error: no such key: missing"},
    {"has(type.x)", "error: has() needs a map"},
    {"has(subject)", "true"},
    {"has(partitionkey)", "false"},
    {"has(data) && has(data.amount)", "true"},
    /* arithmetic */
    {"1 + 2", "3"},
    {"7 - 10", "-3"},
    {"6 * 7", "42"},
    {"7 / 2", "3"},
    {"-7 / 2", "-3"},
    {"7 % 3", "1"},
    {"-7 % 3", "-1"},
    {"1.5 + 2.25", "3.75"},
    {"1.0 / 4.0", "0.25"},
    {"2.0 * data.price", "25.0"},
    {"data.amount + 500", "2000"},
    {"data.amount * data.amount", "2250000"},
    {"1 + 2 * 3", "7"},
    {"(1 + 2) * 3", "9"},
    {"10 - 2 - 3", "5"},
    {"100 / 10 / 5", "2"},
    {"2 * 3 % 4", "2"},
    {"-(3 + 4)", "-7"},
    {"--3", "3"},
    {"-data.neg", "3"},
    {"-data.price", "-12.5"},
    {"'ab' + 'cd'", "\"abcd\""},
    {"type + '/' + source", "\"payment.created//shop\""},
    {"[1] + [2, 3]", "[1,2,3]"},
    {"data.tags + ['c']", "[\"a\",\"b\",\"c\"]"},
    /* CEL: no implicit int/double mixing in arithmetic */
    {"1 + 1.0", "error: no such overload: int + double"},
    {"data.price * 2", "error: no such overload: double * int"},
    {"'a' + 1", "error: no such overload: string + int"},
    {"true + true", "error: no such overload: bool + bool"},
    {"1.5 % 1.0", "error: no such overload: double % double"},
    {"-'a'", "error: no such overload: -string"},
    /* overflow and division */
    {"9223372036854775807 + 1", "error: integer overflow"},
    {"data.big + 1", "error: integer overflow"},
    {"data.small - 1", "error: integer overflow"},
    {"-data.small", "error: integer overflow"},
    {"data.big * 2", "error: integer overflow"},
    {"data.small / -1", "error: integer overflow"},
    {"data.small % -1", "error: integer overflow"},
    {"1 / 0", "error: division by zero"},
    {"1 % 0", "error: modulus by zero"},
    {"data.amount / data.zero", "error: division by zero"},
    {"1.0 / 0.0 > 1e308", "true"},
    {"9223372036854775808", "compile: 1:1: integer literal out of range"},
    {"99999999999999999999", "compile: 1:1: integer literal out of range"},
    /* comparisons */
    {"1 < 2", "true"},
    {"2 <= 2", "true"},
    {"3 > 4", "false"},
    {"3 >= 4", "false"},
    {"1 == 1", "true"},
    {"1 != 1", "false"},
    {"'a' < 'b'", "true"},
    {"'ab' < 'a'", "false"},
    {"'' < 'a'", "true"},
    {"'é' > 'z'", "true"},
    {"false < true", "true"},
    {"type == 'payment.created'", "true"},
    {"type != 'payment.created'", "false"},
    {"data.amount > 1000", "true"},
    {"data.amount > 1000.5", "true"},
    {"data.price > 12", "true"},
    {"data.price < 13", "true"},
    {"1 == 1.0", "true"},
    {"2 == 2.5", "false"},
    {"data.amount == 1500.0", "true"},
    {"data.big < 9.3e18", "true"},
    {"data.big == 9223372036854775807.0", "false"},
    {"'1' == 1", "false"},
    {"null == null", "true"},
    {"data.nul == null", "true"},
    {"type == null", "false"},
    {"[1, 2] == [1, 2]", "true"},
    {"[1, 2] == [2, 1]", "false"},
    {"[1, 2.0] == [1.0, 2]", "true"},
    {"{'a': 1} == {'a': 1}", "true"},
    {"{'a': 1} == {'a': 2}", "false"},
    {"data.items[0] == {'sku': 'A1', 'qty': 2}", "true"},
    {"'a' < 1", "error: no such overload: string < int"},
    {"[1] < [2]", "error: no such overload: list < list"},
    {"null < 1", "error: no such overload"},
    {"1 < 2 == true", "true"},
    /* in */
    {"'a' in data.tags", "true"},
    {"'z' in data.tags", "false"},
    {"type in ['payment.created', 'x']", "true"},
    {"2 in [1, 2.0]", "true"},
    {"3 in data.list", "false"},
    {"'amount' in data", "true"},
    {"'nope' in data", "false"},
    {"1 in data", "false"},
    {"1 in 'abc'", "error: no such overload: int in string"},
    {"'sku' in data.items[0]", "true"},
    /* logic and CEL's error absorption */
    {"true && true", "true"},
    {"true && false", "false"},
    {"false || true", "true"},
    {"false || false", "false"},
    {"!true", "false"},
    {"!!true", "true"},
    {"!data.flag", "true"},
    {"false && missing", "false"},
    {"missing && false", "false"},
    {"true || missing", "true"},
    {"missing || true", "true"},
    {"true && missing", "error: no such key: missing"},
    {"missing && true", "error: no such key: missing"},
    {"false || missing", "error: no such key: missing"},
    {"missing || false", "error: no such key: missing"},
    {"1 / 0 == 1 || true", "true"},
    {"1 / 0 == 1 && false", "false"},
    {"!missing", "error: no such key: missing"},
    {"!1", "error: no such overload: !int"},
    {"1 && true", "error: no such overload: int && bool"},
    {"'x' || false", "error: no such overload"},
    {"true || false && false", "true"},
    {"(true || false) && false", "false"},
    {"!false && false", "false"},
    {"1 < 2 && 3 < 4", "true"},
    /* conditional */
    {"true ? 1 : 2", "1"},
    {"false ? 1 : 2", "2"},
    {"data.amount > 1000 ? 'big' : 'small'", "\"big\""},
    {"false ? 1 : true ? 2 : 3", "2"},
    {"true ? missing : 1", "error: no such key: missing"},
    {"false ? missing : 1", "1"},
    {"1 ? 2 : 3", "error: condition must be bool"},
    {"missing ? 1 : 2", "error: no such key: missing"},
    {"true || false ? 'a' : 'b'", "\"a\""},
    /* size */
    {"size(type)", "15"},
    {"type.size()", "15"},
    {"size(data.text)", "11"},
    {"size(data.items)", "2"},
    {"size(data)", "15"},
    {"size('')", "0"},
    {"size(1)", "error: no such overload: size(int)"},
    {"size(data.items) > 1", "true"},
    /* string functions */
    {"type.startsWith('payment.')", "true"},
    {"type.startsWith('order.')", "false"},
    {"type.endsWith('.created')", "true"},
    {"type.endsWith('payment.created.x')", "false"},
    {"source.contains('sho')", "true"},
    {"source.contains('')", "true"},
    {"source.contains('xyz')", "false"},
    {"type.startsWith(1)", "error: no such overload"},
    {"data.amount.startsWith('1')", "error: no such overload"},
    {"lower('ABC def')", "\"abc def\""},
    {"upper(data.currency)", "\"EUR\""},
    {"data.text.lowerAscii()", "\"hello w\\u00f6rld\""},
    {"type.upper()", "\"PAYMENT.CREATED\""},
    {"lower(1)", "error: no such overload: lower(int)"},
    /* matches */
    {"type.matches('^payment\\\\.')", "true"},
    {"matches(type, 'created$')", "true"},
    {"type.matches('^order')", "false"},
    {"subject.matches('order-[0-9]+')", "true"},
    {"data.text.matches('W.rld')", "true"},
    {"type.matches(source)", "false"},
    {"type.matches('(')", "compile: 1:14: invalid regex"},
    {"type.matches(data.currency + '(')", "error: invalid regex"},
    {"data.amount.matches('1')", "error: no such overload"},
    /* catastrophic backtracking is cut off by the match limit: an error, not a hang */
    {"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.matches('^(a+)+$')",
     "error: regex match failed: match limit exceeded"},
    /* conversions */
    {"int('42')", "42"},
    {"int('-7')", "-7"},
    {"int(' 4')", "error: string is not an int"},
    {"int('4x')", "error: string is not an int"},
    {"int('')", "error: string is not an int"},
    {"int('99999999999999999999')", "error: string is not an int"},
    {"int(3.9)", "3"},
    {"int(-3.9)", "-3"},
    {"int(1e19)", "error: double out of int range"},
    {"int(data.price)", "12"},
    {"int(true)", "error: no such overload: int(bool)"},
    {"int(timestamp('2026-01-01T00:00:00Z'))", "1767225600"},
    {"double(2)", "2.0"},
    {"double('2.5')", "2.5"},
    {"double('x')", "error: string is not a double"},
    {"double(data.amount) * 1.5", "2250.0"},
    {"string(42)", "\"42\""},
    {"string(-1)", "\"-1\""},
    {"string(1.5)", "\"1.5\""},
    {"string(0.1)", "\"0.1\""},
    {"string(0.1 + 0.7)", "\"0.7999999999999999\""},
    {"string(1e-7)", "\"1e-07\""},
    {"string(true)", "\"true\""},
    {"string(type)", "\"payment.created\""},
    {"string(duration('90m'))", "\"5400s\""},
    {"string(timestamp('2026-01-02T03:04:05.678Z'))", "\"2026-01-02T03:04:05.678Z\""},
    {"string(null)", "error: no such overload: string(null)"},
    {"string([1])", "error: no such overload: string(list)"},
    {"bool('true')", "true"},
    {"bool('f')", "false"},
    {"bool('yes')", "error: string is not a bool"},
    {"string(data.amount) + ' ' + data.currency", "\"1500 EUR\""},
    /* timestamps and durations */
    {"timestamp('2026-01-01T00:00:00Z')", "\"2026-01-01T00:00:00Z\""},
    {"timestamp(time)", "\"2026-01-02T03:04:05.678Z\""},
    {"timestamp('2026-01-01T00:00:00.123456789Z')", "\"2026-01-01T00:00:00.123456789Z\""},
    {"timestamp('2026-01-01T01:00:00+01:00') == timestamp('2026-01-01T00:00:00Z')", "true"},
    {"timestamp(time) > timestamp('2026-01-01T00:00:00Z')", "true"},
    {"timestamp(time) - timestamp('2026-01-02T03:04:05Z')", "\"0.678s\""},
    {"timestamp('2026-01-01T00:00:00Z') + duration('1h30m')", "\"2026-01-01T01:30:00Z\""},
    {"duration('1h30m') + timestamp('2026-01-01T00:00:00Z')", "\"2026-01-01T01:30:00Z\""},
    {"timestamp('2026-01-01T00:00:00Z') - duration('1s')", "\"2025-12-31T23:59:59Z\""},
    {"timestamp('2026-01-01T00:00:00Z') + timestamp('2026-01-01T00:00:00Z')",
     "error: no such overload: timestamp + timestamp"},
    {"duration('5m')", "\"300s\""},
    {"duration('1.5s')", "\"1.5s\""},
    {"duration('100ms')", "\"0.1s\""},
    {"duration('-2h')", "\"-7200s\""},
    {"duration('1h1m1s1ms1us1ns')", "\"3661.001001001s\""},
    {"duration('0')", "\"0s\""},
    {"duration('5') ", "error: string is not a duration"},
    {"duration('5x')", "error: string is not a duration"},
    {"duration('')", "error: string is not a duration"},
    {"duration('9999999999h')", "error: string is not a duration"},
    {"duration('1m') > duration('59s')", "true"},
    {"duration('1m') == duration('60s')", "true"},
    {"duration('1h') - duration('30m')", "\"1800s\""},
    {"-duration('1s')", "\"-1s\""},
    {"duration('1h') < timestamp(time)", "error: no such overload: duration < timestamp"},
    {"timestamp('2026-13-01T00:00:00Z')", "error: string is not an RFC 3339 timestamp"},
    {"timestamp('yesterday')", "error: string is not an RFC 3339 timestamp"},
    {"timestamp('3000-01-01T00:00:00Z')", "error: out of range"},
    {"timestamp(0)", "\"1970-01-01T00:00:00Z\""},
    {"int(timestamp(time) - timestamp('2026-01-01T00:00:00Z') > duration('24h'))",
     "error: no such overload: int(bool)"},
    /* lists and maps built at run time */
    {"[type, source]", "[\"payment.created\",\"/shop\"]"},
    {"[type, missing]", "error: no such key: missing"},
    {"{'t': type, 'n': size(data.items)}", "{\"t\":\"payment.created\",\"n\":2}"},
    {"{type: 1}", "{\"payment.created\":1}"},
    {"{1: 2}", "error: map keys must be strings"},
    {"{'a': 1, 'a': 2}", "error: duplicate map key"},
    {"[1.0 / 0.0]", "error: infinity has no JSON form"},
    /* precedence */
    {"1 + 2 == 3 && 'a' < 'b'", "true"},
    {"!(1 < 2) || 2 * 3 == 6", "true"},
    {"-1 * -1", "1"},
    {"2 + 3 * 4 - 10 / 2 % 3", "12"},
    {"1 < 2 ? 'y' : 'n'", "\"y\""},
    {"data.items[0].qty * 3 + data.items[1].qty", "7"},
    /* comments and whitespace */
    {"1 + // comment\n 2", "3"},
    {"  \t\n type  ", "\"payment.created\""},
    /* compile errors with positions */
    {"", "compile: 1:1: unexpected end of input"},
    {"   ", "compile: 1:4: unexpected end of input"},
    {"1 +", "compile: 1:4: unexpected end of input"},
    {"(1 + 2", "compile: 1:7: expected ')'"},
    {"foo(1)", "compile: 1:1: unknown function 'foo'"},
    {"size()", "compile: 1:1: size() takes 1 argument, found 0"},
    {"type.startsWith()", "compile: 1:6: startsWith() takes 1 argument"},
    {"startsWith(type, 'a')", "compile: 1:1: startsWith() cannot be called"},
    {"1.size(2)", "compile: 1:3: size() takes 0 arguments"},
    {"type ==", "compile: 1:8: unexpected end of input"},
    {"a b", "compile: 1:3: unexpected 'b' after the expression"},
    {"1 2", "compile: 1:3: unexpected '2' after the expression"},
    {"type = 'x'", "compile: 1:6: unexpected character '='"},
    {"type & x", "compile: 1:6: unexpected character '&'"},
    {"'unterminated", "compile: 1:1: unterminated string literal"},
    {"'bad \\q'", "compile: 1:6: invalid escape"},
    {"'\\uD800'", "compile: 1:2: escape is not a valid Unicode code point"},
    {"\"line\nbreak\"", "compile: 1:6: newline in string literal"},
    {"b'bytes'", "compile: 1:1: bytes literals are not supported"},
    {"1u", "compile: 1:1: unsigned integer literals"},
    {"12abc", "compile: 1:1: invalid number literal"},
    {"if", "compile: 1:1: 'if' is a reserved word"},
    {"data.", "compile: 1:6: expected a field name after '.'"},
    {"[1, 2", "compile: 1:6: expected ']'"},
    {"{'a' 1}", "compile: 1:6: expected ':'"},
    {"true ? 1", "compile: 1:9: expected ':'"},
    {")", "compile: 1:1: unexpected ')'"},
    {"1 +\n  * 2", "compile: 2:3: unexpected '*'"},
    {"é", "compile: 1:1: unexpected non-ASCII character"},
    {"'\xff'", "compile: 1:2: invalid UTF-8 in string literal"},
    {"'\xc3\x28'", "compile: 1:2: invalid UTF-8 in string literal"},
    {"'\xed\xa0\x80'", "compile: 1:2: invalid UTF-8 in string literal"},
    {"\x01", "compile: 1:1: unexpected control character 0x01"},
    {"1e999", "compile: 1:1: double literal out of range"},
    {"0x", "compile: 1:1: invalid hex literal"},
    {"has(1)", "compile: 1:1: has() takes one field selection"},
    {"type.matches(1)", "compile: 1:6: matches() needs a string pattern"},
};

static json_t *event(void)
{
    json_error_t err;
    json_t *ev = json_loads(EVENT, 0, &err);
    cr_assert_not_null(ev, "fixture: %s", err.text);
    return ev;
}

static int run_case(const struct tcase *c, const json_t *ev, char *report, size_t len)
{
    struct cm_expr_error err;
    struct cm_expr *e = cm_expr_compile(c->expr, &err);
    char got[512];
    if (!e) {
        char pos[256];
        snprintf(got, sizeof(got), "compile: %s", cm_expr_error_format(&err, pos, sizeof(pos)));
    } else {
        char why[256];
        json_t *v = cm_expr_eval_json(e, ev, why, sizeof(why));
        if (v) {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
            snprintf(got, sizeof(got), "%s", text);
            free(text);
            json_decref(v);
        } else {
            snprintf(got, sizeof(got), "error: %s", why);
        }
        cm_expr_free(e);
    }
    int ok;
    if (strncmp(c->expected, "error: ", 7) == 0 || strncmp(c->expected, "compile: ", 9) == 0) {
        size_t plen = strchr(c->expected, ':') - c->expected;
        ok =
            strncmp(got, c->expected, plen + 1) == 0 && strstr(got, c->expected + plen + 2) != NULL;
    } else {
        json_t *want = json_loads(c->expected, JSON_DECODE_ANY, NULL);
        json_t *have = json_loads(got, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(want, "bad expectation %s", c->expected);
        ok = have && json_equal(want, have) &&
             json_typeof(want) == json_typeof(have); /* 1 and 1.0 differ */
        json_decref(want);
        json_decref(have);
    }
    if (!ok) {
        snprintf(report, len, "%s\n    expected: %s\n    got:      %s", c->expr, c->expected, got);
    }
    return ok;
}

Test(expr, table)
{
    json_t *ev = event();
    size_t n = sizeof(cases) / sizeof(cases[0]);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        char report[1024];
        if (!run_case(&cases[i], ev, report, sizeof(report))) {
            cr_log_error("case %zu: %s", i, report);
            failed++;
        }
    }
    json_decref(ev);
    cr_assert_geq(n, 200, "at least 200 cases (%zu)", n);
    cr_assert_eq(failed, 0, "%zu of %zu cases failed", failed, n);
}

Test(expr, filter_semantics)
{
    json_t *ev = event();
    struct cm_expr *e = cm_expr_compile("type == 'payment.created' && data.amount > 1000", NULL);
    cr_assert_eq(cm_expr_eval_bool(e, ev, NULL, 0), CM_EXPR_TRUE);
    cm_expr_free(e);
    char why[128] = "";
    e = cm_expr_compile("data.missing > 1", NULL);
    cr_assert_eq(cm_expr_eval_bool(e, ev, why, sizeof(why)), CM_EXPR_ERROR);
    cr_assert(strstr(why, "no such key") != NULL, "%s", why);
    cm_expr_free(e);
    e = cm_expr_compile("data.amount", NULL);
    cr_assert_eq(cm_expr_eval_bool(e, ev, why, sizeof(why)), CM_EXPR_ERROR);
    cr_assert(strstr(why, "expected bool") != NULL, "%s", why);
    cm_expr_free(e);
    e = cm_expr_compile("type == 'x'", NULL);
    json_t *not_object = json_string("just a string");
    cr_assert_eq(cm_expr_eval_bool(e, not_object, why, sizeof(why)), CM_EXPR_ERROR);
    json_decref(not_object);
    cm_expr_free(e);
    json_decref(ev);
}

/* A plain pattern over a long string is decided: the JIT's stack (cm/regex.h) holds what
 * "^(a|b)*$" needs for 20,000 characters (PCRE2's 32 KiB default failed from about 1,500). */
Test(expr, matches_decides_long_strings)
{
    size_t n = 20000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        s[i] = i % 2 ? 'b' : 'a';
    }
    s[n] = '\0';
    json_t *ev = json_pack("{s:{s:s}}", "data", "s", s);
    struct cm_expr *e = cm_expr_compile("data.s.matches('^(a|b)*$')", NULL);
    cr_assert_not_null(e);
    char why[160] = "";
    json_t *v = cm_expr_eval_json(e, ev, why, sizeof(why));
    cr_assert(json_is_true(v), "%s", why);
    json_decref(v);
    json_object_set_new(json_object_get(ev, "data"), "s", json_string("abc"));
    v = cm_expr_eval_json(e, ev, why, sizeof(why));
    cr_assert(json_is_false(v), "%s", why);
    json_decref(v);
    cm_expr_free(e);
    json_decref(ev);
    free(s);
}

Test(expr, string_results_for_keys)
{
    json_t *ev = event();
    struct {
        const char *expr, *want;
        int rc;
    } k[] = {{"subject", "order-7", 0},
             {"data.amount", "1500", 0},
             {"data.price", "12.5", 0},
             {"data.flag", "false", 0},
             {"data.tags", "[\"a\",\"b\"]", 0},
             {"[0.1, 1e-7, data.price]", "[0.1,1e-7,12.5]", 0},
             {"0.1 + 0.2", "0.30000000000000004", 0},
             {"timestamp(time)", "2026-01-02T03:04:05.678Z", 0},
             {"missing", "no such key: missing", -1}};
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        struct cm_expr *e = cm_expr_compile(k[i].expr, NULL);
        char buf[64];
        cr_assert_eq(cm_expr_eval_string(e, ev, buf, sizeof(buf)), k[i].rc, "%s", k[i].expr);
        cr_assert_str_eq(buf, k[i].want, "%s", k[i].expr);
        cm_expr_free(e);
    }
    /* a key is never cut (two keys cut to the same bytes would be taken for one): a text that
     * does not fit is an error, its reason cut to fit */
    struct cm_expr *e = cm_expr_compile("data.text", NULL);
    const char *text = json_string_value(json_object_get(json_object_get(ev, "data"), "text"));
    size_t n = strlen(text);
    cr_assert_gt(n, 3);
    char fits[256];
    cr_assert_lt(n, sizeof(fits));
    cr_assert_eq(cm_expr_eval_string(e, ev, fits, n + 1), 0);
    cr_assert_str_eq(fits, text);
    cr_assert_eq(cm_expr_eval_string(e, ev, fits, n), -1, "one byte short");
    char want[128];
    snprintf(want, sizeof(want), "is %zu bytes long, more than the %zu a key may have", n, n - 1);
    cr_assert_eq(strncmp(fits, want, n - 1), 0, "%s", fits);
    char tiny[4];
    cr_assert_eq(cm_expr_eval_string(e, ev, tiny, sizeof(tiny)), -1);
    cr_assert_str_eq(tiny, "is ", "the reason, cut and terminated");
    cm_expr_free(e);
    /* so are lists and maps by their JSON text */
    e = cm_expr_compile("data.tags", NULL);
    char small[9]; /* ["a","b"] is 9 bytes */
    cr_assert_eq(cm_expr_eval_string(e, ev, small, sizeof(small)), -1);
    char ok[10];
    cr_assert_eq(cm_expr_eval_string(e, ev, ok, sizeof(ok)), 0);
    cr_assert_str_eq(ok, "[\"a\",\"b\"]");
    cm_expr_free(e);
    /* a string holding a NUL character: as a C string it would be read as a shorter key */
    json_t *nul = json_pack("{s:{s:s%}}", "data", "k", "a\0b", (size_t)3);
    e = cm_expr_compile("data.k", NULL);
    cr_assert_eq(cm_expr_eval_string(e, nul, fits, sizeof(fits)), -1);
    cr_assert_str_eq(fits, "holds a NUL character");
    cm_expr_free(e);
    json_decref(nul);
    json_decref(ev);
}

Test(expr, hostile_sizes)
{
    /* nesting past the limit is a compile error, not a stack overflow */
    static char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        deep[n++] = '(';
    }
    deep[n++] = '1';
    for (int i = 0; i < 1000; i++) {
        deep[n++] = ')';
    }
    deep[n] = '\0';
    struct cm_expr_error err;
    cr_assert_null(cm_expr_compile(deep, &err));
    cr_assert(strstr(err.message, "nested too deeply") != NULL, "%s", err.message);
    n = 0;
    for (int i = 0; i < 1000; i++) {
        deep[n++] = '!';
    }
    deep[n++] = 'x';
    deep[n] = '\0';
    cr_assert_null(cm_expr_compile(deep, &err));
    n = 0;
    for (int i = 0; i < 1000; i++) {
        deep[n++] = '[';
    }
    deep[n] = '\0';
    cr_assert_null(cm_expr_compile(deep, &err));
    /* a long flat expression is fine up to the size limit */
    static char flat[CM_EXPR_MAX_SOURCE + 2];
    n = 0;
    while (n + 4 < CM_EXPR_MAX_SOURCE) {
        memcpy(flat + n, "1 + ", 4);
        n += 4;
    }
    flat[n - 3] = '\0';
    struct cm_expr *e = cm_expr_compile(flat, &err);
    cr_assert_not_null(e, "%s", err.message);
    cm_expr_free(e);
    memset(flat, ' ', CM_EXPR_MAX_SOURCE + 1);
    flat[CM_EXPR_MAX_SOURCE + 1] = '\0';
    cr_assert_null(cm_expr_compile(flat, &err));
    cr_assert(strstr(err.message, "longer than") != NULL);
    /* a huge string literal */
    static char lit[CM_EXPR_MAX_SOURCE];
    lit[0] = '\'';
    memset(lit + 1, 'x', sizeof(lit) - 3);
    lit[sizeof(lit) - 2] = '\'';
    lit[sizeof(lit) - 1] = '\0';
    e = cm_expr_compile(lit, &err);
    cr_assert_not_null(e, "%s", err.message);
    cm_expr_free(e);
    cr_assert_null(cm_expr_compile(NULL, &err));
}

struct thread_arg {
    const struct cm_expr *e;
    const json_t *ev;
    int mismatches;
};

static void *hammer(void *p)
{
    struct thread_arg *t = p;
    for (int i = 0; i < 20000; i++) {
        if (cm_expr_eval_bool(t->e, t->ev, NULL, 0) != CM_EXPR_TRUE) {
            t->mismatches++;
        }
    }
    return NULL;
}

Test(expr, one_expression_many_threads)
{
    json_t *ev = event();
    struct cm_expr *e = cm_expr_compile(
        "type.matches('^pay') && data.items[0].sku + 'x' == 'A1x' && lower(data.currency) == 'eur'",
        NULL);
    cr_assert_not_null(e);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){e, ev, 0};
        pthread_create(&th[i], NULL, hammer, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].mismatches, 0);
    }
    cm_expr_free(e);
    json_decref(ev);
}

struct fields_row {
    const char *src, *fields; /* the distinct fields read, in order, space-separated */
};

/* Checks each row's fields: the root's (root NULL, cm_expr_root_fields) or those read of the
 * root field `root` (cm_expr_fields_of). */
static void check_fields(const struct fields_row *rows, size_t nrows, const char *root)
{
    cr_assert_gt(nrows, 0);
    for (size_t i = 0; i < nrows; i++) {
        struct cm_expr_error err;
        struct cm_expr *e = cm_expr_compile(rows[i].src, &err);
        cr_assert_not_null(e, "%s: %s", rows[i].src, err.message);
        const char *names[8];
        size_t n = root ? cm_expr_fields_of(e, root, names, 8) : cm_expr_root_fields(e, names, 8);
        char got[128] = "";
        for (size_t k = 0; k < n; k++) {
            strcat(got, k ? " " : "");
            strcat(got, names[k]);
        }
        cr_assert_str_eq(got, rows[i].fields, "%s", rows[i].src);
        size_t again = root ? cm_expr_fields_of(e, root, NULL, 0) : cm_expr_root_fields(e, NULL, 0);
        cr_assert_eq(again, n, "the count without room");
        cm_expr_free(e);
    }
}

Test(expr, root_fields)
{
    static const struct fields_row rows[] = {
        {"data.amount > 5", "data"},
        {"has(data)", "data"},
        {"type == 'data'", "type"},
        {"subject.data == 1 && subject != ''", "subject"}, /* subject's field, not root data */
        {"size(data[\"k\"]) > 0 || type == 't' || data.x == 1", "data type"},
        {"[type, source].size() == 2", "type source"},
        {"tenant in ['a', 'b'] ? data.x : id", "tenant data id"},
        {"true", ""},
    };
    check_fields(rows, sizeof(rows) / sizeof(rows[0]), NULL);
}

/* The fields of data an expression reads, for the pipelines' warnings: by `.`, not those only
 * tested with has(), nor fields of other roots or of data's own fields. */
Test(expr, fields_of_a_root_field)
{
    static const struct fields_row rows[] = {
        {"data.amount > 0 && size(data.items) > 0", "amount items"},
        {"data.a.b == data.c[0] && data.a == 1", "a c"},
        {"has(data.x) && data.y", "y"},
        {"has(data.x.y)", "x"}, /* has(data.x.y) reads data.x */
        {"subject.data == 1 && type.amount", ""},
        {"data.items.size() + data.n", "items n"},
        {"double(data.amount) * 2.0", "amount"},
        {"[data.k, data.k, source]", "k"},
        {"data", ""},
        {"data['odd key'] == 1", ""}, /* by index: not followed */
        {"true", ""},
    };
    check_fields(rows, sizeof(rows) / sizeof(rows[0]), "data");
}
