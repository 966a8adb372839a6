/* redis: Redis over TCP or TLS (hiredis's protocol code, OpenSSL), with reconnect and exponential
 * backoff. A Redis Cluster is found
 * by itself (CLUSTER SLOTS of the URL's node): each command goes to the node serving its key's
 * slot, and MOVED and ASK redirections are followed, so the URL names any one node.
 * A cm_redis is safe to share between threads (commands are serialized by a mutex); use one per
 * thread where throughput matters. URL: redis://[[user]:password@]host[:port][/db], rediss:// for
 * TLS, redis-sentinel:// and rediss-sentinel:// for Sentinel (redis_url.c says the whole form).
 * Replies are owned by the caller (cm_redis_reply_free) and borrowed elements live as long as the
 * top reply. */
#ifndef CM_REDIS_H
#define CM_REDIS_H

#include <stddef.h>
#include <stdint.h>

struct cm_redis;
struct cm_redis_reply;

enum cm_redis_type {
    CM_REDIS_STRING,
    CM_REDIS_ARRAY,
    CM_REDIS_INTEGER,
    CM_REDIS_NIL,
    CM_REDIS_STATUS,
    CM_REDIS_ERROR
};

/* Parses the URL and tries to connect; a failed first connect is retried on use. Returns NULL
 * (logged) only for an invalid URL or TLS files that cannot be used. Caller frees with
 * cm_redis_free. */
struct cm_redis *cm_redis_new(const char *url);
void cm_redis_free(struct cm_redis *r);
/* A Redis Cluster's slot map is asked for again once it is ms old (60,000 by default, as
 * Lettuce's periodic topology refresh), besides after a node fails or a MOVED: a replica that
 * joined since becomes known, to take over when its master fails. With Redis Sentinel, where the
 * master is (1,000 by default: a master that Sentinel switched while the old one still answers
 * is followed within it). No effect on a plain server. */
void cm_redis_set_map_age(struct cm_redis *r, int ms);

/* Runs one command given as argv (binary-safe; lens may be NULL for C strings). Returns 0 with
 * *out set (caller frees; an ERROR-type reply is still 0), or CM_E_UNAVAIL when disconnected (a
 * reconnect is attempted at most once per backoff step). */
int cm_redis_command(struct cm_redis *r, int argc, const char *const *argv, const size_t *lens,
                     struct cm_redis_reply **out);
/* Runs n commands in one round trip (pipelined): command i is argcs[i] C strings argvs[i].
 * Returns 0 with out[i] set for each (caller frees each), or CM_E_UNAVAIL with none set. In a
 * cluster, one round trip per node; a MULTI ... EXEC block goes whole to the node of its first
 * key (its keys must share a slot: a hash tag). */
int cm_redis_pipeline(struct cm_redis *r, size_t n, const int *argcs,
                      const char *const *const *argvs, struct cm_redis_reply **out);
/* Calls fn for each key matching pattern (SCAN ... MATCH, on every node of a cluster); a key
 * may come more than once. fn runs without the connection's lock. 0, or CM_E_UNAVAIL when a node
 * did not answer (fn may have seen some keys). */
typedef void (*cm_redis_key_fn)(const char *key, size_t len, void *ud);
int cm_redis_scan(struct cm_redis *r, const char *pattern, cm_redis_key_fn fn, void *ud);
/* The cluster slot of a key (0..16383): CRC16 of its hash tag or of the whole key. */
unsigned cm_redis_key_slot(const char *key, size_t len);
/* Readiness: 0 when PING answers PONG (on every node of a cluster that serves slots), else
 * CM_E_UNAVAIL with why filled. */
int cm_redis_ping(struct cm_redis *r, char *why, size_t len);
/* cm_redis_ping in the shape of a cm_http_check (ud is the struct cm_redis). */
int cm_redis_check(void *r, char *why, size_t len);

/* A Lua script run by its SHA-1 (EVALSHA) and loaded (SCRIPT LOAD, on every node of a cluster)
 * when Redis answers NOSCRIPT: the first time, and after a restart or failover. text must outlive
 * the script (a string constant). */
struct cm_redis_script {
    const char *text;
    char sha[41];
};
void cm_redis_script_init(struct cm_redis_script *s, const char *text);
/* Runs the script with argv's first nkeys as KEYS and the rest as ARGV (lens as for
 * cm_redis_command). 0 with *out set (caller frees; an error the script raised is an ERROR-type
 * reply), CM_E_UNAVAIL when Redis did not answer, or CM_E_PROTO when it names the script by
 * another SHA-1. */
int cm_redis_eval(struct cm_redis *r, const struct cm_redis_script *s, int nkeys, int argc,
                  const char *const *argv, const size_t *lens, struct cm_redis_reply **out);

enum cm_redis_type cm_redis_reply_type(const struct cm_redis_reply *rep);
long long cm_redis_reply_integer(const struct cm_redis_reply *rep);
/* String, status or error text (borrowed); NULL for other types. */
const char *cm_redis_reply_str(const struct cm_redis_reply *rep, size_t *len);
size_t cm_redis_reply_len(const struct cm_redis_reply *rep);
const struct cm_redis_reply *cm_redis_reply_elem(const struct cm_redis_reply *rep, size_t i);
void cm_redis_reply_free(struct cm_redis_reply *rep);

#endif
