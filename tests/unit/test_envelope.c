/* Unit tests for common/envelope: CloudEvents validation (a table of good and hostile events),
 * enrichment, Kafka key and headers, traceparent. */
#include "cm/envelope.h"
#include "cm/uuid.h"

#include <criterion/criterion.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    cr_assert_not_null(v, "test JSON must parse: %s", text);
    return v;
}

Test(envelope, valid_events)
{
    const char *good[] = {
        "{\"type\":\"t\",\"source\":\"/s\"}",
        "{\"type\":\"t\",\"source\":\"/s\",\"data\":{\"a\":1}}",
        "{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"t\",\"source\":\"/s\","
        "\"time\":\"2026-01-02T03:04:05Z\",\"subject\":\"u1\",\"datacontenttype\":"
        "\"application/json\",\"data\":[1,2]}",
        "{\"type\":\"t\",\"source\":\"/s\",\"partitionkey\":\"k\",\"ext1\":5,\"flag\":true}",
        "{\"type\":\"t\",\"source\":\"/s\",\"data_base64\":\"AAEC\"}",
        "{\"type\":\"t\",\"source\":\"/s\",\"data\":null}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *ev = parse(good[i]);
        struct cm_envelope_error err;
        cr_assert_eq(cm_envelope_validate(ev, &err), 0, "%s: %s %s", good[i], err.field,
                     err.message);
        json_decref(ev);
    }
}

Test(envelope, invalid_events_name_the_field)
{
    struct {
        const char *json;
        const char *field;
    } bad[] = {
        {"[]", ""},
        {"\"text\"", ""},
        {"{\"source\":\"/s\"}", "/type"},
        {"{\"type\":\"t\"}", "/source"},
        {"{\"type\":\"\",\"source\":\"/s\"}", "/type"},
        {"{\"type\":5,\"source\":\"/s\"}", "/type"},
        {"{\"type\":\"t\",\"source\":null}", "/source"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"specversion\":\"0.3\"}", "/specversion"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"specversion\":1}", "/specversion"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"id\":\"\"}", "/id"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"id\":7}", "/id"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"time\":\"yesterday\"}", "/time"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"time\":\"2026-02-30T00:00:00Z\"}", "/time"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"subject\":{}}", "/subject"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"data\":1,\"data_base64\":\"AA==\"}", "/data_base64"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"Upper\":\"x\"}", "/Upper"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"with-dash\":\"x\"}", "/with-dash"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"averyveryverylongextname\":\"x\"}",
         "/averyveryverylongextname"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"ext\":{\"a\":1}}", "/ext"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"ext\":[1]}", "/ext"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"ext\":null}", "/ext"},
        {"{\"type\":\"t\",\"source\":\"/s\",\"\":\"x\"}", "/"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *ev = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(ev, "%s", bad[i].json);
        struct cm_envelope_error err;
        cr_assert_neq(cm_envelope_validate(ev, &err), 0, "accepted %s", bad[i].json);
        cr_assert_str_eq(err.field, bad[i].field, "%s: field %s (%s)", bad[i].json, err.field,
                         err.message);
        cr_assert_gt(strlen(err.message), 0);
        json_decref(ev);
    }
}

Test(envelope, long_id_rejected)
{
    char big[400];
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    json_t *ev = json_pack("{s:s,s:s,s:s}", "type", "t", "source", "/s", "id", big);
    struct cm_envelope_error err;
    cr_assert_neq(cm_envelope_validate(ev, &err), 0);
    cr_assert_str_eq(err.field, "/id");
    json_decref(ev);
}

Test(envelope, enrich_fills_and_overwrites)
{
    json_t *ev = parse("{\"type\":\"t\",\"source\":\"/s\",\"tenant\":\"spoofed\","
                       "\"schemaid\":9,\"clientip\":\"1.2.3.4\",\"traceparent\":\"bogus\"}");
    cr_assert_eq(cm_envelope_validate(ev, NULL), 0);
    struct cm_envelope_enrichment e = {"acme", "127.0.0.1", 1795397331123LL};
    cm_envelope_enrich(ev, &e);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "specversion")), "1.0");
    cr_assert(cm_uuid_valid(json_string_value(json_object_get(ev, "id"))));
    cr_assert_str_eq(json_string_value(json_object_get(ev, "time")), "2026-11-23T01:28:51.123Z");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "receivedat")),
                     "2026-11-23T01:28:51.123Z");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "tenant")), "acme");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "clientip")), "127.0.0.1");
    cr_assert_null(json_object_get(ev, "schemaid"));
    cr_assert(cm_traceparent_valid(json_string_value(json_object_get(ev, "traceparent"))));
    cr_assert_eq(cm_envelope_validate(ev, NULL), 0, "an enriched event is still valid");
    json_decref(ev);
}

Test(envelope, enrich_keeps_client_id_time_and_traceparent)
{
    json_t *ev = parse("{\"type\":\"t\",\"source\":\"/s\",\"id\":\"mine\",\"time\":"
                       "\"2020-01-01T00:00:00Z\",\"traceparent\":"
                       "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}");
    struct cm_envelope_enrichment e = {NULL, NULL, 1795397331123LL};
    cm_envelope_enrich(ev, &e);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "id")), "mine");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "time")), "2020-01-01T00:00:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "traceparent")),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_assert_null(json_object_get(ev, "tenant"));
    cr_assert_null(json_object_get(ev, "clientip"));
    cr_assert_eq(cm_envelope_time_ms(ev, 0), 1577836800000LL);
    json_decref(ev);
}

Test(envelope, key_preference)
{
    json_t *ev = parse("{\"type\":\"t\",\"source\":\"/s\",\"id\":\"i\",\"subject\":\"sub\","
                       "\"partitionkey\":\"pk\"}");
    cr_assert_str_eq(cm_envelope_key(ev), "pk");
    json_object_del(ev, "partitionkey");
    cr_assert_str_eq(cm_envelope_key(ev), "sub");
    json_object_del(ev, "subject");
    cr_assert_str_eq(cm_envelope_key(ev), "i");
    json_object_del(ev, "id");
    cr_assert_null(cm_envelope_key(ev));
    json_decref(ev);
}

Test(envelope, headers)
{
    json_t *ev = parse("{\"type\":\"t\",\"source\":\"/s\",\"id\":\"i\",\"tenant\":\"acme\"}");
    const char *names[5], *values[5];
    size_t n = cm_envelope_headers(ev, names, values);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(names[0], "ce_id");
    cr_assert_str_eq(values[0], "i");
    cr_assert_str_eq(names[1], "ce_type");
    cr_assert_str_eq(names[2], "ce_source");
    cr_assert_str_eq(names[3], "ce_tenant");
    cr_assert_str_eq(values[3], "acme");
    json_decref(ev);
}

Test(envelope, traceparent_rules)
{
    cr_assert(cm_traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    cr_assert_not(cm_traceparent_valid("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
    cr_assert_not(cm_traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
    cr_assert_not(cm_traceparent_valid("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    cr_assert_not(cm_traceparent_valid("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
    cr_assert_not(cm_traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"));
    cr_assert_not(cm_traceparent_valid(""));
    cr_assert_not(cm_traceparent_valid(NULL));
}

Test(envelope, serialize_round_trip)
{
    json_t *ev = parse("{\"type\":\"t\",\"source\":\"/s\",\"data\":{\"x\":\"\\u00e9\"}}");
    char *text = cm_envelope_serialize(ev);
    json_t *back = parse(text);
    cr_assert(json_equal(ev, back));
    free(text);
    json_decref(back);
    json_decref(ev);
}
