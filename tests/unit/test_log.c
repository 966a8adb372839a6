/* Unit tests for common/log: one valid JSON object per line, escaping of hostile text, level
 * filtering before argument evaluation, the trace id of the event a thread works on, and the
 * limiter of lines that could come once per event. */
#include "cm/log.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static int fds[2];

static void capture(void)
{
    cr_assert_eq(pipe(fds), 0);
    cm_log_init("testsvc");
    cm_log_set_fd(fds[1]);
    cm_log_set_level(CM_LOG_DEBUG);
}

static json_t *read_line(void)
{
    static char buf[16384];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert_eq(buf[n - 1], '\n', "line ends with a newline");
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "exactly one line");
    json_error_t err;
    json_t *v = json_loads(buf, 0, &err);
    cr_assert_not_null(v, "not JSON: %s (%s)", buf, err.text);
    return v;
}

TestSuite(log, .init = capture);

Test(log, fields)
{
    CM_LOG_INFO("thing_happened", "count=%d", 3);
    json_t *v = read_line();
    cr_assert_str_eq(json_string_value(json_object_get(v, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(v, "svc")), "testsvc");
    cr_assert_str_eq(json_string_value(json_object_get(v, "event")), "thing_happened");
    cr_assert_str_eq(json_string_value(json_object_get(v, "msg")), "count=3");
    const char *ts = json_string_value(json_object_get(v, "ts"));
    cr_assert_eq(strlen(ts), 24);
    cr_assert_eq(ts[23], 'Z');
    json_decref(v);
}

Test(log, hostile_text_is_escaped)
{
    CM_LOG_WARN("weird", "quote\" backslash\\ newline\n tab\t ctrl\x01 bad\xff\xfe utf8 é");
    json_t *v = read_line();
    const char *msg = json_string_value(json_object_get(v, "msg"));
    cr_assert_not_null(msg);
    cr_assert(strstr(msg, "quote\" backslash\\ newline\n") != NULL, "%s", msg);
    cr_assert(strstr(msg, "\xEF\xBF\xBD") != NULL, "invalid bytes become U+FFFD");
    cr_assert(strstr(msg, "é") != NULL);
    json_decref(v);
}

Test(log, long_message_truncated_but_valid)
{
    static char big[20000];
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CM_LOG_ERROR("big", "%s", big);
    json_t *v = read_line();
    cr_assert_str_eq(json_string_value(json_object_get(v, "event")), "big");
    json_decref(v);
}

static int evaluated;
static int side_effect(void)
{
    evaluated++;
    return 1;
}

Test(log, level_filter_skips_arguments)
{
    cm_log_set_level(CM_LOG_WARN);
    CM_LOG_DEBUG("quiet", "%d", side_effect());
    CM_LOG_INFO("quiet", "%d", side_effect());
    cr_assert_eq(evaluated, 0);
    CM_LOG_ERROR("loud", "%d", side_effect());
    cr_assert_eq(evaluated, 1);
    json_t *v = read_line();
    cr_assert_str_eq(json_string_value(json_object_get(v, "event")), "loud");
    json_decref(v);
}

Test(log, level_names)
{
    enum cm_log_level l;
    cr_assert_eq(cm_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, CM_LOG_DEBUG);
    cr_assert_eq(cm_log_level_parse("warning", &l), 0);
    cr_assert_eq(l, CM_LOG_WARN);
    cr_assert_neq(cm_log_level_parse("verbose", &l), 0);
}

static void *log_elsewhere(void *arg)
{
    (void)arg;
    CM_LOG_INFO("other_thread", "no event here");
    return NULL;
}

Test(log, lines_about_an_event_carry_its_trace_id)
{
    cm_log_set_trace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    CM_LOG_WARN("record_failed", "about the event");
    json_t *v = read_line();
    cr_assert_str_eq(json_string_value(json_object_get(v, "trace_id")),
                     "0af7651916cd43dd8448eb211c80319c");
    json_decref(v);
    pthread_t t; /* the trace belongs to this thread only */
    cr_assert_eq(pthread_create(&t, NULL, log_elsewhere, NULL), 0);
    pthread_join(t, NULL);
    v = read_line();
    cr_assert_null(json_object_get(v, "trace_id"), "another thread's line has no trace");
    json_decref(v);
    static const char *const invalid[] = {
        NULL,
        "",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-0af76519-01",
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        cm_log_set_trace(invalid[i]); /* clears */
        CM_LOG_INFO("no_trace", "case %zu", i);
        v = read_line();
        cr_assert_null(json_object_get(v, "trace_id"), "invalid traceparent %zu leaves none", i);
        json_decref(v);
    }
}

/* The limiter: the first call passes, calls within every_ms of a line are left out and counted,
 * and the next line after it passes with that count. */
Test(log, a_limited_line_passes_once_per_interval_with_the_count_left_out)
{
    struct cm_log_limit lim = CM_LOG_LIMIT(1000);
    static const struct {
        int64_t now;
        int pass;
        unsigned long long left_out; /* when it passes */
    } steps[] = {{5000, 1, 0}, {5000, 0, 0}, {5400, 0, 0}, {5999, 0, 0},  {6000, 1, 3},
                 {6001, 0, 0}, {9000, 1, 1}, {9999, 0, 0}, {10000, 1, 1}, {20000, 1, 0}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        unsigned long long left = 999;
        int pass = cm_log_limit_pass(&lim, steps[i].now, &left);
        cr_assert_eq(pass, steps[i].pass, "step %zu at %lld", i, (long long)steps[i].now);
        if (pass) {
            cr_assert_eq(left, steps[i].left_out, "step %zu", i);
        }
    }
}

struct limit_run {
    struct cm_log_limit *lim;
    int passed;
};

static void *hammer(void *arg)
{
    struct limit_run *r = arg;
    unsigned long long left;
    for (int i = 0; i < 10000; i++) {
        r->passed += cm_log_limit_pass(r->lim, 1000, &left);
    }
    return NULL;
}

/* Four threads at one instant: one line passes, and the next says all the others were left out. */
Test(log, a_limited_line_passes_once_among_threads)
{
    struct cm_log_limit lim = CM_LOG_LIMIT(60000);
    pthread_t t[4];
    struct limit_run runs[4];
    for (int i = 0; i < 4; i++) {
        runs[i] = (struct limit_run){&lim, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, &runs[i]), 0);
    }
    int passed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        passed += runs[i].passed;
    }
    cr_assert_eq(passed, 1);
    unsigned long long left = 0;
    cr_assert_eq(cm_log_limit_pass(&lim, 61000, &left), 1);
    cr_assert_eq(left, 4 * 10000 - 1);
}
