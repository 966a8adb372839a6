/* reg_store: the registry's PostgreSQL storage: tables for schemas (global ids, deduplicated by a
 * hash of the canonical form) and subject versions, and the queries the REST API needs.
 * Thread-safe: every call borrows a connection from the pool. */
#ifndef REG_STORE_H
#define REG_STORE_H

#include <jansson.h>

struct cm_pg_pool;
struct reg_store;

/* Borrows pool. Caller frees with reg_store_free. */
struct reg_store *reg_store_new(struct cm_pg_pool *pool);
/* Creates or upgrades the tables. 0 or a negative code (logged). */
int reg_store_migrate(struct reg_store *st);
/* Subject names in order, as a new JSON array in *out (caller owns). `prefix` may be NULL;
 * include_deleted lists soft-deleted subjects too. 0 or CM_E_UNAVAIL. */
int reg_store_list_subjects(struct reg_store *st, const char *prefix, int include_deleted,
                            json_t **out);
/* cm_http_check: the database answers. */
int reg_store_check(void *st, char *why, size_t len);
void reg_store_free(struct reg_store *st);

#endif
