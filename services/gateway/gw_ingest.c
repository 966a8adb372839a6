/* gw_ingest: the POST /events pipeline (see gw_ingest.h). */
#include "gw_ingest.h"

#include "gw_auth.h"
#include "gw_route.h"
#include "gw_schema.h"

#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gw_ingest {
    const struct gw_routes *routes;
    struct gw_schemas *schemas;
    int max_queue;
    const struct gw_auth *auth;
    struct cm_kafka_producer *producer;
    struct cm_metric *m_events;
    struct cm_series *m_accepted;
    struct cm_series *m_produce_latency;
    struct cm_series *m_route_errors;
};

/* One event waiting for the delivery reports of its copies (one per topic). Whoever drops
 * `remaining` to zero answers the request and frees it. */
struct pending {
    struct cm_http_req *req;
    int64_t start_ns;
    atomic_int remaining;
    atomic_int failed;      /* some copy was not acknowledged */
    atomic_int maybe;       /* some copy's outcome is unknown */
    char id[CM_ENVELOPE_MAX_ID + 1];
};

static void count_rejected(struct gw_ingest *g, const char *reason)
{
    cm_counter_inc(cm_metric_with(g->m_events, "rejected", reason, NULL));
}

/* Answers once every copy has its report. */
static void finish(struct gw_ingest *g, struct pending *p)
{
    cm_histogram_observe(g->m_produce_latency, (double)(cm_monotonic_ns() - p->start_ns) / 1e9);
    if (!atomic_load(&p->failed)) {
        cm_counter_inc(g->m_accepted);
        json_t *body = json_object();
        json_object_set_new(body, "id", json_string(p->id));
        cm_http_respond_json(p->req, 202, body);
    } else {
        count_rejected(g, "kafka");
        cm_http_add_header(p->req, "Retry-After", "1");
        json_t *body = json_object();
        json_object_set_new(body, "error_code", json_integer(503));
        json_object_set_new(body, "id", json_string(p->id));
        json_object_set_new(body, "message",
                            json_string(atomic_load(&p->maybe)
                                            ? "delivery outcome unknown (the event may have "
                                              "been stored); retry with the same id"
                                            : "Kafka did not accept the event"));
        cm_http_respond_json(p->req, 503, body);
    }
    free(p);
}

static void copy_done(struct gw_ingest *g, struct pending *p)
{
    if (atomic_fetch_sub(&p->remaining, 1) == 1) {
        finish(g, p);
    }
}

static void on_delivery(void *opaque, const struct cm_kafka_report *r, void *ud)
{
    struct gw_ingest *g = ud;
    struct pending *p = opaque;
    if (r->err != 0) {
        atomic_store(&p->failed, 1);
        if (r->persisted == CM_KAFKA_MAYBE_PERSISTED) {
            atomic_store(&p->maybe, 1);
        }
        CM_LOG_WARN("produce_failed", "event %s: %s", p->id, r->errstr);
    }
    copy_done(g, p);
}

struct gw_ingest *gw_ingest_new(const struct gw_ingest_config *cfg, const struct gw_auth *auth,
                                struct cm_metrics *metrics)
{
    struct gw_ingest *g = cm_xcalloc(1, sizeof(*g));
    g->routes = cfg->routes;
    g->schemas = cfg->schemas;
    g->max_queue = cfg->max_queue;
    g->auth = auth;
    g->m_events = cm_metrics_counter(metrics, "events_total", "events by outcome and reason",
                                     "outcome,reason");
    g->m_accepted = cm_metric_with(g->m_events, "accepted", "", NULL);
    g->m_produce_latency = cm_metric_with(
        cm_metrics_histogram(metrics, "produce_latency_seconds",
                             "time from produce to broker acknowledgement", NULL,
                             cm_metrics_latency_buckets, cm_metrics_latency_nbuckets),
        NULL);
    g->m_route_errors = cm_metric_with(
        cm_metrics_counter(metrics, "route_errors_total",
                           "route expressions that failed to evaluate (counted as false)", NULL),
        NULL);
    g->producer = cm_kafka_producer_new(cfg->brokers, on_delivery, g);
    if (!g->producer) {
        gw_ingest_free(g);
        return NULL;
    }
    return g;
}

static int content_type_ok(const char *ct)
{
    static const char *accepted[] = {"application/json", "application/cloudevents+json"};
    if (!ct) {
        return 0;
    }
    size_t len = strcspn(ct, "; \t");
    for (size_t i = 0; i < 2; i++) {
        if (strlen(accepted[i]) == len && strncasecmp(ct, accepted[i], len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Authenticates the request; on failure responds and returns 0. */
static int authenticate(struct gw_ingest *g, struct cm_http_req *req, struct gw_principal *who)
{
    memset(who, 0, sizeof(*who));
    if (!g->auth) {
        return 1;
    }
    char why[128];
    enum gw_auth_result r =
        gw_auth_verify(g->auth, cm_http_header(req, "Authorization"), cm_now_ms() / 1000, who,
                       why, sizeof(why));
    if (r == GW_AUTH_OK) {
        return 1;
    }
    char challenge[256];
    if (r == GW_AUTH_MISSING) {
        snprintf(challenge, sizeof(challenge), "Bearer");
    } else {
        snprintf(challenge, sizeof(challenge), "Bearer error=\"invalid_token\", error_description=\"%s\"",
                 why);
    }
    cm_http_add_header(req, "WWW-Authenticate", challenge);
    count_rejected(g, "auth");
    cm_http_respond_error(req, 401, 0, "%s", why);
    return 0;
}

static void respond_invalid(struct gw_ingest *g, struct cm_http_req *req, const char *reason,
                            const char *field, const char *message)
{
    count_rejected(g, reason);
    json_t *body = json_object();
    json_object_set_new(body, "error_code", json_integer(400));
    json_object_set_new(body, "message", json_string(message));
    if (field) {
        json_object_set_new(body, "field", json_string(field));
    }
    cm_http_respond_json(req, 400, body);
}

/* Validates data against the subject's registered schema and sets `schemaid`; on failure
 * responds 422 naming each failing field and returns 0. */
static int check_schema(struct gw_ingest *g, struct cm_http_req *req, json_t *ev, const char *topic)
{
    json_t *errors = json_array();
    int id = 0;
    char subject[300];
    enum gw_check r = gw_schemas_check(g->schemas, ev, topic, &id, errors, subject, sizeof(subject));
    if (r == GW_CHECK_VALID) {
        json_object_set_new(ev, "schemaid", json_integer(id));
    }
    if (r == GW_CHECK_VALID || r == GW_CHECK_NO_SCHEMA) {
        json_decref(errors);
        return 1;
    }
    count_rejected(g, r == GW_CHECK_INVALID ? "schema" : "unknown_type");
    json_t *body = json_object();
    json_object_set_new(body, "error_code", json_integer(422));
    char msg[400];
    if (r == GW_CHECK_INVALID) {
        snprintf(msg, sizeof(msg), "data does not match the schema registered for subject '%s'",
                 subject);
        json_object_set_new(body, "errors", errors);
    } else {
        snprintf(msg, sizeof(msg), "no schema is registered for subject '%s' and unknown types are "
                                   "rejected",
                 subject);
        json_decref(errors);
    }
    json_object_set_new(body, "message", json_string(msg));
    cm_http_respond_json(req, 422, body);
    return 0;
}

void gw_ingest_handle(struct cm_http_req *req, void *ud)
{
    struct gw_ingest *g = ud;
    struct gw_principal who;
    if (!authenticate(g, req, &who)) {
        return;
    }
    if (!content_type_ok(cm_http_header(req, "Content-Type"))) {
        count_rejected(g, "content_type");
        cm_http_respond_error(req, 415, 0,
                              "Content-Type must be application/json or "
                              "application/cloudevents+json");
        return;
    }
    size_t len;
    const char *body = cm_http_body(req, &len);
    json_error_t jerr;
    json_t *ev = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        respond_invalid(g, req, "json", NULL, msg);
        return;
    }
    struct cm_envelope_error verr;
    if (cm_envelope_validate(ev, &verr) != 0) {
        respond_invalid(g, req, "envelope", verr.field, verr.message);
        json_decref(ev);
        return;
    }
    if (cm_kafka_producer_queue_len(g->producer) >= g->max_queue) {
        count_rejected(g, "backpressure");
        cm_http_add_header(req, "Retry-After", "1");
        cm_http_respond_error(req, 503, 0, "too many events in flight; retry later");
        json_decref(ev);
        return;
    }
    struct cm_envelope_enrichment enr = {who.tenant[0] ? who.tenant : NULL,
                                         cm_http_client_ip(req)[0] ? cm_http_client_ip(req) : NULL,
                                         cm_now_ms()};
    cm_envelope_enrich(ev, &enr);
    const char *const *topics;
    size_t route_errors = 0;
    size_t ntopics = gw_routes_select(g->routes, ev, &topics, &route_errors);
    cm_counter_add(g->m_route_errors, route_errors);
    if (g->schemas && !check_schema(g, req, ev, topics[0])) {
        json_decref(ev);
        return;
    }
    char *value = cm_envelope_serialize(ev);
    const char *key = cm_envelope_key(ev);
    const char *names[5], *values[5];
    size_t nh = cm_envelope_headers(ev, names, values);
    struct pending *p = cm_xcalloc(1, sizeof(*p));
    p->req = req;
    p->start_ns = cm_monotonic_ns();
    atomic_init(&p->remaining, (int)ntopics);
    snprintf(p->id, sizeof(p->id), "%s", json_string_value(json_object_get(ev, "id")));
    cm_http_defer(req);
    int first_rc = 0;
    for (size_t i = 0; i < ntopics; i++) {
        int rc = cm_kafka_produce(g->producer, topics[i], key, strlen(key), value, strlen(value),
                                  names, values, nh, p);
        if (rc != 0) {
            if (i == 0) {
                first_rc = rc; /* nothing enqueued yet: answer with the precise reason below */
                break;
            }
            CM_LOG_WARN("produce_failed", "event %s to %s: %s", p->id, topics[i], cm_strerror(rc));
            atomic_store(&p->failed, 1);
            /* this copy and the ones not attempted will never report: account for them at once
             * (p may be answered and freed by this, so the loop ends here) */
            int left = (int)(ntopics - i);
            if (atomic_fetch_sub(&p->remaining, left) == left) {
                finish(g, p);
            }
            break;
        }
    }
    free(value);
    json_decref(ev);
    if (first_rc != 0) {
        free(p);
        count_rejected(g, "kafka");
        if (first_rc == CM_E_FULL) {
            cm_http_add_header(req, "Retry-After", "1");
            cm_http_respond_error(req, 503, 0, "too many events in flight; retry later");
        } else if (first_rc == CM_E_TOOBIG) {
            cm_http_respond_error(req, 413, 0, "event too large for Kafka");
        } else {
            cm_http_respond_error(req, 503, 0, "cannot produce: %s", cm_strerror(first_rc));
        }
    }
}

int gw_ingest_check_kafka(void *ud, char *why, size_t len)
{
    struct gw_ingest *g = ud;
    return cm_kafka_producer_ping(g->producer, 1000, why, len);
}

void gw_ingest_drain(struct gw_ingest *g, int timeout_ms)
{
    if (g && g->producer) {
        cm_kafka_producer_flush(g->producer, timeout_ms);
    }
}

void gw_ingest_free(struct gw_ingest *g)
{
    if (!g) {
        return;
    }
    cm_kafka_producer_free(g->producer, 5000);
    free(g);
}
