/* reg_avro: Avro schema validation, normalization, canonical form and compatibility
 * (see reg_avro.h). Named types are tracked by fullname with the specification's namespace
 * inheritance; recursion through named types is cut by remembering the pairs already compared. */
#include "reg_avro.h"

#include "reg_pairs.h"

#include "cm/avro.h"
#include "cm/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

static const char *primitives[] = {"null",  "boolean", "int",   "long",
                                   "float", "double",  "bytes", "string"};

static int is_primitive(const char *t)
{
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++) {
        if (strcmp(t, primitives[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_named_kind(const char *t)
{
    return strcmp(t, "record") == 0 || strcmp(t, "enum") == 0 || strcmp(t, "fixed") == 0 ||
           strcmp(t, "error") == 0;
}

/* fullname of a named type definition given the enclosing namespace. */
static char *fullname(const json_t *def, const char *ns)
{
    const char *name = json_string_value(json_object_get(def, "name"));
    const char *own = json_string_value(json_object_get(def, "namespace"));
    if (!name) {
        return cm_xstrdup("");
    }
    if (strchr(name, '.')) {
        return cm_xstrdup(name);
    }
    const char *space = own ? own : ns;
    if (space && *space) {
        return cm_xasprintf("%s.%s", space, name);
    }
    return cm_xstrdup(name);
}

/* The namespace a definition gives to what it encloses. */
static char *inner_namespace(const char *full)
{
    const char *dot = strrchr(full, '.');
    return dot ? cm_xstrndup(full, (size_t)(dot - full)) : cm_xstrdup("");
}

/* A reference name resolved against the namespace: "User" in "com.x" -> "com.x.User". */
static char *qualify(const char *ref, const char *ns)
{
    if (strchr(ref, '.') || !ns || !*ns) {
        return cm_xstrdup(ref);
    }
    return cm_xasprintf("%s.%s", ns, ref);
}

/* ---- validation and named-type collection ---- */

struct walk {
    json_t *named; /* fullname -> definition */
    const json_t *external;
    char *err;
    size_t errlen;
    int failed;
};

static int name_ok(const char *n)
{
    if (!n || !*n) {
        return 0;
    }
    const char *seg = n;
    for (const char *p = n;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == seg) {
                return 0;
            }
            if (*p == '\0') {
                return 1;
            }
            seg = p + 1;
            continue;
        }
        int first = p == seg;
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (!first && *p >= '0' && *p <= '9'))) {
            return 0;
        }
    }
}

static void wfail(struct walk *w, const char *path, const char *msg)
{
    if (!w->failed) {
        snprintf(w->err, w->errlen, "%s: %s", path[0] ? path : "/", msg);
        w->failed = 1;
    }
}

static void walk_type(struct walk *w, const json_t *t, const char *ns, const char *path, int depth);

static void walk_named(struct walk *w, const json_t *t, const char *kind, const char *ns,
                       const char *path, int depth)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    if (!name_ok(name)) {
        wfail(w, path, "a named type needs a valid \"name\"");
        return;
    }
    char *full = fullname(t, ns);
    if (json_object_get(w->named, full) || is_primitive(full)) {
        wfail(w, path, "a type with this name is already defined");
        free(full);
        return;
    }
    json_object_set(w->named, full, (json_t *)t);
    char *inner = inner_namespace(full);
    char sub[512];
    if (strcmp(kind, "record") == 0 || strcmp(kind, "error") == 0) {
        const json_t *fields = json_object_get(t, "fields");
        if (!json_is_array(fields)) {
            wfail(w, path, "a record needs a \"fields\" array");
        }
        size_t i;
        const json_t *f;
        json_t *names = json_object();
        json_array_foreach(fields, i, f)
        {
            snprintf(sub, sizeof(sub), "%s/fields/%zu", path, i);
            const char *fname = json_string_value(json_object_get(f, "name"));
            if (!json_is_object(f) || !name_ok(fname) || strchr(fname, '.')) {
                wfail(w, sub, "a field needs a valid \"name\"");
                break;
            }
            if (json_object_get(names, fname)) { /* by hash, not name by name */
                wfail(w, sub, "duplicate field name");
            }
            json_object_set_new(names, fname, json_true());
            if (!json_object_get(f, "type")) {
                wfail(w, sub, "a field needs a \"type\"");
                break;
            }
            strncat(sub, "/type", sizeof(sub) - strlen(sub) - 1);
            walk_type(w, json_object_get(f, "type"), inner, sub, depth + 1);
        }
        json_decref(names);
    } else if (strcmp(kind, "enum") == 0) {
        const json_t *symbols = json_object_get(t, "symbols");
        if (!json_is_array(symbols)) {
            wfail(w, path, "an enum needs a \"symbols\" array");
        }
        size_t i;
        const json_t *s;
        json_t *seen = json_object(); /* by hash, not symbol by symbol */
        json_array_foreach(symbols, i, s)
        {
            if (!json_is_string(s) || !name_ok(json_string_value(s)) ||
                strchr(json_string_value(s), '.')) {
                wfail(w, path, "enum symbols must be valid names");
            } else if (json_object_get(seen, json_string_value(s))) {
                wfail(w, path, "duplicate enum symbol");
            } else {
                json_object_set_new(seen, json_string_value(s), json_true());
            }
        }
        json_decref(seen);
    } else { /* fixed */
        const json_t *size = json_object_get(t, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            wfail(w, path, "a fixed type needs a non-negative integer \"size\"");
        }
    }
    free(inner);
    free(full);
}

static void walk_type(struct walk *w, const json_t *t, const char *ns, const char *path, int depth)
{
    if (w->failed) {
        return;
    }
    if (depth > MAX_DEPTH) {
        wfail(w, path, "schema nested too deeply");
        return;
    }
    if (json_is_string(t)) {
        const char *name = json_string_value(t);
        if (is_primitive(name)) {
            return;
        }
        char *q = qualify(name, ns);
        int known = json_object_get(w->named, q) || json_object_get(w->named, name) ||
                    (w->external &&
                     (json_object_get(w->external, q) || json_object_get(w->external, name)));
        free(q);
        if (!known) {
            char msg[300];
            snprintf(msg, sizeof(msg), "unknown type '%.200s'", name);
            wfail(w, path, msg);
        }
        return;
    }
    if (json_is_array(t)) {
        size_t i;
        const json_t *b;
        char sub[512];
        json_array_foreach(t, i, b)
        {
            snprintf(sub, sizeof(sub), "%s/%zu", path, i);
            if (json_is_array(b)) {
                wfail(w, sub, "unions may not contain unions");
                return;
            }
            walk_type(w, b, ns, sub, depth + 1);
        }
        return;
    }
    if (!json_is_object(t)) {
        wfail(w, path, "a type is a name, an object or a union array");
        return;
    }
    const char *kind = json_string_value(json_object_get(t, "type"));
    if (!kind) {
        wfail(w, path, "missing \"type\"");
        return;
    }
    char sub[512];
    if (is_primitive(kind)) {
        return;
    }
    if (is_named_kind(kind)) {
        walk_named(w, t, kind, ns, path, depth);
    } else if (strcmp(kind, "array") == 0) {
        snprintf(sub, sizeof(sub), "%s/items", path);
        if (!json_object_get(t, "items")) {
            wfail(w, path, "an array needs \"items\"");
            return;
        }
        walk_type(w, json_object_get(t, "items"), ns, sub, depth + 1);
    } else if (strcmp(kind, "map") == 0) {
        snprintf(sub, sizeof(sub), "%s/values", path);
        if (!json_object_get(t, "values")) {
            wfail(w, path, "a map needs \"values\"");
            return;
        }
        walk_type(w, json_object_get(t, "values"), ns, sub, depth + 1);
    } else {
        walk_type(w, json_object_get(t, "type"), ns, path, depth + 1); /* {"type": "Named"} */
    }
}

json_t *reg_avro_parse(const char *text, const json_t *named, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *schema = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!schema) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    struct walk w = {json_object(), named, err, errlen, 0};
    walk_type(&w, schema, "", "", 0);
    json_decref(w.named);
    if (!w.failed && (!named || json_object_size(named) == 0)) {
        /* avro-c as a second opinion where it can see the whole schema */
        if (cm_avro_schema_check(text, err, errlen) != 0) {
            w.failed = 1;
        }
    }
    if (w.failed) {
        json_decref(schema);
        return NULL;
    }
    return schema;
}

void reg_avro_collect_named(const json_t *schema, json_t *out)
{
    char err[64];
    struct walk w = {json_object(), NULL, err, sizeof(err), 0};
    w.external = out; /* references already known count as defined */
    walk_type(&w, schema, "", "", 0);
    json_object_update(out, w.named);
    json_decref(w.named);
}

/* ---- normalized and canonical forms ---- */

static json_t *norm(const json_t *t, const char *ns, int canonical);

/* Copies src's remaining attributes into out in sorted key order (not in canonical form, which
 * keeps only what affects the binary encoding). */
static void put_rest(json_t *out, const json_t *src, int canonical)
{
    if (canonical) {
        return;
    }
    const char *k;
    json_t *v;
    /* keep every other attribute (docs, defaults, aliases, logical types), in sorted order */
    const char **keys = cm_xcalloc(json_object_size(src) + 1, sizeof(char *));
    size_t n = 0;
    json_object_foreach((json_t *)src, k, v)
    {
        if (!json_object_get(out, k)) {
            keys[n++] = k;
        }
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *tmp = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = tmp;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i], "namespace") != 0) {
            json_object_set(out, keys[i], json_object_get(src, keys[i]));
        }
    }
    free(keys);
}

static json_t *norm(const json_t *t, const char *ns, int canonical)
{
    if (json_is_string(t)) {
        const char *name = json_string_value(t);
        if (is_primitive(name)) {
            return json_string(name);
        }
        char *q = qualify(name, ns);
        json_t *out = json_string(q);
        free(q);
        return out;
    }
    if (json_is_array(t)) {
        json_t *out = json_array();
        size_t i;
        const json_t *b;
        json_array_foreach(t, i, b)
        {
            json_array_append_new(out, norm(b, ns, canonical));
        }
        return out;
    }
    const char *kind = json_string_value(json_object_get(t, "type"));
    if (!kind) {
        return json_deep_copy(t);
    }
    if (is_primitive(kind)) {
        if (canonical || json_object_size(t) == 1) {
            return json_string(kind);
        }
        json_t *out = json_object();
        json_object_set_new(out, "type", json_string(kind));
        put_rest(out, t, canonical);
        return out;
    }
    json_t *out = json_object();
    if (is_named_kind(kind)) {
        char *full = fullname(t, ns);
        char *inner = inner_namespace(full);
        json_object_set_new(out, "name", json_string(full));
        json_object_set_new(out, "type", json_string(kind));
        if (strcmp(kind, "enum") == 0) {
            json_object_set(out, "symbols", json_object_get(t, "symbols"));
        } else if (strcmp(kind, "fixed") == 0) {
            json_object_set(out, "size", json_object_get(t, "size"));
        } else {
            json_t *fields = json_array();
            size_t i;
            const json_t *f;
            json_array_foreach(json_object_get(t, "fields"), i, f)
            {
                json_t *nf = json_object();
                json_object_set(nf, "name", json_object_get(f, "name"));
                json_object_set_new(nf, "type", norm(json_object_get(f, "type"), inner, canonical));
                put_rest(nf, f, canonical);
                json_array_append_new(fields, nf);
            }
            json_object_set_new(out, "fields", fields);
        }
        free(inner);
        free(full);
    } else if (strcmp(kind, "array") == 0) {
        json_object_set_new(out, "type", json_string(kind));
        json_object_set_new(out, "items", norm(json_object_get(t, "items"), ns, canonical));
    } else if (strcmp(kind, "map") == 0) {
        json_object_set_new(out, "type", json_string(kind));
        json_object_set_new(out, "values", norm(json_object_get(t, "values"), ns, canonical));
    } else {
        json_decref(out);
        return norm(json_object_get(t, "type"), ns, canonical);
    }
    put_rest(out, t, canonical);
    return out;
}

json_t *reg_avro_normalize(const json_t *schema)
{
    return norm(schema, "", 0);
}

char *reg_avro_canonical_form(const json_t *schema)
{
    json_t *c = norm(schema, "", 1);
    char *text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(c);
    return text;
}

/* ---- compatibility ---- */

struct compat {
    const json_t *rnamed, *wnamed; /* fullname -> definition for each side */
    struct reg_pairs *pairs;       /* named pairs: each compared once per context */
    json_t *messages;              /* NULL in a probe, which only asks for an answer */
    int ok;
    size_t diffs; /* incompatibilities found so far */
    int low;      /* the lowest depth of an open pair the comparison under way rests on */
};

static void incompatible(struct compat *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void incompatible(struct compat *c, const char *path, const char *fmt, ...)
{
    c->ok = 0;
    c->diffs++;
    if (c->messages) {
        char detail[400], msg[600];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        snprintf(msg, sizeof(msg), "%s: %s", path[0] ? path : "/", detail);
        json_array_append_new(c->messages, json_string(msg));
    }
}

/* Resolves a type to its definition: named references looked up, {"type": "int"} -> "int". */
static const json_t *resolve(const json_t *t, const json_t *named, const char *ns, char **ns_out)
{
    for (int i = 0; i < 8; i++) {
        if (json_is_string(t) && !is_primitive(json_string_value(t))) {
            char *q = qualify(json_string_value(t), ns);
            const json_t *def = json_object_get(named, q);
            if (!def) {
                def = json_object_get(named, json_string_value(t));
            }
            if (def) {
                free(*ns_out);
                *ns_out = cm_xstrdup(q);
                char *dot = strrchr(*ns_out, '.');
                if (dot) {
                    *dot = '\0';
                } else {
                    (*ns_out)[0] = '\0';
                }
            }
            free(q);
            return def ? def : t;
        }
        if (json_is_object(t)) {
            const char *kind = json_string_value(json_object_get(t, "type"));
            if (kind && is_primitive(kind)) {
                return json_object_get(t, "type");
            }
            if (!kind && json_object_get(t, "type")) {
                t = json_object_get(t, "type");
                continue;
            }
        }
        return t;
    }
    return t;
}

static const char *kind_of(const json_t *t)
{
    if (json_is_string(t)) {
        return json_string_value(t);
    }
    if (json_is_array(t)) {
        return "union";
    }
    const char *k = json_string_value(json_object_get(t, "type"));
    return k ? k : "?";
}

static int promotable(const char *w, const char *r)
{
    return (strcmp(w, "int") == 0 &&
            (strcmp(r, "long") == 0 || strcmp(r, "float") == 0 || strcmp(r, "double") == 0)) ||
           (strcmp(w, "long") == 0 && (strcmp(r, "float") == 0 || strcmp(r, "double") == 0)) ||
           (strcmp(w, "float") == 0 && strcmp(r, "double") == 0) ||
           (strcmp(w, "string") == 0 && strcmp(r, "bytes") == 0) ||
           (strcmp(w, "bytes") == 0 && strcmp(r, "string") == 0);
}

/* Reader name matches writer name, directly or through the reader's aliases. */
static int names_match(const json_t *r, const char *rns, const json_t *w, const char *wns)
{
    char *rf = fullname(r, rns), *wf = fullname(w, wns);
    int ok = strcmp(rf, wf) == 0;
    const char *wshort = strrchr(wf, '.') ? strrchr(wf, '.') + 1 : wf;
    const char *rshort = strrchr(rf, '.') ? strrchr(rf, '.') + 1 : rf;
    if (!ok && strcmp(rshort, wshort) == 0) {
        ok = 1; /* Confluent and Java Avro compare unqualified names for schema resolution */
    }
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(r, "aliases"), i, a)
    {
        if (json_is_string(a) &&
            (strcmp(json_string_value(a), wf) == 0 || strcmp(json_string_value(a), wshort) == 0)) {
            ok = 1;
        }
    }
    free(rf);
    free(wf);
    return ok;
}

static int check(struct compat *c, const json_t *r, const char *rns, const json_t *w,
                 const char *wns, const char *path, int depth);

/* Whether w can be read by some branch of the reader union (silently). */
static int union_accepts(struct compat *c, const json_t *ru, const char *rns, const json_t *w,
                         const char *wns, int depth)
{
    size_t i;
    const json_t *b;
    json_array_foreach(ru, i, b)
    {
        struct compat probe = {c->rnamed, c->wnamed, c->pairs, NULL, 1, 0, REG_PAIRS_NONE};
        int ok = check(&probe, b, rns, w, wns, "", depth + 1);
        c->low = probe.low < c->low ? probe.low : c->low;
        if (ok) {
            return 1;
        }
    }
    return 0;
}

static int check_record(struct compat *c, const json_t *r, const char *rns, const json_t *w,
                        const char *wns, const char *path, int depth)
{
    char *rfull = fullname(r, rns), *wfull = fullname(w, wns);
    char *rinner = inner_namespace(rfull), *winner = inner_namespace(wfull);
    const json_t *wfields = json_object_get(w, "fields");
    json_t *windex = json_object(); /* writer field name -> its index (names are unique) */
    size_t i;
    const json_t *rf;
    json_array_foreach(wfields, i, rf)
    {
        const char *wname = json_string_value(json_object_get(rf, "name"));
        if (wname && !json_object_get(windex, wname)) {
            json_object_set_new(windex, wname, json_integer((json_int_t)i));
        }
    }
    char sub[600];
    json_array_foreach(json_object_get(r, "fields"), i, rf)
    {
        /* the writer field of the reader field's name, else the first one an alias names */
        const char *name = json_string_value(json_object_get(rf, "name"));
        const json_t *at = name ? json_object_get(windex, name) : NULL;
        const json_t *aliases = at ? NULL : json_object_get(rf, "aliases");
        size_t a;
        const json_t *alias;
        json_array_foreach(aliases, a, alias)
        {
            const json_t *ak =
                json_is_string(alias) ? json_object_get(windex, json_string_value(alias)) : NULL;
            if (ak && (!at || json_integer_value(ak) < json_integer_value(at))) {
                at = ak;
            }
        }
        const json_t *match = at ? json_array_get(wfields, (size_t)json_integer_value(at)) : NULL;
        snprintf(sub, sizeof(sub), "%s/fields/%zu", path, i);
        if (match) {
            char tsub[620];
            snprintf(tsub, sizeof(tsub), "%s/type", sub);
            check(c, json_object_get(rf, "type"), rinner, json_object_get(match, "type"), winner,
                  tsub, depth + 1);
        } else if (!json_object_get(rf, "default")) {
            incompatible(c, sub,
                         "READER_FIELD_MISSING_DEFAULT_VALUE: reader field '%s' has no default "
                         "and is missing from the writer%s",
                         name, "");
        }
    }
    json_decref(windex);
    free(rfull);
    free(wfull);
    free(rinner);
    free(winner);
    return c->ok;
}

/* Compares two named types of one kind whose names match: fixed sizes, enum symbols, record
 * fields. */
static void check_named(struct compat *c, const json_t *r, const char *rns, const json_t *w,
                        const char *wns, const char *rk, const char *path, int depth)
{
    if (strcmp(rk, "fixed") == 0) {
        if (!json_equal(json_object_get(r, "size"), json_object_get(w, "size"))) {
            incompatible(c, path, "FIXED_SIZE_MISMATCH: fixed sizes differ%s%s", "", "");
        }
    } else if (strcmp(rk, "enum") == 0) {
        size_t i;
        const json_t *s;
        json_t *rsyms = json_object(); /* by hash, not symbol by symbol */
        json_array_foreach(json_object_get(r, "symbols"), i, s)
        {
            if (json_is_string(s)) {
                json_object_set_new(rsyms, json_string_value(s), json_true());
            }
        }
        int has_default = json_object_get(r, "default") != NULL;
        json_array_foreach(json_object_get(w, "symbols"), i, s)
        {
            int found = json_is_string(s) && json_object_get(rsyms, json_string_value(s));
            if (!found && !has_default) {
                incompatible(c, path,
                             "MISSING_ENUM_SYMBOLS: the reader enum lacks writer symbol "
                             "'%s'%s",
                             json_string_value(s), "");
            }
        }
        json_decref(rsyms);
    } else {
        check_record(c, r, rns, w, wns, path, depth);
    }
}

static int check(struct compat *c, const json_t *r, const char *rns, const json_t *w,
                 const char *wns, const char *path, int depth)
{
    if (depth > MAX_DEPTH) {
        return c->ok;
    }
    char *rns2 = cm_xstrdup(rns), *wns2 = cm_xstrdup(wns);
    r = resolve(r, c->rnamed, rns, &rns2);
    w = resolve(w, c->wnamed, wns, &wns2);
    const char *rk = kind_of(r), *wk = kind_of(w);
    int result_before = c->ok;
    char sub[600];
    if (strcmp(wk, "union") == 0) {
        size_t i;
        const json_t *b;
        json_array_foreach(w, i, b)
        {
            snprintf(sub, sizeof(sub), "%s/%zu", path, i);
            if (strcmp(rk, "union") == 0) {
                if (!union_accepts(c, r, rns2, b, wns2, depth)) {
                    char *bns = cm_xstrdup(wns2);
                    const json_t *bt = resolve(b, c->wnamed, wns2, &bns);
                    incompatible(c, sub,
                                 "MISSING_UNION_BRANCH: the reader union has no branch for "
                                 "writer type '%s'%s",
                                 kind_of(bt), "");
                    free(bns);
                }
            } else {
                check(c, r, rns2, b, wns2, sub, depth + 1);
            }
        }
    } else if (strcmp(rk, "union") == 0) {
        if (!union_accepts(c, r, rns2, w, wns2, depth)) {
            incompatible(c, path,
                         "MISSING_UNION_BRANCH: the reader union has no branch for writer type "
                         "'%s'%s",
                         wk, "");
        }
    } else if (is_primitive(rk) || is_primitive(wk)) {
        if (strcmp(rk, wk) != 0 && !promotable(wk, rk)) {
            incompatible(c, path, "TYPE_MISMATCH: reader type '%s' cannot read writer type '%s'",
                         rk, wk);
        }
    } else if (strcmp(rk, wk) != 0) {
        incompatible(c, path, "TYPE_MISMATCH: reader type '%s' cannot read writer type '%s'", rk,
                     wk);
    } else if (strcmp(rk, "array") == 0) {
        snprintf(sub, sizeof(sub), "%s/items", path);
        check(c, json_object_get(r, "items"), rns2, json_object_get(w, "items"), wns2, sub,
              depth + 1);
    } else if (strcmp(rk, "map") == 0) {
        snprintf(sub, sizeof(sub), "%s/values", path);
        check(c, json_object_get(r, "values"), rns2, json_object_get(w, "values"), wns2, sub,
              depth + 1);
    } else if (!names_match(r, rns, w, wns)) {
        char *rf = fullname(r, rns), *wf = fullname(w, wns);
        incompatible(c, path, "NAME_MISMATCH: reader '%s' does not match writer '%s'", rf, wf);
        free(rf);
        free(wf);
    } else {
        /* named types: each pair once per context (reg_pairs: recursive schemas) */
        char *rf = fullname(r, rns), *wf = fullname(w, wns);
        char *key = cm_xasprintf("%s|%s|%d", rf, wf, !c->messages);
        free(rf);
        free(wf);
        size_t mark = 0;
        switch (reg_pairs_begin(c->pairs, key, depth, &c->low, &mark)) {
        case REG_PAIR_REFUSED:
            c->ok = 0;
            c->diffs++;
            break;
        case REG_PAIR_ACCEPTED:
        case REG_PAIR_ASSUMED:
            break;
        case REG_PAIR_NEW: {
            size_t diffs = c->diffs;
            int low = c->low;
            c->low = REG_PAIRS_NONE;
            check_named(c, r, rns, w, wns, rk, path, depth);
            reg_pairs_end(c->pairs, key, depth, mark, c->diffs > diffs, c->low);
            c->low = c->low < low ? c->low : low;
            break;
        }
        }
        free(key);
    }
    free(rns2);
    free(wns2);
    (void)result_before;
    return c->ok;
}

int reg_avro_can_read(const json_t *reader, const json_t *writer, const json_t *named,
                      json_t *messages)
{
    json_t *rnamed = json_object(), *wnamed = json_object();
    if (named) {
        json_object_update(rnamed, (json_t *)named);
        json_object_update(wnamed, (json_t *)named);
    }
    reg_avro_collect_named(reader, rnamed);
    reg_avro_collect_named(writer, wnamed);
    struct compat c = {rnamed, wnamed, reg_pairs_new(), messages, 1, 0, REG_PAIRS_NONE};
    check(&c, reader, "", writer, "", "", 0);
    if (reg_pairs_exhausted(c.pairs)) {
        incompatible(&c, "", "TOO_COMPLEX: more than %d pairs of named types to compare%s",
                     REG_PAIRS_MAX, "");
    }
    reg_pairs_free(c.pairs);
    json_decref(rnamed);
    json_decref(wnamed);
    return c.ok;
}
