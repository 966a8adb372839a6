/* proc_graph: the pipelines as a graph of topics. Each pipeline reads its source topics and
 * writes its results to its sink, its late events to the late topic (windows and interval joins)
 * and the events it cannot process to its dead-letter topic. Pipelines whose outputs lead back to
 * one of them would pass events round without end (a transform's output transformed again, a late
 * event late again, a dead letter failing again), so a set of pipelines must be acyclic, as the
 * topologies of Kafka Streams and Flink are. A pipeline reading its own output is refused when it
 * is parsed (proc_def); this checks one pipeline against the others. */
#ifndef PROC_GRAPH_H
#define PROC_GRAPH_H

#include <jansson.h>
#include <stddef.h>

struct proc_def;

/* The topics every pipeline's late events and (unless it names its own) dead letters go to. */
struct proc_graph_topics {
    const char *late;
    const char *dlq;
};

/* The dead-letter topic of d: its own, else the default, or NULL with "dead_letter": false and
 * when d reads the default one (its failures there are only counted: they would come back). */
const char *proc_graph_dead_letter_topic(const struct proc_def *d, const char *default_dlq);

/* 0 when d together with others (n, d's own name left out by the caller) forms no cycle, else
 * -1 with the cycle in err: "<field of d's first output>: events would go round without end:
 * this pipeline writes 't2' (its sink), pipeline 'b' reads it and writes 'events' (its sink),
 * which this pipeline reads". */
int proc_graph_check(const struct proc_def *d, const struct proc_def *const *others, size_t n,
                     const struct proc_graph_topics *t, char *err, size_t errlen);

/* Appends to list (a JSON array of strings) what looks wrong, without being refused, in how d
 * and the others (n, d's own name left out) feed one another: a pipeline with a window that reads
 * the results of another's windows and
 * - windows them by event time (no source.time): those carry the window's end as their `time`,
 *   the first instant of the next window, so a rollup of 1-minute results into hours would count
 *   each hour's last minute in the next hour;
 * - adds them up while the other writes a window's values so far several times (early results,
 *   emit update), or a window's result again after late events (allowed_lateness) and the
 *   reader's source filter does not read data.revision: each would be counted.
 * Each warning names d's field, the other pipelines and the remedy. */
void proc_graph_warnings(const struct proc_def *d, const struct proc_def *const *others, size_t n,
                         json_t *list);

#endif
