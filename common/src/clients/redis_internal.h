/* redis_internal: what redis.c (connections, commands, pipelines) and redis_cluster.c (Redis
 * Cluster: key slots, the slot map, redirections) share. */
#ifndef CM_REDIS_INTERNAL_H
#define CM_REDIS_INTERNAL_H

#include "cm/redis.h"

#include <hiredis.h>
#include <pthread.h>
#include <stdint.h>

#define REDIS_SLOTS 16384

/* One server: the URL's, or a cluster node the slot map or a redirection named. */
struct redis_node {
    char *host;
    int port;
    redisContext *ctx;
    int64_t next_attempt_ms;
    int backoff_ms;
    int fresh; /* connected, no command yet (the URL's server: the slot map is asked first) */
};

struct cm_redis {
    char *user;
    char *password;
    int db;
    struct redis_node *nodes; /* [0, nseeds): the URL's servers */
    size_t nnodes, nseeds;
    uint16_t *slots;         /* NULL: a server without cluster mode; else each slot's node */
    int stale;               /* a node failed: the map may be out of date (a failover) */
    int64_t next_refresh_ms; /* a stale map is asked for again no sooner than this */
    char last_error[256];
    pthread_mutex_t lock;
};

/* The key argument of a command (NULL for one without a key: PING, MULTI, EXEC, SCRIPT, SCAN,
 * EVAL with no keys, ...), with its length in *len. */
const char *redis_command_key(int argc, const char *const *argv, const size_t *lens, size_t *len);
/* The node index of a new or known node host:port. Called with the lock held. */
size_t redis_node_at(struct cm_redis *r, const char *host, size_t hostlen, int port);
/* The node that serves key (node 0 without cluster mode, or when the key's slot is unknown). */
size_t redis_route(const struct cm_redis *r, const char *key, size_t len);
/* Learns the slot map from node i (CLUSTER SLOTS): 1 when it is in cluster mode (the map is
 * taken), 0 when it is not (a plain server: nothing changes), -1 when it did not answer. Called
 * with the lock held and node i connected. */
int redis_discover(struct cm_redis *r, size_t i);
/* The slot map in a CLUSTER SLOTS reply of node i (ranges that are not well-formed are left out;
 * an empty or "?" host is node i's): 1, or 0 when the reply is not a map (a plain server). The
 * replicas it names become known nodes too (serving no slot), to be asked for the map when the
 * masters are gone. */
int redis_take_slots(struct cm_redis *r, size_t i, const redisReply *rep);
/* A reply of node `from` that redirects its command ("MOVED <slot> <host>:<port>", or "ASK ..."
 * with *ask set; an empty host is from's): the node it names (added when new, the slot map
 * updated for MOVED), else -1. Called with the lock held. */
long redis_redirected(struct cm_redis *r, size_t from, const redisReply *rep, int *ask);
/* The distinct nodes that serve slots (node 0 alone without cluster mode) into out (r->nnodes
 * entries); their count. */
size_t redis_masters(const struct cm_redis *r, size_t *out);

#endif
