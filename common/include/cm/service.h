/* service: what every daemon does the same way around its own logic: logger, configuration
 * (exit 78 on a bad value), signals, the metrics registry and the HTTP server with /healthz,
 * /readyz and /metrics, and the ordered, bounded shutdown of STYLE.md.
 * Usage in main.c: cm_service_init → create the service's objects, register routes and checks
 * → cm_service_start → run until cm_lifecycle_stopping() → cm_service_begin_shutdown → free the
 * service's objects → cm_service_free. */
#ifndef CM_SERVICE_H
#define CM_SERVICE_H

#include "cm/config.h"
#include "cm/http.h"
#include "cm/metrics.h"

#include <stddef.h>

struct cm_service {
    const char *name;            /* borrowed, normally a literal */
    struct cm_config *cfg;       /* owned */
    struct cm_metrics *metrics;  /* owned; metric names are prefixed "<name>_" */
    struct cm_http_server *http; /* owned */
    int shutting_down;           /* cm_service_begin_shutdown ran */
};

/* The HTTP server's connection limits, in every service's table under its prefix P ("GATEWAY_"):
 * P MAX_CONNECTIONS, P MAX_CONNECTIONS_PER_IP, P REQUEST_TIMEOUT and P MAX_BUFFERED (see
 * cm_http_options). */
#define CM_SERVICE_HTTP_ENTRIES(P)                                                                 \
    {P "MAX_CONNECTIONS",                                                                          \
     CM_CFG_INT,                                                                                   \
     "10000",                                                                                      \
     0,                                                                                            \
     0,                                                                                            \
     "open HTTP connections at most; beyond, new connections are closed at once and counted "      \
     "(the open-file limit is raised to fit)",                                                     \
     16,                                                                                           \
     1000000,                                                                                      \
     NULL},                                                                                        \
        {P "MAX_CONNECTIONS_PER_IP",                                                               \
         CM_CFG_INT,                                                                               \
         "256",                                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         "open HTTP connections from one client address at most (behind trusted proxies: "         \
         "requests in progress per forwarded client, 429 beyond); 0 = no limit",                   \
         0,                                                                                        \
         1000000,                                                                                  \
         NULL},                                                                                    \
        {P "REQUEST_TIMEOUT",                                                                      \
         CM_CFG_DURATION,                                                                          \
         "30s",                                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         "a whole request (headers and body) must arrive within this from the connection's "       \
         "opening or its previous answer, else the connection is closed",                          \
         100,                                                                                      \
         3600000,                                                                                  \
         NULL},                                                                                    \
    {                                                                                              \
        P "MAX_BUFFERED", CM_CFG_SIZE, "256MiB", 0, 0,                                             \
            "memory all requests' bodies may hold at once (from their Content-Length or first "    \
            "byte until answered); a request whose body would pass it is answered 503 with "       \
            "Retry-After: 1. Must exceed the largest body",                                        \
            1024, 1099511627776LL, NULL                                                            \
    }

/* `port_var` names the table's port entry (e.g. "STORE_PORT"); the table holds
 * CM_SERVICE_HTTP_ENTRIES(prefix); `max_body_var` a SIZE entry that
 * caps request bodies, or NULL for the 1 MiB default. */
void cm_service_init(struct cm_service *svc, const char *name, const char *prefix,
                     const struct cm_config_entry *table, size_t n, const char *port_var,
                     const char *max_body_var, int argc, char **argv);
/* Starts the HTTP server; 0 or CM_E_IO. */
int cm_service_start(struct cm_service *svc);
/* The exit status of a daemon whose start step failed with rc (after retrying it while it
 * answered CM_E_UNAVAIL): 0 when a stop was requested meanwhile (a stop is not a failure), 1 when
 * the dependency is still unavailable (a restart may find it up), CM_CONFIG_EXIT_BAD (78) for
 * anything else: the step refused what it was given (a bad definition file, a migration the
 * database refuses). */
int cm_service_exit_status(int rc);
/* /readyz → 503, arms the watchdog for SHUTDOWN_TIMEOUT. Once; later calls do nothing. */
void cm_service_begin_shutdown(struct cm_service *svc);
/* Stops the HTTP server (waiting for in-flight requests) and frees everything. */
void cm_service_free(struct cm_service *svc);

#endif
