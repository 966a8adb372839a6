/* Unit tests for the processor's gauges. The watermark (processor_watermark_seconds{pipeline}): NaN
 * while a pipeline has no watermark yet (a new series' 0 would be 1970, which the alert on the
 * watermark's lag took for a stalled pipeline), the watermark in seconds once it has one, NaN
 * again when its pipeline goes, and kept when a version running beside it wrote its own. The keys
 * in state (processor_state_keys{pipeline}): those of every version of the pipeline, taken away
 * as their windows fire and when a version goes. */
#include "../../services/processor/proc_engine.h"
#include "proc_test.h"

#include "cm/metrics.h"

#include <criterion/criterion.h>
#include <math.h>

#define DEF                                                                                        \
    "{\"name\":\"g\",\"key\":\"subject\",\"window\":{\"type\":\"tumbling\",\"size\":\"10s\"},"     \
    "\"aggregates\":{\"n\":\"count()\"}}"

/* The gauge's value as rendered for pipeline g (the text after the series' name). */
static double rendered(struct cm_metrics *m, char *text, size_t cap)
{
    char *all = cm_metrics_render(m);
    const char *at = strstr(all, "t_watermark_seconds{pipeline=\"g\"} ");
    cr_assert_not_null(at, "%s", all);
    at += strlen("t_watermark_seconds{pipeline=\"g\"} ");
    size_t n = strcspn(at, "\n");
    cr_assert_lt(n, cap);
    memcpy(text, at, n);
    text[n] = '\0';
    free(all);
    return strtod(text, NULL);
}

/* An event at time_ms read from partition 0, then the watermark taken to wm_ms. */
static void feed(struct proc_engine *e, int64_t time_ms, int64_t wm_ms)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "specversion", "1.0", "id", "x", "source", "/s",
                           "type", "t", "subject", "a");
    proc_engine_process(e, 0, ev, time_ms, 1, 0);
    json_decref(ev);
    proc_engine_watermark(e, wm_ms);
}

Test(proc_gauge, nan_until_a_watermark_then_seconds_then_nan_when_the_pipeline_goes)
{
    struct cm_metrics *m = cm_metrics_new("t_");
    struct proc_def *d = proc_test_def(DEF);
    struct proc_engine *e = proc_engine_new(d, &proc_test_drop_out, m);
    char text[64];
    rendered(m, text, sizeof(text));
    cr_assert_str_eq(text, "NaN", "no watermark yet");
    feed(e, 1767225600000, 1767225605500);
    cr_assert_float_eq(rendered(m, text, sizeof(text)), 1767225605.5, 1e-6);
    cr_assert_str_eq(text, "1767225605.5");
    proc_engine_free(e);
    rendered(m, text, sizeof(text));
    cr_assert_str_eq(text, "NaN", "a pipeline gone leaves no stalled watermark");
    proc_def_free(d);
    cm_metrics_free(m);
}

Test(proc_gauge, a_version_replacing_another_keeps_its_own_watermark)
{
    struct cm_metrics *m = cm_metrics_new("t_");
    struct proc_def *d1 = proc_test_def(DEF), *d2 = proc_test_def(DEF);
    struct proc_engine *old = proc_engine_new(d1, &proc_test_drop_out, m);
    feed(old, 1767225600000, 1767225601000);
    struct proc_engine *new = proc_engine_new(d2, &proc_test_drop_out, m);
    char text[64];
    cr_assert_float_eq(rendered(m, text, sizeof(text)), 1767225601.0, 1e-6,
                       "a new version does not hide the running one's watermark");
    feed(new, 1767225600000, 1767225602000);
    proc_engine_free(old); /* drained */
    cr_assert_float_eq(rendered(m, text, sizeof(text)), 1767225602.0, 1e-6,
                       "the old version's end leaves the new one's watermark");
    proc_engine_free(new);
    rendered(m, text, sizeof(text));
    cr_assert_str_eq(text, "NaN");
    proc_def_free(d1);
    proc_def_free(d2);
    cm_metrics_free(m);
}

/* The value of series `name`{pipeline="g"} as rendered. */
static double series_value(struct cm_metrics *m, const char *name)
{
    char *all = cm_metrics_render(m);
    char want[128];
    snprintf(want, sizeof(want), "t_%s{pipeline=\"g\"} ", name);
    const char *at = strstr(all, want);
    cr_assert_not_null(at, "%s", all);
    double v = strtod(at + strlen(want), NULL);
    free(all);
    return v;
}

/* An event of subject `key` at time_ms from partition `source`. */
static void add_key(struct proc_engine *e, int32_t source, const char *key, int64_t time_ms)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "specversion", "1.0", "id", key, "source", "/s",
                           "type", "t", "subject", key);
    proc_engine_process(e, source, ev, time_ms, 1, 0);
    json_decref(ev);
}

Test(proc_gauge, state_keys_count_every_versions_keys_until_their_windows_fire)
{
    struct cm_metrics *m = cm_metrics_new("t_");
    struct proc_def *d1 = proc_test_def(DEF), *d2 = proc_test_def(DEF);
    struct proc_engine *old = proc_engine_new(d1, &proc_test_drop_out, m);
    const int64_t t0 = 1767225600000;
    proc_engine_tick(old, 0);
    cr_assert_float_eq(series_value(m, "state_keys"), 0, 1e-9, "none yet");
    add_key(old, 0, "a", t0);
    add_key(old, 0, "b", t0 + 1);
    add_key(old, 1, "c", t0 + 2);
    add_key(old, 1, "a", t0 + 3); /* another partition's state: its own key */
    cr_assert_float_eq(series_value(m, "state_keys"), 0, 1e-9, "counted at the tick");
    proc_engine_tick(old, 0);
    cr_assert_float_eq(series_value(m, "state_keys"), 4, 1e-9);
    struct proc_engine *new = proc_engine_new(d2, &proc_test_drop_out, m);
    add_key(new, 0, "z", t0 + 20000); /* a later window */
    proc_engine_tick(new, 0);
    cr_assert_float_eq(series_value(m, "state_keys"), 5, 1e-9, "both versions' keys");
    proc_engine_watermark(old, t0 + 10000); /* the old version's window fires: its state goes */
    proc_engine_tick(old, 0);
    cr_assert_float_eq(series_value(m, "state_keys"), 1, 1e-9);
    proc_engine_free(new);
    cr_assert_float_eq(series_value(m, "state_keys"), 0, 1e-9, "a version gone takes its keys");
    proc_engine_free(old);
    proc_def_free(d1);
    proc_def_free(d2);
    cm_metrics_free(m);
}
