/* rules: consumes `events`, matches them against the rules file and produces alerts to
 * `alerts`. Wiring only; see rules_set.c and rules_engine.c. */
#include "rules_engine.h"
#include "rules_set.h"

#include "cm/log.h"
#include "cm/service.h"
#include "cm/stream.h"

static const struct cm_config_entry config_table[] = {
    CM_SERVICE_HTTP_ENTRIES("RULES_"),
    {"RULES_PORT", CM_CFG_INT, "8083", 0, 0, "HTTP port (health, readiness, metrics)", 0, 65535,
     NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"RULES_FILE", CM_CFG_STRING, NULL, 1, 0, "JSON rules document", 0, 0, NULL},
    {"TOPIC_EVENTS", CM_CFG_STRING, "events", 0, 0, "topic of accepted events", 0, 0, NULL},
    {"TOPIC_ALERTS", CM_CFG_STRING, "alerts", 0, 0, "topic alerts are produced to", 0, 0, NULL},
    {"RULES_GROUP", CM_CFG_STRING, "rules", 0, 0, "Kafka consumer group", 0, 0, NULL},
    {"RULES_BATCH", CM_CFG_INT, "500", 0, 0, "records per batch", 1, 10000, NULL},
};

struct app {
    struct cm_service svc;
    struct rules_engine *engine;
};

int main(int argc, char **argv)
{
    struct app app = {0};
    cm_service_init(&app.svc, "rules", "RULES_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "RULES_PORT", NULL, argc, argv);
    const struct cm_config *cfg = app.svc.cfg;
    int status = CM_CONFIG_EXIT_BAD;
    char err[512];
    struct rules_set *set = rules_set_load_file(cm_config_str(cfg, "RULES_FILE"), err, sizeof(err));
    if (!set) {
        CM_LOG_ERROR("config_invalid", "RULES_FILE: %s", err);
        goto out;
    }
    CM_LOG_INFO("rules_loaded", "%zu rules from %s", rules_set_count(set),
                cm_config_str(cfg, "RULES_FILE"));
    app.engine = rules_engine_new(set, cm_config_str(cfg, "TOPIC_ALERTS"), app.svc.metrics);
    const char *topics[] = {cm_config_str(cfg, "TOPIC_EVENTS")};
    struct cm_stream_config sc = {
        .brokers = cm_config_str(cfg, "KAFKA_BROKERS"),
        .group = cm_config_str(cfg, "RULES_GROUP"),
        .topics = topics,
        .ntopics = 1,
        .max_batch = (size_t)cm_config_int(cfg, "RULES_BATCH"),
        .produce = 1,
    };
    struct cm_stream_handler handler = {.process = rules_engine_process, .ud = app.engine};
    status = cm_stream_serve(&app.svc, &sc, &handler);
out:
    cm_service_begin_shutdown(&app.svc);
    rules_engine_free(app.engine);
    cm_service_free(&app.svc);
    return status;
}
