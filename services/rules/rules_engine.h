/* rules_engine: the rules daemon's stream handler: evaluates consumed events against the rules
 * and emits an alert per match through the stream runtime, which stores a batch's offsets only
 * after Kafka acknowledged every alert of it (alert ids are deterministic, so sinks drop the
 * repeats a retry may produce). Runs on the stream's thread. */
#ifndef RULES_ENGINE_H
#define RULES_ENGINE_H

#include <stddef.h>

struct cm_kafka_msg;
struct cm_metrics;
struct cm_stream;
struct rules_engine;
struct rules_set;

/* Takes ownership of set; copies alerts_topic; borrows metrics. Caller frees with
 * rules_engine_free. */
struct rules_engine *rules_engine_new(struct rules_set *set, const char *alerts_topic,
                                      struct cm_metrics *metrics);
/* The stream handler's process hook (ud = the engine). Always 0. */
int rules_engine_process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n,
                         void *engine);
void rules_engine_free(struct rules_engine *e);

#endif
