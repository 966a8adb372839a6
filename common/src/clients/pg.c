/* pg: libpq connection with backoff (100 ms doubling to 5 s), statement execution, migrations
 * and a condition-variable pool (see pg.h). */
#include "cm/pg.h"

#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

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
    PGconn *conn;
    int64_t next_attempt_ms;
    int backoff_ms;
    char last_error[256];
};

struct cm_pg_pool {
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

static int ensure(struct cm_pg *pg)
{
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
        return 0;
    }
    int64_t now = cm_monotonic_ms();
    if (now < pg->next_attempt_ms) {
        return CM_E_UNAVAIL;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
    }
    pg->conn = PQconnectdb(pg->url);
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(pg->conn, on_notice, NULL);
        if (pg->backoff_ms) {
            CM_LOG_INFO("pg_reconnected", "connected to PostgreSQL");
        }
        pg->backoff_ms = 0;
        return 0;
    }
    copy_err(pg->last_error, sizeof(pg->last_error),
             pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
    pg->backoff_ms = pg->backoff_ms ? pg->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (pg->backoff_ms > BACKOFF_MAX_MS) {
        pg->backoff_ms = BACKOFF_MAX_MS;
    }
    pg->next_attempt_ms = now + pg->backoff_ms;
    CM_LOG_WARN("pg_unavailable", "%s (retry in %d ms)", pg->last_error, pg->backoff_ms);
    return CM_E_UNAVAIL;
}

struct cm_pg *cm_pg_new(const char *url)
{
    struct cm_pg *pg = cm_xcalloc(1, sizeof(*pg));
    pg->url = cm_xstrdup(url ? url : "");
    ensure(pg);
    return pg;
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

int cm_pg_exec(struct cm_pg *pg, const char *sql, int nparams, const char *const *params,
               struct cm_pg_result **out, struct cm_pg_error *err)
{
    if (out) {
        *out = NULL;
    }
    if (err) {
        err->sqlstate[0] = '\0';
        err->message[0] = '\0';
    }
    if (ensure(pg) != 0) {
        if (err) {
            copy_err(err->message, sizeof(err->message), pg->last_error);
        }
        return CM_E_UNAVAIL;
    }
    PGresult *res = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
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

int cm_pg_migrate(struct cm_pg *pg, const char *component, const char *const *steps, size_t nsteps)
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

struct cm_pg_pool *cm_pg_pool_new(const char *url, unsigned size)
{
    struct cm_pg_pool *pool = cm_xcalloc(1, sizeof(*pool));
    pool->size = size ? size : 1;
    pool->all = cm_xcalloc(pool->size, sizeof(*pool->all));
    pool->free_list = cm_xcalloc(pool->size, sizeof(*pool->free_list));
    for (unsigned i = 0; i < pool->size; i++) {
        pool->all[i] = cm_pg_new(url);
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
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool);
}
