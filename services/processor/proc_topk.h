/* proc_topk: the k greatest numbers of a window, greatest first, for the aggregates topk(x, k)
 * and topk_distinct(x, k) (as ksqlDB's TOPK and TOPKDISTINCT). A monoid: the k greatest of two
 * lists merged are the k greatest of all the values added to either, so hopping windows merge
 * them from panes. Equal values rank a JSON integer before a real (5 before 5.0), which makes the
 * kept list independent of the order values arrive in; topk_distinct keeps one of equal values,
 * the integer where there is one. One owner; not thread-safe. */
#ifndef PROC_TOPK_H
#define PROC_TOPK_H

#include <jansson.h>
#include <stddef.h>

struct proc_topk;

/* An empty list of at most k (1 or more) values; distinct: equal values kept once. */
struct proc_topk *proc_topk_new(int k, int distinct);
struct proc_topk *proc_topk_copy(const struct proc_topk *t);
void proc_topk_free(struct proc_topk *t);
/* Adds a finite value x; integral: it came as a JSON integer (kept as one only below 2^53, where
 * a double holds every integer exactly). */
void proc_topk_add(struct proc_topk *t, double x, int integral);
/* into = the k greatest of into and from (same k and distinct). */
void proc_topk_merge(struct proc_topk *into, const struct proc_topk *from);
/* The values kept, greatest first: count, and value i with whether it is an integer. */
size_t proc_topk_size(const struct proc_topk *t);
double proc_topk_at(const struct proc_topk *t, size_t i, int *integral);
/* The checkpoint form is the JSON array of the values, greatest first, integers as integers and
 * the others as reals. Reads that form into an empty t: 0, or -1 (t unchanged) when arr is not a
 * list that t could have kept: more than k values, values out of order (or equal ones for
 * topk_distinct), or not numbers. */
int proc_topk_from_json(struct proc_topk *t, const json_t *arr);

#endif
