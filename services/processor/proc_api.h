/* proc_api: the processor's pipelines as definitions of the suite's one definitions mechanism
 * (cm/defs.h, kind "pipelines"): validated by proc_def, stored with every version in PostgreSQL,
 * handed to proc_host as they change on any instance; PROCESSOR_PIPELINES_DIR seeds them; HTTP
 * `GET /pipelines`, `GET/PUT/DELETE /pipelines/{name}`, `POST /pipelines/{name}/dry-run`
 * (runs the stored definition, or one given in the body, over the body's events and answers
 * the results without producing anything) and `GET /pipelines/{name}/windows?key=` (a key's
 * windows as the checkpoints hold them, proc_query.h). */
#ifndef PROC_API_H
#define PROC_API_H

struct cm_http_server;
struct cm_metrics;
struct cm_swap;
struct proc_fleet;
struct proc_api;

/* The topics a pipeline reads and writes when it names none, and where every pipeline's late
 * events and (by default) dead letters go. */
struct proc_api_topics {
    const char *events, *derived, *late, *dlq;
};

/* database_url NULL: definitions come only from the directory (the API is read-only). fleet
 * borrowed. A windowed pipeline may not read the late topic, where its late events go, nor close
 * a cycle of topics with the other pipelines (409, proc_graph). Caller frees with
 * proc_api_free. */
struct proc_api *proc_api_new(const char *database_url, struct proc_fleet *fleet,
                              const struct proc_api_topics *topics, struct cm_metrics *metrics);
/* Seeds the definitions of dir's *.json files, in name order (cm_defs_seed). 0 or a negative
 * code after logging. Before proc_api_start. */
int proc_api_load_dir(struct proc_api *a, const char *dir);
/* Reads the stored definitions (handing them to the host) and follows their changes. */
int proc_api_start(struct proc_api *a);
/* auth: a cm_swap of cm_auth, or NULL (no authentication); every route needs scope. state: the
 * Redis of the window state (borrowed; a connection of its own), read by
 * `GET /pipelines/{name}/windows?key=` (proc_query.h); NULL: that route answers 503. */
struct cm_redis;
void proc_api_routes(struct proc_api *a, struct cm_http_server *srv, struct cm_swap *auth,
                     const char *scope, struct cm_redis *state);
void proc_api_free(struct proc_api *a);

#endif
