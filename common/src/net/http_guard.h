/* http_guard: the HTTP server's defence against connection exhaustion (internal to http.c).
 * - A total connection limit and a per-address limit, checked when a connection is accepted
 *   (libmicrohttpd's accept policy): over a limit the socket is closed at once and counted, so a
 *   flood of idle or slow connections never stops the server from answering others.
 * - Behind trusted proxies the address is the forwarded client's: the per-address limit then
 *   bounds the requests in progress for that client (answered 429 beyond it).
 * - A bound on the time to receive a whole request (headers and body), from the connection's
 *   opening or its previous answer: a sweeper thread shuts down connections past it, so a client
 *   trickling a byte at a time does not hold a connection for ever (the idle timeout alone never
 *   fires for it).
 * - The process's open-file limit is raised to fit the connection limit.
 * Thread-safe: libmicrohttpd's threads call the hooks, the sweeper runs on its own thread. */
#ifndef CM_HTTP_GUARD_H
#define CM_HTTP_GUARD_H

#include <microhttpd.h>
#include <stddef.h>
#include <sys/socket.h>

struct cm_metrics;
struct cm_proxies;
struct http_guard;
struct http_conn; /* one per connection, in libmicrohttpd's socket context */

struct http_guard_options {
    unsigned max_connections;    /* > 0 */
    unsigned max_per_ip;         /* 0: no limit */
    unsigned request_timeout_ms; /* 0: no bound */
    unsigned threads;            /* the server's pool size (for the fd budget) */
    struct cm_metrics *metrics;  /* borrowed; may be NULL */
};

struct http_guard *http_guard_new(const struct http_guard_options *opt);
/* Raises RLIMIT_NOFILE to fit (lowering max_connections, logged, when the hard limit is too low)
 * and starts the sweeper. Returns the connection limit to give libmicrohttpd (above ours, so
 * ours refuses first and counts). */
unsigned http_guard_start(struct http_guard *g);
/* Stops the sweeper; call after libmicrohttpd has stopped, then free. */
void http_guard_free(struct http_guard *g);
/* Borrowed until free; set before start. Peers in these networks are not limited per address at
 * accept time (their forwarded clients are, per request). */
void http_guard_set_proxies(struct http_guard *g, const struct cm_proxies *proxies);

/* The server is shutting down: connections accepted from now on are closed at once (what
 * MHD_quiesce_daemon would do, which with a thread pool and epoll races the workers removing the
 * listening socket themselves and aborts: libmicrohttpd 0.9.75 to 0.9.77). */
void http_guard_drain(struct http_guard *g);
/* libmicrohttpd hooks: MHD_AcceptPolicyCallback and MHD_NotifyConnectionCallback (cls = g). */
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* The request's connection record (NULL when libmicrohttpd gave none). */
struct http_conn *http_guard_conn(struct MHD_Connection *conn);
/* A request's headers arrived. For a trusted proxy's request forwarded for client_ip, takes one
 * of that client's slots: returns 0, or -1 when the client is over its limit (answer 429). */
int http_guard_request_begin(struct http_guard *g, struct http_conn *c, const char *client_ip);
/* The whole request was received: the receive bound stops. */
void http_guard_request_received(struct http_conn *c);
/* The request ended (answered or aborted): its slot is released and, on a kept-alive
 * connection, the bound starts again for the next request. */
void http_guard_request_end(struct http_guard *g, struct http_conn *c);
/* The connection was handed over (101 Switching Protocols): no bound any more. */
void http_guard_upgraded(struct http_conn *c);
/* libmicrohttpd's unescape hook (MHD_UnescapeCallback): decodes %XX as libmicrohttpd does and
 * notes on the connection when a %00 decoded to a NUL byte, which would cut the path or a query
 * value short unseen (/pipelines/a%00b read as /pipelines/a, ?key=k0%00x as ?key=k0). */
size_t http_guard_unescape(void *cls, struct MHD_Connection *conn, char *s);
/* 1 when the request now starting had a NUL byte decoded in its target (then cleared). */
int http_guard_take_nul(struct http_conn *c);

#endif
