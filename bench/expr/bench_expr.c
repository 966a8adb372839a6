/* bench_expr: evaluations per second of compiled expressions on a parsed event, on one core,
 * with the same predicate written directly in C against jansson as the reference.
 * Prints `BENCH <name> <value> <unit>` lines. */
#include "cm/expr.h"
#include "cm/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *EVENT =
    "{\"specversion\":\"1.0\",\"id\":\"0192f0c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f\","
    "\"type\":\"payment.created\",\"source\":\"/shop/checkout\",\"subject\":\"order-7\","
    "\"time\":\"2026-01-02T03:04:05.678Z\",\"tenant\":\"acme\",\"receivedat\":"
    "\"2026-01-02T03:04:05.700Z\",\"data\":{\"amount\":1500,\"currency\":\"EUR\",\"country\":"
    "\"DE\",\"customer\":{\"tier\":\"gold\",\"age\":41},\"items\":[{\"sku\":\"A1\",\"qty\":2}],"
    "\"channel\":\"web\",\"risk\":0.12}}";

static volatile int sink;

/* Runs fn for about `seconds`, returns evaluations per second. */
static double measure(const struct cm_expr *e, const json_t *ev, int native, double seconds)
{
    long iters = 0;
    int64_t start = cm_monotonic_ns();
    int64_t deadline = start + (int64_t)(seconds * 1e9);
    int64_t now;
    do {
        for (int i = 0; i < 10000; i++) {
            if (native) {
                const char *t = json_string_value(json_object_get(ev, "type"));
                json_t *amount = json_object_get(json_object_get(ev, "data"), "amount");
                sink += t && strcmp(t, "payment.created") == 0 && json_is_integer(amount) &&
                        json_integer_value(amount) > 1000;
            } else {
                sink += cm_expr_eval_bool(e, ev, NULL, 0) == CM_EXPR_TRUE;
            }
        }
        iters += 10000;
        now = cm_monotonic_ns();
    } while (now < deadline);
    return (double)iters / ((double)(now - start) / 1e9);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    json_t *ev = json_loads(EVENT, 0, NULL);
    const char *simple = "type == \"payment.created\" && data.amount > 1000";
    const char *ten =
        "type == 'payment.created' && data.amount > 1000 && data.currency in ['EUR', 'USD'] && "
        "source.startsWith('/shop') && data.customer.tier != 'blocked' && "
        "data.customer.age >= 18 && size(data.items) > 0 && data.risk < 0.5 && "
        "has(data.channel) && subject.matches('^order-[0-9]+$')";
    struct cm_expr *e1 = cm_expr_compile(simple, NULL);
    struct cm_expr *e10 = cm_expr_compile(ten, NULL);
    if (!e1 || !e10 || cm_expr_eval_bool(e1, ev, NULL, 0) != CM_EXPR_TRUE ||
        cm_expr_eval_bool(e10, ev, NULL, 0) != CM_EXPR_TRUE) {
        fprintf(stderr, "bench_expr: expressions do not evaluate to true\n");
        return 1;
    }
    measure(e1, ev, 0, 0.2); /* warm-up */
    printf("BENCH expr_simple_evals_per_sec %.0f events/s\n", measure(e1, ev, 0, seconds));
    printf("BENCH expr_10_clauses_evals_per_sec %.0f events/s\n", measure(e10, ev, 0, seconds));
    printf("BENCH expr_simple_native_c_reference %.0f events/s\n", measure(NULL, ev, 1, seconds));
    printf("BENCH expr_simple_target 5000000 events/s\n");
    cm_expr_free(e1);
    cm_expr_free(e10);
    json_decref(ev);
    return 0;
}
