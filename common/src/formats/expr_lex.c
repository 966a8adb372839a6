/* expr_lex: the expression language's lexer (see expr_lex.h): identifiers and keywords,
 * integers and doubles with overflow checks, quoted and raw strings with CEL's escapes,
 * operators; positions by line and column for errors. */
#include "expr_lex.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void expr_fail_at(struct parser *p, int line, int col, const char *fmt, ...)
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
            expr_fail_at(p, p->tline, p->tcol, "unterminated string literal");
            break;
        }
        if (c == q && (!triple || (p->src[p->pos + 1] == q && p->src[p->pos + 2] == q))) {
            for (size_t i = 0; i < qlen; i++) {
                advance_char(p);
            }
            break;
        }
        if (!triple && (c == '\n' || c == '\r')) {
            expr_fail_at(p, p->line, p->col, "newline in string literal");
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
                            expr_fail_at(p, line, col, "invalid octal escape");
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
                expr_fail_at(p, line, col, "invalid escape sequence '\\%c'", e ? e : '0');
                free(buf);
                p->sval = NULL;
                return;
            }
            advance_char(p);
            for (int i = 0; i < digits; i++) {
                int h = cm_hex_digit((unsigned char)p->src[p->pos]);
                if (h < 0) {
                    expr_fail_at(p, line, col, "invalid hex escape");
                    free(buf);
                    p->sval = NULL;
                    return;
                }
                cp = cp * 16 + (uint32_t)h;
                advance_char(p);
            }
            size_t k = cm_utf8_encode(cp, buf + n);
            if (k == 0) {
                expr_fail_at(p, line, col, "escape is not a valid Unicode code point");
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
            expr_fail_at(p, p->line, p->col, "invalid UTF-8 in string literal");
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

void expr_next(struct parser *p)
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
