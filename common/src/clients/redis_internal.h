/* redis_internal: what redis.c (commands, pipelines, reconnects), redis_conn.c (one connection,
 * TCP or TLS), redis_url.c (the URL),
 * redis_cluster.c (Redis Cluster: key slots, the slot map, redirections) and redis_sentinel.c
 * (Redis Sentinel: where the master is) share. */
#ifndef CM_REDIS_INTERNAL_H
#define CM_REDIS_INTERNAL_H

#include "cm/redis.h"

#include <hiredis.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>

#define REDIS_SLOTS 16384

/* One server: the URL's, or a cluster node the slot map or a redirection named. */
struct redis_node {
    char *host;
    int port;
    struct redis_conn *conn;
    int64_t next_attempt_ms;
    int backoff_ms;
    int fresh;    /* connected, no command yet (the URL's server: the slot map is asked first) */
    int sentinel; /* a Redis Sentinel of the URL: asked where the master is, never SELECTed */
};

/* TLS as the URL asks for it (rediss://, rediss-sentinel://, and the query's ssl_* keys, named
 * as redis-py names them). */
struct redis_tls {
    int on;
    int verify; /* the server's certificate is checked (CA and name): ssl_cert_reqs=required */
    char *ca_file, *cert_file, *key_file; /* NULL: the system's CAs; no client certificate */
};

struct cm_redis {
    char *user;
    char *password;
    int db;
    struct redis_node *nodes; /* [0, nseeds): the URL's servers (with Sentinel: sentinels) */
    size_t nnodes, nseeds;
    char *master_name; /* redis-sentinel://...#<name>: the master Sentinel is asked for */
    /* ?sentinel_user=&sentinel_password=: the sentinels' own credentials (NULL: the data's) */
    char *sentinel_user, *sentinel_password;
    size_t primary;  /* the node of a server without cluster mode: 0, or Sentinel's master */
    int located;     /* Sentinel named a master that says it is one */
    uint16_t *slots; /* NULL: a server without cluster mode; else each slot's node */
    int stale;       /* a node failed: the map may be out of date (a failover) */
    int64_t next_refresh_ms; /* a stale map is asked for again no sooner than this */
    int64_t map_expires_ms;  /* the map is asked for again from then on, stale or not */
    int map_age_ms;          /* how long a map is taken as it is (cm_redis_set_map_age) */
    struct redis_tls tls;
    SSL_CTX *ssl_ctx; /* with tls.on */
    char last_error[256];
    pthread_mutex_t lock;
};

/* redis_conn.c: one connection, over TCP or TLS (hiredis formats the commands and reads the
 * replies). open: NULL with err set (connect or handshake failed, within timeout_ms; tls NULL:
 * plain TCP). Every later read and write waits at most timeout_ms. */
struct redis_conn;
struct redis_conn *redis_conn_open(const char *host, int port, int timeout_ms, SSL_CTX *tls,
                                   char *err, size_t errlen);
void redis_conn_free(struct redis_conn *c);
/* Appends a command to what is to be written (0, or -1 when broken). */
int redis_conn_append(struct redis_conn *c, int argc, const char *const *argv, const size_t *lens);
/* Writes what was appended: 0, or -1 (the connection is broken). */
int redis_conn_flush(struct redis_conn *c);
/* Writes what was appended, then reads the next reply: the reply, or NULL (broken). */
redisReply *redis_conn_read(struct redis_conn *c);
/* append + read. */
redisReply *redis_conn_command(struct redis_conn *c, int argc, const char *const *argv,
                               const size_t *lens);
/* 1 once an I/O or protocol error made the connection useless; then its error says which, and
 * timed_out whether it was a reply not coming in time. */
int redis_conn_broken(const struct redis_conn *c);
int redis_conn_timed_out(const struct redis_conn *c);
const char *redis_conn_error(const struct redis_conn *c);
/* The TLS settings of the URL as an OpenSSL context: NULL with err naming the URL's key and the
 * file that could not be used. */
SSL_CTX *redis_tls_new(const struct redis_tls *t, char *err, size_t errlen);

/* Parses the URL into r (its nodes, credentials, database and Sentinel's master name): 0, or
 * CM_E_INVAL. */
int redis_parse_url(struct cm_redis *r, const char *url);
/* Connects node i when disconnected and its backoff allows (AUTH and SELECT as the URL says):
 * 0, or CM_E_UNAVAIL. Called with the lock held. */
int redis_ensure(struct cm_redis *r, size_t i);
/* A connection or a command of node i failed: dropped, its backoff started, and a cluster's map
 * or Sentinel's master to be asked for again. Called with the lock held. */
void redis_failed(struct cm_redis *r, size_t i);
/* Node i's connection error into last_error (fallback when hiredis has none). */
void redis_ctx_error(struct cm_redis *r, size_t i, const char *fallback);
/* Redis Sentinel: asks the sentinels in turn where the master named is; the first answer whose
 * node says it is a master (ROLE) becomes r->primary. 0, or CM_E_UNAVAIL (last_error says why).
 * Called with the lock held. */
int redis_sentinel_locate(struct cm_redis *r);
/* Sentinel i's answer to SENTINEL get-master-addr-by-name: the node it names ([host, port], the
 * port as text; added when new), else -1 with last_error saying why (nil: no master of that name).
 * Called with the lock held. */
long redis_sentinel_answer(struct cm_redis *r, size_t i, const redisReply *rep);
/* The role a ROLE reply names ("master", "slave", "sentinel"), or what it is instead. */
const char *redis_role(const redisReply *rep);

/* The key argument of a command (NULL for one without a key: PING, MULTI, EXEC, SCRIPT, SCAN,
 * EVAL with no keys, ...), with its length in *len. */
const char *redis_command_key(int argc, const char *const *argv, const size_t *lens, size_t *len);
/* The node index of a new or known node host:port. Called with the lock held. */
size_t redis_node_at(struct cm_redis *r, const char *host, size_t hostlen, int port);
/* The node that serves key (the primary without cluster mode; node 0 when the key's slot is
 * unknown). */
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
/* The distinct nodes that serve slots (the primary alone without cluster mode) into out (r->nnodes
 * entries); their count. */
size_t redis_masters(const struct cm_redis *r, size_t *out);

#endif
