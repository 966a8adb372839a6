/* expr_parse: lexer, recursive-descent parser with CEL's precedence, name and arity checks,
 * constant folding and regex precompilation (see expr.h). Entry points: cm_expr_compile,
 * cm_expr_free. Single-threaded per call; the result is immutable. */
#include "expr_internal.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok {
    T_EOF,
    T_IDENT,
    T_INT,
    T_DOUBLE,
    T_STRING,
    T_TRUE,
    T_FALSE,
    T_NULL,
    T_IN,
    T_LPAREN,
    T_RPAREN,
    T_LBRACKET,
    T_RBRACKET,
    T_LBRACE,
    T_RBRACE,
    T_DOT,
    T_COMMA,
    T_COLON,
    T_QUESTION,
    T_NOT,
    T_MINUS,
    T_PLUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_EQ,
    T_NE,
    T_AND,
    T_OR
};

struct parser {
    const char *src;
    size_t pos;
    int line, col;
    /* current token */
    enum tok tok;
    const char *tstart;
    size_t tlen;
    int tline, tcol;
    int64_t ival;
    double dval;
    char *sval; /* decoded string literal (owned until consumed) */
    size_t slen;
    int int_overflow; /* the T_INT was 2^63: valid only right after a unary minus */
    int depth;
    struct cm_expr *expr;
    struct cm_expr_error *err;
    int failed;
};

static void fail_at(struct parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_at(struct parser *p, int line, int col, const char *fmt, ...)
{
    if (p->failed) {
        return;
    }
    p->failed = 1;
    p->err->line = line;
    p->err->column = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    va_end(ap);
}

#define FAIL(p, ...) fail_at((p), (p)->tline, (p)->tcol, __VA_ARGS__)

/* ---- lexer ---- */

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void advance_char(struct parser *p)
{
    if (p->src[p->pos] == '\n') {
        p->line++;
        p->col = 1;
    } else {
        p->col++;
    }
    p->pos++;
}

/* Lexes a string literal starting at the quote (raw when `raw`). */
static void lex_string(struct parser *p, int raw)
{
    char q = p->src[p->pos];
    int triple = p->src[p->pos + 1] == q && p->src[p->pos + 2] == q;
    size_t qlen = triple ? 3 : 1;
    for (size_t i = 0; i < qlen; i++) {
        advance_char(p);
    }
    size_t cap = 64, n = 0;
    char *buf = cm_xmalloc(cap);
    const unsigned char *end = (const unsigned char *)p->src + strlen(p->src);
    for (;;) {
        char c = p->src[p->pos];
        if (c == '\0') {
            fail_at(p, p->tline, p->tcol, "unterminated string literal");
            break;
        }
        if (c == q && (!triple || (p->src[p->pos + 1] == q && p->src[p->pos + 2] == q))) {
            for (size_t i = 0; i < qlen; i++) {
                advance_char(p);
            }
            break;
        }
        if (!triple && (c == '\n' || c == '\r')) {
            fail_at(p, p->line, p->col, "newline in string literal");
            break;
        }
        if (n + 8 > cap) {
            cap *= 2;
            buf = cm_xrealloc(buf, cap);
        }
        if (c == '\\' && !raw) {
            int line = p->line, col = p->col;
            advance_char(p);
            char e = p->src[p->pos];
            uint32_t cp = 0;
            int digits = 0;
            switch (e) {
            case 'a':
                buf[n++] = '\a';
                advance_char(p);
                continue;
            case 'b':
                buf[n++] = '\b';
                advance_char(p);
                continue;
            case 'f':
                buf[n++] = '\f';
                advance_char(p);
                continue;
            case 'n':
                buf[n++] = '\n';
                advance_char(p);
                continue;
            case 'r':
                buf[n++] = '\r';
                advance_char(p);
                continue;
            case 't':
                buf[n++] = '\t';
                advance_char(p);
                continue;
            case 'v':
                buf[n++] = '\v';
                advance_char(p);
                continue;
            case '\\':
            case '\'':
            case '"':
            case '`':
            case '?':
                buf[n++] = e;
                advance_char(p);
                continue;
            case 'x':
            case 'X':
                digits = 2;
                break;
            case 'u':
                digits = 4;
                break;
            case 'U':
                digits = 8;
                break;
            default:
                if (e >= '0' && e <= '3') {
                    for (int i = 0; i < 3; i++) {
                        char d = p->src[p->pos];
                        if (d < '0' || d > '7') {
                            fail_at(p, line, col, "invalid octal escape");
                            free(buf);
                            p->sval = NULL;
                            return;
                        }
                        cp = cp * 8 + (uint32_t)(d - '0');
                        advance_char(p);
                    }
                    size_t k = cm_utf8_encode(cp, buf + n);
                    n += k;
                    continue;
                }
                fail_at(p, line, col, "invalid escape sequence '\\%c'", e ? e : '0');
                free(buf);
                p->sval = NULL;
                return;
            }
            advance_char(p);
            for (int i = 0; i < digits; i++) {
                int h = cm_hex_digit((unsigned char)p->src[p->pos]);
                if (h < 0) {
                    fail_at(p, line, col, "invalid hex escape");
                    free(buf);
                    p->sval = NULL;
                    return;
                }
                cp = cp * 16 + (uint32_t)h;
                advance_char(p);
            }
            size_t k = cm_utf8_encode(cp, buf + n);
            if (k == 0) {
                fail_at(p, line, col, "escape is not a valid Unicode code point");
                free(buf);
                p->sval = NULL;
                return;
            }
            n += k;
            continue;
        }
        size_t k = cm_utf8_seq_len((const unsigned char *)p->src + p->pos,
                                   (size_t)(end - (const unsigned char *)p->src - p->pos));
        if (k == 0) {
            fail_at(p, p->line, p->col, "invalid UTF-8 in string literal");
            break;
        }
        for (size_t i = 0; i < k; i++) {
            buf[n++] = p->src[p->pos];
            advance_char(p);
        }
    }
    if (p->failed) {
        free(buf);
        p->sval = NULL;
        return;
    }
    p->sval = buf;
    p->slen = n;
    p->tok = T_STRING;
}

static void lex_number(struct parser *p)
{
    const char *s = p->src + p->pos;
    size_t i = 0;
    int is_double = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        i = 2;
        while (cm_hex_digit((unsigned char)s[i]) >= 0) {
            i++;
        }
        if (i == 2) {
            FAIL(p, "invalid hex literal");
            return;
        }
    } else {
        while (is_digit(s[i])) {
            i++;
        }
        if (s[i] == '.' && is_digit(s[i + 1])) {
            is_double = 1;
            i++;
            while (is_digit(s[i])) {
                i++;
            }
        }
        if (s[i] == 'e' || s[i] == 'E') {
            size_t j = i + 1;
            if (s[j] == '+' || s[j] == '-') {
                j++;
            }
            if (is_digit(s[j])) {
                is_double = 1;
                i = j;
                while (is_digit(s[i])) {
                    i++;
                }
            }
        }
    }
    if (s[i] == 'u' || s[i] == 'U') {
        FAIL(p, "unsigned integer literals are not supported");
        return;
    }
    if (is_ident_start(s[i]) || is_digit(s[i])) {
        FAIL(p, "invalid number literal");
        return;
    }
    char *tmp = cm_xstrndup(s, i);
    errno = 0;
    if (is_double) {
        p->dval = strtod(tmp, NULL);
        p->tok = T_DOUBLE;
        if (errno == ERANGE && isinf(p->dval)) {
            FAIL(p, "double literal out of range");
        }
    } else {
        /* digits only: parse as unsigned so "-9223372036854775808" can be folded later */
        unsigned long long v = strtoull(tmp, NULL, (s[1] == 'x' || s[1] == 'X') ? 16 : 10);
        if (errno == ERANGE || v > (unsigned long long)INT64_MAX + 1ULL) {
            FAIL(p, "integer literal out of range");
        }
        p->ival = (int64_t)v; /* INT64_MAX + 1 wraps to INT64_MIN: only valid under unary minus */
        p->tok = T_INT;
        p->int_overflow = v > (unsigned long long)INT64_MAX;
    }
    free(tmp);
    for (size_t k = 0; k < i; k++) {
        advance_char(p);
    }
}

static void next(struct parser *p)
{
    if (p->failed) {
        p->tok = T_EOF;
        return;
    }
    free(p->sval);
    p->sval = NULL;
    for (;;) {
        char c = p->src[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            advance_char(p);
        } else if (c == '/' && p->src[p->pos + 1] == '/') {
            while (p->src[p->pos] && p->src[p->pos] != '\n') {
                advance_char(p);
            }
        } else {
            break;
        }
    }
    p->tstart = p->src + p->pos;
    p->tline = p->line;
    p->tcol = p->col;
    char c = p->src[p->pos];
    char d = c ? p->src[p->pos + 1] : '\0';
    if (c == '\0') {
        p->tok = T_EOF;
        p->tlen = 0;
        return;
    }
    if ((c == 'r' || c == 'R') && (d == '"' || d == '\'')) {
        advance_char(p);
        lex_string(p, 1);
        return;
    }
    if ((c == 'b' || c == 'B') && (d == '"' || d == '\'')) {
        FAIL(p, "bytes literals are not supported");
        return;
    }
    if (is_ident_start(c)) {
        size_t i = 0;
        while (is_ident_start(p->src[p->pos + i]) || is_digit(p->src[p->pos + i])) {
            i++;
        }
        p->tlen = i;
        for (size_t k = 0; k < i; k++) {
            advance_char(p);
        }
        p->tok = T_IDENT;
        if (i == 4 && strncmp(p->tstart, "true", 4) == 0) {
            p->tok = T_TRUE;
        } else if (i == 5 && strncmp(p->tstart, "false", 5) == 0) {
            p->tok = T_FALSE;
        } else if (i == 4 && strncmp(p->tstart, "null", 4) == 0) {
            p->tok = T_NULL;
        } else if (i == 2 && strncmp(p->tstart, "in", 2) == 0) {
            p->tok = T_IN;
        }
        return;
    }
    if (is_digit(c) || (c == '.' && is_digit(d))) {
        lex_number(p);
        return;
    }
    if (c == '"' || c == '\'') {
        lex_string(p, 0);
        return;
    }
    static const struct {
        const char *text;
        enum tok tok;
    } ops[] = {{"<=", T_LE},      {">=", T_GE},      {"==", T_EQ},    {"!=", T_NE},
               {"&&", T_AND},     {"||", T_OR},      {"(", T_LPAREN}, {")", T_RPAREN},
               {"[", T_LBRACKET}, {"]", T_RBRACKET}, {"{", T_LBRACE}, {"}", T_RBRACE},
               {".", T_DOT},      {",", T_COMMA},    {":", T_COLON},  {"?", T_QUESTION},
               {"!", T_NOT},      {"-", T_MINUS},    {"+", T_PLUS},   {"*", T_STAR},
               {"/", T_SLASH},    {"%", T_PERCENT},  {"<", T_LT},     {">", T_GT}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t len = strlen(ops[i].text);
        if (strncmp(p->src + p->pos, ops[i].text, len) == 0) {
            p->tok = ops[i].tok;
            p->tlen = len;
            for (size_t k = 0; k < len; k++) {
                advance_char(p);
            }
            return;
        }
    }
    if ((unsigned char)c >= 0x80) {
        FAIL(p, "unexpected non-ASCII character");
    } else if (c < 0x20 || c == 0x7F) {
        FAIL(p, "unexpected control character 0x%02x", (unsigned)c);
    } else {
        FAIL(p, "unexpected character '%c'", c);
    }
    p->tok = T_EOF;
}

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
        expr_regex_free(n->regex);
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
        expr_regex_free(n->regex);
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
    next(p);
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
    next(p); /* '(' */
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
            next(p);
        }
    }
    if (!expect(p, T_RPAREN, "')'")) {
        node_free(call);
        return NULL;
    }
    if (!receiver && nlen == 3 && strncmp(name, "has", 3) == 0) {
        if (nargs != 1 || (call->kids[0]->kind != N_FIELD && call->kids[0]->kind != N_IDENT)) {
            fail_at(p, line, col, "has() takes one field selection, like has(data.x)");
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
            fail_at(p, line, col, "%s() cannot be called %s", functions[i].name,
                    receiver ? "on a value" : "without a receiver, like x.%s(...)");
            node_free(call);
            return NULL;
        }
        if ((int)nargs != want) {
            fail_at(p, line, col, "%.*s() takes %d argument%s, found %zu", (int)nlen, name, want,
                    want == 1 ? "" : "s", nargs);
            node_free(call);
            return NULL;
        }
        call->op = functions[i].id;
        if (call->op == F_MATCHES && call->kids[1]->kind == N_CONST) {
            const struct val *pat = &call->kids[1]->cval;
            char msg[128];
            if (pat->t != V_STRING) {
                fail_at(p, line, col, "matches() needs a string pattern");
                node_free(call);
                return NULL;
            }
            call->regex = expr_regex_compile(pat->u.s.p, pat->u.s.n, msg, sizeof(msg));
            if (!call->regex) {
                fail_at(p, call->kids[1]->line, call->kids[1]->column, "invalid regex: %s", msg);
                node_free(call);
                return NULL;
            }
        }
        return fold(p, call);
    }
    fail_at(p, line, col, "unknown function '%.*s'", (int)nlen, name);
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
        next(p);
        return n;
    case T_DOUBLE:
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_DOUBLE;
        n->cval.u.d = p->dval;
        next(p);
        return n;
    case T_STRING: {
        n = node_new(p, N_CONST, line, col);
        struct val v = {.t = V_STRING};
        v.u.s.p = p->sval;
        v.u.s.n = p->slen;
        make_const(p, n, v);
        next(p);
        return n;
    }
    case T_TRUE:
    case T_FALSE:
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_BOOL;
        n->cval.u.b = p->tok == T_TRUE;
        next(p);
        return n;
    case T_NULL:
        n = node_new(p, N_CONST, line, col);
        n->cval.t = V_NULL;
        next(p);
        return n;
    case T_LPAREN:
        next(p);
        n = parse_expr(p);
        if (n && !expect(p, T_RPAREN, "')'")) {
            node_free(n);
            return NULL;
        }
        return n;
    case T_LBRACKET:
        next(p);
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
            next(p);
        }
        if (!expect(p, T_RBRACKET, "']'")) {
            node_free(n);
            return NULL;
        }
        return fold(p, n);
    case T_LBRACE:
        next(p);
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
            next(p);
        }
        if (!expect(p, T_RBRACE, "'}'")) {
            node_free(n);
            return NULL;
        }
        return fold(p, n);
    case T_DOT: /* ".name": explicitly the root's field */
        next(p);
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
        next(p);
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
            next(p);
            if (p->tok != T_IDENT) {
                FAIL(p, "expected a field name after '.'");
                node_free(n);
                return NULL;
            }
            const char *name = p->tstart;
            size_t nlen = p->tlen;
            int nline = p->tline, ncol = p->tcol;
            next(p);
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
            next(p);
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
        next(p);
        struct node *k = parse_unary(p);
        if (!k) {
            return NULL;
        }
        n = node_new(p, N_NOT, line, col);
        node_add(n, k);
        n = fold(p, n);
    } else if (p->tok == T_MINUS) {
        next(p);
        if (p->tok == T_INT && p->int_overflow) { /* -9223372036854775808 */
            n = node_new(p, N_CONST, line, col);
            n->cval.t = V_INT;
            n->cval.u.i = INT64_MIN;
            next(p);
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
        next(p);
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
        next(p);
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
        next(p);
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
        next(p);
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
        next(p);
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
    next(&p);
    e->root = parse_expr(&p);
    if (!p.failed && p.tok != T_EOF) {
        FAIL(&p, "unexpected '%.*s' after the expression", (int)(p.tlen ? p.tlen : 1), p.tstart);
    }
    free(p.sval);
    if (p.failed || !e->root) {
        if (!p.failed) {
            fail_at(&p, 1, 1, "empty expression");
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

static void collect_fields(const struct node *n, const char ***names, size_t *count, size_t *cap)
{
    if (n->kind == N_IDENT) {
        size_t i = 0;
        while (i < *count && strcmp((*names)[i], n->name) != 0) {
            i++;
        }
        if (i == *count) { /* not seen yet */
            if (*count == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                *names = cm_xrealloc(*names, *cap * sizeof(**names));
            }
            (*names)[(*count)++] = n->name;
        }
    }
    for (size_t i = 0; i < n->nkids; i++) {
        collect_fields(n->kids[i], names, count, cap);
    }
}

size_t cm_expr_root_fields(const struct cm_expr *e, const char **names, size_t max)
{
    const char **all = NULL;
    size_t count = 0, cap = 0;
    collect_fields(e->root, &all, &count, &cap);
    for (size_t i = 0; i < count && i < max; i++) {
        names[i] = all[i];
    }
    free(all);
    return count;
}

char *cm_expr_error_format(const struct cm_expr_error *err, char *buf, size_t len)
{
    snprintf(buf, len, "%d:%d: %s", err->line, err->column, err->message);
    return buf;
}
