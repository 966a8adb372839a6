/* expr_lex: the expression language's lexer, shared by the parser (expr_parse.c): tokens, the
 * parser state the lexer advances, and the first-error-wins error report. Internal. */
#ifndef CM_EXPR_LEX_H
#define CM_EXPR_LEX_H

#include "expr_internal.h"

#include <stddef.h>
#include <stdint.h>

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

/* Records the first error (later ones are dropped) at line:col. */
void expr_fail_at(struct parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define FAIL(p, ...) expr_fail_at((p), (p)->tline, (p)->tcol, __VA_ARGS__)

/* Reads the next token into p (tok, tstart/tlen, the literal's value); a bad token fails p. */
void expr_next(struct parser *p);

#endif
