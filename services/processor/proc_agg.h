/* proc_agg: the accumulators of a pipeline's aggregates (count, count_if, sum, avg, min, max,
 * distinct, percentile, the variance family: variance, var_pop, stddev, stddev_pop, first and last,
 * and topk and topk_distinct, collect_list and collect_set) for one key and pane or window. All are
 * monoids: merging is associative with the empty accumulator as identity, so hopping windows are
 * merged from panes and sessions from the sessions they absorb. distinct is a HyperLogLog,
 * percentile a DDSketch (common/sketch). Accumulators serialize to JSON for checkpoints. One owner;
 * not thread-safe. */
#ifndef PROC_AGG_H
#define PROC_AGG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct proc_def;
struct proc_acc;

/* An empty accumulator for d's aggregates (d borrowed for the accumulator's life). */
struct proc_acc *proc_acc_new(const struct proc_def *d);
struct proc_acc *proc_acc_copy(const struct proc_acc *a);
void proc_acc_free(struct proc_acc *a);
/* Adds one event (borrowed) whose event time is time_ms. Values an aggregate cannot use (a
 * string for sum, an expression error) are skipped and counted in *errors. */
void proc_acc_add(struct proc_acc *a, const json_t *ev, int64_t time_ms, size_t *errors);
/* The aggregates' arguments evaluated over ev, in the order of d's aggregates (null for count
 * and where an expression failed, counted in *errors): a new array, which proc_acc_add_args
 * adds as proc_acc_add would have added ev (the first stage of a keyed pipeline evaluates them,
 * so the second reads a few values instead of parsing the event again). */
json_t *proc_acc_args(const struct proc_def *d, const json_t *ev, size_t *errors);
void proc_acc_add_args(struct proc_acc *a, const json_t *args, int64_t time_ms, size_t *errors);
/* into += from (same definition; from holds what was read later, which decides between first's
 * or last's values of the same time). */
void proc_acc_merge(struct proc_acc *into, const struct proc_acc *from);
/* Events added (the count whatever the aggregates). */
size_t proc_acc_events(const struct proc_acc *a);
/* Sets each aggregate's value in obj under its name: count and distinct as integers, sum/min/max
 * as integers when integral, avg, percentile and the variance family as reals, first and last
 * as the values were, topk and topk_distinct as lists of numbers greatest first, collect_list and
 * collect_set as lists of the values by event time ([] when none), null when there was nothing to
 * use (for a sample variance or deviation, fewer than two values) or the value overflowed. */
void proc_acc_result(const struct proc_acc *a, json_t *obj);
/* The same members written to w (inside an open object), the same bytes. */
struct cm_jw;
void proc_acc_write(const struct proc_acc *a, struct cm_jw *w);
/* Checkpoint form: written to w as [events, [n, value or sketch in hex, integral(, sum of squared
 * deviations: the variance family)], ...]; read
 * back from its JSON value, NULL when j does not fit d. */
void proc_acc_write_state(const struct proc_acc *a, struct cm_jw *w);
struct proc_acc *proc_acc_from_json(const struct proc_def *d, const json_t *j);

#endif
