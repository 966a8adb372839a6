/* ws: WebSocket (RFC 6455) server connections. cm_ws_accept checks the opening handshake of a
 * GET request served by cm_http and answers 101; the switched socket then lives on one of the
 * server's event-loop threads (epoll), framed by wslay: pings are answered and sent (a peer
 * silent for 2.5 ping intervals is closed), text messages are checked for UTF-8 (1007) and
 * size (1009), binary messages are refused at their first frame (1003), and a close handshake
 * ends every connection. A message is assembled in one buffer that grows as its bytes arrive
 * (not as its frames announce them) and is handed to the handler without another copy.
 * Reading pauses while the handler's can_read says so: the peer's sends then back up in TCP
 * instead of in memory. Memory is bound across connections too (max_buffered, below).
 * Threads: handlers run on the connection's loop thread; cm_ws_send_text and cm_ws_close may be
 * called from any thread by whoever holds a reference (cm_ws_conn_ref). */
#ifndef CM_WS_H
#define CM_WS_H

#include <stddef.h>
#include <stdint.h>

struct cm_http_req;
struct cm_metrics;
struct cm_ws_server;
struct cm_ws_conn;

/* Close codes used here (RFC 6455 section 7.4.1). */
enum {
    CM_WS_NORMAL = 1000,
    CM_WS_GOING_AWAY = 1001,
    CM_WS_UNSUPPORTED_DATA = 1003,
    CM_WS_INVALID_DATA = 1007,
    CM_WS_POLICY_VIOLATION = 1008,
    CM_WS_MESSAGE_TOO_BIG = 1009,
    CM_WS_INTERNAL_ERROR = 1011,
    CM_WS_TRY_AGAIN_LATER = 1013, /* IANA's registry; wslay 1.1.1 peers take it as an error */
};

struct cm_ws_options {
    unsigned threads;           /* event loops; default 1 */
    size_t max_message;         /* bytes; larger messages close the connection with 1009;
                                   default 1 MiB */
    int ping_interval_ms;       /* default 30000 */
    unsigned max_connections;   /* beyond it the handshake is answered 503; default 10000 */
    struct cm_metrics *metrics; /* borrowed; websocket_connections gauge */
    size_t max_backlog; /* bytes of messages waiting to be written past which the connection's
                           reading pauses until the peer takes them; default 4 MiB */
    /* Bytes all connections together may hold in messages received (being assembled, or whole
     * and waiting for the handler), and, counted apart, in answers waiting to be written. No
     * received message is let pass it: one whose next bytes would closes its connection with
     * 1013 (try again later), and while more than three quarters of it is held, connections
     * not inside a message are not read (no memory is held for them, so those inside finish).
     * While answers pass it, connections holding more than 64 KiB of them are not read until
     * their peers take some. Default 256 MiB; less than max_message makes cm_ws_new fail. */
    size_t max_buffered;
    /* While over three quarters of max_buffered is held, a message still being received this
     * long after its first bytes closes its connection with 1013, so slow or never-ending
     * messages cannot keep the others waiting; default 10 s. */
    int stalled_message_ms;
};

struct cm_ws_handlers {
    /* The connection is open (after the switch); may close it at once (e.g. failed auth). */
    void (*on_open)(struct cm_ws_conn *c, void *ud);
    /* One complete text message (valid UTF-8, NUL-terminated for convenience). */
    void (*on_text)(struct cm_ws_conn *c, void *ud, const char *msg, size_t len);
    /* Returns 0 to stop reading for now; asked before every read and again every 10 ms.
     * Reading also pauses while more than max_backlog bytes wait to be written: a peer that
     * sends without reading what it is answered cannot make the server hold its answers without
     * bound. */
    int (*can_read)(struct cm_ws_conn *c, void *ud);
    /* The connection is gone and nobody holds a reference: release ud. Any thread. */
    void (*release)(void *ud);
};

/* NULL (logged) when the options contradict each other. */
struct cm_ws_server *cm_ws_new(const struct cm_ws_options *opt);
/* Answers a WebSocket handshake: 426 when the request does not ask for WebSocket version 13, 400
 * when the handshake is malformed, 503 when stopping or full (release(ud) is then called before
 * returning). Otherwise answers 101 and the connection runs with handlers h (kept by pointer)
 * and ud. Returns 0 when switching. */
int cm_ws_accept(struct cm_ws_server *ws, struct cm_http_req *req, const struct cm_ws_handlers *h,
                 void *ud);

/* Runs a connection whose handshake was done elsewhere: fd (a connected stream socket, owned
 * from now on and closed at the end) speaks WebSocket frames from the first byte, as a server.
 * Returns 0, or -1 when the server is stopping (fd and ud stay the caller's). Used by the frame
 * fuzzer over a socketpair. */
int cm_ws_adopt(struct cm_ws_server *ws, int fd, const struct cm_ws_handlers *h, void *ud);

void cm_ws_conn_ref(struct cm_ws_conn *c);
void cm_ws_conn_unref(struct cm_ws_conn *c);
/* Queues a text message (copied); dropped when the connection is closing or gone. */
void cm_ws_send_text(struct cm_ws_conn *c, const char *text, size_t len);
/* Closes with code and reason (at most 123 bytes kept): no further message is read or handled,
 * those already read included; the answers of messages handed over before (each holding a
 * reference) are sent first, for up to 5 s, then the close handshake starts. */
void cm_ws_close(struct cm_ws_conn *c, uint16_t code, const char *reason);
/* cm_ws_close once the monotonic clock passes deadline_ms (token expiry). */
void cm_ws_close_at(struct cm_ws_conn *c, int64_t deadline_ms, uint16_t code, const char *reason);
/* Open connections. */
unsigned cm_ws_connections(const struct cm_ws_server *ws);
/* Bytes held now across connections: received messages and answers waiting (max_buffered). */
void cm_ws_buffered(const struct cm_ws_server *ws, size_t *received, size_t *answers);
/* Graceful stop, step 1: no new connections (503), reading stops. */
void cm_ws_quiesce(struct cm_ws_server *ws);
/* Graceful stop: no new connections, reading stops; waits (within timeout_ms) until nothing is
 * referenced outside the loops and every queued message is written, then closes every
 * connection with 1001 and ends the loops. */
void cm_ws_stop(struct cm_ws_server *ws, int timeout_ms);
void cm_ws_free(struct cm_ws_server *ws);

/* The Sec-WebSocket-Accept value for a client key (RFC 6455 section 4.2.2) into out (29 bytes);
 * returns -1 unless key is the base64 form of 16 bytes. */
int cm_ws_accept_key(const char *key, char out[29]);

/* ---- client (blocking; for tests, benchmarks and tools) ---- */

struct cm_ws_client;

/* Connects to host:port (numeric IPv4), performs the opening handshake for path (with the query)
 * adding extra_headers ("Name: value\r\n" lines, or NULL). Returns NULL when the handshake fails,
 * with the HTTP status of the answer in *http_status (0 when none) and the reason (or the answer's
 * body) in err. */
struct cm_ws_client *cm_ws_client_connect(const char *host, unsigned port, const char *path,
                                          const char *extra_headers, int timeout_ms,
                                          int *http_status, char *err, size_t errlen);
/* Sends one message (text when text is 1, else binary). Returns 0, or -1 when the connection is
 * closed or broken. */
int cm_ws_client_send(struct cm_ws_client *c, int text, const void *data, size_t len);
/* Waits up to timeout_ms for the next data message: 1 with *msg (malloc'd, NUL-terminated) and
 * *len; 0 when the server closed the connection (its close code in *close_code, *msg = its
 * reason, malloc'd); -1 on timeout or a broken connection. */
int cm_ws_client_recv(struct cm_ws_client *c, int timeout_ms, char **msg, size_t *len,
                      uint16_t *close_code);
/* Sends a close frame with code and waits up to timeout_ms for the server's. */
void cm_ws_client_close(struct cm_ws_client *c, uint16_t code, int timeout_ms);
void cm_ws_client_free(struct cm_ws_client *c);

#endif
