/* proc_collect: the values of a window in event-time order, for the aggregates collect_list(x)
 * and collect_set(x) (as ksqlDB's COLLECT_LIST and COLLECT_SET, Flink SQL's ARRAY_AGG), at most
 * a limit of them: the earliest. collect_set keeps each value once, at its first occurrence;
 * values are the same when their JSON texts in RFC 8785's canonical form are (5 and 5.0, maps
 * with their members in another order). Of values at the same time, the one read first comes
 * first. A monoid: panes and sessions hold disjoint times, so merging two lists in time order
 * gives the list of all their values, whichever is merged into which. One owner; not
 * thread-safe. */
#ifndef PROC_COLLECT_H
#define PROC_COLLECT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct proc_collect;

/* An empty list of at most limit (1 or more) values; distinct: collect_set. */
struct proc_collect *proc_collect_new(int limit, int distinct);
struct proc_collect *proc_collect_copy(const struct proc_collect *c);
void proc_collect_free(struct proc_collect *c);
/* Adds v (borrowed; copied when kept; not null) of an event at time t. 0, or -1 when v has no
 * canonical form (nested too deep): not added. */
int proc_collect_add(struct proc_collect *c, const json_t *v, int64_t t);
/* into = the values of both, in time order; of equal times into's first (from was read later). */
void proc_collect_merge(struct proc_collect *into, const struct proc_collect *from);
/* The values kept, in order: count, and value i (borrowed) with its time. */
size_t proc_collect_size(const struct proc_collect *c);
const json_t *proc_collect_at(const struct proc_collect *c, size_t i, int64_t *t);
/* The checkpoint form is the JSON array of [time, value] pairs in order. Reads it into an empty
 * c: 0, or -1 (c left empty) when arr is not a list c could have kept: more than the limit,
 * times out of order or out of range, a null value, or a value twice for collect_set. */
int proc_collect_from_json(struct proc_collect *c, const json_t *arr);

#endif
