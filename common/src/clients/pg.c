/* pg: libpq connection with backoff (100 ms doubling to 5 s), statement execution, migrations
 * and a condition-variable pool (see pg.h). */
#include "cm/pg.h"

#include "cm/breaker.h"
#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct cm_pg {
    char *url;
    int timeout_ms;             /* each statement; 0: none */
    int connect_timeout_ms;     /* each connection attempt; 0: none */
    struct cm_breaker *breaker; /* its pool's (borrowed), or NULL */
    PGconn *conn;
    int64_t next_attempt_ms;
    int backoff_ms;
    char last_error[256];
};

struct cm_pg_pool {
    struct cm_breaker *breaker; /* shared by its connections */
    struct cm_pg **free_list;
    unsigned nfree, size;
    struct cm_pg **all;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static void copy_err(char *dst, size_t len, const char *msg)
{
    snprintf(dst, len, "%s", msg ? msg : "");
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' ')) {
        dst[--n] = '\0';
    }
}

static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    char buf[256];
    copy_err(buf, sizeof(buf), msg);
    CM_LOG_DEBUG("pg_notice", "%s", buf);
}

/* A connection or a statement failed: the connection goes, and the next attempt waits, longer
 * each failure in a row (100 ms doubling to 5 s), so a server that does not answer costs one
 * deadline, then fails calls at once until the wait ends. */
static void failed(struct cm_pg *pg)
{
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    pg->backoff_ms = pg->backoff_ms ? pg->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (pg->backoff_ms > BACKOFF_MAX_MS) {
        pg->backoff_ms = BACKOFF_MAX_MS;
    }
    pg->next_attempt_ms = cm_monotonic_ms() + pg->backoff_ms;
}

/* The deadline of an operation starting now that may take timeout_ms (0: none). */
static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms > 0 ? cm_monotonic_ms() + timeout_ms : 0;
}

/* Waits until the socket is ready for `events` (POLLIN, POLLOUT or both): the events that came,
 * or 0 with last_error set when the deadline (0: none) passed first. */
static short wait_socket(struct cm_pg *pg, short events, int64_t deadline, int timeout_ms,
                         const char *doing)
{
    for (;;) {
        int left = -1;
        if (deadline) {
            int64_t l = deadline - cm_monotonic_ms();
            left = l > 0 ? (int)l : 0;
        }
        struct pollfd fd = {PQsocket(pg->conn), events, 0};
        int r = left != 0 ? poll(&fd, 1, left) : 0;
        if (r > 0) {
            return fd.revents;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            snprintf(pg->last_error, sizeof(pg->last_error), "poll: %s", strerror(errno));
        } else {
            snprintf(pg->last_error, sizeof(pg->last_error), "no answer within %d ms %s",
                     timeout_ms, doing);
        }
        return 0;
    }
}

/* libpq's non-blocking connect, within the deadline. 0, or -1 with last_error set. */
static int connect_within(struct cm_pg *pg, int64_t deadline)
{
    pg->conn = PQconnectStart(pg->url);
    if (!pg->conn || PQstatus(pg->conn) == CONNECTION_BAD) {
        copy_err(pg->last_error, sizeof(pg->last_error),
                 pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        return -1;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            copy_err(pg->last_error, sizeof(pg->last_error), PQerrorMessage(pg->conn));
            return -1;
        }
        if (!wait_socket(pg, st == PGRES_POLLING_WRITING ? POLLOUT : POLLIN, deadline,
                         pg->connect_timeout_ms, "while connecting")) {
            return -1;
        }
        st = PQconnectPoll(pg->conn);
    }
    if (PQsetnonblocking(pg->conn, 1) != 0) { /* sending waits in wait_socket, not in libpq */
        copy_err(pg->last_error, sizeof(pg->last_error), PQerrorMessage(pg->conn));
        return -1;
    }
    return 0;
}

static int ensure(struct cm_pg *pg)
{
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
        return 0;
    }
    if (cm_monotonic_ms() < pg->next_attempt_ms) {
        return CM_E_UNAVAIL;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    if (connect_within(pg, deadline_after(pg->connect_timeout_ms)) == 0) {
        PQsetNoticeProcessor(pg->conn, on_notice, NULL);
        if (pg->backoff_ms) {
            CM_LOG_INFO("pg_reconnected", "connected to PostgreSQL");
        }
        pg->backoff_ms = 0;
        return 0;
    }
    failed(pg);
    CM_LOG_WARN("pg_unavailable", "%s (retry in %d ms)", pg->last_error, pg->backoff_ms);
    return CM_E_UNAVAIL;
}

/* Sends a statement and waits for its result within the connection's deadline. The result (of
 * the statement's last part), or NULL: *timed_out says whether the deadline passed (last_error
 * set) or libpq failed (its error message says why). */
static PGresult *run(struct cm_pg *pg, const char *sql, int nparams, const char *const *params,
                     int *timed_out)
{
    *timed_out = 0;
    int64_t deadline = deadline_after(pg->timeout_ms);
    if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        return NULL;
    }
    int f;
    while ((f = PQflush(pg->conn)) == 1) { /* as libpq asks: read while the send waits */
        short ev =
            wait_socket(pg, POLLIN | POLLOUT, deadline, pg->timeout_ms, "to a statement (sending)");
        if (!ev) {
            *timed_out = 1;
            return NULL;
        }
        if ((ev & POLLIN) && !PQconsumeInput(pg->conn)) {
            return NULL;
        }
    }
    if (f < 0) {
        return NULL;
    }
    while (PQisBusy(pg->conn)) {
        if (!wait_socket(pg, POLLIN, deadline, pg->timeout_ms, "to a statement")) {
            *timed_out = 1;
            return NULL;
        }
        if (!PQconsumeInput(pg->conn)) {
            return NULL;
        }
    }
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(pg->conn))) {
        PQclear(last);
        last = r;
    }
    return last;
}

struct cm_pg *cm_pg_new_timeout(const char *url, int timeout_ms)
{
    struct cm_pg *pg = cm_xcalloc(1, sizeof(*pg));
    pg->url = cm_xstrdup(url ? url : "");
    pg->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    pg->connect_timeout_ms = pg->timeout_ms;
    ensure(pg);
    return pg;
}

struct cm_pg *cm_pg_new(const char *url)
{
    return cm_pg_new_timeout(url, CM_PG_TIMEOUT_MS);
}

void cm_pg_free(struct cm_pg *pg)
{
    if (!pg) {
        return;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
    }
    free(pg->url);
    free(pg);
}

/* cm_pg_exec without the pool's breaker; *unanswered 1 when the server did not answer (no
 * connection, or the deadline passed). */
static int exec(struct cm_pg *pg, const char *sql, int nparams, const char *const *params,
                struct cm_pg_result **out, struct cm_pg_error *err, int *unanswered)
{
    if (ensure(pg) != 0) {
        *unanswered = 1;
        if (err) {
            copy_err(err->message, sizeof(err->message), pg->last_error);
        }
        return CM_E_UNAVAIL;
    }
    int timed_out;
    PGresult *res = run(pg, sql, nparams, params, &timed_out);
    if (timed_out) {
        *unanswered = 1;
        failed(pg); /* the statement's outcome is unknown; the connection goes with it */
        CM_LOG_WARN("pg_timeout", "%s (retry in %d ms)", pg->last_error, pg->backoff_ms);
        if (err) {
            copy_err(err->message, sizeof(err->message), pg->last_error);
            err->timed_out = 1;
        }
        return CM_E_UNAVAIL;
    }
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out) {
            *out = (struct cm_pg_result *)res;
        } else {
            PQclear(res);
        }
        return 0;
    }
    int rc = CM_E_INVAL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        rc = CM_E_UNAVAIL;
        copy_err(pg->last_error, sizeof(pg->last_error), PQerrorMessage(pg->conn));
        CM_LOG_WARN("pg_connection_lost", "%s", pg->last_error);
    }
    if (err) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
        copy_err(err->message, sizeof(err->message),
                 res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
    }
    PQclear(res);
    return rc;
}

int cm_pg_exec(struct cm_pg *pg, const char *sql, int nparams, const char *const *params,
               struct cm_pg_result **out, struct cm_pg_error *err)
{
    if (out) {
        *out = NULL;
    }
    if (err) {
        err->sqlstate[0] = '\0';
        err->message[0] = '\0';
        err->timed_out = 0;
    }
    /* the breaker guards new work: a transaction under way goes on (its ROLLBACK too) */
    int in_tx = pg->conn && PQstatus(pg->conn) == CONNECTION_OK &&
                PQtransactionStatus(pg->conn) != PQTRANS_IDLE;
    if (pg->breaker && !in_tx && !cm_breaker_allow(pg->breaker, cm_monotonic_ms())) {
        if (err) {
            snprintf(err->message, sizeof(err->message),
                     "not tried: PostgreSQL did not answer this pool's last attempt");
        }
        return CM_E_UNAVAIL;
    }
    int unanswered = 0;
    int rc = exec(pg, sql, nparams, params, out, err, &unanswered);
    if (pg->breaker && unanswered) {
        cm_breaker_failure(pg->breaker, cm_monotonic_ms());
    } else if (pg->breaker && !in_tx) {
        cm_breaker_success(pg->breaker);
    }
    return rc;
}

int cm_pg_ping(struct cm_pg *pg, char *why, size_t len)
{
    struct cm_pg_error err;
    if (cm_pg_exec(pg, "SELECT 1", 0, NULL, NULL, &err) != 0) {
        snprintf(why, len, "%s", err.message[0] ? err.message : "unreachable");
        return CM_E_UNAVAIL;
    }
    return 0;
}

int cm_pg_ntuples(const struct cm_pg_result *res)
{
    return PQntuples((const PGresult *)res);
}

const char *cm_pg_value(const struct cm_pg_result *res, int row, int col)
{
    const PGresult *r = (const PGresult *)res;
    if (row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return NULL;
    }
    return PQgetvalue(r, row, col);
}

long cm_pg_affected(const struct cm_pg_result *res)
{
    const char *n = PQcmdTuples((PGresult *)res);
    return n && *n ? strtol(n, NULL, 10) : 0;
}

void cm_pg_result_free(struct cm_pg_result *res)
{
    PQclear((PGresult *)res);
}

static int exec_rows(struct cm_pg *pg, const char *sql, const json_t *rows, long *affected,
                     struct cm_pg_error *err)
{
    char *text = cm_json_dumps(rows, NULL);
    if (!text) {
        CM_LOG_ERROR("json_unwritable", "rows nest too deeply");
        abort();
    }
    const char *params[] = {text};
    struct cm_pg_result *res = NULL;
    int rc = cm_pg_exec(pg, sql, 1, params, &res, err);
    free(text);
    if (rc == 0) {
        *affected = cm_pg_affected(res);
        cm_pg_result_free(res);
    }
    return rc;
}

int cm_pg_exec_json_rows(struct cm_pg *pg, const char *sql, const json_t *rows, long *affected,
                         size_t *rejected)
{
    return cm_pg_exec_json_rows_each(pg, sql, rows, affected, rejected, NULL, NULL);
}

int cm_pg_blames_row(const char *sqlstate)
{
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
           strcmp(sqlstate, "54000") == 0 || strcmp(sqlstate, "P0001") == 0;
}

/* An SQL error that is not the rows' doing: the batch waits for it to pass, skipping nothing. */
static int refused_whole(const struct cm_pg_error *err, size_t n)
{
    CM_LOG_ERROR("pg_batch_refused",
                 "PostgreSQL refused a batch of %zu rows for a reason that is not their content "
                 "([%s] %.*s): nothing is skipped, the batch is tried again",
                 n, err->sqlstate, (int)strcspn(err->message, "\r\n"), err->message);
    return CM_E_UNAVAIL;
}

int cm_pg_exec_json_rows_each(struct cm_pg *pg, const char *sql, const json_t *rows, long *affected,
                              size_t *rejected, cm_pg_reject_fn on_reject, void *ud)
{
    *affected = 0;
    *rejected = 0;
    size_t n = json_array_size(rows);
    if (n == 0) {
        return 0;
    }
    struct cm_pg_error err;
    int rc = exec_rows(pg, sql, rows, affected, &err);
    if (rc != CM_E_INVAL) {
        return rc;
    }
    if (!cm_pg_blames_row(err.sqlstate)) {
        return refused_whole(&err, n);
    }
    CM_LOG_WARN("pg_batch_rejected", "batch of %zu rows rejected (%s); retrying row by row", n,
                err.message);
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_array();
        json_array_append(one, json_array_get(rows, i));
        long k = 0;
        rc = exec_rows(pg, sql, one, &k, &err);
        json_decref(one);
        if (rc == CM_E_UNAVAIL) {
            return rc;
        }
        if (rc == CM_E_INVAL && !cm_pg_blames_row(err.sqlstate)) {
            *affected = 0; /* the batch is tried again whole: none of it counts yet */
            *rejected = 0;
            return refused_whole(&err, n);
        }
        if (rc == CM_E_INVAL) {
            CM_LOG_ERROR("pg_row_rejected", "row %zu skipped: [%s] %s", i, err.sqlstate,
                         err.message);
            (*rejected)++;
            if (on_reject) {
                on_reject(i, err.sqlstate, err.message, ud);
            }
            continue;
        }
        *affected += k;
    }
    return 0;
}

int cm_pg_listen(struct cm_pg *pg, const char *channel)
{
    char *sql = cm_xasprintf("LISTEN \"%s\"", channel);
    struct cm_pg_error err;
    int rc = cm_pg_exec(pg, sql, 0, NULL, NULL, &err);
    free(sql);
    if (rc == CM_E_INVAL) {
        CM_LOG_ERROR("pg_listen_failed", "LISTEN %s: %s", channel, err.message);
    }
    return rc;
}

/* 1 with a pending notification taken, else 0. */
static int take_notification(struct cm_pg *pg, char *payload, size_t len)
{
    PGnotify *n = PQnotifies(pg->conn);
    if (!n) {
        return 0;
    }
    snprintf(payload, len, "%s", n->extra ? n->extra : "");
    PQfreemem(n);
    return 1;
}

int cm_pg_notification(struct cm_pg *pg, int timeout_ms, char *payload, size_t len)
{
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        return CM_E_UNAVAIL;
    }
    if (take_notification(pg, payload, len)) {
        return 1;
    }
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - cm_monotonic_ms();
        if (left <= 0) {
            return 0;
        }
        struct pollfd pfd = {PQsocket(pg->conn), POLLIN, 0};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0) {
            continue; /* EINTR */
        }
        if (r > 0 && (PQconsumeInput(pg->conn) == 0 || PQstatus(pg->conn) != CONNECTION_OK)) {
            copy_err(pg->last_error, sizeof(pg->last_error), PQerrorMessage(pg->conn));
            CM_LOG_WARN("pg_connection_lost", "%s", pg->last_error);
            PQfinish(pg->conn);
            pg->conn = NULL;
            return CM_E_UNAVAIL;
        }
        if (take_notification(pg, payload, len)) {
            return 1;
        }
    }
}

/* All components migrate under one transaction-scoped advisory lock, so instances starting at
 * the same moment apply each step once and never race on CREATE TABLE. */
#define MIGRATION_LOCK_KEY "727274101"

static int migrate(struct cm_pg *pg, const char *component, const char *const *steps, size_t nsteps)
{
    struct cm_pg_error err;
    int rc = cm_pg_exec(pg, "BEGIN", 0, NULL, NULL, &err);
    if (rc != 0) {
        return rc;
    }
    rc =
        cm_pg_exec(pg, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, NULL, &err);
    if (rc == 0) {
        rc = cm_pg_exec(pg,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " component text NOT NULL, version int NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now(),"
                        " PRIMARY KEY (component, version))",
                        0, NULL, NULL, &err);
    }
    for (size_t i = 0; rc == 0 && i < nsteps; i++) {
        char version[24];
        snprintf(version, sizeof(version), "%zu", i + 1);
        const char *params[] = {component, version};
        struct cm_pg_result *res = NULL;
        rc = cm_pg_exec(pg, "SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                        2, params, &res, &err);
        if (rc != 0) {
            break;
        }
        int done = cm_pg_ntuples(res) > 0;
        cm_pg_result_free(res);
        if (done) {
            continue;
        }
        rc = cm_pg_exec(pg, steps[i], 0, NULL, NULL, &err);
        if (rc == 0) {
            rc =
                cm_pg_exec(pg, "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                           2, params, NULL, &err);
        }
        if (rc == 0) {
            CM_LOG_INFO("pg_migrated", "%s: applied migration %zu", component, i + 1);
        }
    }
    if (rc != 0) {
        CM_LOG_ERROR("pg_migration_failed", "%s: %s", component, err.message);
        cm_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, NULL);
        return rc;
    }
    return cm_pg_exec(pg, "COMMIT", 0, NULL, NULL, &err);
}

/* Statements without a deadline (connecting keeps its own): a step may take long on a big table,
 * and the advisory lock waits for another instance's migration. */
int cm_pg_migrate(struct cm_pg *pg, const char *component, const char *const *steps, size_t nsteps)
{
    int timeout_ms = pg->timeout_ms;
    pg->timeout_ms = 0;
    int rc = migrate(pg, component, steps, nsteps);
    pg->timeout_ms = timeout_ms;
    return rc;
}

struct cm_pg_pool *cm_pg_pool_new(const char *url, unsigned size)
{
    return cm_pg_pool_new_timeout(url, size, CM_PG_TIMEOUT_MS);
}

struct cm_pg_pool *cm_pg_pool_new_timeout(const char *url, unsigned size, int timeout_ms)
{
    struct cm_pg_pool *pool = cm_xcalloc(1, sizeof(*pool));
    pool->size = size ? size : 1;
    pool->all = cm_xcalloc(pool->size, sizeof(*pool->all));
    pool->free_list = cm_xcalloc(pool->size, sizeof(*pool->free_list));
    /* a server that does not answer costs one connection its deadline; the others then fail at
     * once until a trial succeeds (1 s, doubling to 5 s) */
    pool->breaker = cm_breaker_new("postgres", 1, 1000, 5000, NULL);
    for (unsigned i = 0; i < pool->size; i++) {
        pool->all[i] = cm_pg_new_timeout(url, timeout_ms);
        pool->all[i]->breaker = pool->breaker;
        pool->free_list[pool->nfree++] = pool->all[i];
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    return pool;
}

struct cm_pg *cm_pg_pool_acquire(struct cm_pg_pool *pool, int timeout_ms)
{
    struct timespec deadline;
    cm_deadline_after(timeout_ms, &deadline);
    pthread_mutex_lock(&pool->lock);
    while (pool->nfree == 0) {
        if (pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) != 0) {
            break;
        }
    }
    struct cm_pg *pg = pool->nfree ? pool->free_list[--pool->nfree] : NULL;
    pthread_mutex_unlock(&pool->lock);
    return pg;
}

void cm_pg_pool_release(struct cm_pg_pool *pool, struct cm_pg *pg)
{
    pthread_mutex_lock(&pool->lock);
    pool->free_list[pool->nfree++] = pg;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

void cm_pg_pool_free(struct cm_pg_pool *pool)
{
    if (!pool) {
        return;
    }
    for (unsigned i = 0; i < pool->size; i++) {
        cm_pg_free(pool->all[i]);
    }
    free(pool->all);
    free(pool->free_list);
    cm_breaker_free(pool->breaker);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool);
}
