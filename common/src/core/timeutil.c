/* timeutil: clocks and RFC 3339 (see timeutil.h). Calendar arithmetic is done by hand with the
 * days-from-civil algorithm so no timezone state (TZ, timegm) is involved. */
#include "cm/timeutil.h"

#include "cm/err.h"

#include <stdio.h>
#include <time.h>

void cm_deadline_after(int timeout_ms, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += timeout_ms / 1000;
    out->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

int64_t cm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cm_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void cm_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int64_t cm_monotonic_ms(void)
{
    return cm_monotonic_ns() / 1000000;
}

int64_t cm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return CM_E_INVAL;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Parses into seconds since the epoch and nanoseconds of fraction. */
static int parse_parts(const char *s, int64_t *secs_out, int64_t *frac_ns)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    if (!s || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d)) {
        return CM_E_INVAL;
    }
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
        return CM_E_INVAL;
    }
    if (digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec)) {
        return CM_E_INVAL;
    }
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) {
        return CM_E_INVAL;
    }
    int maxd = mdays[mo - 1] + (mo == 2 && is_leap(y));
    if (d > maxd) {
        return CM_E_INVAL;
    }
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 9) {
                frac = frac * 10 + (*p - '0');
            }
            n++;
            p++;
        }
        if (n == 0) {
            return CM_E_INVAL;
        }
        for (; n < 9; n++) {
            frac *= 10;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) {
            return CM_E_INVAL;
        }
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return CM_E_INVAL;
    }
    if (*p != '\0') {
        return CM_E_INVAL;
    }
    int64_t days = cm_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *secs_out = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *frac_ns = frac;
    return 0;
}

int cm_time_parse_rfc3339(const char *s, int64_t *ms)
{
    int64_t secs, frac;
    if (parse_parts(s, &secs, &frac) != 0) {
        return CM_E_INVAL;
    }
    *ms = secs * 1000 + frac / 1000000;
    return 0;
}

int cm_time_parse_rfc3339_ns(const char *s, int64_t *ns)
{
    int64_t secs, frac, out;
    if (parse_parts(s, &secs, &frac) != 0 || __builtin_mul_overflow(secs, 1000000000LL, &out) ||
        __builtin_add_overflow(out, frac, &out)) {
        return CM_E_INVAL;
    }
    *ns = out;
    return 0;
}

char *cm_time_format_rfc3339_ns(int64_t ns, char *buf, size_t len)
{
    int64_t secs = ns >= 0 ? ns / 1000000000LL : -((-(ns + 1)) / 1000000000LL) - 1;
    int64_t frac = ns - secs * 1000000000LL;
    char base[CM_RFC3339_LEN];
    cm_time_format_rfc3339(secs * 1000, base); /* "YYYY-MM-DDTHH:MM:SS.000Z" */
    base[19] = '\0';
    if (frac == 0) {
        snprintf(buf, len, "%sZ", base);
    } else if (frac % 1000000 == 0) {
        snprintf(buf, len, "%s.%03lldZ", base, (long long)(frac / 1000000));
    } else if (frac % 1000 == 0) {
        snprintf(buf, len, "%s.%06lldZ", base, (long long)(frac / 1000));
    } else {
        snprintf(buf, len, "%s.%09lldZ", base, (long long)frac);
    }
    return buf;
}

/* The first and the last instant RFC 3339's four-digit years hold: 0000-01-01T00:00:00.000Z and
 * 9999-12-31T23:59:59.999Z. */
#define RFC3339_MIN_MS (-62167219200000LL)
#define RFC3339_MAX_MS 253402300799999LL

char *cm_time_format_rfc3339(int64_t ms, char *buf)
{
    /* outside that range: the nearest end, never a date of another year or an inverted span */
    ms = ms < RFC3339_MIN_MS ? RFC3339_MIN_MS : ms > RFC3339_MAX_MS ? RFC3339_MAX_MS : ms;
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int msec = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" digit by digit: this runs for every ingested event */
    unsigned fields[] = {(unsigned)y,
                         m,
                         d,
                         (unsigned)(rem / 3600),
                         (unsigned)(rem % 3600 / 60),
                         (unsigned)(rem % 60),
                         (unsigned)msec};
    static const unsigned widths[] = {4, 2, 2, 2, 2, 2, 3};
    static const char seps[] = "--T::.Z";
    char *p = buf;
    for (int f = 0; f < 7; f++) {
        for (unsigned w = widths[f]; w > 0; w--) {
            p[w - 1] = (char)('0' + fields[f] % 10);
            fields[f] /= 10;
        }
        p += widths[f];
        *p++ = seps[f];
    }
    *p = '\0';
    return buf;
}
