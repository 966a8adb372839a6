/* redis: hiredis connection with URL parsing, AUTH/SELECT on connect, reconnect with backoff
 * (100 ms doubling to 5 s), and typed reply accessors (see redis.h). */
#include "cm/redis.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPELINE_CHUNK 256 /* commands appended before they are written out */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define TIMEOUT_MS 2000 /* to connect, and for each reply */

struct cm_redis {
    char *host;
    int port;
    char *user;
    char *password;
    int db;
    redisContext *ctx;
    int64_t next_attempt_ms;
    int backoff_ms;
    char last_error[256];
    pthread_mutex_t lock;
};

static int parse_url(struct cm_redis *r, const char *url)
{
    const char *p;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else {
        return CM_E_INVAL;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p) {
                r->user = cm_xstrndup(p, (size_t)(colon - p));
            }
            r->password = cm_xstrndup(colon + 1, (size_t)(at - colon - 1));
        } else {
            r->password = cm_xstrndup(p, (size_t)(at - p));
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash ? (size_t)(slash - p) : strlen(p);
    char *hostport = cm_xstrndup(p, hostport_len);
    char *colon = strrchr(hostport, ':');
    r->port = 6379;
    if (colon) {
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) {
            free(hostport);
            return CM_E_INVAL;
        }
        r->port = (int)port;
    }
    r->host = cm_xstrdup(*hostport ? hostport : "127.0.0.1");
    free(hostport);
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 1000000) {
            return CM_E_INVAL;
        }
        r->db = (int)db;
    }
    return 0;
}

/* The connection's error as the log and last_error say it: where, and a read that timed out
 * (hiredis reports it as EAGAIN's "Resource temporarily unavailable") as what it is. */
static void ctx_error(struct cm_redis *r, const char *fallback)
{
    const char *e = r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : fallback;
    if (r->ctx && r->ctx->err == REDIS_ERR_IO && strcmp(e, strerror(EAGAIN)) == 0) {
        snprintf(r->last_error, sizeof(r->last_error), "%s:%d: no answer within %d ms", r->host,
                 r->port, TIMEOUT_MS);
    } else {
        snprintf(r->last_error, sizeof(r->last_error), "%s:%d: %s", r->host, r->port, e);
    }
}

static void drop(struct cm_redis *r)
{
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

static int simple(struct cm_redis *r, const char *what, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, NULL);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->last_error, sizeof(r->last_error), "%s failed: %s", what,
                 rep ? rep->str : r->ctx->errstr);
        if (rep) {
            freeReplyObject(rep);
        }
        return CM_E_AUTH;
    }
    freeReplyObject(rep);
    return 0;
}

/* A connection or a command failed: the connection goes, and the next attempt waits, longer
 * each failure in a row (100 ms doubling to 5 s). A server that accepts connections but does
 * not answer (stopped, overloaded, behind a broken network path) would otherwise cost every
 * call the full timeout. Called with the lock held. */
static void failed(struct cm_redis *r)
{
    drop(r);
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (r->backoff_ms > BACKOFF_MAX_MS) {
        r->backoff_ms = BACKOFF_MAX_MS;
    }
    r->next_attempt_ms = cm_monotonic_ms() + r->backoff_ms;
}

/* A command was answered: the failures in a row, if any, are over. Called with the lock held. */
static void answered(struct cm_redis *r)
{
    if (r->backoff_ms) {
        CM_LOG_INFO("redis_reconnected", "%s:%d answers again", r->host, r->port);
        r->backoff_ms = 0;
    }
}

/* Connects when disconnected and the backoff allows. Called with the lock held. */
static int ensure(struct cm_redis *r)
{
    if (r->ctx && !r->ctx->err) {
        return 0;
    }
    drop(r);
    if (cm_monotonic_ms() < r->next_attempt_ms) {
        return CM_E_UNAVAIL;
    }
    struct timeval tv = {TIMEOUT_MS / 1000, (TIMEOUT_MS % 1000) * 1000};
    r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    int rc = 0;
    if (!r->ctx || r->ctx->err) {
        snprintf(r->last_error, sizeof(r->last_error), "connect %s:%d: %s", r->host, r->port,
                 r->ctx ? r->ctx->errstr : "out of memory");
        rc = CM_E_UNAVAIL;
    } else {
        redisSetTimeout(r->ctx, tv);
        if (r->password) {
            const char *argv[3] = {"AUTH", r->user ? r->user : r->password, r->password};
            rc = simple(r, "AUTH", r->user ? 3 : 2, argv);
        }
        if (rc == 0 && r->db) {
            char db[16];
            snprintf(db, sizeof(db), "%d", r->db);
            const char *argv[2] = {"SELECT", db};
            rc = simple(r, "SELECT", 2, argv);
        }
    }
    if (rc != 0) {
        failed(r);
        CM_LOG_WARN("redis_unavailable", "%s (retry in %d ms)", r->last_error, r->backoff_ms);
    }
    return rc;
}

struct cm_redis *cm_redis_new(const char *url)
{
    struct cm_redis *r = cm_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    if (!url || parse_url(r, url) != 0) {
        CM_LOG_ERROR("config_invalid",
                     "REDIS_URL: '%s' is not redis://[[user]:password@]host[:port][/db]",
                     url ? url : "");
        cm_redis_free(r);
        return NULL;
    }
    pthread_mutex_lock(&r->lock);
    ensure(r);
    pthread_mutex_unlock(&r->lock);
    return r;
}

void cm_redis_free(struct cm_redis *r)
{
    if (!r) {
        return;
    }
    drop(r);
    free(r->host);
    free(r->user);
    free(r->password);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int cm_redis_command(struct cm_redis *r, int argc, const char *const *argv, const size_t *lens,
                     struct cm_redis_reply **out)
{
    *out = NULL;
    pthread_mutex_lock(&r->lock);
    int rc = ensure(r);
    if (rc == 0) {
        redisReply *rep = redisCommandArgv(r->ctx, argc, (const char **)argv, lens);
        if (!rep) {
            ctx_error(r, "no reply");
            failed(r);
            CM_LOG_WARN("redis_command_failed", "%s (retry in %d ms)", r->last_error,
                        r->backoff_ms);
            rc = CM_E_UNAVAIL;
        } else {
            answered(r);
            *out = (struct cm_redis_reply *)rep;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int cm_redis_pipeline(struct cm_redis *r, size_t n, const int *argcs,
                      const char *const *const *argvs, struct cm_redis_reply **out)
{
    memset(out, 0, n * sizeof(*out));
    if (n == 0) {
        return 0;
    }
    pthread_mutex_lock(&r->lock);
    int rc = ensure(r);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (redisAppendCommandArgv(r->ctx, argcs[i], (const char **)argvs[i], NULL) != REDIS_OK) {
            rc = CM_E_UNAVAIL;
        } else if (i % PIPELINE_CHUNK == PIPELINE_CHUNK - 1) {
            /* sent as it goes: hiredis would otherwise hold the whole pipeline in one buffer,
             * grown (and copied) a megabyte at a time past the first (Redis buffers the replies) */
            int done = 0;
            while (rc == 0 && !done) {
                rc = redisBufferWrite(r->ctx, &done) == REDIS_OK ? 0 : CM_E_UNAVAIL;
            }
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r->ctx, &rep) != REDIS_OK || !rep) {
            rc = CM_E_UNAVAIL;
        } else {
            out[i] = rep;
        }
    }
    if (rc == 0) {
        answered(r);
    } else {
        if (r->ctx) {
            ctx_error(r, "pipeline failed");
            failed(r); /* unread replies would answer the next command */
            CM_LOG_WARN("redis_command_failed", "%s (retry in %d ms)", r->last_error,
                        r->backoff_ms);
        }
        for (size_t i = 0; i < n; i++) {
            cm_redis_reply_free(out[i]);
            out[i] = NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int cm_redis_ping(struct cm_redis *r, char *why, size_t len)
{
    static const char *argv[] = {"PING"};
    struct cm_redis_reply *rep;
    if (cm_redis_command(r, 1, argv, NULL, &rep) != 0) {
        pthread_mutex_lock(&r->lock);
        snprintf(why, len, "%s", r->last_error);
        pthread_mutex_unlock(&r->lock);
        return CM_E_UNAVAIL;
    }
    size_t n;
    const char *s = cm_redis_reply_str(rep, &n);
    int ok = s && strcmp(s, "PONG") == 0;
    if (!ok) {
        snprintf(why, len, "PING answered %s", s ? s : "(non-string)");
    }
    cm_redis_reply_free(rep);
    return ok ? 0 : CM_E_UNAVAIL;
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
