/* gw_ingest: POST /events. Authenticates; takes one CloudEvent, a batch (JSON array or
 * application/cloudevents-batch+json) or NDJSON, optionally gzip-encoded; checks, enriches,
 * validates (registered schema, when a registry is configured), routes (gw_route) and produces
 * each event to its topics; answers only after the broker acknowledged every copy (idempotent
 * producer, acks=all): 202 {"id"} for one event, per-event results with 202 or 207 for a batch,
 * `?atomic=true` producing nothing unless every event is valid, `Prefer: respond-async`
 * answering once enqueued. Rate limits per tenant (or client IP) answer 429 with Retry-After and
 * the IETF RateLimit headers. 400/401/413/415/422/429/503 in the common error shape.
 * Handlers run on HTTP pool threads; answers to produced events come from the producer's
 * delivery thread. */
#ifndef GW_INGEST_H
#define GW_INGEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_http_req;
struct cm_metrics;
struct cm_auth;
struct gw_ingest;
struct cm_principal;
struct gw_idem;
struct gw_ratelimit;
struct cm_swap;
struct gw_schemas;
struct gw_header;
struct gw_sigs;

struct gw_ingest_config {
    const char *brokers;
    struct cm_swap *routes;     /* of gw_routes; borrowed; replaced on reload */
    struct gw_schemas *schemas; /* borrowed; NULL = no schema validation */
    int max_queue;              /* producer queue high-water mark: above it, 503 + Retry-After */
    size_t max_body;            /* cap on the decoded body (after gzip); 0 = 1 MiB */
    size_t max_batch;           /* events per request; 0 = 1000 */
    int64_t max_time_ahead_ms; /* an event's `time` further ahead of the clock is refused; 0: any */
    struct gw_ratelimit *ratelimit; /* borrowed; NULL = no rate limits */
    struct gw_idem *idem;           /* borrowed; NULL = no idempotency keys */
    const char *required_scope;     /* copied; NULL or "" = any valid token may ingest */
    struct gw_sigs *sigs;           /* borrowed; NULL = signatures are not checked */
    size_t validation_budget; /* JSON Schema steps one request's events share; 0 = 10,000,000 */
};

/* Borrows auth (a cm_swap of cm_auth, replaced when keys are reloaded; NULL = authentication
 * disabled) and metrics; copies strings. NULL after logging
 * when the producer cannot be configured. Caller frees with gw_ingest_free (after the HTTP server
 * stopped sending it requests). */
struct gw_ingest *gw_ingest_new(const struct gw_ingest_config *cfg, struct cm_swap *auth,
                                struct cm_metrics *metrics);
/* cm_http_handler for POST /events; ud is the gw_ingest. */
void gw_ingest_handle(struct cm_http_req *req, void *ud);

/* One ingest request, whatever carried it (HTTP POST or a WebSocket message). Borrowed for the
 * gw_ingest_submit call only. */
struct gw_submission {
    const struct cm_principal *who; /* authenticated already */
    const char *clientip;
    const char *content_type, *content_encoding;
    const char *body;
    size_t len;
    const char *idempotency_key; /* NULL: event ids serve */
    int atomic, respond_async;
    const struct gw_header *ce_headers; /* the request's ce- headers (binary mode) */
    size_t nce;
};

/* The answer to a submission: HTTP status and JSON body (borrowed during the callback), with
 * what an HTTP response carries as headers. Accepted events' answers come as text (written
 * directly, the hot path), refusals as jansson values. */
struct gw_answer {
    int status;
    const json_t *body; /* NULL when the body is given as text: */
    const char *text;   /* the body's JSON text, an object */
    size_t len;
    long retry_after; /* seconds; 0 = none */
    /* set when an event was refused for breaking the tenant's policy (its signature): a
     * WebSocket closes with 1008 and this reason */
    const char *policy_violation;
    const char *ratelimit_policy; /* NULL when no rate limit applies */
    const char *ratelimit;
};
typedef void (*gw_answer_fn)(void *ud, const struct gw_answer *a);

/* Runs the pipeline on a submission; fn is called exactly once, from this thread (refusals,
 * respond-async) or the producer's delivery thread (after the acks). */
void gw_ingest_submit(struct gw_ingest *g, const struct gw_submission *s, gw_answer_fn fn,
                      void *ud);
/* 1 when the producer queue is above its high-water mark (a WebSocket stops reading). */
int gw_ingest_saturated(const struct gw_ingest *g);
/* Verifies a bearer token (the Authorization header value) and the required scope. On failure
 * returns the HTTP status (401 or 403) with the reason in why and the WWW-Authenticate challenge
 * in challenge; 0 on success with *who filled (empty when authentication is disabled), and the
 * token's expiry (ms since the epoch; 0 = none) in *exp_ms. */
int gw_ingest_authenticate(struct gw_ingest *g, const char *authorization, struct cm_principal *who,
                           int64_t *exp_ms, char *why, size_t whylen, char *challenge,
                           size_t challenge_len);
/* cm_http_check for Kafka readiness. */
int gw_ingest_check_kafka(void *ud, char *why, size_t len);
/* Gives up on events Kafka has not acknowledged yet: each is answered now as not accepted (or
 * of unknown outcome when it was in flight), so shutdown never leaves a request unanswered. */
void gw_ingest_abort_pending(struct gw_ingest *g);
/* Waits up to timeout_ms for every produced event to be acknowledged (and answered). */
void gw_ingest_drain(struct gw_ingest *g, int timeout_ms);
void gw_ingest_free(struct gw_ingest *g);

#endif
