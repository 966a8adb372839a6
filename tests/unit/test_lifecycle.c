/* Unit tests for common/lifecycle: a stop signal sets the flag and wakes waiters, a second one
 * exits at once, SIGHUP is reported once, SIGPIPE is ignored. Each test runs in its own process
 * (Criterion forks), so raising signals is safe. */
#include "cm/lifecycle.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <unistd.h>

Test(lifecycle, not_stopping_until_asked)
{
    cm_lifecycle_install();
    cr_assert_eq(cm_lifecycle_stopping(), 0);
    cr_assert_eq(cm_lifecycle_wait(1), 0);
    cm_lifecycle_request_stop();
    cr_assert_eq(cm_lifecycle_stopping(), 1);
    cr_assert_eq(cm_lifecycle_wait(60000), 1, "returns at once when stopping");
}

Test(lifecycle, sigterm_sets_the_flag)
{
    cm_lifecycle_install();
    raise(SIGTERM);
    cr_assert_eq(cm_lifecycle_stopping(), 1);
    cr_assert_eq(cm_lifecycle_wait(60000), 1);
}

Test(lifecycle, sigint_sets_the_flag)
{
    cm_lifecycle_install();
    raise(SIGINT);
    cr_assert_eq(cm_lifecycle_stopping(), 1);
}

Test(lifecycle, second_signal_exits_at_once, .exit_code = 128 + SIGTERM)
{
    cm_lifecycle_install();
    raise(SIGTERM);
    raise(SIGTERM);
    cr_assert_fail("the second signal should have ended the process");
}

Test(lifecycle, sighup_reported_once)
{
    cm_lifecycle_install();
    cr_assert_eq(cm_lifecycle_reload_requested(), 0);
    raise(SIGHUP);
    cr_assert_eq(cm_lifecycle_reload_requested(), 1);
    cr_assert_eq(cm_lifecycle_reload_requested(), 0);
    cr_assert_eq(cm_lifecycle_stopping(), 0, "SIGHUP does not stop");
}

Test(lifecycle, sigpipe_ignored)
{
    cm_lifecycle_install();
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    cr_assert_eq(write(fds[1], "x", 1), -1, "EPIPE instead of death");
    close(fds[1]);
}

Test(lifecycle, watchdog_bounds_shutdown, .exit_code = 1)
{
    cm_lifecycle_arm_watchdog(50);
    for (;;) {
        pause(); /* a hung shutdown */
    }
}
