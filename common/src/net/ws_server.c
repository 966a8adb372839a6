/* ws_server: the WebSocket server (see ws.h): the opening handshake (RFC 6455's accept key,
 * the Upgrade and version checks), accepting an HTTP request's upgrade or adopting a socket onto
 * one of the event loops, and the server's start, quiesce and stop. The loops themselves are in
 * ws.c. */
#include "ws_internal.h"

#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- handshake ---- */

int cm_ws_accept_key(const char *key, char out[29])
{
    unsigned char raw[24];
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0 || strspn(key, alphabet) != 22 ||
        EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18) {
        return -1;
    }
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[24 + sizeof(guid)];
    memcpy(joined, key, 24);
    memcpy(joined + 24, guid, sizeof(guid));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(joined, strlen(joined), digest, &dlen, EVP_sha1(), NULL) || dlen != 20) {
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)out, digest, 20);
    return 0;
}

/* 1 when the comma-separated header value holds token (case-insensitive). */
static int has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *end = p;
        while (*end && *end != ',') {
            end++;
        }
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }
        if ((size_t)(last - p) == tlen && strncasecmp(p, token, tlen) == 0) {
            return 1;
        }
        p = end;
    }
    return 0;
}

/* ---- server ---- */

static double connections_gauge(void *ud)
{
    return (double)cm_ws_connections(ud);
}

static double received_gauge(void *ud)
{
    return (double)atomic_load(&((struct cm_ws_server *)ud)->received);
}

static double answers_gauge(void *ud)
{
    return (double)atomic_load(&((struct cm_ws_server *)ud)->answers);
}

struct cm_ws_server *cm_ws_new(const struct cm_ws_options *opt)
{
    struct cm_ws_server *ws = cm_xcalloc(1, sizeof(*ws));
    ws->opt = *opt;
    if (!ws->opt.threads) {
        ws->opt.threads = 1;
    }
    if (ws->opt.ping_interval_ms <= 0) {
        ws->opt.ping_interval_ms = 30000;
    }
    if (!ws->opt.max_connections) {
        ws->opt.max_connections = 10000;
    }
    if (!ws->opt.max_backlog) {
        ws->opt.max_backlog = 4u << 20;
    }
    if (!ws->opt.max_message) {
        ws->opt.max_message = 1u << 20;
    }
    if (ws->opt.stalled_message_ms <= 0) {
        ws->opt.stalled_message_ms = 10000;
    }
    if (!ws->opt.max_buffered) {
        ws->opt.max_buffered = (size_t)256 << 20;
        ws->opt.max_buffered = ws->opt.max_buffered > ws->opt.max_message ? ws->opt.max_buffered
                                                                          : ws->opt.max_message + 1;
    } else if (ws->opt.max_buffered <= ws->opt.max_message) {
        CM_LOG_ERROR("config_invalid",
                     "the memory for WebSocket messages (max_buffered, GATEWAY_WS_MAX_BUFFERED in "
                     "the gateway: %zu bytes) must exceed the largest message (%zu bytes)",
                     ws->opt.max_buffered, ws->opt.max_message);
        free(ws);
        return NULL;
    }
    ws->loops = cm_xcalloc(ws->opt.threads, sizeof(*ws->loops));
    for (unsigned i = 0; i < ws->opt.threads; i++) {
        struct loop *l = &ws->loops[i];
        l->ws = ws;
        pthread_mutex_init(&l->mu, NULL);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->epfd < 0 || l->evfd < 0) {
            CM_LOG_ERROR("ws_start_failed", "epoll/eventfd: %s", strerror(errno));
            abort();
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev);
        if (pthread_create(&l->thread, NULL, ws_loop_main, l) != 0) {
            CM_LOG_ERROR("ws_start_failed", "cannot start a WebSocket loop thread");
            abort();
        }
        l->started = 1;
    }
    if (ws->opt.metrics) {
        cm_metrics_gauge_fn(ws->opt.metrics, "websocket_connections", "open WebSocket connections",
                            connections_gauge, ws);
        cm_metrics_gauge_fn(ws->opt.metrics, "websocket_received_bytes",
                            "bytes WebSocket messages received hold, being assembled or waiting to "
                            "be handled (max_buffered bounds them)",
                            received_gauge, ws);
        cm_metrics_gauge_fn(ws->opt.metrics, "websocket_answers_bytes",
                            "bytes of WebSocket answers waiting to be written", answers_gauge, ws);
        ws->m_refused = cm_metric_with(
            cm_metrics_counter(ws->opt.metrics, "websocket_refused_busy_total",
                               "connections closed with 1013 because their message would have "
                               "passed max_buffered",
                               NULL),
            NULL);
    }
    return ws;
}

unsigned cm_ws_connections(const struct cm_ws_server *ws)
{
    int n = atomic_load(&ws->count);
    return n > 0 ? (unsigned)n : 0;
}

void cm_ws_buffered(const struct cm_ws_server *ws, size_t *received, size_t *answers)
{
    *received = atomic_load(&ws->received);
    *answers = atomic_load(&ws->answers);
}

/* MHD thread: the 101 went out; hand the socket to a loop. */
static void on_upgraded(void *ud, int fd, const char *extra, size_t extra_len,
                        struct cm_http_upgrade *up)
{
    struct cm_ws_conn *c = ud;
    c->fd = fd;
    c->up = up;
    ws_early_set(&c->early, extra, extra_len);
    pthread_mutex_lock(&c->loop->mu);
    int listed = ws_list_locked(c);
    pthread_mutex_unlock(&c->loop->mu);
    if (listed) {
        ws_wake(c->loop);
        return;
    }
    cm_http_upgrade_close(up); /* the loops have ended */
    atomic_fetch_sub(&c->ws->count, 1);
    cm_ws_conn_unref(c);
}

/* A connection on the next loop in turn, holding the loop's reference. */
static struct cm_ws_conn *conn_new(struct cm_ws_server *ws, const struct cm_ws_handlers *h,
                                   void *ud, int fd)
{
    struct cm_ws_conn *c = cm_xcalloc(1, sizeof(*c));
    c->ws = ws;
    c->loop = &ws->loops[atomic_fetch_add(&ws->next_loop, 1) % ws->opt.threads];
    atomic_init(&c->refs, 1);
    c->h = h;
    c->ud = ud;
    c->fd = fd;
    return c;
}

int cm_ws_adopt(struct cm_ws_server *ws, int fd, const struct cm_ws_handlers *h, void *ud)
{
    if (atomic_load(&ws->phase) != RUNNING) {
        return -1;
    }
    atomic_fetch_add(&ws->count, 1);
    struct cm_ws_conn *c = conn_new(ws, h, ud, fd);
    pthread_mutex_lock(&c->loop->mu);
    int listed = ws_list_locked(c);
    pthread_mutex_unlock(&c->loop->mu);
    if (!listed) {
        atomic_fetch_sub(&ws->count, 1);
        free(c); /* never shared; fd and ud stay the caller's */
        return -1;
    }
    ws_wake(c->loop);
    return 0;
}

static void on_abandoned(void *ud)
{
    struct cm_ws_conn *c = ud;
    atomic_fetch_sub(&c->ws->count, 1);
    cm_ws_conn_unref(c);
}

int cm_ws_accept(struct cm_ws_server *ws, struct cm_http_req *req, const struct cm_ws_handlers *h,
                 void *ud)
{
    const char *version = cm_http_header(req, "Sec-WebSocket-Version");
    char accept[29];
    int status = 0;
    if (!has_token(cm_http_header(req, "Upgrade"), "websocket")) {
        cm_http_add_header(req, "Upgrade", "websocket");
        cm_http_respond_error(req, status = 426, 0,
                              "this endpoint speaks WebSocket: send Upgrade: websocket");
    } else if (!version || strcmp(version, "13") != 0) {
        cm_http_add_header(req, "Sec-WebSocket-Version", "13");
        cm_http_respond_error(req, status = 426, 0, "Sec-WebSocket-Version must be 13");
    } else if (!has_token(cm_http_header(req, "Connection"), "upgrade")) {
        cm_http_respond_error(req, status = 400, 0, "the Connection header must include Upgrade");
    } else if (cm_ws_accept_key(cm_http_header(req, "Sec-WebSocket-Key"), accept) != 0) {
        cm_http_respond_error(req, status = 400, 0,
                              "Sec-WebSocket-Key must be the base64 form of 16 bytes");
    } else if (atomic_load(&ws->phase) != RUNNING) {
        cm_http_add_header(req, "Retry-After", "1");
        cm_http_respond_error(req, status = 503, 0, "shutting down");
    } else if (atomic_fetch_add(&ws->count, 1) >= (int)ws->opt.max_connections) {
        atomic_fetch_sub(&ws->count, 1);
        cm_http_add_header(req, "Retry-After", "1");
        cm_http_respond_error(req, status = 503, 0, "too many WebSocket connections (%u)",
                              ws->opt.max_connections);
    }
    if (status) {
        if (h->release) {
            h->release(ud);
        }
        return -1;
    }
    struct cm_ws_conn *c = conn_new(ws, h, ud, -1);
    cm_http_add_header(req, "Upgrade", "websocket");
    cm_http_add_header(req, "Sec-WebSocket-Accept", accept);
    cm_http_respond_upgrade(req, on_upgraded, on_abandoned, c);
    return 0;
}

static void wake_all(struct cm_ws_server *ws)
{
    for (unsigned i = 0; i < ws->opt.threads; i++) {
        ws_wake(&ws->loops[i]);
    }
}

/* Waits until every loop swept twice after now and found nothing busy (or the deadline). */
static void wait_idle(struct cm_ws_server *ws, int64_t deadline)
{
    unsigned *base = cm_xcalloc(ws->opt.threads, sizeof(*base));
    for (unsigned i = 0; i < ws->opt.threads; i++) {
        base[i] = atomic_load(&ws->loops[i].sweeps);
    }
    while (cm_monotonic_ms() < deadline) {
        int idle = 1;
        for (unsigned i = 0; i < ws->opt.threads; i++) {
            struct loop *l = &ws->loops[i];
            idle &= atomic_load(&l->sweeps) - base[i] >= 2 && atomic_load(&l->busy) == 0;
        }
        if (idle) {
            break;
        }
        cm_sleep_ms(5);
    }
    free(base);
}

void cm_ws_quiesce(struct cm_ws_server *ws)
{
    int running = RUNNING;
    if (ws && atomic_compare_exchange_strong(&ws->phase, &running, QUIESCING)) {
        wake_all(ws); /* no new connections, no more reading */
    }
}

void cm_ws_stop(struct cm_ws_server *ws, int timeout_ms)
{
    if (!ws || atomic_load(&ws->phase) == ENDED) {
        return;
    }
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    cm_ws_quiesce(ws);
    wait_idle(ws, deadline);
    atomic_store(&ws->phase, CLOSING);
    wake_all(ws);
    int64_t close_deadline = cm_monotonic_ms() + CLOSE_GRACE_MS;
    while (atomic_load(&ws->count) > 0 && cm_monotonic_ms() < close_deadline) {
        cm_sleep_ms(5);
    }
    atomic_store(&ws->phase, ENDED);
    wake_all(ws);
    for (unsigned i = 0; i < ws->opt.threads; i++) {
        if (ws->loops[i].started) {
            pthread_join(ws->loops[i].thread, NULL);
            ws->loops[i].started = 0;
        }
    }
}

void cm_ws_free(struct cm_ws_server *ws)
{
    if (!ws) {
        return;
    }
    cm_ws_stop(ws, 0);
    for (unsigned i = 0; i < ws->opt.threads; i++) {
        struct loop *l = &ws->loops[i];
        close(l->epfd);
        close(l->evfd);
        free(l->pending);
        pthread_mutex_destroy(&l->mu);
    }
    free(ws->loops);
    free(ws);
}
