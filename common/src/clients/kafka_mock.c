/* kafka_mock: wrapper over rdkafka_mock.h (see kafka_mock.h). The mock cluster lives inside a
 * librdkafka handle that exists only to host it. */
#include "cm/kafka_mock.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>

struct cm_kafka_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int nbrokers;
};

struct cm_kafka_mock *cm_kafka_mock_new(int nbrokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        CM_LOG_ERROR("kafka_mock_failed", "%s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        CM_LOG_ERROR("kafka_mock_failed", "cannot create a mock cluster of %d brokers", nbrokers);
        rd_kafka_destroy(rk);
        return NULL;
    }
    struct cm_kafka_mock *m = cm_xcalloc(1, sizeof(*m));
    m->rk = rk;
    m->mc = mc;
    m->nbrokers = nbrokers;
    return m;
}

const char *cm_kafka_mock_bootstraps(const struct cm_kafka_mock *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->mc);
}

int cm_kafka_mock_create_topic(struct cm_kafka_mock *m, const char *topic, int partitions)
{
    int rf = m->nbrokers < 3 ? m->nbrokers : 3;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->mc, topic, partitions, rf);
    if (err) {
        CM_LOG_ERROR("kafka_mock_topic_failed", "%s: %s", topic, rd_kafka_err2str(err));
        return CM_E_INVAL;
    }
    return 0;
}

int cm_kafka_mock_broker_set_up(struct cm_kafka_mock *m, int id, int up)
{
    rd_kafka_resp_err_t err =
        up ? rd_kafka_mock_broker_set_up(m->mc, id) : rd_kafka_mock_broker_set_down(m->mc, id);
    return err ? CM_E_INVAL : 0;
}

int cm_kafka_mock_broker_set_rtt(struct cm_kafka_mock *m, int id, int rtt_ms)
{
    return rd_kafka_mock_broker_set_rtt(m->mc, id, rtt_ms) ? CM_E_INVAL : 0;
}

void cm_kafka_mock_topic_set_available(struct cm_kafka_mock *m, const char *topic, int available)
{
    rd_kafka_mock_topic_set_error(m->mc, topic,
                                  available ? RD_KAFKA_RESP_ERR_NO_ERROR
                                            : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
}

void cm_kafka_mock_free(struct cm_kafka_mock *m)
{
    if (!m) {
        return;
    }
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}
