/* dlq: dead letters. A record a sink cannot deliver (not a CloudEvent, refused by the target for
 * its content, retries exhausted), or one a pipeline cannot process, goes to a dead-letter topic
 * instead of blocking the stream or being dropped, as Kafka Connect's errors.deadletterqueue
 * does: the same key, value and headers, plus headers naming who gave up on it (`dlq_sink`, or
 * `dlq_pipeline` and `dlq_pipeline_version`), the error (`dlq_error`), the attempts made
 * (`dlq_attempts`) and where it came from (`dlq_topic`, `dlq_partition`, `dlq_offset`). It is
 * emitted through the stream, so the record's offset is stored only once the dead letter is
 * acknowledged. Stream's thread. */
#ifndef CM_DLQ_H
#define CM_DLQ_H

#include <stddef.h>

struct cm_kafka_msg;
struct cm_stream;

#define CM_DLQ_MAX_BY 2

/* A sink's dead letter (`dlq_sink`), logged. */
void cm_dlq_send(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                 const char *sink, const char *error, int attempts);
/* The same, naming who gave up on it in nby (at most CM_DLQ_MAX_BY) headers of its own; not
 * logged (the caller says what it wants to). */
void cm_dlq_send_by(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                    const char *const *by_names, const char *const *by_values, size_t nby,
                    const char *error, int attempts);
/* The same for a value made from record m rather than m itself (an event it held, as a pipeline
 * keyed it): key (NULL: none), value and its nh headers (C strings) instead of m's, then the
 * same headers naming who gave up, the error, 1 attempt and where m came from. Not logged. */
void cm_dlq_send_value(struct cm_stream *s, const char *dlq_topic, const struct cm_kafka_msg *m,
                       const char *key, const char *value, size_t vlen, const char *const *hnames,
                       const char *const *hvalues, size_t nh, const char *const *by_names,
                       const char *const *by_values, size_t nby, const char *error);

#endif
