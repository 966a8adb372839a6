/* ws_recv: a WebSocket server connection's reading side (see ws.h): the wslay callbacks that
 * read the socket and assemble messages as their bytes arrive, what those messages and the
 * answers waiting to be written hold (counted against max_buffered across connections), and
 * when a connection is not read. Loop thread only, but for the server-wide atomics. */
#include "ws_internal.h"
#include "ws_queue.h"

#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

/* ---- memory held across connections (loop thread) ---- */

/* What a received message holds: its allocation, header included. */
static size_t msg_bytes(const struct ws_msg *m)
{
    return sizeof(*m) + m->size;
}

/* Counts n more bytes of received messages for c; 0, counting nothing, when the server's total
 * would pass max_buffered. */
static int take_received(struct cm_ws_conn *c, size_t n)
{
    struct cm_ws_server *ws = c->ws;
    if (atomic_fetch_add(&ws->received, n) + n > ws->opt.max_buffered) {
        atomic_fetch_sub(&ws->received, n);
        return 0;
    }
    c->received += n;
    return 1;
}

void ws_give_received(struct cm_ws_conn *c, size_t n)
{
    atomic_fetch_sub(&c->ws->received, n);
    c->received -= n;
}

/* Brings the server's count of answers in line with what wslay now queues for c. */
void ws_sync_answers(struct cm_ws_conn *c)
{
    size_t queued = c->ctx ? wslay_event_get_queued_msg_length(c->ctx) : 0;
    if (queued > c->answers_seen) {
        atomic_fetch_add(&c->ws->answers, queued - c->answers_seen);
    } else if (queued < c->answers_seen) {
        atomic_fetch_sub(&c->ws->answers, c->answers_seen - queued);
    }
    c->answers_seen = queued;
}

/* 1 when the peer does not take its answers: more than max_backlog bytes of them wait to be
 * written (in the outbox, those of messages handled in this read among them, and in wslay's
 * queue), or more than its share while all connections' answers pass max_buffered. */
int ws_backlogged(struct cm_ws_conn *c)
{
    size_t backlog = atomic_load(&c->outbox_bytes);
    if (c->ctx) {
        backlog += wslay_event_get_queued_msg_length(c->ctx);
    }
    const struct cm_ws_server *ws = c->ws;
    return backlog > ws->opt.max_backlog ||
           (backlog > ANSWERS_SHARE && atomic_load(&ws->answers) > ws->opt.max_buffered);
}

int ws_crowded(const struct cm_ws_server *ws)
{
    return atomic_load(&ws->received) > ws->opt.max_buffered / 4 * 3;
}

/* 1 when c is not inside a message and the server is crowded: c is not read until those inside
 * one finish it (c holds nothing meanwhile). */
static int received_crowded(const struct cm_ws_conn *c)
{
    return !c->rx && ws_crowded(c->ws);
}

/* ---- wslay callbacks (loop thread) ---- */

int ws_reading_allowed(struct cm_ws_conn *c)
{
    int asked = atomic_load(&c->close_requested);
    if (c->closing || asked == CLOSE_ASKED || asked == CLOSE_DRAINING) {
        return 0; /* a close was asked for: nothing more is read or handled */
    }
    if (atomic_load(&c->ws->phase) != RUNNING || ws_backlogged(c)) {
        return 0; /* a backlogged peer is read again once it has taken its answers */
    }
    return !c->h->can_read || c->h->can_read(c, c->ud);
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct cm_ws_conn *c = ud;
    size_t early = ws_early_take(&c->early, buf, len);
    if (early) {
        return (ssize_t)early;
    }
    if (c->held.head || !ws_reading_allowed(c) || received_crowded(c)) {
        c->pause_hit = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ssize_t r;
    do {
        r = recv(c->fd, buf, len, 0);
    } while (r < 0 && errno == EINTR);
    if (r > 0) {
        c->last_recv_ms = cm_monotonic_ms();
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); /* EOF or reset */
    }
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    struct cm_ws_conn *c = ud;
    ssize_t r;
    do {
        r = send(c->fd, data, len, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
        return r;
    }
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int valid_utf8(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = cm_utf8_seq_len(s + i, len - i);
        if (!n) {
            return 0;
        }
        i += n;
    }
    return 1;
}

/* Hands held messages to the handler while it can take them; 1 when none is left. */
int ws_deliver_held(struct cm_ws_conn *c)
{
    while (c->held.head && ws_reading_allowed(c)) {
        struct ws_msg *m = ws_queue_pop(&c->held);
        c->h->on_text(c, c->ud, m->data, m->len);
        ws_give_received(c, msg_bytes(m));
        free(m);
    }
    if (c->held.head) {
        c->pause_hit = 1;
        return 0;
    }
    return 1;
}

/* Drops the message being assembled. */
static void drop_rx(struct cm_ws_conn *c)
{
    if (c->rx) {
        ws_give_received(c, msg_bytes(c->rx));
        free(c->rx);
        c->rx = NULL;
        c->rx_size = 0;
    }
}

/* Queues our close; from then on what the peer sends is read and dropped. */
void ws_queue_close(struct cm_ws_conn *c, uint16_t code, const char *reason)
{
    c->refused = 1;
    drop_rx(c);
    if (!wslay_event_get_close_sent(c->ctx)) {
        wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, strlen(reason));
    }
}

/* Messages are assembled here, not by wslay (no buffering): wslay would allocate each frame's
 * announced length before its first byte came, then copy the whole message once more. */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    (void)ctx;
    struct cm_ws_conn *c = ud;
    c->rx_control = (arg->opcode & 0x8) != 0;
    if (c->rx_control || c->refused) {
        return; /* ping, pong and close are handled by wslay */
    }
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        ws_queue_close(c, CM_WS_UNSUPPORTED_DATA, "binary messages are not accepted; send text");
        return;
    }
    size_t have = c->rx ? c->rx->len : 0;
    if (arg->payload_length > c->ws->opt.max_message - have) {
        ws_queue_close(c, CM_WS_MESSAGE_TOO_BIG, "message too big");
    }
}

/* Room for need bytes in the message being assembled, the growth counted; 0 when the server's
 * received messages would pass max_buffered. The first part is allocated as it is (a message in
 * one frame read at once, the usual case, holds no more than it needs); a buffer that must grow
 * doubles, up to max_message. */
static int rx_reserve(struct cm_ws_conn *c, size_t need)
{
    if (need <= c->rx_size) {
        return 1;
    }
    size_t size = need, most = c->ws->opt.max_message + 1;
    if (c->rx_size) {
        for (size = c->rx_size * 2; size < need; size *= 2) {
        }
        size = size > most ? (most > need ? most : need) : size;
    }
    if (!take_received(c, size - c->rx_size + (c->rx ? 0 : sizeof(*c->rx)))) {
        return 0;
    }
    int fresh = !c->rx;
    c->rx = cm_xrealloc(c->rx, sizeof(*c->rx) + size);
    if (fresh) {
        c->rx->next = NULL;
        c->rx->len = 0;
        c->rx_started_ms = cm_monotonic_ms();
    }
    c->rx->size = c->rx_size = size;
    return 1;
}

void ws_refuse_busy(struct cm_ws_conn *c)
{
    if (c->ws->m_refused) {
        cm_counter_inc(c->ws->m_refused);
    }
    ws_queue_close(c, CM_WS_TRY_AGAIN_LATER,
                   "the server holds as many received messages as it may; try again later");
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *ud)
{
    (void)ctx;
    struct cm_ws_conn *c = ud;
    if (c->rx_control || c->refused || !arg->data_length) {
        return;
    }
    size_t len = c->rx ? c->rx->len : 0;
    if (!rx_reserve(c, len + arg->data_length + 1)) {
        ws_refuse_busy(c);
        return;
    }
    memcpy(c->rx->data + len, arg->data, arg->data_length);
    c->rx->len = len + arg->data_length;
}

static void on_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                       void *ud)
{
    (void)ctx;
    struct cm_ws_conn *c = ud;
    if (c->refused || arg->opcode != WSLAY_TEXT_FRAME) {
        return; /* closing: the peer's late messages are not processed; control frames are
                   wslay's, and binary ones were refused at their first frame */
    }
    if (!rx_reserve(c, 1)) { /* an empty message */
        ws_refuse_busy(c);
        return;
    }
    struct ws_msg *m = c->rx;
    c->rx = NULL;
    c->rx_size = 0;
    m->data[m->len] = '\0';
    if (!valid_utf8((const uint8_t *)m->data, m->len)) {
        ws_give_received(c, msg_bytes(m));
        free(m);
        ws_queue_close(c, CM_WS_INVALID_DATA, "text message is not valid UTF-8");
        return;
    }
    ws_queue_push(&c->held, m);
    ws_deliver_held(c);
}

const struct wslay_event_callbacks ws_wslay_callbacks = {
    on_recv, on_send, NULL, on_frame_start, on_frame_chunk, NULL, on_message,
};
