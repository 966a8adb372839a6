/* service: daemon scaffolding shared by the six services (see service.h). */
#include "cm/service.h"

#include "cm/err.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/memlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cm_service_init(struct cm_service *svc, const char *name, const char *prefix,
                     const struct cm_config_entry *table, size_t n, const char *port_var,
                     const char *max_body_var, int argc, char **argv)
{
    memset(svc, 0, sizeof(*svc));
    svc->name = name;
    cm_log_init(name);
    svc->cfg = cm_config_load_or_exit(name, table, n, prefix, argc, argv);
    cm_lifecycle_install();
    char *prefix_m = cm_xasprintf("%s_", name);
    svc->metrics = cm_metrics_new(prefix_m);
    free(prefix_m);
    char name_max[64], name_ip[64], name_req[64], name_buf[64];
    snprintf(name_max, sizeof(name_max), "%sMAX_CONNECTIONS", prefix);
    snprintf(name_ip, sizeof(name_ip), "%sMAX_CONNECTIONS_PER_IP", prefix);
    snprintf(name_req, sizeof(name_req), "%sREQUEST_TIMEOUT", prefix);
    snprintf(name_buf, sizeof(name_buf), "%sMAX_BUFFERED", prefix);
    size_t max_body = max_body_var ? (size_t)cm_config_int(svc->cfg, max_body_var) : 0;
    struct cm_http_options opt = {
        .bind_addr = cm_config_str(svc->cfg, "BIND_ADDR"),
        .port = (unsigned)cm_config_int(svc->cfg, port_var),
        .max_body = max_body,
        .metrics = svc->metrics,
        .max_connections = (unsigned)cm_config_int(svc->cfg, name_max),
        .max_connections_per_ip = (unsigned)cm_config_int(svc->cfg, name_ip),
        .request_timeout_ms = (unsigned)cm_config_int(svc->cfg, name_req),
        .max_buffered = (size_t)cm_config_memory(svc->cfg, name_buf, 8,
                                                 (int64_t)(max_body ? max_body : 1048576) + 1),
        .tls_cert_file = cm_config_str(svc->cfg, "TLS_CERT_FILE"),
        .tls_key_file = cm_config_str(svc->cfg, "TLS_KEY_FILE"),
        .cors_origins = cm_config_str(svc->cfg, "CORS_ALLOWED_ORIGINS"),
    };
    svc->http = cm_http_new(&opt);
    if (!svc->http) { /* logged */
        exit(CM_CONFIG_EXIT_BAD);
    }
}

int cm_service_start(struct cm_service *svc)
{
    int rc = cm_http_start(svc->http);
    if (rc == 0) {
        CM_LOG_INFO("started", "%s serving on port %u", svc->name, cm_http_port(svc->http));
    }
    return rc;
}

int cm_service_exit_status(int rc)
{
    if (cm_lifecycle_stopping()) {
        return 0;
    }
    return rc == CM_E_UNAVAIL ? 1 : CM_CONFIG_EXIT_BAD;
}

void cm_service_begin_shutdown(struct cm_service *svc)
{
    if (svc->shutting_down) {
        return;
    }
    svc->shutting_down = 1;
    CM_LOG_INFO("stopping", "%s shutting down", svc->name);
    cm_http_set_unready(svc->http);
    cm_lifecycle_arm_watchdog((int)cm_config_int(svc->cfg, "SHUTDOWN_TIMEOUT"));
}

void cm_service_free(struct cm_service *svc)
{
    if (svc->http) {
        cm_http_stop(svc->http, 2000);
        cm_http_free(svc->http);
    }
    cm_metrics_free(svc->metrics);
    CM_LOG_INFO("stopped", "%s stopped", svc->name);
    cm_config_free(svc->cfg);
    memset(svc, 0, sizeof(*svc));
}
