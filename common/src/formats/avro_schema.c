/* avro_schema: Avro schemas parsed with avro-c and made ready to walk (see avro.h,
 * avro_internal.h): avro-c drops field defaults, so they are read from the schema's JSON into a
 * map keyed by "record fullname\nfield"; what avro-c accepts but cannot hold is refused; Confluent
 * references are inlined; each union's branches are indexed by name. */
#include "avro_internal.h"

#include "cm/err.h"
#include "cm/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

avro_schema_t avro_deref(avro_schema_t t)
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
    t = avro_deref(t);
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
    t = avro_deref(t);
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

/* The name a union branch is written with in Avro's JSON encoding. */
void avro_branch_name(avro_schema_t b, char *buf, size_t len)
{
    b = avro_deref(b);
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

/* ---- union branches by name ---- */

/* For every union in t, "<union>\n<name>" -> the index of its first branch of that full or short
 * name (as walk_union reads a value), into out; each record once ("<record>" -> true). */
static void index_unions(json_t *out, avro_schema_t t, int depth)
{
    t = avro_deref(t);
    if (!t || depth > 4 * MAX_DEPTH) {
        return;
    }
    char key[AVRO_NAME_MAX + 32];
    switch (avro_typeof(t)) {
    case AVRO_RECORD:
        snprintf(key, sizeof(key), "%p", (void *)t);
        if (json_object_get(out, key)) {
            return;
        }
        json_object_set_new(out, key, json_true());
        for (size_t i = 0; i < avro_schema_record_size(t); i++) {
            index_unions(out, avro_schema_record_field_get_by_index(t, (int)i), depth + 1);
        }
        return;
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(t); i++) {
            avro_schema_t b = avro_schema_union_branch(t, (int)i);
            char name[AVRO_NAME_MAX];
            avro_branch_name(b, name, sizeof(name));
            const char *dot = strrchr(name, '.');
            const char *names[] = {name, dot ? dot + 1 : name};
            for (size_t k = 0; k < 2; k++) {
                snprintf(key, sizeof(key), "%p\n%s", (void *)t, names[k]);
                if (!json_object_get(out, key)) {
                    json_object_set_new(out, key, json_integer((json_int_t)i));
                }
            }
            index_unions(out, b, depth + 1);
        }
        return;
    case AVRO_ARRAY:
        index_unions(out, avro_schema_array_items(t), depth + 1);
        return;
    case AVRO_MAP:
        index_unions(out, avro_schema_map_values(t), depth + 1);
        return;
    default:
        return;
    }
}

int avro_union_branch(const struct cm_avro_schema *s, avro_schema_t u, const char *name)
{
    char key[AVRO_NAME_MAX + 32];
    if (strlen(name) >= AVRO_NAME_MAX) {
        return -1;
    }
    snprintf(key, sizeof(key), "%p\n%s", (void *)u, name);
    const json_t *i = json_object_get(s->branches, key);
    return i ? (int)json_integer_value(i) : -1;
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
    s->branches = json_object();
    index_unions(s->branches, schema, 0);
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
    json_decref(s->branches);
    free(s);
}
