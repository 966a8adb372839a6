/* redis_cluster: Redis Cluster for cm_redis (see redis_internal.h). A key lives in one of 16384
 * slots, CRC16 of the key (or of its hash tag, the part between the first '{' and the next '}'),
 * as the cluster specification defines it; each slot is served by one node. The slot map is
 * learnt from CLUSTER SLOTS when the URL's server is reached, updated by the redirections a
 * node answers (MOVED: the slot has moved for good; ASK: for the next command only, while it
 * migrates), and asked for again when a node fails and once a minute. A server without cluster
 * mode keeps every command on it, as before. */
#include "redis_internal.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NODES 1024

/* CRC16-CCITT (XModem): polynomial 0x1021, initial value 0, as the cluster specification. */
static uint16_t crc16(const char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)p[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
    }
    return crc;
}

unsigned cm_redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - from);
        if (close && close > open + 1) { /* "{}" is no tag: the whole key counts */
            return crc16(open + 1, (size_t)(close - open - 1)) & (REDIS_SLOTS - 1);
        }
    }
    return crc16(key, len) & (REDIS_SLOTS - 1);
}

static int word_is(const char *arg, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(arg, word, len) == 0;
}

const char *redis_command_key(int argc, const char *const *argv, const size_t *lens, size_t *len)
{
    static const char *const keyless[] = {
        "PING",    "MULTI",  "EXEC",   "DISCARD", "SCRIPT",   "SCAN",      "CLUSTER",
        "INFO",    "AUTH",   "SELECT", "ASKING",  "READONLY", "READWRITE", "FLUSHALL",
        "FLUSHDB", "DBSIZE", "TIME",   "CLIENT",  "CONFIG",   "ECHO",      "WAIT",
        "COMMAND", "HELLO",  "QUIT",   "SAVE",    "BGSAVE",   "LASTSAVE",  NULL};
    if (argc < 2) {
        return NULL;
    }
    size_t n0 = lens ? lens[0] : strlen(argv[0]);
    for (size_t i = 0; keyless[i]; i++) {
        if (word_is(argv[0], n0, keyless[i])) {
            return NULL;
        }
    }
    int at = 1;
    if (word_is(argv[0], n0, "EVAL") || word_is(argv[0], n0, "EVALSHA") ||
        word_is(argv[0], n0, "FCALL")) {
        if (argc < 4 || atoi(argv[2]) < 1) { /* (numkeys is a short decimal) */
            return NULL;
        }
        at = 3;
    }
    *len = lens ? lens[at] : strlen(argv[at]);
    return argv[at];
}

size_t redis_node_at(struct cm_redis *r, const char *host, size_t hostlen, int port)
{
    for (size_t i = 0; i < r->nnodes; i++) {
        if (r->nodes[i].port == port && strlen(r->nodes[i].host) == hostlen &&
            memcmp(r->nodes[i].host, host, hostlen) == 0) {
            return i;
        }
    }
    if (r->nnodes >= MAX_NODES) {
        return 0;
    }
    r->nodes = cm_xrealloc(r->nodes, (r->nnodes + 1) * sizeof(*r->nodes));
    r->nodes[r->nnodes] = (struct redis_node){.host = cm_xstrndup(host, hostlen), .port = port};
    if (r->nnodes > 0 && !r->master_name) { /* (not the URL's; Sentinel's master is logged) */
        CM_LOG_INFO("redis_cluster_node", "cluster node %.*s:%d", (int)hostlen, host, port);
    }
    return r->nnodes++;
}

size_t redis_route(const struct cm_redis *r, const char *key, size_t len)
{
    if (!r->slots) {
        return r->primary;
    }
    return key ? r->slots[cm_redis_key_slot(key, len)] : 0;
}

int redis_discover(struct cm_redis *r, size_t i)
{
    static const char *const argv[] = {"CLUSTER", "SLOTS"};
    redisReply *rep = redis_conn_command(r->nodes[i].conn, 2, argv, NULL);
    if (!rep) {
        return -1;
    }
    int rc = redis_take_slots(r, i, rep);
    freeReplyObject(rep);
    return rc;
}

int redis_take_slots(struct cm_redis *r, size_t i, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY) { /* "ERR This instance has cluster support disabled" */
        return 0;
    }
    /* a node that does not know its own address names it "" (or "?"): the one asked */
    char *asked = cm_xstrdup(r->nodes[i].host);
    r->map_expires_ms = cm_monotonic_ms() + r->map_age_ms;
    if (!r->slots) {
        r->slots = cm_xcalloc(REDIS_SLOTS, sizeof(*r->slots));
    }
    for (size_t e = 0; e < rep->elements; e++) {
        const redisReply *range = rep->element[e];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER ||
            range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2 ||
            range->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            range->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            continue;
        }
        const redisReply *master = range->element[2];
        const char *host = master->element[0]->str;
        size_t hostlen = master->element[0]->len;
        if (hostlen == 0 || (hostlen == 1 && host[0] == '?')) {
            host = asked;
            hostlen = strlen(asked);
        }
        long long port = master->element[1]->integer;
        long long lo = range->element[0]->integer, hi = range->element[1]->integer;
        if (port <= 0 || port > 65535 || lo < 0 || hi >= REDIS_SLOTS || lo > hi) {
            continue;
        }
        size_t node = redis_node_at(r, host, hostlen, (int)port);
        for (long long s = lo; s <= hi; s++) {
            r->slots[s] = (uint16_t)node;
        }
        for (size_t k = 3; k < range->elements; k++) { /* its replicas: [host, port, id, ...] */
            const redisReply *rp = range->element[k];
            if (rp->type == REDIS_REPLY_ARRAY && rp->elements >= 2 &&
                rp->element[0]->type == REDIS_REPLY_STRING && rp->element[0]->len > 0 &&
                !(rp->element[0]->len == 1 && rp->element[0]->str[0] == '?') &&
                rp->element[1]->type == REDIS_REPLY_INTEGER && rp->element[1]->integer > 0 &&
                rp->element[1]->integer <= 65535) {
                redis_node_at(r, rp->element[0]->str, rp->element[0]->len,
                              (int)rp->element[1]->integer);
            }
        }
    }
    free(asked);
    return 1;
}

long redis_redirected(struct cm_redis *r, size_t from, const redisReply *rep, int *ask)
{
    if (!rep || rep->type != REDIS_REPLY_ERROR) {
        return -1;
    }
    const char *p;
    if (strncmp(rep->str, "MOVED ", 6) == 0) {
        *ask = 0;
        p = rep->str + 6;
    } else if (strncmp(rep->str, "ASK ", 4) == 0) {
        *ask = 1;
        p = rep->str + 4;
    } else {
        return -1;
    }
    char *end;
    long slot = strtol(p, &end, 10);
    const char *addr = end + 1;
    const char *colon = *end == ' ' ? strrchr(addr, ':') : NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (slot < 0 || slot >= REDIS_SLOTS || !colon || *end || port <= 0 || port > 65535) {
        return -1;
    }
    size_t hostlen = (size_t)(colon - addr);
    if (hostlen > 2 && addr[0] == '[' && addr[hostlen - 1] == ']') { /* "[::1]:6379" */
        addr++;
        hostlen -= 2;
    }
    if (hostlen == 0) { /* ":<port>": a node whose address is unknown to it, on the same host */
        addr = r->nodes[from].host;
        hostlen = strlen(addr);
    }
    size_t node = redis_node_at(r, addr, hostlen, (int)port);
    if (!*ask) {
        if (!r->slots) {
            r->slots = cm_xcalloc(REDIS_SLOTS, sizeof(*r->slots));
        }
        r->slots[slot] = (uint16_t)node;
    }
    return (long)node;
}

size_t redis_masters(const struct cm_redis *r, size_t *out)
{
    if (!r->slots) {
        out[0] = r->primary;
        return 1;
    }
    unsigned char *seen = cm_xcalloc(r->nnodes, 1);
    size_t n = 0;
    for (size_t s = 0; s < REDIS_SLOTS; s++) {
        if (!seen[r->slots[s]]) {
            seen[r->slots[s]] = 1;
            out[n++] = r->slots[s];
        }
    }
    free(seen);
    return n;
}
