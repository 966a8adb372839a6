/* stream_serve: what the main of every daemon that only consumes (rules, store, output) does
 * alike with its stream: create it, put its checks on /readyz, start the HTTP server, consume
 * until asked to stop, then stop in order (unready first, under the shutdown watchdog, while the
 * stream's last commit point runs, it leaves its group and its producer flushes). */
#include "cm/config.h"
#include "cm/service.h"
#include "cm/stream.h"

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
