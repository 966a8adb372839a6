/* jsonw: compact JSON writer over jansson values (see jsonw.h). Escaping follows jansson's dump:
 * '"' and '\' escaped, control characters as \b \f \n \r \t or \u00XX, everything else (UTF-8
 * included, '/' too) as is; reals as "%.17g" with ".0" added when that looks like an integer. */
#include "cm/jsonw.h"

#include "cm/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048

struct out {
    char *p;
    size_t len, cap;
    int growable; /* 0: a caller's buffer; past its end only the length is counted */
};

/* 1 when n more bytes fit at p + len (growing a growable buffer); 0 for a full caller's buffer. */
static int room(struct out *o, size_t n)
{
    if (o->len + n <= o->cap) {
        return 1;
    }
    if (!o->growable) {
        return 0;
    }
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->len + n + 1) {
        cap *= 2;
    }
    o->p = cm_xrealloc(o->p, cap);
    o->cap = cap;
    return 1;
}

static void put(struct out *o, const char *s, size_t n)
{
    if (room(o, n)) {
        memcpy(o->p + o->len, s, n);
    }
    o->len += n;
}

static void put1(struct out *o, char c)
{
    if (room(o, 1)) {
        o->p[o->len] = c;
    }
    o->len++;
}

/* Bytes a string byte needs escaped: 0 (as is), 2 (\n, \", ...) or 6 (\u00XX). */
static const unsigned char escape_len[256] = {
    6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
};

/* Writes the escape of byte c at d; returns its length. */
static size_t escape(unsigned char c, char *d)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    d[0] = '\\';
    switch (c) {
    case '"':
    case '\\':
        d[1] = (char)c;
        return 2;
    case '\b':
        d[1] = 'b';
        return 2;
    case '\f':
        d[1] = 'f';
        return 2;
    case '\n':
        d[1] = 'n';
        return 2;
    case '\r':
        d[1] = 'r';
        return 2;
    case '\t':
        d[1] = 't';
        return 2;
    default:
        memcpy(d + 1, "u00", 3);
        d[4] = hex[c >> 4];
        d[5] = hex[c & 0x0F];
        return 6;
    }
}

static void put_string(struct out *o, const char *s, size_t n)
{
    if (room(o, 2 + 6 * n)) { /* the common case: room for the worst, write without checks */
        char *d = o->p + o->len;
        *d++ = '"';
        for (size_t i = 0; i < n;) {
            size_t start = i;
            while (i < n && !escape_len[(unsigned char)s[i]]) {
                i++;
            }
            memcpy(d, s + start, i - start);
            d += i - start;
            if (i < n) {
                d += escape((unsigned char)s[i++], d);
            }
        }
        *d++ = '"';
        o->len = (size_t)(d - o->p);
        return;
    }
    /* near the end of a caller's buffer: escape by escape, counting what does not fit */
    put1(o, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!escape_len[c]) {
            put1(o, (char)c);
        } else {
            char esc[6];
            put(o, esc, escape(c, esc));
        }
    }
    put1(o, '"');
}

static void put_integer(struct out *o, json_int_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf), *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *--p = '-';
    }
    put(o, p, (size_t)(end - p));
}

static void put_real(struct out *o, double v)
{
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof(buf)) {
        n = snprintf(buf, sizeof(buf), "0.0");
    }
    if (!strpbrk(buf, ".eE")) { /* keep it a real when read back, as jansson does */
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) { /* jansson writes exponents without '+' and leading zeros: 1e20, 1e-5 */
        char *digits = e + 1, *from = e + 1;
        if (*from == '-') {
            digits++;
            from++;
        } else if (*from == '+') {
            from++;
        }
        while (*from == '0' && from[1]) {
            from++;
        }
        memmove(digits, from, strlen(from) + 1);
        n = (int)strlen(buf);
    }
    put(o, buf, (size_t)n);
}

static int put_value(struct out *o, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return -1;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put1(o, '{');
        const char *key;
        size_t klen;
        json_t *value;
        int first = 1;
        json_object_keylen_foreach((json_t *)v, key, klen, value)
        {
            if (!first) {
                put1(o, ',');
            }
            first = 0;
            put_string(o, key, klen);
            put1(o, ':');
            if (put_value(o, value, depth + 1) != 0) {
                return -1;
            }
        }
        put1(o, '}');
        return 0;
    }
    case JSON_ARRAY: {
        put1(o, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) {
                put1(o, ',');
            }
            if (put_value(o, json_array_get(v, i), depth + 1) != 0) {
                return -1;
            }
        }
        put1(o, ']');
        return 0;
    }
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        put_integer(o, json_integer_value(v));
        return 0;
    case JSON_REAL:
        put_real(o, json_real_value(v));
        return 0;
    case JSON_TRUE:
        put(o, "true", 4);
        return 0;
    case JSON_FALSE:
        put(o, "false", 5);
        return 0;
    case JSON_NULL:
        put(o, "null", 4);
        return 0;
    }
    return -1;
}

char *cm_json_dumps(const json_t *v, size_t *len)
{
    struct out o = {NULL, 0, 0, 1};
    if (!v || put_value(&o, v, 0) != 0) {
        free(o.p);
        return NULL;
    }
    put1(&o, '\0');
    if (len) {
        *len = o.len - 1;
    }
    return o.p;
}

size_t cm_json_dumpb(const json_t *v, char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, 0};
    if (!v || put_value(&o, v, 0) != 0) {
        return 0;
    }
    return o.len;
}
