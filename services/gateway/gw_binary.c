/* gw_binary: a binary-mode CloudEvents HTTP request rebuilt as a JSON-format event (see
 * gw_binary.h). */
#include "gw_binary.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PREFIX "ce-"
#define MAX_NAME 64

static int is_ce(const char *name)
{
    return strncasecmp(name, PREFIX, 3) == 0;
}

/* The media type of a Content-Type value (before parameters), its length in *len. */
static const char *media(const char *ct, size_t *len)
{
    while (ct && (*ct == ' ' || *ct == '\t')) {
        ct++;
    }
    *len = ct ? strcspn(ct, "; \t") : 0;
    return ct;
}

static int media_is(const char *ct, const char *type)
{
    size_t len;
    ct = media(ct, &len);
    return ct && len == strlen(type) && strncasecmp(ct, type, len) == 0;
}

int gw_binary_mode(const struct gw_header *hdrs, size_t n, const char *content_type)
{
    if (media_is(content_type, "application/cloudevents+json") ||
        media_is(content_type, "application/cloudevents-batch+json")) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hdrs[i].name, PREFIX "specversion") == 0) {
            return 1;
        }
    }
    return 0;
}

static int json_media(const char *ct)
{
    size_t len;
    ct = media(ct, &len);
    if (!ct || len == 0) {
        return 0;
    }
    return (len == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (len == 9 && strncasecmp(ct, "text/json", 9) == 0) ||
           (len > 5 && strncasecmp(ct + len - 5, "+json", 5) == 0);
}

static int text_media(const char *ct)
{
    size_t len;
    ct = media(ct, &len);
    if (!ct || len == 0) {
        return 0;
    }
    return (len > 5 && strncasecmp(ct, "text/", 5) == 0) ||
           (len == 15 && strncasecmp(ct, "application/xml", 15) == 0) ||
           (len > 4 && strncasecmp(ct + len - 4, "+xml", 4) == 0);
}

static int utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t k = cm_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (k == 0) {
            return 0;
        }
        i += k;
    }
    return 1;
}

/* Decodes a header value into a fresh UTF-8 string. The binding percent-encodes what is not
 * printable ASCII, '"' and '%'; senders that do not (the JavaScript SDK sends values as they
 * are) are met halfway: a '%' not followed by two hex digits stays itself, and bytes that are not
 * UTF-8 are read as ISO-8859-1, HTTP's historical header charset. NULL when the value holds a
 * control character. */
static char *header_decode(const char *v)
{
    size_t len = strlen(v);
    char *raw = cm_xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi = v[i] == '%' && i + 2 < len ? cm_hex_digit(v[i + 1]) : -1;
        int lo = hi >= 0 ? cm_hex_digit(v[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            raw[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            raw[n++] = v[i];
        }
    }
    raw[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f) {
            free(raw);
            return NULL;
        }
    }
    if (utf8_valid(raw, n)) {
        return raw;
    }
    char *out = cm_xmalloc(n * 2 + 1); /* ISO-8859-1 to UTF-8: at most two bytes each */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += cm_utf8_encode((unsigned char)raw[i], out + k);
    }
    out[k] = '\0';
    free(raw);
    return out;
}

/* An attribute name as the specification allows: lower-case letters and digits. */
static int name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return 1;
}

/* Refuses the request: "header <name>: <why>". */
static json_t *fail(json_t *ev, char *msg, size_t msglen, const char *header, const char *why)
{
    snprintf(msg, msglen, "header %s: %s", header, why);
    json_decref(ev);
    return NULL;
}

/* Sets data (or data_base64) from the body by its media type. 0 or -1 with msg set. */
static int set_data(json_t *ev, const char *content_type, const char *body, size_t len, char *msg,
                    size_t msglen)
{
    if (len == 0) {
        return 0; /* no data */
    }
    if (json_media(content_type)) {
        json_error_t jerr;
        json_t *data = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!data) {
            snprintf(msg, msglen,
                     "the body is not valid JSON for Content-Type %s (line %d column %d: %s)",
                     content_type, jerr.line, jerr.column, jerr.text);
            return -1;
        }
        json_object_set_new(ev, "data", data);
    } else if (text_media(content_type) && utf8_valid(body, len) && !memchr(body, '\0', len)) {
        json_object_set_new(ev, "data", json_stringn(body, len));
    } else {
        char *b64 = cm_base64_encode((const unsigned char *)body, len, 0);
        json_object_set_new(ev, "data_base64", json_string(b64));
        free(b64);
    }
    return 0;
}

json_t *gw_binary_event(const struct gw_header *hdrs, size_t n, const char *content_type,
                        const char *body, size_t len, char *msg, size_t msglen)
{
    json_t *ev = json_object();
    for (size_t i = 0; i < n; i++) {
        if (!is_ce(hdrs[i].name)) {
            continue;
        }
        char name[MAX_NAME + 1];
        const char *raw = hdrs[i].name + 3;
        if (!name_ok(raw)) {
            return fail(ev, msg, msglen, hdrs[i].name,
                        "CloudEvents attribute names are 1 to 64 letters and digits");
        }
        size_t k = 0;
        for (; raw[k]; k++) {
            name[k] = (char)(raw[k] >= 'A' && raw[k] <= 'Z' ? raw[k] - 'A' + 'a' : raw[k]);
        }
        name[k] = '\0';
        if (strcmp(name, "data") == 0 || strcmp(name, "datacontenttype") == 0) {
            return fail(ev, msg, msglen, hdrs[i].name,
                        "in binary mode data is the body and datacontenttype its Content-Type");
        }
        if (json_object_get(ev, name)) {
            return fail(ev, msg, msglen, hdrs[i].name, "appears twice");
        }
        char *value = header_decode(hdrs[i].value);
        if (!value) {
            return fail(ev, msg, msglen, hdrs[i].name, "the value holds a control character");
        }
        json_object_set_new(ev, name, json_string(value));
        free(value);
    }
    if (content_type && *content_type) {
        if (!utf8_valid(content_type, strlen(content_type))) {
            return fail(ev, msg, msglen, "Content-Type", "not UTF-8");
        }
        json_object_set_new(ev, "datacontenttype", json_string(content_type));
    }
    if (set_data(ev, content_type, body, len, msg, msglen) != 0) {
        json_decref(ev);
        return NULL;
    }
    return ev;
}
