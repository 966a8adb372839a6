/* stream_serve: a stream on a daemon's /readyz (its Kafka check and its detail), and what the
 * main of every daemon that only consumes (rules, store, output) does alike with its stream:
 * create it, put its checks on /readyz, start the HTTP server, consume until asked to stop, then
 * stop in order (unready first, under the shutdown watchdog, while the stream's last commit
 * point runs, it leaves its group and its producer flushes). */
#include "cm/config.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/service.h"
#include "cm/stream.h"
#include "cm/timeutil.h"
#include "stream_internal.h"

int cm_stream_serve(struct cm_service *svc, const struct cm_stream_config *cfg,
                    const struct cm_stream_handler *handler)
{
    struct cm_stream_config c = *cfg;
    if (!c.metrics) {
        c.metrics = svc->metrics;
    }
    struct cm_stream *stream = cm_stream_new(&c, handler);
    if (!stream) { /* logged */
        return CM_CONFIG_EXIT_BAD;
    }
    cm_stream_add_checks(stream, svc->http);
    int status = 1;
    if (cm_service_start(svc) == 0) {
        cm_stream_run(stream);
        status = 0;
    }
    cm_service_begin_shutdown(svc);
    /* the HTTP server's checks read the stream: no request may reach them once it is freed */
    cm_http_stop(svc->http, 3000);
    cm_stream_free(stream);
    return status;
}

static int check_kafka(void *stream, char *why, size_t len)
{
    struct cm_stream *s = stream;
    return s->producer ? cm_kafka_producer_check(s->producer, why, len)
                       : cm_kafka_consumer_check(s->consumer, why, len);
}

json_t *cm_stream_detail(struct cm_stream *s)
{
    json_t *d = json_object();
    json_object_set_new(d, "records_lost", json_integer((json_int_t)cm_stream_records_lost(s)));
    json_object_set_new(d, "lag", json_integer((json_int_t)atomic_load(&s->lag_total)));
    json_object_set_new(d, "log_rewinds", json_integer((json_int_t)atomic_load(&s->rewinds)));
    if (s->h.persist) { /* state made durable: whether it is now, and the failures so far */
        int64_t since = atomic_load(&s->persist_failing_since);
        json_object_set_new(d, "state_durable", json_boolean(since == 0));
        if (since) {
            char at[CM_RFC3339_LEN];
            json_object_set_new(d, "state_not_durable_since",
                                json_string(cm_time_format_rfc3339(since, at)));
        }
        json_object_set_new(d, "state_persist_failures",
                            json_integer((json_int_t)atomic_load(&s->persist_failures)));
    }
    int64_t failing = atomic_load(&s->batch_failing_since);
    json_object_set_new(d, "batches_flowing", json_boolean(failing == 0));
    if (failing) { /* a batch handed again and again: the handler's log says why */
        char at[CM_RFC3339_LEN];
        json_object_set_new(d, "batch_failing_since",
                            json_string(cm_time_format_rfc3339(failing, at)));
        json_object_set_new(d, "batch_error",
                            json_string(cm_strerror(atomic_load(&s->batch_error))));
    }
    pthread_mutex_lock(&s->loss_lock);
    if (s->last_loss[0]) {
        json_object_set_new(d, "last_loss", json_string(s->last_loss));
    }
    if (s->last_rewind[0]) {
        json_object_set_new(d, "last_rewind", json_string(s->last_rewind));
    }
    pthread_mutex_unlock(&s->loss_lock);
    return d;
}

static json_t *detail(void *stream)
{
    return cm_stream_detail(stream);
}

void cm_stream_add_checks(struct cm_stream *s, struct cm_http_server *srv)
{
    cm_http_add_check(srv, "kafka", check_kafka, s);
    cm_http_add_detail(srv, "stream", detail, s);
}
