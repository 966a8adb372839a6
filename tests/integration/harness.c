/* harness: see harness.h. */
#include "harness.h"

#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

const char *it_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run integration tests through tests/integration/run.sh",
              name);
    return v;
}

void it_unique(char *buf, size_t len, const char *prefix)
{
    static unsigned counter;
    unsigned r;
    cm_random_bytes(&r, sizeof(r));
    snprintf(buf, len, "%s-%d-%u-%08x", prefix, (int)getpid(), counter++, r);
}

int it_wait_until(int timeout_ms, int (*cond)(void *ud), void *ud)
{
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    int r;
    while (!(r = cond(ud)) && cm_monotonic_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return r;
}
