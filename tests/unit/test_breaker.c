/* Unit tests of common/breaker: closed until `threshold` failures in a row (a success resets the
 * count), open refuses calls until the cool-down passes, then one half-open trial at a time; a
 * failed trial doubles the cool-down (bounded), a successful one closes the breaker and resets
 * it; the gauge follows the state. Time is passed in, so no test sleeps. */
#include "cm/breaker.h"
#include "cm/metrics.h"

#include <criterion/criterion.h>

Test(breaker, opens_after_failures_in_a_row_and_recovers_through_a_trial)
{
    struct cm_metrics *m = cm_metrics_new("t_");
    struct cm_series *g =
        cm_metric_with(cm_metrics_gauge(m, "breaker_state", "state", "sink"), "pg", NULL);
    struct cm_breaker *b = cm_breaker_new("pg", 3, 1000, 4000, g);
    cr_assert_eq(cm_series_value(g), CM_BREAKER_CLOSED);
    cr_assert(cm_breaker_allow(b, 0));
    cm_breaker_failure(b, 0);
    cm_breaker_failure(b, 0);
    cm_breaker_success(b); /* not in a row */
    cm_breaker_failure(b, 0);
    cm_breaker_failure(b, 0);
    cr_assert_eq(cm_breaker_state(b), CM_BREAKER_CLOSED);
    cm_breaker_failure(b, 100);
    cr_assert_eq(cm_breaker_state(b), CM_BREAKER_OPEN);
    cr_assert_eq(cm_series_value(g), CM_BREAKER_OPEN);
    cr_assert_not(cm_breaker_allow(b, 500), "refused while cooling down");
    cr_assert_not(cm_breaker_allow(b, 1099));
    cr_assert(cm_breaker_allow(b, 1100), "a trial after the cool-down");
    cr_assert_eq(cm_breaker_state(b), CM_BREAKER_HALF_OPEN);
    cr_assert_eq(cm_series_value(g), CM_BREAKER_HALF_OPEN);
    cr_assert_not(cm_breaker_allow(b, 1100), "one trial at a time");
    cm_breaker_failure(b, 1200); /* the trial failed: 2 s now */
    cr_assert_eq(cm_breaker_state(b), CM_BREAKER_OPEN);
    cr_assert_not(cm_breaker_allow(b, 3199));
    cr_assert(cm_breaker_allow(b, 3200));
    cm_breaker_failure(b, 3200); /* 4 s */
    cr_assert(cm_breaker_allow(b, 7200));
    cm_breaker_failure(b, 7200); /* still 4 s: the bound */
    cr_assert_not(cm_breaker_allow(b, 11199));
    cr_assert(cm_breaker_allow(b, 11200));
    cm_breaker_success(b);
    cr_assert_eq(cm_breaker_state(b), CM_BREAKER_CLOSED);
    cr_assert_eq(cm_series_value(g), CM_BREAKER_CLOSED);
    cr_assert(cm_breaker_allow(b, 11200));
    cm_breaker_failure(b, 11300);
    cm_breaker_failure(b, 11300);
    cm_breaker_failure(b, 11300); /* open again, with the cool-down back at 1 s */
    cr_assert_not(cm_breaker_allow(b, 12299));
    cr_assert(cm_breaker_allow(b, 12300));
    cm_breaker_free(b);
    cm_metrics_free(m);
}
