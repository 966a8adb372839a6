/* expr_eval: evaluation of compiled expressions: values, CEL's operator semantics (int overflow
 * and division by zero are errors, && and || absorb errors where CEL does, heterogeneous numeric
 * comparison), the per-call arena, and the public eval entry points of expr.h. */
#include "expr_internal.h"

#include "cm/jsonw.h"
#include "cm/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

void arena_init(struct arena *a)
{
    a->used = 0;
    a->blocks = NULL;
    a->nblocks = 0;
    a->json = NULL;
    a->njson = a->capjson = 0;
}

void arena_release(struct arena *a)
{
    for (size_t i = 0; i < a->nblocks; i++) {
        free(a->blocks[i]);
    }
    free(a->blocks);
    for (size_t i = 0; i < a->njson; i++) {
        json_decref(a->json[i]);
    }
    free(a->json);
    arena_init(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t aligned = (n + 7) & ~(size_t)7;
    if (a->used + aligned <= ARENA_INLINE) {
        void *p = a->inline_buf + a->used;
        a->used += aligned;
        return p;
    }
    a->blocks = cm_xrealloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
    void *p = cm_xmalloc(n ? n : 1);
    a->blocks[a->nblocks++] = p;
    return p;
}

const json_t *arena_keep(struct arena *a, json_t *j)
{
    if (a->njson == a->capjson) {
        a->capjson = a->capjson ? a->capjson * 2 : 8;
        a->json = cm_xrealloc(a->json, a->capjson * sizeof(*a->json));
    }
    a->json[a->njson++] = j;
    return j;
}

/* ---- values ---- */

struct val val_error(const char *msg)
{
    struct val v = {.t = V_ERR};
    v.u.err = msg;
    return v;
}

static struct val val_bool(int b)
{
    struct val v = {.t = V_BOOL};
    v.u.b = b != 0;
    return v;
}

static struct val val_int(int64_t i)
{
    struct val v = {.t = V_INT};
    v.u.i = i;
    return v;
}

static struct val val_double(double d)
{
    struct val v = {.t = V_DOUBLE};
    v.u.d = d;
    return v;
}

static struct val val_typed_i(enum val_type t, int64_t i)
{
    struct val v = {.t = t};
    v.u.i = i;
    return v;
}

/* An error message built at evaluation time, kept in the arena. */
static struct val errorf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct val errorf(struct arena *a, const char *fmt, ...)
{
    char *buf = arena_alloc(a, 160);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 160, fmt, ap);
    va_end(ap);
    return val_error(buf);
}

const char *val_type_name(enum val_type t)
{
    static const char *names[] = {"error",  "null", "bool", "int",       "double",
                                  "string", "list", "map",  "timestamp", "duration"};
    return names[t];
}

struct val val_from_json(const json_t *j)
{
    struct val v = {.t = V_NULL};
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v.t = V_MAP;
        v.u.j = j;
        break;
    case JSON_ARRAY:
        v.t = V_LIST;
        v.u.j = j;
        break;
    case JSON_STRING:
        v.t = V_STRING;
        v.u.s.p = json_string_value(j);
        v.u.s.n = json_string_length(j);
        break;
    case JSON_INTEGER:
        v = val_int(json_integer_value(j));
        break;
    case JSON_REAL:
        v = val_double(json_real_value(j));
        break;
    case JSON_TRUE:
        v = val_bool(1);
        break;
    case JSON_FALSE:
        v = val_bool(0);
        break;
    case JSON_NULL:
        break;
    }
    return v;
}

json_t *val_to_json(struct val v, char *why, size_t len)
{
    char buf[64];
    switch (v.t) {
    case V_ERR:
        snprintf(why, len, "%s", v.u.err);
        return NULL;
    case V_NULL:
        return json_null();
    case V_BOOL:
        return json_boolean(v.u.b);
    case V_INT:
        return json_integer(v.u.i);
    case V_DOUBLE:
        if (!isfinite(v.u.d)) {
            snprintf(why, len, "%s has no JSON form", isnan(v.u.d) ? "NaN" : "infinity");
            return NULL;
        }
        return json_real(v.u.d);
    case V_STRING:
        return json_stringn_nocheck(v.u.s.p, v.u.s.n);
    case V_LIST:
    case V_MAP:
        return json_deep_copy(v.u.j);
    case V_TIME:
        expr_format_timestamp(v.u.i, buf, sizeof(buf));
        return json_string(buf);
    case V_DUR:
        expr_format_duration(v.u.i, buf, sizeof(buf));
        return json_string(buf);
    }
    snprintf(why, len, "unknown value");
    return NULL;
}

static int is_num(const struct val *v)
{
    return v->t == V_INT || v->t == V_DOUBLE;
}

/* Three-way numeric comparison across int and double; returns 2 when unordered (NaN). */
static int num_cmp(struct val a, struct val b)
{
    if (a.t == V_INT && b.t == V_INT) {
        return (a.u.i > b.u.i) - (a.u.i < b.u.i);
    }
    if (a.t == V_DOUBLE && b.t == V_DOUBLE) {
        if (isnan(a.u.d) || isnan(b.u.d)) {
            return 2;
        }
        return (a.u.d > b.u.d) - (a.u.d < b.u.d);
    }
    /* int vs double, exactly: compare in double only where the int converts exactly */
    int flip = a.t == V_DOUBLE;
    int64_t i = flip ? b.u.i : a.u.i;
    double d = flip ? a.u.d : b.u.d;
    int r;
    if (isnan(d)) {
        return 2;
    }
    if (d >= 9223372036854775808.0) {
        r = -1;
    } else if (d < -9223372036854775808.0) {
        r = 1;
    } else {
        double t = trunc(d);
        int64_t di = (int64_t)t;
        if (i != di) {
            r = i < di ? -1 : 1;
        } else {
            r = d > t ? -1 : d < t ? 1 : 0;
        }
    }
    return flip ? -r : r;
}

int val_equal(struct val a, struct val b)
{
    if (is_num(&a) && is_num(&b)) {
        return num_cmp(a, b) == 0;
    }
    if (a.t != b.t) {
        return 0;
    }
    switch (a.t) {
    case V_NULL:
        return 1;
    case V_BOOL:
        return a.u.b == b.u.b;
    case V_STRING:
        return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case V_TIME:
    case V_DUR:
        return a.u.i == b.u.i;
    case V_LIST: {
        size_t n = json_array_size(a.u.j);
        if (n != json_array_size(b.u.j)) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!val_equal(val_from_json(json_array_get(a.u.j, i)),
                           val_from_json(json_array_get(b.u.j, i)))) {
                return 0;
            }
        }
        return 1;
    }
    case V_MAP: {
        if (json_object_size(a.u.j) != json_object_size(b.u.j)) {
            return 0;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a.u.j, k, v)
        {
            const json_t *w = json_object_get(b.u.j, k);
            if (!w || !val_equal(val_from_json(v), val_from_json(w))) {
                return 0;
            }
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* ---- operators ---- */

static struct val no_overload(struct arena *a, const char *op, struct val l, struct val r)
{
    return errorf(a, "no such overload: %s %s %s", val_type_name(l.t), op, val_type_name(r.t));
}

static struct val compare(struct arena *a, int op, struct val l, struct val r)
{
    static const char *names[] = {[OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">="};
    int c;
    if (is_num(&l) && is_num(&r)) {
        c = num_cmp(l, r);
        if (c == 2) {
            return val_bool(0);
        }
    } else if (l.t != r.t) {
        return no_overload(a, names[op], l, r);
    } else if (l.t == V_STRING) {
        size_t n = l.u.s.n < r.u.s.n ? l.u.s.n : r.u.s.n;
        c = memcmp(l.u.s.p, r.u.s.p, n);
        c = c ? (c > 0) - (c < 0) : (l.u.s.n > r.u.s.n) - (l.u.s.n < r.u.s.n);
    } else if (l.t == V_BOOL) {
        c = l.u.b - r.u.b;
    } else if (l.t == V_TIME || l.t == V_DUR) {
        c = (l.u.i > r.u.i) - (l.u.i < r.u.i);
    } else {
        return no_overload(a, names[op], l, r);
    }
    switch (op) {
    case OP_LT:
        return val_bool(c < 0);
    case OP_LE:
        return val_bool(c <= 0);
    case OP_GT:
        return val_bool(c > 0);
    default:
        return val_bool(c >= 0);
    }
}

static struct val concat(struct arena *a, struct val l, struct val r)
{
    if (l.t == V_STRING) {
        char *p = arena_alloc(a, l.u.s.n + r.u.s.n + 1);
        memcpy(p, l.u.s.p, l.u.s.n);
        memcpy(p + l.u.s.n, r.u.s.p, r.u.s.n);
        p[l.u.s.n + r.u.s.n] = '\0';
        struct val v = {.t = V_STRING};
        v.u.s.p = p;
        v.u.s.n = l.u.s.n + r.u.s.n;
        return v;
    }
    json_t *arr = json_array();
    json_array_extend(arr, (json_t *)l.u.j);
    json_array_extend(arr, (json_t *)r.u.j);
    struct val v = {.t = V_LIST};
    v.u.j = arena_keep(a, arr);
    return v;
}

static struct val arith(struct arena *a, int op, struct val l, struct val r)
{
    static const char *names[] = {
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_MOD] = "%"};
    int64_t out;
    if (l.t == V_INT && r.t == V_INT) {
        switch (op) {
        case OP_ADD:
            return __builtin_add_overflow(l.u.i, r.u.i, &out) ? val_error("integer overflow")
                                                              : val_int(out);
        case OP_SUB:
            return __builtin_sub_overflow(l.u.i, r.u.i, &out) ? val_error("integer overflow")
                                                              : val_int(out);
        case OP_MUL:
            return __builtin_mul_overflow(l.u.i, r.u.i, &out) ? val_error("integer overflow")
                                                              : val_int(out);
        case OP_DIV:
        case OP_MOD:
            if (r.u.i == 0) {
                return val_error(op == OP_DIV ? "division by zero" : "modulus by zero");
            }
            if (l.u.i == INT64_MIN && r.u.i == -1) {
                return val_error("integer overflow");
            }
            return val_int(op == OP_DIV ? l.u.i / r.u.i : l.u.i % r.u.i);
        }
    }
    if (l.t == V_DOUBLE && r.t == V_DOUBLE && op != OP_MOD) {
        switch (op) {
        case OP_ADD:
            return val_double(l.u.d + r.u.d);
        case OP_SUB:
            return val_double(l.u.d - r.u.d);
        case OP_MUL:
            return val_double(l.u.d * r.u.d);
        default:
            return val_double(l.u.d / r.u.d);
        }
    }
    if (op == OP_ADD &&
        ((l.t == V_STRING && r.t == V_STRING) || (l.t == V_LIST && r.t == V_LIST))) {
        return concat(a, l, r);
    }
    /* timestamps and durations */
    if (op == OP_ADD || op == OP_SUB) {
        int sub = op == OP_SUB;
        if ((l.t == V_TIME && r.t == V_DUR) || (l.t == V_DUR && r.t == V_DUR) ||
            (!sub && l.t == V_DUR && r.t == V_TIME)) {
            int ok = sub ? !__builtin_sub_overflow(l.u.i, r.u.i, &out)
                         : !__builtin_add_overflow(l.u.i, r.u.i, &out);
            if (!ok) {
                return val_error(l.t == V_DUR && r.t == V_DUR ? "duration overflow"
                                                              : "timestamp overflow");
            }
            return val_typed_i(l.t == V_TIME || r.t == V_TIME ? V_TIME : V_DUR, out);
        }
        if (sub && l.t == V_TIME && r.t == V_TIME) {
            if (__builtin_sub_overflow(l.u.i, r.u.i, &out)) {
                return val_error("duration overflow");
            }
            return val_typed_i(V_DUR, out);
        }
    }
    return no_overload(a, names[op], l, r);
}

static struct val contains(struct arena *a, struct val l, struct val r)
{
    if (r.t == V_LIST) {
        size_t i;
        json_t *v;
        json_array_foreach(r.u.j, i, v)
        {
            if (val_equal(l, val_from_json(v))) {
                return val_bool(1);
            }
        }
        return val_bool(0);
    }
    if (r.t == V_MAP) {
        if (l.t != V_STRING) {
            return val_bool(0); /* JSON maps have string keys only */
        }
        if (memchr(l.u.s.p, '\0', l.u.s.n)) {
            return val_bool(0);
        }
        return val_bool(json_object_get(r.u.j, l.u.s.p) != NULL);
    }
    return no_overload(a, "in", l, r);
}

static struct val binop(struct arena *a, int op, struct val l, struct val r)
{
    switch (op) {
    case OP_EQ:
        return val_bool(val_equal(l, r));
    case OP_NE:
        return val_bool(!val_equal(l, r));
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        return compare(a, op, l, r);
    case OP_IN:
        return contains(a, l, r);
    default:
        return arith(a, op, l, r);
    }
}

/* ---- nodes ---- */

/* The field `name` of map m; strings with NUL bytes never name a JSON key. */
static struct val field_of(struct arena *a, struct val m, const char *name, size_t nlen)
{
    if (m.t != V_MAP) {
        return errorf(a, "type %s has no field '%.*s'", val_type_name(m.t),
                      (int)(nlen > 64 ? 64 : nlen), name);
    }
    const json_t *v = memchr(name, '\0', nlen) ? NULL : json_object_get(m.u.j, name);
    if (!v) {
        return errorf(a, "no such key: %.*s", (int)(nlen > 64 ? 64 : nlen), name);
    }
    return val_from_json(v);
}

static struct val index_of(struct arena *a, struct val c, struct val k)
{
    if (c.t == V_LIST) {
        int64_t i;
        if (k.t == V_INT) {
            i = k.u.i;
        } else if (k.t == V_DOUBLE && k.u.d == trunc(k.u.d) && fabs(k.u.d) < 9e18) {
            i = (int64_t)k.u.d;
        } else {
            return errorf(a, "list index must be an int, not %s", val_type_name(k.t));
        }
        if (i < 0 || (uint64_t)i >= json_array_size(c.u.j)) {
            return errorf(a, "index out of range: %lld", (long long)i);
        }
        return val_from_json(json_array_get(c.u.j, (size_t)i));
    }
    if (c.t == V_MAP) {
        if (k.t != V_STRING) {
            return errorf(a, "no such key: %s", val_type_name(k.t));
        }
        return field_of(a, c, k.u.s.p, k.u.s.n);
    }
    return errorf(a, "type %s cannot be indexed", val_type_name(c.t));
}

static struct val build_list(const struct node *n, const json_t *root, struct arena *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n->nkids; i++) {
        struct val v = expr_eval_node(n->kids[i], root, a);
        char why[128];
        json_t *j = val_to_json(v, why, sizeof(why));
        if (!j) {
            json_decref(arr);
            return v.t == V_ERR ? v : errorf(a, "%s", why);
        }
        json_array_append_new(arr, j);
    }
    struct val out = {.t = V_LIST};
    out.u.j = arena_keep(a, arr);
    return out;
}

static struct val build_map(const struct node *n, const json_t *root, struct arena *a)
{
    json_t *obj = json_object();
    arena_keep(a, obj);
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        struct val k = expr_eval_node(n->kids[i], root, a);
        if (k.t == V_ERR) {
            return k;
        }
        if (k.t != V_STRING || memchr(k.u.s.p, '\0', k.u.s.n)) {
            return errorf(a, "map keys must be strings, not %s", val_type_name(k.t));
        }
        char *key = arena_alloc(a, k.u.s.n + 1);
        memcpy(key, k.u.s.p, k.u.s.n);
        key[k.u.s.n] = '\0';
        if (json_object_get(obj, key)) {
            return errorf(a, "duplicate map key '%.64s'", key);
        }
        struct val v = expr_eval_node(n->kids[i + 1], root, a);
        char why[128];
        json_t *j = val_to_json(v, why, sizeof(why));
        if (!j) {
            return v.t == V_ERR ? v : errorf(a, "%s", why);
        }
        json_object_set_new_nocheck(obj, key, j);
    }
    struct val out = {.t = V_MAP};
    out.u.j = obj;
    return out;
}

/* && and ||: CEL's commutative error absorption. */
static struct val logic(const struct node *n, const json_t *root, struct arena *a, int is_or)
{
    struct val l = expr_eval_node(n->kids[0], root, a);
    if (l.t == V_BOOL && l.u.b == is_or) {
        return l;
    }
    struct val r = expr_eval_node(n->kids[1], root, a);
    if (r.t == V_BOOL && r.u.b == is_or) {
        return r;
    }
    if (l.t == V_ERR) {
        return l;
    }
    if (r.t == V_ERR) {
        return r;
    }
    if (l.t != V_BOOL || r.t != V_BOOL) {
        return no_overload(a, is_or ? "||" : "&&", l, r);
    }
    return val_bool(!is_or);
}

struct val expr_eval_node(const struct node *n, const json_t *root, struct arena *a)
{
    struct val l, r;
    switch (n->kind) {
    case N_CONST:
        return n->cval;
    case N_IDENT:
        if (json_is_object(root)) { /* the hot path: a root attribute */
            const json_t *v = json_object_get(root, n->name);
            if (v) {
                return val_from_json(v);
            }
        }
        return field_of(a, val_from_json(root), n->name, n->name_len);
    case N_FIELD:
        l = expr_eval_node(n->kids[0], root, a);
        if (l.t == V_MAP) { /* names from the source never hold a NUL byte */
            const json_t *v = json_object_get(l.u.j, n->name);
            if (v) {
                return val_from_json(v);
            }
        }
        return l.t == V_ERR ? l : field_of(a, l, n->name, n->name_len);
    case N_INDEX:
        l = expr_eval_node(n->kids[0], root, a);
        if (l.t == V_ERR) {
            return l;
        }
        r = expr_eval_node(n->kids[1], root, a);
        return r.t == V_ERR ? r : index_of(a, l, r);
    case N_HAS: {
        const struct node *sel = n->kids[0];
        if (sel->kind == N_IDENT) { /* has(subject): an optional attribute of the event */
            return val_bool(json_is_object(root) && json_object_get(root, sel->name) != NULL);
        }
        l = expr_eval_node(sel->kids[0], root, a);
        if (l.t == V_ERR) {
            return l;
        }
        if (l.t != V_MAP) {
            return errorf(a, "has() needs a map, not %s", val_type_name(l.t));
        }
        return val_bool(json_object_get(l.u.j, sel->name) != NULL);
    }
    case N_NOT:
        l = expr_eval_node(n->kids[0], root, a);
        if (l.t == V_BOOL) {
            return val_bool(!l.u.b);
        }
        return l.t == V_ERR ? l : errorf(a, "no such overload: !%s", val_type_name(l.t));
    case N_NEG:
        l = expr_eval_node(n->kids[0], root, a);
        if (l.t == V_INT || l.t == V_DUR) {
            return l.u.i == INT64_MIN ? val_error("integer overflow") : val_typed_i(l.t, -l.u.i);
        }
        if (l.t == V_DOUBLE) {
            return val_double(-l.u.d);
        }
        return l.t == V_ERR ? l : errorf(a, "no such overload: -%s", val_type_name(l.t));
    case N_AND:
        return logic(n, root, a, 0);
    case N_OR:
        return logic(n, root, a, 1);
    case N_COND:
        l = expr_eval_node(n->kids[0], root, a);
        if (l.t == V_BOOL) {
            return expr_eval_node(n->kids[l.u.b ? 1 : 2], root, a);
        }
        return l.t == V_ERR ? l : errorf(a, "condition must be bool, not %s", val_type_name(l.t));
    case N_BINOP:
        l = expr_eval_node(n->kids[0], root, a);
        if (l.t == V_ERR) {
            return l;
        }
        r = expr_eval_node(n->kids[1], root, a);
        if (r.t == V_ERR) {
            return r;
        }
        return binop(a, n->op, l, r);
    case N_LIST:
        return build_list(n, root, a);
    case N_MAP:
        return build_map(n, root, a);
    case N_CALL: {
        struct val args[3];
        for (size_t i = 0; i < n->nkids && i < 3; i++) {
            args[i] = expr_eval_node(n->kids[i], root, a);
            if (args[i].t == V_ERR) {
                return args[i];
            }
        }
        return expr_call(n, args, a);
    }
    }
    return val_error("unknown node");
}

/* ---- public entry points ---- */

static void copy_why(char *why, size_t len, const char *msg)
{
    if (why && len) {
        snprintf(why, len, "%s", msg);
    }
}

enum cm_expr_outcome cm_expr_eval_bool(const struct cm_expr *e, const json_t *root, char *why,
                                       size_t whylen)
{
    struct arena a;
    arena_init(&a);
    struct val v = expr_eval_node(e->root, root, &a);
    enum cm_expr_outcome out;
    if (v.t == V_BOOL) {
        out = v.u.b ? CM_EXPR_TRUE : CM_EXPR_FALSE;
    } else {
        if (v.t == V_ERR) {
            copy_why(why, whylen, v.u.err);
        } else if (why && whylen) {
            snprintf(why, whylen, "expected bool, got %s", val_type_name(v.t));
        }
        out = CM_EXPR_ERROR;
    }
    arena_release(&a);
    return out;
}

json_t *cm_expr_eval_json(const struct cm_expr *e, const json_t *root, char *why, size_t whylen)
{
    struct arena a;
    arena_init(&a);
    struct val v = expr_eval_node(e->root, root, &a);
    char tmp[160];
    json_t *out = val_to_json(v, tmp, sizeof(tmp));
    if (!out) {
        copy_why(why, whylen, tmp);
    }
    arena_release(&a);
    return out;
}

/* n bytes of text into buf as a key: 0, or -1 with the reason when they do not fit or hold a NUL.
 */
static int key_text(const char *p, size_t n, char *buf, size_t len)
{
    if (n > len - 1) {
        snprintf(buf, len, "is %zu bytes long, more than the %zu a key may have", n, len - 1);
        return -1;
    }
    if (memchr(p, '\0', n)) {
        snprintf(buf, len, "%s", "holds a NUL character");
        return -1;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

int cm_expr_eval_string(const struct cm_expr *e, const json_t *root, char *buf, size_t len)
{
    if (len == 0) {
        return -1;
    }
    struct arena a;
    arena_init(&a);
    struct val v = expr_eval_node(e->root, root, &a);
    int rc = 0;
    switch (v.t) {
    case V_ERR:
        snprintf(buf, len, "%s", v.u.err);
        rc = -1;
        break;
    case V_STRING:
        rc = key_text(v.u.s.p, v.u.s.n, buf, len);
        break;
    case V_TIME:
        expr_format_timestamp(v.u.i, buf, len);
        break;
    case V_DUR:
        expr_format_duration(v.u.i, buf, len);
        break;
    default: {
        char why[160];
        json_t *j = val_to_json(v, why, sizeof(why));
        char *text = j ? cm_json_dumps(j, NULL) : NULL;
        if (text) {
            rc = key_text(text, strlen(text), buf, len);
        } else {
            snprintf(buf, len, "%s", j ? "out of memory" : why);
            rc = -1;
        }
        free(text);
        json_decref(j);
    }
    }
    arena_release(&a);
    return rc;
}
