/* reg_store: the registry's PostgreSQL storage and the operations of the REST API on it:
 * schemas with global ids deduplicated by hash, subject versions with soft and permanent deletes,
 * compatibility levels and modes (global and per subject), references.
 * Registration takes a per-subject advisory lock inside its transaction, so several registry
 * instances over one database assign one id per distinct schema and consecutive versions.
 * Thread-safe: every call borrows a connection from the pool. Results are enum reg_status values
 * whose numbers are Confluent's error codes: a database that did not answer within the pool's
 * statement deadline (REGISTRY_STORE_TIMEOUT), or a pool with no free connection within that
 * long, is 50002 (Confluent's operation timeout); any other database failure is 50001. */
#ifndef REG_STORE_H
#define REG_STORE_H

#include "reg_schema.h"

#include <jansson.h>
#include <stddef.h>

struct cm_pg_pool;
struct reg_store;

enum reg_status {
    REG_OK = 0,
    REG_E_SUBJECT_NOT_FOUND = 40401,
    REG_E_VERSION_NOT_FOUND = 40402,
    REG_E_SCHEMA_NOT_FOUND = 40403,
    REG_E_SUBJECT_SOFT_DELETED = 40404,
    REG_E_SUBJECT_NOT_SOFT_DELETED = 40405,
    REG_E_VERSION_SOFT_DELETED = 40406,
    REG_E_VERSION_NOT_SOFT_DELETED = 40407,
    REG_E_SUBJECT_LEVEL_NOT_FOUND = 40408,
    REG_E_SUBJECT_MODE_NOT_FOUND = 40409,
    REG_E_INCOMPATIBLE = 409,
    REG_E_INVALID_SCHEMA = 42201,
    REG_E_INVALID_VERSION = 42202,
    REG_E_INVALID_LEVEL = 42203,
    REG_E_INVALID_MODE = 42204,
    REG_E_NOT_PERMITTED = 42205,
    REG_E_REFERENCE_EXISTS = 42206,
    REG_E_ID_MISMATCH = 42207,
    REG_E_BACKEND = 50001, /* the database failed or refused the statement */
    REG_E_TIMEOUT = 50002  /* the database did not answer in time: a write's outcome is unknown */
};

/* Did the store fail (50001, 50002) rather than answer? */
static inline int reg_store_failed(enum reg_status s)
{
    return s >= REG_E_BACKEND;
}

/* A version of a subject as stored. Strings owned; release with reg_version_clear. */
struct reg_version {
    char *subject;
    int version;
    int id;
    enum reg_type type;
    char *schema;
    json_t *references;
    int deleted;
};

#define REG_LATEST (-1)

/* timeout_ms bounds the wait for a free connection of the pool (whose statement deadline should
 * be the same), else REG_E_TIMEOUT. */
struct reg_store *reg_store_new(struct cm_pg_pool *pool, int timeout_ms, int json_lenient);
void reg_store_free(struct reg_store *st);
int reg_store_migrate(struct reg_store *st);
void reg_version_clear(struct reg_version *v);

/* Lists; *out is a new JSON array (caller decrefs). */
enum reg_status reg_store_list_subjects(struct reg_store *st, const char *prefix,
                                        int include_deleted, json_t **out);
enum reg_status reg_store_list_versions(struct reg_store *st, const char *subject,
                                        int include_deleted, json_t **out);
/* One version (REG_LATEST for the newest live one). */
enum reg_status reg_store_get_version(struct reg_store *st, const char *subject, int version,
                                      int include_deleted, struct reg_version *out);
/* A schema by id: fills out->id, type, schema, references (subject NULL, version 0). */
enum reg_status reg_store_get_schema(struct reg_store *st, int id, struct reg_version *out);
/* Subjects ([names]) or subject-versions ([{subject, version}]) that use schema id. */
enum reg_status reg_store_schema_usage(struct reg_store *st, int id, int versions,
                                       int include_deleted, json_t **out);
/* Ids of schemas whose references name subject/version. */
enum reg_status reg_store_referenced_by(struct reg_store *st, const char *subject, int version,
                                        json_t **out);

/* Named Avro types defined by the references (recursively), into `named` (an object). */
enum reg_status reg_store_resolve_references(struct reg_store *st, const json_t *references,
                                             json_t *named, char *err, size_t errlen);

/* Finds the live version of subject holding schema s. */
enum reg_status reg_store_lookup(struct reg_store *st, const char *subject,
                                 const struct reg_schema *s, int include_deleted,
                                 struct reg_version *out);

/* Registers s under subject: returns the existing version when the subject already holds it;
 * otherwise checks compatibility under the subject's level (messages explain a 409), refuses in
 * READONLY mode, and adds a version. `import_id` > 0 (IMPORT mode only) keeps the given id and
 * `import_version` > 0 the given version. Sets *id and *version. */
enum reg_status reg_store_register(struct reg_store *st, const char *subject,
                                   const struct reg_schema *s, json_t *named, int import_id,
                                   int import_version, int *id, int *version, json_t *messages);

/* Checks s against a version (REG_LATEST) or, with version 0, against every live version under
 * the subject's level; *compatible set; messages appended. For both calls, `named` holds what the
 * candidate's references define and is extended with what the stored versions' references define
 * (an object; the caller owns it). */
enum reg_status reg_store_test_compat(struct reg_store *st, const char *subject, int version,
                                      const struct reg_schema *s, json_t *named, int *compatible,
                                      json_t *messages);

/* Deletes; *out receives the deleted versions (array) or version (integer). */
enum reg_status reg_store_delete_subject(struct reg_store *st, const char *subject, int permanent,
                                         json_t **out);
enum reg_status reg_store_delete_version(struct reg_store *st, const char *subject, int version,
                                         int permanent, json_t **out);

/* Compatibility level and mode; subject NULL = global. get: *found 0 when a subject has none. */
enum reg_status reg_store_get_level(struct reg_store *st, const char *subject, enum reg_level *out,
                                    int *found);
enum reg_status reg_store_set_level(struct reg_store *st, const char *subject, enum reg_level l);
enum reg_status reg_store_delete_level(struct reg_store *st, const char *subject);
enum reg_status reg_store_get_mode(struct reg_store *st, const char *subject, const char **mode,
                                   int *found);
enum reg_status reg_store_set_mode(struct reg_store *st, const char *subject, const char *mode,
                                   int force);
enum reg_status reg_store_delete_mode(struct reg_store *st, const char *subject);

#endif
