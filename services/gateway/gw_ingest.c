/* gw_ingest: the POST /events pipeline (see gw_ingest.h) for its transports (gw_http,
 * gw_ws): authenticate, decode the body into events (gw_body), rate limits and idempotency keys,
 * each event checked, enriched and routed (gw_prepare.c), every copy produced, and the answer
 * when the broker acknowledged them all: one event → 202 {"id"}, a batch → per-event results in
 * request order, 202 when all were accepted and 207 otherwise.
 * A request's state (struct batch) is shared with the producer's delivery thread; whoever brings
 * its count of outstanding copies to zero answers and frees it. */
#include "gw_ingest_internal.h"

#include "gw_body.h"
#include "gw_idem.h"
#include "gw_ratelimit.h"
#include "gw_route.h"
#include "gw_schema.h"
#include "gw_sig.h"

#include "cm/auth.h"
#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/swap.h"
#include "cm/timeutil.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ingest_count_rejected(struct gw_ingest *g, const char *reason)
{
    cm_counter_inc(cm_metric_with(g->m_events, "rejected", reason, NULL));
}

void ingest_refuse(struct item *it, int status, json_t *error, const char *reason)
{
    it->status = status;
    it->error = error;
    ingest_count_rejected(it->batch->g, reason);
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->items[i].event);
        cm_envelope_text_free(&b->items[i].out);
        json_decref(b->items[i].error);
        free(b->items[i].idem_key);
    }
    free(b->items);
    free(b);
}

/* Drops one reference; the last one settles the results, answers and frees. */
static void release(struct batch *b)
{
    if (atomic_fetch_sub(&b->remaining, 1) != 1) {
        return;
    }
    cm_histogram_observe(b->g->m_produce_latency, (double)(cm_monotonic_ns() - b->start_ns) / 1e9);
    struct gw_idem_claim *done = NULL;
    size_t ndone = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct item *it = &b->items[i];
        ingest_settle(it);
        if (it->idem_key) {
            if (!done) {
                done = cm_xcalloc(b->n, sizeof(*done));
            }
            struct gw_idem_claim *c = &done[ndone++];
            c->key = it->idem_key;
            c->hash = it->idem_hash;
            c->id = it->id;
            c->accepted = it->status == 202 && !atomic_load(&it->failed);
        }
    }
    if (ndone) {
        gw_idem_finish(b->g->idem, done, ndone); /* one round trip for the whole batch */
    }
    free(done);
    ingest_answer(b);
    batch_free(b);
}

/* A failed produce is answered to its client with the event's id; the log says so at most once a
 * second (Kafka down fails every event in flight at once). */
static struct cm_log_limit produce_failed_log = CM_LOG_LIMIT(1000);

static void log_produce_failed(const struct item *it, const char *topic, const char *why)
{
    unsigned long long left_out;
    if (cm_log_limit_pass(&produce_failed_log, cm_monotonic_ms(), &left_out)) {
        cm_log_set_trace(it->traceparent);
        CM_LOG_WARN("produce_failed", "event %s%s%s: %s (%llu more since the last such line)",
                    it->id, topic ? " to " : "", topic ? topic : "", why, left_out);
        cm_log_set_trace(NULL);
    }
}

static void on_delivery(void *opaque, const struct cm_kafka_report *r, void *ud)
{
    (void)ud;
    struct item *it = opaque;
    if (r->err != 0) {
        atomic_store(&it->failed, 1);
        if (r->err == CM_E_TOOBIG) { /* the broker's limit is below the client's */
            atomic_store(&it->toobig, 1);
        }
        if (r->persisted == CM_KAFKA_MAYBE_PERSISTED) {
            atomic_store(&it->maybe, 1);
        }
        log_produce_failed(it, NULL, r->errstr);
    }
    release(it->batch);
}

static double queue_depth(void *ud)
{
    struct gw_ingest *g = ud;
    return (double)cm_kafka_producer_queue_len(g->producer);
}

struct gw_ingest *gw_ingest_new(const struct gw_ingest_config *cfg, struct cm_swap *auth,
                                struct cm_metrics *metrics)
{
    struct gw_ingest *g = cm_xcalloc(1, sizeof(*g));
    g->routes = cfg->routes;
    g->schemas = cfg->schemas;
    g->max_queue = cfg->max_queue;
    g->max_body = cfg->max_body ? cfg->max_body : 1024 * 1024;
    g->max_batch = cfg->max_batch ? cfg->max_batch : 1000;
    g->validation_budget = cfg->validation_budget ? cfg->validation_budget : 10000000;
    g->max_time_ahead_ms = cfg->max_time_ahead_ms;
    g->ratelimit = cfg->ratelimit;
    g->idem = cfg->idem;
    g->sigs = cfg->sigs;
    g->required_scope =
        cfg->required_scope && *cfg->required_scope ? cm_xstrdup(cfg->required_scope) : NULL;
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
    cm_metrics_gauge_fn(metrics, "producer_queue_events", "events waiting for a delivery report",
                        queue_depth, g);
    return g;
}

int gw_ingest_authenticate(struct gw_ingest *g, const char *authorization, struct cm_principal *who,
                           int64_t *exp_ms, char *why, size_t whylen, char *challenge,
                           size_t challenge_len)
{
    memset(who, 0, sizeof(*who));
    *exp_ms = 0;
    if (!g->auth) {
        return 0;
    }
    int status = cm_auth_authorize(g->auth, authorization, g->required_scope, cm_now_ms() / 1000,
                                   who, why, whylen, challenge, challenge_len);
    if (status) {
        ingest_count_rejected(g, status == 403 ? "scope" : "auth");
        return status;
    }
    *exp_ms = who->expires_s * 1000;
    return 0;
}

int gw_ingest_saturated(const struct gw_ingest *g)
{
    return cm_kafka_producer_queue_len(g->producer) >= g->max_queue;
}

/* Claims the batch's idempotency keys in one exchange with Redis. An item whose key is new keeps
 * it (settled by gw_idem_finish once answered); a repeat is settled already: 202 with the first
 * id (not produced again), 422 for a reused key, 409 for a key in flight. */
static void claim_keys(struct gw_ingest *g, struct batch *b, const struct cm_principal *who,
                       const char *header_key)
{
    struct gw_idem_claim *claims = cm_xcalloc(b->n, sizeof(*claims));
    size_t *owner = cm_xcalloc(b->n, sizeof(*owner)), n = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct item *it = &b->items[i];
        char *key = it->event && !it->status
                        ? gw_idem_key(who->tenant, header_key, i, it->event, it->idem_hash)
                        : NULL;
        if (key) {
            it->idem_key = key;
            claims[n].key = key;
            claims[n].hash = it->idem_hash;
            owner[n++] = i;
        }
    }
    gw_idem_begin(g->idem, claims, n);
    for (size_t k = 0; k < n; k++) {
        struct item *it = &b->items[owner[k]];
        switch (claims[k].state) {
        case GW_IDEM_NEW:
            continue; /* keeps its key */
        case GW_IDEM_UNAVAILABLE:
            break; /* goes through unguarded */
        case GW_IDEM_DONE:
            snprintf(it->id, sizeof(it->id), "%s", claims[k].prev_id);
            it->status = 202;
            cm_counter_inc(cm_metric_with(g->m_events, "duplicate", "", NULL));
            break;
        case GW_IDEM_CONFLICT:
            ingest_refuse(
                it, 422,
                cm_http_error_body(422, "this idempotency key was used with a different payload"),
                "idempotency_conflict");
            break;
        case GW_IDEM_IN_FLIGHT:
            ingest_refuse(
                it, 409,
                cm_http_error_body(409, "a request with this idempotency key is still in flight"),
                "idempotency_in_flight");
            break;
        }
        free(it->idem_key);
        it->idem_key = NULL;
    }
    free(claims);
    free(owner);
}

/* Produces the item to its topics; a copy that cannot be enqueued fails the item. */
static void produce(struct gw_ingest *g, struct item *it, const char *const *topics, size_t n)
{
    char local[8192]; /* most events fit: no allocation (the producer copies the value) */
    char *value = it->out.json;
    size_t vlen = it->out.len, keylen = it->out.keylen, nh = it->out.nheaders;
    const char *key = it->out.key;
    const char *const *names = it->out.header_names, *const *values = it->out.header_values;
    const char *jnames[CM_ENVELOPE_MAX_HEADERS], *jvalues[CM_ENVELOPE_MAX_HEADERS];
    if (!value) { /* the jansson lane */
        vlen = cm_envelope_serialize_into(it->event, local, sizeof(local));
        value = vlen <= sizeof(local) ? local : cm_envelope_serialize(it->event);
        key = cm_envelope_key(it->event);
        keylen = strlen(key);
        nh = cm_envelope_headers(it->event, jnames, jvalues);
        names = jnames;
        values = jvalues;
    }
    for (size_t i = 0; i < nh; i++) {
        if (strcmp(names[i], "traceparent") == 0) {
            snprintf(it->traceparent, sizeof(it->traceparent), "%s", values[i]);
        }
    }
    atomic_fetch_add(&it->batch->remaining, (int)n);
    it->bytes = vlen;
    for (size_t i = 0; i < n; i++) {
        int rc = cm_kafka_produce(g->producer, topics[i], key, keylen, value, vlen, names, values,
                                  nh, it);
        if (rc == CM_E_TOOBIG) {
            atomic_store(&it->toobig, 1);
        }
        if (rc != 0) {
            log_produce_failed(it, topics[i], cm_strerror(rc));
            atomic_store(&it->failed, 1);
            /* this copy will never report: account for it here (never the last reference,
             * since the handler holds one) */
            atomic_fetch_sub(&it->batch->remaining, 1);
        }
    }
    if (value != local && value != it->out.json) {
        free(value);
    }
}

/* Takes one token per event from the tenant's (or client IP's) bucket and notes the RateLimit
 * headers; returns 0 with the seconds to wait in *retry_after when the bucket is short. */
static int rate_ok(struct gw_ingest *g, struct batch *b, const struct cm_principal *who,
                   const char *clientip, size_t events, long *retry_after)
{
    char key[200];
    if (who->tenant[0]) {
        snprintf(key, sizeof(key), "t:%s", who->tenant);
    } else {
        snprintf(key, sizeof(key), "ip:%s", clientip);
    }
    struct gw_rate_decision d =
        gw_ratelimit_take(g->ratelimit, key, (double)events, cm_monotonic_ms());
    gw_ratelimit_headers(g->ratelimit, &d, b->ratelimit_policy, sizeof(b->ratelimit_policy),
                         b->ratelimit, sizeof(b->ratelimit));
    *retry_after = d.retry_after;
    if (!d.allowed) {
        ingest_count_rejected(g, "rate_limit");
    }
    return d.allowed;
}

/* Drops an item's event once produced (or refused), on the thread that made it (cross-thread
 * frees contend for malloc's arena): the answer needs only its id and status. */
static void discard_event(struct item *it)
{
    json_decref(it->event);
    it->event = NULL;
    cm_envelope_text_free(&it->out);
    it->text = NULL;
}

/* An atomic batch with a refused event: produce none, name every refused event, 422 for the
 * request. */
static void refuse_atomic(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (!b->items[i].status) {
            b->items[i].status = 424; /* failed dependency: refused with the others */
            b->items[i].error = cm_http_error_body(
                424, "not produced: another event of this atomic batch was refused");
        }
    }
    json_t *results = json_array();
    for (size_t i = 0; i < b->n; i++) {
        json_t *r = json_pack("{s:I, s:i, s:O}", "index", (json_int_t)i, "status",
                              b->items[i].status, "error", b->items[i].error);
        json_array_append_new(results, r);
    }
    json_t *out = cm_http_error_body(422, "the atomic batch was refused; nothing was produced");
    json_object_set_new(out, "results", results);
    ingest_send(b, 422, out, 0);
    json_decref(out);
}

/* Answers a whole submission with one error and frees the batch. */
static void refuse_all(struct batch *b, int status, long retry_after, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse_all(struct batch *b, int status, long retry_after, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = cm_http_error_body(status, msg);
    ingest_send(b, status, e, retry_after);
    json_decref(e);
    batch_free(b);
}

void gw_ingest_submit(struct gw_ingest *g, const struct gw_submission *s, gw_answer_fn fn, void *ud)
{
    struct batch *b = cm_xcalloc(1, sizeof(*b));
    b->g = g;
    b->answer_fn = fn;
    b->answer_ud = ud;
    b->start_ns = cm_monotonic_ns();
    b->validation_budget = g->validation_budget;
    struct gw_body body;
    char msg[300];
    int status =
        gw_binary_mode(s->ce_headers, s->nce, s->content_type)
            ? gw_body_parse_binary(s->ce_headers, s->nce, s->content_type, s->content_encoding,
                                   s->body, s->len, g->max_body, &body, msg, sizeof(msg))
            : gw_body_parse(s->content_type, s->content_encoding, s->body, s->len, g->max_body,
                            g->max_batch, &body, msg, sizeof(msg));
    if (status) {
        ingest_count_rejected(g, status == 415 ? "content_type" : status == 413 ? "size" : "json");
        refuse_all(b, status, 0, "%s", msg);
        return;
    }
    long retry_after = 0;
    if (g->ratelimit && !rate_ok(g, b, s->who, s->clientip, body.n, &retry_after)) {
        gw_body_clear(&body);
        refuse_all(b, 429, retry_after, "rate limit exceeded for %s; retry in %ld s",
                   s->who->tenant[0] ? "this tenant" : "this client", retry_after);
        return;
    }
    if (cm_kafka_producer_queue_len(g->producer) + (int)body.n > g->max_queue) {
        ingest_count_rejected(g, "backpressure");
        gw_body_clear(&body);
        refuse_all(b, 503, 1, "too many events in flight; retry later");
        return;
    }
    b->single = body.single;
    b->n = body.n;
    b->items = cm_xcalloc(body.n, sizeof(*b->items));
    atomic_init(&b->remaining, 1); /* the submitter's own reference */
    /* the routes in force for this whole request (a reload meanwhile does not affect it) */
    struct cm_swap_hold routes_hold = cm_swap_get(g->routes);
    const struct gw_routes *routes = routes_hold.value;
    const char *const **topic_sets = cm_xcalloc(body.n, sizeof(*topic_sets));
    size_t *ntopics = cm_xcalloc(body.n, sizeof(*ntopics));
    for (size_t i = 0; i < body.n; i++) {
        struct item *it = &b->items[i];
        it->batch = b;
        atomic_init(&it->failed, 0);
        atomic_init(&it->maybe, 0);
        atomic_init(&it->toobig, 0);
        it->event = body.items[i].event;
        body.items[i].event = NULL;
        it->text = body.items[i].text;
        it->textlen = body.items[i].len;
        it->members = body.items[i].members;
        it->nmembers = body.items[i].nmembers;
        if (it->text && g->idem) {
            /* idempotency keys hash the parsed event: the jansson lane */
            it->event = json_loadb(it->text, it->textlen, JSON_REJECT_DUPLICATES, NULL);
            it->text = NULL;
        }
        if (!it->event && !it->text) {
            ingest_refuse(it, 400, cm_http_error_body(400, body.items[i].parse_error), "json");
        }
    }
    if (g->idem) {
        claim_keys(g, b, s->who, s->idempotency_key);
    }
    /* what the gateway adds, the same for every event of the request */
    char received[CM_RFC3339_LEN];
    struct cm_envelope_enrichment enr = {s->who->tenant[0] ? s->who->tenant : NULL,
                                         s->clientip[0] ? s->clientip : NULL, cm_now_ms(), received,
                                         g->max_time_ahead_ms};
    cm_time_format_rfc3339(enr.received_ms, received);
    if (!s->atomic) {
        /* each event produced as soon as it is ready: its text in this thread's scratch buffer */
        static _Thread_local char scratch[32768];
        for (size_t i = 0; i < body.n; i++) {
            struct item *it = &b->items[i];
            if (!it->status) {
                size_t n =
                    ingest_prepare(g, routes, it, &enr, scratch, sizeof(scratch), &topic_sets[i]);
                if (!it->status && n > 0) {
                    produce(g, it, topic_sets[i], n);
                }
                discard_event(it);
            }
        }
        if (s->respond_async) {
            /* answer now that everything is enqueued; reports only settle the counters */
            for (size_t i = 0; i < b->n; i++) {
                if (!b->items[i].status && !atomic_load(&b->items[i].failed)) {
                    b->items[i].status = 202;
                }
            }
            ingest_answer(b);
        }
    } else {
        int any_refused = 0;
        for (size_t i = 0; i < body.n; i++) {
            struct item *it = &b->items[i];
            if (!it->status) {
                ntopics[i] = ingest_prepare(g, routes, it, &enr, NULL, 0, &topic_sets[i]);
            }
            any_refused |= it->status != 0;
        }
        if (any_refused) {
            refuse_atomic(b);
        } else {
            for (size_t i = 0; i < b->n; i++) {
                if (ntopics[i] > 0) {
                    produce(g, &b->items[i], topic_sets[i], ntopics[i]);
                }
            }
            if (s->respond_async) {
                for (size_t i = 0; i < b->n; i++) {
                    if (!atomic_load(&b->items[i].failed)) {
                        b->items[i].status = 202;
                    }
                }
                ingest_answer(b);
            }
        }
    }
    gw_body_clear(&body);
    /* the events are on their way (or refused): free them here, on the thread that allocated
     * them, rather than on the delivery thread (cross-thread frees contend for malloc's arena) */
    for (size_t i = 0; i < b->n; i++) {
        discard_event(&b->items[i]);
    }
    free(topic_sets);
    free(ntopics);
    cm_swap_put(routes_hold);
    release(b);
}

int gw_ingest_check_kafka(void *ud, char *why, size_t len)
{
    struct gw_ingest *g = ud;
    return cm_kafka_producer_ping(g->producer, 1000, why, len);
}

void gw_ingest_abort_pending(struct gw_ingest *g)
{
    if (g && g->producer && cm_kafka_producer_queue_len(g->producer) > 0) {
        CM_LOG_WARN("produce_aborted", "shutting down with %d events unacknowledged by Kafka",
                    cm_kafka_producer_queue_len(g->producer));
        cm_kafka_producer_purge(g->producer);
    }
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
    free(g->required_scope);
    free(g);
}
