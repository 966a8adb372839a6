/* processor: runs the declarative pipelines of PROCESSOR_PIPELINES_DIR (docs/pipelines.md) on
 * the stream runtime. Wiring only; see proc_host.c, proc_engine.c and proc_window.c. */
#include "proc_host.h"

#include "cm/redis.h"
#include "cm/service.h"
#include "cm/stream.h"

static const struct cm_config_entry config_table[] = {
    {"PROCESSOR_PORT", CM_CFG_INT, "8082", 0, 0, "admin HTTP port (health, readiness, metrics)", 0,
     65535, NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"REDIS_URL", CM_CFG_STRING, "redis://127.0.0.1:6379", 0, 1, "Redis for pipeline state", 0, 0,
     NULL},
    {"TOPIC_EVENTS", CM_CFG_STRING, "events", 0, 0, "source topic of pipelines that name none", 0,
     0, NULL},
    {"TOPIC_DERIVED", CM_CFG_STRING, "derived", 0, 0, "sink topic of pipelines that name none", 0,
     0, NULL},
    {"TOPIC_LATE", CM_CFG_STRING, "events.late", 0, 0,
     "topic of events too late for every window they belong to", 0, 0, NULL},
    {"PROCESSOR_GROUP", CM_CFG_STRING, "processor", 0, 0, "Kafka consumer group", 0, 0, NULL},
    {"PROCESSOR_PIPELINES_DIR", CM_CFG_STRING, NULL, 0, 0,
     "directory of pipeline definitions (*.json) loaded at start", 0, 0, NULL},
    {"PROCESSOR_CHECKPOINT", CM_CFG_DURATION, "1s", 0, 0,
     "how often outputs are awaited, state made durable and offsets stored", 10, 3600000, NULL},
};

int main(int argc, char **argv)
{
    struct cm_service svc;
    cm_service_init(&svc, "processor", "PROCESSOR_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "PROCESSOR_PORT", NULL, argc,
                    argv);
    const struct cm_config *cfg = svc.cfg;
    int status = CM_CONFIG_EXIT_BAD;
    struct proc_host_config hc = {
        .brokers = cm_config_str(cfg, "KAFKA_BROKERS"),
        .group = cm_config_str(cfg, "PROCESSOR_GROUP"),
        .events_topic = cm_config_str(cfg, "TOPIC_EVENTS"),
        .derived_topic = cm_config_str(cfg, "TOPIC_DERIVED"),
        .late_topic = cm_config_str(cfg, "TOPIC_LATE"),
        .pipelines_dir = cm_config_str(cfg, "PROCESSOR_PIPELINES_DIR"),
        .checkpoint_ms = (int)cm_config_int(cfg, "PROCESSOR_CHECKPOINT"),
    };
    struct cm_redis *redis = cm_redis_new(cm_config_str(cfg, "REDIS_URL"));
    hc.redis = redis;
    struct proc_host *host = redis ? proc_host_new(&hc, svc.metrics) : NULL;
    if (!host) {
        goto out;
    }
    cm_stream_add_checks(proc_host_stream(host), svc.http);
    cm_http_add_check(svc.http, "redis", cm_redis_check, redis);
    status = 1;
    if (cm_service_start(&svc) != 0) {
        goto out;
    }
    cm_stream_run(proc_host_stream(host));
    status = 0;
out:
    cm_service_begin_shutdown(&svc);
    proc_host_free(host);
    cm_redis_free(redis);
    cm_service_free(&svc);
    return status;
}
