/* kafka_mock: wrapper over rdkafka_mock.h (see kafka_mock.h). The mock cluster lives inside a
 * librdkafka handle that exists only to host it. Its listening sockets get TCP_NODELAY, as a real
 * broker's have (below). */
#include "cm/kafka_mock.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct cm_kafka_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int nbrokers;
};

/* 1 when the bootstrap list ("127.0.0.1:port,...") names port (each entry's last colon). */
static int names_port(const char *bootstraps, unsigned port)
{
    for (const char *p = bootstraps; p && *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *colon = NULL;
        for (const char *c = p; c < end; c++) {
            colon = *c == ':' ? c : colon;
        }
        if (colon && strtoul(colon + 1, NULL, 10) == port) {
            return 1;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* Sets TCP_NODELAY on this process's listening sockets that the mock's brokers listen on; the
 * connections they accept inherit it. The mock leaves Nagle's algorithm on, so an answer written
 * while the client had not yet acknowledged the previous one waited for its delayed ACK (about
 * 40 ms): a producer writing to several partitions, one request each, waited that long per round
 * (48 ms against 5.7 ms for 16 partitions with linger.ms 5). Kafka's brokers set TCP_NODELAY.
 * Returns how many sockets it set. */
static int nodelay_listeners(const char *bootstraps)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        return 0;
    }
    int set = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        int listening = 0, one = 1;
        socklen_t len = sizeof(listening);
        struct sockaddr_in addr;
        socklen_t alen = sizeof(addr);
        if (*end || end == e->d_name || fd < 0 || fd == dirfd(dir) ||
            getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening ||
            getsockname((int)fd, (struct sockaddr *)&addr, &alen) != 0 ||
            addr.sin_family != AF_INET || !names_port(bootstraps, ntohs(addr.sin_port))) {
            continue;
        }
        if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0) {
            set++;
        }
    }
    closedir(dir);
    return set;
}

static void nodelay(struct cm_kafka_mock *m)
{
    int set = nodelay_listeners(rd_kafka_mock_cluster_bootstraps(m->mc));
    if (set < m->nbrokers) {
        CM_LOG_WARN("kafka_mock_nagle",
                    "TCP_NODELAY set on %d of %d brokers' listeners; answers "
                    "on the others may wait for the client's delayed ACK",
                    set, m->nbrokers);
    }
}

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
    nodelay(m);
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
    if (!err && up) {
        nodelay(m); /* (a broker brought back listens on a new socket) */
    }
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
