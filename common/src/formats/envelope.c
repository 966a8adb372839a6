/* envelope: CloudEvents validation, enrichment, Kafka key and headers (see envelope.h). */
#include "cm/envelope.h"

#include "cm/config.h"
#include "cm/err.h"
#include "cm/jsonscan.h"
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
    {"specversion", 1}, {"id", 1},          {"source", 1},          {"type", 1},
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

int cm_envelope_tenant_ok(const char *s, size_t len)
{
    if (!s || len > CM_TENANT_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
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
    if (e->received_text && strlen(e->received_text) < sizeof(buf)) {
        memcpy(buf, e->received_text, strlen(e->received_text) + 1);
    } else {
        cm_time_format_rfc3339(e->received_ms, buf);
    }
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

size_t cm_envelope_headers(const json_t *ev, const char *names[CM_ENVELOPE_MAX_HEADERS],
                           const char *values[CM_ENVELOPE_MAX_HEADERS])
{
    static const char *attrs[] = {"id", "type", "source", "tenant", "traceparent"};
    static const char *hdrs[] = {"ce_id", "ce_type", "ce_source", "ce_tenant", "traceparent"};
    names[0] = "content-type";
    values[0] = CM_ENVELOPE_CONTENT_TYPE;
    size_t n = 1;
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

int cm_envelope_check_time(const json_t *ev, const struct cm_envelope_enrichment *e,
                           struct cm_envelope_error *err)
{
    const char *t = str_attr(ev, "time");
    int64_t ms;
    if (e->max_ahead_ms <= 0 || !t || cm_time_parse_rfc3339(t, &ms) != 0 || ms <= e->received_ms ||
        ms - e->received_ms <= e->max_ahead_ms) {
        return 0;
    }
    char ahead[32];
    char limit[CM_RFC3339_LEN];
    cm_time_format_rfc3339(e->received_ms + e->max_ahead_ms, limit);
    return fail(err, "time", "'time' %.40s is more than %s ahead of the gateway's clock (%s)", t,
                cm_format_duration_ms(e->max_ahead_ms, ahead, sizeof(ahead)), limit);
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

/* ---- The fast lane (see envelope.h) ---- */

#define TEXT_MAX_MEMBERS 32

/* What the fast lane reads of one event's members. */
struct attrs {
    const struct cm_jscan_span *id, *type, *source, *subject, *time, *specversion, *traceparent,
        *partitionkey, *data, *data_base64;
    int has_tenant, has_receivedat, has_clientip;
    int64_t time_ms; /* `time` read, when there is one */
};

static inline int span_is(const struct cm_jscan_span *s, const char *word)
{
    size_t n = strlen(word); /* of a literal: folded by the compiler */
    return s->len == n && memcmp(s->text, word, n) == 0;
}

/* A string the fast lane can read as it is: unescaped. */
static int plain_string(const struct cm_jscan_span *v)
{
    return v->type == 's' && !v->escaped;
}

/* Text the fast lane may write between quotes as it is: printable ASCII without '"' or '\'. */
static int plain_ascii(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\') {
            return 0;
        }
    }
    return 1;
}

static int ext_name_span_ok(const struct cm_jscan_span *k)
{
    if (k->len == 0 || k->len > CM_ENVELOPE_MAX_EXT_NAME) {
        return 0;
    }
    for (size_t i = 0; i < k->len; i++) {
        char c = k->text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return 1;
}

/* The slot of a context attribute the fast lane reads, by name; NULL for other names. */
static const struct cm_jscan_span **known_attr(struct attrs *a, const struct cm_jscan_span *k)
{
    switch (k->len) { /* by length first: this runs for every member of every event */
    case 2:
        return span_is(k, "id") ? &a->id : NULL;
    case 4:
        return span_is(k, "type")   ? &a->type
               : span_is(k, "time") ? &a->time
               : span_is(k, "data") ? &a->data
                                    : NULL;
    case 6:
        return span_is(k, "source") ? &a->source : NULL;
    case 7:
        return span_is(k, "subject") ? &a->subject : NULL;
    case 11:
        return span_is(k, "specversion")   ? &a->specversion
               : span_is(k, "data_base64") ? &a->data_base64
                                           : NULL;
    default:
        return NULL;
    }
}

/* The checks of cm_envelope_validate on spans; 0 when the event passes them plainly. */
static int read_attrs(const struct cm_jscan_member *m, size_t n, struct attrs *a)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        const struct cm_jscan_span *k = &m[i].key, *v = &m[i].value;
        if (k->escaped) {
            return -1;
        }
        const struct cm_jscan_span **known = known_attr(a, k);
        if (known) {
            if (known != &a->data && !plain_string(v)) { /* all but data are strings */
                return -1;
            }
            *known = v;
            continue;
        }
        if (span_is(k, "datacontenttype") || span_is(k, "dataschema")) {
            if (!plain_string(v)) {
                return -1;
            }
            continue;
        }
        if (!ext_name_span_ok(k) ||
            !(v->type == 's' || v->type == 'n' || v->type == 't' || v->type == 'f')) {
            return -1;
        }
        if (span_is(k, "traceparent")) {
            a->traceparent = v;
        } else if (span_is(k, "partitionkey")) {
            if (v->type == 's' && v->escaped) {
                return -1;
            }
            a->partitionkey = v;
        } else if (span_is(k, "tenant")) {
            a->has_tenant = 1;
        } else if (span_is(k, "receivedat")) {
            a->has_receivedat = 1;
        } else if (span_is(k, "clientip")) {
            a->has_clientip = 1;
        }
    }
    if (!a->type || !a->type->len || !a->source || !a->source->len) {
        return -1;
    }
    if (a->specversion && !span_is(a->specversion, "1.0")) {
        return -1;
    }
    if (a->id && (a->id->len == 0 || a->id->len > CM_ENVELOPE_MAX_ID)) {
        return -1;
    }
    if (a->time) {
        char t[64];
        int64_t ms;
        if (a->time->len >= sizeof(t)) {
            return -1;
        }
        memcpy(t, a->time->text, a->time->len);
        t[a->time->len] = '\0';
        if (cm_time_parse_rfc3339(t, &ms) != 0) {
            return -1;
        }
        a->time_ms = ms;
    }
    return a->data && a->data_base64 ? -1 : 0;
}

/* Output cursor over a buffer sized for everything written to it. */
struct out {
    char *p;
};

static void put(struct out *o, const char *s, size_t n)
{
    memcpy(o->p, s, n);
    o->p += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* ,"name":"value" (the comma unless first) with value written as it is. */
static void put_member(struct out *o, int *first, const char *name, const char *value, size_t vlen)
{
    if (!*first) {
        *o->p++ = ',';
    }
    *first = 0;
    *o->p++ = '"';
    put_str(o, name);
    put(o, "\":\"", 3);
    put(o, value, vlen);
    *o->p++ = '"';
}

/* A NUL-terminated copy of n bytes at s, in the copies area. */
static const char *put_copy(struct out *o, const char *s, size_t n)
{
    char *start = o->p;
    put(o, s, n);
    *o->p++ = '\0';
    return start;
}

int cm_envelope_enrich_text(const struct cm_jscan_span *event,
                            const struct cm_envelope_enrichment *e, char *scratch,
                            size_t scratch_len, struct cm_envelope_text *out)
{
    memset(out, 0, sizeof(*out));
    struct cm_jscan_member split[TEXT_MAX_MEMBERS];
    const struct cm_jscan_member *m = event->members; /* gathered by the scan, or split here */
    size_t n = event->nmembers, len = event->len;
    struct attrs a;
    if (event->type != 'o' || event->unsure) {
        return CM_ENVELOPE_NEEDS_JANSSON;
    }
    if (!m) {
        if (cm_jscan_members(event, split, TEXT_MAX_MEMBERS, &n) != 0) {
            return CM_ENVELOPE_NEEDS_JANSSON;
        }
        m = split;
    }
    if (n > TEXT_MAX_MEMBERS || read_attrs(m, n, &a) != 0 ||
        (e->tenant && !plain_ascii(e->tenant)) || (e->clientip && !plain_ascii(e->clientip)) ||
        (a.time && e->max_ahead_ms > 0 && a.time_ms > e->received_ms &&
         a.time_ms - e->received_ms > e->max_ahead_ms)) {
        return CM_ENVELOPE_NEEDS_JANSSON;
    }
    size_t tenant_len = e->tenant ? strlen(e->tenant) : 0;
    size_t clientip_len = e->clientip ? strlen(e->clientip) : 0;
    /* the enriched text: the members (at most len bytes) and what is added or replaced */
    size_t cap = len + 400 + tenant_len + clientip_len + 32 /* schemaid */;
    /* then the copies: id, type, source, key, tenant, traceparent */
    size_t copies = CM_ENVELOPE_MAX_ID + a.type->len + a.source->len + len + tenant_len + 56 + 6;
    char *buf = scratch;
    if (!scratch || scratch_len < cap + copies) {
        buf = cm_xmalloc(cap + copies);
        out->owned = 1;
    }
    struct out o = {buf};
    char now[CM_RFC3339_LEN], id[CM_UUID_STR_LEN], tp[56];
    if (e->received_text && strlen(e->received_text) < sizeof(now)) {
        memcpy(now, e->received_text, strlen(e->received_text) + 1);
    } else {
        cm_time_format_rfc3339(e->received_ms, now);
    }
    int tp_valid = 0;
    if (a.traceparent && plain_string(a.traceparent) && a.traceparent->len == 55) {
        memcpy(tp, a.traceparent->text, 55);
        tp[55] = '\0';
        tp_valid = cm_traceparent_valid(tp);
    }
    if (!tp_valid) {
        new_traceparent(tp);
    }
    int first = 1;
    size_t data_off = 0;
    *o.p++ = '{';
    for (size_t i = 0; i < n; i++) {
        const struct cm_jscan_span *k = &m[i].key, *v = &m[i].value;
        if (span_is(k, "tenant")) {
            if (e->tenant) {
                put_member(&o, &first, "tenant", e->tenant, tenant_len);
            }
        } else if (span_is(k, "receivedat")) {
            put_member(&o, &first, "receivedat", now, strlen(now));
        } else if (span_is(k, "clientip")) {
            if (e->clientip) {
                put_member(&o, &first, "clientip", e->clientip, clientip_len);
            }
        } else if (span_is(k, "schemaid")) {
            continue; /* only the gateway's validation may set it */
        } else if (v == a.traceparent && !tp_valid) {
            put_member(&o, &first, "traceparent", tp, 55);
        } else {
            if (!first) {
                *o.p++ = ',';
            }
            first = 0;
            *o.p++ = '"';
            put(&o, k->text, k->len);
            put(&o, "\":", 2);
            const char *vtext = v->type == 's' ? v->text - 1 : v->text; /* strings: quoted */
            size_t vlen = v->type == 's' ? v->len + 2 : v->len;
            if (v == a.data) {
                data_off = (size_t)(o.p - buf);
                out->datalen = vlen;
            }
            put(&o, vtext, vlen);
        }
    }
    if (!a.specversion) {
        put_member(&o, &first, "specversion", "1.0", 3);
    }
    if (!a.id) {
        cm_uuid_v7_at(e->received_ms, id);
        put_member(&o, &first, "id", id, strlen(id));
    }
    if (!a.time) {
        put_member(&o, &first, "time", now, strlen(now));
    }
    if (e->tenant && !a.has_tenant) {
        put_member(&o, &first, "tenant", e->tenant, tenant_len);
    }
    if (!a.has_receivedat) {
        put_member(&o, &first, "receivedat", now, strlen(now));
    }
    if (e->clientip && !a.has_clientip) {
        put_member(&o, &first, "clientip", e->clientip, clientip_len);
    }
    if (!a.traceparent) {
        put_member(&o, &first, "traceparent", tp, 55);
    }
    *o.p++ = '}';
    out->len = (size_t)(o.p - buf);
    *o.p = '\0';
    if (a.data) {
        out->data = buf + data_off;
    }
    /* the copies, after the room left for schemaid */
    o.p = buf + cap;
    out->json = buf;
    out->id = a.id ? put_copy(&o, a.id->text, a.id->len) : put_copy(&o, id, strlen(id));
    out->type = put_copy(&o, a.type->text, a.type->len);
    const char *source = put_copy(&o, a.source->text, a.source->len);
    if (a.partitionkey && a.partitionkey->type == 's' && a.partitionkey->len) {
        out->key = put_copy(&o, a.partitionkey->text, a.partitionkey->len);
        out->keylen = a.partitionkey->len;
    } else if (a.subject && a.subject->len) {
        out->key = put_copy(&o, a.subject->text, a.subject->len);
        out->keylen = a.subject->len;
    } else {
        out->key = out->id;
        out->keylen = strlen(out->id);
    }
    size_t nh = 0;
    out->header_names[nh] = "content-type";
    out->header_values[nh++] = CM_ENVELOPE_CONTENT_TYPE;
    out->header_names[nh] = "ce_id";
    out->header_values[nh++] = out->id;
    out->header_names[nh] = "ce_type";
    out->header_values[nh++] = out->type;
    out->header_names[nh] = "ce_source";
    out->header_values[nh++] = source;
    if (e->tenant && tenant_len) {
        out->header_names[nh] = "ce_tenant";
        out->header_values[nh++] = put_copy(&o, e->tenant, tenant_len);
    }
    out->header_names[nh] = "traceparent";
    out->header_values[nh++] = put_copy(&o, tp, 55);
    out->nheaders = nh;
    return 0;
}

json_t *cm_envelope_text_members(const struct cm_envelope_text *t, const char *const *names,
                                 size_t n)
{
    /* our own text: split without checking it again */
    struct cm_jscan_span doc = {t->json, t->len, 'o', 0, 0, 0, NULL, 0};
    struct cm_jscan_member m[TEXT_MAX_MEMBERS + 8]; /* the client's and the gateway's */
    size_t nm;
    json_t *ev = json_object();
    if (n == 0 || cm_jscan_members(&doc, m, sizeof(m) / sizeof(m[0]), &nm) != 0) {
        return ev;
    }
    for (size_t i = 0; i < nm; i++) {
        const struct cm_jscan_span *k = &m[i].key, *v = &m[i].value;
        size_t j = 0;
        while (j < n && !span_is(k, names[j])) {
            j++;
        }
        if (j == n) {
            continue;
        }
        json_t *val;
        if (v->type == 's' && !v->escaped) {
            val = json_stringn_nocheck(v->text, v->len); /* checked UTF-8 without escapes */
        } else {
            const char *text = v->type == 's' ? v->text - 1 : v->text; /* with its quotes */
            val = json_loadb(text, v->type == 's' ? v->len + 2 : v->len, JSON_DECODE_ANY, NULL);
        }
        json_object_setn_new_nocheck(ev, k->text, k->len, val); /* keys: plain names */
    }
    return ev;
}

void cm_envelope_text_set_schemaid(struct cm_envelope_text *t, int schema_id)
{
    char tail[32];
    int n = snprintf(tail, sizeof(tail), "%s\"schemaid\":%d}", t->len > 2 ? "," : "", schema_id);
    memcpy(t->json + t->len - 1, tail, (size_t)n + 1);
    t->len += (size_t)n - 1;
}

void cm_envelope_text_free(struct cm_envelope_text *t)
{
    if (t->owned) {
        free(t->json);
    }
    memset(t, 0, sizeof(*t));
}
