/* rules_engine: match and emit alerts (see rules_engine.h). */
#include "rules_engine.h"

#include "rules_set.h"

#include "cm/event.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/stream.h"

#include <jansson.h>
#include <stdlib.h>

struct rules_engine {
    struct rules_set *set;
    char *topic;
    struct cm_series *m_evaluated;
    struct cm_series *m_invalid;
    struct cm_series *m_condition_errors;
    struct cm_metric *m_alerts;
};

struct rules_engine *rules_engine_new(struct rules_set *set, const char *alerts_topic,
                                      struct cm_metrics *metrics)
{
    struct rules_engine *e = cm_xcalloc(1, sizeof(*e));
    e->set = set;
    e->topic = cm_xstrdup(alerts_topic);
    struct cm_metric *ev =
        cm_metrics_counter(metrics, "events_total", "events consumed", "outcome");
    e->m_evaluated = cm_metric_with(ev, "evaluated", NULL);
    e->m_invalid = cm_metric_with(ev, "invalid", NULL);
    e->m_alerts = cm_metrics_counter(metrics, "alerts_total", "alerts produced", "rule");
    e->m_condition_errors = cm_metric_with(
        cm_metrics_counter(metrics, "condition_errors_total",
                           "rule conditions that failed to evaluate (counted as false)", NULL),
        NULL);
    return e;
}

int rules_engine_process(struct cm_stream *s, struct cm_kafka_msg *const *msgs, size_t n,
                         void *engine)
{
    struct rules_engine *e = engine;
    for (size_t i = 0; i < n; i++) {
        struct cm_event ev;
        const char *why;
        if (cm_event_from_record(msgs[i], CM_EVENT_OBJECT, &ev, &why) != 0) {
            cm_event_log_invalid(msgs[i], why);
            cm_counter_inc(e->m_invalid);
            continue;
        }
        cm_counter_inc(e->m_evaluated);
        size_t cursor = 0, errors = 0;
        const char *rule_id;
        while ((rule_id = rules_set_next_match(e->set, ev.ev, &cursor, &errors)) != NULL) {
            json_t *alert = rules_alert_new(rule_id, ev.ev);
            cm_stream_emit_event(s, e->topic, alert);
            json_decref(alert);
            cm_counter_inc(cm_metric_with(e->m_alerts, rule_id, NULL));
        }
        cm_counter_add(e->m_condition_errors, errors);
        cm_event_clear(&ev);
    }
    return 0;
}

void rules_engine_free(struct rules_engine *e)
{
    if (!e) {
        return;
    }
    rules_set_free(e->set);
    free(e->topic);
    free(e);
}
