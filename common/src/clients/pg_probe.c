/* pg_probe: the readiness check of PostgreSQL (see pg.h): a connection of its own with a short
 * deadline, used by one check at a time, so that a server that accepts connections but does not
 * answer costs a check its deadline, never an HTTP thread for good. */
#include "cm/pg.h"

#include "cm/err.h"
#include "cm/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct cm_pg_probe {
    struct cm_pg *pg;
    pthread_mutex_t lock; /* one check at a time */
};

struct cm_pg_probe *cm_pg_probe_new(const char *url, int timeout_ms)
{
    struct cm_pg_probe *p = cm_xcalloc(1, sizeof(*p));
    p->pg = cm_pg_new_timeout(url, timeout_ms > 0 ? timeout_ms : CM_PG_READY_TIMEOUT_MS);
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void cm_pg_probe_free(struct cm_pg_probe *p)
{
    if (!p) {
        return;
    }
    cm_pg_free(p->pg);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int cm_pg_probe_check(void *ud, char *why, size_t len)
{
    struct cm_pg_probe *p = ud;
    if (pthread_mutex_trylock(&p->lock) != 0) {
        snprintf(why, len, "the check before this one is still waiting for an answer");
        return CM_E_UNAVAIL;
    }
    int rc = cm_pg_ping(p->pg, why, len);
    pthread_mutex_unlock(&p->lock);
    return rc;
}
