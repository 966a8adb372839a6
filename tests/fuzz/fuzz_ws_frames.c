/* fuzz_ws_frames: libFuzzer target for the WebSocket server side (common/ws.c over wslay): the
 * input is what a client sends after the handshake (frames, fragments, control frames, masks,
 * lengths, close codes; anything). It is written into one end of a socketpair whose other end a
 * cm_ws server adopted; the target then reads until the server closes and waits until the
 * connection is gone. Crashes, sanitizer reports, leaks and hangs are findings, and so is memory
 * still counted against max_buffered once the connection is gone. */
#include "cm/timeutil.h"
#include "cm/ws.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cm_ws_server *server;
static atomic_size_t text_bytes;

static void on_text(struct cm_ws_conn *c, void *ud, const char *msg, size_t len)
{
    (void)ud;
    text_bytes += strlen(msg) <= len ? len : 0; /* touches every byte: ASan checks the bounds */
    cm_ws_send_text(c, msg, len);               /* echo: exercises the write path too */
}

static int can_read(struct cm_ws_conn *c, void *ud)
{
    (void)c;
    (void)ud;
    return 1;
}

static const struct cm_ws_handlers handlers = {NULL, on_text, can_read, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    if (!server) {
        struct cm_ws_options o = {
            .threads = 1, .max_message = 4096, .ping_interval_ms = 60000, .max_connections = 16};
        server = cm_ws_new(&o);
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        abort();
    }
    if (cm_ws_adopt(server, sv[1], &handlers, NULL) != 0) {
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0) {
            break; /* the server closed early (a protocol error): fine */
        }
        off += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR); /* EOF after the input */
    char buf[4096];
    while (read(sv[0], buf, sizeof(buf)) > 0) {
    }
    int64_t deadline = cm_monotonic_ms() + 10000;
    while (cm_ws_connections(server) > 0) {
        if (cm_monotonic_ms() > deadline) {
            abort(); /* the connection never ended: a hang */
        }
        cm_sleep_ms(1);
    }
    size_t received, answers;
    cm_ws_buffered(server, &received, &answers);
    if (received || answers) {
        abort(); /* memory still counted for a connection that is gone */
    }
    close(sv[0]);
    return 0;
}
