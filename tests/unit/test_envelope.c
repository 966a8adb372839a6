/* Unit tests for common/envelope: CloudEvents validation (a table of good and hostile events),
 * tenant names, consumed records refused for a tenant that is not one (cm_event), enrichment,
 * Kafka key and headers, traceparent, and the fast lane (enrichment spliced into the text)
 * against the jansson lane. */
#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/event.h"
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

Test(envelope, tenant_names)
{
    char longest[CM_TENANT_MAX + 2];
    memset(longest, 't', sizeof(longest));
    cr_assert(cm_envelope_tenant_ok(longest, CM_TENANT_MAX));
    cr_assert_not(cm_envelope_tenant_ok(longest, CM_TENANT_MAX + 1));
    cr_assert(cm_envelope_tenant_ok("", 0));
    cr_assert(cm_envelope_tenant_ok("acme-eu.1 / é", strlen("acme-eu.1 / é")));
    static const char *bad[] = {"a\x1f"
                                "b",
                                "\t", "a\nb", "\x7f", "x\x01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(cm_envelope_tenant_ok(bad[i], strlen(bad[i])), "%zu", i);
    }
    cr_assert_not(cm_envelope_tenant_ok("a\0b", 3), "a NUL inside");
    cr_assert_not(cm_envelope_tenant_ok(NULL, 0));
}

/* A consumed record whose tenant is not a tenant name is refused with the reason, whatever the
 * check asked for: window state and checkpoints join tenant and key with \x1f, so "a\x1fb" with
 * key "c" would come back from a checkpoint as tenant "a" with key "b\x1fc". */
Test(envelope, records_with_a_tenant_that_is_not_one_are_refused)
{
    static const struct {
        const char *text;
        const char *why; /* NULL: accepted */
    } cases[] = {
        {"{\"id\":\"1\",\"source\":\"/"
         "s\",\"type\":\"t\",\"specversion\":\"1.0\",\"tenant\":\"acme\"}",
         NULL},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"specversion\":\"1.0\"}", NULL},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"tenant\":\"a\\u001fb\"}", "tenant"},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"tenant\":\"a\\u0000b\"}", "not JSON"},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"tenant\":42}", "tenant"},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"tenant\":null}", "tenant"},
        {"[1]", "not a JSON object"},
        {"{\"id\":", "not JSON"},
    };
    static const enum cm_event_check checks[] = {CM_EVENT_OBJECT, CM_EVENT_IDS, CM_EVENT_ENVELOPE};
    for (size_t c = 0; c < sizeof(checks) / sizeof(checks[0]); c++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct cm_event ev;
            const char *why = NULL;
            int rc =
                cm_event_from_text(cases[i].text, strlen(cases[i].text), 0, checks[c], &ev, &why);
            if (!cases[i].why) {
                cr_assert_eq(rc, 0, "%s: %s", cases[i].text, why ? why : "");
                cm_event_clear(&ev);
            } else {
                cr_assert_eq(rc, CM_E_INVAL, "%s", cases[i].text);
                cr_assert(why && strstr(why, cases[i].why), "%s: %s", cases[i].text, why);
            }
        }
    }
}

/* A record that is not a CloudEvent is refused naming the field (pipeline-run and the dry run
 * answer with it): an invalid `time` said only "not a CloudEvent with an id" before. */
Test(envelope, records_that_are_not_cloudevents_name_the_field)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"time\":\"10000-01-01T00:00:00Z\"}",
         "not a CloudEvent: 'time' "},
        {"{\"id\":\"1\",\"source\":\"/s\",\"time\":\"2026-01-01T00:00:00Z\"}",
         "not a CloudEvent: 'type' "},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"specversion\":\"0.3\"}",
         "not a CloudEvent: 'specversion' "},
        {"{\"source\":\"/s\",\"type\":\"t\"}", "not a CloudEvent with an id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cm_event ev;
        const char *why = NULL;
        cr_assert_eq(cm_event_from_text(cases[i].text, strlen(cases[i].text), 0, CM_EVENT_ENVELOPE,
                                        &ev, &why),
                     CM_E_INVAL, "%s", cases[i].text);
        cr_assert(why && strncmp(why, cases[i].why, strlen(cases[i].why)) == 0, "%s: %s",
                  cases[i].text, why ? why : "(none)");
    }
}

/* The store's check (CM_EVENT_IDS) names the attribute that is missing. */
Test(envelope, records_without_an_id_source_or_type_name_it)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"{\"source\":\"/s\",\"type\":\"t\"}", "id: missing, or not a string"},
        {"{\"id\":7,\"source\":\"/s\",\"type\":\"t\"}", "id: missing, or not a string"},
        {"{\"id\":\"1\",\"type\":\"t\"}", "source: missing, or not a string"},
        {"{\"id\":\"1\",\"source\":\"/s\",\"type\":null}", "type: missing, or not a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cm_event ev;
        const char *why = NULL;
        cr_assert_eq(
            cm_event_from_text(cases[i].text, strlen(cases[i].text), 0, CM_EVENT_IDS, &ev, &why),
            CM_E_INVAL, "%s", cases[i].text);
        cr_assert_str_eq(why, cases[i].why, "%s", cases[i].text);
    }
    struct cm_event ev;
    const char *why = NULL;
    const char *ok = "{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}";
    cr_assert_eq(cm_event_from_text(ok, strlen(ok), 0, CM_EVENT_IDS, &ev, &why), 0);
    cm_event_clear(&ev);
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
    struct cm_envelope_enrichment e = {"acme", "127.0.0.1", 1795397331123LL, NULL, 0};
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
    struct cm_envelope_enrichment e = {NULL, NULL, 1795397331123LL, NULL, 0};
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
    const char *names[CM_ENVELOPE_MAX_HEADERS], *values[CM_ENVELOPE_MAX_HEADERS];
    size_t n = cm_envelope_headers(ev, names, values);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(names[0], "content-type", "structured mode of the Kafka binding");
    cr_assert_str_eq(values[0], "application/cloudevents+json; charset=UTF-8");
    cr_assert_str_eq(names[1], "ce_id");
    cr_assert_str_eq(values[1], "i");
    cr_assert_str_eq(names[2], "ce_type");
    cr_assert_str_eq(names[3], "ce_source");
    cr_assert_str_eq(names[4], "ce_tenant");
    cr_assert_str_eq(values[4], "acme");
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

/* ---- the fast lane ---- */

static int enrich_text(const char *text, const struct cm_envelope_enrichment *e,
                       struct cm_envelope_text *out)
{
    struct cm_jscan_span v;
    cr_assert_eq(cm_jscan_document(text, strlen(text), &v), 0, "%s", text);
    return cm_envelope_enrich_text(&v, e, NULL, 0, out);
}

/* A producer's clock far ahead would move every windowed pipeline's watermark past the events
 * to come: GATEWAY_MAX_TIME_AHEAD refuses such a time, on both lanes. */
Test(envelope, a_time_too_far_ahead_is_refused_on_both_lanes)
{
    /* received 2026-01-01T00:00:00.123Z, at most 1 h ahead */
    struct cm_envelope_enrichment e = {NULL, NULL, 1767225600123, NULL, 3600000};
    static const struct {
        const char *time; /* NULL: none */
        int ok;
    } cases[] = {
        {NULL, 1},
        {"2026-01-01T01:00:00.123Z", 1},  /* exactly 1 h */
        {"2026-01-01T01:00:00.124Z", 0},  /* 1 ms more */
        {"2026-01-01T02:00:00+01:00", 1}, /* 01:00Z with an offset */
        {"2026-01-01T02:00:01+01:00", 0},
        {"2999-12-31T23:59:59Z", 0},
        {"9999-12-31T23:59:59.999Z", 0},
        {"1970-01-01T00:00:00Z", 1}, /* the past is never refused (back-fills) */
        {"2025-12-31T23:59:59Z", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[200];
        if (cases[i].time) {
            snprintf(text, sizeof(text), "{\"type\":\"t\",\"source\":\"/s\",\"time\":\"%s\"}",
                     cases[i].time);
        } else {
            snprintf(text, sizeof(text), "{\"type\":\"t\",\"source\":\"/s\"}");
        }
        json_t *ev = parse(text);
        cr_assert_eq(cm_envelope_validate(ev, NULL), 0, "%s", text);
        struct cm_envelope_error err = {{0}, {0}};
        int rc = cm_envelope_check_time(ev, &e, &err);
        cr_assert_eq(rc == 0, cases[i].ok, "%s: %s", text, err.message);
        struct cm_envelope_text t;
        int lane = enrich_text(text, &e, &t);
        cr_assert_eq(lane == 0, cases[i].ok, "the fast lane takes %s only when it is in time",
                     text);
        if (lane == 0) {
            cm_envelope_text_free(&t);
        } else {
            cr_assert_eq(lane, CM_ENVELOPE_NEEDS_JANSSON);
            cr_assert_str_eq(err.field, "/time");
            char want[192];
            snprintf(want, sizeof(want),
                     "'time' %s is more than 1h ahead of the gateway's clock "
                     "(2026-01-01T01:00:00.123Z)",
                     cases[i].time);
            cr_assert_str_eq(err.message, want);
        }
        /* without a bound any time passes */
        struct cm_envelope_enrichment any = e;
        any.max_ahead_ms = 0;
        cr_assert_eq(cm_envelope_check_time(ev, &any, NULL), 0);
        cr_assert_eq(enrich_text(text, &any, &t), 0);
        cm_envelope_text_free(&t);
        json_decref(ev);
    }
    /* the bound is named in its own unit */
    struct cm_envelope_enrichment odd = e;
    odd.max_ahead_ms = 90000;
    json_t *ev = parse("{\"type\":\"t\",\"source\":\"/s\",\"time\":\"2027-01-01T00:00:00Z\"}");
    struct cm_envelope_error err;
    cr_assert_eq(cm_envelope_check_time(ev, &odd, &err), CM_E_INVAL);
    cr_assert(strstr(err.message, "more than 90s ahead"), "%s", err.message);
    odd.max_ahead_ms = 1500;
    cr_assert_eq(cm_envelope_check_time(ev, &odd, &err), CM_E_INVAL);
    cr_assert(strstr(err.message, "more than 1500ms ahead"), "%s", err.message);
    json_decref(ev);
}

Test(envelope, fast_lane_splices_what_enrich_sets)
{
    struct cm_envelope_enrichment e = {"acme", "10.0.0.9", 1767225600123, NULL, 0};
    const char *in = "{ \"type\" : \"order.paid\", \"source\":\"/shop\", \"subject\":\"o-1\","
                     " \"tenant\":\"spoofed\", \"schemaid\":9, \"receivedat\":1,"
                     " \"data\" : {\"total\": 12.5, \"items\": [ 1, 2 ] } }";
    struct cm_envelope_text t;
    cr_assert_eq(enrich_text(in, &e, &t), 0);
    cr_assert_eq(strlen(t.json), t.len);
    json_t *got = parse(t.json);
    json_t *want = parse(in);
    cm_envelope_enrich(want, &e);
    /* the random parts come from the fast lane */
    json_object_set(want, "id", json_object_get(got, "id"));
    json_object_set(want, "traceparent", json_object_get(got, "traceparent"));
    cr_assert(json_equal(got, want), "%s", t.json);
    cr_assert_str_eq(json_string_value(json_object_get(got, "tenant")), "acme");
    cr_assert_null(json_object_get(got, "schemaid"));
    cr_assert_eq(strlen(t.id), 36);
    cr_assert_str_eq(t.type, "order.paid");
    cr_assert_eq(t.keylen, 3);
    cr_assert_eq(memcmp(t.key, "o-1", 3), 0);
    cr_assert_eq(t.nheaders, 6);
    cr_assert_str_eq(t.header_names[0], "content-type");
    cr_assert_str_eq(t.header_values[0], "application/cloudevents+json; charset=UTF-8");
    cr_assert_str_eq(t.header_names[4], "ce_tenant");
    cr_assert_str_eq(t.header_values[4], "acme");
    cr_assert(cm_traceparent_valid(t.header_values[5]));
    cr_assert_eq(t.datalen, strlen("{\"total\": 12.5, \"items\": [ 1, 2 ] }"));
    cr_assert_eq(memcmp(t.data, "{\"total\"", 8), 0);
    /* what expressions see: the members they read */
    const char *names[] = {"type", "tenant", "data", "nosuch"};
    json_t *some = cm_envelope_text_members(&t, names, 4);
    cr_assert_eq(json_object_size(some), 3);
    cr_assert_str_eq(json_string_value(json_object_get(some, "tenant")), "acme");
    cr_assert(json_equal(json_object_get(some, "data"), json_object_get(got, "data")));
    json_decref(some);
    cm_envelope_text_set_schemaid(&t, 17);
    json_decref(got);
    got = parse(t.json);
    cr_assert_eq(json_integer_value(json_object_get(got, "schemaid")), 17);
    json_decref(got);
    json_decref(want);
    cm_envelope_text_free(&t);
}

Test(envelope, fast_lane_keeps_client_values)
{
    struct cm_envelope_enrichment e = {NULL, NULL, 1767225600123, NULL, 0};
    const char *in = "{\"specversion\":\"1.0\",\"id\":\"c-1\",\"type\":\"t\",\"source\":\"s\","
                     "\"time\":\"2026-01-02T03:04:05Z\",\"partitionkey\":\"pk\",\"tenant\":\"x\","
                     "\"clientip\":\"1.2.3.4\",\"traceparent\":"
                     "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\",\"data\":\"s\"}";
    struct cm_envelope_text t;
    cr_assert_eq(enrich_text(in, &e, &t), 0);
    cr_assert_str_eq(t.json,
                     "{\"specversion\":\"1.0\",\"id\":\"c-1\",\"type\":\"t\",\"source\":\"s\","
                     "\"time\":\"2026-01-02T03:04:05Z\",\"partitionkey\":\"pk\",\"traceparent\":"
                     "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\",\"data\":\"s\","
                     "\"receivedat\":\"2026-01-01T00:00:00.123Z\"}");
    cr_assert_str_eq(t.id, "c-1");
    cr_assert_str_eq(t.key, "pk");
    cr_assert_eq(t.nheaders, 5, "no tenant header without a tenant");
    cr_assert_eq(t.datalen, 3);
    cr_assert_eq(memcmp(t.data, "\"s\"", 3), 0);
    cm_envelope_text_free(&t);
}

Test(envelope, fast_lane_leaves_the_rest_to_jansson)
{
    struct cm_envelope_enrichment e = {"acme", NULL, 1767225600123, NULL, 0};
    const char *rest[] = {
        "[1]",                                                       /* not an object */
        "{\"source\":\"s\"}",                                        /* invalid: no type */
        "{\"type\":\"\",\"source\":\"s\"}",                          /* empty type */
        "{\"type\":\"t\",\"source\":\"s\",\"specversion\":\"0.3\"}", /* wrong version */
        "{\"type\":\"t\",\"source\":\"s\",\"time\":\"yesterday\"}",  /* bad time */
        "{\"type\":\"t\",\"source\":\"s\",\"Ext\":1}",               /* bad extension */
        "{\"type\":\"t\",\"source\":\"s\",\"ext\":{}}",              /* non-scalar extension */
        "{\"type\":\"t\",\"source\":\"s\",\"data\":1,\"data_base64\":\"AA\"}",
        "{\"type\":\"t\\u0041\",\"source\":\"s\"}", /* an escaped attribute: jansson unescapes */
        "{\"type\":\"t\",\"source\":\"s\",\"subject\":5}",
    };
    for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++) {
        struct cm_envelope_text t;
        cr_assert_eq(enrich_text(rest[i], &e, &t), CM_ENVELOPE_NEEDS_JANSSON, "%s", rest[i]);
        cr_assert_null(t.json);
    }
    /* a tenant that would need escaping */
    struct cm_envelope_enrichment q = {"a\"b", NULL, 1, NULL, 0};
    struct cm_envelope_text t;
    cr_assert_eq(enrich_text("{\"type\":\"t\",\"source\":\"s\"}", &q, &t),
                 CM_ENVELOPE_NEEDS_JANSSON);
}
