/* reg_json: JSON Schema parsing, normalization and compatibility (see reg_json.h).
 * Message names follow Confluent's JSON Schema compatibility differences (TYPE_NARROWED,
 * PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL, REQUIRED_ATTRIBUTE_ADDED, MAX_LENGTH_DECREASED, ...), so
 * operators recognise them. */
#include "reg_json.h"

#include "reg_pairs.h"

#include "cm/jsonschema.h"
#include "cm/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

json_t *reg_json_parse(const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *s = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!s) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(s) && !json_is_boolean(s)) {
        snprintf(err, errlen, "a JSON Schema is an object or a boolean");
        json_decref(s);
        return NULL;
    }
    const json_t *type = json_is_object(s) ? json_object_get(s, "type") : NULL;
    if (type && !json_is_string(type) && !json_is_array(type)) {
        snprintf(err, errlen, "/type: must be a string or an array of strings");
        json_decref(s);
        return NULL;
    }
    return s;
}

char *reg_json_normalized_text(const json_t *schema)
{
    char *text = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text) {
        abort();
    }
    return text;
}

struct jc {
    const json_t *rroot, *wroot;
    const json_t *docs;
    int lenient;
    json_t *messages; /* NULL in a probe, which only asks whether the reader accepts the writer */
    int ok;
    size_t diffs; /* differences found so far */
    int low;      /* the lowest depth of an open pair the comparison under way rests on */
    struct reg_pairs *pairs;
};

static void diff(struct jc *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void diff(struct jc *c, const char *path, const char *fmt, ...)
{
    c->ok = 0;
    c->diffs++;
    if (!c->messages) {
        return;
    }
    char detail[300], msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "%s: %s", path[0] ? path : "#", detail);
    json_array_append_new(c->messages, json_string(msg));
}

/* Follows a $ref: local ("#/definitions/x", a JSON pointer within root) or into a referenced
 * document ("customer.json#/definitions/x", the document named as the reference). */
static const json_t *deref(const json_t *s, const json_t *root, const json_t *docs)
{
    for (int hops = 0; hops < 16 && json_is_object(s); hops++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        if (!ref) {
            return s;
        }
        const json_t *cur = root;
        const char *hash = strchr(ref, '#');
        if (ref[0] != '#') {
            char *name = cm_xstrndup(ref, hash ? (size_t)(hash - ref) : strlen(ref));
            cur = json_object_get(docs, name);
            free(name);
            if (!cur) {
                return s;
            }
            root = cur;
            if (!hash) {
                s = cur;
                continue;
            }
        }
        const char *p = hash + 1;
        while (*p == '/' && cur) {
            p++;
            const char *end = strchr(p, '/');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char *seg = cm_xstrndup(p, len);
            /* ~1 -> '/', ~0 -> '~' */
            char *w = seg;
            for (char *r = seg; *r; r++) {
                if (r[0] == '~' && r[1] == '1') {
                    *w++ = '/';
                    r++;
                } else if (r[0] == '~' && r[1] == '0') {
                    *w++ = '~';
                    r++;
                } else {
                    *w++ = *r;
                }
            }
            *w = '\0';
            cur = json_is_object(cur) ? json_object_get(cur, seg)
                                      : json_array_get(cur, (size_t)strtoul(seg, NULL, 10));
            free(seg);
            p += len;
        }
        if (!cur) {
            return s;
        }
        s = cur;
    }
    return s;
}

/* Bit set of the JSON types a schema allows (no "type" = all). */
enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64 };
#define T_ALL (T_NULL | T_BOOL | T_INT | T_NUM | T_STR | T_ARR | T_OBJ)

static int type_bit(const char *t)
{
    static const struct {
        const char *n;
        int b;
    } m[] = {{"null", T_NULL},  {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_NUM | T_INT},
             {"string", T_STR}, {"array", T_ARR},    {"object", T_OBJ}};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (strcmp(t, m[i].n) == 0) {
            return m[i].b;
        }
    }
    return 0;
}

static int types_of(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) {
        return type_bit(json_string_value(t));
    }
    if (json_is_array(t)) {
        int bits = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(t, i, v)
        {
            bits |= json_is_string(v) ? type_bit(json_string_value(v)) : 0;
        }
        return bits;
    }
    return T_ALL;
}

static int accepts_all(const json_t *s)
{
    return json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0);
}

static int check(struct jc *c, const json_t *r, const json_t *w, const char *path, int depth);
static int probe(struct jc *c, const json_t *r, const json_t *w, const char *path, int depth);

static double num(const json_t *v)
{
    return json_number_value(v);
}

/* reader bound must be at least as loose as the writer's: `upper` bounds shrink when smaller. */
static void bound(struct jc *c, const json_t *r, const json_t *w, const char *key, int upper,
                  const char *path, const char *added, const char *narrowed)
{
    const json_t *rb = json_object_get(r, key), *wb = json_object_get(w, key);
    if (!json_is_number(rb)) {
        return; /* no constraint in the reader: looser */
    }
    if (!json_is_number(wb)) {
        diff(c, path, "%s: the reader adds %s", added, key);
    } else if (upper ? num(rb) < num(wb) : num(rb) > num(wb)) {
        diff(c, path, "%s: %s %g -> %g", narrowed, key, num(wb), num(rb));
    }
}

static const json_t *additional(const json_t *s)
{
    const json_t *a = json_object_get(s, "additionalProperties");
    return a ? a : json_true();
}

/* The strings of arr as an object's keys, to look names up by hash (caller decrefs). */
static json_t *name_set(const json_t *arr)
{
    json_t *set = json_object();
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v)) {
            json_object_set_new(set, json_string_value(v), json_true());
        }
    }
    return set;
}

static void check_object(struct jc *c, const json_t *r, const json_t *w, const char *path,
                         int depth)
{
    const json_t *rprops = json_object_get(r, "properties");
    const json_t *wprops = json_object_get(w, "properties");
    const json_t *radd = additional(r), *wadd = additional(w);
    char sub[600];
    const char *k;
    json_t *ws;
    json_object_foreach((json_t *)wprops, k, ws)
    {
        snprintf(sub, sizeof(sub), "%s/properties/%s", path, k);
        const json_t *rs = json_object_get(rprops, k);
        if (rs) {
            check(c, rs, ws, sub, depth + 1);
        } else if (json_is_false(radd)) {
            diff(c, sub, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: '%s'", k);
        } else if (!accepts_all(radd)) {
            if (!probe(c, radd, ws, sub, depth + 1)) {
                diff(c, sub, "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: '%s'",
                     k);
            }
        }
    }
    json_t *rs;
    json_t *rrequired = name_set(json_object_get(r, "required"));
    json_object_foreach((json_t *)rprops, k, rs)
    {
        if (json_object_get(wprops, k)) {
            continue;
        }
        snprintf(sub, sizeof(sub), "%s/properties/%s", path, k);
        if (json_is_false(wadd)) {
            continue; /* the writer never produced it */
        }
        if (accepts_all(rs)) {
            continue;
        }
        if (accepts_all(wadd)) {
            int optional = !json_object_get(rrequired, k);
            if (!(c->lenient && optional)) {
                diff(c, sub, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: '%s'", k);
            }
        } else {
            if (!probe(c, rs, wadd, sub, depth + 1)) {
                diff(c, sub, "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: '%s'", k);
            }
        }
    }
    /* additionalProperties itself */
    if (!accepts_all(radd)) {
        if (json_is_false(radd) && !json_is_false(wadd)) {
            diff(c, path, "ADDITIONAL_PROPERTIES_REMOVED");
        } else if (!json_is_false(wadd)) {
            snprintf(sub, sizeof(sub), "%s/additionalProperties", path);
            check(c, radd, wadd, sub, depth + 1);
        }
    }
    size_t i;
    const json_t *req;
    json_t *wrequired = name_set(json_object_get(w, "required"));
    json_array_foreach(json_object_get(r, "required"), i, req)
    {
        const char *name = json_string_value(req);
        if (!name || json_object_get(wrequired, name)) {
            continue;
        }
        const json_t *prop = json_object_get(rprops, name);
        if (!json_object_get(prop, "default")) {
            snprintf(sub, sizeof(sub), "%s/required", path);
            diff(c, sub, "REQUIRED_ATTRIBUTE_ADDED: '%s'", name);
        }
    }
    json_decref(wrequired);
    json_decref(rrequired);
    bound(c, r, w, "maxProperties", 1, path, "MAX_PROPERTIES_ADDED", "MAX_PROPERTIES_DECREASED");
    bound(c, r, w, "minProperties", 0, path, "MIN_PROPERTIES_ADDED", "MIN_PROPERTIES_INCREASED");
}

static void check_combined(struct jc *c, const json_t *r, const json_t *w, const char *path,
                           int depth)
{
    static const char *kinds[] = {"oneOf", "anyOf", "allOf"};
    for (size_t k = 0; k < 3; k++) {
        const json_t *rc = json_object_get(r, kinds[k]);
        const json_t *wc = json_object_get(w, kinds[k]);
        if (!rc) {
            continue;
        }
        if (!wc) {
            diff(c, path, "COMBINED_TYPE_SUBSCHEMAS_CHANGED: the reader adds %s", kinds[k]);
            continue;
        }
        /* every writer alternative must be accepted by some reader alternative */
        size_t i;
        const json_t *ws;
        json_array_foreach(wc, i, ws)
        {
            int found = 0;
            size_t j;
            const json_t *rs;
            json_array_foreach(rc, j, rs)
            {
                if (!found && probe(c, rs, ws, path, depth + 1)) {
                    found = 1;
                }
            }
            if (!found) {
                char sub[600];
                snprintf(sub, sizeof(sub), "%s/%s/%zu", path, kinds[k], i);
                diff(c, sub, "SUM_TYPE_NARROWED: no reader %s alternative accepts it", kinds[k]);
            }
        }
        if (strcmp(kinds[k], "allOf") != 0 && json_array_size(rc) < json_array_size(wc)) {
            diff(c, path, "SUM_TYPE_NARROWED: %s has fewer alternatives", kinds[k]);
        }
    }
}

/* Whether the reader accepts what the writer did, differences unreported; what the answer rests
 * on counts for the caller's own outcome. */
static int probe(struct jc *c, const json_t *r, const json_t *w, const char *path, int depth)
{
    struct jc p = {c->rroot, c->wroot, c->docs, c->lenient, NULL, 1, 0, REG_PAIRS_NONE, c->pairs};
    int ok = check(&p, r, w, path, depth);
    c->low = p.low < c->low ? p.low : c->low;
    return ok;
}

/* Compares one pair (both dereferenced). */
static void check_pair(struct jc *c, const json_t *r, const json_t *w, const char *path, int depth);

/* Compares reader r with writer w, each pair once per context (reg_pairs). */
static int check(struct jc *c, const json_t *r, const json_t *w, const char *path, int depth)
{
    if (depth > MAX_DEPTH) {
        return c->ok;
    }
    r = deref(r, c->rroot, c->docs);
    w = deref(w, c->wroot, c->docs);
    char key[64];
    snprintf(key, sizeof(key), "%p|%p|%d", (const void *)r, (const void *)w, !c->messages);
    size_t mark = 0;
    switch (reg_pairs_begin(c->pairs, key, depth, &c->low, &mark)) {
    case REG_PAIR_REFUSED:
        c->ok = 0;
        c->diffs++;
        return 0;
    case REG_PAIR_ACCEPTED:
    case REG_PAIR_ASSUMED:
        return c->ok;
    case REG_PAIR_NEW:
        break;
    }
    size_t diffs = c->diffs;
    int low = c->low;
    c->low = REG_PAIRS_NONE;
    check_pair(c, r, w, path, depth);
    reg_pairs_end(c->pairs, key, depth, mark, c->diffs > diffs, c->low);
    c->low = c->low < low ? c->low : low;
    return c->ok;
}

static void check_pair(struct jc *c, const json_t *r, const json_t *w, const char *path, int depth)
{
    if (accepts_all(r) || json_is_false(w)) {
        return;
    }
    if (json_is_false(r)) {
        diff(c, path, "TYPE_NARROWED: the reader accepts nothing");
        return;
    }
    if (json_is_true(w)) {
        diff(c, path, "TYPE_NARROWED: the writer accepted anything");
        return;
    }
    int rt = types_of(r), wt = types_of(w);
    if ((wt & ~rt) != 0) {
        diff(c, path, "TYPE_NARROWED: the reader no longer accepts every type the writer did");
    }
    const json_t *renum = json_object_get(r, "enum");
    const json_t *wenum = json_object_get(w, "enum");
    if (renum) {
        if (!wenum) {
            diff(c, path, "ENUM_ARRAY_NARROWED: the reader adds an enum");
        } else {
            struct cm_json_set *rvalues = cm_json_set_new(renum); /* not value by value */
            size_t i;
            const json_t *v;
            json_array_foreach(wenum, i, v)
            {
                if (!cm_json_set_has(rvalues, v)) {
                    diff(c, path, "ENUM_ARRAY_NARROWED: a writer value is missing");
                    break;
                }
            }
            cm_json_set_free(rvalues);
        }
    }
    const json_t *rconst = json_object_get(r, "const");
    if (rconst && !json_equal((json_t *)rconst, json_object_get(w, "const"))) {
        diff(c, path, "CONST_CHANGED");
    }
    if (rt & wt & T_OBJ) {
        check_object(c, r, w, path, depth);
    }
    if (rt & wt & T_ARR) {
        const json_t *ri = json_object_get(r, "items");
        const json_t *wi = json_object_get(w, "items");
        if (ri && json_is_object(ri)) {
            char sub[600];
            snprintf(sub, sizeof(sub), "%s/items", path);
            check(c, ri, wi ? wi : json_true(), sub, depth + 1);
        }
        bound(c, r, w, "maxItems", 1, path, "MAX_ITEMS_ADDED", "MAX_ITEMS_DECREASED");
        bound(c, r, w, "minItems", 0, path, "MIN_ITEMS_ADDED", "MIN_ITEMS_INCREASED");
        if (json_is_true(json_object_get(r, "uniqueItems")) &&
            !json_is_true(json_object_get(w, "uniqueItems"))) {
            diff(c, path, "UNIQUE_ITEMS_ADDED");
        }
    }
    if (rt & wt & T_STR) {
        bound(c, r, w, "maxLength", 1, path, "MAX_LENGTH_ADDED", "MAX_LENGTH_DECREASED");
        bound(c, r, w, "minLength", 0, path, "MIN_LENGTH_ADDED", "MIN_LENGTH_INCREASED");
        const json_t *rp = json_object_get(r, "pattern");
        if (rp && !json_equal((json_t *)rp, json_object_get(w, "pattern"))) {
            diff(c, path, "%s",
                 json_object_get(w, "pattern") ? "PATTERN_CHANGED" : "PATTERN_ADDED");
        }
    }
    if (rt & wt & (T_INT | T_NUM)) {
        bound(c, r, w, "maximum", 1, path, "MAXIMUM_ADDED", "MAXIMUM_DECREASED");
        bound(c, r, w, "minimum", 0, path, "MINIMUM_ADDED", "MINIMUM_INCREASED");
        bound(c, r, w, "exclusiveMaximum", 1, path, "EXCLUSIVE_MAXIMUM_ADDED",
              "EXCLUSIVE_MAXIMUM_DECREASED");
        bound(c, r, w, "exclusiveMinimum", 0, path, "EXCLUSIVE_MINIMUM_ADDED",
              "EXCLUSIVE_MINIMUM_INCREASED");
        const json_t *rm = json_object_get(r, "multipleOf");
        const json_t *wm = json_object_get(w, "multipleOf");
        if (json_is_number(rm)) {
            double q = json_is_number(wm) ? num(wm) / num(rm) : 0.5;
            if (!json_is_number(wm) || fabs(q - round(q)) > 1e-9) {
                diff(c, path, "%s", wm ? "MULTIPLE_OF_CHANGED" : "MULTIPLE_OF_ADDED");
            }
        }
    }
    check_combined(c, r, w, path, depth);
}

int reg_json_can_read(const json_t *reader, const json_t *writer, int lenient,
                      const json_t *documents, json_t *messages)
{
    struct jc c = {reader, writer, documents,      lenient,        messages,
                   1,      0,      REG_PAIRS_NONE, reg_pairs_new()};
    check(&c, reader, writer, "#", 0);
    if (reg_pairs_exhausted(c.pairs)) {
        diff(&c, "#", "TOO_COMPLEX: more than %d pairs of subschemas to compare", REG_PAIRS_MAX);
    }
    reg_pairs_free(c.pairs);
    return c.ok;
}
