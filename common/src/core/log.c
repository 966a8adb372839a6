/* log: JSON-lines writer behind the CM_LOG_* macros (see log.h).
 * Level and fd are process-wide atomics; each line is formatted on the stack and written with
 * one write(2) so lines from several threads never interleave. */
#include "cm/log.h"

#include "cm/err.h"
#include "cm/text.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static const char *log_svc = "unknown";
static atomic_int log_level = CM_LOG_INFO;
static atomic_int log_fd = STDERR_FILENO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

int cm_log_level_parse(const char *name, enum cm_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum cm_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = CM_LOG_WARN;
        return 0;
    }
    return CM_E_INVAL;
}

void cm_log_init(const char *svc)
{
    log_svc = svc;
    const char *lv = getenv("LOG_LEVEL");
    enum cm_log_level level;
    if (lv && cm_log_level_parse(lv, &level) == 0) {
        atomic_store(&log_level, (int)level);
    }
}

void cm_log_set_level(enum cm_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum cm_log_level cm_log_get_level(void)
{
    return (enum cm_log_level)atomic_load(&log_level);
}

void cm_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

static void put(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos >= cap) {
        return;
    }
    if (n > cap - *pos) {
        return; /* all or nothing: never leave half an escape sequence */
    }
    memcpy(buf + *pos, s, n);
    *pos += n;
}

void cm_json_escape_into(char *buf, size_t cap, size_t *pos, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p && *pos < cap) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(buf, cap, pos, esc, 2);
            p++;
        } else if (c == '\n') {
            put(buf, cap, pos, "\\n", 2);
            p++;
        } else if (c == '\t') {
            put(buf, cap, pos, "\\t", 2);
            p++;
        } else if (c == '\r') {
            put(buf, cap, pos, "\\r", 2);
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            char esc[8];
            int n = snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(buf, cap, pos, esc, (size_t)n);
            p++;
        } else {
            size_t n = cm_utf8_seq_len(p, strnlen((const char *)p, 4));
            if (n == 0) {
                put(buf, cap, pos, "\xEF\xBF\xBD", 3);
                p++;
            } else {
                put(buf, cap, pos, (const char *)p, n);
                p += n;
            }
        }
    }
}

static _Thread_local char log_trace[33]; /* the trace id of the event at hand; "" none */

void cm_log_set_trace(const char *traceparent)
{
    /* version "-" 32 hex "-" 16 hex "-" 2 hex; an all-zero trace id is invalid */
    log_trace[0] = '\0';
    if (!traceparent || strlen(traceparent) < 55 || traceparent[2] != '-' ||
        traceparent[35] != '-') {
        return;
    }
    int nonzero = 0;
    for (int i = 3; i < 35; i++) {
        char c = traceparent[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return;
        }
        nonzero |= c != '0';
    }
    if (nonzero) {
        memcpy(log_trace, traceparent + 3, 32);
        log_trace[32] = '\0';
    }
}

void cm_log_write(enum cm_log_level level, const char *event, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    char line[LOG_LINE_MAX + 512];
    size_t cap = sizeof(line) - 2; /* room for "}\n" */
    size_t pos = 0;
    char head[96];
    int n = snprintf(head, sizeof(head),
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"svc\":\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, level_names[level & 3]);
    put(line, cap, &pos, head, (size_t)n);
    cm_json_escape_into(line, cap, &pos, log_svc);
    put(line, cap, &pos, "\",\"event\":\"", 11);
    cm_json_escape_into(line, cap, &pos, event);
    if (log_trace[0]) {
        put(line, cap, &pos, "\",\"trace_id\":\"", 14);
        put(line, cap, &pos, log_trace, 32);
    }
    put(line, cap, &pos, "\",\"msg\":\"", 9);
    cm_json_escape_into(line, cap - 1, &pos, msg);
    put(line, cap, &pos, "\"", 1);
    line[pos++] = '}';
    line[pos++] = '\n';
    ssize_t ignored = write(atomic_load(&log_fd), line, pos);
    (void)ignored;
}

int cm_log_limit_pass(struct cm_log_limit *l, int64_t now_ms, unsigned long long *left_out)
{
    int64_t next = atomic_load(&l->next_ms);
    if ((next != 0 && now_ms < next) ||
        !atomic_compare_exchange_strong(&l->next_ms, &next, now_ms + l->every_ms)) {
        atomic_fetch_add(&l->left_out, 1); /* too soon, or another thread writes this one */
        return 0;
    }
    *left_out = atomic_exchange(&l->left_out, 0);
    return 1;
}
