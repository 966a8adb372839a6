/* devkafka: the development Kafka broker, librdkafka's in-memory mock cluster as a process.
 * Creates the configured topics with the configured partition count, writes the bootstrap
 * address to DEVKAFKA_BOOTSTRAP_FILE (atomically, via rename) and serves until SIGTERM/SIGINT.
 * For local runs and tests only: in memory, about 5 MB kept per partition, no TLS/SASL.
 * DEVKAFKA_UNAVAILABLE_TOPICS lists topics whose metadata answers UNKNOWN_TOPIC_OR_PART, as for
 * topics not created yet, until a SIGHUP makes them available, for failure tests. */
#include "cm/config.h"
#include "cm/kafka_mock.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cm_config_entry config_table[] = {
    {"DEVKAFKA_TOPICS", CM_CFG_STRING, "events,derived,alerts,events.late,dlq", 0, 0,
     "comma-separated topics to create at start-up", 0, 0, NULL},
    {"DEVKAFKA_PARTITIONS", CM_CFG_INT, "16", 0, 0, "partitions per topic", 1, 1000, NULL},
    {"DEVKAFKA_BROKERS", CM_CFG_INT, "1", 0, 0, "number of mock brokers", 1, 9, NULL},
    {"DEVKAFKA_UNAVAILABLE_TOPICS", CM_CFG_STRING, NULL, 0, 0,
     "comma-separated topics whose metadata fails until SIGHUP (failure tests)", 0, 0, NULL},
    {"DEVKAFKA_BOOTSTRAP_FILE", CM_CFG_STRING, NULL, 1, 0,
     "file the bootstrap address (host:port,...) is written to", 0, 0, NULL},
};

/* Sets every topic of the comma-separated list unavailable (or available again). */
static void set_available(struct cm_kafka_mock *mock, const char *list, int available)
{
    char *topics = cm_xstrdup(list), *save = NULL;
    for (char *t = strtok_r(topics, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*t) {
            cm_kafka_mock_topic_set_available(mock, t, available);
            CM_LOG_INFO("devkafka_topic_availability", "%s: %s", t,
                        available ? "available" : "metadata answers UNKNOWN_TOPIC_OR_PART");
        }
    }
    free(topics);
}

static int write_bootstrap(const char *path, const char *bootstraps)
{
    char *tmp = cm_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        int ok = fprintf(f, "%s\n", bootstraps) > 0;
        ok = (fclose(f) == 0) && ok;
        if (ok && rename(tmp, path) == 0) {
            rc = 0;
        }
    }
    if (rc != 0) {
        CM_LOG_ERROR("bootstrap_write_failed", "%s: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    cm_log_init("devkafka");
    struct cm_config *cfg = cm_config_load_or_exit("devkafka", config_table,
                                                   sizeof(config_table) / sizeof(config_table[0]),
                                                   "DEVKAFKA_", argc, argv);
    cm_lifecycle_install();
    int status = 1;
    struct cm_kafka_mock *mock = cm_kafka_mock_new((int)cm_config_int(cfg, "DEVKAFKA_BROKERS"));
    if (!mock) {
        goto out;
    }
    char *topics = cm_xstrdup(cm_config_str(cfg, "DEVKAFKA_TOPICS"));
    int partitions = (int)cm_config_int(cfg, "DEVKAFKA_PARTITIONS");
    char *save = NULL;
    int ok = 1;
    for (char *t = strtok_r(topics, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*t && cm_kafka_mock_create_topic(mock, t, partitions) != 0) {
            ok = 0;
        }
    }
    free(topics);
    const char *unavailable = cm_config_str(cfg, "DEVKAFKA_UNAVAILABLE_TOPICS");
    if (unavailable) {
        set_available(mock, unavailable, 0);
    }
    const char *path = cm_config_str(cfg, "DEVKAFKA_BOOTSTRAP_FILE");
    if (!ok || write_bootstrap(path, cm_kafka_mock_bootstraps(mock)) != 0) {
        goto out;
    }
    CM_LOG_INFO("devkafka_ready", "bootstrap %s, topics %s with %d partitions",
                cm_kafka_mock_bootstraps(mock), cm_config_str(cfg, "DEVKAFKA_TOPICS"), partitions);
    while (!cm_lifecycle_wait(100)) {
        if (cm_lifecycle_reload_requested() && unavailable) {
            set_available(mock, unavailable, 1);
            unavailable = NULL;
        }
    }
    CM_LOG_INFO("devkafka_stopping", "shutting down");
    remove(path);
    status = 0;
out:
    cm_kafka_mock_free(mock);
    cm_config_free(cfg);
    return status;
}
