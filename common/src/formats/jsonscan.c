/* jsonscan: JSON checking and span finding without building values (see jsonscan.h). A
 * recursive-descent scanner bounded at CM_JSCAN_MAX_DEPTH; each object keeps the spans of its
 * first CM_JSCAN_MAX_KEYS unescaped keys to refuse duplicates. */
#include "cm/jsonscan.h"

#include "cm/text.h"

#include <stddef.h>
#include <string.h>

struct scanner {
    const unsigned char *p, *end;
    int unsure;
    /* members of the objects at pool_depth, gathered while there is room */
    struct cm_jscan_member *pool;
    size_t pool_max, pool_used;
    int pool_depth;
};

static void skip_ws(struct scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) {
        s->p++;
    }
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Bytes a string holds as they are: printable ASCII but '"' and '\'. */
static const unsigned char plain_byte[256] = {
    ['\x20'] = 1,
    1,
    0 /* '"' */,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1, /* 0x20-0x2f */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1, /* 0x30-0x3f */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1, /* 0x40-0x4f */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    0 /* '\\' */,
    1,
    1,
    1, /* 0x50-0x5f */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1, /* 0x60-0x6f */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1, /* 0x70-0x7f */
};

/* At the opening quote. */
static int scan_string(struct scanner *s, struct cm_jscan_span *v)
{
    const unsigned char *p = s->p + 1, *end = s->end, *start = p;
    int escaped = 0;
    for (;;) {
        while (p < end && plain_byte[*p]) {
            p++;
        }
        if (p >= end) {
            return CM_JSCAN_INVALID;
        }
        unsigned char c = *p;
        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            return CM_JSCAN_INVALID;
        }
        if (c == '\\') {
            escaped = 1;
            if (++p >= end) {
                return CM_JSCAN_INVALID;
            }
            switch (*p) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p++;
                continue;
            case 'u': {
                if (end - p < 5) {
                    return CM_JSCAN_INVALID;
                }
                unsigned u = 0;
                for (int i = 1; i <= 4; i++) {
                    int h = cm_hex_digit(p[i]);
                    if (h < 0) {
                        return CM_JSCAN_INVALID;
                    }
                    u = u << 4 | (unsigned)h;
                }
                if (u == 0 || (u >= 0xD800 && u <= 0xDFFF)) {
                    s->unsure = 1; /* NUL and surrogate pairing: jansson's call */
                }
                p += 5;
                continue;
            }
            default:
                return CM_JSCAN_INVALID;
            }
        }
        size_t n = cm_utf8_seq_len(p, (size_t)(end - p)); /* strict: no overlongs, surrogates */
        if (!n) {
            return CM_JSCAN_INVALID;
        }
        p += n;
    }
    v->type = 's';
    v->text = (const char *)start;
    v->len = (size_t)(p - start);
    v->escaped = (unsigned char)escaped;
    s->p = p + 1;
    return 0;
}

static int scan_number(struct scanner *s, struct cm_jscan_span *v)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    if (*p == '-') {
        p++;
    }
    const unsigned char *digits = p;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) {
            p++;
        }
    } else {
        return CM_JSCAN_INVALID;
    }
    size_t int_digits = (size_t)(p - digits);
    int integer = 1;
    if (p < end && *p == '.') {
        integer = 0;
        if (++p >= end || !is_digit(*p)) {
            return CM_JSCAN_INVALID;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integer = 0;
        if (++p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        const unsigned char *exp = p;
        if (p >= end || !is_digit(*p)) {
            return CM_JSCAN_INVALID;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
        if (p - exp > 2) {
            s->unsure = 1; /* may overflow a double: jansson refuses that */
        }
    }
    size_t len = (size_t)(p - start);
    if ((integer && int_digits > 18) || (!integer && len > 24)) {
        s->unsure = 1; /* past int64 (refused by jansson) or an overflowing real */
    }
    v->type = 'n';
    v->text = (const char *)start;
    v->len = len;
    v->integer = (unsigned char)integer;
    s->p = p;
    return 0;
}

static int scan_literal(struct scanner *s, struct cm_jscan_span *v, const char *word, char type)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return CM_JSCAN_INVALID;
    }
    v->type = type;
    v->text = (const char *)s->p;
    v->len = n;
    s->p += n;
    return 0;
}

/* After a member or element: 1 past a comma (another follows), 0 past the closing bracket,
 * CM_JSCAN_INVALID for anything else. */
static int comma_or_close(struct scanner *s, unsigned char close)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        skip_ws(s);
        return 1;
    }
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    return CM_JSCAN_INVALID;
}

static int scan_value(struct scanner *s, int depth, struct cm_jscan_span *v);

static int scan_object(struct scanner *s, int depth, struct cm_jscan_span *v)
{
    struct {
        const unsigned char *text;
        size_t len;
    } keys[CM_JSCAN_MAX_KEYS];
    size_t nkeys = 0;
    const unsigned char *start = s->p;
    int gather = s->pool && depth == s->pool_depth;
    size_t first = s->pool_used;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
    } else {
        for (;;) {
            struct cm_jscan_span k, val;
            memset(&k, 0, sizeof(k));
            if (s->p >= s->end || *s->p != '"') {
                return CM_JSCAN_INVALID;
            }
            int rc = scan_string(s, &k);
            if (rc) {
                return rc;
            }
            if (k.escaped || nkeys == CM_JSCAN_MAX_KEYS) {
                s->unsure = 1; /* cannot tell whether it repeats another key */
            } else {
                for (size_t i = 0; i < nkeys; i++) {
                    if (keys[i].len == k.len && memcmp(keys[i].text, k.text, k.len) == 0) {
                        return CM_JSCAN_INVALID; /* duplicate key */
                    }
                }
                keys[nkeys].text = (const unsigned char *)k.text;
                keys[nkeys++].len = k.len;
            }
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':') {
                return CM_JSCAN_INVALID;
            }
            s->p++;
            skip_ws(s);
            rc = scan_value(s, depth, &val);
            if (rc) {
                return rc;
            }
            if (gather) {
                if (s->pool_used < s->pool_max) {
                    s->pool[s->pool_used].key = k;
                    s->pool[s->pool_used++].value = val;
                } else {
                    gather = 0; /* no room: the caller splits this one */
                    s->pool_used = first;
                }
            }
            rc = comma_or_close(s, '}');
            if (rc <= 0) {
                if (rc < 0) {
                    return rc;
                }
                break;
            }
        }
    }
    v->type = 'o';
    v->text = (const char *)start;
    v->len = (size_t)(s->p - start);
    if (gather) {
        v->members = s->pool + first;
        v->nmembers = s->pool_used - first;
    }
    return 0;
}

static int scan_array(struct scanner *s, int depth, struct cm_jscan_span *v)
{
    const unsigned char *start = s->p;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
    } else {
        for (;;) {
            struct cm_jscan_span e;
            int rc = scan_value(s, depth, &e);
            if (rc) {
                return rc;
            }
            rc = comma_or_close(s, ']');
            if (rc <= 0) {
                if (rc < 0) {
                    return rc;
                }
                break;
            }
        }
    }
    v->type = 'a';
    v->text = (const char *)start;
    v->len = (size_t)(s->p - start);
    return 0;
}

/* At the first byte of a value (whitespace skipped). */
static int scan_value(struct scanner *s, int depth, struct cm_jscan_span *v)
{
    memset(v, 0, sizeof(*v));
    if (s->p >= s->end) {
        return CM_JSCAN_INVALID;
    }
    switch (*s->p) {
    case '"':
        return scan_string(s, v);
    case '{':
        return depth >= CM_JSCAN_MAX_DEPTH ? CM_JSCAN_TOO_DEEP : scan_object(s, depth + 1, v);
    case '[':
        return depth >= CM_JSCAN_MAX_DEPTH ? CM_JSCAN_TOO_DEEP : scan_array(s, depth + 1, v);
    case 't':
        return scan_literal(s, v, "true", 't');
    case 'f':
        return scan_literal(s, v, "false", 'f');
    case 'n':
        return scan_literal(s, v, "null", 'z');
    default:
        return scan_number(s, v);
    }
}

int cm_jscan_document(const char *text, size_t len, struct cm_jscan_span *v)
{
    struct scanner s = {
        (const unsigned char *)text, (const unsigned char *)text + len, 0, NULL, 0, 0, 0};
    skip_ws(&s);
    int rc = scan_value(&s, 0, v);
    if (rc) {
        return rc;
    }
    skip_ws(&s);
    if (s.p != s.end) {
        return CM_JSCAN_INVALID;
    }
    v->unsure = (unsigned char)s.unsure;
    return 0;
}

int cm_jscan_array(const char *text, size_t len, struct cm_jscan_span *elems, size_t max, size_t *n,
                   struct cm_jscan_member *pool, size_t pool_max)
{
    /* elements are values at depth 1: objects among them are scanned at depth 2 */
    struct scanner s = {
        (const unsigned char *)text, (const unsigned char *)text + len, 0, pool, pool_max, 0, 2};
    *n = 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '[') {
        return CM_JSCAN_INVALID;
    }
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == ']') {
        s.p++;
    } else {
        for (;;) {
            struct cm_jscan_span e;
            s.unsure = 0;
            int rc = scan_value(&s, 1, &e);
            if (rc) {
                return rc;
            }
            e.unsure = (unsigned char)s.unsure;
            if (*n == max) {
                return CM_JSCAN_TOO_MANY;
            }
            elems[(*n)++] = e;
            rc = comma_or_close(&s, ']');
            if (rc <= 0) {
                if (rc < 0) {
                    return rc;
                }
                break;
            }
        }
    }
    skip_ws(&s);
    return s.p == s.end ? 0 : CM_JSCAN_INVALID;
}

/* Skipping through text scanned already (members of a checked object): finds the end of the
 * value at s->p without checking it again; stays inside the text whatever it holds. */
static void skip_string(struct scanner *s, struct cm_jscan_span *v)
{
    const unsigned char *start = s->p + 1, *end = s->end, *p = start;
    if (start > end) {
        start = p = end;
    }
    for (;;) { /* the next quote not escaped (preceded by an even run of backslashes) */
        const unsigned char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) {
            p = end;
            break;
        }
        size_t backslashes = 0;
        while (q - backslashes > start && q[-1 - (ptrdiff_t)backslashes] == '\\') {
            backslashes++;
        }
        p = q;
        if (backslashes % 2 == 0) {
            break;
        }
        p++;
    }
    v->type = 's';
    v->text = (const char *)start;
    v->len = (size_t)(p - start);
    v->escaped = memchr(start, '\\', v->len) != NULL;
    s->p = p < end ? p + 1 : end;
}

static void skip_value(struct scanner *s, struct cm_jscan_span *v)
{
    memset(v, 0, sizeof(*v));
    const unsigned char *start = s->p, *end = s->end;
    if (start >= end) {
        v->text = (const char *)start;
        return;
    }
    unsigned char c = *start;
    if (c == '"') {
        skip_string(s, v);
        return;
    }
    if (c == '{' || c == '[') {
        size_t depth = 0;
        struct cm_jscan_span str;
        while (s->p < end) {
            c = *s->p;
            if (c == '"') {
                skip_string(s, &str);
                continue;
            }
            s->p++;
            if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                break;
            }
        }
        v->type = *start == '{' ? 'o' : 'a';
    } else {
        int integer = 1;
        while (s->p < end && *s->p != ',' && *s->p != '}' && *s->p != ']' && *s->p != ' ' &&
               *s->p != '\t' && *s->p != '\n' && *s->p != '\r') {
            integer &= *s->p != '.' && *s->p != 'e' && *s->p != 'E';
            s->p++;
        }
        v->type = c == 't' ? 't' : c == 'f' ? 'f' : c == 'n' ? 'z' : 'n';
        v->integer = (unsigned char)(v->type == 'n' && integer);
    }
    v->text = (const char *)start;
    v->len = (size_t)(s->p - start);
}

int cm_jscan_members(const struct cm_jscan_span *obj, struct cm_jscan_member *m, size_t max,
                     size_t *n)
{
    *n = 0;
    if (obj->type != 'o' || obj->len < 2) {
        return CM_JSCAN_INVALID;
    }
    /* the object was checked already: this pass only finds the spans */
    struct scanner s = {(const unsigned char *)obj->text + 1,
                        (const unsigned char *)obj->text + obj->len - 1,
                        0,
                        NULL,
                        0,
                        0,
                        0};
    skip_ws(&s);
    while (s.p < s.end) {
        struct cm_jscan_member mb;
        memset(&mb, 0, sizeof(mb));
        if (*s.p != '"') {
            return CM_JSCAN_INVALID;
        }
        skip_string(&s, &mb.key);
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') {
            return CM_JSCAN_INVALID;
        }
        s.p++;
        skip_ws(&s);
        skip_value(&s, &mb.value);
        if (*n == max) {
            return CM_JSCAN_TOO_MANY;
        }
        m[(*n)++] = mb;
        skip_ws(&s);
        if (s.p < s.end) {
            if (*s.p != ',') {
                return CM_JSCAN_INVALID;
            }
            s.p++;
            skip_ws(&s);
        }
    }
    return 0;
}
