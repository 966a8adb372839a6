/* reg_store_compat: a schema against a subject's stored versions: loading them (with what their
 * references define) and asking reg_compat_check under the subject's level. The SQL layer
 * (reg_store.c) calls it inside a registration's transaction. */
#include "reg_store_int.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- compatibility against stored versions ---- */

/* Loads the subject's live versions (newest first), or just `version` when > 0. What their own
 * references define is added to `named`, so compatibility sees both sides' references. */
enum reg_status store_load_versions(struct cm_pg *pg, const char *subject, int version,
                                    json_t *named, struct reg_schema **out, size_t *n)
{
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", version);
    const char *p[] = {subject, vbuf};
    struct cm_pg_result *res;
    int rc = store_run(
        pg,
        "SELECT s.schema_type, s.schema_text, s.references_json::text FROM subject_versions sv"
        " JOIN schemas s ON s.id = sv.schema_id WHERE sv.subject = $1 AND NOT sv.deleted"
        " AND ($2::int <= 0 OR sv.version = $2::int) ORDER BY sv.version DESC",
        2, p, &res);
    if (rc != 0) {
        *out = NULL;
        *n = 0;
        return rc;
    }
    *n = (size_t)cm_pg_ntuples(res);
    *out = cm_xcalloc(*n ? *n : 1, sizeof(**out));
    enum reg_status status = REG_OK;
    for (size_t i = 0; i < *n && status == REG_OK; i++) {
        enum reg_type t = REG_AVRO;
        reg_type_parse(cm_pg_value(res, (int)i, 0), &t);
        json_t *refs = json_loads(cm_pg_value(res, (int)i, 2), 0, NULL);
        char err[128];
        if (named && json_array_size(refs) > 0) {
            /* a database failure here must not leave this version out of the check */
            enum reg_status s = store_resolve_refs(pg, refs, named, 0, err, sizeof(err));
            status = reg_store_failed(s) ? s : REG_OK;
        }
        if (reg_schema_parse(t, cm_pg_value(res, (int)i, 1), refs, named, 0, &(*out)[i], err,
                             sizeof(err)) != 0) {
            CM_LOG_WARN("registry_stored_schema_invalid", "%s: %s", subject, err);
        }
        json_decref(refs);
    }
    cm_pg_result_free(res);
    return status;
}

void store_free_versions(struct reg_schema *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        reg_schema_clear(&v[i]);
    }
    free(v);
}

/* Compatible with the given stored schemas under level? Only schemas that parsed take part. */
int store_compat_with(struct reg_store *st, enum reg_level level, const struct reg_schema *s,
                      struct reg_schema *versions, size_t n, const json_t *named, json_t *messages)
{
    const struct reg_schema **ptrs = cm_xcalloc(n ? n : 1, sizeof(*ptrs));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (versions[i].parsed) {
            ptrs[k++] = &versions[i];
        }
    }
    int ok = reg_compat_check(level, s, ptrs, k, named, st->json_lenient, messages);
    free(ptrs);
    return ok;
}

enum reg_status reg_store_test_compat(struct reg_store *st, const char *subject, int version,
                                      const struct reg_schema *s, json_t *named, int *compatible,
                                      json_t *messages)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    enum reg_status status = REG_OK;
    enum reg_level level;
    struct reg_schema *versions = NULL;
    size_t n = 0;
    int target = version;
    if (version != 0) {
        struct reg_version v = {0};
        status = store_get_version(pg, subject, version, 0, &v);
        target = v.version;
        reg_version_clear(&v);
    } else {
        int live = 0, dead = 0;
        int rc = store_subject_state(pg, subject, &live, &dead);
        status = rc != 0 ? (enum reg_status)rc : live == 0 ? REG_E_SUBJECT_NOT_FOUND : REG_OK;
    }
    if (status == REG_OK) {
        status = store_effective_level(pg, subject, &level);
    }
    if (status == REG_OK) {
        status = store_load_versions(pg, subject, target, named, &versions, &n);
    }
    store_give(st, pg);
    if (status == REG_OK) {
        if (version != 0 && level != REG_NONE) {
            /* one given version: the level's direction(s), not transitive */
            level = level == REG_BACKWARD_TRANSITIVE  ? REG_BACKWARD
                    : level == REG_FORWARD_TRANSITIVE ? REG_FORWARD
                    : level == REG_FULL_TRANSITIVE    ? REG_FULL
                                                      : level;
        }
        *compatible = store_compat_with(st, level, s, versions, n, named, messages);
    }
    store_free_versions(versions, n);
    return status;
}
