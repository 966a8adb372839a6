/* Unit tests for common/timeutil: RFC 3339 parsing (valid, edge and hostile input) and
 * millisecond formatting round trips. */
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(timeutil, parse_valid)
{
    struct {
        const char *in;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.001Z", 1},
        {"2026-11-23T01:28:51.123Z", 1795397331123LL},
        {"2026-11-23t01:28:51.123z", 1795397331123LL},
        {"2026-11-23 01:28:51.123Z", 1795397331123LL},
        {"2026-11-23T02:28:51.123+01:00", 1795397331123LL},
        {"2026-11-22T20:28:51.123-05:00", 1795397331123LL},
        {"2026-11-23T01:28:51.123456789Z", 1795397331123LL},
        {"2026-11-23T01:28:51.1Z", 1795397331100LL},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"1969-12-31T23:59:59Z", -1000},
        {"2000-03-01T00:00:00Z", 951868800000LL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 0;
        cr_assert_eq(cm_time_parse_rfc3339(cases[i].in, &ms), 0, "%s", cases[i].in);
        cr_assert_eq(ms, cases[i].ms, "%s: %lld", cases[i].in, (long long)ms);
    }
}

Test(timeutil, parse_invalid)
{
    const char *bad[] = {
        "",
        "2026",
        "2026-11-23",
        "2026-11-23T01:28:51",       /* no offset */
        "2026-13-01T00:00:00Z",      /* month */
        "2026-02-29T00:00:00Z",      /* not a leap year */
        "2026-04-31T00:00:00Z",      /* day */
        "2026-11-23T24:00:00Z",      /* hour */
        "2026-11-23T23:60:00Z",      /* minute */
        "2026-11-23T23:59:61Z",      /* second */
        "2026-11-23T01:28:51.Z",     /* empty fraction */
        "2026-11-23T01:28:51Zjunk",  /* trailing */
        "2026-11-23T01:28:51+0100",  /* offset without colon */
        "2026-11-23T01:28:51+24:00", /* offset hour */
        "2026-11-23X01:28:51Z",      /* separator */
        "２０２６-11-23T01:28:51Z",  /* non-ASCII digits */
        "2026-11-23T01:28:51\xff",
        "-026-11-23T01:28:51Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        cr_assert_neq(cm_time_parse_rfc3339(bad[i], &ms), 0, "accepted '%s'", bad[i]);
    }
    int64_t ms;
    cr_assert_neq(cm_time_parse_rfc3339(NULL, &ms), 0);
}

Test(timeutil, format_round_trip)
{
    int64_t samples[] = {
        0, 1, 999, 1795397331123LL, 1709164800000LL, -1, -86400001LL, 253402300799999LL};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[CM_RFC3339_LEN];
        cm_time_format_rfc3339(samples[i], buf);
        cr_assert_eq(strlen(buf), 24, "%s", buf);
        int64_t back;
        cr_assert_eq(cm_time_parse_rfc3339(buf, &back), 0, "%s", buf);
        cr_assert_eq(back, samples[i], "%s", buf);
    }
    char buf[CM_RFC3339_LEN];
    cr_assert_str_eq(cm_time_format_rfc3339(1795397331123LL, buf), "2026-11-23T01:28:51.123Z");
    int64_t first;
    cr_assert_eq(cm_time_parse_rfc3339("0000-01-01T00:00:00Z", &first), 0);
    cr_assert_str_eq(cm_time_format_rfc3339(first, buf), "0000-01-01T00:00:00.000Z");
}

/* Past year 9999 (a window ending after an event at 9999-12-31) or before year 0, the nearest end
 * of the range: the month and day of another year made a window end before its start. */
Test(timeutil, format_clamps_whole_instants)
{
    char buf[CM_RFC3339_LEN];
    cr_assert_str_eq(cm_time_format_rfc3339(253402300800000LL, buf), "9999-12-31T23:59:59.999Z");
    cr_assert_str_eq(cm_time_format_rfc3339(253402300800000LL + 9999LL * 86400000, buf),
                     "9999-12-31T23:59:59.999Z");
    cr_assert_str_eq(cm_time_format_rfc3339(INT64_MAX, buf), "9999-12-31T23:59:59.999Z");
    cr_assert_str_eq(cm_time_format_rfc3339(-62167219200001LL, buf), "0000-01-01T00:00:00.000Z");
    cr_assert_str_eq(cm_time_format_rfc3339(INT64_MIN, buf), "0000-01-01T00:00:00.000Z");
    char ns[40];
    cr_assert_str_eq(cm_time_format_rfc3339_ns(INT64_MAX, ns, sizeof ns),
                     "2262-04-11T23:47:16.854775807Z");
}

Test(timeutil, clocks_move_forward)
{
    int64_t a = cm_monotonic_ns();
    int64_t b = cm_monotonic_ns();
    cr_assert_geq(b, a);
    cr_assert_gt(cm_now_ms(), 1700000000000LL);
}
