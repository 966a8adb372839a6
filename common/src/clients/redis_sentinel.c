/* redis_sentinel: Redis Sentinel for cm_redis (see redis_internal.h). A URL
 * redis-sentinel://[[user]:password@]s1[:26379][,s2...][/db]#<master name> names sentinels, not
 * the data's server: each is asked in turn where the master of that name is (SENTINEL
 * get-master-addr-by-name), and the node it names is taken once it says it is a master (ROLE), as
 * Redis's guidelines for Sentinel clients ask. The master is asked for again when it fails, when
 * it answers READONLY (demoted by a failover) and once a minute. */
#include "redis_internal.h"

#include "cm/err.h"
#include "cm/log.h"

#include <stdlib.h>
#include <string.h>

long redis_sentinel_answer(struct cm_redis *r, size_t i, const redisReply *rep)
{
    const struct redis_node *s = &r->nodes[i];
    char *end = NULL;
    long port = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[0]->len > 0 &&
        rep->element[1]->type == REDIS_REPLY_STRING && rep->element[1]->len > 0 &&
        rep->element[1]->str[0] >= '0' && rep->element[1]->str[0] <= '9') {
        port = strtol(rep->element[1]->str, &end, 10);
    }
    if (end && !*end && port > 0 && port <= 65535 &&
        !memchr(rep->element[0]->str, '\0', rep->element[0]->len)) {
        return (long)redis_node_at(r, rep->element[0]->str, rep->element[0]->len, (int)port);
    }
    if (rep->type == REDIS_REPLY_NIL) {
        snprintf(r->last_error, sizeof(r->last_error),
                 "sentinel %s:%d does not monitor a master named '%s'", s->host, s->port,
                 r->master_name);
    } else {
        snprintf(r->last_error, sizeof(r->last_error),
                 "sentinel %s:%d: SENTINEL get-master-addr-by-name answered %.100s", s->host,
                 s->port, rep->type == REDIS_REPLY_ERROR ? rep->str : "no address");
    }
    return -1;
}

/* Where sentinel i says the master is: its node, or -1 (last_error says why). Called with the
 * lock held and node i connected. */
static long ask_sentinel(struct cm_redis *r, size_t i)
{
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", r->master_name};
    redisReply *rep = redis_conn_command(r->nodes[i].conn, 3, argv, NULL);
    if (!rep) {
        redis_ctx_error(r, i, "no reply");
        redis_failed(r, i);
        return -1;
    }
    long node = redis_sentinel_answer(r, i, rep);
    freeReplyObject(rep);
    return node;
}

const char *redis_role(const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        return rep->element[0]->str;
    }
    return rep->type == REDIS_REPLY_ERROR ? rep->str : "no role";
}

/* 1 when node m says it is a master (ROLE); else 0 (last_error says what it is). Called with
 * the lock held and node m connected. */
static int is_master(struct cm_redis *r, size_t m, size_t sentinel)
{
    static const char *const argv[] = {"ROLE"};
    redisReply *rep = redis_conn_command(r->nodes[m].conn, 1, argv, NULL);
    if (!rep) {
        redis_ctx_error(r, m, "no reply to ROLE");
        redis_failed(r, m);
        return 0;
    }
    const char *role = redis_role(rep);
    int master = rep->type == REDIS_REPLY_ARRAY && strcmp(role, "master") == 0;
    if (!master) {
        snprintf(r->last_error, sizeof(r->last_error),
                 "%s:%d, which sentinel %s:%d names the master of '%s', answers ROLE with %.60s "
                 "(a failover under way?)",
                 r->nodes[m].host, r->nodes[m].port, r->nodes[sentinel].host,
                 r->nodes[sentinel].port, r->master_name, role);
    }
    freeReplyObject(rep);
    return master;
}

int redis_sentinel_locate(struct cm_redis *r)
{
    for (size_t i = 0; i < r->nseeds; i++) {
        if (redis_ensure(r, i) != 0) {
            continue;
        }
        long m = ask_sentinel(r, i);
        if (m < 0 || (size_t)m < r->nseeds) { /* (a sentinel is no master) */
            continue;
        }
        if (redis_ensure(r, (size_t)m) != 0) {
            char why[sizeof(r->last_error)];
            snprintf(why, sizeof(why), "%s", r->last_error);
            snprintf(r->last_error, sizeof(r->last_error),
                     "sentinel %s:%d names %s:%d the master of '%s', not reached: %.120s",
                     r->nodes[i].host, r->nodes[i].port, r->nodes[m].host, r->nodes[m].port,
                     r->master_name, why);
            continue;
        }
        if (!is_master(r, (size_t)m, i)) {
            continue;
        }
        if (!r->located || r->primary != (size_t)m) {
            CM_LOG_INFO("redis_sentinel_master", "sentinel %s:%d names %s:%d the master of '%s'",
                        r->nodes[i].host, r->nodes[i].port, r->nodes[m].host, r->nodes[m].port,
                        r->master_name);
        }
        r->primary = (size_t)m;
        r->located = 1;
        return 0;
    }
    CM_LOG_WARN("redis_sentinel_unavailable", "no master of '%s' found: %s", r->master_name,
                r->last_error);
    return CM_E_UNAVAIL;
}
