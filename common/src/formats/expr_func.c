/* expr_func: the expression language's functions: size, startsWith, endsWith, contains, matches
 * (PCRE2, compiled once for constant patterns, JIT where available, bounded by match limits),
 * lower, upper, and the conversions int, double, string, bool, timestamp, duration.
 * Regexes are cm_regex's: shared by threads, each match bounded (cm/regex.h). */
#include "expr_internal.h"

#include "cm/mem.h"
#include "cm/regex.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct val regex_match(struct arena *a, const struct cm_regex *re, struct val subject)
{
    char why[120];
    int rc = cm_regex_search(re, subject.u.s.p, subject.u.s.n, why, sizeof(why));
    if (rc < 0) {
        char *msg = arena_alloc(a, 160);
        snprintf(msg, 160, "regex match failed: %s", why);
        return val_error(msg);
    }
    struct val v = {.t = V_BOOL};
    v.u.b = rc;
    return v;
}

/* ---- durations and timestamps ---- */

int expr_parse_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ns", 1},         {"us", 1000},         {"\xC2\xB5s", 1000},   {"ms", 1000000},
                 {"s", 1000000000}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
    const char *p = s, *end = s + n;
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    if (end - p == 1 && *p == '0') {
        *ns = 0;
        return 0;
    }
    if (p == end) {
        return -1;
    }
    int64_t total = 0;
    while (p < end) {
        int64_t whole = 0;
        double frac = 0, scale = 1;
        const char *start = p;
        while (p < end && *p >= '0' && *p <= '9') {
            if (__builtin_mul_overflow(whole, 10, &whole) ||
                __builtin_add_overflow(whole, *p - '0', &whole)) {
                return -1;
            }
            p++;
        }
        int had_int = p > start;
        if (p < end && *p == '.') {
            p++;
            const char *fs = p;
            while (p < end && *p >= '0' && *p <= '9') {
                scale /= 10;
                frac += (*p - '0') * scale;
                p++;
            }
            if (p == fs && !had_int) {
                return -1;
            }
        } else if (!had_int) {
            return -1;
        }
        size_t u;
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            size_t ul = strlen(units[u].unit);
            /* "m" must not swallow the "m" of "ms" */
            if ((size_t)(end - p) >= ul && strncmp(p, units[u].unit, ul) == 0 &&
                !(ul == 1 && *p == 'm' && p + 1 < end && p[1] == 's')) {
                break;
            }
        }
        if (u == sizeof(units) / sizeof(units[0])) {
            return -1;
        }
        int64_t part;
        if (__builtin_mul_overflow(whole, units[u].ns, &part)) {
            return -1;
        }
        double fpart = frac * (double)units[u].ns;
        if (__builtin_add_overflow(part, (int64_t)fpart, &part) ||
            __builtin_add_overflow(total, part, &total)) {
            return -1;
        }
        p += strlen(units[u].unit);
    }
    *ns = neg ? -total : total;
    return 0;
}

void expr_format_duration(int64_t ns, char *buf, size_t len)
{
    const char *sign = ns < 0 ? "-" : "";
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    uint64_t secs = u / 1000000000ULL, frac = u % 1000000000ULL;
    if (frac == 0) {
        snprintf(buf, len, "%s%llus", sign, (unsigned long long)secs);
        return;
    }
    char f[16];
    snprintf(f, sizeof(f), "%09llu", (unsigned long long)frac);
    size_t fl = strlen(f);
    while (fl > 0 && f[fl - 1] == '0') {
        f[--fl] = '\0';
    }
    snprintf(buf, len, "%s%llu.%ss", sign, (unsigned long long)secs, f);
}

int expr_parse_timestamp(const char *s, size_t n, int64_t *ns)
{
    if (strlen(s) != n) {
        return -1;
    }
    return cm_time_parse_rfc3339_ns(s, ns) == 0 ? 0 : -1;
}

void expr_format_timestamp(int64_t ns, char *buf, size_t len)
{
    cm_time_format_rfc3339_ns(ns, buf, len);
}

/* ---- helpers ---- */

static struct val err_type(struct arena *a, const char *fn, struct val v)
{
    char *msg = arena_alloc(a, 96);
    snprintf(msg, 96, "no such overload: %s(%s)", fn, val_type_name(v.t));
    return val_error(msg);
}

static struct val mk_string(struct arena *a, const char *p, size_t n)
{
    char *copy = arena_alloc(a, n + 1);
    memcpy(copy, p, n);
    copy[n] = '\0';
    struct val v = {.t = V_STRING};
    v.u.s.p = copy;
    v.u.s.n = n;
    return v;
}

static struct val mk_bool(int b)
{
    struct val v = {.t = V_BOOL};
    v.u.b = b != 0;
    return v;
}

static struct val mk_i(enum val_type t, int64_t i)
{
    struct val v = {.t = t};
    v.u.i = i;
    return v;
}

/* A NUL-terminated copy for strto* when the value may not be terminated at n. */
static const char *terminated(struct arena *a, struct val s)
{
    if (memchr(s.u.s.p, '\0', s.u.s.n)) {
        return NULL; /* embedded NUL: never a valid number or time */
    }
    return mk_string(a, s.u.s.p, s.u.s.n).u.s.p;
}

static struct val fn_size(struct arena *a, struct val v)
{
    if (v.t == V_STRING) {
        int64_t n = 0;
        for (size_t i = 0; i < v.u.s.n; i++) {
            n += ((unsigned char)v.u.s.p[i] & 0xC0) != 0x80;
        }
        return mk_i(V_INT, n);
    }
    if (v.t == V_LIST) {
        return mk_i(V_INT, (int64_t)json_array_size(v.u.j));
    }
    if (v.t == V_MAP) {
        return mk_i(V_INT, (int64_t)json_object_size(v.u.j));
    }
    return err_type(a, "size", v);
}

static struct val fn_string_test(struct arena *a, int op, struct val s, struct val t)
{
    static const char *names[] = {
        [F_STARTS_WITH] = "startsWith", [F_ENDS_WITH] = "endsWith", [F_CONTAINS] = "contains"};
    if (s.t != V_STRING || t.t != V_STRING) {
        return err_type(a, names[op], s.t != V_STRING ? s : t);
    }
    if (t.u.s.n > s.u.s.n) {
        return mk_bool(0);
    }
    switch (op) {
    case F_STARTS_WITH:
        return mk_bool(memcmp(s.u.s.p, t.u.s.p, t.u.s.n) == 0);
    case F_ENDS_WITH:
        return mk_bool(memcmp(s.u.s.p + s.u.s.n - t.u.s.n, t.u.s.p, t.u.s.n) == 0);
    default:
        for (size_t i = 0; i + t.u.s.n <= s.u.s.n; i++) {
            if (memcmp(s.u.s.p + i, t.u.s.p, t.u.s.n) == 0) {
                return mk_bool(1);
            }
        }
        return mk_bool(0);
    }
}

static struct val fn_matches(const struct node *n, struct arena *a, struct val s, struct val re)
{
    if (s.t != V_STRING || re.t != V_STRING) {
        return err_type(a, "matches", s.t != V_STRING ? s : re);
    }
    if (n->regex) {
        return regex_match(a, n->regex, s);
    }
    char msg[128];
    struct cm_regex *compiled = cm_regex_compile(re.u.s.p, re.u.s.n, 0, msg, sizeof(msg));
    if (!compiled) {
        char *m = arena_alloc(a, 160);
        snprintf(m, 160, "invalid regex: %s", msg);
        return val_error(m);
    }
    struct val v = regex_match(a, compiled, s);
    cm_regex_free(compiled);
    return v;
}

static struct val fn_case(struct arena *a, int upper, struct val s)
{
    if (s.t != V_STRING) {
        return err_type(a, upper ? "upper" : "lower", s);
    }
    struct val out = mk_string(a, s.u.s.p, s.u.s.n);
    char *p = (char *)out.u.s.p;
    for (size_t i = 0; i < s.u.s.n; i++) {
        if (upper && p[i] >= 'a' && p[i] <= 'z') {
            p[i] = (char)(p[i] - 32);
        } else if (!upper && p[i] >= 'A' && p[i] <= 'Z') {
            p[i] = (char)(p[i] + 32);
        }
    }
    return out;
}

static struct val fn_int(struct arena *a, struct val v)
{
    switch (v.t) {
    case V_INT:
        return v;
    case V_DOUBLE:
        if (isnan(v.u.d) || v.u.d >= 9223372036854775808.0 || v.u.d < -9223372036854775808.0) {
            return val_error("double out of int range");
        }
        return mk_i(V_INT, (int64_t)v.u.d);
    case V_STRING: {
        const char *s = terminated(a, v);
        char *end;
        errno = 0;
        int starts_ok = s && (*s == '-' || *s == '+' || (*s >= '0' && *s <= '9'));
        long long r = starts_ok ? strtoll(s, &end, 10) : 0;
        if (!starts_ok || errno || *end) {
            return val_error("string is not an int");
        }
        return mk_i(V_INT, r);
    }
    case V_TIME: {
        int64_t secs = v.u.i / 1000000000LL - (v.u.i % 1000000000LL < 0);
        return mk_i(V_INT, secs);
    }
    default:
        return err_type(a, "int", v);
    }
}

static struct val fn_double(struct arena *a, struct val v)
{
    struct val out = {.t = V_DOUBLE};
    switch (v.t) {
    case V_DOUBLE:
        return v;
    case V_INT:
        out.u.d = (double)v.u.i;
        return out;
    case V_STRING: {
        const char *s = terminated(a, v);
        char *end;
        errno = 0;
        int starts_ok = s && *s && *s != ' ' && *s != '\t' && *s != '\n';
        out.u.d = starts_ok ? strtod(s, &end) : 0;
        if (!starts_ok || *end) {
            return val_error("string is not a double");
        }
        return out;
    }
    default:
        return err_type(a, "double", v);
    }
}

static struct val fn_string(struct arena *a, struct val v)
{
    char buf[64];
    switch (v.t) {
    case V_STRING:
        return v;
    case V_INT:
        snprintf(buf, sizeof(buf), "%lld", (long long)v.u.i);
        break;
    case V_DOUBLE:
        cm_fmt_real(v.u.d, buf); /* the shortest text that reads back as the same double */
        break;
    case V_BOOL:
        snprintf(buf, sizeof(buf), "%s", v.u.b ? "true" : "false");
        break;
    case V_TIME:
        expr_format_timestamp(v.u.i, buf, sizeof(buf));
        break;
    case V_DUR:
        expr_format_duration(v.u.i, buf, sizeof(buf));
        break;
    default:
        return err_type(a, "string", v);
    }
    return mk_string(a, buf, strlen(buf));
}

static struct val fn_bool(struct arena *a, struct val v)
{
    static const char *yes[] = {"true", "True", "TRUE", "t", "1"};
    static const char *no[] = {"false", "False", "FALSE", "f", "0"};
    if (v.t == V_BOOL) {
        return v;
    }
    if (v.t == V_STRING) {
        for (size_t i = 0; i < 5; i++) {
            if (v.u.s.n == strlen(yes[i]) && memcmp(v.u.s.p, yes[i], v.u.s.n) == 0) {
                return mk_bool(1);
            }
            if (v.u.s.n == strlen(no[i]) && memcmp(v.u.s.p, no[i], v.u.s.n) == 0) {
                return mk_bool(0);
            }
        }
        return val_error("string is not a bool");
    }
    return err_type(a, "bool", v);
}

static struct val fn_timestamp(struct arena *a, struct val v)
{
    int64_t ns;
    if (v.t == V_TIME) {
        return v;
    }
    if (v.t == V_STRING) {
        const char *s = terminated(a, v);
        if (!s || expr_parse_timestamp(s, v.u.s.n, &ns) != 0) {
            return val_error("string is not an RFC 3339 timestamp (or out of range)");
        }
        return mk_i(V_TIME, ns);
    }
    if (v.t == V_INT) {
        if (__builtin_mul_overflow(v.u.i, 1000000000LL, &ns)) {
            return val_error("timestamp overflow");
        }
        return mk_i(V_TIME, ns);
    }
    return err_type(a, "timestamp", v);
}

static struct val fn_duration(struct arena *a, struct val v)
{
    int64_t ns;
    if (v.t == V_DUR) {
        return v;
    }
    if (v.t == V_STRING) {
        if (expr_parse_duration(v.u.s.p, v.u.s.n, &ns) != 0) {
            return val_error("string is not a duration (like 1h30m, 1.5s, 100ms)");
        }
        return mk_i(V_DUR, ns);
    }
    return err_type(a, "duration", v);
}

struct val expr_call(const struct node *n, const struct val *args, struct arena *a)
{
    switch ((enum func_id)n->op) {
    case F_SIZE:
        return fn_size(a, args[0]);
    case F_STARTS_WITH:
    case F_ENDS_WITH:
    case F_CONTAINS:
        return fn_string_test(a, n->op, args[0], args[1]);
    case F_MATCHES:
        return fn_matches(n, a, args[0], args[1]);
    case F_LOWER:
        return fn_case(a, 0, args[0]);
    case F_UPPER:
        return fn_case(a, 1, args[0]);
    case F_INT:
        return fn_int(a, args[0]);
    case F_DOUBLE:
        return fn_double(a, args[0]);
    case F_STRING:
        return fn_string(a, args[0]);
    case F_BOOL:
        return fn_bool(a, args[0]);
    case F_TIMESTAMP:
        return fn_timestamp(a, args[0]);
    case F_DURATION:
        return fn_duration(a, args[0]);
    }
    return val_error("unknown function");
}
