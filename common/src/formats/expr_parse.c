/* expr_parse: recursive-descent parser (tokens from expr_lex.c) with CEL's precedence, name and
 * arity checks, constant folding and regex precompilation (see expr.h). Entry points:
 * cm_expr_compile, cm_expr_free. Single-threaded per call; the result is immutable. */
#include "expr_internal.h"
#include "expr_lex.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tree ---- */

static struct node *node_new(struct parser *p, enum node_kind kind, int line, int col)
{
    (void)p;
    struct node *n = cm_xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = line;
    n->column = col;
    return n;
}

static void node_add(struct node *n, struct node *kid)
{
    n->kids = cm_xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
    n->kids[n->nkids++] = kid;
}

static void node_free(struct node *n)
{
    if (!n) {
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
    }
    free(n->kids);
    free(n->name);
    if (n->regex) {
        cm_regex_free(n->regex);
    }
    free(n);
}

/* Stores v as the node's constant; strings, lists and maps are copied into the expression's
 * constants so they outlive any arena. */
static void make_const(struct parser *p, struct node *n, struct val v)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
    }
    free(n->kids);
    n->kids = NULL;
    n->nkids = 0;
    if (n->regex) {
        cm_regex_free(n->regex);
        n->regex = NULL;
    }
    n->kind = N_CONST;
    if (v.t == V_STRING) {
        json_t *s = json_stringn_nocheck(v.u.s.p, v.u.s.n);
        json_array_append_new(p->expr->constants, s);
        v.u.s.p = json_string_value(s);
    } else if (v.t == V_LIST || v.t == V_MAP) {
        json_t *copy = json_deep_copy(v.u.j);
        json_array_append_new(p->expr->constants, copy);
        v.u.j = copy;
    }
    n->cval = v;
}

static int all_const(const struct node *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->kind != N_CONST) {
            return 0;
        }
    }
    return 1;
}

/* Folds n when every operand is constant and the result is not an error. */
static struct node *fold(struct parser *p, struct node *n)
{
    if (p->failed || n->kind == N_CONST || n->kind == N_IDENT || !all_const(n)) {
        return n;
    }
    struct arena a;
    arena_init(&a);
    struct val v = expr_eval_node(n, json_null(), &a);
    if (v.t != V_ERR) {
        make_const(p, n, v);
    }
    arena_release(&a);
    return n;
}

/* ---- parser ---- */

static struct node *parse_expr(struct parser *p);

static int expect(struct parser *p, enum tok t, const char *what)
{
    if (p->tok != t) {
        if (p->tok == T_EOF && !p->failed) {
            FAIL(p, "expected %s, found end of input", what);
        } else {
            FAIL(p, "expected %s", what);
        }
        return 0;
    }
    expr_next(p);
    return 1;
}

static const char *reserved[] = {"as",        "break",  "const",  "continue", "else", "for",
                                 "function",  "if",     "import", "let",      "loop", "package",
                                 "namespace", "return", "var",    "void",     "while"};

static int is_reserved(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == n && strncmp(reserved[i], s, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static const struct {
    const char *name;
    enum func_id id;
    int global_args;   /* args when called as f(...), -1 = not allowed */
    int receiver_args; /* args after the receiver for x.f(...), -1 = not allowed */
} functions[] = {
    {"size", F_SIZE, 1, 0},           {"startsWith", F_STARTS_WITH, -1, 1},
    {"endsWith", F_ENDS_WITH, -1, 1}, {"contains", F_CONTAINS, -1, 1},
    {"matches", F_MATCHES, 2, 1},     {"lower", F_LOWER, 1, 0},
    {"upper", F_UPPER, 1, 0},         {"lowerAscii", F_LOWER, -1, 0},
    {"upperAscii", F_UPPER, -1, 0},   {"int", F_INT, 1, -1},
    {"double", F_DOUBLE, 1, -1},      {"string", F_STRING, 1, -1},
    {"bool", F_BOOL, 1, -1},          {"timestamp", F_TIMESTAMP, 1, -1},
    {"duration", F_DURATION, 1, -1},
};

/* Parses "(args)" after a function name; receiver (may be NULL) becomes the first operand. */
static struct node *parse_call(struct parser *p, const char *name, size_t nlen, int line, int col,
                               struct node *receiver)
{
    struct node *call = node_new(p, N_CALL, line, col);
    if (receiver) {
        node_add(call, receiver);
    }
    expr_next(p); /* '(' */
    size_t nargs = 0;
    if (p->tok != T_RPAREN) {
        for (;;) {
            struct node *arg = parse_expr(p);
            if (!arg) {
                node_free(call);
                return NULL;
            }
            node_add(call, arg);
            nargs++;
            if (p->tok != T_COMMA) {
                break;
            }
            expr_next(p);
        }
    }
    if (!expect(p, T_RPAREN, "')'")) {
        node_free(call);
        return NULL;
    }
    if (!receiver && nlen == 3 && strncmp(name, "has", 3) == 0) {
        if (nargs != 1 || (call->kids[0]->kind != N_FIELD && call->kids[0]->kind != N_IDENT)) {
            expr_fail_at(p, line, col, "has() takes one field selection, like has(data.x)");
            node_free(call);
            return NULL;
        }
        call->kind = N_HAS;
        return call;
    }
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        if (strlen(functions[i].name) != nlen || strncmp(functions[i].name, name, nlen) != 0) {
            continue;
        }
        int want = receiver ? functions[i].receiver_args : functions[i].global_args;
        if (want < 0) {
            expr_fail_at(p, line, col, "%s() cannot be called %s", functions[i].name,
                         receiver ? "on a value" : "without a receiver, like x.%s(...)");
            node_free(call);
            return NULL;
        }
        if ((int)nargs != want) {
            expr_fail_at(p, line, col, "%.*s() takes %d argument%s, found %zu", (int)nlen, name,
                         want, want == 1 ? "" : "s", nargs);
            node_free(call);
            return NULL;
        }
        call->op = functions[i].id;
        if (call->op == F_MATCHES && call->kids[1]->kind == N_CONST) {
            const struct val *pat = &call->kids[1]->cval;
            char msg[128];
            if (pat->t != V_STRING) {
                expr_fail_at(p, line, col, "matches() needs a string pattern");
                node_free(call);
                return NULL;
            }
            call->regex = cm_regex_compile(pat->u.s.p, pat->u.s.n, 0, msg, sizeof(msg));
            if (!call->regex) {
                expr_fail_at(p, call->kids[1]->line, call->kids[1]->column, "invalid regex: %s",
                             msg);
                node_free(call);
                return NULL;
            }
        }
        return fold(p, call);
    }
    expr_fail_at(p, line, col, "unknown function '%.*s'", (int)nlen, name);
    node_free(call);
    return NULL;
}

static struct node *parse_primary(struct parser *p)
{
    int line = p->tline, col = p->tcol;
    struct node *n;
    switch (p->tok) {
    case T_INT:
        if (p->int_overflow) { /* 9223372036854775808 without a minus in front */
            FAIL(p, "integer literal out of range");
            return NULL;
        }
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_INT;
        n->cval.u.i = p->ival;
        expr_next(p);
        return n;
    case T_DOUBLE:
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_DOUBLE;
        n->cval.u.d = p->dval;
        expr_next(p);
        return n;
    case T_STRING: {
        n = node_new(p, N_CONST, line, col);
        struct val v = {.t = V_STRING};
        v.u.s.p = p->sval;
        v.u.s.n = p->slen;
        make_const(p, n, v);
        expr_next(p);
        return n;
    }
    case T_TRUE:
    case T_FALSE:
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_BOOL;
        n->cval.u.b = p->tok == T_TRUE;
        expr_next(p);
        return n;
    case T_NULL:
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_NULL;
        expr_next(p);
        return n;
    case T_LPAREN:
        expr_next(p);
        n = parse_expr(p);
        if (n && !expect(p, T_RPAREN, "')'")) {
            node_free(n);
            return NULL;
        }
        return n;
    case T_LBRACKET:
        expr_next(p);
        n = node_new(p, N_LIST, line, col);
        while (p->tok != T_RBRACKET) {
            struct node *e = parse_expr(p);
            if (!e) {
                node_free(n);
                return NULL;
            }
            node_add(n, e);
            if (p->tok != T_COMMA) {
                break;
            }
            expr_next(p);
        }
        if (!expect(p, T_RBRACKET, "']'")) {
            node_free(n);
            return NULL;
        }
        return fold(p, n);
    case T_LBRACE:
        expr_next(p);
        n = node_new(p, N_MAP, line, col);
        while (p->tok != T_RBRACE) {
            struct node *k = parse_expr(p);
            if (!k || !expect(p, T_COLON, "':'")) {
                node_free(k);
                node_free(n);
                return NULL;
            }
            struct node *v = parse_expr(p);
            if (!v) {
                node_free(k);
                node_free(n);
                return NULL;
            }
            node_add(n, k);
            node_add(n, v);
            if (p->tok != T_COMMA) {
                break;
            }
            expr_next(p);
        }
        if (!expect(p, T_RBRACE, "'}'")) {
            node_free(n);
            return NULL;
        }
        return fold(p, n);
    case T_DOT: /* ".name": explicitly the root's field */
        expr_next(p);
        if (p->tok != T_IDENT) {
            FAIL(p, "expected an identifier after '.'");
            return NULL;
        }
        /* fall through */
    case T_IDENT: {
        const char *name = p->tstart;
        size_t nlen = p->tlen;
        if (is_reserved(name, nlen)) {
            FAIL(p, "'%.*s' is a reserved word", (int)nlen, name);
            return NULL;
        }
        expr_next(p);
        if (p->tok == T_LPAREN) {
            return parse_call(p, name, nlen, line, col, NULL);
        }
        n = node_new(p, N_IDENT, line, col);
        n->name = cm_xstrndup(name, nlen);
        n->name_len = nlen;
        return n;
    }
    case T_EOF:
        if (!p->failed) {
            FAIL(p, "unexpected end of input");
        }
        return NULL;
    default:
        FAIL(p, "unexpected '%.*s'", (int)(p->tlen ? p->tlen : 1), p->tstart);
        return NULL;
    }
}

static struct node *parse_member(struct parser *p)
{
    struct node *n = parse_primary(p);
    while (n && (p->tok == T_DOT || p->tok == T_LBRACKET)) {
        int line = p->tline, col = p->tcol;
        if (p->tok == T_DOT) {
            expr_next(p);
            if (p->tok != T_IDENT) {
                FAIL(p, "expected a field name after '.'");
                node_free(n);
                return NULL;
            }
            const char *name = p->tstart;
            size_t nlen = p->tlen;
            int nline = p->tline, ncol = p->tcol;
            expr_next(p);
            if (p->tok == T_LPAREN) {
                n = parse_call(p, name, nlen, nline, ncol, n);
                continue;
            }
            struct node *f = node_new(p, N_FIELD, nline, ncol);
            f->name = cm_xstrndup(name, nlen);
            f->name_len = nlen;
            node_add(f, n);
            n = fold(p, f);
        } else {
            expr_next(p);
            struct node *idx = parse_expr(p);
            if (!idx || !expect(p, T_RBRACKET, "']'")) {
                node_free(idx);
                node_free(n);
                return NULL;
            }
            struct node *ix = node_new(p, N_INDEX, line, col);
            node_add(ix, n);
            node_add(ix, idx);
            n = fold(p, ix);
        }
    }
    return n;
}

static struct node *parse_unary(struct parser *p)
{
    if (++p->depth > CM_EXPR_MAX_DEPTH) {
        FAIL(p, "expression nested too deeply (limit %d)", CM_EXPR_MAX_DEPTH);
        return NULL;
    }
    struct node *n;
    int line = p->tline, col = p->tcol;
    if (p->tok == T_NOT) {
        expr_next(p);
        struct node *k = parse_unary(p);
        if (!k) {
            return NULL;
        }
        n = node_new(p, N_NOT, line, col);
        node_add(n, k);
        n = fold(p, n);
    } else if (p->tok == T_MINUS) {
        expr_next(p);
        if (p->tok == T_INT && p->int_overflow) { /* -9223372036854775808 */
            n = node_new(p, N_CONST, line, col);
            n->cval.t = V_INT;
            n->cval.u.i = INT64_MIN;
            expr_next(p);
        } else {
            struct node *k = parse_unary(p);
            if (!k) {
                return NULL;
            }
            n = node_new(p, N_NEG, line, col);
            node_add(n, k);
            n = fold(p, n);
        }
    } else {
        n = parse_member(p);
    }
    p->depth--;
    return n;
}

static struct node *binary(struct parser *p, int op, struct node *l, struct node *r, int line,
                           int col)
{
    struct node *n = node_new(p, N_BINOP, line, col);
    n->op = op;
    node_add(n, l);
    node_add(n, r);
    return fold(p, n);
}

static struct node *parse_multiplication(struct parser *p)
{
    struct node *l = parse_unary(p);
    while (l && (p->tok == T_STAR || p->tok == T_SLASH || p->tok == T_PERCENT)) {
        int op = p->tok == T_STAR ? OP_MUL : p->tok == T_SLASH ? OP_DIV : OP_MOD;
        int line = p->tline, col = p->tcol;
        expr_next(p);
        struct node *r = parse_unary(p);
        if (!r) {
            node_free(l);
            return NULL;
        }
        l = binary(p, op, l, r, line, col);
    }
    return l;
}

static struct node *parse_addition(struct parser *p)
{
    struct node *l = parse_multiplication(p);
    while (l && (p->tok == T_PLUS || p->tok == T_MINUS)) {
        int op = p->tok == T_PLUS ? OP_ADD : OP_SUB;
        int line = p->tline, col = p->tcol;
        expr_next(p);
        struct node *r = parse_multiplication(p);
        if (!r) {
            node_free(l);
            return NULL;
        }
        l = binary(p, op, l, r, line, col);
    }
    return l;
}

static int relop(enum tok t)
{
    switch (t) {
    case T_LT:
        return OP_LT;
    case T_LE:
        return OP_LE;
    case T_GT:
        return OP_GT;
    case T_GE:
        return OP_GE;
    case T_EQ:
        return OP_EQ;
    case T_NE:
        return OP_NE;
    case T_IN:
        return OP_IN;
    default:
        return -1;
    }
}

static struct node *parse_relation(struct parser *p)
{
    struct node *l = parse_addition(p);
    int op;
    while (l && (op = relop(p->tok)) >= 0) {
        int line = p->tline, col = p->tcol;
        expr_next(p);
        struct node *r = parse_addition(p);
        if (!r) {
            node_free(l);
            return NULL;
        }
        l = binary(p, op, l, r, line, col);
    }
    return l;
}

static struct node *parse_logic(struct parser *p, int is_or)
{
    struct node *l = is_or ? parse_logic(p, 0) : parse_relation(p);
    enum tok t = is_or ? T_OR : T_AND;
    while (l && p->tok == t) {
        int line = p->tline, col = p->tcol;
        expr_next(p);
        struct node *r = is_or ? parse_logic(p, 0) : parse_relation(p);
        if (!r) {
            node_free(l);
            return NULL;
        }
        struct node *n = node_new(p, is_or ? N_OR : N_AND, line, col);
        node_add(n, l);
        node_add(n, r);
        l = fold(p, n);
    }
    return l;
}

static struct node *parse_expr(struct parser *p)
{
    if (++p->depth > CM_EXPR_MAX_DEPTH) {
        FAIL(p, "expression nested too deeply (limit %d)", CM_EXPR_MAX_DEPTH);
        return NULL;
    }
    struct node *c = parse_logic(p, 1);
    if (c && p->tok == T_QUESTION) {
        int line = p->tline, col = p->tcol;
        expr_next(p);
        struct node *a = parse_logic(p, 1);
        struct node *b = NULL;
        if (a && expect(p, T_COLON, "':'")) {
            b = parse_expr(p);
        }
        if (!a || !b) {
            node_free(c);
            node_free(a);
            node_free(b);
            p->depth--;
            return NULL;
        }
        struct node *n = node_new(p, N_COND, line, col);
        node_add(n, c);
        node_add(n, a);
        node_add(n, b);
        c = fold(p, n);
    }
    p->depth--;
    return c;
}

struct cm_expr *cm_expr_compile(const char *src, struct cm_expr_error *err)
{
    struct cm_expr_error local;
    if (!err) {
        err = &local;
    }
    memset(err, 0, sizeof(*err));
    if (!src) {
        src = "";
    }
    size_t len = strnlen(src, CM_EXPR_MAX_SOURCE + 1);
    if (len > CM_EXPR_MAX_SOURCE) {
        err->line = 1;
        err->column = 1;
        snprintf(err->message, sizeof(err->message), "expression longer than %d bytes",
                 CM_EXPR_MAX_SOURCE);
        return NULL;
    }
    struct cm_expr *e = cm_xcalloc(1, sizeof(*e));
    e->source = cm_xstrdup(src);
    e->constants = json_array();
    struct parser p = {0};
    p.src = e->source;
    p.line = p.col = 1;
    p.expr = e;
    p.err = err;
    expr_next(&p);
    e->root = parse_expr(&p);
    if (!p.failed && p.tok != T_EOF) {
        FAIL(&p, "unexpected '%.*s' after the expression", (int)(p.tlen ? p.tlen : 1), p.tstart);
    }
    free(p.sval);
    if (p.failed || !e->root) {
        if (!p.failed) {
            expr_fail_at(&p, 1, 1, "empty expression");
        }
        cm_expr_free(e);
        return NULL;
    }
    return e;
}

void cm_expr_free(struct cm_expr *e)
{
    if (!e) {
        return;
    }
    node_free(e->root);
    json_decref(e->constants);
    free(e->source);
    free(e);
}

const char *cm_expr_source(const struct cm_expr *e)
{
    return e->source;
}

struct names {
    const char **v;
    size_t count, cap;
};

static void names_add(struct names *s, const char *name)
{
    size_t i = 0;
    while (i < s->count && strcmp(s->v[i], name) != 0) {
        i++;
    }
    if (i == s->count) { /* not seen yet */
        if (s->count == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->v = cm_xrealloc(s->v, s->cap * sizeof(*s->v));
        }
        s->v[s->count++] = name;
    }
}

/* root NULL: the root's fields (N_IDENT); else the fields read of the root field `root` */
static void collect_fields(const struct node *n, const char *root, struct names *s)
{
    if (!root && n->kind == N_IDENT) {
        names_add(s, n->name);
    }
    if (root && n->kind == N_FIELD && n->kids[0]->kind == N_IDENT &&
        strcmp(n->kids[0]->name, root) == 0) {
        names_add(s, n->name);
    }
    if (root && n->kind == N_HAS && n->kids[0]->kind == N_FIELD) {
        collect_fields(n->kids[0]->kids[0], root, s); /* has(a.f) reads a, not a.f */
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        collect_fields(n->kids[i], root, s);
    }
}

static size_t fields(const struct cm_expr *e, const char *root, const char **names, size_t max)
{
    struct names s = {0};
    collect_fields(e->root, root, &s);
    for (size_t i = 0; i < s.count && i < max; i++) {
        names[i] = s.v[i];
    }
    free(s.v);
    return s.count;
}

size_t cm_expr_root_fields(const struct cm_expr *e, const char **names, size_t max)
{
    return fields(e, NULL, names, max);
}

size_t cm_expr_fields_of(const struct cm_expr *e, const char *root, const char **names, size_t max)
{
    return fields(e, root, names, max);
}

char *cm_expr_error_format(const struct cm_expr_error *err, char *buf, size_t len)
{
    snprintf(buf, len, "%d:%d: %s", err->line, err->column, err->message);
    return buf;
}
