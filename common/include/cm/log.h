/* log: JSON-lines logging to stderr, one object per line:
 *   {"ts":"2026-01-02T03:04:05.678Z","level":"info","svc":"gateway","event":"started","msg":"..."}
 * plus "trace_id" while the thread works on an event that has one (cm_log_set_trace).
 * `event` is a stable snake_case id; `msg` is free text. Thread-safe: each line is one write(2).
 * The CM_LOG_* macros check the level before evaluating their arguments. */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum cm_log_level { CM_LOG_DEBUG = 0, CM_LOG_INFO = 1, CM_LOG_WARN = 2, CM_LOG_ERROR = 3 };

/* Sets the service name (borrowed: must outlive logging, normally a literal) and reads LOG_LEVEL
 * (debug|info|warn|error; anything else leaves "info" and is reported by config validation). */
void cm_log_init(const char *svc);
/* Parses a level name; returns 0 and sets *out, or CM_E_INVAL. */
int cm_log_level_parse(const char *name, enum cm_log_level *out);
void cm_log_set_level(enum cm_log_level level);
enum cm_log_level cm_log_get_level(void);
/* Redirects output (tests); default is stderr. */
void cm_log_set_fd(int fd);

void cm_log_write(enum cm_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The event being worked on by the calling thread: from now on its lines carry
 * "trace_id":"<the 32 hex digits of its W3C traceparent>", until cm_log_set_trace(NULL) (or a
 * traceparent that is not valid) clears it. The consumers set it for each record they handle
 * (cm_event_from_record; cm_event_clear clears it), so every line about an event names its
 * trace. Thread-local. */
void cm_log_set_trace(const char *traceparent);

/* Appends `s` JSON-escaped (without quotes) into buf[*pos..cap); never overflows, truncates.
 * Invalid UTF-8 bytes are replaced by U+FFFD. Shared so other writers escape the same way. */
void cm_json_escape_into(char *buf, size_t cap, size_t *pos, const char *s);

/* A line that could come once per event (a dependency down, every record refused): written at
 * most once per `every_ms`, each saying how many were left out since the one before, as
 * "(N more since the last such line)". Thread-safe; a static or zeroed object with every_ms set:
 *   static struct cm_log_limit lim = CM_LOG_LIMIT(1000); */
struct cm_log_limit {
    int64_t every_ms;
    _Atomic int64_t next_ms; /* the earliest monotonic time of the next line; 0: any time */
    atomic_ullong left_out;  /* calls refused since the last line */
};
#define CM_LOG_LIMIT(ms)                                                                           \
    {                                                                                              \
        .every_ms = (ms)                                                                           \
    }

/* 1 when a line may be written at now_ms (cm_monotonic_ms), with *left_out set to how many calls
 * were refused since the last one; 0 when this one is left out (and counted). */
int cm_log_limit_pass(struct cm_log_limit *l, int64_t now_ms, unsigned long long *left_out);

#define CM_LOG_AT(lvl, event, ...)                                                                 \
    do {                                                                                           \
        if ((lvl) >= cm_log_get_level()) {                                                         \
            cm_log_write((lvl), (event), __VA_ARGS__);                                             \
        }                                                                                          \
    } while (0)

#define CM_LOG_DEBUG(event, ...) CM_LOG_AT(CM_LOG_DEBUG, event, __VA_ARGS__)
#define CM_LOG_INFO(event, ...) CM_LOG_AT(CM_LOG_INFO, event, __VA_ARGS__)
#define CM_LOG_WARN(event, ...) CM_LOG_AT(CM_LOG_WARN, event, __VA_ARGS__)
#define CM_LOG_ERROR(event, ...) CM_LOG_AT(CM_LOG_ERROR, event, __VA_ARGS__)

#endif
