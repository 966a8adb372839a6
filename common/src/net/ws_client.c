/* ws_client: a blocking WebSocket client (see ws.h) over one TCP connection, framed by wslay in
 * client mode (masks from OpenSSL's RAND_bytes). Used by the integration tests and the gateway
 * benchmark; one thread per client. */
#include "cm/ws.h"

#include "ws_queue.h"

#include "cm/mem.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

struct cm_ws_client {
    int fd;
    wslay_event_context_ptr ctx;
    struct ws_early early; /* bytes read past the handshake answer */
    struct ws_queue received;
    char *close_reason; /* the server's close frame's reason */
    int broken;
};

/* The header line "\r\nName:" in the answer head (case-insensitive), or NULL. */
static const char *find_header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            return p + 3 + n;
        }
    }
    return NULL;
}

static ssize_t c_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct cm_ws_client *c = ud;
    size_t early = ws_early_take(&c->early, buf, len);
    if (early) {
        return (ssize_t)early;
    }
    ssize_t r = recv(c->fd, buf, len, 0);
    if (r > 0) {
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        c->broken = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static ssize_t c_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                      void *ud)
{
    (void)flags;
    struct cm_ws_client *c = ud;
    ssize_t r = send(c->fd, data, len, MSG_NOSIGNAL);
    if (r >= 0) {
        return r;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        c->broken = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static int c_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    if (RAND_bytes(buf, (int)len) != 1) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void c_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *ud)
{
    (void)ctx;
    struct cm_ws_client *c = ud;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME &&
        arg->opcode != WSLAY_CONNECTION_CLOSE) {
        return;
    }
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        free(c->close_reason); /* the code is kept by wslay; the payload holds it and the reason */
        size_t n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        c->close_reason = cm_xstrndup(n ? (const char *)arg->msg + 2 : "", n);
        return;
    }
    ws_queue_push(&c->received, ws_msg_new(arg->msg, arg->msg_length));
}

static const struct wslay_event_callbacks client_callbacks = {
    c_recv, c_send, c_genmask, NULL, NULL, NULL, c_message,
};

/* Polls fd for events until the deadline; 1 when ready, 0 on timeout. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - cm_monotonic_ms();
        if (left <= 0) {
            return 0;
        }
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)left);
        if (r > 0) {
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            return 0;
        }
    }
}

/* Reads the handshake answer's head (and, when not 101, its body) until the deadline. */
static char *read_answer(int fd, int64_t deadline, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = cm_xmalloc(cap + 1);
    for (;;) {
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            *end = '\0';
            const char *cl = find_header(buf, "Content-Length");
            *end = '\r';
            size_t want = cl ? strtoul(cl, NULL, 10) : 0;
            if (strncmp(buf, "HTTP/1.1 101", 12) == 0 || (size_t)(end + 4 - buf) + want <= n ||
                want > 65536) {
                *len = n;
                return buf;
            }
        }
        if (n == cap) {
            cap *= 2;
            buf = cm_xrealloc(buf, cap + 1);
        }
        if (!wait_fd(fd, POLLIN, deadline)) {
            break;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0) {
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            break;
        }
        n += (size_t)r;
    }
    *len = n;
    buf[n] = '\0';
    return buf;
}

struct cm_ws_client *cm_ws_client_connect(const char *host, unsigned port, const char *path,
                                          const char *extra_headers, int timeout_ms,
                                          int *http_status, char *err, size_t errlen)
{
    *http_status = 0;
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        snprintf(err, errlen, "%s is not an IPv4 address", host);
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        snprintf(err, errlen, "connect %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    unsigned char nonce[16];
    char key[25], expect[29];
    RAND_bytes(nonce, sizeof(nonce));
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    cm_ws_accept_key(key, expect);
    char *req = cm_xasprintf("GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n%s\r\n",
                             path, host, port, key, extra_headers ? extra_headers : "");
    size_t off = 0, total = strlen(req);
    while (off < total) {
        ssize_t w = send(fd, req + off, total - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline)) {
            continue;
        } else {
            break;
        }
    }
    free(req);
    size_t n;
    char *answer = read_answer(fd, deadline, &n);
    char *end = strstr(answer, "\r\n\r\n");
    if (!end || sscanf(answer, "HTTP/1.1 %d", http_status) != 1) {
        snprintf(err, errlen, "no HTTP answer to the handshake");
        free(answer);
        close(fd);
        return NULL;
    }
    if (*http_status != 101) {
        snprintf(err, errlen, "%s", end + 4);
        free(answer);
        close(fd);
        return NULL;
    }
    *end = '\0';
    const char *acc = find_header(answer, "Sec-WebSocket-Accept");
    if (!acc || strncmp(acc + strspn(acc, " "), expect, 28) != 0) {
        snprintf(err, errlen, "wrong or missing Sec-WebSocket-Accept");
        free(answer);
        close(fd);
        return NULL;
    }
    struct cm_ws_client *c = cm_xcalloc(1, sizeof(*c));
    c->fd = fd;
    size_t head = (size_t)(end + 4 - answer);
    ws_early_set(&c->early, answer + head, n > head ? n - head : 0);
    free(answer);
    wslay_event_context_client_init(&c->ctx, &client_callbacks, c);
    return c;
}

static int flush(struct cm_ws_client *c, int64_t deadline)
{
    while (wslay_event_want_write(c->ctx)) {
        if (wslay_event_send(c->ctx) != 0 || c->broken) {
            return -1;
        }
        if (wslay_event_want_write(c->ctx) && !wait_fd(c->fd, POLLOUT, deadline)) {
            return -1;
        }
    }
    return 0;
}

int cm_ws_client_send(struct cm_ws_client *c, int text, const void *data, size_t len)
{
    struct wslay_event_msg m = {text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME, data, len};
    if (c->broken || wslay_event_queue_msg(c->ctx, &m) != 0) {
        return -1;
    }
    return flush(c, cm_monotonic_ms() + 30000);
}

int cm_ws_client_recv(struct cm_ws_client *c, int timeout_ms, char **msg, size_t *len,
                      uint16_t *close_code)
{
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    for (;;) {
        struct ws_msg *m = ws_queue_pop(&c->received);
        if (m) {
            *len = m->len;
            *msg = cm_xmalloc(m->len + 1);
            memcpy(*msg, m->data, m->len + 1);
            free(m);
            return 1;
        }
        if (wslay_event_get_close_received(c->ctx)) {
            flush(c, deadline); /* our answering close frame */
            *close_code = wslay_event_get_status_code_received(c->ctx);
            *msg = cm_xstrdup(c->close_reason ? c->close_reason : "");
            *len = strlen(*msg);
            return 0;
        }
        if (c->broken || !wslay_event_want_read(c->ctx)) {
            return -1;
        }
        if (c->early.off >= c->early.len && !wait_fd(c->fd, POLLIN, deadline)) {
            return -1;
        }
        if (wslay_event_recv(c->ctx) != 0) {
            c->broken = 1;
        }
        if (flush(c, deadline) != 0) {
            c->broken = 1; /* pongs */
        }
    }
}

void cm_ws_client_close(struct cm_ws_client *c, uint16_t code, int timeout_ms)
{
    if (c->broken) {
        return;
    }
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    wslay_event_queue_close(c->ctx, code, NULL, 0);
    flush(c, deadline);
    while (!c->broken && !wslay_event_get_close_received(c->ctx) &&
           wait_fd(c->fd, POLLIN, deadline)) {
        if (wslay_event_recv(c->ctx) != 0) {
            break;
        }
    }
}

void cm_ws_client_free(struct cm_ws_client *c)
{
    if (!c) {
        return;
    }
    ws_queue_clear(&c->received);
    wslay_event_context_free(c->ctx);
    close(c->fd);
    free(c->early.data);
    free(c->close_reason);
    free(c);
}
