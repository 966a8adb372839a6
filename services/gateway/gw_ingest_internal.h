/* gw_ingest_internal: what the parts of the POST /events pipeline share (gw_ingest.c runs a
 * request, gw_prepare.c checks and enriches one event, gw_answer.c answers the request): the
 * pipeline's state, a request's (struct batch) and an event's (struct item). Not for other
 * modules. */
#ifndef GW_INGEST_INTERNAL_H
#define GW_INGEST_INTERNAL_H

#include "gw_ingest.h"

#include "cm/envelope.h"
#include "cm/jsonscan.h"
#include "cm/uuid.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct gw_routes;

struct gw_ingest {
    struct cm_swap *routes;
    struct gw_schemas *schemas;
    int max_queue;
    size_t max_body;
    size_t max_batch;
    size_t validation_budget;
    int64_t max_time_ahead_ms;
    struct gw_ratelimit *ratelimit;
    struct gw_idem *idem;
    struct gw_sigs *sigs;
    char *required_scope;
    struct cm_swap *auth; /* of cm_auth; NULL = authentication disabled */
    struct cm_kafka_producer *producer;
    struct cm_metric *m_events;
    struct cm_series *m_accepted;
    struct cm_series *m_produce_latency;
    struct cm_series *m_route_errors;
};

struct batch;

/* One event of a request. status: 0 while in flight, else the HTTP status of its result. */
struct item {
    struct batch *batch;
    const char *text; /* the event as jsonscan found it (fast lane), in the request body */
    size_t textlen;
    const struct cm_jscan_member *members; /* its members, when the scan gathered them */
    size_t nmembers;
    struct cm_envelope_text out; /* fast lane: the enriched text, owned until produced */
    json_t *event;               /* jansson lane: owned until produced */
    json_t *error;               /* {"error_code", "message", ...} for a refused event; owned */
    int status;
    atomic_int failed;
    atomic_int maybe;
    atomic_int toobig; /* Kafka refused it as larger than a record may be */
    size_t bytes;      /* its record's size, as produced */
    char id[CM_ENVELOPE_MAX_ID + 1];
    char *idem_key; /* owned; set while this event holds an idempotency key */
    char idem_hash[CM_UUID_STR_LEN];
    char traceparent[56]; /* kept at produce time for the delivery thread's log lines */
};

struct batch {
    struct gw_ingest *g;
    gw_answer_fn answer_fn; /* NULL once answered (respond-async) */
    void *answer_ud;
    char ratelimit_policy[96], ratelimit[96]; /* "" without rate limits */
    char policy[160]; /* why an event broke the tenant's policy (signatures); "" none */
    int single;
    size_t validation_budget; /* JSON Schema steps its events have left (gw_schema_validate) */
    int64_t start_ns;
    atomic_int remaining; /* copies without a delivery report, plus one held by the handler */
    size_t n;
    struct item *items;
};

/* Counts a refused event by reason (gateway_events_total{outcome="rejected"}). */
void ingest_count_rejected(struct gw_ingest *g, const char *reason);
/* Settles an event as refused with status and error (owned). */
void ingest_refuse(struct item *it, int status, json_t *error, const char *reason);

/* The final status of an event that was produced: 202 when acknowledged, else 503 with its
 * error (gw_answer.c). */
void ingest_settle(struct item *it);
/* Answers the request from its settled events, once (gw_answer.c). */
void ingest_answer(struct batch *b);
/* Answers the request with a status and a jansson body (borrowed), once (gw_answer.c). */
void ingest_send(struct batch *b, int status, const json_t *body, long retry_after);

/* Envelope, signature and schema checks, enrichment and routing of one event (gw_prepare.c).
 * On success leaves the event enriched in it->out (fast lane; in scratch when it fits, NULL:
 * allocated) or it->event, returns the number of its topics and sets *topics; else refuses the
 * item and returns 0. */
size_t ingest_prepare(struct gw_ingest *g, const struct gw_routes *routes, struct item *it,
                      const struct cm_envelope_enrichment *enr, char *scratch, size_t scratch_len,
                      const char *const **topics);

#endif
