/* fuzz_expr: libFuzzer target for the expression language. The input is an expression, a
 * newline, and a JSON event (a fixed event when that part is not JSON). Every entry point runs:
 * compile, then eval_bool, eval_json and eval_string. Crashes, sanitizer reports and leaks are
 * findings; errors are the expected outcome for most inputs.
 * Build and replay: make fuzz (see docs/expressions.md for longer runs). */
#include "cm/expr.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *DEFAULT_EVENT =
    "{\"type\":\"payment.created\",\"source\":\"/s\",\"time\":\"2026-01-02T03:04:05Z\","
    "\"data\":{\"amount\":1500,\"price\":1.5,\"items\":[{\"sku\":\"A1\"}],\"tags\":[\"a\"],"
    "\"n\":null,\"t\":true,\"big\":9223372036854775807}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CM_EXPR_MAX_SOURCE * 2) {
        return 0;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t elen = nl ? (size_t)(nl - data) : size;
    char *src = malloc(elen + 1);
    memcpy(src, data, elen);
    src[elen] = '\0';
    json_t *ev = NULL;
    if (nl) {
        ev = json_loadb((const char *)nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
    }
    if (!ev) {
        ev = json_loads(DEFAULT_EVENT, 0, NULL);
    }
    struct cm_expr_error err;
    struct cm_expr *e = cm_expr_compile(src, &err);
    if (e) {
        char why[128], buf[64];
        (void)cm_expr_eval_bool(e, ev, why, sizeof(why));
        json_t *v = cm_expr_eval_json(e, ev, why, sizeof(why));
        json_decref(v);
        (void)cm_expr_eval_string(e, ev, buf, sizeof(buf));
        cm_expr_free(e);
    } else {
        char buf[256];
        cm_expr_error_format(&err, buf, sizeof(buf));
    }
    json_decref(ev);
    free(src);
    return 0;
}
