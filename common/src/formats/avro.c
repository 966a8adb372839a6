/* avro: validation of JSON against Avro schemas and binary encoding with avro-c (see avro.h).
 * avro-c parses the schema and writes the binary; it drops field defaults, so they are read from
 * the schema's JSON at parse time into a map keyed by "record fullname\nfield". One walk both
 * validates and, when encoding, fills avro-c generic values. */
#include "cm/avro.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/verrors.h"

#include <avro.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct cm_avro_schema {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    json_t *defaults; /* "fullname\nfield" -> default value */
};

/* ---- defaults from the schema JSON ---- */

static void collect_defaults(json_t *out, const json_t *t, const char *ns, int depth)
{
    if (depth > MAX_DEPTH) {
        return;
    }
    if (json_is_array(t)) {
        size_t i;
        const json_t *b;
        json_array_foreach(t, i, b)
        {
            collect_defaults(out, b, ns, depth + 1);
        }
        return;
    }
    if (!json_is_object(t)) {
        return;
    }
    const char *kind = json_string_value(json_object_get(t, "type"));
    const char *name = json_string_value(json_object_get(t, "name"));
    const char *own = json_string_value(json_object_get(t, "namespace"));
    if (!kind) {
        collect_defaults(out, json_object_get(t, "type"), ns, depth + 1);
        return;
    }
    if (strcmp(kind, "array") == 0) {
        collect_defaults(out, json_object_get(t, "items"), ns, depth + 1);
    } else if (strcmp(kind, "map") == 0) {
        collect_defaults(out, json_object_get(t, "values"), ns, depth + 1);
    } else if ((strcmp(kind, "record") == 0 || strcmp(kind, "error") == 0) && name) {
        char *full = strchr(name, '.')            ? cm_xstrdup(name)
                     : (own ? *own : (ns && *ns)) ? cm_xasprintf("%s.%s", own ? own : ns, name)
                                                  : cm_xstrdup(name);
        char *inner = cm_xstrdup(full);
        char *dot = strrchr(inner, '.');
        if (dot) {
            *dot = '\0';
        } else {
            inner[0] = '\0';
        }
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(t, "fields"), i, f)
        {
            const char *fname = json_string_value(json_object_get(f, "name"));
            const json_t *def = json_object_get(f, "default");
            if (fname && def) {
                char *key = cm_xasprintf("%s\n%s", full, fname);
                json_object_set(out, key, (json_t *)def);
                free(key);
            }
            collect_defaults(out, json_object_get(f, "type"), inner, depth + 1);
        }
        free(inner);
        free(full);
    }
}

static avro_schema_t deref(avro_schema_t t)
{
    while (t && avro_typeof(t) == AVRO_LINK) {
        t = avro_schema_link_target(t);
    }
    return t;
}

/* Records on the path from the root, and records found to have finite values. */
struct records {
    avro_schema_t *path, *finite;
    size_t npath, nfinite, cap_path, cap_finite;
};

static int listed(avro_schema_t *list, size_t n, avro_schema_t t)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] == t) {
            return 1;
        }
    }
    return 0;
}

static void list_add(avro_schema_t **list, size_t *n, size_t *cap, avro_schema_t t)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *list = cm_xrealloc(*list, *cap * sizeof(**list));
    }
    (*list)[(*n)++] = t;
}

/* 1 (with the reason in err) when record t holds itself through fields of record types only,
 * with no union, array or map between: no value of it is finite (Avro's specification has a
 * value of every type a finite encoding), and libavro's generic values would recurse without
 * end building one. Each record is explored once. */
static int holds_itself(struct records *r, avro_schema_t t, char *err, size_t errlen)
{
    t = deref(t);
    if (!t || avro_typeof(t) != AVRO_RECORD || listed(r->finite, r->nfinite, t)) {
        return 0;
    }
    if (listed(r->path, r->npath, t)) {
        const char *ns = avro_schema_namespace(t);
        snprintf(err, errlen,
                 "record %s%s%s holds itself through fields that are neither unions, arrays nor "
                 "maps: no value of it is finite (make one of them a union with null)",
                 ns && *ns ? ns : "", ns && *ns ? "." : "", avro_schema_name(t));
        return 1;
    }
    if (r->npath >= 1000) {
        snprintf(err, errlen, "records nest more than 1000 deep");
        return 1;
    }
    list_add(&r->path, &r->npath, &r->cap_path, t);
    size_t n = avro_schema_record_size(t);
    for (size_t i = 0; i < n; i++) {
        if (holds_itself(r, avro_schema_record_field_get_by_index(t, (int)i), err, errlen)) {
            return 1;
        }
    }
    r->npath--;
    list_add(&r->finite, &r->nfinite, &r->cap_finite, t);
    return 0;
}

/* What libavro accepts but cannot hold, wherever it is in the schema t (in unions, arrays, maps
 * and records' fields): a record that holds itself (holds_itself), and a fixed type of a negative
 * size or one larger than CM_AVRO_FIXED_MAX (libavro allocates that much for each value, and no
 * event holds so many bytes). 1 with the reason in err. Each record once (seen). */
static int unusable(struct records *r, avro_schema_t t, struct records *seen, char *err,
                    size_t errlen)
{
    t = deref(t);
    if (!t) {
        return 0;
    }
    switch (avro_typeof(t)) {
    case AVRO_FIXED: {
        int64_t size = avro_schema_fixed_size(t);
        if (size < 0 || size > CM_AVRO_FIXED_MAX) {
            snprintf(err, errlen, "fixed %s: size %lld is not between 0 and %d",
                     avro_schema_name(t), (long long)size, CM_AVRO_FIXED_MAX);
            return 1;
        }
        return 0;
    }
    case AVRO_RECORD:
        if (listed(seen->path, seen->npath, t)) {
            return 0;
        }
        list_add(&seen->path, &seen->npath, &seen->cap_path, t);
        if (holds_itself(r, t, err, errlen)) {
            return 1;
        }
        for (size_t i = 0; i < avro_schema_record_size(t); i++) {
            avro_schema_t f = avro_schema_record_field_get_by_index(t, (int)i);
            if (unusable(r, f, seen, err, errlen)) {
                return 1;
            }
        }
        return 0;
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(t); i++) {
            if (unusable(r, avro_schema_union_branch(t, (int)i), seen, err, errlen)) {
                return 1;
            }
        }
        return 0;
    case AVRO_ARRAY:
        return unusable(r, avro_schema_array_items(t), seen, err, errlen);
    case AVRO_MAP:
        return unusable(r, avro_schema_map_values(t), seen, err, errlen);
    default:
        return 0;
    }
}

/* The full name of `name` seen in namespace ns (names with a dot are full already). */
static char *full_name(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns) {
        return cm_xstrdup(name);
    }
    return cm_xasprintf("%s.%s", ns, name);
}

/* 1 when the schema node (in namespace ns) defines a named type whose full name `defined` holds
 * already (writing it to err), else adds its definitions to `defined`. avro-c refuses such a
 * schema too, but leaks the definition it could not save each time: a registry or gateway
 * handed such schemas over and over would grow without end. */
static int redefined(const json_t *node, const char *ns, json_t *defined, int depth, char *err,
                     size_t errlen)
{
    if (depth > MAX_DEPTH) {
        return 0; /* (avro-c decides) */
    }
    if (json_is_array(node)) { /* a union */
        size_t i;
        const json_t *branch;
        json_array_foreach(node, i, branch)
        {
            if (redefined(branch, ns, defined, depth + 1, err, errlen)) {
                return 1;
            }
        }
        return 0;
    }
    if (!json_is_object(node)) {
        return 0;
    }
    const json_t *t = json_object_get(node, "type");
    const char *type = json_string_value(t),
               *name = json_string_value(json_object_get(node, "name"));
    if (!type) {
        return redefined(t, ns, defined, depth + 1, err, errlen);
    }
    int record = strcmp(type, "record") == 0 || strcmp(type, "error") == 0;
    if (name && (record || strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)) {
        const char *own = json_string_value(json_object_get(node, "namespace"));
        char *full = full_name(name, own ? own : ns);
        if (json_object_get(defined, full)) {
            snprintf(err, errlen, "a type named '%.200s' is defined twice", full);
            free(full);
            return 1;
        }
        json_object_set_new(defined, full, json_true());
        const char *dot = strrchr(full, '.');
        char *inner = dot ? cm_xstrndup(full, (size_t)(dot - full)) : cm_xstrdup("");
        free(full);
        size_t i;
        const json_t *field;
        int rc = 0;
        json_array_foreach(record ? json_object_get(node, "fields") : NULL, i, field)
        {
            rc = rc ||
                 redefined(json_object_get(field, "type"), inner, defined, depth + 1, err, errlen);
        }
        free(inner);
        return rc;
    }
    return redefined(json_object_get(node, strcmp(type, "map") == 0 ? "values" : "items"), ns,
                     defined, depth + 1, err, errlen);
}

/* Parses text; NULL with the reason in err, also for a schema none of whose values is finite. */
static avro_schema_t parse_schema(const char *text, char *err, size_t errlen)
{
    avro_schema_t schema;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL), *defined = json_object();
    int twice = redefined(doc, "", defined, 0, err, errlen);
    json_decref(doc);
    json_decref(defined);
    if (twice) {
        return NULL;
    }
    if (avro_schema_from_json_length(text, strlen(text), &schema) != 0) {
        snprintf(err, errlen, "%s", avro_strerror());
        return NULL;
    }
    struct records r = {0}, seen = {0};
    int infinite = unusable(&r, schema, &seen, err, errlen);
    free(r.path);
    free(r.finite);
    free(seen.path);
    if (infinite) {
        avro_schema_decref(schema);
        return NULL;
    }
    return schema;
}

int cm_avro_schema_check(const char *text, char *err, size_t errlen)
{
    avro_schema_t schema = parse_schema(text, err, errlen);
    if (!schema) {
        return CM_E_INVAL;
    }
    avro_schema_decref(schema);
    return 0;
}

struct cm_avro_schema *cm_avro_schema_new(const char *text, char *err, size_t errlen)
{
    avro_schema_t schema = parse_schema(text, err, errlen);
    if (!schema) {
        return NULL;
    }
    struct cm_avro_schema *s = cm_xcalloc(1, sizeof(*s));
    s->schema = schema;
    s->iface = avro_generic_class_from_schema(schema);
    s->defaults = json_object();
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    collect_defaults(s->defaults, doc, "", 0);
    json_decref(doc);
    if (!s->iface) {
        snprintf(err, errlen, "%s", avro_strerror());
        cm_avro_schema_free(s);
        return NULL;
    }
    return s;
}

/* Replaces, in *node (a schema in namespace ns), the first use of each referenced name by a copy
 * of its definition; `defined` collects the full names defined so far. -1 past a sane depth. */
static int inline_refs(json_t **node, const char *ns, const json_t *named, json_t *defined,
                       int depth)
{
    if (depth > 64) {
        return -1;
    }
    if (json_is_string(*node)) {
        char *full = full_name(json_string_value(*node), ns);
        const json_t *def = json_object_get(named, full);
        int rc = 0;
        if (def && !json_object_get(defined, full)) {
            json_object_set_new(defined, full, json_true());
            json_t *copy = json_deep_copy(def);
            rc = inline_refs(&copy, "", named, defined, depth + 1);
            json_decref(*node);
            *node = copy;
        }
        free(full);
        return rc;
    }
    if (json_is_array(*node)) { /* a union */
        for (size_t i = 0; i < json_array_size(*node); i++) {
            json_t *branch = json_incref(json_array_get(*node, i));
            int rc = inline_refs(&branch, ns, named, defined, depth + 1);
            json_array_set_new(*node, i, branch);
            if (rc != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (!json_is_object(*node)) {
        return 0;
    }
    const char *type = json_string_value(json_object_get(*node, "type"));
    const char *name = json_string_value(json_object_get(*node, "name"));
    const char *own_ns = json_string_value(json_object_get(*node, "namespace"));
    char *inner_ns = cm_xstrdup(ns ? ns : "");
    if (type && name &&
        (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 || strcmp(type, "enum") == 0 ||
         strcmp(type, "fixed") == 0)) {
        char *full = full_name(name, own_ns ? own_ns : ns);
        json_object_set_new(defined, full, json_true());
        free(inner_ns);
        const char *dot = strrchr(full, '.');
        inner_ns = dot ? cm_xstrndup(full, (size_t)(dot - full)) : cm_xstrdup("");
        free(full);
    }
    static const char *const members[] = {"items", "values", NULL};
    int rc = 0;
    if (type && (strcmp(type, "record") == 0 || strcmp(type, "error") == 0)) {
        size_t i;
        json_t *field;
        json_array_foreach(json_object_get(*node, "fields"), i, field)
        {
            json_t *ft = json_incref(json_object_get(field, "type"));
            if (ft) {
                rc |= inline_refs(&ft, inner_ns, named, defined, depth + 1);
                json_object_set_new(field, "type", ft);
            }
        }
    } else if (!type || (strcmp(type, "enum") != 0 && strcmp(type, "fixed") != 0)) {
        /* {"type": <schema>} wrappers, arrays and maps: the type may be a referenced name */
        json_t *t = json_incref(json_object_get(*node, "type"));
        if (t) {
            rc |= inline_refs(&t, inner_ns, named, defined, depth + 1);
            json_object_set_new(*node, "type", t);
        }
    }
    for (int m = 0; members[m]; m++) {
        json_t *v = json_incref(json_object_get(*node, members[m]));
        if (v) {
            rc |= inline_refs(&v, inner_ns, named, defined, depth + 1);
            json_object_set_new(*node, members[m], v);
        }
    }
    free(inner_ns);
    return rc ? -1 : 0;
}

struct cm_avro_schema *cm_avro_schema_new_with_refs(const char *text, const json_t *named,
                                                    char *err, size_t errlen)
{
    json_t *root = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!root) {
        snprintf(err, errlen, "the schema is not JSON");
        return NULL;
    }
    json_t *defined = json_object();
    int rc = inline_refs(&root, "", named, defined, 0);
    json_decref(defined);
    char *whole = rc == 0 ? json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(root);
    if (!whole) {
        snprintf(err, errlen, "references nest too deeply");
        return NULL;
    }
    struct cm_avro_schema *s = cm_avro_schema_new(whole, err, errlen);
    free(whole);
    return s;
}

void cm_avro_schema_free(struct cm_avro_schema *s)
{
    if (!s) {
        return;
    }
    if (s->iface) {
        avro_value_iface_decref(s->iface);
    }
    avro_schema_decref(s->schema);
    json_decref(s->defaults);
    free(s);
}

/* ---- the walk ---- */

struct walk {
    const struct cm_avro_schema *s;
    struct cm_verrors e;
};

/* The name a union branch is written with in Avro's JSON encoding. */
static void branch_name(avro_schema_t b, char *buf, size_t len)
{
    b = deref(b);
    if (is_avro_named_type(b)) {
        const char *ns = avro_schema_namespace(b);
        if (ns && *ns) {
            snprintf(buf, len, "%s.%s", ns, avro_schema_name(b));
        } else {
            snprintf(buf, len, "%s", avro_schema_name(b));
        }
    } else {
        snprintf(buf, len, "%s", avro_schema_type_name(b));
    }
}

/* Bytes of a string of code points 0..255 (Avro's JSON form of bytes); -1 when a code point is
 * larger. *out is malloc'd. */
static long latin1_bytes(const json_t *v, unsigned char **out)
{
    const unsigned char *p = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    unsigned char *buf = cm_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            buf[k++] = p[i];
        } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < n) {
            buf[k++] = (unsigned char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F));
            i++;
        } else {
            free(buf);
            return -1;
        }
    }
    *out = buf;
    return (long)k;
}

static void walk_value(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                       int depth);

static void walk_record(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                        int depth)
{
    if (!json_is_object(v)) {
        cm_verrors_add(&w->e, "must be an object (record %s)", avro_schema_name(t));
        return;
    }
    char full[256];
    branch_name(t, full, sizeof(full));
    size_t n = avro_schema_record_size(t);
    for (size_t i = 0; i < n; i++) {
        const char *fname = avro_schema_record_field_name(t, (int)i);
        avro_schema_t ft = avro_schema_record_field_get_by_index(t, (int)i);
        const json_t *fv = json_object_get(v, fname);
        if (!fv) {
            char key[512];
            snprintf(key, sizeof(key), "%s\n%s", full, fname);
            fv = json_object_get(w->s->defaults, key);
            if (!fv) {
                size_t saved = cm_verrors_push(&w->e, fname);
                cm_verrors_add(&w->e, "required field is missing");
                cm_verrors_pop(&w->e, saved);
                continue;
            }
        }
        avro_value_t field, *fout = NULL;
        if (out && avro_value_get_by_index(out, i, &field, NULL) == 0) {
            fout = &field;
        }
        size_t saved = cm_verrors_push(&w->e, fname);
        walk_value(w, ft, fv, fout, depth + 1);
        cm_verrors_pop(&w->e, saved);
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++) {
            known = strcmp(avro_schema_record_field_name(t, (int)i), k) == 0;
        }
        if (!known) {
            size_t saved = cm_verrors_push(&w->e, k);
            cm_verrors_add(&w->e, "is not a field of record %s", avro_schema_name(t));
            cm_verrors_pop(&w->e, saved);
        }
    }
}

static void walk_union(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                       int depth)
{
    size_t n = avro_schema_union_size(t);
    if (json_is_null(v)) {
        for (size_t i = 0; i < n; i++) {
            if (avro_typeof(deref(avro_schema_union_branch(t, (int)i))) == AVRO_NULL) {
                avro_value_t b;
                if (out) {
                    avro_value_set_branch(out, (int)i, &b);
                }
                return;
            }
        }
        cm_verrors_add(&w->e, "null is not a branch of this union");
        return;
    }
    if (!json_is_object(v) || json_object_size(v) != 1) {
        cm_verrors_add(&w->e, "a union value is null or {\"<type>\": value}");
        return;
    }
    const char *name = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *inner = json_object_iter_value(json_object_iter((json_t *)v));
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = avro_schema_union_branch(t, (int)i);
        char bname[256];
        branch_name(b, bname, sizeof(bname));
        const char *shortname = strrchr(bname, '.') ? strrchr(bname, '.') + 1 : bname;
        if (strcmp(bname, name) == 0 || strcmp(shortname, name) == 0) {
            avro_value_t bv, *bout = NULL;
            if (out && avro_value_set_branch(out, (int)i, &bv) == 0) {
                bout = &bv;
            }
            size_t saved = cm_verrors_push(&w->e, name);
            walk_value(w, b, inner, bout, depth + 1);
            cm_verrors_pop(&w->e, saved);
            return;
        }
    }
    cm_verrors_add(&w->e, "'%.80s' is not a branch of this union", name);
}

static void walk_value(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                       int depth)
{
    if (depth > MAX_DEPTH) {
        cm_verrors_add(&w->e, "value nested too deeply");
        return;
    }
    t = deref(t);
    switch (avro_typeof(t)) {
    case AVRO_NULL:
        if (!json_is_null(v)) {
            cm_verrors_add(&w->e, "must be null");
        } else if (out) {
            avro_value_set_null(out);
        }
        return;
    case AVRO_BOOLEAN:
        if (!json_is_boolean(v)) {
            cm_verrors_add(&w->e, "must be a boolean");
        } else if (out) {
            avro_value_set_boolean(out, json_is_true(v));
        }
        return;
    case AVRO_INT32:
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX) {
            cm_verrors_add(&w->e, "must be a 32-bit integer");
        } else if (out) {
            avro_value_set_int(out, (int32_t)json_integer_value(v));
        }
        return;
    case AVRO_INT64:
        if (!json_is_integer(v)) {
            cm_verrors_add(&w->e, "must be an integer");
        } else if (out) {
            avro_value_set_long(out, json_integer_value(v));
        }
        return;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (!json_is_number(v)) {
            cm_verrors_add(&w->e, "must be a number");
        } else if (out && avro_typeof(t) == AVRO_FLOAT) {
            avro_value_set_float(out, (float)json_number_value(v));
        } else if (out) {
            avro_value_set_double(out, json_number_value(v));
        }
        return;
    case AVRO_STRING:
        if (!json_is_string(v)) {
            cm_verrors_add(&w->e, "must be a string");
        } else if (out) {
            avro_value_set_string_len(out, json_string_value(v), json_string_length(v) + 1);
        }
        return;
    case AVRO_BYTES:
    case AVRO_FIXED: {
        unsigned char *bytes = NULL;
        long n = json_is_string(v) ? latin1_bytes(v, &bytes) : -1;
        if (n < 0) {
            cm_verrors_add(&w->e,
                           "must be a string of code points 0 to 255 (Avro's JSON form of bytes)");
        } else if (avro_typeof(t) == AVRO_FIXED && n != avro_schema_fixed_size(t)) {
            cm_verrors_add(&w->e, "must be exactly %lld bytes",
                           (long long)avro_schema_fixed_size(t));
        } else if (out && avro_typeof(t) == AVRO_FIXED) {
            avro_value_set_fixed(out, bytes, (size_t)n);
        } else if (out) {
            avro_value_set_bytes(out, bytes, (size_t)n);
        }
        free(bytes);
        return;
    }
    case AVRO_ENUM: {
        int idx = json_is_string(v) ? avro_schema_enum_get_by_name(t, json_string_value(v)) : -1;
        if (idx < 0) {
            cm_verrors_add(&w->e, "must be a symbol of enum %s", avro_schema_name(t));
        } else if (out) {
            avro_value_set_enum(out, idx);
        }
        return;
    }
    case AVRO_ARRAY: {
        if (!json_is_array(v)) {
            cm_verrors_add(&w->e, "must be an array");
            return;
        }
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            avro_value_t item, *iout = NULL;
            if (out && avro_value_append(out, &item, NULL) == 0) {
                iout = &item;
            }
            char idx[24];
            snprintf(idx, sizeof(idx), "%zu", i);
            size_t saved = cm_verrors_push(&w->e, idx);
            walk_value(w, avro_schema_array_items(t), x, iout, depth + 1);
            cm_verrors_pop(&w->e, saved);
        }
        return;
    }
    case AVRO_MAP: {
        if (!json_is_object(v)) {
            cm_verrors_add(&w->e, "must be an object (map)");
            return;
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            avro_value_t item, *iout = NULL;
            if (out && avro_value_add(out, k, &item, NULL, NULL) == 0) {
                iout = &item;
            }
            size_t saved = cm_verrors_push(&w->e, k);
            walk_value(w, avro_schema_map_values(t), x, iout, depth + 1);
            cm_verrors_pop(&w->e, saved);
        }
        return;
    }
    case AVRO_RECORD:
        walk_record(w, t, v, out, depth);
        return;
    case AVRO_UNION:
        walk_union(w, t, v, out, depth);
        return;
    default:
        cm_verrors_add(&w->e, "unsupported Avro type");
        return;
    }
}

int cm_avro_validate(const struct cm_avro_schema *s, const json_t *value, const char *prefix,
                     json_t *errors, size_t max_errors)
{
    struct walk w = {s, {0}};
    cm_verrors_init(&w.e, errors, max_errors, prefix);
    walk_value(&w, s->schema, value, NULL, 0);
    return !w.e.failed;
}

unsigned char *cm_avro_encode(const struct cm_avro_schema *s, const json_t *value, int schema_id,
                              size_t *len, char *err, size_t errlen)
{
    avro_value_t v;
    if (avro_generic_value_new(s->iface, &v) != 0) {
        snprintf(err, errlen, "%s", avro_strerror());
        return NULL;
    }
    json_t *errors = json_array();
    struct walk w = {s, {0}};
    cm_verrors_init(&w.e, errors, 1, NULL);
    walk_value(&w, s->schema, value, &v, 0);
    unsigned char *buf = NULL;
    size_t size = 0;
    if (w.e.failed) {
        snprintf(err, errlen, "%s", json_string_value(json_array_get(errors, 0)));
    } else if (avro_value_sizeof(&v, &size) != 0) {
        snprintf(err, errlen, "%s", avro_strerror());
    } else {
        size_t header = schema_id >= 0 ? 5 : 0;
        buf = cm_xmalloc(size + header + 1);
        if (header) {
            buf[0] = 0;
            buf[1] = (unsigned char)(schema_id >> 24);
            buf[2] = (unsigned char)(schema_id >> 16);
            buf[3] = (unsigned char)(schema_id >> 8);
            buf[4] = (unsigned char)schema_id;
        }
        avro_writer_t wr = avro_writer_memory((char *)buf + header, (int64_t)size);
        if (avro_value_write(wr, &v) != 0) {
            snprintf(err, errlen, "%s", avro_strerror());
            free(buf);
            buf = NULL;
        } else {
            *len = size + header;
        }
        avro_writer_free(wr);
    }
    json_decref(errors);
    avro_value_decref(&v);
    return buf;
}
