/* jsonw: compact JSON writer over jansson values (see jsonw.h). Escaping follows jansson's dump:
 * '"' and '\' escaped, control characters as \b \f \n \r \t or \u00XX, everything else (UTF-8
 * included, '/' too) as is. Reals differ from jansson's "%.17g": they take the fewest significant
 * digits that read back to the same double (0.1, not 0.10000000000000001, which PostgreSQL's
 * numeric and jsonb hold as another number), written as "%g" writes them with jansson's
 * exponent form (1e-7, 1e20) and ".0" added when that looks like an integer.
 * The canonical form (RFC 8785) differs in three places: \u00xx in lower case, members sorted by
 * their names' UTF-16 code units, and numbers as ECMAScript writes doubles. */
#include "cm/jsonw.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048

struct out {
    char *p;
    size_t len, cap;
    int growable;  /* 0: a caller's buffer; past its end only the length is counted */
    int canonical; /* RFC 8785 */
};

/* Grows a growable buffer to hold n more bytes (and a NUL); 0 for a full caller's buffer. */
static int grow(struct out *o, size_t n)
{
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

/* 1 when n more bytes fit at p + len (growing a growable buffer); 0 for a full caller's buffer.
 * The check is inline, the growing is not: this runs for every piece written. */
static inline int room(struct out *o, size_t n)
{
    return o->len + n <= o->cap || grow(o, n);
}

static inline void put(struct out *o, const char *s, size_t n)
{
    if (room(o, n)) {
        memcpy(o->p + o->len, s, n);
    }
    o->len += n;
}

static inline void put1(struct out *o, char c)
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

/* Nonzero when one of the 8 bytes in x needs escaping (a control character, '"' or '\\'):
 * the usual string has none, and is then copied 8 bytes per test instead of 1. Exact for
 * "none"; which byte it is, is left to the byte by byte loop. */
static inline uint64_t needs_escape8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    return ((x - ones * 0x20) & ~x & highs) | ((quote - ones) & ~quote & highs) |
           ((backslash - ones) & ~backslash & highs);
}

/* Writes the escape of byte c at d; returns its length. */
static size_t escape(unsigned char c, char *d, int lower)
{
    /* jansson writes \u001F, RFC 8785 (ECMAScript's JSON.stringify) \u001f */
    const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
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
        size_t i = 0;
        while (i < n) {
            uint64_t x;
            if (i + 8 <= n && (memcpy(&x, s + i, 8), !needs_escape8(x))) {
                memcpy(d, &x, 8); /* 8 plain bytes at once: the usual case */
                d += 8;
                i += 8;
                continue;
            }
            unsigned char c = (unsigned char)s[i++];
            if (escape_len[c]) {
                d += escape(c, d, o->canonical);
            } else {
                *d++ = (char)c;
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
            put(o, esc, escape(c, esc, o->canonical));
        }
    }
    put1(o, '"');
}

static void put_integer(struct out *o, json_int_t v)
{
    char buf[CM_DEC_LEN];
    put(o, buf, cm_fmt_dec((long long)v, buf));
}

static void put_real(struct out *o, double v)
{
    char buf[40];
    /* the usual real (a sum of whole amounts) is a whole number below 2^53: "%.17g" writes its
     * digits, without exponent, and ".0" follows; -0 is left to printf for its sign */
    if (fabs(v) < 9007199254740992.0 && v == (double)(long long)v && (v != 0 || !signbit(v))) {
        size_t n = cm_fmt_dec((long long)v, buf);
        memcpy(buf + n, ".0", 2);
        put(o, buf, n + 2);
        return;
    }
    if (!isfinite(v)) { /* jansson holds none; null, as JSON.stringify writes them */
        put(o, "null", 4);
        return;
    }
    int n = (int)cm_fmt_real(v, buf); /* the fewest digits that read back to v */
    if (!strpbrk(buf, ".eE")) {       /* keep it a real when read back, as jansson does */
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
        /* the same digits written out may be shorter, as for a whole number from 2^53 to 1e17:
         * 15555155555555610.0, not 1.555515555555561e16 (jansson's "%.17g" writes it out too) */
        char fixed[40];
        int exp10 = atoi(digits - (digits[-1] == '-'));
        size_t f = 0;
        if (exp10 >= 0 && exp10 < 17) {
            size_t sig = 0;
            for (const char *q = buf; q < e; q++) {
                if (*q == '-') {
                    fixed[f++] = '-';
                } else if (*q != '.') {
                    fixed[f++] = *q;
                    sig++;
                }
            }
            for (; sig <= (size_t)exp10; sig++) {
                fixed[f++] = '0';
            }
            if (sig == (size_t)exp10 + 1 && f + 2 < (size_t)n) { /* whole, and shorter */
                memcpy(fixed + f, ".0", 2);
                put(o, fixed, f + 2);
                return;
            }
        }
    }
    put(o, buf, (size_t)n);
}

size_t cm_json_number_canonical(double v, char *out)
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

static int put_canonical_object(struct out *o, const json_t *v, int depth);

static int put_value(struct out *o, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return -1;
    }
    char num[40];
    if (o->canonical && json_is_number(v)) {
        double d = json_number_value(v);
        if (!isfinite(d)) {
            return -1;
        }
        put(o, num, cm_json_number_canonical(d, num));
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (o->canonical) {
            return put_canonical_object(o, v, depth);
        }
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
    struct out o = {NULL, 0, 0, 1, 0};
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
    struct out o = {buf, 0, cap, 0, 0};
    if (!v || put_value(&o, v, 0) != 0) {
        return 0;
    }
    return o.len;
}

static int put_canonical_object(struct out *o, const json_t *v, int depth)
{
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
    put1(o, '{');
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        if (i) {
            put1(o, ',');
        }
        put_string(o, m[i].key, m[i].len);
        put1(o, ':');
        rc = put_value(o, m[i].value, depth + 1);
    }
    free(m);
    put1(o, '}');
    return rc;
}

char *cm_json_dumps_canonical(const json_t *v, size_t *len)
{
    struct out o = {NULL, 0, 0, 1, 1};
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

/* ---- the piecewise writer ---- */

static struct out jw_out(const struct cm_jw *w)
{
    return (struct out){w->buf, w->len, w->cap, 1, 0};
}

static void jw_back(struct cm_jw *w, const struct out *o)
{
    w->buf = o->p;
    w->len = o->len;
    w->cap = o->cap;
}

/* The separator a value needs where it goes. */
static void jw_value_at(struct cm_jw *w, struct out *o)
{
    if (w->depth == 0) {
        return;
    }
    if (w->open[w->depth - 1] == '{') {
        if (!w->after_key) {
            abort(); /* a member's value without its name */
        }
        w->after_key = 0;
        return;
    }
    if (w->some[w->depth - 1]) {
        put1(o, ',');
    }
    w->some[w->depth - 1] = 1;
}

static void jw_open(struct cm_jw *w, char c)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    put1(&o, c);
    jw_back(w, &o);
    if (w->depth == CM_JW_MAX_DEPTH) {
        abort();
    }
    w->open[w->depth] = c;
    w->some[w->depth++] = 0;
}

void cm_jw_object(struct cm_jw *w)
{
    jw_open(w, '{');
}

void cm_jw_array(struct cm_jw *w)
{
    jw_open(w, '[');
}

void cm_jw_end(struct cm_jw *w)
{
    if (w->depth == 0 || w->after_key) {
        abort();
    }
    struct out o = jw_out(w);
    put1(&o, w->open[--w->depth] == '{' ? '}' : ']');
    jw_back(w, &o);
}

void cm_jw_key(struct cm_jw *w, const char *name)
{
    if (w->depth == 0 || w->open[w->depth - 1] != '{' || w->after_key) {
        abort();
    }
    struct out o = jw_out(w);
    if (w->some[w->depth - 1]) {
        put1(&o, ',');
    }
    w->some[w->depth - 1] = 1;
    put_string(&o, name, strlen(name));
    put1(&o, ':');
    jw_back(w, &o);
    w->after_key = 1;
}

void cm_jw_stringn(struct cm_jw *w, const char *s, size_t n)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    put_string(&o, s, n);
    jw_back(w, &o);
}

void cm_jw_string(struct cm_jw *w, const char *s)
{
    cm_jw_stringn(w, s, strlen(s));
}

void cm_jw_int(struct cm_jw *w, long long v)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    put_integer(&o, (json_int_t)v);
    jw_back(w, &o);
}

void cm_jw_real(struct cm_jw *w, double v)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    if (isfinite(v)) {
        put_real(&o, v);
    } else {
        put(&o, "null", 4);
    }
    jw_back(w, &o);
}

void cm_jw_null(struct cm_jw *w)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    put(&o, "null", 4);
    jw_back(w, &o);
}

void cm_jw_bool(struct cm_jw *w, int v)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    put(&o, v ? "true" : "false", v ? 4 : 5);
    jw_back(w, &o);
}

void cm_jw_value(struct cm_jw *w, const json_t *v)
{
    struct out o = jw_out(w);
    jw_value_at(w, &o);
    if (!v || put_value(&o, v, (int)w->depth) != 0) {
        abort(); /* values built by parsing or by the JSON API nest at most 2048 levels */
    }
    jw_back(w, &o);
}

const char *cm_jw_text(struct cm_jw *w, size_t *len)
{
    struct out o = jw_out(w);
    room(&o, 1);
    o.p[o.len] = '\0';
    jw_back(w, &o);
    if (len) {
        *len = w->len;
    }
    return w->buf;
}

void cm_jw_reset(struct cm_jw *w)
{
    w->len = 0;
    w->depth = 0;
    w->after_key = 0;
}

void cm_jw_free(struct cm_jw *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}
