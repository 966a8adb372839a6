/* ws_internal: what the WebSocket server's files share (ws.c: a connection's life on its loop
 * thread, cross-thread requests, the wslay callbacks; ws_server.c: the handshake, accepting or
 * adopting connections, and the server's start and stop): the server, its loops and one
 * connection. Internal to common/src/net. */
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
#define MAX_REASON 123

enum stop_phase { RUNNING, QUIESCING, CLOSING, ENDED };

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
    int listed, gone, close_requested;
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
    struct cm_ws_conn *prev, *next;
    int registered, finished, paused, pause_hit, draining, shutdown_sent;
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

#endif
