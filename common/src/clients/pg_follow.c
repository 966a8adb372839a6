/* pg_follow: a thread following one PostgreSQL notification channel (see cm/pg.h). It listens on
 * a connection of its own, hands each payload to a callback, and after a lost connection listens
 * again and says so with a NULL payload: what was announced meanwhile is gone. */
#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define PAYLOAD_MAX 8192 /* PostgreSQL's payloads are under 8,000 bytes */
#define RETRY_MS 1000

struct cm_pg_follower {
    struct cm_pg *pg;
    char *channel;
    cm_pg_notify_fn fn;
    void *ud;
    atomic_int stop;
    pthread_t thread;
};

static void *follow_main(void *arg)
{
    struct cm_pg_follower *f = arg;
    int listening = 0, warned = 0;
    char *payload = cm_xmalloc(PAYLOAD_MAX);
    while (!atomic_load(&f->stop)) {
        if (!listening) {
            if (cm_pg_listen(f->pg, f->channel) != 0) {
                if (!warned) {
                    CM_LOG_WARN("pg_follow_failed",
                                "cannot listen on channel %s; trying again every second",
                                f->channel);
                    warned = 1;
                }
                for (int i = 0; i < RETRY_MS / 100 && !atomic_load(&f->stop); i++) {
                    cm_sleep_ms(100);
                }
                continue;
            }
            if (warned) {
                CM_LOG_INFO("pg_follow_listening", "listening on channel %s again", f->channel);
            }
            listening = 1;
            warned = 0;
            f->fn(NULL, f->ud);
        }
        int r = cm_pg_notification(f->pg, 200, payload, PAYLOAD_MAX);
        if (r == 1) {
            f->fn(payload, f->ud);
        } else if (r < 0) {
            listening = 0;
        }
    }
    free(payload);
    return NULL;
}

struct cm_pg_follower *cm_pg_follow(const char *url, const char *channel, cm_pg_notify_fn fn,
                                    void *ud)
{
    struct cm_pg_follower *f = cm_xcalloc(1, sizeof(*f));
    f->pg = cm_pg_new(url);
    f->channel = cm_xstrdup(channel);
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
