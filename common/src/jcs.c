/* jcs: RFC 8785 canonical JSON (see cm/jcs.h). */
#include "cm/jcs.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = cm_xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

size_t cm_jcs_number(double v, char *out)
{
    if (v == 0) { /* 0 and -0 */
        out[0] = '0';
        out[1] = '\0';
        return 1;
    }
    char *p = out;
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    /* the fewest significant digits that read back to v; printf rounds correctly, so among
     * those of that length it gives the one closest to v, as ECMAScript requires */
    char buf[40];
    int prec = 0;
    for (; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    /* buf is d[.ddd]e[+-]x: the digits and the decimal exponent */
    char digits[20];
    size_t k = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++) {
        if (*q != '.') {
            digits[k++] = *q;
        }
    }
    int exp10 = atoi(q + 1);
    while (k > 1 && digits[k - 1] == '0') {
        k--; /* %e may pad with zeros */
    }
    int n = exp10 + 1; /* v = 0.digits × 10^n */
    if ((int)k <= n && n <= 21) {
        memcpy(p, digits, k);
        p += k;
        for (int i = 0; i < n - (int)k; i++) {
            *p++ = '0';
        }
    } else if (0 < n && n <= 21) {
        memcpy(p, digits, (size_t)n);
        p += n;
        *p++ = '.';
        memcpy(p, digits + n, k - (size_t)n);
        p += k - (size_t)n;
    } else if (-6 < n && n <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -n; i++) {
            *p++ = '0';
        }
        memcpy(p, digits, k);
        p += k;
    } else {
        *p++ = digits[0];
        if (k > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, k - 1);
            p += k - 1;
        }
        p += sprintf(p, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    *p = '\0';
    return (size_t)(p - out);
}

static void put_string(struct out *o, const char *s, size_t len)
{
    put(o, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof(u), "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            put(o, s + i - run, run);
            run = 0;
            put(o, esc, strlen(esc));
        } else {
            run++;
        }
    }
    put(o, s + len - run, run);
    put(o, "\"", 1);
}

/* The next UTF-16 code unit of a UTF-8 string (jansson keeps strings valid UTF-8). *pending holds
 * the low surrogate of a supplementary character between calls. -1 at the end. */
static int next_unit(const unsigned char **s, const unsigned char *end, int *pending)
{
    if (*pending >= 0) {
        int u = *pending;
        *pending = -1;
        return u;
    }
    if (*s >= end) {
        return -1;
    }
    uint32_t cp;
    unsigned char c = **s;
    size_t n = cm_utf8_seq_len(*s, (size_t)(end - *s));
    if (n <= 1) {
        cp = c;
        n = 1;
    } else if (n == 2) {
        cp = ((uint32_t)(c & 0x1F) << 6) | ((*s)[1] & 0x3F);
    } else if (n == 3) {
        cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)((*s)[1] & 0x3F) << 6) | ((*s)[2] & 0x3F);
    } else {
        cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)((*s)[1] & 0x3F) << 12) |
             ((uint32_t)((*s)[2] & 0x3F) << 6) | ((*s)[3] & 0x3F);
    }
    *s += n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *pending = (int)(0xDC00 + (cp & 0x3FF));
        return (int)(0xD800 + (cp >> 10));
    }
    return (int)cp;
}

/* Orders member names by their UTF-16 code units, as RFC 8785 section 3.2.3 says. */
static int utf16_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    const unsigned char *pa = (const unsigned char *)a, *pb = (const unsigned char *)b;
    const unsigned char *ea = pa + alen, *eb = pb + blen;
    int qa = -1, qb = -1;
    for (;;) {
        int ua = next_unit(&pa, ea, &qa), ub = next_unit(&pb, eb, &qb);
        if (ua != ub) {
            return ua < ub ? -1 : 1; /* the end (-1) sorts first */
        }
        if (ua < 0) {
            return 0;
        }
    }
}

struct member {
    const char *key;
    size_t len;
    json_t *value;
};

static int member_cmp(const void *x, const void *y)
{
    const struct member *a = x, *b = y;
    return utf16_cmp(a->key, a->len, b->key, b->len);
}

static int put_value(struct out *o, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return -1;
    }
    char num[40];
    switch (json_typeof(v)) {
    case JSON_NULL:
        put(o, "null", 4);
        return 0;
    case JSON_TRUE:
        put(o, "true", 4);
        return 0;
    case JSON_FALSE:
        put(o, "false", 5);
        return 0;
    case JSON_INTEGER:
        put(o, num, cm_jcs_number((double)json_integer_value(v), num));
        return 0;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d)) {
            return -1;
        }
        put(o, num, cm_jcs_number(d, num));
        return 0;
    }
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        return 0;
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
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        struct member *m = cm_xcalloc(n ? n : 1, sizeof(*m));
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            m[i++] = (struct member){key, klen, val};
        }
        qsort(m, n, sizeof(*m), member_cmp);
        put(o, "{", 1);
        int rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            if (i) {
                put(o, ",", 1);
            }
            put_string(o, m[i].key, m[i].len);
            put(o, ":", 1);
            rc = put_value(o, m[i].value, depth + 1);
        }
        free(m);
        put(o, "}", 1);
        return rc;
    }
    }
    return -1;
}

char *cm_jcs(const json_t *v, size_t *len)
{
    struct out o = {NULL, 0, 0};
    put(&o, "", 0);
    if (put_value(&o, v, 0) != 0) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}
