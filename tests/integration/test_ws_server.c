/* test_ws_server: the WebSocket server's flow control and memory (common/src/net/ws.c) over
 * socketpairs, a cm_ws server adopting one end and a client written here frame by frame on the
 * other: a peer that sends without reading what it is answered pauses the server's reading, so
 * its answers cannot pile up without bound, and reading resumes once the peer takes them; a
 * connection whose reading the server paused is not closed for a silence the server caused;
 * messages are assembled from fragments as their bytes come; and max_buffered bounds what all
 * connections together hold, received and to be answered. */
#include "cm/metrics.h"
#include "cm/timeutil.h"
#include "cm/ws.h"

#include <criterion/criterion.h>

#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY (64 * 1024)
#define BACKLOG (256 * 1024)
#define MESSAGES 200

static atomic_int handled;
static char reply[REPLY];

static void on_text(struct cm_ws_conn *c, void *ud, const char *msg, size_t len)
{
    (void)ud;
    (void)msg;
    (void)len;
    atomic_fetch_add(&handled, 1);
    cm_ws_send_text(c, reply, sizeof(reply)); /* each answer far larger than its message */
}

static const struct cm_ws_handlers handlers = {NULL, on_text, NULL, NULL};

static atomic_int gate_open;

static int gated(struct cm_ws_conn *c, void *ud)
{
    (void)c;
    (void)ud;
    return atomic_load(&gate_open);
}

static void on_small_text(struct cm_ws_conn *c, void *ud, const char *msg, size_t len)
{
    (void)ud;
    (void)msg;
    (void)len;
    atomic_fetch_add(&handled, 1);
    cm_ws_send_text(c, "ok", 2);
}

static const struct cm_ws_handlers gated_handlers = {NULL, on_small_text, gated, NULL};

/* A masked text frame of text (a client's frames are masked; a zero mask is a valid one). */
static size_t client_frame(const char *text, unsigned char *out)
{
    size_t n = strlen(text);
    out[0] = 0x81;
    out[1] = (unsigned char)(0x80 | n);
    memset(out + 2, 0, 4);
    memcpy(out + 6, text, n);
    return 6 + n;
}

static int read_exact(int fd, unsigned char *buf, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(deadline - cm_monotonic_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            return -1;
        }
        ssize_t r = read(fd, buf + off, n - off);
        if (r <= 0) {
            return -1;
        }
        off += (size_t)r;
    }
    return 0;
}

/* Reads the server's frames until one with the opcode; its payload's length (into out, up to
 * cap), or -1. */
static long frame_of(int fd, int opcode, unsigned char *out, size_t cap, int64_t deadline)
{
    static unsigned char payload[REPLY];
    for (;;) {
        unsigned char h[10];
        if (read_exact(fd, h, 2, deadline) != 0) {
            return -1;
        }
        uint64_t len = h[1] & 0x7f;
        if (len == 126 || len == 127) {
            size_t ext = len == 126 ? 2 : 8;
            if (read_exact(fd, h + 2, ext, deadline) != 0) {
                return -1;
            }
            len = 0;
            for (size_t i = 0; i < ext; i++) {
                len = len << 8 | h[2 + i];
            }
        }
        if (len > sizeof(payload) || read_exact(fd, payload, (size_t)len, deadline) != 0) {
            return -1;
        }
        if ((h[0] & 0x0f) == opcode) {
            memcpy(out, payload, len < cap ? len : cap);
            return (long)len;
        }
    }
}

/* Wait until the count has stood still for half a second. */
static int settled(atomic_int *v)
{
    int last = -1;
    int64_t still_since = cm_monotonic_ms(), deadline = still_since + 10000;
    while (cm_monotonic_ms() < deadline) {
        int now = atomic_load(v);
        if (now != last) {
            last = now;
            still_since = cm_monotonic_ms();
        } else if (now > 0 && cm_monotonic_ms() - still_since >= 500) {
            break;
        }
        cm_sleep_ms(20);
    }
    return atomic_load(v);
}

/* Reads the next text frame from the server; its payload's length, or -1. */
static long next_text(int fd, int64_t deadline)
{
    unsigned char first;
    return frame_of(fd, 0x1, &first, 1, deadline);
}

Test(ws_server, a_peer_that_does_not_read_its_answers_pauses_reading_until_it_does)
{
    memset(reply, 'r', sizeof(reply));
    struct cm_ws_options o = {
        .threads = 1, .ping_interval_ms = 60000, .max_connections = 4, .max_backlog = BACKLOG};
    struct cm_ws_server *server = cm_ws_new(&o);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096; /* little room in the socket: the answers wait in the server */
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    cr_assert_eq(cm_ws_adopt(server, sv[1], &handlers, NULL), 0);

    unsigned char frames[MESSAGES * 16];
    size_t off = 0;
    for (int i = 0; i < MESSAGES; i++) {
        char text[16];
        snprintf(text, sizeof(text), "m%d", i);
        off += client_frame(text, frames + off);
    }
    cr_assert_eq(send(sv[0], frames, off, MSG_NOSIGNAL), (ssize_t)off);

    /* the server answers until its backlog is full, then stops reading */
    int before = settled(&handled);
    cr_assert_gt(before, 0, "the server answered nothing");
    cr_assert_leq(before, BACKLOG / REPLY + 4,
                  "%d of %d messages handled while their answers were not read", before, MESSAGES);

    /* the peer takes its answers: every message is handled, each answered in full */
    int64_t deadline = cm_monotonic_ms() + 20000;
    for (int i = 0; i < MESSAGES; i++) {
        long n = next_text(sv[0], deadline);
        cr_assert_eq(n, REPLY, "answer %d: %ld bytes", i, n);
    }
    cr_assert_eq(atomic_load(&handled), MESSAGES);
    close(sv[0]);
    deadline = cm_monotonic_ms() + 10000;
    while (cm_ws_connections(server) > 0 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(5);
    }
    cr_assert_eq(cm_ws_connections(server), 0);
    cm_ws_stop(server, 1000);
    cm_ws_free(server);
}

/* Pings every 100 ms, and a handler that takes nothing for a second (a saturated gateway's):
 * the connection stays open although the peer's pongs go unread, and its messages are handled
 * once the handler takes them. Before, it was closed with "no answer to pings" after 250 ms. */
Test(ws_server, a_connection_the_server_stopped_reading_is_not_closed_for_silence)
{
    struct cm_ws_options o = {.threads = 1, .ping_interval_ms = 100, .max_connections = 4};
    struct cm_ws_server *server = cm_ws_new(&o);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(cm_ws_adopt(server, sv[1], &gated_handlers, NULL), 0);
    unsigned char frames[64];
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        off += client_frame("hello", frames + off);
    }
    cr_assert_eq(send(sv[0], frames, off, MSG_NOSIGNAL), (ssize_t)off);
    int64_t until = cm_monotonic_ms() + 1000; /* 10 ping intervals */
    while (cm_monotonic_ms() < until) {
        cr_assert_eq(cm_ws_connections(server), 1, "closed while the server did not read");
        cm_sleep_ms(20);
    }
    cr_assert_eq(atomic_load(&handled), 0);
    atomic_store(&gate_open, 1);
    int64_t deadline = cm_monotonic_ms() + 10000;
    while (atomic_load(&handled) < 3 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(5);
    }
    cr_assert_eq(atomic_load(&handled), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(next_text(sv[0], deadline), 2, "answer %d", i);
    }
    close(sv[0]);
    while (cm_ws_connections(server) > 0 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(5);
    }
    cr_assert_eq(cm_ws_connections(server), 0);
    cm_ws_stop(server, 1000);
    cm_ws_free(server);
}

/* ---- messages and memory across connections ---- */

/* One connection's side in the server: what its handler was given, and whether it may take more. */
struct peer {
    atomic_int handled;
    atomic_int open; /* can_read */
    size_t reply;    /* bytes answered to each message */
    size_t last_len;
    char last[128 * 1024];
};

static void peer_text(struct cm_ws_conn *c, void *ud, const char *msg, size_t len)
{
    struct peer *p = ud;
    p->last_len = len < sizeof(p->last) ? len : sizeof(p->last);
    memcpy(p->last, msg, p->last_len);
    if (p->reply) {
        cm_ws_send_text(c, reply, p->reply);
    }
    atomic_fetch_add(&p->handled, 1);
}

static int peer_can_read(struct cm_ws_conn *c, void *ud)
{
    (void)c;
    return atomic_load(&((struct peer *)ud)->open);
}

static const struct cm_ws_handlers peer_handlers = {NULL, peer_text, peer_can_read, NULL};

/* A client frame's header (masked with a zero mask) announcing len bytes; its size. */
static size_t frame_header(unsigned char *out, int fin, int opcode, size_t len)
{
    size_t n = 2;
    out[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        out[1] = 0x80 | 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) {
            out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        }
        n = 10;
    }
    memset(out + n, 0, 4);
    return n + 4;
}

/* Sends a frame: its header, then len bytes of fill (or of data when not NULL). */
static void send_frame(int fd, int fin, int opcode, const char *data, size_t len, char fill)
{
    unsigned char h[14];
    size_t n = frame_header(h, fin, opcode, len);
    cr_assert_eq(send(fd, h, n, MSG_NOSIGNAL), (ssize_t)n);
    char *body = malloc(len + 1);
    if (data) {
        memcpy(body, data, len);
    } else {
        memset(body, fill, len);
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, body + off, len - off, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "send: the server closed early");
        off += (size_t)w;
    }
    free(body);
}

/* The code of the server's close frame, or -1. */
static int close_code(int fd, int64_t deadline)
{
    unsigned char p[128];
    long n = frame_of(fd, 0x8, p, sizeof(p), deadline);
    return n >= 2 ? p[0] << 8 | p[1] : -1;
}

static int wait_for(atomic_int *v, int want, int64_t deadline)
{
    while (atomic_load(v) < want && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(2);
    }
    return atomic_load(v);
}

static size_t received_now(struct cm_ws_server *server)
{
    size_t received, answers;
    cm_ws_buffered(server, &received, &answers);
    return received;
}

/* Waits until the bytes counted as received are within [lo, hi]. */
static void wait_received(struct cm_ws_server *server, size_t lo, size_t hi, int64_t deadline)
{
    size_t now;
    while (((now = received_now(server)) < lo || now > hi) && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(2);
    }
    cr_assert(now >= lo && now <= hi, "%zu bytes counted as received, not %zu to %zu", now, lo, hi);
}

/* Closes the peers' ends and waits until the server has let every connection go and counts
 * nothing for them. */
static void end_all(struct cm_ws_server *server, const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        close(fds[i]);
    }
    int64_t deadline = cm_monotonic_ms() + 10000;
    while (cm_ws_connections(server) > 0 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(5);
    }
    cr_assert_eq(cm_ws_connections(server), 0);
    size_t received, answers;
    cm_ws_buffered(server, &received, &answers);
    cr_assert_eq(received, 0, "%zu bytes still counted as received", received);
    cr_assert_eq(answers, 0, "%zu bytes still counted as answers", answers);
    cm_ws_stop(server, 1000);
    cm_ws_free(server);
}

/* A server for messages up to 64 KiB under a bound of max_buffered (stalled_ms 0: default). */
static struct cm_ws_server *bounded_server(size_t max_buffered, int stalled_ms,
                                           struct cm_metrics *reg)
{
    struct cm_ws_options o = {.threads = 1,
                              .ping_interval_ms = 60000,
                              .max_connections = 4,
                              .max_message = 64 * 1024,
                              .max_buffered = max_buffered,
                              .stalled_message_ms = stalled_ms,
                              .metrics = reg};
    struct cm_ws_server *server = cm_ws_new(&o);
    cr_assert_not_null(server);
    return server;
}

static int adopted(struct cm_ws_server *server, struct peer *p)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096; /* little room in the socket: answers not read wait in the server */
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    cr_assert_eq(cm_ws_adopt(server, sv[1], &peer_handlers, p), 0);
    return sv[0];
}

/* Fragments with a ping between them make one message; fragments that together pass
 * max_message close with 1009 at the first bytes of the frame that would; a binary message is
 * refused at its first byte (wslay alone would have waited for all of them). */
Test(ws_server, messages_are_assembled_from_fragments_within_max_message)
{
    struct cm_ws_options o = {
        .threads = 1, .ping_interval_ms = 60000, .max_connections = 4, .max_message = 64 * 1024};
    struct cm_ws_server *server = cm_ws_new(&o);
    cr_assert_not_null(server);
    static struct peer p = {.open = 1};
    int fd = adopted(server, &p);
    send_frame(fd, 0, 0x1, "hello ", 6, 0);
    send_frame(fd, 1, 0x9, "p", 1, 0); /* a ping between fragments */
    send_frame(fd, 0, 0x0, "wide ", 5, 0);
    send_frame(fd, 1, 0x0, "world", 5, 0);
    int64_t deadline = cm_monotonic_ms() + 10000;
    cr_assert_eq(wait_for(&p.handled, 1, deadline), 1);
    cr_assert_eq(p.last_len, 16);
    cr_assert_eq(memcmp(p.last, "hello wide world", 16), 0);
    unsigned char pong[8];
    cr_assert_eq(frame_of(fd, 0xA, pong, sizeof(pong), deadline), 1);
    cr_assert_eq(pong[0], 'p');

    send_frame(fd, 0, 0x1, NULL, 30000, 'a');
    send_frame(fd, 0, 0x0, NULL, 30000, 'b');
    unsigned char h[15];
    size_t n = frame_header(h, 1, 0x0, 30000); /* 90,000 in all, over 65,536 */
    h[n++] = 'c';                              /* wslay reports a frame with its first bytes */
    cr_assert_eq(send(fd, h, n, MSG_NOSIGNAL), (ssize_t)n);
    cr_assert_eq(close_code(fd, deadline), CM_WS_MESSAGE_TOO_BIG);
    cr_assert_eq(atomic_load(&p.handled), 1);

    static struct peer q = {.open = 1};
    int fd2 = adopted(server, &q);
    n = frame_header(h, 1, 0x2, 1000); /* announced, one of its bytes sent */
    h[n++] = 1;
    cr_assert_eq(send(fd2, h, n, MSG_NOSIGNAL), (ssize_t)n);
    cr_assert_eq(close_code(fd2, cm_monotonic_ms() + 5000), CM_WS_UNSUPPORTED_DATA);
    cr_assert_eq(atomic_load(&q.handled), 0);
    int fds[] = {fd, fd2};
    end_all(server, fds, 2);
}

/* Under a bound of 100 KiB: a message received but for its last bytes holds 60,000 bytes or
 * more; a second connection's message that would take the total past the bound closes with 1013,
 * counted; the first still completes. (A buffer's first part is allocated as it came, then
 * doubled, so what a message holds depends on how its bytes were read: the bounds allow for it.) */
Test(ws_server, received_messages_across_connections_never_pass_max_buffered)
{
    struct cm_metrics *reg = cm_metrics_new("ws_");
    struct cm_ws_server *server = bounded_server(100 * 1024, 0, reg);
    static struct peer a = {.open = 1}, b = {.open = 1};
    int fa = adopted(server, &a), fb = adopted(server, &b);
    unsigned char h[14];
    size_t n = frame_header(h, 1, 0x1, 64000);
    cr_assert_eq(send(fa, h, n, MSG_NOSIGNAL), (ssize_t)n);
    char *part = malloc(64000);
    memset(part, 'x', 64000);
    cr_assert_eq(send(fa, part, 60000, MSG_NOSIGNAL), 60000);
    int64_t deadline = cm_monotonic_ms() + 10000;
    wait_received(server, 60001, 64 * 1024 + 64, deadline);

    n = frame_header(h, 1, 0x1, 50000);
    cr_assert_eq(send(fb, h, n, MSG_NOSIGNAL), (ssize_t)n);
    ssize_t w = send(fb, part, 50000, MSG_NOSIGNAL | MSG_DONTWAIT);
    cr_assert_gt(w, 0);
    cr_assert_eq(close_code(fb, deadline), CM_WS_TRY_AGAIN_LATER);
    cr_assert_eq(atomic_load(&b.handled), 0);
    cr_assert_leq(received_now(server), 100 * 1024);
    char *text = cm_metrics_render(reg);
    cr_assert_not_null(strstr(text, "ws_websocket_refused_busy_total 1\n"), "%s", text);
    free(text);

    cr_assert_eq(send(fa, part + 60000, 4000, MSG_NOSIGNAL), 4000);
    cr_assert_eq(wait_for(&a.handled, 1, deadline), 1);
    cr_assert_eq(a.last_len, 64000);
    wait_received(server, 0, 0, deadline);
    n = frame_header(h, 1, 0x1, 20000); /* the peer goes away inside a message */
    cr_assert_eq(send(fa, h, n, MSG_NOSIGNAL), (ssize_t)n);
    cr_assert_eq(send(fa, part, 10000, MSG_NOSIGNAL), 10000);
    wait_received(server, 10001, 20064, deadline);
    free(part);
    int fds[] = {fa, fb};
    end_all(server, fds, 2);
    cm_metrics_free(reg);
}

/* The handler of the close test: "a" is answered later (by the test, holding a reference), "b"
 * answered at once and the connection closed, as the gateway closes an untrusted stream. */
static struct cm_ws_conn *deferred;

static void closing_text(struct cm_ws_conn *c, void *ud, const char *msg, size_t len)
{
    struct peer *p = ud;
    if (len == 1 && msg[0] == 'a') {
        cm_ws_conn_ref(c);
        deferred = c;
    } else if (len == 1 && msg[0] == 'b') {
        cm_ws_send_text(c, "b-refused", 9);
        cm_ws_close(c, CM_WS_POLICY_VIOLATION, "bye");
    }
    atomic_fetch_add(&p->handled, 1);
}

static const struct cm_ws_handlers closing_handlers = {NULL, closing_text, NULL, NULL};

/* A close the handler asks for stops the messages after it (in the same read too) but lets the
 * answer of one handed over before it go out first: "a" answered 300 ms later, then the close.
 * Before, the close went at once and the answer to "a" was dropped (an event taken, never
 * acknowledged). */
Test(ws_server, a_close_asked_for_lets_answers_in_flight_out_first)
{
    struct cm_ws_server *server = bounded_server(1024 * 1024, 0, NULL);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static struct peer p;
    cr_assert_eq(cm_ws_adopt(server, sv[1], &closing_handlers, &p), 0);
    unsigned char frames[64];
    size_t off = client_frame("a", frames);
    off += client_frame("b", frames + off);
    off += client_frame("c", frames + off);
    cr_assert_eq(send(sv[0], frames, off, MSG_NOSIGNAL), (ssize_t)off);
    int64_t deadline = cm_monotonic_ms() + 10000;
    cr_assert_eq(wait_for(&p.handled, 2, deadline), 2);
    cm_sleep_ms(300);
    cr_assert_eq(atomic_load(&p.handled), 2, "a message after the close was asked for handled");
    cm_ws_send_text(deferred, "a-ok", 4);
    cm_ws_conn_unref(deferred);
    unsigned char text[16];
    cr_assert_eq(frame_of(sv[0], 0x1, text, sizeof(text), deadline), 9);
    cr_assert_eq(memcmp(text, "b-refused", 9), 0);
    cr_assert_eq(frame_of(sv[0], 0x1, text, sizeof(text), deadline), 4, "a's answer dropped");
    cr_assert_eq(memcmp(text, "a-ok", 4), 0);
    cr_assert_eq(close_code(sv[0], deadline), CM_WS_POLICY_VIOLATION);
    int fds[] = {sv[0]};
    end_all(server, fds, 1);
}

/* Sends n bytes of fill (a frame's payload in parts). */
static void send_fill(int fd, size_t n, char fill)
{
    char *body = malloc(n);
    memset(body, fill, n);
    cr_assert_eq(send(fd, body, n, MSG_NOSIGNAL), (ssize_t)n);
    free(body);
}

/* Starts a text message in one frame announcing `announced` bytes, of which it sends `sent`. */
static void send_partial(int fd, size_t announced, size_t sent, char fill)
{
    unsigned char h[14];
    size_t n = frame_header(h, 1, 0x1, announced);
    cr_assert_eq(send(fd, h, n, MSG_NOSIGNAL), (ssize_t)n);
    send_fill(fd, sent, fill);
}

/* Two messages received but for their last bytes hold over three quarters of a 100 KiB bound: a
 * third connection, inside no message, is not read while the two go on; once the first
 * completes, the third's message is read too. */
Test(ws_server, connections_outside_a_message_wait_while_received_messages_crowd_the_bound)
{
    struct cm_ws_server *server = bounded_server(100 * 1024, 0, NULL);
    static struct peer a = {.open = 1}, b = {.open = 1}, c = {.open = 1};
    int fa = adopted(server, &a), fb = adopted(server, &b), fc = adopted(server, &c);
    int64_t deadline = cm_monotonic_ms() + 10000;
    send_partial(fa, 64000, 60000, 'a');
    wait_received(server, 60001, 64 * 1024 + 64, deadline);
    send_partial(fb, 20000, 17000, 'b'); /* 77,002 or more in all: over 76,800 */
    wait_received(server, 60001 + 17001, 100 * 1024, deadline);
    send_frame(fc, 1, 0x1, "hi", 2, 0);
    int64_t until = cm_monotonic_ms() + 500;
    while (cm_monotonic_ms() < until) {
        cr_assert_eq(atomic_load(&c.handled), 0, "read while the bound was crowded");
        cm_sleep_ms(20);
    }
    cr_assert_eq(cm_ws_connections(server), 3);
    send_fill(fa, 4000, 'a');
    cr_assert_eq(wait_for(&a.handled, 1, deadline), 1);
    cr_assert_eq(a.last_len, 64000);
    cr_assert_eq(wait_for(&c.handled, 1, deadline), 1);
    cr_assert_eq(c.last_len, 2);
    cr_assert_eq(atomic_load(&b.handled), 0);
    wait_received(server, 17001, 40000, deadline); /* b's alone */
    send_fill(fb, 3000, 'b');
    cr_assert_eq(wait_for(&b.handled, 1, deadline), 1);
    cr_assert_eq(b.last_len, 20000);
    int fds[] = {fa, fb, fc};
    end_all(server, fds, 3);
}

/* A message that stops halfway while it crowds the bound is closed with 1013 once it is older
 * than stalled_message_ms, and the connection waiting behind it is read. */
Test(ws_server, a_message_that_stalls_while_the_bound_is_crowded_gives_way)
{
    struct cm_ws_server *server = bounded_server(70 * 1024, 300, NULL); /* crowded past 53,760 */
    static struct peer a = {.open = 1}, c = {.open = 1};
    int fa = adopted(server, &a), fc = adopted(server, &c);
    int64_t deadline = cm_monotonic_ms() + 10000;
    send_partial(fa, 64000, 60000, 'a');
    wait_received(server, 60001, 64 * 1024 + 64, deadline);
    int64_t stalled_since = cm_monotonic_ms();
    send_frame(fc, 1, 0x1, "hi", 2, 0);
    cr_assert_eq(close_code(fa, deadline), CM_WS_TRY_AGAIN_LATER);
    cr_assert_geq(cm_monotonic_ms() - stalled_since, 250, "closed before it stalled");
    cr_assert_eq(wait_for(&c.handled, 1, deadline), 1);
    cr_assert_eq(atomic_load(&a.handled), 0);
    wait_received(server, 0, 0, deadline);
    int fds[] = {fa, fc};
    end_all(server, fds, 2);
}

static void send_small_messages(int fd, int count)
{
    unsigned char *frames = malloc((size_t)count * 16);
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        off += client_frame("m", frames + off);
    }
    cr_assert_eq(send(fd, frames, off, MSG_NOSIGNAL), (ssize_t)off);
    free(frames);
}

/* Two peers that do not read their 64 KiB answers, each far below its own 4 MiB backlog: while
 * their answers together pass a 256 KiB bound, neither is read, so the first is answered about
 * four times and the second once or twice (before, each would have been answered until 4 MiB
 * waited: 64 times); both get every answer once they read. */
Test(ws_server, answers_across_connections_pause_peers_that_hold_more_than_their_share)
{
    memset(reply, 'r', sizeof(reply));
    struct cm_ws_server *server = bounded_server(256 * 1024, 0, NULL);
    static struct peer a = {.open = 1, .reply = REPLY}, b = {.open = 1, .reply = REPLY};
    int fa = adopted(server, &a), fb = adopted(server, &b);
    send_small_messages(fa, 100);
    int first = settled(&a.handled);
    cr_assert_leq(first, 256 * 1024 / REPLY + 3, "%d answered while not read", first);
    send_small_messages(fb, 100);
    cm_sleep_ms(300); /* nothing to wait for: b is expected to stay still */
    int second = atomic_load(&b.handled);
    cr_assert_leq(second, 3, "%d answered while not read, all answers over the bound", second);
    int64_t deadline = cm_monotonic_ms() + 30000;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(next_text(fa, deadline), REPLY, "a's answer %d", i);
    }
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(next_text(fb, deadline), REPLY, "b's answer %d", i);
    }
    cr_assert_eq(atomic_load(&a.handled), 100);
    cr_assert_eq(atomic_load(&b.handled), 100);
    int fds[] = {fa, fb};
    end_all(server, fds, 2);
}

Test(ws_server, a_bound_no_larger_than_the_largest_message_is_refused)
{
    struct cm_ws_options o = {.threads = 1, .max_message = 64 * 1024, .max_buffered = 64 * 1024};
    cr_assert_null(cm_ws_new(&o));
}
