/* stream_send: the sender thread of the stream runtime. Handing a record to librdkafka (its
 * headers copied, the message allocated, the partition chosen and locked, the broker thread
 * woken) cost the stream's thread about a quarter of its time in a pipeline writing one result
 * per few events; the stream's thread now queues each emitted record here and goes on, and this
 * thread hands them to the producer in the order they were emitted (one queue, one thread, so a
 * partition's records keep their order). Delivery reports, retries and commit points are
 * unchanged: a queued record counts as in flight until its report. The queue is bounded: the
 * stream's thread waits while it holds SEND_MAX records. */
#include "stream_internal.h"

#include "cm/lifecycle.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <stdlib.h>
#include <time.h>

#define SEND_MAX 65536 /* records queued before the stream's thread waits */
#define SEND_KICK 256  /* queued records that wake an idle sender before the batch ends */
/* An idle sender looks at its queue this often even when not woken: whoever waits for the
 * acknowledgement of a queued record (a commit job, a drain) wakes it first, and this bounds the
 * wait should a path that emits and then waits ever not do so. */
#define SEND_IDLE_WAKE_MS 10

static void *sender_main(void *arg)
{
    struct cm_stream *s = arg;
    struct output **batch = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->send_lock);
    for (;;) {
        if (s->nsend == 0) {
            if (s->send_exit) {
                break;
            }
            s->send_idle = 1;
            pthread_cond_broadcast(&s->send_changed); /* drained: for stream_send_drain */
            struct timespec until;
            cm_deadline_after(SEND_IDLE_WAKE_MS, &until);
            pthread_cond_timedwait(&s->send_changed, &s->send_lock, &until);
            s->send_idle = 0;
            continue;
        }
        /* take the whole queue; the stream's thread fills the other array meanwhile */
        struct output **q = s->sendq;
        size_t n = s->nsend, qcap = s->capsend;
        s->sendq = batch;
        s->capsend = cap;
        s->nsend = 0;
        batch = q;
        cap = qcap;
        if (n >= SEND_MAX) {
            pthread_cond_broadcast(&s->send_changed); /* room again */
        }
        s->send_busy = 1;
        pthread_mutex_unlock(&s->send_lock);
        for (size_t i = 0; i < n; i++) {
            stream_produce(s, batch[i]);
        }
        pthread_mutex_lock(&s->send_lock);
        s->send_busy = 0;
    }
    s->send_idle = 1;
    pthread_cond_broadcast(&s->send_changed);
    pthread_mutex_unlock(&s->send_lock);
    free(batch);
    return NULL;
}

int stream_sender_start(struct cm_stream *s)
{
    pthread_mutex_init(&s->send_lock, NULL);
    pthread_cond_init(&s->send_changed, NULL);
    s->send_inited = 1;
    if (pthread_create(&s->sender, NULL, sender_main, s) != 0) {
        return -1;
    }
    s->sender_running = 1;
    return 0;
}

void stream_sender_stop(struct cm_stream *s)
{
    if (s->sender_running) {
        pthread_mutex_lock(&s->send_lock);
        s->send_exit = 1;
        pthread_cond_broadcast(&s->send_changed);
        pthread_mutex_unlock(&s->send_lock);
        pthread_join(s->sender, NULL); /* after producing what was queued */
        s->sender_running = 0;
    }
    if (s->send_inited) {
        free(s->sendq);
        s->sendq = NULL;
        pthread_cond_destroy(&s->send_changed);
        pthread_mutex_destroy(&s->send_lock);
        s->send_inited = 0;
    }
}

void stream_send(struct cm_stream *s, struct output *o)
{
    atomic_store(&o->state, OUT_INFLIGHT);
    if (!s->sender_running) {
        stream_produce(s, o);
        return;
    }
    pthread_mutex_lock(&s->send_lock);
    while (s->nsend >= SEND_MAX) {
        if (s->send_idle) {
            pthread_cond_broadcast(&s->send_changed);
        }
        pthread_cond_wait(&s->send_changed, &s->send_lock);
    }
    if (s->nsend == s->capsend) {
        s->capsend = s->capsend ? s->capsend * 2 : 1024;
        s->sendq = cm_xrealloc(s->sendq, s->capsend * sizeof(*s->sendq));
    }
    s->sendq[s->nsend++] = o;
    /* an idle sender is woken by the batch's end (stream_send_kick), or once enough wait: a
     * wake-up per record would cost the stream's thread a system call each */
    if (s->send_idle && s->nsend >= SEND_KICK) {
        pthread_cond_broadcast(&s->send_changed);
    }
    pthread_mutex_unlock(&s->send_lock);
}

void stream_send_kick(struct cm_stream *s)
{
    if (!s->sender_running) {
        return;
    }
    pthread_mutex_lock(&s->send_lock);
    if (s->send_idle && s->nsend > 0) {
        pthread_cond_broadcast(&s->send_changed);
    }
    pthread_mutex_unlock(&s->send_lock);
}

void stream_send_drain(struct cm_stream *s)
{
    if (!s->sender_running) {
        return;
    }
    pthread_mutex_lock(&s->send_lock);
    while (s->nsend > 0 || s->send_busy) {
        if (s->send_idle) {
            pthread_cond_broadcast(&s->send_changed);
        }
        pthread_cond_wait(&s->send_changed, &s->send_lock);
    }
    pthread_mutex_unlock(&s->send_lock);
}
