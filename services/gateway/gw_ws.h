/* gw_ws: GET /events/ws, event ingest over WebSocket (cm/ws.h). The token comes in the
 * Authorization header or the access_token query parameter; a connection whose token is missing,
 * invalid or lacks the scope is closed with 1008 right after the switch, and one whose token
 * expires is closed with 1008 at that moment. Each text message is one event or a batch (the
 * JSON forms POST /events takes) and gets one ack after the durable produce, in the shape of the
 * HTTP answer plus "seq" (the message's 1-based number on the connection) and "status":
 * {"seq":1,"status":202,"id":"..."}, {"seq":2,"status":207,"results":[...]},
 * {"seq":3,"status":422,"error":{...}}. Reading pauses while the producer queue is above its
 * high-water mark or the connection has too many unacknowledged messages. */
#ifndef GW_WS_H
#define GW_WS_H

#include <stddef.h>

struct cm_http_req;
struct cm_metrics;
struct gw_ingest;
struct gw_ws;

struct gw_ws_config {
    unsigned threads;   /* event loops */
    size_t max_message; /* bytes (1009 above) */
    int ping_interval_ms;
    unsigned max_connections;
    unsigned max_unacked; /* messages in flight per connection before reading pauses */
    size_t max_buffered;  /* bytes of messages received, and of answers, across connections */
};

/* Borrows g and metrics. NULL (logged) when the configuration contradicts itself. */
struct gw_ws *gw_ws_new(const struct gw_ws_config *cfg, struct gw_ingest *g,
                        struct cm_metrics *metrics);
/* cm_http_handler for GET /events/ws; ud is the gw_ws. */
void gw_ws_handle(struct cm_http_req *req, void *ud);
/* Stops taking connections and reading messages (acks still go out). */
void gw_ws_quiesce(struct gw_ws *w);
/* Stops reading, lets in-flight messages get their acks, closes every connection with 1001. */
void gw_ws_stop(struct gw_ws *w, int timeout_ms);
void gw_ws_free(struct gw_ws *w);

#endif
