/* metrics: counters, gauges and histograms with labels, rendered in the Prometheus text format.
 * A registry owns its metric families; a family owns its series. Declare families once at
 * start-up, look a series up once per label combination (cm_metric_with, a read-locked lookup)
 * and keep the pointer: updates on a series are lock-free atomics, safe from any thread.
 * Every pointer returned here is borrowed until cm_metrics_free() of its registry. */
#ifndef CM_METRICS_H
#define CM_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct cm_metrics;
struct cm_metric;
struct cm_series;

/* `prefix` is prepended to every metric name ("gateway_"); copied. Caller frees with
 * cm_metrics_free. */
struct cm_metrics *cm_metrics_new(const char *prefix);
void cm_metrics_free(struct cm_metrics *reg);

/* `labels` is a comma-separated list of label names ("route,code") or NULL/"" for none.
 * Registering the same name twice returns the existing family. */
struct cm_metric *cm_metrics_counter(struct cm_metrics *reg, const char *name, const char *help,
                                     const char *labels);
struct cm_metric *cm_metrics_gauge(struct cm_metrics *reg, const char *name, const char *help,
                                   const char *labels);
/* `bounds` are the upper bounds of the buckets, ascending (copied); +Inf is implied. */
struct cm_metric *cm_metrics_histogram(struct cm_metrics *reg, const char *name, const char *help,
                                       const char *labels, const double *bounds, size_t nbounds);
/* A gauge whose value is read by calling fn(ud) at render time (queue depths, pool sizes). */
void cm_metrics_gauge_fn(struct cm_metrics *reg, const char *name, const char *help,
                         double (*fn)(void *ud), void *ud);
/* fn(reg, ud) is called at the start of every cm_metrics_render, outside the registry's lock,
 * to set series whose values are looked up only when asked for (as a Prometheus client's
 * collector): labelled gauges that cost a lookup elsewhere. It may declare families and set
 * series; it runs on the rendering thread, once per render, concurrently with other renders. */
void cm_metrics_collector(struct cm_metrics *reg, void (*fn)(struct cm_metrics *reg, void *ud),
                          void *ud);

/* Series for the given label values, in the order of the family's label names; created on first
 * use. NULL-terminated variadic list; a family without labels takes just NULL. */
struct cm_series *cm_metric_with(struct cm_metric *m, ...) __attribute__((sentinel));
/* The same, with an array of nvalues values. */
struct cm_series *cm_metric_withv(struct cm_metric *m, const char *const *values, size_t nvalues);

void cm_counter_add(struct cm_series *s, uint64_t n);
void cm_counter_inc(struct cm_series *s);
void cm_gauge_set(struct cm_series *s, double v);
void cm_gauge_add(struct cm_series *s, double v);
void cm_histogram_observe(struct cm_series *s, double v);
/* Forgets a series, as a Prometheus client's remove(): its value is zeroed and it is left out of
 * the exposition until it is updated again (then from 0). For a series whose subject is gone (a
 * topic no longer read, a consumer group stopped), whose last value would otherwise stay on
 * dashboards for as long as the process runs. The pointer stays valid, as every series'. */
void cm_series_forget(struct cm_series *s);
/* Forgets every series of reg whose label `label` is value (of every family with that label),
 * e.g. those of a deleted pipeline. Returns how many were shown before. */
size_t cm_metrics_forget_label(struct cm_metrics *reg, const char *label, const char *value);

/* Reads a counter or gauge series' current value (tests, readiness decisions). */
double cm_series_value(const struct cm_series *s);
/* Number of observations in a histogram series. */
uint64_t cm_histogram_count(const struct cm_series *s);

/* Prometheus text exposition (version 0.0.4). Caller frees. */
char *cm_metrics_render(struct cm_metrics *reg);

/* Standard latency buckets in seconds, 0.5 ms .. 10 s. */
extern const double cm_metrics_latency_buckets[];
extern const size_t cm_metrics_latency_nbuckets;

#endif
