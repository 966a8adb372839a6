/* dlq: dead letters. A record a sink cannot deliver (not a CloudEvent, refused by the target for
 * its content, retries exhausted) goes to the dead-letter topic instead of blocking the stream or
 * being dropped, as Kafka Connect's errors.deadletterqueue does: the same key, value and headers,
 * plus headers naming the sink (`dlq_sink`), the error (`dlq_error`), the attempts made
 * (`dlq_attempts`) and where it came from (`dlq_topic`, `dlq_partition`, `dlq_offset`). It is
 * emitted through the stream, so the record's offset is stored only once the dead letter is
 * acknowledged. Stream's thread. */
#ifndef CM_DLQ_H
#define CM_DLQ_H

struct cm_kafka_msg;
struct cm_stream;

void cm_dlq_send(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                 const char *sink, const char *error, int attempts);

#endif
