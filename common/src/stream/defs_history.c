/* defs_history: a definition's stored history, read for the HTTP side (defs_api.c): its
 * versions, one version's document, and the pooled reads they run on. */
#include "defs_internal.h"

#include "cm/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cm_pg_result *defs_query(struct cm_defs *d, const char *sql, int nparams,
                                const char *const *params)
{
    struct cm_pg *pg = cm_pg_pool_acquire(d->pool, 5000);
    struct cm_pg_result *res = NULL;
    if (pg && cm_pg_exec(pg, sql, nparams, params, &res, NULL) != 0) {
        res = NULL;
    }
    if (pg) {
        cm_pg_pool_release(d->pool, pg);
    }
    return res;
}

json_t *defs_store_versions(struct cm_defs *d, const char *name, int *status)
{
    const char *p[] = {d->kind_name, name};
    struct cm_pg_result *res =
        defs_query(d,
                   "SELECT version, to_char(created_at AT TIME ZONE 'UTC',"
                   " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), author, source, body IS NULL,"
                   " reset FROM definitions WHERE kind = $1 AND name = $2 ORDER BY version",
                   2, p);
    if (!res) {
        *status = 503;
        return NULL;
    }
    json_t *out = NULL;
    if (cm_pg_ntuples(res) > 0) {
        out = json_array();
        for (int i = 0; i < cm_pg_ntuples(res); i++) {
            const char *author = cm_pg_value(res, i, 2);
            json_array_append_new(out,
                                  json_pack("{s:I, s:s, s:o, s:s, s:b, s:b}", "version",
                                            (json_int_t)strtoll(cm_pg_value(res, i, 0), NULL, 10),
                                            "created_at", cm_pg_value(res, i, 1), "author",
                                            author ? json_string(author) : json_null(), "source",
                                            cm_pg_value(res, i, 3), "deleted",
                                            strcmp(cm_pg_value(res, i, 4), "t") == 0, "reset",
                                            strcmp(cm_pg_value(res, i, 5), "t") == 0));
        }
    }
    cm_pg_result_free(res);
    *status = out ? 200 : 404;
    return out;
}

json_t *defs_store_version(struct cm_defs *d, const char *name, long long version, int *status)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", version);
    const char *p[] = {d->kind_name, name, v};
    struct cm_pg_result *res = defs_query(
        d, "SELECT body::text FROM definitions WHERE kind = $1 AND name = $2 AND version = $3", 3,
        p);
    if (!res) {
        *status = 503;
        return NULL;
    }
    json_t *out = NULL;
    if (cm_pg_ntuples(res) == 1) {
        const char *body = cm_pg_value(res, 0, 0);
        json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
        out = json_pack("{s:s, s:I, s:o}", "name", name, "version", (json_int_t)version,
                        "definition", doc ? doc : json_null());
    }
    cm_pg_result_free(res);
    *status = out ? 200 : 404;
    return out;
}
