/* Unit tests for the rules service's rule set (services/rules/rules_set.c): document validation,
 * matching, and deterministic alert ids. */
#include "../../services/rules/rules_set.h"

#include <criterion/criterion.h>
#include <string.h>

static struct rules_set *parse_ok(const char *doc)
{
    char err[256] = "";
    struct rules_set *s = rules_set_parse(doc, strlen(doc), err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    return s;
}

Test(rules_set, bad_documents)
{
    struct {
        const char *doc;
        const char *reason;
    } bad[] = {
        {"", "line"},
        {"{", "line"},
        {"[]", "rules: must be an array"},
        {"{\"rules\":{}}", "rules: must be an array"},
        {"{\"rules\":[1]}", "rules[0]"},
        {"{\"rules\":[{\"types\":[\"a\"]}]}", "rules[0].id"},
        {"{\"rules\":[{\"id\":\"x\",\"condition\":\"type ==\"}]}",
         "rules[0].condition: 1:8: unexpected end of input"},
        {"{\"rules\":[{\"id\":\"x\",\"condition\":5}]}", "rules[0].condition: must be a string"},
        {"{\"rules\":[{\"id\":\"x\",\"condition\":\"true\",\"types\":[\"a\"]}]}", "exactly one of"},
        {"{\"rules\":[{\"id\":\"\",\"types\":[\"a\"]}]}", "rules[0].id"},
        {"{\"rules\":[{\"id\":\"x\"}]}", "exactly one of"},
        {"{\"rules\":[{\"id\":\"x\",\"types\":[]}]}", "rules[0].types"},
        {"{\"rules\":[{\"id\":\"x\",\"types\":[\"a\",7]}]}", "rules[0].types[1]"},
        {"{\"rules\":[{\"id\":\"x\",\"types\":[\"a\"]},{\"id\":\"x\",\"types\":[\"b\"]}]}",
         "duplicate id"},
        {"{\"rules\":[],\"rules\":[]}", "line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        struct rules_set *s = rules_set_parse(bad[i].doc, strlen(bad[i].doc), err, sizeof(err));
        cr_assert_null(s, "accepted %s", bad[i].doc);
        cr_assert(strstr(err, bad[i].reason) != NULL, "%s: '%s' lacks '%s'", bad[i].doc, err,
                  bad[i].reason);
    }
}

Test(rules_set, matching)
{
    struct rules_set *s = parse_ok("{\"rules\":[{\"id\":\"r1\",\"types\":[\"a\",\"b\"]},"
                                   "{\"id\":\"r2\",\"types\":[\"b\"]}]}");
    cr_assert_eq(rules_set_count(s), 2);
    json_t *ev = json_pack("{s:s,s:s,s:s}", "type", "b", "source", "/s", "id", "1");
    size_t cur = 0, errors = 0;
    cr_assert_str_eq(rules_set_next_match(s, ev, &cur, &errors), "r1");
    cr_assert_str_eq(rules_set_next_match(s, ev, &cur, &errors), "r2");
    cr_assert_null(rules_set_next_match(s, ev, &cur, &errors));
    json_object_set_new(ev, "type", json_string("c"));
    cur = 0;
    cr_assert_null(rules_set_next_match(s, ev, &cur, &errors));
    cr_assert_eq(errors, 0);
    json_object_del(ev, "type");
    cur = 0;
    cr_assert_null(rules_set_next_match(s, ev, &cur, &errors));
    cr_assert_eq(errors, 2, "a missing type is an evaluation error, counted, not a match");
    json_decref(ev);
    rules_set_free(s);
}

Test(rules_set, conditions)
{
    struct rules_set *s = parse_ok(
        "{\"rules\":[{\"id\":\"big\",\"condition\":\"type == 'pay' && data.amount > 1000\"},"
        "{\"id\":\"eur\",\"condition\":\"data.currency.matches('^EUR$')\"},"
        "{\"id\":\"odd\",\"types\":[\"a/b\",\"\\\"q\\\"\"]}]}");
    json_t *ev =
        json_pack("{s:s,s:{s:i,s:s}}", "type", "pay", "data", "amount", 5000, "currency", "EUR");
    size_t cur = 0, errors = 0;
    cr_assert_str_eq(rules_set_next_match(s, ev, &cur, &errors), "big");
    cr_assert_str_eq(rules_set_next_match(s, ev, &cur, &errors), "eur");
    cr_assert_null(rules_set_next_match(s, ev, &cur, &errors));
    json_object_set_new(ev, "type", json_string("\"q\""));
    cur = 0;
    cr_assert_str_eq(rules_set_next_match(s, ev, &cur, &errors), "eur");
    cr_assert_str_eq(rules_set_next_match(s, ev, &cur, &errors), "odd",
                     "types with quotes are escaped into the condition");
    json_decref(ev);
    rules_set_free(s);
}

Test(rules_set, alert_ids_are_deterministic)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "b", "source", "/s", "id", "1",
                           "tenant", "acme", "time", "2026-01-01T00:00:00Z", "traceparent",
                           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    json_t *a1 = rules_alert_new("r1", ev);
    json_t *a2 = rules_alert_new("r1", ev);
    json_t *a3 = rules_alert_new("r2", ev);
    cr_assert(json_equal(a1, a2));
    cr_assert_str_neq(json_string_value(json_object_get(a1, "id")),
                      json_string_value(json_object_get(a3, "id")));
    cr_assert_str_eq(json_string_value(json_object_get(a1, "tenant")), "acme");
    cr_assert_str_eq(json_string_value(json_object_get(a1, "time")), "2026-01-01T00:00:00.000Z");
    cr_assert_str_eq(json_string_value(json_object_get(a1, "traceparent")),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                     "an alert carries the trace of the event that caused it");
    cr_assert(json_equal(json_object_get(json_object_get(a1, "data"), "event"), ev));
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    json_decref(ev);
}
