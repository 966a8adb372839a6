/* jsonschema_compile: compiling a JSON Schema (see jsonschema.h): copy the schema, walk it
 * recording each subschema's base URI and every identifier ($id, $anchor), resolve every $ref to
 * its target node and compile every pattern; the results live in a node table keyed by json_t
 * pointer, which validation (jsonschema.c) reads. */
#include "jsonschema_internal.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An enum with at least this many values is looked up by hash (jsonschema_values.c). */
#define ENUM_SET_MIN 16

/* ---- node table ---- */

static size_t slot_hash(const json_t *p, size_t cap)
{
    uintptr_t v = (uintptr_t)p;
    v ^= v >> 17;
    v *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(v >> 7) & (cap - 1);
}

struct slot *jsonschema_slot_find(const struct cm_jsonschema *s, const json_t *node)
{
    if (!s->cap) {
        return NULL;
    }
    for (size_t i = slot_hash(node, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i].node == node) {
            return &s->slots[i];
        }
        if (!s->slots[i].node) {
            return NULL;
        }
    }
}

static struct slot *slot_add(struct cm_jsonschema *s, const json_t *node)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        struct slot *old = s->slots;
        size_t ocap = s->cap;
        s->slots = cm_xcalloc(ncap, sizeof(*s->slots));
        s->cap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (old[i].node) {
                size_t j = slot_hash(old[i].node, ncap);
                while (s->slots[j].node) {
                    j = (j + 1) & (ncap - 1);
                }
                s->slots[j] = old[i];
            }
        }
        free(old);
    }
    size_t i = slot_hash(node, s->cap);
    while (s->slots[i].node && s->slots[i].node != node) {
        i = (i + 1) & (s->cap - 1);
    }
    if (!s->slots[i].node) {
        s->slots[i].node = node;
        s->count++;
    }
    return &s->slots[i];
}

/* ---- URIs ---- */

int jsonschema_has_scheme(const char *u)
{
    const char *p = u;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        return 0;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '.' || *p == '-') {
        p++;
    }
    return *p == ':';
}

/* Resolves ref against base (RFC 3986, the cases schemas use). Caller frees. */
static char *uri_resolve(const char *base, const char *ref)
{
    size_t blen_nofrag = strcspn(base, "#");
    if (jsonschema_has_scheme(ref)) {
        return cm_xstrdup(ref);
    }
    if (ref[0] == '#') {
        return cm_xasprintf("%.*s%s", (int)blen_nofrag, base, ref);
    }
    if (ref[0] == '\0') {
        return cm_xstrndup(base, blen_nofrag);
    }
    const char *scheme_end = jsonschema_has_scheme(base) ? strchr(base, ':') : NULL;
    if (ref[0] == '/' && ref[1] == '/') {
        return scheme_end ? cm_xasprintf("%.*s%s", (int)(scheme_end - base + 1), base, ref)
                          : cm_xstrdup(ref);
    }
    if (ref[0] == '/') {
        const char *auth = scheme_end && scheme_end[1] == '/' && scheme_end[2] == '/'
                               ? strchr(scheme_end + 3, '/')
                               : NULL;
        size_t keep =
            auth ? (size_t)(auth - base) : (scheme_end ? (size_t)(scheme_end - base + 1) : 0);
        return cm_xasprintf("%.*s%s", (int)keep, base, ref);
    }
    /* relative path: replace the last segment of base's path */
    const char *last = NULL;
    for (const char *p = base; p < base + blen_nofrag; p++) {
        if (*p == '/') {
            last = p;
        }
    }
    size_t keep = last ? (size_t)(last - base + 1) : 0;
    char *joined = cm_xasprintf("%.*s%s", (int)keep, base, ref);
    /* remove "./" and "seg/../" */
    char *w;
    while ((w = strstr(joined, "/./")) != NULL) {
        memmove(w, w + 2, strlen(w + 2) + 1);
    }
    while ((w = strstr(joined, "/../")) != NULL && w > joined) {
        char *prev = w - 1;
        while (prev > joined && *prev != '/') {
            prev--;
        }
        memmove(prev, w + 3, strlen(w + 3) + 1);
    }
    return joined;
}

/* ---- compile ---- */

static void cfail(struct cm_jsonschema *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cfail(struct cm_jsonschema *s, const char *fmt, ...)
{
    if (s->failed) {
        return;
    }
    s->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
}

static int is_data_keyword(const char *k)
{
    return strcmp(k, "enum") == 0 || strcmp(k, "const") == 0 || strcmp(k, "default") == 0 ||
           strcmp(k, "examples") == 0;
}

static void index_walk(struct cm_jsonschema *s, const json_t *node, const char *base, int depth)
{
    if (depth > MAX_DEPTH || s->failed) {
        return;
    }
    if (json_is_array(node)) {
        size_t i;
        const json_t *v;
        json_array_foreach(node, i, v)
        {
            index_walk(s, v, base, depth + 1);
        }
        return;
    }
    if (!json_is_object(node)) {
        return;
    }
    char *mybase = cm_xstrdup(base);
    const char *id = json_string_value(json_object_get(node, "$id"));
    if (id && !json_object_get(node, "$ref")) { /* draft-07: $ref siblings are ignored */
        char *abs = uri_resolve(base, id);
        if (id[0] == '#') {
            json_object_set_new(s->index, abs, json_integer((json_int_t)(uintptr_t)node));
        } else {
            size_t n = strcspn(abs, "#");
            abs[n] = '\0';
            json_object_set_new(s->index, abs, json_integer((json_int_t)(uintptr_t)node));
            free(mybase);
            mybase = cm_xstrdup(abs);
        }
        free(abs);
    }
    const char *anchor = json_string_value(json_object_get(node, "$anchor"));
    if (anchor) {
        char *a = cm_xasprintf("%.*s#%s", (int)strcspn(mybase, "#"), mybase, anchor);
        json_object_set_new(s->index, a, json_integer((json_int_t)(uintptr_t)node));
        free(a);
    }
    struct slot *sl = slot_add(s, node);
    free(sl->base);
    sl->base = cm_xstrdup(mybase);
    const json_t *en = json_object_get(node, "enum");
    if (json_is_array(en) && json_array_size(en) >= ENUM_SET_MIN && !sl->enum_set) {
        sl->enum_set = cm_json_set_new(en);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)node, k, v)
    {
        if (!is_data_keyword(k)) {
            index_walk(s, v, mybase, depth + 1);
        }
    }
    free(mybase);
}

static const json_t *lookup_uri(const struct cm_jsonschema *s, const char *uri)
{
    const json_t *v = json_object_get(s->index, uri);
    return v ? (const json_t *)(uintptr_t)json_integer_value(v) : NULL;
}

/* Percent-decodes and follows a JSON pointer from doc. */
static const json_t *follow_pointer(const json_t *doc, const char *ptr)
{
    char *dec = cm_xstrdup(ptr);
    char *w = dec;
    for (const char *r = ptr; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = cm_hex_digit((unsigned char)r[1])) >= 0 &&
            (lo = cm_hex_digit((unsigned char)r[2])) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    const json_t *cur = doc;
    char *p = dec;
    while (cur && *p == '/') {
        p++;
        char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *seg = cm_xstrndup(p, len);
        char *o = seg;
        for (char *i = seg; *i; i++) {
            if (i[0] == '~' && i[1] == '1') {
                *o++ = '/';
                i++;
            } else if (i[0] == '~' && i[1] == '0') {
                *o++ = '~';
                i++;
            } else {
                *o++ = *i;
            }
        }
        *o = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *e;
            unsigned long idx = strtoul(seg, &e, 10);
            cur = (*seg && !*e) ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        free(seg);
        p += len;
    }
    int complete = *p == '\0';
    free(dec);
    return complete ? cur : NULL;
}

static const json_t *resolve_ref(const struct cm_jsonschema *s, const char *base, const char *ref)
{
    char *abs = uri_resolve(base, ref);
    char *hash = strchr(abs, '#');
    const json_t *target = NULL;
    if (!hash) {
        target = lookup_uri(s, abs);
    } else if (hash[1] == '\0' || hash[1] == '/') {
        *hash = '\0';
        const json_t *doc = lookup_uri(s, abs);
        target = doc ? (hash[1] == '\0' ? doc : follow_pointer(doc, hash + 1)) : NULL;
    } else {
        target = lookup_uri(s, abs); /* a plain-name anchor */
    }
    free(abs);
    return target;
}

static void compile_pattern(struct cm_jsonschema *s, const char *pattern)
{
    if (json_object_get(s->patterns, pattern)) {
        return;
    }
    char msg[160];
    struct cm_regex *re = cm_regex_compile(pattern, strlen(pattern), 1, msg, sizeof(msg));
    if (!re) {
        cfail(s, "invalid pattern '%.60s': %s", pattern, msg);
        return;
    }
    s->codes = cm_xrealloc(s->codes, (s->ncodes + 1) * sizeof(*s->codes));
    s->codes[s->ncodes] = re;
    json_object_set_new(s->patterns, pattern, json_integer((json_int_t)s->ncodes));
    s->ncodes++;
}

/* Resolves every $ref and compiles every pattern reachable in the table. */
static void link_all(struct cm_jsonschema *s)
{
    for (size_t i = 0; i < s->cap && !s->failed; i++) {
        struct slot *sl = &s->slots[i];
        if (!sl->node) {
            continue;
        }
        const char *ref = json_string_value(json_object_get(sl->node, "$ref"));
        const char *rref = json_string_value(json_object_get(sl->node, "$recursiveRef"));
        if (ref || rref) {
            sl->target = resolve_ref(s, sl->base, ref ? ref : rref);
            if (!sl->target) {
                cfail(s, "%s '%.120s' does not resolve", ref ? "$ref" : "$recursiveRef",
                      ref ? ref : rref);
            }
        }
        const char *pattern = json_string_value(json_object_get(sl->node, "pattern"));
        if (pattern) {
            compile_pattern(s, pattern);
        }
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(sl->node, "patternProperties"), k, v)
        {
            compile_pattern(s, k);
        }
    }
}

struct cm_jsonschema *cm_jsonschema_compile(const json_t *schema, const json_t *documents,
                                            char *err, size_t errlen)
{
    if (!json_is_object(schema) && !json_is_boolean(schema)) {
        snprintf(err, errlen, "a schema is an object or a boolean");
        return NULL;
    }
    struct cm_jsonschema *s = cm_xcalloc(1, sizeof(*s));
    s->root = json_deep_copy(schema);
    s->docs = documents ? json_deep_copy(documents) : json_object();
    /* the meta-schemas, shared (immutable, never freed), unless the caller gave its own */
    const char *mk;
    json_t *mv;
    json_object_foreach((json_t *)cm_jsonschema_metaschemas(), mk, mv)
    {
        if (!json_object_get(s->docs, mk)) {
            json_object_set(s->docs, mk, mv);
        }
    }
    s->index = json_object();
    s->patterns = json_object();
    json_object_set_new(s->index, "", json_integer((json_int_t)(uintptr_t)s->root));
    const char *k;
    json_t *v;
    json_object_foreach(s->docs, k, v)
    {
        char *uri = cm_xstrndup(k, strcspn(k, "#"));
        json_object_set_new(s->index, uri, json_integer((json_int_t)(uintptr_t)v));
        index_walk(s, v, uri, 0);
        free(uri);
    }
    index_walk(s, s->root, "", 0);
    const char *rootid = json_string_value(json_object_get(s->root, "$id"));
    if (rootid) {
        char *abs = uri_resolve("", rootid);
        abs[strcspn(abs, "#")] = '\0';
        json_object_set_new(s->index, abs, json_integer((json_int_t)(uintptr_t)s->root));
        free(abs);
    }
    link_all(s);
    if (s->failed) {
        snprintf(err, errlen, "%s", s->err);
        cm_jsonschema_free(s);
        return NULL;
    }
    return s;
}

void cm_jsonschema_free(struct cm_jsonschema *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i].base);
        cm_json_set_free(s->slots[i].enum_set);
    }
    free(s->slots);
    for (size_t i = 0; i < s->ncodes; i++) {
        cm_regex_free(s->codes[i]);
    }
    free(s->codes);
    json_decref(s->patterns);
    json_decref(s->index);
    json_decref(s->docs);
    json_decref(s->root);
    free(s);
}
