/* defs: the one definitions mechanism of the suite (pipelines now; rules, sinks and routes next).
 * A definition is a named JSON document of one kind ("pipelines"). Every change is validated by
 * the kind's parser before it is stored, gets the next version, and is kept: PostgreSQL table
 * `definitions` holds every version (a deletion is a version without a body), so history and
 * rollback are a read away. A trigger NOTIFYs channel `cm_definitions` on every insert; each
 * instance LISTENs on its own connection, reads the new version and hands it to the kind's
 * `changed` callback, so every instance swaps within a moment of the change. After a lost
 * connection (notifications may have been missed) and every 30 s the whole kind is re-read and
 * differences are handed over the same way.
 * HTTP (cm_defs_routes): GET <prefix> lists; GET/PUT/DELETE <prefix>/{name} with ETag (the
 * version, quoted) and If-Match / If-None-Match; GET <prefix>/{name}/versions for history and
 * ?version=N for an old one. Writes need the admin scope. A PUT of the body in force is a no-op
 * (same version), so re-applying a file changes nothing.
 * Files: cm_defs_seed applies a definition read from a file unless that same file content was
 * applied before, so a changed file takes effect while changes made through the API survive
 * restarts. */
#ifndef CM_DEFS_H
#define CM_DEFS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_http_server;
struct cm_metrics;
struct cm_swap;
struct cm_defs;

struct cm_defs_change {
    const char *name;
    long long version;
    void *compiled;     /* ownership passes; NULL when the definition was deleted */
    int64_t created_ms; /* when this version was stored (the store's clock) */
    unsigned flags;     /* CM_DEFS_RESET: the writer asked for the old state to be dropped */
    /* The version that ran before this one: the newest earlier version that this instance's
     * parser takes, back to the last deletion (one refused here, as a version written by a
     * more lenient build, is passed over: it never ran here). For a consumer that starts while
     * an old version may still be finishing its work. For a deletion: the version stored just
     * before, when live and taken. */
    long long prev_version; /* 0: none (the first version, or it follows a deletion) */
    void *prev_compiled;    /* ownership passes (NULL when none) */
    int64_t prev_created_ms;
    unsigned prev_flags;
    /* The version this definition's current run began with: the newest version stored with
     * CM_DEFS_RESET, or else its first version after the last deletion (for a consumer that
     * keeps a position of its own per run, such as a consumer group that starts over). For a
     * deletion: the run it ends. */
    long long since_version;
    int64_t since_created_ms; /* when since_version was stored (a start fixed for the run) */
};

struct cm_defs_kind {
    const char *kind;     /* "pipelines": the table's kind and the path prefix "/pipelines" */
    const char *singular; /* "pipeline", for messages */
    /* Validates a document whose name is `name` and version `version`; returns the compiled
     * definition (opaque to cm_defs) or NULL with "field: reason" in err. Any thread. */
    void *(*parse)(const json_t *doc, const char *name, long long version, char *err, size_t errlen,
                   void *ud);
    void (*release)(void *compiled);
    /* A definition changed (see struct cm_defs_change). Called on the listener thread (and on
     * cm_defs_start's caller before it returns), in version order per name. */
    void (*changed)(const struct cm_defs_change *c, void *ud);
    /* Optional: the running state of a definition for GET (a new JSON object, or NULL). */
    json_t *(*status)(const char *name, void *ud);
    void *ud;
    /* Optional: checks a valid document of `name` against the other live definitions of the kind
     * (`others`: an object, name -> document, the new one left out), as a pipeline must not close
     * a cycle of topics with the others. Returns 0, or nonzero with "field: reason" in err: the
     * write is refused with 409. Writes of a kind with a check are serialised (one PostgreSQL
     * advisory lock per kind), and `others` is read in the write's transaction, so two writers
     * never each pass a check the other's write would fail. Any thread. */
    int (*check)(const json_t *doc, const char *name, const json_t *others, char *err,
                 size_t errlen, void *ud);
    /* Optional: what looks wrong about a document just written through the API without
     * stopping it from running (a topic the cluster does not know: a typo, or one not created
     * yet), as a JSON array of strings (a new reference, or NULL for none), answered with the
     * write as "warnings"; `others` as for check, the definitions this instance applies.
     * Called on the HTTP thread after the write, and for each valid file seeded
     * (cm_defs_seed), whose warnings only the kind's own log shows. */
    json_t *(*warnings)(const json_t *doc, const char *name, const json_t *others, void *ud);
    /* Optional: checks a new version against the one it replaces (`cur`, the newest live
     * version), as a member that may change only when the writer asks for the old state to be
     * dropped (`reset`). Returns 0, or nonzero with "field: reason" in err: the write is refused
     * with 409. Any thread. */
    int (*successor)(const json_t *cur, const json_t *doc, int reset, char *err, size_t errlen,
                     void *ud);
};

#define CM_DEFS_RESET 1u

/* kind is copied (its callbacks and ud borrowed for the life of the cm_defs). database_url NULL
 * means no store: definitions come only from cm_defs_seed and the API is read-only. */
struct cm_defs *cm_defs_new(const char *database_url, const struct cm_defs_kind *kind,
                            struct cm_metrics *metrics);
/* Stores a file's definition (see above). Before cm_defs_start. Returns 0, or CM_E_INVAL with
 * the reason logged (invalid document, or one the kind's check refuses), CM_E_UNAVAIL (database
 * unreachable; logged). */
int cm_defs_seed(struct cm_defs *d, const char *path);
/* cm_defs_seed for every *.json file of dir in name order (the setting's name `var` in errors);
 * stops at the first failure and returns it. */
int cm_defs_seed_dir(struct cm_defs *d, const char *dir, const char *var);
/* Creates the table (a migration), reads every current definition (changed is called for
 * each before it returns) and starts the listener. Returns 0, CM_E_UNAVAIL or CM_E_INVAL. */
int cm_defs_start(struct cm_defs *d);
/* Routes <prefix>, <prefix>/{name}, <prefix>/{name}/versions. auth: a cm_swap of cm_auth
 * (NULL: no authentication); writes and reads need `scope`. */
void cm_defs_routes(struct cm_defs *d, struct cm_http_server *srv, struct cm_swap *auth,
                    const char *scope);
/* A copy of the current document of name (caller decrefs) with its version, or NULL. */
json_t *cm_defs_document(struct cm_defs *d, const char *name, long long *version);
/* The documents this instance applies, name -> document (a new object; name's left out, NULL
 * for none left out), as the kind's check and warnings see them. */
json_t *cm_defs_others(struct cm_defs *d, const char *name);
/* Stops the listener; frees everything. */
void cm_defs_free(struct cm_defs *d);

#endif
