/* Unit tests for common/metrics: Prometheus exposition of counters, gauges and histograms, label
 * escaping, concurrent updates, and series forgotten (left out until updated again, from 0). */
#include "cm/metrics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

Test(metrics, counter_with_labels)
{
    struct cm_metrics *reg = cm_metrics_new("svc_");
    struct cm_metric *m = cm_metrics_counter(reg, "requests_total", "Requests", "route,code");
    cm_counter_inc(cm_metric_with(m, "/a", "200", NULL));
    cm_counter_add(cm_metric_with(m, "/a", "200", NULL), 2);
    cm_counter_inc(cm_metric_with(m, "/b", "500", NULL));
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "# HELP svc_requests_total Requests\n") != NULL, "%s", text);
    cr_assert(strstr(text, "# TYPE svc_requests_total counter\n") != NULL, "%s", text);
    cr_assert(strstr(text, "svc_requests_total{route=\"/a\",code=\"200\"} 3\n") != NULL, "%s",
              text);
    cr_assert(strstr(text, "svc_requests_total{route=\"/b\",code=\"500\"} 1\n") != NULL, "%s",
              text);
    free(text);
    cr_assert_eq(cm_metrics_counter(reg, "requests_total", "x", "route,code"), m,
                 "same name, same family");
    cm_metrics_free(reg);
}

Test(metrics, label_values_escaped)
{
    struct cm_metrics *reg = cm_metrics_new("");
    struct cm_metric *m = cm_metrics_counter(reg, "c", "h", "v");
    cm_counter_inc(cm_metric_with(m, "a\"b\\c\nd", NULL));
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "c{v=\"a\\\"b\\\\c\\nd\"} 1\n") != NULL, "%s", text);
    free(text);
    cm_metrics_free(reg);
}

Test(metrics, gauge_and_fn)
{
    struct cm_metrics *reg = cm_metrics_new("");
    struct cm_series *g = cm_metric_with(cm_metrics_gauge(reg, "depth", "h", NULL), NULL);
    cm_gauge_set(g, 5);
    cm_gauge_add(g, -1.5);
    cr_assert_float_eq(cm_series_value(g), 3.5, 1e-9);
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "depth 3.5\n") != NULL, "%s", text);
    free(text);
    /* the shortest text that reads back: %.17g wrote 1796402183.3540001 */
    cm_gauge_set(g, 1796402183.354);
    text = cm_metrics_render(reg);
    cr_assert(strstr(text, "depth 1796402183.354\n") != NULL, "%s", text);
    free(text);
    cm_gauge_set(g, NAN);
    text = cm_metrics_render(reg);
    cr_assert(strstr(text, "depth NaN\n") != NULL, "%s", text);
    free(text);
    cm_metrics_free(reg);
}

static double seven(void *ud)
{
    (void)ud;
    return 7;
}

Test(metrics, gauge_callback)
{
    struct cm_metrics *reg = cm_metrics_new("");
    cm_metrics_gauge_fn(reg, "queue", "h", seven, NULL);
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "# TYPE queue gauge\nqueue 7\n") != NULL, "%s", text);
    free(text);
    cm_metrics_free(reg);
}

/* A collector sets labelled series at every render, before they are written out, and may
 * declare the family itself. */
static void collect(struct cm_metrics *reg, void *ud)
{
    int *calls = ud;
    (*calls)++;
    struct cm_metric *m = cm_metrics_gauge(reg, "missing", "h", "pipeline");
    cm_gauge_set(cm_metric_with(m, "a", NULL), *calls);
}

Test(metrics, collector_runs_before_each_render)
{
    struct cm_metrics *reg = cm_metrics_new("p_");
    int calls = 0;
    cm_metrics_collector(reg, collect, &calls);
    cr_assert_eq(calls, 0, "not called until rendered");
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "p_missing{pipeline=\"a\"} 1\n") != NULL, "%s", text);
    free(text);
    text = cm_metrics_render(reg);
    cr_assert(strstr(text, "p_missing{pipeline=\"a\"} 2\n") != NULL, "%s", text);
    free(text);
    cr_assert_eq(calls, 2);
    cm_metrics_free(reg);
}

Test(metrics, histogram_buckets_cumulative)
{
    struct cm_metrics *reg = cm_metrics_new("");
    double bounds[] = {0.1, 1, 10};
    struct cm_series *h =
        cm_metric_with(cm_metrics_histogram(reg, "lat", "h", "op", bounds, 3), "get", NULL);
    cm_histogram_observe(h, 0.05);
    cm_histogram_observe(h, 0.1); /* le is inclusive */
    cm_histogram_observe(h, 5);
    cm_histogram_observe(h, 50);
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "lat_bucket{op=\"get\",le=\"0.1\"} 2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_bucket{op=\"get\",le=\"1\"} 2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_bucket{op=\"get\",le=\"10\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_bucket{op=\"get\",le=\"+Inf\"} 4\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_count{op=\"get\"} 4\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_sum{op=\"get\"} 55.149999999999999\n") != NULL ||
                  strstr(text, "lat_sum{op=\"get\"} 55.15\n") != NULL,
              "%s", text);
    cr_assert_eq(cm_histogram_count(h), 4);
    free(text);
    cm_metrics_free(reg);
}

struct hammer_arg {
    struct cm_metric *m;
    struct cm_series *h;
};

static void *hammer(void *p)
{
    struct hammer_arg *a = p;
    for (int i = 0; i < 20000; i++) {
        cm_counter_inc(cm_metric_with(a->m, (i & 1) ? "odd" : "even", NULL));
        cm_histogram_observe(a->h, 1.0);
    }
    return NULL;
}

Test(metrics, concurrent_updates_are_not_lost)
{
    struct cm_metrics *reg = cm_metrics_new("");
    double bounds[] = {0.5, 2};
    struct hammer_arg a = {cm_metrics_counter(reg, "n", "h", "parity"), NULL};
    a.h = cm_metric_with(cm_metrics_histogram(reg, "h", "h", NULL, bounds, 2), NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&t[i], NULL, hammer, &a);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    cr_assert_float_eq(cm_series_value(cm_metric_with(a.m, "odd", NULL)), 40000, 0.5);
    cr_assert_float_eq(cm_series_value(cm_metric_with(a.m, "even", NULL)), 40000, 0.5);
    cr_assert_eq(cm_histogram_count(a.h), 80000);
    cm_metrics_free(reg);
}

Test(metrics, forgotten_series_are_left_out_until_updated_again)
{
    struct cm_metrics *reg = cm_metrics_new("");
    struct cm_metric *c = cm_metrics_counter(reg, "c_total", "h", "g");
    struct cm_metric *g = cm_metrics_gauge(reg, "lag", "h", "g");
    struct cm_metric *h = cm_metrics_histogram(reg, "lat", "h", "g", cm_metrics_latency_buckets,
                                               cm_metrics_latency_nbuckets);
    struct cm_series *ca = cm_metric_with(c, "a", NULL), *cb = cm_metric_with(c, "b", NULL);
    struct cm_series *ga = cm_metric_with(g, "a", NULL), *ha = cm_metric_with(h, "a", NULL);
    cm_counter_add(ca, 5);
    cm_counter_add(cb, 7);
    cm_gauge_set(ga, 42);
    cm_histogram_observe(ha, 0.003);
    cm_series_forget(ca);
    cm_series_forget(ga);
    cm_series_forget(ha);
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "c_total{g=\"a\"}") == NULL, "%s", text);
    cr_assert(strstr(text, "lag{g=\"a\"}") == NULL, "%s", text);
    cr_assert(strstr(text, "lat_count{g=\"a\"}") == NULL, "%s", text);
    cr_assert(strstr(text, "c_total{g=\"b\"} 7\n") != NULL, "the others stay: %s", text);
    cr_assert(strstr(text, "# TYPE lag gauge\n") != NULL, "the family stays: %s", text);
    free(text);
    /* an update brings it back, counted from 0 */
    cm_counter_inc(ca);
    cm_gauge_add(ga, 2);
    cm_histogram_observe(ha, 0.003);
    text = cm_metrics_render(reg);
    cr_assert(strstr(text, "c_total{g=\"a\"} 1\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lag{g=\"a\"} 2\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_count{g=\"a\"} 1\n") != NULL, "%s", text);
    free(text);
    cr_assert_eq(cm_metric_with(c, "a", NULL), ca, "the same series, remembered");
    cm_metrics_free(reg);
}

Test(metrics, every_series_of_a_label_value_can_be_forgotten)
{
    struct cm_metrics *reg = cm_metrics_new("t_");
    struct cm_metric *c = cm_metrics_counter(reg, "records_total", "r", "pipeline,outcome");
    struct cm_metric *g = cm_metrics_gauge(reg, "wm", "w", "pipeline");
    struct cm_metric *o = cm_metrics_gauge(reg, "other", "o", "topic");
    cm_counter_inc(cm_metric_with(c, "p1", "ok", NULL));
    cm_counter_inc(cm_metric_with(c, "p1", "late", NULL));
    cm_counter_add(cm_metric_with(c, "p2", "ok", NULL), 5);
    cm_gauge_set(cm_metric_with(g, "p1", NULL), 7);
    cm_gauge_set(cm_metric_with(g, "p2", NULL), 8);
    cm_gauge_set(cm_metric_with(o, "p1", NULL), 9); /* another label of the same value stays */
    cr_assert_eq(cm_metrics_forget_label(reg, "pipeline", "p1"), 3);
    cr_assert_eq(cm_metrics_forget_label(reg, "pipeline", "p1"), 0, "none shown any more");
    cr_assert_eq(cm_metrics_forget_label(reg, "pipeline", "nosuch"), 0);
    char *text = cm_metrics_render(reg);
    cr_assert_null(strstr(text, "pipeline=\"p1\""), "%s", text);
    cr_assert_not_null(strstr(text, "t_records_total{pipeline=\"p2\",outcome=\"ok\"} 5\n"), "%s",
                       text);
    cr_assert_not_null(strstr(text, "t_wm{pipeline=\"p2\"} 8\n"), "%s", text);
    cr_assert_not_null(strstr(text, "t_other{topic=\"p1\"} 9\n"), "%s", text);
    free(text);
    /* back from 0 once updated */
    cm_counter_inc(cm_metric_with(c, "p1", "ok", NULL));
    text = cm_metrics_render(reg);
    cr_assert_not_null(strstr(text, "t_records_total{pipeline=\"p1\",outcome=\"ok\"} 1\n"), "%s",
                       text);
    cr_assert_null(strstr(text, "outcome=\"late\""), "%s", text);
    free(text);
    cm_metrics_free(reg);
}
