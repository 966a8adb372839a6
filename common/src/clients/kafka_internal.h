/* kafka_internal: what the producer (kafka.c) and the consumer (kafka_consumer.c) share: the
 * configuration built from KAFKA_* variables, error codes, and the broker ping. */
#ifndef CM_KAFKA_INTERNAL_H
#define CM_KAFKA_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* librdkafka's configuration: bootstrap servers, then `defaults` (name, value pairs ending in
 * NULL), then every KAFKA_* variable of the environment. NULL after logging the bad setting. */
rd_kafka_conf_t *kafka_build_conf(const char *brokers, const char *const *defaults);
/* A librdkafka error as a CM_E_* code. */
int kafka_translate(rd_kafka_resp_err_t err);
/* 0 when a broker answers a metadata request within timeout_ms, else CM_E_UNAVAIL with why. */
int kafka_ping(rd_kafka_t *rk, int timeout_ms, char *why, size_t len);

#endif
