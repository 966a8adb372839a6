/* expr: the one expression language of the platform, a subset of Google's CEL, used by gateway
 * routes, processor filters/maps/keys and rule conditions (docs/expressions.md).
 * Compile once (parse, check names, fold constants, compile regexes), then evaluate many times
 * against a jansson value (the event is the root: `type`, `data.amount`, `data["odd key"]`).
 * A compiled expression is immutable: evaluate it from any number of threads at once.
 * Evaluation of the common path (field access, comparisons, logic, string tests, regexes)
 * allocates nothing; intermediate strings and lists live in a per-call arena. */
#ifndef CM_EXPR_H
#define CM_EXPR_H

#include <jansson.h>
#include <stddef.h>

#define CM_EXPR_MAX_SOURCE 16384 /* bytes of source text */
#define CM_EXPR_MAX_DEPTH 64     /* nesting of parentheses, operators, calls */

struct cm_expr;

/* A positioned compile error: "line:column: reason". */
struct cm_expr_error {
    int line, column;
    char message[160];
};

/* Compiles `src` (NUL-terminated, at most CM_EXPR_MAX_SOURCE bytes). Returns the expression
 * (caller frees with cm_expr_free) or NULL with *err filled. */
struct cm_expr *cm_expr_compile(const char *src, struct cm_expr_error *err);
void cm_expr_free(struct cm_expr *e);
/* The source text (borrowed). */
const char *cm_expr_source(const struct cm_expr *e);
/* The root's fields the expression reads (`type` and `data` in `type == 't' && data.n > 5`,
 * `subject` in `has(subject)`), so a caller can leave out of the root what no expression reads.
 * Stores up to max distinct names (borrowed from e) and returns how many there are. */
size_t cm_expr_root_fields(const struct cm_expr *e, const char **names, size_t max);
/* The fields of the root field `root` that the expression reads with `.` (`amount` and `items`
 * in `data.amount > 0 && size(data.items) > 0` for root "data"), leaving out those it only tests
 * with has(). Stores up to max distinct names (borrowed from e) and returns how many there are. */
size_t cm_expr_fields_of(const struct cm_expr *e, const char *root, const char **names, size_t max);
/* Formats err as "line:column: message" into buf. Returns buf. */
char *cm_expr_error_format(const struct cm_expr_error *err, char *buf, size_t len);

enum cm_expr_outcome { CM_EXPR_FALSE = 0, CM_EXPR_TRUE = 1, CM_EXPR_ERROR = -1 };

/* Filter semantics: evaluates to a bool. A non-bool result or an evaluation error is
 * CM_EXPR_ERROR, which callers treat as false and count. When why is non-NULL, an error's reason
 * is written into it. Allocates nothing on the common path. */
enum cm_expr_outcome cm_expr_eval_bool(const struct cm_expr *e, const json_t *root, char *why,
                                       size_t whylen);

/* Evaluates and converts the result to JSON (timestamps as RFC 3339 strings, durations as "1.5s").
 * Returns a new reference (caller decrefs) or NULL with the error's reason in why. */
json_t *cm_expr_eval_json(const struct cm_expr *e, const json_t *root, char *why, size_t whylen);

/* Evaluates to text for keys: strings as they are, numbers, bools, null, lists and maps as their
 * JSON text. Writes the NUL-terminated result into buf and returns 0, or returns -1 with the
 * reason in buf (cut to fit): the evaluation failed, or the text does not fit in len - 1 bytes
 * or holds a NUL character (a key cut or read up to that NUL would be taken for another). */
int cm_expr_eval_string(const struct cm_expr *e, const json_t *root, char *buf, size_t len);

#endif
