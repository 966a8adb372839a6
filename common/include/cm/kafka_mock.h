/* kafka_mock: librdkafka's in-memory mock cluster, as a development broker (tools/devkafka) and
 * for tests. Binds 127.0.0.1 on ports the kernel picks; cm_kafka_mock_bootstraps tells them.
 * Its connections have TCP_NODELAY, as a real broker's (the mock itself leaves Nagle on).
 * Not thread-safe; one owner. */
#ifndef CM_KAFKA_MOCK_H
#define CM_KAFKA_MOCK_H

struct cm_kafka_mock;

/* Starts a cluster of nbrokers brokers. NULL after logging on failure. Free with
 * cm_kafka_mock_free. */
struct cm_kafka_mock *cm_kafka_mock_new(int nbrokers);
/* "127.0.0.1:port,..." borrowed until free. */
const char *cm_kafka_mock_bootstraps(const struct cm_kafka_mock *m);
/* Creates a topic with the partition count (replication factor min(3, brokers)). 0 or CM_E_*. */
int cm_kafka_mock_create_topic(struct cm_kafka_mock *m, const char *topic, int partitions);
/* Takes broker `id` (1-based) down or brings it back, for failure tests. */
int cm_kafka_mock_broker_set_up(struct cm_kafka_mock *m, int id, int up);
/* Delays broker `id`'s answers by rtt_ms (0 = none), so a test can act while requests are in
 * flight. */
int cm_kafka_mock_broker_set_rtt(struct cm_kafka_mock *m, int id, int rtt_ms);
/* Makes the topic's metadata answer UNKNOWN_TOPIC_OR_PART, as for a topic not created yet (its
 * partition count cannot be read), or answer normally again, for failure tests. */
void cm_kafka_mock_topic_set_available(struct cm_kafka_mock *m, const char *topic, int available);
void cm_kafka_mock_free(struct cm_kafka_mock *m);

#endif
