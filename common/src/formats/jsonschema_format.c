/* jsonschema_format: the "format" keyword's checks (see jsonschema_internal.h): date-time, date,
 * time, email, hostname, ipv4, ipv6, uri, uri-reference, uuid, json-pointer and regex (compiled
 * with PCRE2); unknown formats are annotations and pass. */
#include "jsonschema_internal.h"

#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fmt_date(const char *s)
{
    char buf[48];
    if (strlen(s) != 10) {
        return 0;
    }
    snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
    int64_t ms;
    return cm_time_parse_rfc3339(buf, &ms) == 0;
}

static int fmt_time(const char *s)
{
    char buf[64];
    if (strlen(s) > 40) {
        return 0;
    }
    snprintf(buf, sizeof(buf), "2000-01-01T%s", s);
    int64_t ms;
    return strlen(s) >= 9 && cm_time_parse_rfc3339(buf, &ms) == 0;
}

static int fmt_ipv4(const char *s)
{
    int parts = 0;
    const char *p = s;
    while (*p) {
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        size_t n = (size_t)(p - start);
        if (n == 0 || n > 3 || (n > 1 && *start == '0') || atoi(start) > 255) {
            return 0;
        }
        parts++;
        if (*p == '.') {
            p++;
            if (!*p) {
                return 0;
            }
        } else if (*p) {
            return 0;
        }
    }
    return parts == 4;
}

static int hexd(char c)
{
    return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f');
}

static int fmt_ipv6(const char *s)
{
    size_t len = strlen(s);
    if (len < 2 || len > 45) {
        return 0;
    }
    int groups = 0, dcolon = 0;
    const char *p = s;
    if (p[0] == ':' && p[1] == ':') {
        dcolon = 1;
        p += 2;
    } else if (p[0] == ':') {
        return 0;
    }
    while (*p) {
        const char *start = p;
        while (hexd(*p)) {
            p++;
        }
        size_t n = (size_t)(p - start);
        if (*p == '.') { /* embedded IPv4 at the end */
            if (!fmt_ipv4(start)) {
                return 0;
            }
            groups += 2;
            break;
        }
        if (n == 0 || n > 4) {
            return 0;
        }
        groups++;
        if (*p == ':') {
            p++;
            if (*p == ':') {
                if (dcolon) {
                    return 0;
                }
                dcolon = 1;
                p++;
            } else if (!*p) {
                return 0;
            }
        } else if (*p) {
            return 0;
        }
    }
    return dcolon ? groups < 8 : groups == 8;
}

static int fmt_hostname(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253) {
        return 0;
    }
    const char *p = s;
    while (*p) {
        const char *start = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '-') {
            p++;
        }
        size_t n = (size_t)(p - start);
        if (n == 0 || n > 63 || *start == '-' || p[-1] == '-') {
            return 0;
        }
        if (*p == '.') {
            p++;
            if (!*p) {
                return 0;
            }
        } else if (*p) {
            return 0;
        }
    }
    return 1;
}

static int fmt_email(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || !at[1]) {
        return 0;
    }
    size_t local = (size_t)(at - s);
    if (s[0] == '.' || s[local - 1] == '.' || strstr(s, "..")) {
        return 0;
    }
    for (const char *p = s; p < at; p++) {
        if ((unsigned char)*p <= ' ' || strchr("()<>[]:;@\\,\"", *p)) {
            return 0;
        }
    }
    return fmt_hostname(at + 1) || (at[1] == '[' && strchr(at, ']'));
}

static int fmt_uuid(const char *s)
{
    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !hexd(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int uri_chars_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p >= 0x7F || strchr("<>\"{}|\\^`", *p)) {
            return 0;
        }
        if (*p == '%' && !(hexd((char)p[1]) && hexd((char)p[2]))) {
            return 0;
        }
    }
    return 1;
}

static int fmt_uri(const char *s)
{
    return jsonschema_has_scheme(s) && uri_chars_ok(s);
}

static int fmt_json_pointer(const char *s)
{
    if (*s && *s != '/') {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '~' && p[1] != '0' && p[1] != '1') {
            return 0;
        }
    }
    return 1;
}

static int fmt_date_time(const char *v)
{
    int64_t ms;
    return cm_time_parse_rfc3339(v, &ms) == 0;
}

static int fmt_regex(const char *v)
{
    return cm_regex_valid(v, strlen(v));
}

static const struct {
    const char *name;
    int (*check)(const char *v);
} formats[] = {
    {"date-time", fmt_date_time},
    {"date", fmt_date},
    {"time", fmt_time},
    {"email", fmt_email},
    {"hostname", fmt_hostname},
    {"ipv4", fmt_ipv4},
    {"ipv6", fmt_ipv6},
    {"uri", fmt_uri},
    {"uri-reference", uri_chars_ok},
    {"uuid", fmt_uuid},
    {"json-pointer", fmt_json_pointer},
    {"regex", fmt_regex},
};

/* Unknown formats are annotations: they always pass. */
int jsonschema_format_ok(const char *fmt, const char *v)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(fmt, formats[i].name) == 0) {
            return formats[i].check(v);
        }
    }
    return 1;
}
