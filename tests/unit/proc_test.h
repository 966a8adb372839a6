/* proc_test: helpers shared by the processor's unit tests: a pipeline definition parsed from
 * JSON text (the test fails, naming the reason, when it does not parse). */
#ifndef PROC_TEST_H
#define PROC_TEST_H

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

#endif
