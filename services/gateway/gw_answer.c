/* gw_answer: the answer to a POST /events request (or a WebSocket message) once every event of
 * it is settled: one event → 202 {"id"} or its error; a batch → {"results": [...]} in request
 * order, 202 when all were accepted, 207 otherwise. Accepted answers are written as text with
 * the shared JSON writer (the hot path); refusals go out as their jansson error bodies. */
#include "gw_ingest_internal.h"

#include "cm/http.h"
#include "cm/jsonw.h"
#include "cm/metrics.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>

void ingest_settle(struct item *it)
{
    if (it->status) {
        return;
    }
    if (!atomic_load(&it->failed)) {
        it->status = 202;
        cm_counter_inc(it->batch->g->m_accepted);
        return;
    }
    if (atomic_load(&it->toobig)) { /* retrying cannot help: 413, not 503 */
        it->status = 413;
        ingest_count_rejected(it->batch->g, "size");
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "the event is %zu bytes as a Kafka record, more than Kafka takes in one "
                 "(message.max.bytes: KAFKA_MESSAGE_MAX_BYTES and the broker's limit)",
                 it->bytes);
        json_t *e = cm_http_error_body(413, msg);
        json_object_set_new(e, "id", json_string(it->id));
        it->error = e;
        return;
    }
    it->status = 503;
    ingest_count_rejected(it->batch->g, "kafka");
    json_t *e = cm_http_error_body(
        503, atomic_load(&it->maybe) ? "delivery outcome unknown (the event may have been stored); "
                                       "retry with the same id"
                                     : "Kafka did not accept the event");
    json_object_set_new(e, "id", json_string(it->id));
    it->error = e;
}

/* Hands the answer to the batch's callback, once: a jansson body, or JSON text. */
static void deliver(struct batch *b, int status, const json_t *body, const char *text, size_t len,
                    long retry_after)
{
    gw_answer_fn fn = b->answer_fn;
    b->answer_fn = NULL;
    if (!fn) {
        return;
    }
    struct gw_answer a = {.status = status,
                          .body = body,
                          .text = text,
                          .len = len,
                          .retry_after = retry_after,
                          .policy_violation = b->policy[0] ? b->policy : NULL,
                          .ratelimit_policy = b->ratelimit_policy[0] ? b->ratelimit_policy : NULL,
                          .ratelimit = b->ratelimit[0] ? b->ratelimit : NULL};
    fn(b->answer_ud, &a);
}

void ingest_send(struct batch *b, int status, const json_t *body, long retry_after)
{
    deliver(b, status, body, NULL, 0, retry_after);
}

void ingest_answer(struct batch *b)
{
    if (!b->answer_fn) {
        return;
    }
    if (b->single && b->items[0].status != 202) {
        struct item *it = &b->items[0];
        ingest_send(b, it->status, it->error, it->status == 503 ? 1 : 0);
        return;
    }
    struct cm_jw w = {0};
    int all = 1;
    cm_jw_object(&w);
    if (b->single) {
        cm_jw_key(&w, "id");
        cm_jw_string(&w, b->items[0].id);
    } else {
        cm_jw_key(&w, "results");
        cm_jw_array(&w);
        for (size_t i = 0; i < b->n; i++) {
            const struct item *it = &b->items[i];
            cm_jw_object(&w);
            cm_jw_key(&w, "index");
            cm_jw_int(&w, (long long)i);
            if (it->id[0]) {
                cm_jw_key(&w, "id");
                cm_jw_string(&w, it->id);
            }
            cm_jw_key(&w, "status");
            cm_jw_int(&w, it->status);
            if (it->error) {
                cm_jw_key(&w, "error");
                cm_jw_value(&w, it->error);
            }
            cm_jw_end(&w);
            all &= it->status == 202;
        }
        cm_jw_end(&w);
    }
    cm_jw_end(&w);
    size_t len;
    const char *text = cm_jw_text(&w, &len);
    deliver(b, all ? 202 : 207, NULL, text, len, 0);
    cm_jw_free(&w);
}
