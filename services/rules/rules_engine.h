/* rules_engine: evaluates consumed events against the rules and produces alerts.
 * A batch counts as done only when every alert of the batch was acknowledged by Kafka; otherwise
 * the whole batch is retried (alert ids are deterministic, so sinks drop the repeats).
 * Runs on the consumer thread; the producer's delivery reports arrive on its own thread. */
#ifndef RULES_ENGINE_H
#define RULES_ENGINE_H

#include <stddef.h>

struct cm_kafka_msg;
struct cm_kafka_producer;
struct cm_metrics;
struct rules_engine;
struct rules_set;

/* Takes ownership of set; borrows metrics. Creates its own producer on brokers. NULL after logging
 * when the producer cannot be configured. Caller frees with rules_engine_free. */
struct rules_engine *rules_engine_new(struct rules_set *set, const char *brokers,
                                      const char *alerts_topic, struct cm_metrics *metrics);
struct cm_kafka_producer *rules_engine_producer(struct rules_engine *e);
/* cm_kafka_batch_fn: 0 when all alerts of the batch are acknowledged. */
int rules_engine_process(struct cm_kafka_msg *const *msgs, size_t n, void *engine);
void rules_engine_free(struct rules_engine *e);

#endif
