/* pg: PostgreSQL connections over libpq with reconnect and backoff, a small pool, results with
 * typed accessors, and versioned schema migrations.
 * A cm_pg is one connection for one thread at a time (take it from a pool, or own it). Results are
 * owned by the caller (cm_pg_result_free). DATABASE_URL is a libpq URI or key=value string. */
#ifndef CM_PG_H
#define CM_PG_H

#include <jansson.h>
#include <stddef.h>

struct cm_pg;
struct cm_pg_pool;
struct cm_pg_result;

/* Why a statement failed: SQLSTATE ("23505" unique violation, "" for connection failures);
 * timed_out 1 when the statement was sent and not answered within the connection's deadline (its
 * outcome unknown), 0 for any other failure. */
struct cm_pg_error {
    char sqlstate[6];
    char message[256];
    int timed_out;
};

/* Creates a connection object and tries to connect; failures are retried on use with backoff.
 * Caller frees with cm_pg_free. Never NULL. Connecting and each statement must be answered
 * within CM_PG_TIMEOUT_MS (a server that accepts connections but does not answer, as a stopped
 * or overloaded one or a vanished host, costs a call that long, never a thread for good); a
 * statement past it fails with CM_E_UNAVAIL, its outcome unknown, and the connection is dropped,
 * so write statements that can be retried. After a failure calls fail at once while a backoff
 * runs (100 ms doubling to 5 s). Migrations (cm_pg_migrate) have no statement deadline. */
#define CM_PG_TIMEOUT_MS 10000
struct cm_pg *cm_pg_new(const char *url);
/* The same with another deadline (ms; 0: none). */
struct cm_pg *cm_pg_new_timeout(const char *url, int timeout_ms);
void cm_pg_free(struct cm_pg *pg);

/* Runs a statement with text parameters (NULL entries are SQL NULL). Returns 0 with *out set
 * when out is non-NULL (caller frees), CM_E_UNAVAIL when the server is unreachable (the
 * connection is reset for the next call), or CM_E_INVAL for an SQL error (err filled when
 * non-NULL). */
int cm_pg_exec(struct cm_pg *pg, const char *sql, int nparams, const char *const *params,
               struct cm_pg_result **out, struct cm_pg_error *err);
/* 0 when `SELECT 1` succeeds, else CM_E_UNAVAIL with why filled. Waits as cm_pg_exec does: for a
 * readiness check use a cm_pg_probe. */
int cm_pg_ping(struct cm_pg *pg, char *why, size_t len);

/* Readiness of PostgreSQL for /readyz: a connection of its own whose connecting and `SELECT 1`
 * must be answered within timeout_ms (cm_pg_new_timeout), used by one check at a time: a check
 * while another waits answers at once that the other is still waiting. Thread-safe. */
struct cm_pg_probe;
#define CM_PG_READY_TIMEOUT_MS 1000 /* the daemons' probes */
struct cm_pg_probe *cm_pg_probe_new(const char *url, int timeout_ms);
void cm_pg_probe_free(struct cm_pg_probe *p);
/* A cm_http_check (ud is the struct cm_pg_probe): 0, or CM_E_UNAVAIL with why filled. */
int cm_pg_probe_check(void *probe, char *why, size_t len);

int cm_pg_ntuples(const struct cm_pg_result *res);
/* Borrowed until cm_pg_result_free; NULL for SQL NULL. */
const char *cm_pg_value(const struct cm_pg_result *res, int row, int col);
/* Rows affected by INSERT/UPDATE/DELETE. */
long cm_pg_affected(const struct cm_pg_result *res);
void cm_pg_result_free(struct cm_pg_result *res);

/* Runs `sql`, which reads its rows from $1::jsonb (a JSON array, e.g. through
 * jsonb_array_elements), once for the whole array `rows` (borrowed). When PostgreSQL rejects the
 * batch for its content (cm_pg_blames_row), retries row by row so one poisonous row is logged and
 * skipped rather than blocking the stream. Returns 0 with *affected (rows changed) and *rejected
 * (rows skipped), or CM_E_UNAVAIL when the server is unreachable or refuses the batch for another
 * reason (a missing table, no privilege, a read-only server, a full disk, a deadlock, a statement
 * cancelled, ...: logged as pg_batch_refused; nothing is skipped, retry the batch later: its
 * statement must be idempotent, as rows written before a failure stay). */
int cm_pg_exec_json_rows(struct cm_pg *pg, const char *sql, const json_t *rows, long *affected,
                         size_t *rejected);
/* The same, calling on_reject(index of the row in rows, SQLSTATE, message, ud) for each row
 * skipped (e.g. to send it to a dead-letter queue); on_reject may be NULL. */
/* 1 when an error of this SQLSTATE says a row's content is at fault, so that the row, not the
 * database, is refused: class 22 (data exception: a bad value, a string too long, ...), class 23
 * (integrity constraint violation: NOT NULL, CHECK, UNIQUE, FOREIGN KEY), 54000 (a program limit:
 * a value too large for an index) and P0001 (a trigger raising an exception). */
int cm_pg_blames_row(const char *sqlstate);
typedef void (*cm_pg_reject_fn)(size_t index, const char *sqlstate, const char *message, void *ud);
int cm_pg_exec_json_rows_each(struct cm_pg *pg, const char *sql, const json_t *rows, long *affected,
                              size_t *rejected, cm_pg_reject_fn on_reject, void *ud);

/* Applies the migrations of `component` in order, each once, in a transaction under an advisory
 * lock, recording them in table schema_migrations. Safe with several instances starting at once.
 * Returns 0, CM_E_UNAVAIL, or CM_E_INVAL (a migration failed; logged). */
int cm_pg_migrate(struct cm_pg *pg, const char *component, const char *const *steps, size_t nsteps);

/* Notifications (LISTEN/NOTIFY) on a connection of its own. cm_pg_listen connects when needed
 * and issues LISTEN channel (channel: a plain identifier). Returns 0 or CM_E_UNAVAIL. */
int cm_pg_listen(struct cm_pg *pg, const char *channel);
/* Waits up to timeout_ms for a notification: 1 with its payload copied into payload[0..len),
 * 0 on timeout, CM_E_UNAVAIL when the connection is lost (call cm_pg_listen again: it
 * reconnects; notifications sent meanwhile are lost, so re-read what they would have said). */
int cm_pg_notification(struct cm_pg *pg, int timeout_ms, char *payload, size_t len);

/* A thread of its own following `channel` on a connection of its own (pg_follow.c). It calls
 * fn(pg, payload, ud), pg being that connection (for reading what was announced), with each
 * notification's payload, and with NULL each time it starts listening, first and after a lost
 * connection (what was announced meanwhile is lost: NULL says anything may have changed), and
 * every resync_ms when above 0. fn returns 0, or nonzero when it could not act on it: then the
 * follower listens anew and calls it with NULL, every 200 ms until that works. With metrics, it
 * counts the notifications taken (announcements_total{channel}) and whether it listens
 * (announcements_listening{channel}, summed over a daemon's followers of a channel). Never NULL;
 * cm_pg_follower_free stops and joins it. */
typedef int (*cm_pg_notify_fn)(struct cm_pg *pg, const char *payload, void *ud);
struct cm_pg_follower;
struct cm_metrics;
struct cm_pg_follower *cm_pg_follow(const char *url, const char *channel, int resync_ms,
                                    struct cm_metrics *metrics, cm_pg_notify_fn fn, void *ud);
void cm_pg_follower_free(struct cm_pg_follower *f);

/* A fixed-size pool of connections. Caller frees with cm_pg_pool_free. Its connections share a
 * circuit breaker: once one of them finds the server not answering (no connection, or a
 * statement past its deadline), statements outside a transaction on any of them fail at once
 * ("not tried") until a trial succeeds, 1 s later doubling to 5 s; a transaction under way goes
 * on, so it can finish or roll back. */
struct cm_pg_pool *cm_pg_pool_new(const char *url, unsigned size);
/* The same with another statement deadline (cm_pg_new_timeout). */
struct cm_pg_pool *cm_pg_pool_new_timeout(const char *url, unsigned size, int timeout_ms);
/* Borrows a connection, waiting up to timeout_ms; NULL on timeout. Give it back with release. */
struct cm_pg *cm_pg_pool_acquire(struct cm_pg_pool *pool, int timeout_ms);
void cm_pg_pool_release(struct cm_pg_pool *pool, struct cm_pg *pg);
void cm_pg_pool_free(struct cm_pg_pool *pool);

#endif
