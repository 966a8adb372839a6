/* pg_follow: a thread following one PostgreSQL notification channel (see cm/pg.h). It listens on
 * a connection of its own and hands each payload to a callback; after a lost connection, or a
 * payload the callback could not act on, it listens again and calls it with NULL: what was
 * announced meanwhile is gone. */
#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define PAYLOAD_MAX 8192 /* PostgreSQL's payloads are under 8,000 bytes */
#define RETRY_MS 200

struct cm_pg_follower {
    struct cm_pg *pg;
    char *channel;
    int resync_ms;
    cm_pg_notify_fn fn;
    void *ud;
    atomic_int stop;
    pthread_t thread;
    struct cm_series *m_taken, *m_listening; /* NULL without metrics */
};

static void set_listening(struct cm_pg_follower *f, int *listening, int now)
{
    if (f->m_listening && *listening != now) {
        cm_gauge_add(f->m_listening, now ? 1 : -1);
    }
    *listening = now;
}

/* LISTEN, then the callback told that anything may have changed: 0 when both worked. */
static int listen_anew(struct cm_pg_follower *f, int *warned)
{
    if (cm_pg_listen(f->pg, f->channel) != 0) {
        if (!*warned) {
            CM_LOG_WARN("pg_follow_failed", "cannot listen on channel %s; trying again",
                        f->channel);
            *warned = 1;
        }
        return -1;
    }
    if (f->fn(f->pg, NULL, f->ud) != 0) {
        return -1; /* the callback says why */
    }
    if (*warned) {
        CM_LOG_INFO("pg_follow_listening", "listening on channel %s again", f->channel);
        *warned = 0;
    }
    return 0;
}

static void *follow_main(void *arg)
{
    struct cm_pg_follower *f = arg;
    int listening = 0, warned = 0;
    int64_t last_all = 0;
    char *payload = cm_xmalloc(PAYLOAD_MAX);
    while (!atomic_load(&f->stop)) {
        if (!listening) {
            if (listen_anew(f, &warned) != 0) {
                cm_sleep_ms(RETRY_MS);
                continue;
            }
            set_listening(f, &listening, 1);
            last_all = cm_monotonic_ms();
        }
        int r = cm_pg_notification(f->pg, 200, payload, PAYLOAD_MAX);
        if (r == 1) {
            if (f->m_taken) {
                cm_counter_inc(f->m_taken);
            }
            set_listening(f, &listening, f->fn(f->pg, payload, f->ud) == 0);
        } else if (r < 0) {
            set_listening(f, &listening, 0);
        } else if (f->resync_ms > 0 && cm_monotonic_ms() - last_all >= f->resync_ms) {
            set_listening(f, &listening, f->fn(f->pg, NULL, f->ud) == 0);
            last_all = cm_monotonic_ms();
        }
    }
    set_listening(f, &listening, 0);
    free(payload);
    return NULL;
}

struct cm_pg_follower *cm_pg_follow(const char *url, const char *channel, int resync_ms,
                                    struct cm_metrics *metrics, cm_pg_notify_fn fn, void *ud)
{
    struct cm_pg_follower *f = cm_xcalloc(1, sizeof(*f));
    if (metrics) {
        f->m_taken = cm_metric_with(
            cm_metrics_counter(metrics, "announcements_total",
                               "notifications taken from PostgreSQL (LISTEN), by channel",
                               "channel"),
            channel, NULL);
        f->m_listening = cm_metric_with(
            cm_metrics_gauge(metrics, "announcements_listening",
                             "followers of the channel listening now (0: changes show only "
                             "at the next re-read)",
                             "channel"),
            channel, NULL);
    }
    f->pg = cm_pg_new(url);
    f->channel = cm_xstrdup(channel);
    f->resync_ms = resync_ms;
    f->fn = fn;
    f->ud = ud;
    pthread_create(&f->thread, NULL, follow_main, f);
    return f;
}

void cm_pg_follower_free(struct cm_pg_follower *f)
{
    if (!f) {
        return;
    }
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    cm_pg_free(f->pg);
    free(f->channel);
    free(f);
}
