/* Unit tests for the CloudEvents HTTP binary mode (services/gateway/gw_binary.c): when a request
 * is in binary mode, headers to attributes (any case, percent-decoding, ISO-8859-1 fallback),
 * the body as data by its media type, and hostile headers and bodies refused with the header
 * named. */
#include "../../services/gateway/gw_binary.h"

#include <criterion/criterion.h>
#include <string.h>

#define H(n, v)                                                                                    \
    (struct gw_header)                                                                             \
    {                                                                                              \
        n, v                                                                                       \
    }

static json_t *build(const struct gw_header *h, size_t n, const char *ct, const char *body,
                     char *msg)
{
    return gw_binary_event(h, n, ct, body, body ? strlen(body) : 0, msg, 256);
}

Test(gw_binary, mode)
{
    struct gw_header with[] = {H("Ce-SpecVersion", "1.0"), H("ce-id", "1")};
    struct gw_header without[] = {H("ce-id", "1"), H("Content-Type", "application/json")};
    cr_assert(gw_binary_mode(with, 2, "application/json"));
    cr_assert(gw_binary_mode(with, 2, NULL));
    cr_assert(gw_binary_mode(with, 2, "text/plain; charset=utf-8"));
    cr_assert_not(gw_binary_mode(with, 2, "application/cloudevents+json; charset=UTF-8"),
                  "structured mode: ce- headers are ignored");
    cr_assert_not(gw_binary_mode(with, 2, "application/cloudevents-batch+json"));
    cr_assert_not(gw_binary_mode(without, 2, "application/json"), "no ce-specversion");
    cr_assert_not(gw_binary_mode(NULL, 0, "application/json"));
}

Test(gw_binary, attributes_and_data)
{
    char msg[256];
    struct gw_header h[] = {H("ce-specversion", "1.0"),
                            H("CE-ID", "e-1"),
                            H("ce-type", "order.created"),
                            H("ce-source", "/shop"),
                            H("ce-myext", "100%25 %22sure%22 caf%C3%A9"),
                            H("ce-Other", "a%zz%")};
    json_t *ev = build(h, 6, "application/json; charset=utf-8", "{\"n\": [1, 2]}", msg);
    cr_assert_not_null(ev, "%s", msg);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "id")), "e-1");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "myext")), "100% \"sure\" café");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "other")), "a%zz%",
                     "a %% without two hex digits is itself");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "datacontenttype")),
                     "application/json; charset=utf-8");
    cr_assert_eq(
        json_integer_value(json_array_get(json_object_get(json_object_get(ev, "data"), "n"), 1)),
        2);
    json_decref(ev);
    /* text, +json, bytes, nothing */
    ev = build(h, 4, "text/plain", "hello", msg);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "data")), "hello");
    json_decref(ev);
    ev = build(h, 4, "application/vnd.acme+json", "\"s\"", msg);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "data")), "s");
    json_decref(ev);
    ev = gw_binary_event(h, 4, "application/octet-stream", "\x00\x01\xff", 3, msg, sizeof(msg));
    cr_assert_str_eq(json_string_value(json_object_get(ev, "data_base64")), "AAH/");
    cr_assert_null(json_object_get(ev, "data"));
    json_decref(ev);
    ev = gw_binary_event(h, 4, "text/plain", "caf\xe9", 4, msg, sizeof(msg));
    cr_assert_not_null(json_object_get(ev, "data_base64"), "text that is not UTF-8 is bytes");
    json_decref(ev);
    ev = build(h, 4, NULL, NULL, msg);
    cr_assert_null(json_object_get(ev, "data"));
    cr_assert_null(json_object_get(ev, "datacontenttype"));
    json_decref(ev);
    /* a raw ISO-8859-1 byte (what fetch sends for "é" unencoded) */
    struct gw_header latin[] = {H("ce-specversion", "1.0"), H("ce-x", "caf\xe9")};
    ev = build(latin, 2, NULL, NULL, msg);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "x")), "café");
    json_decref(ev);
}

Test(gw_binary, hostile_requests)
{
    struct {
        struct gw_header h;
        const char *ct, *body, *named;
    } bad[] = {
        {H("ce-data", "x"), NULL, NULL, "ce-data"},
        {H("ce-datacontenttype", "text/plain"), NULL, NULL, "ce-datacontenttype"},
        {H("ce-", "x"), NULL, NULL, "ce-"},
        {H("ce-my_ext", "x"), NULL, NULL, "ce-my_ext"},
        {H("ce-my-ext", "x"), NULL, NULL, "ce-my-ext"},
        {H("ce-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "x"), NULL, NULL,
         "ce-aaaa"},
        {H("ce-x", "line%0Abreak"), NULL, NULL, "ce-x"},
        {H("ce-x", "nul%00"), NULL, NULL, "ce-x"},
        {H("ce-x", "del\x7f"), NULL, NULL, "ce-x"},
        {H("ce-type", "t"), "application/json", "{\"n\":", "JSON"},
        {H("ce-type", "t"), "application/json", "{\"a\":1,\"a\":2}", "JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_header h[] = {H("ce-specversion", "1.0"), H("ce-id", "1"), bad[i].h};
        char msg[256] = "";
        json_t *ev = build(h, 3, bad[i].ct, bad[i].body, msg);
        cr_assert_null(ev, "request %zu accepted", i);
        cr_assert(strstr(msg, bad[i].named), "request %zu: '%s' does not name %s", i, msg,
                  bad[i].named);
    }
    struct gw_header twice[] = {H("ce-specversion", "1.0"), H("ce-id", "1"), H("CE-ID", "2")};
    char msg[256];
    cr_assert_null(build(twice, 3, NULL, NULL, msg));
    cr_assert(strstr(msg, "twice"), "%s", msg);
}
