/* rules: consumes `events`, matches them against the rules file and produces alerts to
 * `alerts`. Wiring only; see rules_set.c and rules_engine.c. */
#include "rules_engine.h"
#include "rules_set.h"

#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/service.h"

static const struct cm_config_entry config_table[] = {
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
    struct cm_kafka_consumer *consumer;
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
    const char *brokers = cm_config_str(cfg, "KAFKA_BROKERS");
    app.engine = rules_engine_new(set, brokers, cm_config_str(cfg, "TOPIC_ALERTS"),
                                  app.svc.metrics);
    const char *topics[] = {cm_config_str(cfg, "TOPIC_EVENTS")};
    app.consumer = app.engine ? cm_kafka_consumer_new(brokers, cm_config_str(cfg, "RULES_GROUP"),
                                                      topics, 1, NULL)
                              : NULL;
    if (!app.consumer) {
        goto out;
    }
    cm_http_add_check(app.svc.http, "kafka", cm_kafka_producer_check,
                      rules_engine_producer(app.engine));
    status = 1;
    if (cm_service_start(&app.svc) != 0) {
        goto out;
    }
    cm_kafka_consume_loop(app.consumer, (size_t)cm_config_int(cfg, "RULES_BATCH"),
                          rules_engine_process, app.engine);
    status = 0;
out:
    cm_service_begin_shutdown(&app.svc);
    cm_kafka_consumer_free(app.consumer);
    rules_engine_free(app.engine);
    cm_service_free(&app.svc);
    return status;
}
