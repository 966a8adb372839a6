/* gw_ws: WebSocket ingest (see gw_ws.h). Authentication happens at the handshake; each message
 * goes through gw_ingest_submit like a POST body, and its answer becomes the ack. A connection's
 * state lives until the connection is gone and every ack was sent (cm_ws references). */
#include "gw_ws.h"

#include "cm/auth.h"
#include "gw_ingest.h"

#include "cm/http.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"
#include "cm/ws.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_ws {
    struct cm_ws_server *server;
    struct gw_ingest *g;
    unsigned max_unacked;
    struct cm_series *m_messages;
};

struct session {
    struct gw_ws *w;
    struct cm_principal who;
    char clientip[64];
    int status; /* nonzero: authentication failed with this HTTP status */
    char why[160];
    int64_t exp_ms;
    int atomic;
    uint64_t seq; /* loop thread only */
    atomic_uint unacked;
};

struct pending_ack {
    struct cm_ws_conn *conn; /* referenced until the ack is queued */
    struct session *s;
    uint64_t seq;
};

/* The ack of an answer: {"seq", "status", then the answer's members} when it is accepted
 * events' results, {"seq", "status", "error", "retry_after"} for a refusal. Caller frees. */
static char *ack_text(const struct gw_answer *a, uint64_t seq, size_t *len)
{
    if (!a->body) {
        char head[64];
        int n = snprintf(head, sizeof(head), "{\"seq\":%llu,\"status\":%d%s",
                         (unsigned long long)seq, a->status, a->len > 2 ? "," : "");
        char *text = cm_xmalloc((size_t)n + a->len);
        memcpy(text, head, (size_t)n);
        memcpy(text + n, a->text + 1, a->len - 1); /* without its opening brace */
        *len = (size_t)n + a->len - 1;
        return text;
    }
    json_t *ack;
    if (a->status >= 200 && a->status < 300) {
        ack = json_copy((json_t *)a->body); /* shallow: the results are shared, not changed */
    } else {
        ack = json_object();
        json_object_set(ack, "error", (json_t *)a->body);
        if (a->retry_after > 0) {
            json_object_set_new(ack, "retry_after", json_integer(a->retry_after));
        }
    }
    json_object_set_new(ack, "seq", json_integer((json_int_t)seq));
    json_object_set_new(ack, "status", json_integer(a->status));
    char *text = cm_json_dumps(ack, len);
    json_decref(ack);
    return text;
}

static void on_answer(void *ud, const struct gw_answer *a)
{
    struct pending_ack *p = ud;
    size_t len;
    char *text = ack_text(a, p->seq, &len);
    if (text) {
        cm_ws_send_text(p->conn, text, len);
        free(text);
    }
    if (a->policy_violation) { /* a signature the tenant's policy refuses: the stream is untrusted
                                */
        char reason[124];
        snprintf(reason, sizeof(reason), "%s", a->policy_violation);
        cm_ws_close(p->conn, CM_WS_POLICY_VIOLATION, reason);
    }
    atomic_fetch_sub(&p->s->unacked, 1);
    cm_ws_conn_unref(p->conn); /* may release the session: last use above */
    free(p);
}

static void on_open(struct cm_ws_conn *c, void *ud)
{
    struct session *s = ud;
    if (s->status) {
        cm_ws_close(c, CM_WS_POLICY_VIOLATION, s->why);
        return;
    }
    if (s->exp_ms) {
        cm_ws_close_at(c, cm_monotonic_ms() + (s->exp_ms - cm_now_ms()), CM_WS_POLICY_VIOLATION,
                       "token expired");
    }
}

static void on_text(struct cm_ws_conn *c, void *ud, const char *msg, size_t len)
{
    struct session *s = ud;
    struct pending_ack *p = cm_xmalloc(sizeof(*p));
    p->conn = c;
    p->s = s;
    p->seq = ++s->seq;
    cm_ws_conn_ref(c);
    atomic_fetch_add(&s->unacked, 1);
    cm_counter_inc(s->w->m_messages);
    struct gw_submission sub = {.who = &s->who,
                                .clientip = s->clientip,
                                .content_type = "application/json",
                                .body = msg,
                                .len = len,
                                .atomic = s->atomic};
    gw_ingest_submit(s->w->g, &sub, on_answer, p);
}

static int can_read(struct cm_ws_conn *c, void *ud)
{
    (void)c;
    struct session *s = ud;
    return atomic_load(&s->unacked) < s->w->max_unacked && !gw_ingest_saturated(s->w->g);
}

static void release(void *ud)
{
    free(ud);
}

static const struct cm_ws_handlers handlers = {on_open, on_text, can_read, release};

struct gw_ws *gw_ws_new(const struct gw_ws_config *cfg, struct gw_ingest *g,
                        struct cm_metrics *metrics)
{
    struct gw_ws *w = cm_xcalloc(1, sizeof(*w));
    w->g = g;
    w->max_unacked = cfg->max_unacked ? cfg->max_unacked : 1000;
    struct cm_ws_options o = {.threads = cfg->threads,
                              .max_message = cfg->max_message,
                              .ping_interval_ms = cfg->ping_interval_ms,
                              .max_connections = cfg->max_connections,
                              .max_buffered = cfg->max_buffered,
                              .metrics = metrics};
    w->server = cm_ws_new(&o);
    if (!w->server) {
        free(w);
        return NULL;
    }
    w->m_messages = cm_metric_with(cm_metrics_counter(metrics, "websocket_messages_total",
                                                      "WebSocket messages received", NULL),
                                   NULL);
    return w;
}

void gw_ws_handle(struct cm_http_req *req, void *ud)
{
    struct gw_ws *w = ud;
    const char *query_token;
    int atomic;
    if (cm_http_query_one(req, "access_token", &query_token) != 0 ||
        cm_http_query_bool(req, "atomic", 0, &atomic) != 0) {
        return; /* answered 400 instead of the upgrade */
    }
    struct session *s = cm_xcalloc(1, sizeof(*s));
    s->w = w;
    s->atomic = atomic;
    atomic_init(&s->unacked, 0);
    const char *authorization = cm_http_header(req, "Authorization");
    char *from_query = NULL;
    if (!authorization && query_token) {
        from_query = cm_xasprintf("Bearer %s", query_token);
        authorization = from_query;
    }
    char challenge[320];
    s->status = gw_ingest_authenticate(w->g, authorization, &s->who, &s->exp_ms, s->why,
                                       sizeof(s->why), challenge, sizeof(challenge));
    free(from_query);
    snprintf(s->clientip, sizeof(s->clientip), "%s", cm_http_client_ip(req));
    cm_ws_accept(w->server, req, &handlers, s);
}

void gw_ws_quiesce(struct gw_ws *w)
{
    if (w) {
        cm_ws_quiesce(w->server);
    }
}

void gw_ws_stop(struct gw_ws *w, int timeout_ms)
{
    if (w) {
        cm_ws_stop(w->server, timeout_ms);
    }
}

void gw_ws_free(struct gw_ws *w)
{
    if (!w) {
        return;
    }
    cm_ws_free(w->server);
    free(w);
}
