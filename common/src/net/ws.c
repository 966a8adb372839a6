/* ws: WebSocket server connections (see ws.h), wslay framing on epoll event loops; the
 * handshake and the server's start and stop are in ws_server.c, the reading side (messages
 * assembled, memory counted, when not to read) in ws_recv.c.
 * A connection belongs to one loop thread, which alone touches its wslay context and socket.
 * Other threads reach it through the loop's pending list: a send or close request is stored
 * under the loop's lock, the connection is listed (holding a reference) and the loop is woken
 * through an eventfd. The loop's own reference is dropped when the connection is finished. */
#include "cm/ws.h"

#include "ws_internal.h"
#include "ws_queue.h"

#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <wslay/wslay.h>

/* ---- references and cross-thread requests ---- */

void cm_ws_conn_ref(struct cm_ws_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void cm_ws_conn_unref(struct cm_ws_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1) {
        return;
    }
    ws_queue_clear(&c->outbox);
    ws_queue_clear(&c->held);
    free(c->early.data);
    if (c->h->release) {
        c->h->release(c->ud);
    }
    free(c);
}

void ws_wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->evfd, &one, sizeof(one));
    (void)r; /* a full counter still wakes the loop */
}

int ws_list_locked(struct cm_ws_conn *c)
{
    struct loop *l = c->loop;
    if (l->ended) {
        return 0;
    }
    if (!c->listed) {
        if (l->npending == l->cap_pending) {
            l->cap_pending = l->cap_pending ? l->cap_pending * 2 : 16;
            l->pending = cm_xrealloc(l->pending, l->cap_pending * sizeof(*l->pending));
        }
        l->pending[l->npending++] = c;
        c->listed = 1;
        cm_ws_conn_ref(c);
    }
    return 1;
}

void cm_ws_send_text(struct cm_ws_conn *c, const char *text, size_t len)
{
    struct ws_msg *m = ws_msg_new(text, len);
    struct loop *l = c->loop;
    pthread_mutex_lock(&l->mu);
    if (c->gone || c->close_requested == CLOSE_QUEUED || !ws_list_locked(c)) {
        pthread_mutex_unlock(&l->mu);
        free(m);
        return;
    }
    ws_queue_push(&c->outbox, m);
    atomic_fetch_add(&c->outbox_bytes, len);
    atomic_fetch_add(&c->ws->answers, len);
    pthread_mutex_unlock(&l->mu);
    ws_wake(l);
}

static void copy_reason(char *dst, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    if (n > MAX_REASON) {
        n = MAX_REASON;
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80) {
            n--; /* do not cut a UTF-8 sequence */
        }
    }
    memcpy(dst, reason ? reason : "", n);
    dst[n] = '\0';
}

void cm_ws_close(struct cm_ws_conn *c, uint16_t code, const char *reason)
{
    struct loop *l = c->loop;
    pthread_mutex_lock(&l->mu);
    if (!c->gone && !c->close_requested && ws_list_locked(c)) {
        c->close_requested = CLOSE_ASKED;
        c->close_code = code;
        copy_reason(c->close_reason, reason);
    }
    pthread_mutex_unlock(&l->mu);
    ws_wake(l);
}

void cm_ws_close_at(struct cm_ws_conn *c, int64_t deadline_ms, uint16_t code, const char *reason)
{
    pthread_mutex_lock(&c->loop->mu);
    c->deadline_ms = deadline_ms;
    c->deadline_code = code;
    copy_reason(c->deadline_reason, reason);
    pthread_mutex_unlock(&c->loop->mu);
}

/* ---- loop ---- */

static void finish(struct cm_ws_conn *c)
{
    if (c->finished) {
        return;
    }
    c->finished = 1;
    struct loop *l = c->loop;
    if (c->registered) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        if (c->paused) {
            l->npaused--;
        }
        if (c->prev) {
            c->prev->next = c->next;
        } else {
            l->conns = c->next;
        }
        if (c->next) {
            c->next->prev = c->prev;
        }
    }
    if (c->ctx) {
        wslay_event_context_free(c->ctx);
        c->ctx = NULL;
    }
    free(c->rx);
    c->rx = NULL;
    c->rx_size = 0;
    ws_give_received(c, c->received); /* the message being assembled and those held */
    pthread_mutex_lock(&l->mu);
    c->gone = 1;
    ws_queue_clear(&c->outbox);
    size_t outbox = atomic_exchange(&c->outbox_bytes, 0);
    pthread_mutex_unlock(&l->mu);
    atomic_fetch_sub(&c->ws->answers, outbox + c->answers_seen);
    c->answers_seen = 0;
    if (c->up) {
        cm_http_upgrade_close(c->up);
    } else {
        close(c->fd); /* adopted (cm_ws_adopt) */
    }
    atomic_fetch_sub(&c->ws->count, 1);
    cm_ws_conn_unref(c); /* the loop's reference */
}

static void set_paused(struct cm_ws_conn *c, int paused)
{
    if (c->paused != paused) {
        c->loop->npaused += paused ? 1u : (unsigned)-1;
        c->paused = paused;
    }
}

/* Brings the epoll interest in line with what wslay wants; finishes a connection with nothing
 * left to read or write. */
static void update(struct cm_ws_conn *c)
{
    if (c->finished) {
        return;
    }
    uint32_t want;
    if (c->draining) {
        want = EPOLLIN;
    } else {
        int rd = wslay_event_want_read(c->ctx), wr = wslay_event_want_write(c->ctx);
        if (wslay_event_get_close_sent(c->ctx) && !c->close_sent_ms) {
            c->close_sent_ms = cm_monotonic_ms();
        }
        if (!rd && !wr) {
            if (wslay_event_get_close_sent(c->ctx) && !wslay_event_get_close_received(c->ctx)) {
                /* we closed without reading further (oversized or invalid input): read and
                 * drop what the peer still sends until it closes, so it gets our close frame
                 * instead of a reset */
                c->draining = 1;
                shutdown(c->fd, SHUT_WR);
                set_paused(c, 0);
                want = EPOLLIN;
            } else {
                finish(c);
                return;
            }
        } else {
            want = (rd && !c->paused ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0);
        }
    }
    if (want != c->interest) {
        struct epoll_event ev = {.events = want, .data.ptr = c};
        epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->interest = want;
    }
}

static void drain(struct cm_ws_conn *c)
{
    char buf[4096];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r > 0) {
            continue;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        finish(c);
        return;
    }
}

static void do_write(struct cm_ws_conn *c)
{
    if (c->finished) {
        return;
    }
    int failed = wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0;
    ws_sync_answers(c); /* what was sent, and what was queued since (pings, closes) */
    if (failed) {
        finish(c);
        return;
    }
    update(c);
}

static void do_read(struct cm_ws_conn *c)
{
    if (c->finished) {
        return;
    }
    if (c->draining) {
        drain(c);
        return;
    }
    c->pause_hit = 0;
    if (!ws_deliver_held(c)) {
        set_paused(c, 1);
        update(c);
        return;
    }
    if (wslay_event_want_read(c->ctx) && wslay_event_recv(c->ctx) != 0) {
        finish(c);
        return;
    }
    set_paused(c, c->pause_hit);
    do_write(c);
}

static void start_close(struct cm_ws_conn *c, uint16_t code, const char *reason)
{
    if (c->finished || c->draining) {
        return;
    }
    /* wslay sends control frames ahead of queued messages: send what was queued before the close
     * was asked for (the ack that explains it) first */
    if (wslay_event_get_queued_msg_count(c->ctx) > 0) {
        do_write(c);
        if (c->finished) {
            return;
        }
    }
    ws_queue_close(c, code, reason);
    do_write(c);
}

/* A close asked for (cm_ws_close, or a deadline): nothing more is read or handled, but the
 * answers of messages already handed over (each holding a reference) still go out before the
 * close frame, for up to CLOSE_DRAIN_MS; the sweep ends it (end_drain). */
static void begin_close(struct cm_ws_conn *c)
{
    if (c->finished || c->draining) {
        return;
    }
    c->closing = 1;
    c->closing_ms = cm_monotonic_ms();
    set_paused(c, 1); /* swept every PAUSED_POLL_MS */
    update(c);
}

static void end_drain(struct cm_ws_conn *c)
{
    struct loop *l = c->loop;
    pthread_mutex_lock(&l->mu);
    c->close_requested = CLOSE_QUEUED;
    pthread_mutex_unlock(&l->mu);
    c->closing = 0;
    set_paused(c, 0); /* read again: the peer's close frame answers ours */
    start_close(c, c->close_code, c->close_reason);
}

static void register_conn(struct loop *l, struct cm_ws_conn *c)
{
    c->registered = 1;
    int flags = fcntl(c->fd, F_GETFL, 0);
    fcntl(c->fd, F_SETFL, flags | O_NONBLOCK);
    /* acks are small and must leave at once: no Nagle delay (up to 40 ms against the peer's
     * delayed ACK), and no cork left over from the HTTP answer (fails harmlessly off TCP) */
    int on = 1, off = 0;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
    if (wslay_event_context_server_init(&c->ctx, &ws_wslay_callbacks, c) != 0) {
        c->registered = 0;
        finish(c);
        return;
    }
    wslay_event_config_set_no_buffering(c->ctx, 1);
    wslay_event_config_set_max_recv_msg_length(c->ctx, c->ws->opt.max_message);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        CM_LOG_WARN("ws_register_failed", "epoll_ctl: %s", strerror(errno));
        c->registered = 0;
        finish(c);
        return;
    }
    c->interest = EPOLLIN;
    c->next = l->conns;
    if (l->conns) {
        l->conns->prev = c;
    }
    l->conns = c;
    c->last_recv_ms = c->last_ping_ms = cm_monotonic_ms();
    if (c->h->on_open) {
        c->h->on_open(c, c->ud);
    }
    if (atomic_load(&c->ws->phase) >= CLOSING) {
        c->shutdown_sent = 1;
        start_close(c, CM_WS_GOING_AWAY, "server shutting down");
    }
    do_read(c); /* bytes that came with the handshake, and whatever followed */
}

/* Applies what other threads asked of the listed connections. */
static void service_pending(struct loop *l, struct cm_ws_conn ***scratch, size_t *scap)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->npending;
    if (n == 0) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    if (n > *scap) {
        *scap = n;
        *scratch = cm_xrealloc(*scratch, n * sizeof(**scratch));
    }
    memcpy(*scratch, l->pending, n * sizeof(**scratch));
    l->npending = 0;
    for (size_t i = 0; i < n; i++) {
        (*scratch)[i]->listed = 0;
    }
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < n; i++) {
        struct cm_ws_conn *c = (*scratch)[i];
        if (!c->registered && !c->finished) {
            if (l->ended) {
                finish(c); /* arrived after the end: just close it */
            } else {
                register_conn(l, c);
            }
        }
        if (!c->finished) {
            pthread_mutex_lock(&l->mu);
            struct ws_msg *msgs = ws_queue_take_all(&c->outbox);
            size_t moved = atomic_exchange(&c->outbox_bytes, 0);
            int close_now = c->close_requested == CLOSE_ASKED;
            if (close_now) {
                c->close_requested = CLOSE_DRAINING;
            }
            pthread_mutex_unlock(&l->mu);
            while (msgs) {
                struct ws_msg *m = msgs;
                msgs = m->next;
                if (!c->draining && !wslay_event_get_close_sent(c->ctx)) {
                    struct wslay_event_msg wm = {WSLAY_TEXT_FRAME, (const uint8_t *)m->data,
                                                 m->len};
                    wslay_event_queue_msg(c->ctx, &wm);
                }
                free(m);
            }
            ws_sync_answers(c); /* counted in wslay's queue before no longer in the outbox */
            atomic_fetch_sub(&c->ws->answers, moved);
            if (close_now) {
                begin_close(c);
            }
            do_write(c);
        }
        cm_ws_conn_unref(c);
    }
}

/* Paused reading, deadlines, shutdown, close timeouts and pings of one connection; returns 1
 * when it has work in progress (references held outside the loop, or bytes to write). */
static int sweep_one(struct cm_ws_conn *c, int64_t now, int full, int phase)
{
    struct loop *l = c->loop;
    const struct cm_ws_options *o = &l->ws->opt;
    if (c->closing) {
        pthread_mutex_lock(&l->mu);
        int others = atomic_load(&c->refs) - c->listed > 2; /* see the end */
        pthread_mutex_unlock(&l->mu);
        if (!others || now - c->closing_ms > CLOSE_DRAIN_MS) {
            end_drain(c);
        }
        return 0;
    }
    if (c->paused && ws_reading_allowed(c)) {
        do_read(c);
    }
    if (c->paused && !c->finished && phase == RUNNING && !ws_backlogged(c)) {
        /* the server chose not to read (the handler cannot take more): the peer's pongs wait
         * unread, so its silence is not the peer's; one that does not take its answers is not
         * excused */
        c->last_recv_ms = now;
    }
    if (!full || c->finished) {
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    int due = c->deadline_ms && now >= c->deadline_ms;
    if (due) {
        c->deadline_ms = 0;
    }
    int listed = c->listed;
    pthread_mutex_unlock(&l->mu);
    if (c->rx && !c->refused && now - c->rx_started_ms > o->stalled_message_ms &&
        ws_crowded(c->ws)) {
        /* a message that takes this long holds memory others wait for (a slow sender's, or one
         * that never ends it): it gives way */
        ws_refuse_busy(c);
        do_write(c);
    } else if (due) {
        pthread_mutex_lock(&l->mu);
        int asked = c->close_requested != 0;
        if (!asked) {
            c->close_requested = CLOSE_DRAINING;
            c->close_code = c->deadline_code;
            memcpy(c->close_reason, c->deadline_reason, sizeof(c->close_reason));
        }
        pthread_mutex_unlock(&l->mu);
        if (!asked) {
            begin_close(c);
        }
    } else if (phase >= CLOSING && !c->shutdown_sent) {
        c->shutdown_sent = 1;
        start_close(c, CM_WS_GOING_AWAY, "server shutting down");
    } else if (c->close_sent_ms && now - c->close_sent_ms > CLOSE_GRACE_MS) {
        finish(c);
    } else if (!c->close_sent_ms && !c->draining &&
               now - c->last_recv_ms > (int64_t)o->ping_interval_ms * 5 / 2) {
        start_close(c, CM_WS_GOING_AWAY, "no answer to pings");
    } else if (!c->close_sent_ms && !c->draining && now - c->last_recv_ms >= o->ping_interval_ms &&
               now - c->last_ping_ms >= o->ping_interval_ms) {
        struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
        wslay_event_queue_msg(c->ctx, &ping);
        c->last_ping_ms = now;
        do_write(c);
    }
    /* references: the loop's, the sweep's own, one per listing; any other is work in flight */
    return !c->finished &&
           (atomic_load(&c->refs) - listed > 2 || (c->ctx && wslay_event_want_write(c->ctx)));
}

static void sweep(struct loop *l, int64_t now, int full)
{
    int phase = atomic_load(&l->ws->phase);
    int busy = 0;
    for (struct cm_ws_conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        cm_ws_conn_ref(c); /* finishing it must not free it under our feet */
        busy += sweep_one(c, now, full, phase);
        cm_ws_conn_unref(c);
    }
    if (full) {
        atomic_store(&l->busy, busy);
        atomic_fetch_add(&l->sweeps, 1);
    }
}

void *ws_loop_main(void *arg)
{
    struct loop *l = arg;
    struct cm_ws_conn **scratch = NULL;
    size_t scap = 0;
    int64_t last_sweep = cm_monotonic_ms();
    struct epoll_event evs[64];
    while (atomic_load(&l->ws->phase) != ENDED) {
        int timeout = l->npaused ? PAUSED_POLL_MS : SWEEP_MS;
        if (atomic_load(&l->ws->phase) != RUNNING) {
            timeout = PAUSED_POLL_MS;
        }
        int n = epoll_wait(l->epfd, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            struct cm_ws_conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t v;
                ssize_t r = read(l->evfd, &v, sizeof(v));
                (void)r;
                continue;
            }
            if (c->finished) {
                continue; /* finished earlier in this batch; freed only after service_pending */
            }
            cm_ws_conn_ref(c); /* an event may finish it; keep it readable until done here */
            if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                /* reset or gone both ways: nothing can be answered any more, and a paused
                 * connection would otherwise be reported again and again */
                finish(c);
            } else if (evs[i].events & EPOLLIN) {
                do_read(c);
            }
            if ((evs[i].events & EPOLLOUT) && !c->finished) {
                do_write(c);
            }
            cm_ws_conn_unref(c);
        }
        service_pending(l, &scratch, &scap);
        int64_t now = cm_monotonic_ms();
        int full = now - last_sweep >= SWEEP_MS || atomic_load(&l->ws->phase) != RUNNING;
        if (full) {
            last_sweep = now;
        }
        if (full || l->npaused) {
            sweep(l, now, full);
        }
    }
    /* ENDED: no more connections; finish those left */
    pthread_mutex_lock(&l->mu);
    l->ended = 1;
    pthread_mutex_unlock(&l->mu);
    service_pending(l, &scratch, &scap);
    while (l->conns) {
        finish(l->conns);
    }
    free(scratch);
    return NULL;
}
