/* gw_idem: the Redis protocol of idempotent ingest (see gw_idem.h). A key holds "P|<hash>" while
 * its event is in flight and "D|<hash>|<id>" once accepted, each with the window as expiry. Keys
 * are "{idem}:<key>" so they share a Redis Cluster slot family. */
#include "gw_idem.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_idem {
    struct cm_redis *redis;
    char window[24];
};

struct gw_idem *gw_idem_new(struct cm_redis *redis, int64_t window_ms)
{
    struct gw_idem *g = cm_xcalloc(1, sizeof(*g));
    g->redis = redis;
    snprintf(g->window, sizeof(g->window), "%lld", (long long)(window_ms > 0 ? window_ms : 1));
    return g;
}

void gw_idem_free(struct gw_idem *g)
{
    free(g);
}

enum gw_idem_state gw_idem_begin(struct gw_idem *g, const char *key, const char *hash,
                                 char *prev_id, size_t len)
{
    char *rkey = cm_xasprintf("{idem}:%s", key);
    char *value = cm_xasprintf("P|%s", hash);
    const char *set[] = {"SET", rkey, value, "NX", "PX", g->window};
    struct cm_redis_reply *rep = NULL;
    enum gw_idem_state state = GW_IDEM_UNAVAILABLE;
    if (cm_redis_command(g->redis, 6, set, NULL, &rep) == 0) {
        if (cm_redis_reply_type(rep) == CM_REDIS_STATUS) {
            state = GW_IDEM_NEW;
        } else if (cm_redis_reply_type(rep) == CM_REDIS_NIL) {
            cm_redis_reply_free(rep);
            rep = NULL;
            const char *get[] = {"GET", rkey};
            if (cm_redis_command(g->redis, 2, get, NULL, &rep) == 0) {
                const char *v = cm_redis_reply_str(rep, NULL);
                size_t hl = strlen(hash);
                if (!v) {
                    state = GW_IDEM_IN_FLIGHT; /* expired between the two calls: be safe */
                } else if (strlen(v) < 2 + hl || strncmp(v + 2, hash, hl) != 0) {
                    state = GW_IDEM_CONFLICT;
                } else if (v[0] == 'D' && v[2 + hl] == '|') {
                    snprintf(prev_id, len, "%s", v + 3 + hl);
                    state = GW_IDEM_DONE;
                } else {
                    state = GW_IDEM_IN_FLIGHT;
                }
            }
        }
    }
    if (state == GW_IDEM_UNAVAILABLE) {
        CM_LOG_WARN("idempotency_unavailable", "Redis did not answer; %s goes through unguarded",
                    key);
    }
    cm_redis_reply_free(rep);
    free(value);
    free(rkey);
    return state;
}

void gw_idem_finish(struct gw_idem *g, const char *key, const char *hash, const char *id,
                    int accepted)
{
    char *rkey = cm_xasprintf("{idem}:%s", key);
    struct cm_redis_reply *rep = NULL;
    if (accepted) {
        char *value = cm_xasprintf("D|%s|%s", hash, id);
        const char *set[] = {"SET", rkey, value, "PX", g->window};
        cm_redis_command(g->redis, 5, set, NULL, &rep);
        free(value);
    } else {
        const char *del[] = {"DEL", rkey};
        cm_redis_command(g->redis, 2, del, NULL, &rep);
    }
    cm_redis_reply_free(rep);
    free(rkey);
}
