/* processor: runs the event-time window pipeline over `events` and produces results to
 * `derived`. Wiring only; see proc_pipeline.c and proc_window.c. */
#include "proc_pipeline.h"

#include "cm/redis.h"
#include "cm/service.h"
#include "cm/stream.h"

static const struct cm_config_entry config_table[] = {
    {"PROCESSOR_PORT", CM_CFG_INT, "8082", 0, 0, "admin HTTP port (health, readiness, metrics)",
     0, 65535, NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"REDIS_URL", CM_CFG_STRING, "redis://127.0.0.1:6379", 0, 1, "Redis for pipeline state", 0, 0,
     NULL},
    {"TOPIC_EVENTS", CM_CFG_STRING, "events", 0, 0, "topic of accepted events", 0, 0, NULL},
    {"TOPIC_DERIVED", CM_CFG_STRING, "derived", 0, 0, "topic results are produced to", 0, 0, NULL},
    {"TOPIC_LATE", CM_CFG_STRING, "events.late", 0, 0, "topic of records too late for their window",
     0, 0, NULL},
    {"PROCESSOR_GROUP", CM_CFG_STRING, "processor", 0, 0, "Kafka consumer group", 0, 0, NULL},
    {"PROCESSOR_PIPELINE", CM_CFG_STRING, "count-by-type", 0, 0,
     "pipeline name (part of every result's id and source)", 0, 0, NULL},
    {"PROCESSOR_FILTER", CM_CFG_STRING, "true", 0, 0,
     "expression selecting the events to count (docs/expressions.md)", 0, 0, NULL},
    {"PROCESSOR_KEY", CM_CFG_STRING, "type", 0, 0, "expression giving the grouping key", 0, 0,
     NULL},
    {"PROCESSOR_WINDOW", CM_CFG_DURATION, "10s", 0, 0, "tumbling window size", 1, 86400000, NULL},
    {"PROCESSOR_OUT_OF_ORDERNESS", CM_CFG_DURATION, "2s", 0, 0,
     "how far behind the newest event time a record may arrive and still count", 0, 86400000,
     NULL},
    {"PROCESSOR_IDLE_FLUSH", CM_CFG_DURATION, "3s", 0, 0,
     "a partition without records for this long emits its open windows", 1, 86400000, NULL},
};

int main(int argc, char **argv)
{
    struct cm_service svc;
    cm_service_init(&svc, "processor", "PROCESSOR_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "PROCESSOR_PORT", NULL, argc,
                    argv);
    const struct cm_config *cfg = svc.cfg;
    int status = CM_CONFIG_EXIT_BAD;
    struct proc_pipeline_config pc = {
        .name = cm_config_str(cfg, "PROCESSOR_PIPELINE"),
        .filter = cm_config_str(cfg, "PROCESSOR_FILTER"),
        .key = cm_config_str(cfg, "PROCESSOR_KEY"),
        .brokers = cm_config_str(cfg, "KAFKA_BROKERS"),
        .group = cm_config_str(cfg, "PROCESSOR_GROUP"),
        .events_topic = cm_config_str(cfg, "TOPIC_EVENTS"),
        .derived_topic = cm_config_str(cfg, "TOPIC_DERIVED"),
        .late_topic = cm_config_str(cfg, "TOPIC_LATE"),
        .window_ms = cm_config_int(cfg, "PROCESSOR_WINDOW"),
        .out_of_orderness_ms = cm_config_int(cfg, "PROCESSOR_OUT_OF_ORDERNESS"),
        .idle_ms = cm_config_int(cfg, "PROCESSOR_IDLE_FLUSH"),
    };
    struct cm_redis *redis = cm_redis_new(cm_config_str(cfg, "REDIS_URL"));
    struct proc_pipeline *pipeline = redis ? proc_pipeline_new(&pc, svc.metrics) : NULL;
    if (!pipeline) {
        goto out;
    }
    cm_stream_add_checks(proc_pipeline_stream(pipeline), svc.http);
    cm_http_add_check(svc.http, "redis", cm_redis_check, redis);
    status = 1;
    if (cm_service_start(&svc) != 0) {
        goto out;
    }
    cm_stream_run(proc_pipeline_stream(pipeline));
    status = 0;
out:
    cm_service_begin_shutdown(&svc);
    proc_pipeline_free(pipeline);
    cm_redis_free(redis);
    cm_service_free(&svc);
    return status;
}
