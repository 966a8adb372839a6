/* Unit tests for the gateway's routing table (services/gateway/gw_route.c): document validation
 * with the failing field named, first-match selection, defaults, topic name rules. */
#include "../../services/gateway/gw_route.h"
#include "cm/kafka.h"

#include <criterion/criterion.h>
#include <string.h>

Test(gw_route, bad_documents)
{
    struct {
        const char *doc, *reason;
    } bad[] = {
        {"", "line"},
        {"[]", "must be a JSON object"},
        {"{}", "routes: must be an array"},
        {"{\"routes\":[{}]}", "routes[0].when"},
        {"{\"routes\":[{\"when\":\"type ==\",\"topics\":[\"a\"]}]}",
         "routes[0].when: 1:8: unexpected end of input"},
        {"{\"routes\":[{\"when\":\"true\"}]}", "routes[0].topics"},
        {"{\"routes\":[{\"when\":\"true\",\"topics\":[]}]}", "routes[0].topics"},
        {"{\"routes\":[{\"when\":\"true\",\"topics\":[\"bad topic\"]}]}",
         "routes[0].topics[0]: not a legal Kafka topic name"},
        {"{\"routes\":[{\"when\":\"true\",\"topics\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\","
         "\"h\",\"i\"]}]}",
         "1 to 8"},
        {"{\"routes\":[],\"default\":\"events\"}", "default: must be an array"},
        {"{\"routes\":[],\"default\":[\"..\"]}", "default[0]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        struct gw_routes *r =
            gw_routes_parse(bad[i].doc, strlen(bad[i].doc), "events", err, sizeof(err));
        cr_assert_null(r, "accepted %s", bad[i].doc);
        cr_assert(strstr(err, bad[i].reason) != NULL, "%s: '%s' lacks '%s'", bad[i].doc, err,
                  bad[i].reason);
    }
}

static const char *first_topic(const struct gw_routes *r, const char *event, size_t *n,
                               size_t *errors)
{
    json_t *ev = json_loads(event, 0, NULL);
    const char *const *topics;
    *n = gw_routes_select(r, ev, &topics, errors);
    json_decref(ev);
    return topics[0];
}

Test(gw_route, first_match_wins)
{
    const char *doc = "{\"routes\":["
                      "{\"when\":\"type.startsWith('pay')\",\"topics\":[\"payments\",\"events\"]},"
                      "{\"when\":\"data.x > 1\",\"topics\":[\"big\"]},"
                      "{\"when\":\"true\",\"topics\":[\"catchall\"]}],"
                      "\"default\":[\"unused\"]}";
    char err[256];
    struct gw_routes *r = gw_routes_parse(doc, strlen(doc), "events", err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    size_t n, errors = 0;
    cr_assert_str_eq(first_topic(r, "{\"type\":\"pay.ok\"}", &n, &errors), "payments");
    cr_assert_eq(n, 2);
    cr_assert_str_eq(first_topic(r, "{\"type\":\"x\",\"data\":{\"x\":5}}", &n, &errors), "big");
    cr_assert_eq(errors, 0);
    cr_assert_str_eq(first_topic(r, "{\"type\":\"x\"}", &n, &errors), "catchall");
    cr_assert_eq(errors, 1, "data.x missing: an evaluation error, counted, skipped");
    gw_routes_free(r);
}

Test(gw_route, defaults)
{
    char err[256];
    const char *doc = "{\"routes\":[{\"when\":\"false\",\"topics\":[\"never\"]}]}";
    struct gw_routes *r = gw_routes_parse(doc, strlen(doc), "events", err, sizeof(err));
    size_t n;
    cr_assert_str_eq(first_topic(r, "{\"type\":\"a\"}", &n, NULL), "events");
    gw_routes_free(r);
    r = gw_routes_single("solo");
    cr_assert_str_eq(first_topic(r, "{\"type\":\"a\"}", &n, NULL), "solo");
    cr_assert_eq(n, 1);
    gw_routes_free(r);
}

Test(gw_route, topic_names)
{
    cr_assert(cm_kafka_topic_name_ok("events"));
    cr_assert(cm_kafka_topic_name_ok("events.late_v2-x"));
    cr_assert_not(cm_kafka_topic_name_ok(""));
    cr_assert_not(cm_kafka_topic_name_ok("."));
    cr_assert_not(cm_kafka_topic_name_ok(".."));
    cr_assert_not(cm_kafka_topic_name_ok("a/b"));
    cr_assert_not(cm_kafka_topic_name_ok("é"));
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_not(cm_kafka_topic_name_ok(long_name));
}

Test(gw_route, what_expressions_read)
{
    char err[256];
    size_t n;
    struct gw_routes *r = gw_routes_single("events");
    cr_assert_not(gw_routes_read_events(r));
    gw_routes_fields(r, &n);
    cr_assert_eq(n, 0);
    gw_routes_free(r);
    const char *doc = "{\"routes\":[{\"when\":\"type.startsWith('a.') && tenant == 'x'\","
                      "\"topics\":[\"a\"]},{\"when\":\"has(data.vip) || type == 'b'\","
                      "\"topics\":[\"b\"]}]}";
    r = gw_routes_parse(doc, strlen(doc), "events", err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    cr_assert(gw_routes_read_events(r));
    const char *const *fields = gw_routes_fields(r, &n);
    cr_assert_eq(n, 3, "each field once over all routes");
    cr_assert_str_eq(fields[0], "type");
    cr_assert_str_eq(fields[1], "tenant");
    cr_assert_str_eq(fields[2], "data");
    gw_routes_free(r);
}
