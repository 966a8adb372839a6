/* reg_store_int: what the registry's storage files share (reg_store.c: connections, reads,
 * registration, deletes; reg_store_settings.c: levels and modes; reg_store_compat.c: a schema
 * against stored versions). Not for the API layer: it uses reg_store.h. */
#ifndef REG_STORE_INT_H
#define REG_STORE_INT_H

#include "reg_store.h"

#include <jansson.h>
#include <stddef.h>

struct cm_pg;
struct cm_pg_result;

struct reg_store {
    struct cm_pg_pool *pool;
    int timeout_ms; /* the wait for a free connection */
    int json_lenient;
};

/* A pool connection (NULL after logging when none came in time), and its return. */
struct cm_pg *store_take(struct reg_store *st);
void store_give(struct reg_store *st, struct cm_pg *pg);
/* Runs one statement with text parameters: 0 with *res (caller frees), or REG_E_TIMEOUT or
 * REG_E_BACKEND after logging. */
int store_run(struct cm_pg *pg, const char *sql, int n, const char *const *params,
              struct cm_pg_result **res);
/* Live and soft-deleted version counts of a subject: 0, or store_run's failure. */
int store_subject_state(struct cm_pg *pg, const char *subject, int *live, int *dead);
/* One version of a subject (-1: the latest); a soft-deleted one only with include_deleted. */
enum reg_status store_get_version(struct cm_pg *pg, const char *subject, int version,
                                  int include_deleted, struct reg_version *out);
/* Adds what references define (recursively, by full name) to named. */
enum reg_status store_resolve_refs(struct cm_pg *pg, const json_t *refs, json_t *named, int depth,
                                   char *err, size_t errlen);

/* The level and mode in force for a subject: its own, else the global one, else the default. */
enum reg_status store_effective_level(struct cm_pg *pg, const char *subject, enum reg_level *out);
enum reg_status store_effective_mode(struct cm_pg *pg, const char *subject, char *mode, size_t len);

/* The subject's live versions (newest first), or just `version` when > 0, parsed; what their
 * references define is added to named. Free with store_free_versions. */
enum reg_status store_load_versions(struct cm_pg *pg, const char *subject, int version,
                                    json_t *named, struct reg_schema **out, size_t *n);
void store_free_versions(struct reg_schema *v, size_t n);
/* Whether s is compatible with the given stored versions under level (only those that parsed
 * take part); reasons are appended to messages. */
int store_compat_with(struct reg_store *st, enum reg_level level, const struct reg_schema *s,
                      struct reg_schema *versions, size_t n, const json_t *named, json_t *messages);

#endif
