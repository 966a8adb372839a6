/* proc_rtable: Redis hash tables of join steps, with a TTL cache (see proc_rtable.h). */
#include "proc_rtable.h"

#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CACHED 100000

struct proc_rtables {
    struct cm_redis *redis;
    int64_t ttl_ms;
    json_t *cache; /* "<hash>\n<key>" -> [fetched_ms, row or null] */
};

struct proc_rtables *proc_rtables_new(struct cm_redis *redis, int64_t ttl_ms)
{
    struct proc_rtables *t = cm_xcalloc(1, sizeof(*t));
    t->redis = redis;
    t->ttl_ms = ttl_ms;
    t->cache = json_object();
    return t;
}

void proc_rtables_free(struct proc_rtables *t)
{
    if (!t) {
        return;
    }
    json_decref(t->cache);
    free(t);
}

/* HGET hash key: 1 with *row (NULL: no such field), 0 when Redis cannot answer. */
static int fetch(struct proc_rtables *t, const char *hash, const char *key, json_t **row)
{
    const char *argv[] = {"HGET", hash, key};
    struct cm_redis_reply *rep = NULL;
    if (cm_redis_command(t->redis, 3, argv, NULL, &rep) != 0) {
        return 0;
    }
    int ok = 1;
    *row = NULL;
    if (cm_redis_reply_type(rep) == CM_REDIS_STRING) {
        size_t len;
        const char *s = cm_redis_reply_str(rep, &len);
        *row = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        if (!*row) {
            *row = json_stringn(s, len); /* NULL too when it is not UTF-8: no row */
        }
    } else if (cm_redis_reply_type(rep) != CM_REDIS_NIL) {
        ok = 0; /* an error reply (a key of another type, say): wait as for an outage */
    }
    cm_redis_reply_free(rep);
    return ok;
}

json_t *proc_rtables_get(struct proc_rtables *t, const char *hash, const char *key)
{
    if (!t || !t->redis) {
        return NULL;
    }
    char *ck = cm_xasprintf("%s\n%s", hash, key);
    int64_t now = cm_monotonic_ms();
    json_t *hit = t->ttl_ms > 0 ? json_object_get(t->cache, ck) : NULL;
    if (hit && now - json_integer_value(json_array_get(hit, 0)) < t->ttl_ms) {
        json_t *row = json_array_get(hit, 1);
        free(ck);
        return json_is_null(row) ? NULL : json_deep_copy(row);
    }
    json_t *row = NULL;
    int64_t backoff = 100, logged = 0;
    while (!fetch(t, hash, key, &row)) {
        if (cm_lifecycle_stopping()) {
            free(ck);
            return NULL;
        }
        if (cm_monotonic_ms() - logged >= 10000) {
            CM_LOG_WARN("redis_table_unavailable",
                        "cannot read the join table in Redis hash %s; waiting (the stream "
                        "stalls until Redis answers)",
                        hash);
            logged = cm_monotonic_ms();
        }
        cm_sleep_ms((int)backoff);
        backoff = backoff < 1000 ? backoff * 2 : 1000;
    }
    if (t->ttl_ms > 0) {
        if (json_object_size(t->cache) >= MAX_CACHED) {
            json_object_clear(t->cache);
        }
        json_object_set_new(t->cache, ck,
                            json_pack("[I, O]", (json_int_t)now, row ? row : json_null()));
    }
    free(ck);
    return row;
}
