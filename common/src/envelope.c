/* envelope: CloudEvents validation, enrichment, Kafka key and headers (see envelope.h). */
#include "cm/envelope.h"

#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Context attributes the spec defines, with the JSON type each must have. */
static const struct {
    const char *name;
    int string_only;
} known_attrs[] = {
    {"specversion", 1}, {"id", 1},          {"source", 1},     {"type", 1},
    {"subject", 1},     {"time", 1},        {"datacontenttype", 1}, {"dataschema", 1},
    {"data", 0},        {"data_base64", 1},
};

static int fail(struct cm_envelope_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct cm_envelope_error *err, const char *field, const char *fmt, ...)
{
    if (err) {
        snprintf(err->field, sizeof(err->field), "/%s", field);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return CM_E_INVAL;
}

static int is_known(const char *name, int *string_only)
{
    for (size_t i = 0; i < sizeof(known_attrs) / sizeof(known_attrs[0]); i++) {
        if (strcmp(known_attrs[i].name, name) == 0) {
            *string_only = known_attrs[i].string_only;
            return 1;
        }
    }
    return 0;
}

static int ext_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CM_ENVELOPE_MAX_EXT_NAME) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return 1;
}

int cm_envelope_validate(const json_t *ev, struct cm_envelope_error *err)
{
    if (!json_is_object(ev)) {
        if (err) {
            snprintf(err->field, sizeof(err->field), "%s", "");
            snprintf(err->message, sizeof(err->message), "%s", "event must be a JSON object");
        }
        return CM_E_INVAL;
    }
    static const char *required[] = {"type", "source"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(ev, required[i]);
        if (!v) {
            return fail(err, required[i], "'%s' is required", required[i]);
        }
        if (!json_is_string(v) || json_string_length(v) == 0) {
            return fail(err, required[i], "'%s' must be a non-empty string", required[i]);
        }
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ev, key, v)
    {
        int string_only = 0;
        if (is_known(key, &string_only)) {
            if (string_only && !json_is_string(v)) {
                return fail(err, key, "'%s' must be a string", key);
            }
            continue;
        }
        if (!ext_name_ok(key)) {
            return fail(err, key,
                        "'%s' is not a valid extension attribute name (lower-case letters and "
                        "digits, at most 20)",
                        key);
        }
        if (!(json_is_string(v) || json_is_number(v) || json_is_boolean(v))) {
            return fail(err, key, "extension attribute '%s' must be a string, number or boolean",
                        key);
        }
    }
    const json_t *sv = json_object_get(ev, "specversion");
    if (sv && strcmp(json_string_value(sv), "1.0") != 0) {
        return fail(err, "specversion", "%s", "'specversion' must be \"1.0\"");
    }
    const json_t *id = json_object_get(ev, "id");
    if (id && (json_string_length(id) == 0 || json_string_length(id) > CM_ENVELOPE_MAX_ID)) {
        return fail(err, "id", "%s", "'id' must be 1 to 256 characters");
    }
    const json_t *t = json_object_get(ev, "time");
    int64_t ms;
    if (t && cm_time_parse_rfc3339(json_string_value(t), &ms) != 0) {
        return fail(err, "time", "%s", "'time' must be an RFC 3339 timestamp");
    }
    if (json_object_get(ev, "data") && json_object_get(ev, "data_base64")) {
        return fail(err, "data_base64", "%s", "'data' and 'data_base64' are mutually exclusive");
    }
    return 0;
}

static int hexrun(const char *s, size_t n, int *allzero)
{
    *allzero = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
        if (c != '0') {
            *allzero = 0;
        }
    }
    return 1;
}

int cm_traceparent_valid(const char *s)
{
    int z1, z2, z3;
    if (!s || strlen(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') {
        return 0;
    }
    if (!hexrun(s, 2, &z3) || strncmp(s, "ff", 2) == 0) {
        return 0;
    }
    return hexrun(s + 3, 32, &z1) && !z1 && hexrun(s + 36, 16, &z2) && !z2 &&
           hexrun(s + 53, 2, &z3);
}

/* A fresh W3C traceparent: version 00, random trace and parent ids, sampled. */
static void new_traceparent(char *out)
{
    unsigned char b[24];
    cm_random_bytes(b, sizeof(b));
    memcpy(out, "00-", 3);
    cm_hex_encode(b, 16, out + 3);
    out[35] = '-';
    cm_hex_encode(b + 16, 8, out + 36);
    memcpy(out + 52, "-01", 4);
}

/* Sets a member whose key and value are known valid UTF-8 (literals, our own ASCII, strings
 * that came out of jansson), skipping jansson's re-validation of both: this runs per event. */
static void set_string(json_t *ev, const char *key, const char *value)
{
    json_object_set_new_nocheck(ev, key, json_stringn_nocheck(value, strlen(value)));
}

void cm_envelope_enrich(json_t *ev, const struct cm_envelope_enrichment *e)
{
    char buf[CM_RFC3339_LEN];
    if (!json_object_get(ev, "specversion")) {
        set_string(ev, "specversion", "1.0");
    }
    if (!json_object_get(ev, "id")) {
        char id[CM_UUID_STR_LEN];
        cm_uuid_v7_at(e->received_ms, id);
        set_string(ev, "id", id);
    }
    cm_time_format_rfc3339(e->received_ms, buf);
    if (!json_object_get(ev, "time")) {
        set_string(ev, "time", buf);
    }
    if (e->tenant) {
        json_object_set_new_nocheck(ev, "tenant", json_string(e->tenant)); /* checked: a claim */
    } else {
        json_object_del(ev, "tenant");
    }
    set_string(ev, "receivedat", buf);
    if (e->clientip) {
        set_string(ev, "clientip", e->clientip);
    } else {
        json_object_del(ev, "clientip");
    }
    json_object_del(ev, "schemaid"); /* only the gateway's validation may set it */
    const json_t *tp = json_object_get(ev, "traceparent");
    if (!tp || !cm_traceparent_valid(json_string_value(tp))) {
        char t[56];
        new_traceparent(t);
        set_string(ev, "traceparent", t);
    }
}

static const char *str_attr(const json_t *ev, const char *name)
{
    const json_t *v = json_object_get(ev, name);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

const char *cm_envelope_key(const json_t *ev)
{
    const char *k = str_attr(ev, "partitionkey");
    if (!k) {
        k = str_attr(ev, "subject");
    }
    if (!k) {
        k = str_attr(ev, "id");
    }
    return k;
}

size_t cm_envelope_headers(const json_t *ev, const char *names[5], const char *values[5])
{
    static const char *attrs[] = {"id", "type", "source", "tenant", "traceparent"};
    static const char *hdrs[] = {"ce_id", "ce_type", "ce_source", "ce_tenant", "traceparent"};
    size_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        const char *v = str_attr(ev, attrs[i]);
        if (v) {
            names[n] = hdrs[i];
            values[n] = v;
            n++;
        }
    }
    return n;
}

char *cm_envelope_serialize(const json_t *ev)
{
    char *s = cm_json_dumps(ev, NULL);
    if (!s) { /* parsed events nest at most jansson's 2048 levels */
        CM_LOG_ERROR("json_unwritable", "an event nests too deeply");
        abort();
    }
    return s;
}

size_t cm_envelope_serialize_into(const json_t *ev, char *buf, size_t cap)
{
    size_t n = cm_json_dumpb(ev, buf, cap);
    if (n == 0) {
        CM_LOG_ERROR("json_unwritable", "an event nests too deeply");
        abort();
    }
    return n;
}

int64_t cm_envelope_time_ms(const json_t *ev, int64_t fallback)
{
    const char *t = str_attr(ev, "time");
    int64_t ms;
    if (t && cm_time_parse_rfc3339(t, &ms) == 0) {
        return ms;
    }
    return fallback;
}
