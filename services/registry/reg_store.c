/* reg_store: SQL behind the registry API (see reg_store.h). Each operation borrows one pool
 * connection; registration and deletes run in a transaction under a per-subject advisory lock. */
#include "reg_store_int.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "CREATE TABLE registry_config (subject text PRIMARY KEY, compatibility text NOT NULL)",
    "CREATE TABLE registry_mode (subject text PRIMARY KEY, mode text NOT NULL)",
    "CREATE INDEX schemas_references ON schemas USING gin (references_json jsonb_path_ops)",
    /* Every change of a subject's versions (registered, imported, deleted softly or for good)
     * is announced on channel registry_subjects with the subject as its payload, sent when the
     * transaction commits: the gateway refreshes its cached schema at once instead of after its
     * TTL. A subject too long for a payload (8,000 bytes) is announced as '': any subject.
     * Deletes are announced on registry_deletes too, for the other registry instances' caches. */
    ("CREATE FUNCTION registry_subject_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
     " DECLARE s text := CASE WHEN TG_OP = 'DELETE' THEN OLD.subject ELSE NEW.subject END;"
     " BEGIN"
     " IF octet_length(s) >= 7900 THEN s := ''; END IF;"
     " PERFORM pg_notify('registry_subjects', s);"
     " IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('registry_deletes', s); END IF;"
     " RETURN NULL;"
     " END $$"),
    ("CREATE TRIGGER subject_versions_changed AFTER INSERT OR UPDATE OR DELETE ON subject_versions"
     " FOR EACH ROW EXECUTE FUNCTION registry_subject_changed()"),
};

struct reg_store *reg_store_new(struct cm_pg_pool *pool, int timeout_ms, int json_lenient)
{
    struct reg_store *st = cm_xcalloc(1, sizeof(*st));
    st->pool = pool;
    st->timeout_ms = timeout_ms;
    st->json_lenient = json_lenient;
    return st;
}

void reg_store_free(struct reg_store *st)
{
    free(st);
}

void reg_version_clear(struct reg_version *v)
{
    free(v->subject);
    free(v->schema);
    json_decref(v->references);
    memset(v, 0, sizeof(*v));
}

/* ---- connection and query helpers ---- */

struct cm_pg *store_take(struct reg_store *st)
{
    struct cm_pg *pg = cm_pg_pool_acquire(st->pool, st->timeout_ms);
    if (!pg) {
        CM_LOG_WARN("registry_pool_exhausted", "no database connection within %d ms",
                    st->timeout_ms);
    }
    return pg;
}

void store_give(struct reg_store *st, struct cm_pg *pg)
{
    if (pg) {
        cm_pg_pool_release(st->pool, pg);
    }
}

/* Runs a statement; 0, or REG_E_TIMEOUT or REG_E_BACKEND (logged). PostgreSQL's own deadlines
 * (statement_timeout: 57014, lock_timeout: 55P03) count as timeouts too. */
int store_run(struct cm_pg *pg, const char *sql, int n, const char *const *params,
              struct cm_pg_result **res)
{
    struct cm_pg_error err;
    int rc = cm_pg_exec(pg, sql, n, params, res, &err);
    if (rc != 0) {
        CM_LOG_ERROR("registry_query_failed", "%s", err.message);
        return err.timed_out || strcmp(err.sqlstate, "57014") == 0 ||
                       strcmp(err.sqlstate, "55P03") == 0
                   ? REG_E_TIMEOUT
                   : REG_E_BACKEND;
    }
    return 0;
}

static void rollback(struct cm_pg *pg)
{
    cm_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, NULL);
}

static int begin_locked(struct cm_pg *pg, const char *subject)
{
    int rc = store_run(pg, "BEGIN", 0, NULL, NULL);
    const char *p[] = {subject};
    if (rc == 0) {
        rc = store_run(pg, "SELECT pg_advisory_xact_lock(hashtext('registry:' || $1))", 1, p, NULL);
        if (rc != 0) {
            rollback(pg);
        }
    }
    return rc;
}

static int commit(struct cm_pg *pg)
{
    int rc = store_run(pg, "COMMIT", 0, NULL, NULL);
    if (rc != 0) {
        rollback(pg);
    }
    return rc;
}

int reg_store_migrate(struct reg_store *st)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return CM_E_UNAVAIL;
    }
    int rc = cm_pg_migrate(pg, "registry", migrations, sizeof(migrations) / sizeof(migrations[0]));
    store_give(st, pg);
    return rc;
}

static json_t *column_array(struct cm_pg_result *res, int as_int)
{
    json_t *arr = json_array();
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        const char *v = cm_pg_value(res, i, 0);
        json_array_append_new(arr, as_int ? json_integer(atoll(v)) : json_string(v));
    }
    return arr;
}

static void fill_version(struct cm_pg_result *res, int row, struct reg_version *out)
{
    /* columns: subject, version, id, schema_type, schema_text, references_json, deleted */
    const char *subject = cm_pg_value(res, row, 0);
    out->subject = subject ? cm_xstrdup(subject) : NULL;
    out->version = cm_pg_value(res, row, 1) ? atoi(cm_pg_value(res, row, 1)) : 0;
    out->id = atoi(cm_pg_value(res, row, 2));
    reg_type_parse(cm_pg_value(res, row, 3), &out->type);
    out->schema = cm_xstrdup(cm_pg_value(res, row, 4));
    out->references = json_loads(cm_pg_value(res, row, 5), 0, NULL);
    if (!out->references) {
        out->references = json_array();
    }
    const char *d = cm_pg_value(res, row, 6);
    out->deleted = d && d[0] == 't';
}

#define VERSION_COLUMNS                                                                            \
    "sv.subject, sv.version, s.id, s.schema_type, s.schema_text, s.references_json::text, "        \
    "sv.deleted"

/* Does the subject have any rows, live ones, soft-deleted ones? */
int store_subject_state(struct cm_pg *pg, const char *subject, int *live, int *dead)
{
    const char *p[] = {subject};
    struct cm_pg_result *res;
    int rc = store_run(pg,
                       "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted)"
                       " FROM subject_versions WHERE subject = $1",
                       1, p, &res);
    if (rc == 0) {
        *live = atoi(cm_pg_value(res, 0, 0));
        *dead = atoi(cm_pg_value(res, 0, 1));
        cm_pg_result_free(res);
    }
    return rc;
}

/* ---- reads ---- */

enum reg_status reg_store_list_subjects(struct reg_store *st, const char *prefix,
                                        int include_deleted, json_t **out)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    const char *p[] = {prefix ? prefix : "", include_deleted ? "true" : "false"};
    struct cm_pg_result *res;
    int rc = store_run(pg,
                       "SELECT subject FROM subject_versions WHERE starts_with(subject, $1)"
                       " AND ($2::boolean OR NOT deleted) GROUP BY subject ORDER BY subject",
                       2, p, &res);
    store_give(st, pg);
    if (rc != 0) {
        return rc;
    }
    *out = column_array(res, 0);
    cm_pg_result_free(res);
    return REG_OK;
}

enum reg_status reg_store_list_versions(struct reg_store *st, const char *subject,
                                        int include_deleted, json_t **out)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    const char *p[] = {subject, include_deleted ? "true" : "false"};
    struct cm_pg_result *res;
    int rc = store_run(pg,
                       "SELECT version FROM subject_versions WHERE subject = $1"
                       " AND ($2::boolean OR NOT deleted) ORDER BY version",
                       2, p, &res);
    store_give(st, pg);
    if (rc != 0) {
        return rc;
    }
    int n = cm_pg_ntuples(res);
    *out = n ? column_array(res, 1) : NULL;
    cm_pg_result_free(res);
    return n ? REG_OK : REG_E_SUBJECT_NOT_FOUND;
}

enum reg_status store_get_version(struct cm_pg *pg, const char *subject, int version,
                                  int include_deleted, struct reg_version *out)
{
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", version);
    const char *p[] = {subject, vbuf, include_deleted ? "true" : "false"};
    struct cm_pg_result *res;
    int rc = store_run(pg,
                       "SELECT " VERSION_COLUMNS " FROM subject_versions sv JOIN schemas s"
                       " ON s.id = sv.schema_id WHERE sv.subject = $1"
                       " AND ($2::int = -1 OR sv.version = $2::int)"
                       " AND ($3::boolean OR NOT sv.deleted OR $2::int <> -1)"
                       " ORDER BY (sv.deleted AND $2::int = -1), sv.version DESC LIMIT 1",
                       3, p, &res);
    if (rc != 0) {
        return rc;
    }
    enum reg_status status = REG_OK;
    if (cm_pg_ntuples(res) == 0) {
        int live = 0, dead = 0;
        rc = store_subject_state(pg, subject, &live, &dead);
        status = rc != 0            ? (enum reg_status)rc
                 : live + dead == 0 ? REG_E_SUBJECT_NOT_FOUND
                                    : REG_E_VERSION_NOT_FOUND;
    } else {
        fill_version(res, 0, out);
        if (out->deleted && !include_deleted) {
            reg_version_clear(out);
            status = REG_E_VERSION_NOT_FOUND;
        }
    }
    cm_pg_result_free(res);
    return status;
}

enum reg_status reg_store_get_version(struct reg_store *st, const char *subject, int version,
                                      int include_deleted, struct reg_version *out)
{
    memset(out, 0, sizeof(*out));
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    enum reg_status s = store_get_version(pg, subject, version, include_deleted, out);
    store_give(st, pg);
    return s;
}

enum reg_status reg_store_get_schema(struct reg_store *st, int id, struct reg_version *out)
{
    memset(out, 0, sizeof(*out));
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    char ibuf[16];
    snprintf(ibuf, sizeof(ibuf), "%d", id);
    const char *p[] = {ibuf};
    struct cm_pg_result *res;
    int rc =
        store_run(pg,
                  "SELECT NULL, NULL, s.id, s.schema_type, s.schema_text, s.references_json::text,"
                  " false FROM schemas s WHERE s.id = $1",
                  1, p, &res);
    store_give(st, pg);
    if (rc != 0) {
        return rc;
    }
    enum reg_status status = cm_pg_ntuples(res) ? REG_OK : REG_E_SCHEMA_NOT_FOUND;
    if (status == REG_OK) {
        fill_version(res, 0, out);
    }
    cm_pg_result_free(res);
    return status;
}

enum reg_status reg_store_schema_usage(struct reg_store *st, int id, int versions,
                                       int include_deleted, json_t **out)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    char ibuf[16];
    snprintf(ibuf, sizeof(ibuf), "%d", id);
    const char *p[] = {ibuf, include_deleted ? "true" : "false"};
    struct cm_pg_result *res, *exists = NULL;
    int rc = store_run(pg, "SELECT 1 FROM schemas WHERE id = $1", 1, p, &exists);
    if (rc == 0) {
        rc = store_run(pg,
                       "SELECT subject, version FROM subject_versions WHERE schema_id = $1"
                       " AND ($2::boolean OR NOT deleted) ORDER BY subject, version",
                       2, p, &res);
    }
    store_give(st, pg);
    if (rc != 0) {
        cm_pg_result_free(exists); /* (when the second statement failed) */
        return rc;
    }
    int found = cm_pg_ntuples(exists) > 0;
    cm_pg_result_free(exists);
    if (!found) {
        cm_pg_result_free(res);
        return REG_E_SCHEMA_NOT_FOUND;
    }
    json_t *arr = json_array();
    for (int i = 0; i < cm_pg_ntuples(res); i++) {
        const char *subject = cm_pg_value(res, i, 0);
        if (versions) {
            json_array_append_new(arr, json_pack("{s:s, s:i}", "subject", subject, "version",
                                                 atoi(cm_pg_value(res, i, 1))));
        } else if (json_array_size(arr) == 0 ||
                   strcmp(json_string_value(json_array_get(arr, json_array_size(arr) - 1)),
                          subject) != 0) {
            json_array_append_new(arr, json_string(subject));
        }
    }
    cm_pg_result_free(res);
    *out = arr;
    return REG_OK;
}

static int referenced_ids(struct cm_pg *pg, const char *subject, int version,
                          struct cm_pg_result **res)
{
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", version);
    const char *p[] = {subject, vbuf};
    return store_run(
        pg,
        "SELECT DISTINCT s.id FROM schemas s JOIN subject_versions sv ON sv.schema_id = s.id"
        " AND NOT sv.deleted WHERE s.references_json @> jsonb_build_array("
        "jsonb_build_object('subject', $1::text, 'version', $2::int)) ORDER BY s.id",
        2, p, res);
}

enum reg_status reg_store_referenced_by(struct reg_store *st, const char *subject, int version,
                                        json_t **out)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    struct reg_version v;
    enum reg_status s = store_get_version(pg, subject, version, 0, &v);
    struct cm_pg_result *res = NULL;
    if (s == REG_OK) {
        s = referenced_ids(pg, subject, v.version, &res);
        reg_version_clear(&v);
    }
    store_give(st, pg);
    if (s == REG_OK) {
        *out = column_array(res, 1);
        cm_pg_result_free(res);
    }
    return s;
}

static enum reg_status lookup(struct cm_pg *pg, const char *subject, const struct reg_schema *s,
                              int include_deleted, struct reg_version *out)
{
    const char *p[] = {subject, s->hash_hex, reg_type_name(s->type),
                       include_deleted ? "true" : "false"};
    struct cm_pg_result *res;
    int rc =
        store_run(pg,
                  "SELECT " VERSION_COLUMNS " FROM subject_versions sv JOIN schemas s"
                  " ON s.id = sv.schema_id WHERE sv.subject = $1"
                  " AND s.canonical_hash = decode($2, 'hex') AND s.schema_type = $3"
                  " AND ($4::boolean OR NOT sv.deleted) ORDER BY sv.deleted, sv.version LIMIT 1",
                  4, p, &res);
    if (rc != 0) {
        return rc;
    }
    enum reg_status status = REG_OK;
    if (cm_pg_ntuples(res) == 0) {
        int live = 0, dead = 0;
        rc = store_subject_state(pg, subject, &live, &dead);
        status = rc != 0                                    ? (enum reg_status)rc
                 : live + (include_deleted ? dead : 0) == 0 ? REG_E_SUBJECT_NOT_FOUND
                                                            : REG_E_SCHEMA_NOT_FOUND;
    } else {
        fill_version(res, 0, out);
    }
    cm_pg_result_free(res);
    return status;
}

enum reg_status reg_store_lookup(struct reg_store *st, const char *subject,
                                 const struct reg_schema *s, int include_deleted,
                                 struct reg_version *out)
{
    memset(out, 0, sizeof(*out));
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    enum reg_status status = lookup(pg, subject, s, include_deleted, out);
    store_give(st, pg);
    return status;
}

/* ---- registration ---- */

static enum reg_status insert_schema(struct cm_pg *pg, const struct reg_schema *s, int import_id,
                                     int *id)
{
    char *refs = json_dumps(s->references, JSON_COMPACT);
    char ibuf[16];
    snprintf(ibuf, sizeof(ibuf), "%d", import_id);
    const char *p[] = {reg_type_name(s->type), s->text, s->hash_hex, refs, ibuf};
    struct cm_pg_result *res = NULL;
    int rc;
    if (import_id > 0) {
        const char *q[] = {reg_type_name(s->type), s->hash_hex, ibuf};
        rc = store_run(
            pg,
            "SELECT id, canonical_hash = decode($2, 'hex') AND schema_type = $1 FROM schemas"
            " WHERE id = $3::int OR (schema_type = $1 AND canonical_hash = decode($2, 'hex'))",
            3, q, &res);
        if (rc == 0 && cm_pg_ntuples(res) > 0) {
            int same =
                cm_pg_value(res, 0, 1)[0] == 't' && atoi(cm_pg_value(res, 0, 0)) == import_id;
            cm_pg_result_free(res);
            free(refs);
            *id = import_id;
            return same ? REG_OK : REG_E_ID_MISMATCH;
        }
        cm_pg_result_free(res);
        res = NULL;
        if (rc == 0) {
            rc =
                store_run(pg,
                          "INSERT INTO schemas (id, schema_type, schema_text, canonical_hash,"
                          " references_json) VALUES ($5::int, $1, $2, decode($3, 'hex'), $4::jsonb)"
                          " RETURNING id",
                          5, p, &res);
        }
        if (rc == 0) {
            store_run(pg,
                      "SELECT setval('schemas_id_seq', GREATEST((SELECT max(id) FROM schemas), 1))",
                      0, NULL, NULL);
        }
    } else {
        rc = store_run(
            pg,
            "INSERT INTO schemas (schema_type, schema_text, canonical_hash, references_json)"
            " VALUES ($1, $2, decode($3, 'hex'), $4::jsonb)"
            " ON CONFLICT (schema_type, canonical_hash) DO NOTHING RETURNING id",
            4, p, &res);
        if (rc == 0 && cm_pg_ntuples(res) == 0) { /* known already, maybe from another subject */
            cm_pg_result_free(res);
            const char *q[] = {reg_type_name(s->type), s->hash_hex};
            rc = store_run(pg,
                           "SELECT id FROM schemas WHERE schema_type = $1 AND"
                           " canonical_hash = decode($2, 'hex')",
                           2, q, &res);
        }
    }
    free(refs);
    if (rc != 0) {
        return rc;
    }
    *id = atoi(cm_pg_value(res, 0, 0));
    cm_pg_result_free(res);
    return REG_OK;
}

enum reg_status reg_store_register(struct reg_store *st, const char *subject,
                                   const struct reg_schema *s, json_t *named, int import_id,
                                   int import_version, int *id, int *version, json_t *messages)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    int locked = begin_locked(pg, subject);
    if (locked != 0) {
        store_give(st, pg);
        return locked;
    }
    enum reg_status status;
    char mode[32];
    struct reg_version existing = {0};
    struct reg_schema *versions = NULL;
    size_t n = 0;
    enum reg_level level;
    status = store_effective_mode(pg, subject, mode, sizeof(mode));
    if (status == REG_OK &&
        (strcmp(mode, "READONLY") == 0 || (import_id > 0 && strcmp(mode, "IMPORT") != 0))) {
        status = REG_E_NOT_PERMITTED; /* ids are only given in IMPORT mode */
    }
    if (status == REG_OK) {
        status = lookup(pg, subject, s, 0, &existing);
        if (status == REG_OK) { /* already registered here: answer as the first time */
            *id = existing.id;
            *version = existing.version;
            reg_version_clear(&existing);
            status = commit(pg);
            store_give(st, pg);
            return status;
        }
        status = reg_store_failed(status) ? status : REG_OK;
    }
    if (status == REG_OK && strcmp(mode, "IMPORT") != 0) {
        status = store_effective_level(pg, subject, &level);
        if (status == REG_OK) {
            status = store_load_versions(pg, subject, 0, named, &versions, &n);
        }
        if (status == REG_OK && !store_compat_with(st, level, s, versions, n, named, messages)) {
            status = REG_E_INCOMPATIBLE;
        }
    }
    if (status == REG_OK) {
        status = insert_schema(pg, s, import_id, id);
    }
    if (status == REG_OK) {
        char ibuf[16], vbuf[16];
        snprintf(ibuf, sizeof(ibuf), "%d", *id);
        snprintf(vbuf, sizeof(vbuf), "%d", import_version);
        const char *p[] = {subject, ibuf, vbuf};
        struct cm_pg_result *res;
        status =
            store_run(pg,
                      "INSERT INTO subject_versions (subject, version, schema_id) SELECT $1,"
                      " CASE WHEN $3::int > 0 THEN $3::int ELSE COALESCE(max(version), 0) + 1"
                      " END, $2::int FROM subject_versions WHERE subject = $1 RETURNING version",
                      3, p, &res);
        if (status == REG_OK) {
            *version = atoi(cm_pg_value(res, 0, 0));
            cm_pg_result_free(res);
        }
    }
    store_free_versions(versions, n);
    if (status == REG_OK) {
        status = commit(pg);
    } else {
        rollback(pg);
    }
    store_give(st, pg);
    return status;
}

/* ---- deletes ---- */

enum reg_status reg_store_delete_subject(struct reg_store *st, const char *subject, int permanent,
                                         json_t **out)
{
    *out = NULL;
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    int locked = begin_locked(pg, subject);
    if (locked != 0) {
        store_give(st, pg);
        return locked;
    }
    int live = 0, dead = 0;
    enum reg_status status = store_subject_state(pg, subject, &live, &dead);
    char mode[32];
    if (status == REG_OK) {
        status = store_effective_mode(pg, subject, mode, sizeof(mode));
    }
    if (status == REG_OK && strcmp(mode, "READONLY") == 0) {
        status = REG_E_NOT_PERMITTED;
    } else if (status == REG_OK && live + dead == 0) {
        status = REG_E_SUBJECT_NOT_FOUND;
    } else if (status == REG_OK && !permanent && live == 0) {
        status = REG_E_SUBJECT_SOFT_DELETED;
    } else if (status == REG_OK && permanent && live > 0) {
        status = REG_E_SUBJECT_NOT_SOFT_DELETED;
    }
    if (status == REG_OK && !permanent) {
        /* refuse when a live version is referenced by another schema */
        const char *p[] = {subject};
        struct cm_pg_result *res;
        status = store_run(
            pg,
            "SELECT 1 FROM subject_versions sv WHERE sv.subject = $1 AND NOT sv.deleted AND"
            " EXISTS (SELECT 1 FROM schemas s JOIN subject_versions u ON u.schema_id = s.id"
            " AND NOT u.deleted WHERE s.references_json @> jsonb_build_array("
            "jsonb_build_object('subject', sv.subject, 'version', sv.version))) LIMIT 1",
            1, p, &res);
        if (status == REG_OK) {
            status = cm_pg_ntuples(res) ? REG_E_REFERENCE_EXISTS : REG_OK;
            cm_pg_result_free(res);
        }
    }
    if (status == REG_OK) {
        const char *p[] = {subject};
        struct cm_pg_result *res;
        const char *sql = permanent
                              ? "DELETE FROM subject_versions WHERE subject = $1"
                                " RETURNING version"
                              : "UPDATE subject_versions SET deleted = true WHERE subject = $1"
                                " AND NOT deleted RETURNING version";
        status = store_run(pg, sql, 1, p, &res);
        if (status == REG_OK) {
            json_t *arr = column_array(res, 1);
            cm_pg_result_free(res);
            /* versions in ascending order, as Confluent lists them */
            size_t cnt = json_array_size(arr);
            for (size_t i = 1; i < cnt; i++) {
                for (size_t j = i; j > 0 && json_integer_value(json_array_get(arr, j - 1)) >
                                                json_integer_value(json_array_get(arr, j));
                     j--) {
                    json_t *a = json_incref(json_array_get(arr, j - 1));
                    json_array_set(arr, j - 1, json_array_get(arr, j));
                    json_array_set_new(arr, j, a);
                }
            }
            *out = arr;
            if (permanent) { /* a failure here voids the whole delete */
                status = store_run(
                    pg,
                    "DELETE FROM schemas s WHERE NOT EXISTS (SELECT 1 FROM subject_versions sv"
                    " WHERE sv.schema_id = s.id)",
                    0, NULL, NULL);
                if (status == REG_OK) {
                    status =
                        store_run(pg, "DELETE FROM registry_config WHERE subject = $1", 1, p, NULL);
                }
                if (status == REG_OK) {
                    status =
                        store_run(pg, "DELETE FROM registry_mode WHERE subject = $1", 1, p, NULL);
                }
            }
        }
    }
    if (status == REG_OK) {
        status = commit(pg);
    } else {
        rollback(pg);
    }
    if (status != REG_OK) {
        json_decref(*out);
        *out = NULL;
    }
    store_give(st, pg);
    return status;
}

enum reg_status reg_store_delete_version(struct reg_store *st, const char *subject, int version,
                                         int permanent, json_t **out)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    int locked = begin_locked(pg, subject);
    if (locked != 0) {
        store_give(st, pg);
        return locked;
    }
    struct reg_version v = {0};
    char mode[32];
    enum reg_status status = store_effective_mode(pg, subject, mode, sizeof(mode));
    if (status == REG_OK && strcmp(mode, "READONLY") == 0) {
        status = REG_E_NOT_PERMITTED;
    }
    if (status == REG_OK) {
        status = store_get_version(pg, subject, version, 1, &v);
    }
    if (status == REG_OK && version == REG_LATEST && v.deleted && !permanent) {
        status = REG_E_VERSION_NOT_FOUND;
    } else if (status == REG_OK && !permanent && v.deleted) {
        status = REG_E_VERSION_SOFT_DELETED;
    } else if (status == REG_OK && permanent && !v.deleted) {
        status = REG_E_VERSION_NOT_SOFT_DELETED;
    }
    struct cm_pg_result *res = NULL;
    if (status == REG_OK && !permanent) {
        status = referenced_ids(pg, subject, v.version, &res);
        if (status == REG_OK) {
            status = cm_pg_ntuples(res) ? REG_E_REFERENCE_EXISTS : REG_OK;
            cm_pg_result_free(res);
        }
    }
    if (status == REG_OK) {
        char vbuf[16];
        snprintf(vbuf, sizeof(vbuf), "%d", v.version);
        const char *p[] = {subject, vbuf};
        const char *sql = permanent
                              ? "DELETE FROM subject_versions WHERE subject = $1 AND version = $2"
                              : "UPDATE subject_versions SET deleted = true WHERE subject = $1"
                                " AND version = $2";
        status = store_run(pg, sql, 2, p, NULL);
        if (status == REG_OK && permanent) {
            status = store_run(pg,
                               "DELETE FROM schemas s WHERE NOT EXISTS (SELECT 1 FROM"
                               " subject_versions sv WHERE sv.schema_id = s.id)",
                               0, NULL, NULL);
        }
    }
    if (status == REG_OK) {
        status = commit(pg);
    } else {
        rollback(pg);
    }
    if (status == REG_OK) {
        *out = json_integer(v.version);
    }
    reg_version_clear(&v);
    store_give(st, pg);
    return status;
}
