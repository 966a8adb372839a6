/* proc_test: helpers shared by the processor's unit tests: a pipeline definition parsed from
 * JSON text (the test fails, naming the reason, when it does not parse), an accumulator's
 * result, and the identity law of the empty accumulator. */
#ifndef PROC_TEST_H
#define PROC_TEST_H

#include "../../services/processor/proc_agg.h"
#include "../../services/processor/proc_def.h"

#include <criterion/criterion.h>
#include <jansson.h>

static inline struct proc_def *proc_test_def(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert_not_null(doc, "not JSON: %s", text);
    char err[256];
    struct proc_def *d = proc_def_parse(doc, "events", "derived", err, sizeof(err));
    json_decref(doc);
    cr_assert_not_null(d, "%s", err);
    return d;
}

/* An accumulator's result: a new object of its aggregates' values. */
static inline json_t *proc_test_result(const struct proc_acc *a)
{
    json_t *o = json_object();
    proc_acc_result(a, o);
    return o;
}

/* The empty accumulator is an identity on both sides of a merge with a: asserted; returns the
 * empty accumulator's own result for the caller to check (and free). */
static inline json_t *proc_test_check_identity(const struct proc_def *d, const struct proc_acc *a)
{
    struct proc_acc *e = proc_acc_new(d), *ae = proc_acc_copy(a), *ea = proc_acc_new(d);
    proc_acc_merge(ae, e);
    proc_acc_merge(ea, a);
    json_t *ra = proc_test_result(a), *rae = proc_test_result(ae), *rea = proc_test_result(ea),
           *re = proc_test_result(e);
    cr_assert(json_equal(ra, rae), "right identity");
    cr_assert(json_equal(ra, rea), "left identity");
    json_decref(ra);
    json_decref(rae);
    json_decref(rea);
    proc_acc_free(e);
    proc_acc_free(ae);
    proc_acc_free(ea);
    return re;
}

#endif
