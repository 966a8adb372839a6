/* ws_internal: what the WebSocket server's files share (ws.c: a connection's life on its loop
 * thread and cross-thread requests; ws_recv.c: the wslay callbacks, messages assembled and the
 * memory they and the answers hold; ws_server.c: the handshake, accepting or adopting
 * connections, and the server's start and stop): the server, its loops and one connection.
 * Internal to common/src/net. */
#ifndef CM_WS_INTERNAL_H
#define CM_WS_INTERNAL_H

#include "cm/ws.h"

#include "ws_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#define SWEEP_MS 250        /* pings, deadlines and close timeouts */
#define PAUSED_POLL_MS 10   /* how often paused connections ask can_read again */
#define CLOSE_GRACE_MS 2000 /* how long the peer has to answer our close frame */
#define CLOSE_DRAIN_MS 5000 /* how long answers in flight may delay a close asked for */
#define MAX_REASON 123
#define ANSWERS_SHARE (64 * 1024) /* answers a connection may hold while all pass max_buffered */

enum stop_phase { RUNNING, QUIESCING, CLOSING, ENDED };

/* A close asked for by cm_ws_close or a deadline: asked (the loop has not seen it), draining
 * (answers in flight still go out), queued (the close frame is; later answers are dropped). */
enum close_state { CLOSE_NONE, CLOSE_ASKED, CLOSE_DRAINING, CLOSE_QUEUED };

struct loop {
    struct cm_ws_server *ws;
    pthread_t thread;
    int started;
    int epfd, evfd;
    pthread_mutex_t mu;
    struct cm_ws_conn **pending; /* connections with news for the loop, each holding a ref */
    size_t npending, cap_pending;
    int ended;                /* under mu: the loop no longer takes connections */
    struct cm_ws_conn *conns; /* loop thread only */
    unsigned npaused;
    atomic_int busy; /* connections with work in progress, as of the last sweep */
    atomic_uint sweeps;
};

struct cm_ws_server {
    struct cm_ws_options opt;
    struct loop *loops;
    atomic_uint next_loop;
    atomic_int count;
    atomic_int phase;
    /* bytes held across connections (max_buffered bounds each): received messages (their
     * buffers' sizes) and answers waiting (in outboxes and wslay's queues) */
    atomic_size_t received, answers;
    struct cm_series *m_refused; /* messages refused with 1013; NULL without metrics */
};

struct cm_ws_conn {
    struct cm_ws_server *ws;
    struct loop *loop;
    atomic_int refs;
    const struct cm_ws_handlers *h;
    void *ud;
    int fd;
    struct cm_http_upgrade *up;
    struct ws_early early;
    /* under loop->mu */
    struct ws_queue outbox;
    int listed, gone;
    atomic_int close_requested; /* enum close_state; read by the loop without the lock */
    atomic_size_t outbox_bytes; /* written under loop->mu, read by the loop thread without it */
    /* loop thread: messages read while the handler could not take them (one read can carry
     * several), delivered once can_read allows */
    struct ws_queue held;
    uint16_t close_code;
    char close_reason[MAX_REASON + 1];
    int64_t deadline_ms;
    uint16_t deadline_code;
    char deadline_reason[MAX_REASON + 1];
    /* loop thread only */
    wslay_event_context_ptr ctx;
    struct ws_msg *rx;     /* the message being assembled (data frames' payloads), or NULL */
    size_t rx_size;        /* bytes allocated for rx's data (rx->size) */
    size_t received;       /* what this connection counts in ws->received: rx and held */
    size_t answers_seen;   /* wslay's queued bytes as last counted in ws->answers */
    int64_t rx_started_ms; /* when rx got its first bytes */
    int rx_control;        /* the frame being read is a control frame (wslay handles it) */
    int refused;           /* we queued a close: what the peer still sends is dropped */
    struct cm_ws_conn *prev, *next;
    int registered, finished, paused, pause_hit, draining, shutdown_sent;
    int closing; /* a close asked for waits for the answers in flight (CLOSE_DRAINING) */
    int64_t closing_ms;
    uint32_t interest;
    int64_t last_recv_ms, last_ping_ms, close_sent_ms;
};

/* Wakes the loop's thread (its eventfd). */
void ws_wake(struct loop *l);
/* Lists c on its loop's pending list (taking a reference) unless it is already there; under the
 * loop's lock. 1 when listed (or already there), 0 when the loop has ended. */
int ws_list_locked(struct cm_ws_conn *c);
/* A loop thread: epoll over its connections, the pending list and the sweeps. */
void *ws_loop_main(void *arg);

/* ---- ws_recv.c: the reading side (loop thread) ---- */

/* wslay's callbacks for a server connection (user data: the cm_ws_conn). */
extern const struct wslay_event_callbacks ws_wslay_callbacks;
/* Gives back n bytes c counted as received. */
void ws_give_received(struct cm_ws_conn *c, size_t n);
/* Brings the server's count of answers in line with what wslay now queues for c. */
void ws_sync_answers(struct cm_ws_conn *c);
/* 1 when c's peer does not take its answers (max_backlog, or its share of max_buffered). */
int ws_backlogged(struct cm_ws_conn *c);
/* 1 when received messages hold more than three quarters of max_buffered. */
int ws_crowded(const struct cm_ws_server *ws);
/* 1 when the server runs, c's peer takes its answers and the handler can take a message. */
int ws_reading_allowed(struct cm_ws_conn *c);
/* Hands held messages to the handler while it can take them; 1 when none is left. */
int ws_deliver_held(struct cm_ws_conn *c);
/* Queues our close; from then on what the peer sends is read and dropped. */
void ws_queue_close(struct cm_ws_conn *c, uint16_t code, const char *reason);
/* Closes with 1013: c's message would pass max_buffered, or stalled while it was crowded. */
void ws_refuse_busy(struct cm_ws_conn *c);

#endif
