/* redis: connections (redis_conn.c, TCP or TLS) to the URL's servers (redis_url.c), AUTH/SELECT on
 * connect, reconnect with backoff (100 ms doubling to 5 s) per server, commands and pipelines
 * routed to the Redis Cluster node that serves their key and following its redirections
 * (redis_cluster.c) or to the master Redis Sentinel names (redis_sentinel.c), and typed reply
 * accessors (see redis.h). */
#include "redis_internal.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PIPELINE_CHUNK 256 /* commands appended before they are written out */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define TIMEOUT_MS 2000 /* to connect, and for each reply */
#define MAX_REDIRECTS 5 /* MOVED or ASK answers followed for one command */
#define REFRESH_MS                                                                                 \
    1000 /* a cluster's map, made stale by a failing node, asked at most this often */
#define MAP_AGE_MS                                                                                 \
    60000 /* a cluster's map is asked again after this long anyway (replicas that joined) */
#define SENTINEL_AGE_MS                                                                            \
    1000 /* Sentinel is asked again after this long anyway (a master it switched) */

/* Node i's connection error as the log and last_error say it: where, and a reply that did not
 * come in time as what it is. */
void redis_ctx_error(struct cm_redis *r, size_t i, const char *fallback)
{
    const struct redis_node *n = &r->nodes[i];
    const char *e = n->conn && redis_conn_broken(n->conn) ? redis_conn_error(n->conn) : fallback;
    if (n->conn && redis_conn_timed_out(n->conn)) {
        snprintf(r->last_error, sizeof(r->last_error), "%s:%d: no answer within %d ms", n->host,
                 n->port, TIMEOUT_MS);
    } else {
        snprintf(r->last_error, sizeof(r->last_error), "%s:%d: %s", n->host, n->port, e);
    }
}

static void drop(struct redis_node *n)
{
    redis_conn_free(n->conn);
    n->conn = NULL;
}

static int simple(struct cm_redis *r, size_t i, const char *what, int argc, const char **argv)
{
    redisReply *rep = redis_conn_command(r->nodes[i].conn, argc, argv, NULL);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->last_error, sizeof(r->last_error), "%s:%d: %s failed: %s", r->nodes[i].host,
                 r->nodes[i].port, what, rep ? rep->str : redis_conn_error(r->nodes[i].conn));
        if (rep) {
            freeReplyObject(rep);
        }
        return CM_E_AUTH;
    }
    freeReplyObject(rep);
    return 0;
}

/* A connection or a command of node i failed: the connection goes, and the next attempt waits,
 * longer each failure in a row (100 ms doubling to 5 s). A server that accepts connections but
 * does not answer (stopped, overloaded, behind a broken network path) would otherwise cost every
 * call the full timeout. Called with the lock held. */
void redis_failed(struct cm_redis *r, size_t i)
{
    struct redis_node *n = &r->nodes[i];
    drop(n);
    /* its slots may have gone to a replica, or Sentinel promoted another master */
    r->stale = r->slots != NULL || r->master_name != NULL;
    n->backoff_ms = n->backoff_ms ? n->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (n->backoff_ms > BACKOFF_MAX_MS) {
        n->backoff_ms = BACKOFF_MAX_MS;
    }
    n->next_attempt_ms = cm_monotonic_ms() + n->backoff_ms;
}

/* A command of node i was answered: the failures in a row, if any, are over. Called with the
 * lock held. */
static void answered(struct cm_redis *r, size_t i)
{
    struct redis_node *n = &r->nodes[i];
    if (n->backoff_ms) {
        CM_LOG_INFO("redis_reconnected", "%s:%d answers again", n->host, n->port);
        n->backoff_ms = 0;
    }
}

/* Connects node i when disconnected and its backoff allows. Called with the lock held. */
int redis_ensure(struct cm_redis *r, size_t i)
{
    struct redis_node *n = &r->nodes[i];
    if (n->conn && !redis_conn_broken(n->conn)) {
        return 0;
    }
    drop(n);
    if (cm_monotonic_ms() < n->next_attempt_ms) {
        return CM_E_UNAVAIL; /* (last_error keeps why the last attempt failed) */
    }
    char err[200];
    n->conn = redis_conn_open(n->host, n->port, TIMEOUT_MS, r->ssl_ctx, err, sizeof(err));
    int rc = 0;
    if (!n->conn) {
        snprintf(r->last_error, sizeof(r->last_error), "connect %s:%d: %s", n->host, n->port, err);
        rc = CM_E_UNAVAIL;
    } else {
        int own = n->sentinel && r->sentinel_password; /* the sentinels' own credentials */
        const char *user = own ? r->sentinel_user : r->user;
        const char *password = own ? r->sentinel_password : r->password;
        if (password) {
            const char *argv[3] = {"AUTH", user ? user : password, password};
            rc = simple(r, i, "AUTH", user ? 3 : 2, argv);
            if (rc != 0 && n->sentinel && !own && strstr(r->last_error, "without any password")) {
                rc = 0; /* a sentinel without a password of its own: the password is the data's */
            }
        }
        if (rc == 0 && r->db && !n->sentinel) {
            char db[16];
            snprintf(db, sizeof(db), "%d", r->db);
            const char *argv[2] = {"SELECT", db};
            rc = simple(r, i, "SELECT", 2, argv);
        }
        n->fresh = rc == 0;
    }
    if (rc != 0) {
        redis_failed(r, i);
        CM_LOG_WARN("redis_unavailable", "%s (retry in %d ms)", r->last_error,
                    r->nodes[i].backoff_ms);
    }
    return rc;
}

/* ensure, and the URL's server, newly connected, tells whether it is a cluster and which node
 * serves which slot before its first command. Called with the lock held. */
static int ready(struct cm_redis *r, size_t i)
{
    int rc = redis_ensure(r, i);
    if (rc == 0 && i == 0 && r->nodes[0].fresh && !r->master_name) {
        r->nodes[0].fresh = 0;
        if (redis_discover(r, 0) < 0) {
            redis_ctx_error(r, 0, "CLUSTER SLOTS failed");
            redis_failed(r, 0);
            CM_LOG_WARN("redis_command_failed", "%s (retry in %d ms)", r->last_error,
                        r->nodes[0].backoff_ms);
            rc = CM_E_UNAVAIL;
        }
    }
    return rc;
}

/* A cluster's map after a node failed: asked of each known node in turn (masters and replicas)
 * until one answers, at most once per REFRESH_MS. A failover moves a dead master's slots to its
 * replica, which no redirection announces: the dead node cannot answer MOVED. Called with the
 * lock held. */
static void refresh(struct cm_redis *r)
{
    int64_t now = cm_monotonic_ms();
    if (now < r->next_refresh_ms) {
        return;
    }
    r->next_refresh_ms = now + REFRESH_MS;
    int failover = r->stale; /* (else the map's age) */
    for (size_t i = 0; i < r->nnodes; i++) {
        if (redis_ensure(r, i) != 0) {
            continue;
        }
        r->nodes[i].fresh = 0;
        size_t known = r->nnodes;
        if (redis_discover(r, i) > 0) {
            r->stale = 0;
            if (failover || r->nnodes != known) {
                CM_LOG_INFO("redis_cluster_map", "slot map learnt again from %s:%d",
                            r->nodes[i].host, r->nodes[i].port);
            }
            return;
        }
        redis_failed(r, i);
    }
}

/* Before a command is routed: without a slot map, the URL's server tells whether it is a cluster
 * and gives the map (0, or CM_E_UNAVAIL when it cannot be reached); with several seed nodes, the
 * first that answers gives it, and one that is not a cluster is an error. A cluster's map made
 * stale by a failing node is learnt again (0: the command goes where the map says). Called with
 * the lock held. */
static int learn(struct cm_redis *r)
{
    if (r->master_name) {
        int64_t now = cm_monotonic_ms();
        if ((!r->located || r->stale || now >= r->map_expires_ms) && now >= r->next_refresh_ms) {
            r->next_refresh_ms = now + REFRESH_MS;
            if (redis_sentinel_locate(r) == 0) {
                r->stale = 0;
                r->map_expires_ms = now + r->map_age_ms;
            }
        }
        return r->located ? 0 : CM_E_UNAVAIL; /* (the last master known, while none answers) */
    }
    if (r->slots) {
        if (r->stale || cm_monotonic_ms() >= r->map_expires_ms) {
            refresh(r);
        }
        return 0;
    }
    if (r->nseeds <= 1) {
        return ready(r, 0);
    }
    for (size_t i = 0; i < r->nseeds; i++) {
        if (redis_ensure(r, i) != 0) {
            continue;
        }
        r->nodes[i].fresh = 0;
        int cluster = redis_discover(r, i);
        if (cluster > 0) {
            return 0;
        }
        if (cluster == 0) {
            snprintf(r->last_error, sizeof(r->last_error),
                     "%s:%d is not a Redis Cluster node: REDIS_URL names several hosts only for "
                     "a cluster's seed nodes",
                     r->nodes[i].host, r->nodes[i].port);
            CM_LOG_ERROR("redis_not_a_cluster", "%s", r->last_error);
            return CM_E_UNAVAIL;
        }
        redis_ctx_error(r, i, "CLUSTER SLOTS failed");
        redis_failed(r, i);
    }
    return CM_E_UNAVAIL;
}

void cm_redis_set_map_age(struct cm_redis *r, int ms)
{
    pthread_mutex_lock(&r->lock);
    r->map_age_ms = ms;
    if (r->slots) {
        r->map_expires_ms = cm_monotonic_ms() + ms;
    }
    pthread_mutex_unlock(&r->lock);
}

struct cm_redis *cm_redis_new(const char *url)
{
    struct cm_redis *r = cm_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->map_age_ms = MAP_AGE_MS;
    if (!url || redis_parse_url(r, url) != 0) {
        char shown[256]; /* (never the password) */
        cm_url_redacted(url ? url : "", shown, sizeof(shown));
        CM_LOG_ERROR("config_invalid",
                     "REDIS_URL: '%s' is not redis://[[user]:password@]host[:port][/db] (or "
                     "several host[:port] separated by commas for a Redis Cluster's seed nodes), "
                     "nor redis-sentinel://[[user]:password@]host[:port][,...][/db]"
                     "[?sentinel_user=&sentinel_password=]#<master name>, nor either over TLS "
                     "(rediss://, rediss-sentinel://) with [?ssl_ca_certs=<file>&ssl_certfile="
                     "<file>&ssl_keyfile=<file>&ssl_cert_reqs=required|none]",
                     shown);
        cm_redis_free(r);
        return NULL;
    }
    if (r->tls.on) {
        char err[512];
        if (!(r->ssl_ctx = redis_tls_new(&r->tls, err, sizeof(err)))) {
            CM_LOG_ERROR("config_invalid", "REDIS_URL: %s", err);
            cm_redis_free(r);
            return NULL;
        }
    }
    if (r->master_name) {
        r->map_age_ms = SENTINEL_AGE_MS;
    }
    pthread_mutex_lock(&r->lock);
    redis_ensure(r, 0);
    pthread_mutex_unlock(&r->lock);
    return r;
}

void cm_redis_free(struct cm_redis *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->nnodes; i++) {
        drop(&r->nodes[i]);
        free(r->nodes[i].host);
    }
    free(r->nodes);
    free(r->slots);
    free(r->user);
    free(r->password);
    free(r->master_name);
    free(r->sentinel_user);
    free(r->sentinel_password);
    free(r->tls.ca_file);
    free(r->tls.cert_file);
    free(r->tls.key_file);
    SSL_CTX_free(r->ssl_ctx);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* One command on node i (connected by the caller), after ASKING when ask. The reply, or NULL
 * (the node failed: logged, its backoff started). Called with the lock held. */
static redisReply *on_node(struct cm_redis *r, size_t i, int ask, int argc, const char *const *argv,
                           const size_t *lens)
{
    struct redis_conn *c = r->nodes[i].conn;
    static const char *const asking[] = {"ASKING"};
    redisReply *a = ask ? redis_conn_command(c, 1, asking, NULL) : NULL;
    redisReply *rep = !ask || a ? redis_conn_command(c, argc, argv, lens) : NULL;
    if (a) {
        freeReplyObject(a);
    }
    if (!rep) {
        redis_ctx_error(r, i, "no reply");
        redis_failed(r, i);
        CM_LOG_WARN("redis_command_failed", "%s (retry in %d ms)", r->last_error,
                    r->nodes[i].backoff_ms);
        return NULL;
    }
    answered(r, i);
    return rep;
}

/* A reply that says the server is a replica now (READONLY: Sentinel demoted the master it
 * named, and a new one is to be asked for). Called with the lock held. */
static void demoted(struct cm_redis *r, const redisReply *rep)
{
    if (r->master_name && rep && rep->type == REDIS_REPLY_ERROR &&
        strncmp(rep->str, "READONLY", 8) == 0) {
        r->stale = 1;
    }
}

/* A redirection to node `to` was followed: for MOVED the cluster's slots changed (a reshard, a
 * failover), so the whole map is learnt again from that node. Called with the lock held. */
static void moved(struct cm_redis *r, long to, int ask)
{
    if (!ask && ready(r, (size_t)to) == 0 && redis_discover(r, (size_t)to) < 0) {
        redis_failed(r, (size_t)to);
    }
}

/* SCRIPT (LOAD, FLUSH, EXISTS) on every node serving slots: a script loaded on one node is
 * unknown to the others, where EVALSHA of a key they serve would answer NOSCRIPT. The last
 * node's reply. Called with the lock held. */
static int on_every_node(struct cm_redis *r, int argc, const char *const *argv, const size_t *lens,
                         struct cm_redis_reply **out)
{
    size_t *masters = cm_xmalloc(r->nnodes * sizeof(*masters));
    size_t n = redis_masters(r, masters);
    int rc = 0;
    for (size_t m = 0; rc == 0 && m < n; m++) {
        redisReply *rep =
            ready(r, masters[m]) == 0 ? on_node(r, masters[m], 0, argc, argv, lens) : NULL;
        if (!rep) {
            rc = CM_E_UNAVAIL;
        }
        cm_redis_reply_free(*out);
        *out = (struct cm_redis_reply *)rep;
    }
    free(masters);
    if (rc != 0) {
        cm_redis_reply_free(*out);
        *out = NULL;
    }
    return rc;
}

int cm_redis_command(struct cm_redis *r, int argc, const char *const *argv, const size_t *lens,
                     struct cm_redis_reply **out)
{
    *out = NULL;
    size_t klen = 0;
    const char *key = redis_command_key(argc, argv, lens, &klen);
    pthread_mutex_lock(&r->lock);
    int rc = learn(r);
    if (rc != 0) {
        pthread_mutex_unlock(&r->lock);
        return rc;
    }
    if (r->slots && strcasecmp(argv[0], "SCRIPT") == 0) {
        rc = on_every_node(r, argc, argv, lens, out);
        pthread_mutex_unlock(&r->lock);
        return rc;
    }
    long to = -1;
    int ask = 0;
    for (int attempt = 0;; attempt++) {
        size_t i = to >= 0 ? (size_t)to : redis_route(r, key, klen);
        redisReply *rep = (rc = ready(r, i)) == 0 ? on_node(r, i, ask, argc, argv, lens) : NULL;
        if (!rep) {
            rc = CM_E_UNAVAIL;
            break;
        }
        to = attempt < MAX_REDIRECTS ? redis_redirected(r, i, rep, &ask) : -1;
        if (to < 0) {
            demoted(r, rep);
            *out = (struct cm_redis_reply *)rep;
            break;
        }
        freeReplyObject(rep);
        moved(r, to, ask);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* A pipeline's unit: one command, or a MULTI ... EXEC block (which a cluster runs on one node). */
struct unit {
    size_t from, to; /* commands [from, to] */
    size_t node;
    int ask, sent, done;
};

static int is_word(const char *const *argv, const char *word)
{
    return strcasecmp(argv[0], word) == 0;
}

/* Sends the pending units of node i (and reads their replies into out). Called with the lock
 * held. */
static int send_node(struct cm_redis *r, size_t i, struct unit *u, size_t nu, const int *argcs,
                     const char *const *const *argvs, struct cm_redis_reply **out)
{
    if (ready(r, i) != 0) {
        return CM_E_UNAVAIL;
    }
    struct redis_conn *c = r->nodes[i].conn;
    static const char *const asking[] = {"ASKING"};
    size_t appended = 0;
    for (size_t k = 0; k < nu; k++) {
        if (u[k].done || u[k].sent || u[k].node != i) {
            continue;
        }
        if (u[k].ask && redis_conn_append(c, 1, asking, NULL) != 0) {
            return CM_E_UNAVAIL;
        }
        for (size_t j = u[k].from; j <= u[k].to; j++) {
            if (redis_conn_append(c, argcs[j], argvs[j], NULL) != 0) {
                return CM_E_UNAVAIL;
            }
            if (++appended % PIPELINE_CHUNK == 0 && redis_conn_flush(c) != 0) {
                /* sent as it goes rather than held whole in one buffer (Redis buffers the
                 * replies) */
                return CM_E_UNAVAIL;
            }
        }
    }
    for (size_t k = 0; k < nu; k++) {
        if (u[k].done || u[k].sent || u[k].node != i) {
            continue;
        }
        u[k].sent = 1;
        redisReply *rep = NULL;
        if (u[k].ask && !(rep = redis_conn_read(c))) {
            return CM_E_UNAVAIL;
        }
        if (rep) {
            freeReplyObject(rep);
        }
        for (size_t j = u[k].from; j <= u[k].to; j++) {
            if (!(rep = redis_conn_read(c))) {
                return CM_E_UNAVAIL;
            }
            out[j] = (struct cm_redis_reply *)rep;
        }
    }
    answered(r, i);
    return 0;
}

/* Whether unit k was redirected (any of its replies is MOVED or ASK): its replies then go and it
 * is sent again where it was sent. Called with the lock held. */
static int redirect_unit(struct cm_redis *r, struct unit *k, struct cm_redis_reply **out)
{
    long to = -1;
    int ask = 0;
    for (size_t j = k->from; to < 0 && j <= k->to; j++) {
        to = redis_redirected(r, k->node, (const redisReply *)out[j], &ask);
    }
    if (to < 0) {
        return 0;
    }
    for (size_t j = k->from; j <= k->to; j++) {
        cm_redis_reply_free(out[j]);
        out[j] = NULL;
    }
    moved(r, to, ask);
    k->node = (size_t)to;
    k->ask = ask && k->from == k->to; /* (a block is sent again as MOVED would have it) */
    return 1;
}

int cm_redis_pipeline(struct cm_redis *r, size_t n, const int *argcs,
                      const char *const *const *argvs, struct cm_redis_reply **out)
{
    memset(out, 0, n * sizeof(*out));
    if (n == 0) {
        return 0;
    }
    struct unit *u = cm_xcalloc(n, sizeof(*u));
    size_t nu = 0;
    pthread_mutex_lock(&r->lock);
    if (learn(r) != 0) {
        pthread_mutex_unlock(&r->lock);
        free(u);
        return CM_E_UNAVAIL;
    }
    for (size_t i = 0; i < n; nu++) {
        struct unit *k = &u[nu];
        k->from = k->to = i;
        if (is_word(argvs[i], "MULTI")) {
            while (k->to + 1 < n && !is_word(argvs[k->to], "EXEC")) {
                k->to++;
            }
        }
        i = k->to + 1;
        k->node = redis_route(r, NULL, 0); /* (without a key: the primary, or the URL's node) */
        for (size_t j = k->from; j <= k->to; j++) { /* the node of its first key */
            size_t klen = 0;
            const char *key = redis_command_key(argcs[j], argvs[j], NULL, &klen);
            if (key) {
                k->node = redis_route(r, key, klen);
                break;
            }
        }
    }
    int rc = 0;
    for (int round = 0; rc == 0; round++) {
        size_t pending = 0;
        for (size_t k = 0; rc == 0 && k < nu; k++) {
            if (!u[k].done && !u[k].sent) {
                rc = send_node(r, u[k].node, u, nu, argcs, argvs, out);
                if (rc != 0) {
                    redis_ctx_error(r, u[k].node, "pipeline failed");
                    redis_failed(r, u[k].node); /* unread replies would answer the next command */
                    CM_LOG_WARN("redis_command_failed", "%s (retry in %d ms)", r->last_error,
                                r->nodes[u[k].node].backoff_ms);
                }
            }
        }
        for (size_t k = 0; rc == 0 && k < nu; k++) {
            u[k].sent = 0;
            if (!u[k].done) {
                u[k].done = round >= MAX_REDIRECTS || !redirect_unit(r, &u[k], out);
                for (size_t j = u[k].from; u[k].done && j <= u[k].to; j++) {
                    demoted(r, (const redisReply *)out[j]);
                }
                pending += !u[k].done;
            }
        }
        if (rc == 0 && pending == 0) {
            break;
        }
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            cm_redis_reply_free(out[i]);
            out[i] = NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
    free(u);
    return rc;
}

int cm_redis_scan(struct cm_redis *r, const char *pattern, cm_redis_key_fn fn, void *ud)
{
    pthread_mutex_lock(&r->lock);
    int rc = learn(r); /* (the cluster's nodes) */
    size_t *masters = cm_xmalloc(r->nnodes * sizeof(*masters));
    size_t nm = rc == 0 ? redis_masters(r, masters) : 0;
    pthread_mutex_unlock(&r->lock);
    for (size_t m = 0; rc == 0 && m < nm; m++) {
        char cursor[32] = "0";
        do {
            const char *scan[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
            pthread_mutex_lock(&r->lock);
            redisReply *rep =
                ready(r, masters[m]) == 0 ? on_node(r, masters[m], 0, 6, scan, NULL) : NULL;
            pthread_mutex_unlock(&r->lock);
            if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                rep->element[0]->type != REDIS_REPLY_STRING ||
                rep->element[1]->type != REDIS_REPLY_ARRAY) {
                if (rep) {
                    freeReplyObject(rep);
                }
                rc = CM_E_UNAVAIL;
                break;
            }
            snprintf(cursor, sizeof(cursor), "%.*s", (int)rep->element[0]->len,
                     rep->element[0]->str);
            const redisReply *keys = rep->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                if (keys->element[i]->type == REDIS_REPLY_STRING) {
                    fn(keys->element[i]->str, keys->element[i]->len, ud);
                }
            }
            freeReplyObject(rep);
        } while (strcmp(cursor, "0") != 0);
    }
    free(masters);
    return rc;
}

int cm_redis_ping(struct cm_redis *r, char *why, size_t len)
{
    static const char *argv[] = {"PING"};
    pthread_mutex_lock(&r->lock);
    int rc = learn(r);
    size_t *masters = cm_xmalloc(r->nnodes * sizeof(*masters));
    size_t nm = rc == 0 ? redis_masters(r, masters) : 0;
    for (size_t m = 0; rc == 0 && m < nm; m++) { /* every node the state may live on */
        redisReply *rep =
            ready(r, masters[m]) == 0 ? on_node(r, masters[m], 0, 1, argv, NULL) : NULL;
        if (!rep) {
            rc = CM_E_UNAVAIL;
        } else if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "PONG") != 0) {
            snprintf(r->last_error, sizeof(r->last_error), "%s:%d: PING answered %s",
                     r->nodes[masters[m]].host, r->nodes[masters[m]].port,
                     rep->type == REDIS_REPLY_ERROR || rep->type == REDIS_REPLY_STATUS
                         ? rep->str
                         : "(not a status)");
            rc = CM_E_UNAVAIL;
        }
        if (rep) {
            freeReplyObject(rep);
        }
    }
    if (rc != 0) {
        snprintf(why, len, "%s", r->last_error);
    }
    free(masters);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int cm_redis_check(void *r, char *why, size_t len)
{
    return cm_redis_ping(r, why, len);
}

enum cm_redis_type cm_redis_reply_type(const struct cm_redis_reply *rep)
{
    switch (((const redisReply *)rep)->type) {
    case REDIS_REPLY_STRING:
        return CM_REDIS_STRING;
    case REDIS_REPLY_ARRAY:
        return CM_REDIS_ARRAY;
    case REDIS_REPLY_INTEGER:
        return CM_REDIS_INTEGER;
    case REDIS_REPLY_STATUS:
        return CM_REDIS_STATUS;
    case REDIS_REPLY_ERROR:
        return CM_REDIS_ERROR;
    default:
        return CM_REDIS_NIL;
    }
}

long long cm_redis_reply_integer(const struct cm_redis_reply *rep)
{
    return ((const redisReply *)rep)->integer;
}

const char *cm_redis_reply_str(const struct cm_redis_reply *rep, size_t *len)
{
    const redisReply *r = (const redisReply *)rep;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS &&
        r->type != REDIS_REPLY_ERROR) {
        if (len) {
            *len = 0;
        }
        return NULL;
    }
    if (len) {
        *len = r->len;
    }
    return r->str;
}

size_t cm_redis_reply_len(const struct cm_redis_reply *rep)
{
    const redisReply *r = (const redisReply *)rep;
    return r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

const struct cm_redis_reply *cm_redis_reply_elem(const struct cm_redis_reply *rep, size_t i)
{
    const redisReply *r = (const redisReply *)rep;
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements) {
        return NULL;
    }
    return (const struct cm_redis_reply *)r->element[i];
}

void cm_redis_reply_free(struct cm_redis_reply *rep)
{
    if (rep) {
        freeReplyObject(rep);
    }
}
