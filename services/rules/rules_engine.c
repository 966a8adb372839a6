/* rules_engine: match, produce alerts, wait for their acks (see rules_engine.h). */
#include "rules_engine.h"

#include "rules_set.h"

#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_TIMEOUT_MS 30000

struct rules_engine {
    struct rules_set *set;
    struct cm_kafka_producer *producer;
    char *topic;
    atomic_int failures; /* delivery failures in the current batch */
    struct cm_series *m_evaluated;
    struct cm_series *m_invalid;
    struct cm_series *m_condition_errors;
    struct cm_metric *m_alerts;
};

static void on_delivery(void *opaque, const struct cm_kafka_report *r, void *ud)
{
    struct rules_engine *e = ud;
    (void)opaque;
    if (r->err) {
        atomic_fetch_add(&e->failures, 1);
        CM_LOG_WARN("alert_not_delivered", "%s", r->errstr);
    }
}

struct rules_engine *rules_engine_new(struct rules_set *set, const char *brokers,
                                      const char *alerts_topic, struct cm_metrics *metrics)
{
    struct rules_engine *e = cm_xcalloc(1, sizeof(*e));
    e->set = set;
    e->topic = cm_xstrdup(alerts_topic);
    e->producer = cm_kafka_producer_new(brokers, on_delivery, e);
    if (!e->producer) {
        rules_engine_free(e);
        return NULL;
    }
    struct cm_metric *ev = cm_metrics_counter(metrics, "events_total", "events consumed", "outcome");
    e->m_evaluated = cm_metric_with(ev, "evaluated", NULL);
    e->m_invalid = cm_metric_with(ev, "invalid", NULL);
    e->m_alerts = cm_metrics_counter(metrics, "alerts_total", "alerts produced", "rule");
    e->m_condition_errors = cm_metric_with(
        cm_metrics_counter(metrics, "condition_errors_total",
                           "rule conditions that failed to evaluate (counted as false)", NULL),
        NULL);
    return e;
}

struct cm_kafka_producer *rules_engine_producer(struct rules_engine *e)
{
    return e->producer;
}

/* Produces one alert; retries while the local queue is full. 0 or a negative code. */
static int produce_alert(struct rules_engine *e, const char *rule_id, const json_t *ev)
{
    json_t *alert = rules_alert_new(rule_id, ev);
    char *value = cm_envelope_serialize(alert);
    const char *key = cm_envelope_key(alert);
    const char *names[5], *values[5];
    size_t nh = cm_envelope_headers(alert, names, values);
    int rc;
    while ((rc = cm_kafka_produce(e->producer, e->topic, key, strlen(key), value, strlen(value),
                                  names, values, nh, NULL)) == CM_E_FULL) {
        cm_kafka_producer_flush(e->producer, 100);
    }
    free(value);
    json_decref(alert);
    if (rc == 0) {
        cm_counter_inc(cm_metric_with(e->m_alerts, rule_id, NULL));
    }
    return rc;
}

int rules_engine_process(struct cm_kafka_msg *const *msgs, size_t n, void *engine)
{
    struct rules_engine *e = engine;
    atomic_store(&e->failures, 0);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len;
        const char *value = cm_kafka_msg_value(msgs[i], &len);
        json_t *ev = value ? json_loadb(value, len, 0, NULL) : NULL;
        if (!ev || !json_is_object(ev)) {
            cm_counter_inc(e->m_invalid);
            json_decref(ev);
            continue;
        }
        cm_counter_inc(e->m_evaluated);
        size_t cursor = 0, errors = 0;
        const char *rule_id;
        while (rc == 0 && (rule_id = rules_set_next_match(e->set, ev, &cursor, &errors)) != NULL) {
            rc = produce_alert(e, rule_id, ev);
        }
        cm_counter_add(e->m_condition_errors, errors);
        json_decref(ev);
    }
    if (cm_kafka_producer_flush(e->producer, FLUSH_TIMEOUT_MS) != 0) {
        return CM_E_TIMEDOUT;
    }
    if (rc == 0 && atomic_load(&e->failures) > 0) {
        rc = CM_E_UNAVAIL;
    }
    return rc;
}

void rules_engine_free(struct rules_engine *e)
{
    if (!e) {
        return;
    }
    cm_kafka_producer_free(e->producer, 5000);
    rules_set_free(e->set);
    free(e->topic);
    free(e);
}
