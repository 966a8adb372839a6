/* timeutil: wall-clock and monotonic time, RFC 3339 parsing and formatting with milliseconds.
 * Pure functions, thread-safe. Times are int64 milliseconds since the Unix epoch (UTC). */
#ifndef CM_TIMEUTIL_H
#define CM_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define CM_RFC3339_LEN 32 /* enough for "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL */

int64_t cm_now_ms(void);       /* wall clock, ms since epoch */
int64_t cm_monotonic_ms(void); /* monotonic clock, for deadlines and durations */
int64_t cm_monotonic_ns(void);
/* Sleeps about ms milliseconds (a signal may end it early). */
void cm_sleep_ms(int ms);
struct timespec;
/* The CLOCK_REALTIME instant timeout_ms from now, for pthread_cond_timedwait. */
void cm_deadline_after(int timeout_ms, struct timespec *out);

/* The instants cm_time_parse_rfc3339 can return: four-digit years with any offset, from
 * 0000-01-01T00:00:00+23:59 to 9999-12-31T23:59:59.999-23:59. Event times outside it (a Kafka
 * record's timestamp can be any int64) are not times an event can state. */
#define CM_TIME_MIN_MS (-62167219200000LL - 86340000LL)
#define CM_TIME_MAX_MS (253402300799999LL + 86340000LL)
static inline int cm_time_in_range(int64_t ms)
{
    return ms >= CM_TIME_MIN_MS && ms <= CM_TIME_MAX_MS;
}

/* Parses an RFC 3339 date-time ("2026-01-02T03:04:05.678+01:00", 'T'/'t'/' ' separator, 'Z'/'z'
 * or an offset, fraction of any length truncated to ms). Returns 0 and sets *ms, or CM_E_INVAL. */
int cm_time_parse_rfc3339(const char *s, int64_t *ms);
/* The same with nanosecond precision (fraction of any length, truncated to ns). Times outside
 * what int64 nanoseconds hold (years 1678..2262) are CM_E_INVAL. */
int cm_time_parse_rfc3339_ns(const char *s, int64_t *ns);
/* Formats nanoseconds as RFC 3339 UTC with 0, 3, 6 or 9 fraction digits, as few as exact. */
char *cm_time_format_rfc3339_ns(int64_t ns, char *buf, size_t len);
/* Formats as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least CM_RFC3339_LEN bytes). Returns buf.
 * An instant outside years 0000..9999 is written as the nearest end of that range. */
char *cm_time_format_rfc3339(int64_t ms, char *buf);

/* Days since 1970-01-01 for a proleptic Gregorian date (month 1..12). */
int64_t cm_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
