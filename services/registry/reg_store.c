/* reg_store: registry tables and queries over the PostgreSQL pool (see reg_store.h). */
#include "reg_store.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/pg.h"

#include <stdio.h>
#include <stdlib.h>

#define ACQUIRE_TIMEOUT_MS 2000

struct reg_store {
    struct cm_pg_pool *pool;
};

static const char *const migrations[] = {
    "CREATE TABLE schemas ("
    " id serial PRIMARY KEY,"
    " schema_type text NOT NULL DEFAULT 'AVRO',"
    " schema_text text NOT NULL,"
    " canonical_hash bytea NOT NULL,"
    " references_json jsonb NOT NULL DEFAULT '[]',"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (schema_type, canonical_hash))",
    "CREATE TABLE subject_versions ("
    " subject text NOT NULL,"
    " version int NOT NULL,"
    " schema_id int NOT NULL REFERENCES schemas (id),"
    " deleted boolean NOT NULL DEFAULT false,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (subject, version))",
    "CREATE INDEX subject_versions_schema ON subject_versions (schema_id)",
};

struct reg_store *reg_store_new(struct cm_pg_pool *pool)
{
    struct reg_store *st = cm_xcalloc(1, sizeof(*st));
    st->pool = pool;
    return st;
}

void reg_store_free(struct reg_store *st)
{
    free(st);
}

int reg_store_migrate(struct reg_store *st)
{
    struct cm_pg *pg = cm_pg_pool_acquire(st->pool, ACQUIRE_TIMEOUT_MS);
    if (!pg) {
        return CM_E_UNAVAIL;
    }
    int rc = cm_pg_migrate(pg, "registry", migrations, sizeof(migrations) / sizeof(migrations[0]));
    cm_pg_pool_release(st->pool, pg);
    return rc;
}

int reg_store_list_subjects(struct reg_store *st, const char *prefix, int include_deleted,
                            json_t **out)
{
    *out = NULL;
    struct cm_pg *pg = cm_pg_pool_acquire(st->pool, ACQUIRE_TIMEOUT_MS);
    if (!pg) {
        return CM_E_UNAVAIL;
    }
    const char *params[] = {prefix ? prefix : "", include_deleted ? "true" : "false"};
    struct cm_pg_result *res = NULL;
    struct cm_pg_error err;
    int rc = cm_pg_exec(pg,
                        "SELECT subject FROM subject_versions"
                        " WHERE starts_with(subject, $1) AND ($2::boolean OR NOT deleted)"
                        " GROUP BY subject ORDER BY subject",
                        2, params, &res, &err);
    cm_pg_pool_release(st->pool, pg);
    if (rc != 0) {
        CM_LOG_ERROR("registry_query_failed", "list subjects: %s", err.message);
        return rc == CM_E_INVAL ? CM_E_INTERNAL : rc;
    }
    json_t *arr = json_array();
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        json_array_append_new(arr, json_string(cm_pg_value(res, i, 0)));
    }
    cm_pg_result_free(res);
    *out = arr;
    return 0;
}

int reg_store_check(void *st, char *why, size_t len)
{
    struct reg_store *s = st;
    struct cm_pg *pg = cm_pg_pool_acquire(s->pool, ACQUIRE_TIMEOUT_MS);
    if (!pg) {
        snprintf(why, len, "no free database connection");
        return CM_E_UNAVAIL;
    }
    int rc = cm_pg_ping(pg, why, len);
    cm_pg_pool_release(s->pool, pg);
    return rc;
}
