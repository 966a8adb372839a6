/* defs_internal: what defs.c (store, listener, seeding), defs_history.c (the stored history)
 * and defs_api.c (HTTP) share. */
#ifndef CM_DEFS_INTERNAL_H
#define CM_DEFS_INTERNAL_H

#include "cm/defs.h"

#include <pthread.h>
#include <stdint.h>

struct cm_pg;
struct cm_pg_follower;
struct cm_pg_pool;
struct cm_series;

struct defs_entry {
    char *name;
    long long version;    /* the newest version seen */
    json_t *doc;          /* the document in force; NULL when deleted or never valid */
    long long in_force;   /* its version (0: none) */
    long long rejected;   /* the newest version this instance refused (0: none since in_force) */
    char *rejected_error; /* why */
};

struct cm_defs {
    struct cm_defs_kind kind;
    char *kind_name, *singular;
    char *url;
    struct cm_pg_pool *pool;         /* API and seeding; NULL without a store */
    struct cm_pg_follower *follower; /* applies the changes announced (cm_pg_follow) */
    int migrated;
    pthread_mutex_t lock; /* entries */
    struct defs_entry *e;
    size_t n;
    struct cm_series *m_applied, *m_rejected;
    struct cm_series *m_refused; /* names whose newest version this instance refuses */
    struct cm_metrics *metrics;  /* borrowed; NULL: none */
    struct cm_swap *auth;
    char *scope;
};

/* A write's precondition and outcome. */
struct defs_write {
    const char *if_match;      /* "\"3\"", "\"2\", \"3\"", "*" or NULL */
    const char *if_none_match; /* "*", "\"3\"", a list, or NULL */
    const char *source;        /* "api" or "file:<sha256>" */
    const char *author;        /* token subject; may be NULL */
    int reset;
    int skip_if_source_seen; /* seeding: nothing when this source was applied before */
    /* out */
    long long version; /* the version now in force (0: none) */
    int created;       /* the name had no live version before */
    int unchanged;     /* the same document was in force: nothing written */
};

/* Stores doc (NULL: a deletion) as the next version of name. Returns 200, 201 (created), 204
 * (deleted), 404 (deleting what does not exist), 409 (the kind's check refuses it against the
 * other definitions), 412 (precondition failed; w->version is the current one) or 503 (database
 * unreachable), with a reason in msg for the errors ("field: reason" for 409). */
int defs_store_write(struct cm_defs *d, const char *name, const json_t *doc, struct defs_write *w,
                     char *msg, size_t msglen);
/* Runs a read on a pooled connection: the result (caller frees) or NULL when the store is
 * unreachable or the statement failed. */
struct cm_pg_result *defs_query(struct cm_defs *d, const char *sql, int nparams,
                                const char *const *params);
/* History of name: [{"version", "created_at", "author", "source", "deleted"}], or NULL with
 * *status 404 or 503. */
json_t *defs_store_versions(struct cm_defs *d, const char *name, int *status);
/* One version's document ({"version", "created_at", "definition"|null}), or NULL (404/503). */
json_t *defs_store_version(struct cm_defs *d, const char *name, long long version, int *status);

/* What this instance makes of name's stored version `version`, when it refused it (a version
 * stored by a release that accepts what this one does not, or written into the table by hand):
 * {"version": N, "error": "..."}, with the version in force here in *in_force (0: none). NULL
 * when this instance has not refused that version or a newer one. */
json_t *defs_rejection(struct cm_defs *d, const char *name, long long version, long long *in_force);

/* The kind's warnings about doc, a definition of name, against the others applied here (a new
 * JSON array, or NULL for none). */
json_t *defs_warnings(struct cm_defs *d, const json_t *doc, const char *name);
/* Validates doc as a definition of name; NULL or the reason in err (compiled one released). */
int defs_validate(struct cm_defs *d, const json_t *doc, const char *name, char *err, size_t errlen);

#endif
