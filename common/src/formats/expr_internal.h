/* expr_internal: what the expression module's files share: the value type, the syntax tree,
 * the per-evaluation arena. Not a public header: only common/src/expr_*.c include it. */
#ifndef CM_EXPR_INTERNAL_H
#define CM_EXPR_INTERNAL_H

#include "cm/expr.h"
#include "cm/regex.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum val_type {
    V_ERR = 0,
    V_NULL,
    V_BOOL,
    V_INT,
    V_DOUBLE,
    V_STRING,
    V_LIST, /* j is a JSON array */
    V_MAP,  /* j is a JSON object */
    V_TIME, /* i: nanoseconds since the Unix epoch */
    V_DUR   /* i: nanoseconds */
};

/* A value. Strings and JSON are borrowed (from the event, the compiled constants or the arena);
 * they live at least until the evaluation ends. */
struct val {
    enum val_type t;
    union {
        int b;
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
        const json_t *j;
        const char *err; /* static text or arena text */
    } u;
};

enum node_kind {
    N_CONST, /* value in cval */
    N_IDENT, /* root field `name` */
    N_FIELD, /* kids[0].name */
    N_INDEX, /* kids[0][kids[1]] */
    N_HAS,   /* has(kids[0].name): kids[0] is the operand */
    N_NOT,
    N_NEG,
    N_AND,
    N_OR,
    N_COND,  /* kids[0] ? kids[1] : kids[2] */
    N_BINOP, /* op, kids[0], kids[1] */
    N_LIST,  /* [kids...] */
    N_MAP,   /* {kids[0]: kids[1], ...} */
    N_CALL   /* fn(kids...) ; receiver calls put the receiver first */
};

enum binop {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN
};

enum func_id {
    F_SIZE,
    F_STARTS_WITH,
    F_ENDS_WITH,
    F_CONTAINS,
    F_MATCHES,
    F_LOWER,
    F_UPPER,
    F_INT,
    F_DOUBLE,
    F_STRING,
    F_TIMESTAMP,
    F_DURATION,
    F_BOOL
};

struct node {
    enum node_kind kind;
    int op;     /* binop or func_id */
    char *name; /* identifier or field name (owned) */
    size_t name_len;
    struct node **kids;
    size_t nkids;
    struct val cval;        /* N_CONST */
    struct cm_regex *regex; /* matches() with a constant pattern, compiled once (owned) */
    int line, column;       /* position, for messages */
};

struct cm_expr {
    char *source;
    struct node *root;
    json_t *constants; /* owns JSON built for constant lists, maps and strings */
};

/* A bump arena for one evaluation: a stack buffer first, then heap blocks, and JSON values to
 * release at the end. */
#define ARENA_INLINE 2048

struct arena {
    char inline_buf[ARENA_INLINE];
    size_t used;
    void **blocks;
    size_t nblocks;
    json_t **json;
    size_t njson, capjson;
};

void arena_init(struct arena *a);
void arena_release(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);
/* Keeps a JSON value alive until the arena is released (takes the reference). */
const json_t *arena_keep(struct arena *a, json_t *j);

/* Evaluation (expr_eval.c). */
struct val expr_eval_node(const struct node *n, const json_t *root, struct arena *a);
struct val val_error(const char *msg);
struct val val_from_json(const json_t *j);
/* Converts a value to JSON (new reference), or NULL with why set for errors. */
json_t *val_to_json(struct val v, char *why, size_t len);
/* CEL equality: 1 equal, 0 not equal (heterogeneous numerics compare by value). */
int val_equal(struct val a, struct val b);
const char *val_type_name(enum val_type t);

/* Functions (expr_func.c). */
struct val expr_call(const struct node *n, const struct val *args, struct arena *a);
/* Parses a CEL duration ("1h30m", "-1.5s", "100ms") into nanoseconds. 0 or -1. */
int expr_parse_duration(const char *s, size_t n, int64_t *ns);
/* Parses an RFC 3339 timestamp with up to nanosecond precision. 0 or -1. */
int expr_parse_timestamp(const char *s, size_t n, int64_t *ns);
/* Formats a duration as CEL does ("1.5s", "-3600s"). */
void expr_format_duration(int64_t ns, char *buf, size_t len);
/* Formats a timestamp as RFC 3339 with as many fraction digits as needed. */
void expr_format_timestamp(int64_t ns, char *buf, size_t len);

#endif
