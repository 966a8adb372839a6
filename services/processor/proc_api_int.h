/* proc_api_int: what proc_api.c and proc_dry_run.c share: the API's state, its parser of a
 * pipeline (with the processor's default topics) and the warnings a write answers. */
#ifndef PROC_API_INT_H
#define PROC_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

struct cm_defs;
struct cm_metric;
struct cm_http_req;
struct cm_redis;
struct cm_swap;
struct proc_def;
struct proc_fleet;

struct proc_api {
    struct cm_defs *defs;
    struct proc_fleet *fleet;
    char *events_topic, *derived_topic, *late_topic, *dlq_topic;
    struct cm_swap *auth;
    char *scope;
    struct cm_redis *state;       /* the window state's Redis, for queries (borrowed); NULL: none */
    struct cm_metric *missing;    /* processor_pipeline_topics_missing{pipeline} */
    json_t *missing_shown;        /* the pipelines it shows (name -> true) */
    pthread_mutex_t missing_lock; /* one look at a time */
};

/* doc as a pipeline named name (version > 0: that version), with the processor's default topics;
 * NULL with "field: reason" in err. */
struct proc_def *proc_api_parse(struct proc_api *a, const json_t *doc, const char *name,
                                long long version, char *err, size_t errlen);
/* What a write of d would warn of but the topics (proc_def_warnings, and proc_graph_warnings
 * against the pipelines this instance applies): a new JSON array. */
json_t *proc_api_warnings(struct proc_api *a, const struct proc_def *d);
/* POST /pipelines/{name}/dry-run (ud: the proc_api). */
void proc_dry_run_route(struct cm_http_req *req, void *ud);

#endif
