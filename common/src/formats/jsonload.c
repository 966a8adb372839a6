/* jsonload: reads JSON text into jansson values through the scanner (see cm_jscan_load in
 * jsonscan.h). The scanner checks the text first; a second pass over the checked text builds the
 * values directly, in the text's member order, without jansson's character-by-character lexer
 * (measured: a 250-byte event in about a quarter of json_loadb's time). Whatever the scanner
 * leaves to jansson (`unsure`, too deep) goes to json_loadb. */
#include "cm/jsonscan.h"

#include "cm/text.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct cur {
    const char *p, *end;
};

static void skip_ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

/* Appends code point u (BMP, not a surrogate: the scanner leaves others to jansson) as UTF-8. */
static char *put_utf8(char *o, unsigned u)
{
    if (u < 0x80) {
        *o++ = (char)u;
    } else if (u < 0x800) {
        *o++ = (char)(0xC0 | u >> 6);
        *o++ = (char)(0x80 | (u & 0x3F));
    } else {
        *o++ = (char)(0xE0 | u >> 12);
        *o++ = (char)(0x80 | (u >> 6 & 0x3F));
        *o++ = (char)(0x80 | (u & 0x3F));
    }
    return o;
}

/* Decodes the escapes of a checked string's contents into out (room for n + 1 bytes: a decoded
 * string is never longer); returns its length, NUL-terminated. */
static size_t unescape(const char *s, size_t n, char *out)
{
    char *o = out;
    const char *end = s + n;
    while (s < end) {
        if (*s != '\\' || s + 1 >= end) {
            *o++ = *s++;
            continue;
        }
        char e = s[1];
        s += 2;
        switch (e) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned u = 0;
            for (int i = 0; i < 4 && s < end; i++) {
                int h = cm_hex_digit((unsigned char)*s++);
                u = u << 4 | (unsigned)(h < 0 ? 0 : h);
            }
            o = put_utf8(o, u);
            break;
        }
        default: /* " \ / */
            *o++ = e;
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* The contents of the string at c->p (a quote), with *escaped; c->p moves past it. */
static const char *string_span(struct cur *c, size_t *n, int *escaped)
{
    const char *start = ++c->p;
    *escaped = 0;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\') {
            *escaped = 1;
            c->p++;
        }
        c->p++;
    }
    *n = (size_t)(c->p - start);
    c->p++;
    return start;
}

static json_t *build(struct cur *c);

static json_t *build_string(struct cur *c)
{
    size_t n;
    int escaped;
    const char *s = string_span(c, &n, &escaped);
    if (!escaped) {
        return json_stringn_nocheck(s, n);
    }
    char small[256];
    char *buf = n < sizeof(small) ? small : malloc(n + 1);
    if (!buf) {
        return NULL;
    }
    size_t len = unescape(s, n, buf);
    json_t *v = json_stringn_nocheck(buf, len);
    if (buf != small) {
        free(buf);
    }
    return v;
}

static json_t *build_number(struct cur *c)
{
    const char *start = c->p;
    int integer = 1;
    while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '-' || *c->p == '+' ||
                             *c->p == '.' || *c->p == 'e' || *c->p == 'E')) {
        integer &= *c->p != '.' && *c->p != 'e' && *c->p != 'E';
        c->p++;
    }
    char buf[64]; /* the scanner leaves longer numbers to jansson */
    size_t n = (size_t)(c->p - start);
    if (n == 0 || n >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, start, n);
    buf[n] = '\0';
    /* jansson reads numbers with strtoll and strtod too; the daemons keep the C locale */
    return integer ? json_integer(strtoll(buf, NULL, 10)) : json_real(strtod(buf, NULL));
}

static json_t *build_object(struct cur *c)
{
    json_t *obj = json_object();
    c->p++;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p == '}') {
            c->p++;
            return obj;
        }
        if (*c->p == ',') {
            c->p++;
            skip_ws(c);
        }
        size_t n;
        int escaped;
        const char *k = string_span(c, &n, &escaped);
        char small[256];
        char *key = n < sizeof(small) ? small : malloc(n + 1);
        if (!key) {
            json_decref(obj);
            return NULL;
        }
        if (escaped) {
            unescape(k, n, key);
        } else {
            memcpy(key, k, n);
            key[n] = '\0';
        }
        skip_ws(c);
        c->p++; /* : */
        json_t *v = build(c);
        int rc = v ? json_object_set_new_nocheck(obj, key, v) : -1;
        if (key != small) {
            free(key);
        }
        if (rc != 0) {
            json_decref(obj);
            return NULL;
        }
    }
}

static json_t *build_array(struct cur *c)
{
    json_t *arr = json_array();
    c->p++;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p == ']') {
            c->p++;
            return arr;
        }
        if (*c->p == ',') {
            c->p++;
        }
        json_t *v = build(c);
        if (!v || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
}

static json_t *build(struct cur *c)
{
    skip_ws(c);
    if (c->p >= c->end) {
        return NULL;
    }
    switch (*c->p) {
    case '{':
        return build_object(c);
    case '[':
        return build_array(c);
    case '"':
        return build_string(c);
    case 't':
        c->p += 4;
        return json_true();
    case 'f':
        c->p += 5;
        return json_false();
    case 'n':
        c->p += 4;
        return json_null();
    default:
        return build_number(c);
    }
}

json_t *cm_jscan_load(const char *text, size_t len)
{
    struct cm_jscan_span doc;
    if (!text) {
        return NULL;
    }
    int rc = cm_jscan_document(text, len, &doc);
    if (rc == CM_JSCAN_INVALID && !memchr(text, '\0', len)) {
        return NULL; /* jansson refuses it too (a NUL byte after a number it may read past) */
    }
    if (rc != 0 || doc.unsure) {
        return json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    }
    if (doc.type != 'o' && doc.type != 'a') {
        return NULL; /* json_loadb takes only objects and arrays at the top */
    }
    struct cur c = {doc.text, doc.text + doc.len};
    json_t *v = build(&c);
    return v ? v : json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
}
