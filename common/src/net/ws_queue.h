/* ws_queue: what ws.c and ws_client.c both keep: the FIFO of whole WebSocket messages (outgoing
 * and held ones on the server, received ones in the client), each message one allocation with its
 * bytes and a NUL; and the bytes read past the HTTP handshake, handed to wslay before the socket.
 * Internal to common/src; not thread-safe (callers lock). */
#ifndef CM_WS_QUEUE_H
#define CM_WS_QUEUE_H

#include "cm/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ws_msg {
    struct ws_msg *next;
    size_t len;
    size_t size; /* bytes allocated for data (at least len + 1) */
    char data[]; /* len bytes and a NUL */
};

struct ws_queue {
    struct ws_msg *head, *tail;
};

/* A message holding a copy of len bytes (data may be NULL when len is 0). */
static inline struct ws_msg *ws_msg_new(const void *data, size_t len)
{
    struct ws_msg *m = cm_xmalloc(sizeof(*m) + len + 1);
    m->next = NULL;
    m->len = len;
    m->size = len + 1;
    if (len) {
        memcpy(m->data, data, len);
    }
    m->data[len] = '\0';
    return m;
}

static inline void ws_queue_push(struct ws_queue *q, struct ws_msg *m)
{
    if (q->tail) {
        q->tail->next = m;
    } else {
        q->head = m;
    }
    q->tail = m;
}

/* The first message (the caller frees it), or NULL. */
static inline struct ws_msg *ws_queue_pop(struct ws_queue *q)
{
    struct ws_msg *m = q->head;
    if (m) {
        q->head = m->next;
        if (!q->head) {
            q->tail = NULL;
        }
    }
    return m;
}

/* Takes every message out at once (a list through ->next). */
static inline struct ws_msg *ws_queue_take_all(struct ws_queue *q)
{
    struct ws_msg *all = q->head;
    q->head = q->tail = NULL;
    return all;
}

static inline void ws_queue_clear(struct ws_queue *q)
{
    struct ws_msg *m;
    while ((m = ws_queue_pop(q))) {
        free(m);
    }
}

/* Bytes already read from the socket with the handshake (owned). */
struct ws_early {
    char *data;
    size_t len, off;
};

static inline void ws_early_set(struct ws_early *e, const char *data, size_t len)
{
    e->data = len ? cm_xmalloc(len) : NULL;
    if (len) {
        memcpy(e->data, data, len);
    }
    e->len = len;
    e->off = 0;
}

/* Copies up to len of the remaining early bytes into buf; returns how many (0: none left). */
static inline size_t ws_early_take(struct ws_early *e, uint8_t *buf, size_t len)
{
    size_t n = e->len - e->off;
    n = n < len ? n : len;
    if (n) {
        memcpy(buf, e->data + e->off, n);
        e->off += n;
    }
    return n;
}

#endif
