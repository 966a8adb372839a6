/* test_ws_server: the WebSocket server's flow control (common/src/net/ws.c) over a socketpair, a
 * cm_ws server adopting one end and a client written here frame by frame on the other: a peer
 * that sends without reading what it is answered pauses the server's reading, so its answers
 * cannot pile up without bound, and reading resumes once the peer takes them; a connection whose
 * reading the server paused is not closed for a silence the server caused. */
#include "cm/timeutil.h"
#include "cm/ws.h"

#include <criterion/criterion.h>

#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
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

/* Reads the next text frame from the server; its payload's length, or -1. Skips pings. */
static long next_text(int fd, int64_t deadline)
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
        if ((h[0] & 0x0f) == 0x1) {
            return (long)len;
        }
    }
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

    /* the server answers until its backlog is full, then stops reading: wait until the count
     * has stood still for half a second */
    int last = -1;
    int64_t still_since = cm_monotonic_ms(), deadline = still_since + 10000;
    while (cm_monotonic_ms() < deadline) {
        int now = atomic_load(&handled);
        if (now != last) {
            last = now;
            still_since = cm_monotonic_ms();
        } else if (now > 0 && cm_monotonic_ms() - still_since >= 500) {
            break;
        }
        cm_sleep_ms(20);
    }
    int before = atomic_load(&handled);
    cr_assert_gt(before, 0, "the server answered nothing");
    cr_assert_leq(before, BACKLOG / REPLY + 4,
                  "%d of %d messages handled while their answers were not read", before, MESSAGES);

    /* the peer takes its answers: every message is handled, each answered in full */
    deadline = cm_monotonic_ms() + 20000;
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
