/* output: consumes `derived` and `alerts` and delivers them to the PostgreSQL sink, storing a
 * record's offset only after it is written (or its dead letter acknowledged). Wiring only; see
 * out_pg_sink.c. */
#include "out_pg_sink.h"

#include "cm/err.h"
#include "cm/lifecycle.h"
#include "cm/pg.h"
#include "cm/service.h"
#include "cm/stream.h"

static const struct cm_config_entry config_table[] = {
    CM_SERVICE_HTTP_ENTRIES("OUTPUT_"),
    {"OUTPUT_PORT", CM_CFG_INT, "8085", 0, 0, "admin HTTP port (health, readiness, metrics)", 0,
     65535, NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"DATABASE_URL", CM_CFG_STRING, NULL, 1, 1, "PostgreSQL URI of the sink tables", 0, 0, NULL},
    {"TOPIC_DERIVED", CM_CFG_STRING, "derived", 0, 0, "topic of processor results", 0, 0, NULL},
    {"TOPIC_ALERTS", CM_CFG_STRING, "alerts", 0, 0, "topic of rule alerts", 0, 0, NULL},
    {"OUTPUT_GROUP", CM_CFG_STRING, "output", 0, 0, "Kafka consumer group", 0, 0, NULL},
    {"OUTPUT_BATCH", CM_CFG_INT, "500", 0, 0, "records per write", 1, 10000, NULL},
    {"TOPIC_DLQ", CM_CFG_STRING, "dlq", 0, 0,
     "dead-letter topic (records a sink cannot deliver, with headers naming why)", 0, 0, NULL},
    {"OUTPUT_BREAKER_FAILURES", CM_CFG_INT, "5", 0, 0,
     "failed writes in a row that open a sink's circuit breaker", 1, 1000, NULL},
    {"OUTPUT_BREAKER_COOLDOWN", CM_CFG_DURATION, "5s", 0, 0,
     "how long an open breaker refuses writes before a trial (doubling to 60 s while trials "
     "fail)",
     1, 60000, NULL},
};

struct app {
    struct cm_service svc;
    struct cm_pg *pg;
    struct cm_pg_probe *pg_ready; /* readiness checks' own connection */
    struct out_pg_sink *sink;
};

static int write_batch(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n, void *ud)
{
    return out_pg_sink_write(ud, s, msgs, n);
}

int main(int argc, char **argv)
{
    struct app app = {0};
    cm_service_init(&app.svc, "output", "OUTPUT_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "OUTPUT_PORT", NULL, argc,
                    argv);
    const struct cm_config *cfg = app.svc.cfg;
    int status;
    app.pg = cm_pg_new(cm_config_str(cfg, "DATABASE_URL"));
    app.pg_ready = cm_pg_probe_new(cm_config_str(cfg, "DATABASE_URL"), CM_PG_READY_TIMEOUT_MS);
    struct out_pg_sink_config pc = {
        .derived_topic = cm_config_str(cfg, "TOPIC_DERIVED"),
        .alerts_topic = cm_config_str(cfg, "TOPIC_ALERTS"),
        .dlq_topic = cm_config_str(cfg, "TOPIC_DLQ"),
        .breaker_failures = (int)cm_config_int(cfg, "OUTPUT_BREAKER_FAILURES"),
        .breaker_cooldown_ms = cm_config_int(cfg, "OUTPUT_BREAKER_COOLDOWN"),
    };
    app.sink = out_pg_sink_new(app.pg, app.svc.metrics, &pc);
    int rc;
    while ((rc = out_pg_sink_migrate(app.sink)) == CM_E_UNAVAIL && !cm_lifecycle_wait(1000)) {
    }
    if (rc != 0) {
        status = cm_service_exit_status(rc);
        goto out;
    }
    const char *topics[] = {cm_config_str(cfg, "TOPIC_DERIVED"),
                            cm_config_str(cfg, "TOPIC_ALERTS")};
    struct cm_stream_config sc = {
        .brokers = cm_config_str(cfg, "KAFKA_BROKERS"),
        .group = cm_config_str(cfg, "OUTPUT_GROUP"),
        .topics = topics,
        .ntopics = 2,
        .max_batch = (size_t)cm_config_int(cfg, "OUTPUT_BATCH"),
        .produce = 1, /* dead letters */
    };
    struct cm_stream_handler handler = {.process = write_batch, .ud = app.sink};
    cm_http_add_check(app.svc.http, "postgres", cm_pg_probe_check, app.pg_ready);
    status = cm_stream_serve(&app.svc, &sc, &handler);
out:
    cm_service_begin_shutdown(&app.svc);
    out_pg_sink_free(app.sink);
    cm_pg_free(app.pg);
    cm_pg_probe_free(app.pg_ready);
    cm_service_free(&app.svc);
    return status;
}
