/* proc_query: a key's windows as the checkpoints in Redis hold them (GET
 * /pipelines/{name}/windows, as ksqlDB's pull queries and Kafka Streams' interactive queries of
 * a windowed table). Read from Redis, so any instance answers for any key, whichever instance
 * holds its partition, with the state of the last checkpoint (PROCESSOR_CHECKPOINT old at most).
 * Each window comes as its result's data would (the same members, `having` applied) plus
 * `open`; nothing is changed. */
#ifndef PROC_QUERY_H
#define PROC_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_redis;
struct proc_def;

/* A version of the pipeline run now, and the window starts it takes, [from, until). */
struct proc_query_version {
    const struct proc_def *d;
    int64_t from, until;
};

/* The partition count of topic, or a negative code. */
typedef int (*proc_query_partitions_fn)(const char *topic, void *ud);

#define PROC_QUERY_MAX_WINDOWS 10000

/* The windows of (tenant, key) in every version given that start in [from, until) (INT64_MIN,
 * INT64_MAX: all): *out = {"windows": [...], "watermark":
 * the least watermark of the state read (absent when no state holds the key)}, windows in start
 * order (then version); at most PROC_QUERY_MAX_WINDOWS, and "truncated": true when there were
 * more (a hopping window far smaller than its size over a long span). 0, or CM_E_UNAVAIL with why
 * filled (Redis, or the partition counts, unavailable). A hash of another definition or whose key
 * does not fit it is left out (logged). */
int proc_query_windows(struct cm_redis *r, const struct proc_query_version *v, size_t nv,
                       const char *tenant, const char *key, int64_t from, int64_t until,
                       proc_query_partitions_fn partitions, void *ud, json_t **out, char *why,
                       size_t whylen);

/* A scan: the tenant's keys (those starting with prefix, and from key_from to key_to, both
 * included, in byte order, when set), windows that start in [from, until), at least limit of them
 * a page, after the cursor a page before gave (NULL: from the beginning). */
struct proc_query_scan_req {
    const char *tenant, *prefix, *after;
    const char *key_from, *key_to;
    int64_t from, until;
    size_t limit;
};

/* Every key's windows of the tenant, page by page (Kafka Streams' fetchAll of a window store; a
 * prefix as its prefixScan, a key range as fetch(keyFrom, keyTo, ...)): the states of all
 * partitions of every version scanned with HSCAN until the page holds at least `limit` windows.
 * *out as above, windows by key then start, with "next": the cursor of the next page (only when
 * a window is left to read). Only windows that start in [from, until) (as proc_query_windows). A
 * key changed while pages are read may come in two pages, or show its state from either side of
 * a checkpoint (HSCAN's guarantee: a key present throughout is returned at least once). 0,
 * CM_E_INVAL (a cursor this never gave; why names it) or CM_E_UNAVAIL. */
int proc_query_scan(struct cm_redis *r, const struct proc_query_version *v, size_t nv,
                    const struct proc_query_scan_req *q, proc_query_partitions_fn partitions,
                    void *ud, json_t **out, char *why, size_t whylen);

/* The same from states at hand (proc_query_windows reads them from Redis; tests and the fuzzer
 * give them directly): an answer being built, one key's state (the JSON text of its checkpoint
 * field) peeked at watermark wm after another, then the answer as above (a freed). add_state
 * returns 0, or CM_E_INVAL when the state does not fit v's definition (nothing added). */
struct proc_query_answer;
struct proc_query_answer *proc_query_answer_new(void);
int proc_query_add_state(struct proc_query_answer *a, const struct proc_query_version *v,
                         const char *tenant, const char *key, const char *text, size_t len,
                         int64_t wm);
json_t *proc_query_answer_finish(struct proc_query_answer *a);

#endif
