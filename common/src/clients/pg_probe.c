/* pg_probe: the readiness check of PostgreSQL (see pg.h): its own connection, connected and
 * queried with libpq's non-blocking calls so that a server that accepts connections but does not
 * answer costs a check its deadline, never an HTTP thread for good; one check at a time. */
#include "cm/pg.h"

#include "cm/err.h"
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

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct cm_pg_probe {
    char *url;
    int timeout_ms;
    pthread_mutex_t lock; /* one check at a time */
    PGconn *conn;
    int backoff_ms;
    int64_t next_attempt_ms;
    char last_error[256];
};

struct cm_pg_probe *cm_pg_probe_new(const char *url, int timeout_ms)
{
    struct cm_pg_probe *p = cm_xcalloc(1, sizeof(*p));
    p->url = cm_xstrdup(url ? url : "");
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void cm_pg_probe_free(struct cm_pg_probe *p)
{
    if (!p) {
        return;
    }
    if (p->conn) {
        PQfinish(p->conn);
    }
    pthread_mutex_destroy(&p->lock);
    free(p->url);
    free(p);
}

/* The connection's error, without libpq's trailing newline. */
static void conn_error(struct cm_pg_probe *p, const char *fallback)
{
    const char *m = p->conn ? PQerrorMessage(p->conn) : NULL;
    snprintf(p->last_error, sizeof(p->last_error), "%s", m && *m ? m : fallback);
    size_t n = strlen(p->last_error);
    while (n > 0 && (p->last_error[n - 1] == '\n' || p->last_error[n - 1] == ' ')) {
        p->last_error[--n] = '\0';
    }
}

/* Waits until the socket can be read (or written); 0 when it can, -1 with last_error set when
 * the deadline passes first. */
static int wait_io(struct cm_pg_probe *p, int for_write, int64_t deadline, const char *doing)
{
    for (;;) {
        int64_t left = deadline - cm_monotonic_ms();
        struct pollfd fd = {PQsocket(p->conn), (short)(for_write ? POLLOUT : POLLIN), 0};
        int r = left > 0 ? poll(&fd, 1, (int)left) : 0;
        if (r > 0) {
            return 0;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        snprintf(p->last_error, sizeof(p->last_error), "no answer within %d ms (%s)", p->timeout_ms,
                 doing);
        return -1;
    }
}

static int connect_within(struct cm_pg_probe *p, int64_t deadline)
{
    p->conn = PQconnectStart(p->url);
    if (!p->conn || PQstatus(p->conn) == CONNECTION_BAD) {
        conn_error(p, "out of memory");
        return -1;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            conn_error(p, "cannot connect");
            return -1;
        }
        if (wait_io(p, st == PGRES_POLLING_WRITING, deadline, "connecting") != 0) {
            return -1;
        }
        st = PQconnectPoll(p->conn);
    }
    return PQsetnonblocking(p->conn, 1) == 0 ? 0 : (conn_error(p, "cannot connect"), -1);
}

static int query_within(struct cm_pg_probe *p, int64_t deadline)
{
    if (!PQsendQuery(p->conn, "SELECT 1")) {
        conn_error(p, "cannot send");
        return -1;
    }
    int f;
    while ((f = PQflush(p->conn)) == 1) {
        if (wait_io(p, 1, deadline, "sending") != 0) {
            return -1;
        }
    }
    if (f < 0) {
        conn_error(p, "cannot send");
        return -1;
    }
    while (PQisBusy(p->conn)) {
        if (wait_io(p, 0, deadline, "SELECT 1") != 0) {
            return -1;
        }
        if (!PQconsumeInput(p->conn)) {
            conn_error(p, "connection lost");
            return -1;
        }
    }
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(p->conn))) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK && rc == 0) {
            conn_error(p, "SELECT 1 failed");
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

int cm_pg_probe_check(void *ud, char *why, size_t len)
{
    struct cm_pg_probe *p = ud;
    if (pthread_mutex_trylock(&p->lock) != 0) {
        snprintf(why, len, "the check before this one is still waiting for an answer");
        return CM_E_UNAVAIL;
    }
    int64_t now = cm_monotonic_ms();
    int rc = 0;
    if (!p->conn && now < p->next_attempt_ms) {
        rc = -1; /* failed just now: the same answer, at once */
    } else {
        int64_t deadline = now + p->timeout_ms;
        if (p->conn && PQstatus(p->conn) != CONNECTION_OK) {
            PQfinish(p->conn);
            p->conn = NULL;
        }
        rc = !p->conn && connect_within(p, deadline) != 0 ? -1 : query_within(p, deadline);
        if (rc != 0) {
            PQfinish(p->conn);
            p->conn = NULL;
            p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
            p->backoff_ms = p->backoff_ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms;
            p->next_attempt_ms = cm_monotonic_ms() + p->backoff_ms;
        } else {
            p->backoff_ms = 0;
        }
    }
    if (rc != 0) {
        snprintf(why, len, "%s", p->last_error);
    }
    pthread_mutex_unlock(&p->lock);
    return rc == 0 ? 0 : CM_E_UNAVAIL;
}
