/* processor: runs the declarative pipelines (docs/pipelines.md) on the stream runtime, taking
 * their definitions from the definitions store (and PROCESSOR_PIPELINES_DIR) as they change.
 * Wiring only; see proc_host.c, proc_api.c, proc_engine.c and proc_window.c. */
#include "proc_api.h"
#include "proc_fleet.h"
#include "proc_host.h"

#include "cm/auth.h"
#include "cm/config.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/redis.h"
#include "cm/service.h"
#include "cm/stream.h"

#include <pthread.h>

/* The allocator's options (jemalloc in release builds; common/src/core/mem.c says why thp:always),
 * here with one arena: librdkafka's threads allocate the fetched batches and frames that the
 * stream thread frees, and the results the other way round; in one arena the memory freed by
 * one thread serves the next allocation of another instead of being faulted in afresh.
 * Measured in interleaved runs of bench/processor's pipelines (2026-12-04): 6-12 % more events
 * a second, 5-15 % less CPU per event. MALLOC_CONF still overrides it. */
const char *malloc_conf = "thp:always,narenas:1";

static const struct cm_config_entry config_table[] = {
    CM_SERVICE_HTTP_ENTRIES("PROCESSOR_"),
    {"PROCESSOR_PORT", CM_CFG_INT, "8082", 0, 0,
     "HTTP port (pipelines API, health, readiness, metrics)", 0, 65535, NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"REDIS_URL", CM_CFG_STRING, "redis://127.0.0.1:6379", 0, 1, "Redis for pipeline state", 0, 0,
     NULL},
    {"DATABASE_URL", CM_CFG_STRING, NULL, 0, 1,
     "PostgreSQL URI of the definitions store (pipelines changed through the API, every version "
     "kept); unset = pipelines only from PROCESSOR_PIPELINES_DIR, API read-only",
     0, 0, NULL},
    {"TOPIC_EVENTS", CM_CFG_STRING, "events", 0, 0, "source topic of pipelines that name none", 0,
     0, NULL},
    {"TOPIC_DERIVED", CM_CFG_STRING, "derived", 0, 0, "sink topic of pipelines that name none", 0,
     0, NULL},
    {"TOPIC_LATE", CM_CFG_STRING, "events.late", 0, 0,
     "topic of events too late for every window they belong to", 0, 0, NULL},
    {"TOPIC_DLQ", CM_CFG_STRING, "dlq", 0, 0,
     "dead-letter topic of pipelines that name none: records a pipeline cannot process (an "
     "expression fails on them, or they are not events), with the reason in headers",
     0, 0, NULL},
    {"PROCESSOR_GROUP", CM_CFG_STRING, "processor", 0, 0, "Kafka consumer group", 0, 0, NULL},
    {"PROCESSOR_PIPELINES_DIR", CM_CFG_STRING, NULL, 0, 0,
     "directory of pipeline definitions (*.json) stored at start (a file is applied once per "
     "content, so API changes survive restarts)",
     0, 0, NULL},
    {"PROCESSOR_REDIS_TABLE_TTL", CM_CFG_DURATION, "1s", 0, 0,
     "how long a join step's row read from a Redis hash is reused (0 = read every time)", 0,
     3600000, NULL},
    {"PROCESSOR_CHECKPOINT", CM_CFG_DURATION, "1s", 0, 0,
     "how often outputs are awaited, state made durable and offsets stored", 10, 3600000, NULL},
    {"PROCESSOR_REPARTITION_MAX_LAG", CM_CFG_INT, "10000", 0, 0,
     "records a repartition partition read here may lag behind its end before the inputs pause "
     "(flow control between the two stages; 0: no limit)",
     0, 100000000, NULL},
    {"PROCESSOR_REPARTITION_MAX_BYTES", CM_CFG_SIZE, "2MiB", 0, 0,
     "the same in bytes (records behind times their average size; the development broker keeps "
     "about 5 MiB per partition; 0: no limit)",
     0, 1LL << 40, NULL},
    {"PROCESSOR_AUTH_DISABLED", CM_CFG_BOOL, "false", 0, 0,
     "serve the pipelines API without a token (development only)", 0, 0, NULL},
    {"PROCESSOR_ADMIN_SCOPE", CM_CFG_STRING, "processor:admin", 0, 0,
     "scope a token needs for the pipelines API", 0, 0, NULL},
    CM_AUTH_CONFIG_ENTRIES,
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
        .dlq_topic = cm_config_str(cfg, "TOPIC_DLQ"),
        .checkpoint_ms = (int)cm_config_int(cfg, "PROCESSOR_CHECKPOINT"),
        .max_repartition_lag = cm_config_int(cfg, "PROCESSOR_REPARTITION_MAX_LAG"),
        .max_repartition_bytes = cm_config_int(cfg, "PROCESSOR_REPARTITION_MAX_BYTES"),
    };
    struct cm_auth_keys *keys = NULL;
    struct proc_api *api = NULL;
    struct cm_redis *redis = cm_redis_new(cm_config_str(cfg, "REDIS_URL"));
    struct cm_redis *ckpt_redis = redis ? cm_redis_new(cm_config_str(cfg, "REDIS_URL")) : NULL;
    struct cm_redis *query_redis = redis ? cm_redis_new(cm_config_str(cfg, "REDIS_URL")) : NULL;
    hc.redis = redis;
    hc.ckpt_redis = ckpt_redis;
    hc.redis_table_ttl_ms = cm_config_int(cfg, "PROCESSOR_REDIS_TABLE_TTL");
    struct proc_fleet *fleet =
        redis ? proc_fleet_new(&hc, cm_config_str(cfg, "REDIS_URL"), svc.metrics) : NULL;
    if (!fleet) {
        goto out;
    }
    if (cm_config_bool(cfg, "PROCESSOR_AUTH_DISABLED")) {
        CM_LOG_WARN("auth_disabled", "AUTHENTICATION IS DISABLED: the pipelines API accepts "
                                     "requests without a token (PROCESSOR_AUTH_DISABLED=true)");
    } else if (!(keys = cm_auth_keys_new(cfg, 256, "PROCESSOR_AUTH_DISABLED"))) {
        goto out;
    }
    struct proc_api_topics topics = {hc.events_topic, hc.derived_topic, hc.late_topic,
                                     hc.dlq_topic};
    api = proc_api_new(cm_config_str(cfg, "DATABASE_URL"), fleet, &topics, svc.metrics);
    /* PostgreSQL may come up after the processor, or be failing over while it restarts: wait
     * for the definitions store, as the gateway does for its keys */
    const char *dir = cm_config_str(cfg, "PROCESSOR_PIPELINES_DIR");
    int rc = 0;
    while (dir && *dir && (rc = proc_api_load_dir(api, dir)) == CM_E_UNAVAIL &&
           !cm_lifecycle_wait(1000)) {
    }
    while (rc == 0 && (rc = proc_api_start(api)) == CM_E_UNAVAIL && !cm_lifecycle_wait(1000)) {
    }
    if (rc != 0) {
        status = cm_service_exit_status(rc);
        goto out;
    }
    status = 1;
    if (proc_fleet_start(fleet) != 0) {
        goto out;
    }
    proc_api_routes(api, svc.http, cm_auth_keys_swap(keys),
                    cm_config_str(cfg, "PROCESSOR_ADMIN_SCOPE"), query_redis);
    proc_fleet_add_checks(fleet, svc.http);
    cm_http_add_check(svc.http, "redis", cm_redis_check, redis);
    if (cm_service_start(&svc) != 0) {
        goto out;
    }
    if (proc_fleet_run(fleet) != 0) {
        goto out;
    }
    while (!cm_lifecycle_wait(1000)) {
        cm_auth_keys_poll(keys, cm_lifecycle_reload_requested());
        proc_fleet_poll(fleet);
    }
    proc_fleet_stop(fleet);
    status = 0;
out:
    cm_service_begin_shutdown(&svc);
    cm_http_stop(svc.http, 3000); /* no request may reach the API while it is freed */
    proc_api_free(api);           /* no more changes for the host */
    proc_fleet_free(fleet);
    cm_redis_free(ckpt_redis);
    cm_redis_free(query_redis);
    cm_redis_free(redis);
    cm_auth_keys_free(keys);
    cm_service_free(&svc);
    return status;
}
