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

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap && o->growable) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1) {
            cap *= 2;
        }
        o->p = cm_xrealloc(o->p, cap);
        o->cap = cap;
    }
    if (o->len + n <= o->cap) {
        memcpy(o->p + o->len, s, n);
    }
    o->len += n;
}

static void put_string(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    put(o, "\"", 1);
    size_t run = 0; /* start of the bytes not written yet */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        put(o, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0x0F];
            elen = 6;
            break;
        }
        put(o, esc, elen);
    }
    put(o, s + run, n - run);
    put(o, "\"", 1);
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
        put(o, "{", 1);
        const char *key;
        size_t klen;
        json_t *value;
        int first = 1;
        json_object_keylen_foreach((json_t *)v, key, klen, value)
        {
            if (!first) {
                put(o, ",", 1);
            }
            first = 0;
            put_string(o, key, klen);
            put(o, ":", 1);
            if (put_value(o, value, depth + 1) != 0) {
                return -1;
            }
        }
        put(o, "}", 1);
        return 0;
    }
    case JSON_ARRAY: {
        put(o, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) {
                put(o, ",", 1);
            }
            if (put_value(o, json_array_get(v, i), depth + 1) != 0) {
                return -1;
            }
        }
        put(o, "]", 1);
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
    put(&o, "", 1); /* the NUL (room is made for it) */
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
