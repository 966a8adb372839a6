/* expr-eval: debug expressions as you would with jq. `expr-eval 'EXPRESSION'` compiles the
 * expression (a positioned error and exit 2 when it does not compile), then reads NDJSON events
 * on standard input and prints, per line, the result as one JSON value or `error: <reason>`.
 * Exit status: 0, or 2 for a compile error or bad usage. */
#include "cm/expr.h"
#include "cm/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(stderr,
                "usage: %s 'EXPRESSION' < events.ndjson\n"
                "Prints the expression's value for each JSON event on standard input.\n",
                argv[0]);
        return 2;
    }
    struct cm_expr_error err;
    struct cm_expr *e = cm_expr_compile(argv[1], &err);
    if (!e) {
        char buf[256];
        fprintf(stderr, "%s\n", cm_expr_error_format(&err, buf, sizeof(buf)));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    long n;
    while ((n = cm_read_line(stdin, &line, &cap)) >= 0) {
        json_error_t jerr;
        json_t *ev = json_loadb(line, (size_t)n, JSON_DECODE_ANY, &jerr);
        if (!ev) {
            printf("error: invalid JSON at column %d: %s\n", jerr.column, jerr.text);
            continue;
        }
        char why[256];
        json_t *v = cm_expr_eval_json(e, ev, why, sizeof(why));
        if (v) {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%s\n", text ? text : "error: out of memory");
            free(text);
            json_decref(v);
        } else {
            printf("error: %s\n", why);
        }
        json_decref(ev);
    }
    free(line);
    cm_expr_free(e);
    return 0;
}
