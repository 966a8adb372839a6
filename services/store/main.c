/* store: consumes `events` and appends each record to the immutable log in PostgreSQL,
 * storing a record's offset only after its row is committed. Wiring only; see store_log.c. */
#include "store_log.h"

#include "cm/err.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/pg.h"
#include "cm/service.h"
#include "cm/stream.h"

#include <stdlib.h>

static const struct cm_config_entry config_table[] = {
    CM_SERVICE_HTTP_ENTRIES("STORE_"),
    {"STORE_PORT", CM_CFG_INT, "8084", 0, 0, "admin HTTP port (health, readiness, metrics)", 0,
     65535, NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"DATABASE_URL", CM_CFG_STRING, NULL, 1, 1, "PostgreSQL URI of the event log", 0, 0, NULL},
    {"TOPIC_EVENTS", CM_CFG_STRING, "events", 0, 0, "topic of accepted events", 0, 0, NULL},
    {"STORE_GROUP", CM_CFG_STRING, "store", 0, 0, "Kafka consumer group", 0, 0, NULL},
    {"STORE_BATCH", CM_CFG_INT, "500", 0, 0, "records per insert", 1, 10000, NULL},
};

struct app {
    struct cm_service svc;
    struct cm_pg *pg;             /* consumer thread's connection */
    struct cm_pg_probe *pg_ready; /* readiness checks' own connection */
    struct store_log *log;
};

static int append_batch(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    (void)s;
    return store_log_append(ud, msgs, n);
}

int main(int argc, char **argv)
{
    struct app app = {0};
    cm_service_init(&app.svc, "store", "STORE_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "STORE_PORT", NULL, argc, argv);
    const struct cm_config *cfg = app.svc.cfg;
    int status;
    app.pg = cm_pg_new(cm_config_str(cfg, "DATABASE_URL"));
    app.pg_ready = cm_pg_probe_new(cm_config_str(cfg, "DATABASE_URL"), CM_PG_READY_TIMEOUT_MS);
    app.log = store_log_new(app.pg, app.svc.metrics);
    int rc;
    while ((rc = store_log_migrate(app.log)) == CM_E_UNAVAIL && !cm_lifecycle_wait(1000)) {
    }
    if (rc != 0) {
        status = cm_service_exit_status(rc);
        goto out;
    }
    const char *topics[] = {cm_config_str(cfg, "TOPIC_EVENTS")};
    struct cm_stream_config sc = {
        .brokers = cm_config_str(cfg, "KAFKA_BROKERS"),
        .group = cm_config_str(cfg, "STORE_GROUP"),
        .topics = topics,
        .ntopics = 1,
        .max_batch = (size_t)cm_config_int(cfg, "STORE_BATCH"),
    };
    struct cm_stream_handler handler = {.process = append_batch, .ud = app.log};
    cm_http_add_check(app.svc.http, "postgres", cm_pg_probe_check, app.pg_ready);
    status = cm_stream_serve(&app.svc, &sc, &handler);
out:
    cm_service_begin_shutdown(&app.svc);
    store_log_free(app.log);
    cm_pg_free(app.pg);
    cm_pg_probe_free(app.pg_ready);
    cm_service_free(&app.svc);
    return status;
}
