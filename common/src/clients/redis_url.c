/* redis_url: REDIS_URL as cm_redis reads it (see redis_internal.h): redis://[[user]:password@]
 * host[:port][,host[:port]...][/db] (several hosts: a Redis Cluster's seed nodes), and
 * redis-sentinel://...[?sentinel_user=u&sentinel_password=p]#<master name> (the hosts are
 * sentinels, port 26379 by default; the query gives them credentials of their own). User and
 * password are percent-decoded as RFC 3986 writes them; ports and databases are strict. */
#include "redis_internal.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <stdlib.h>
#include <string.h>

/* One host[:port] of the URL (len bytes; an IPv6 address in brackets, [::1]:6380) as a node: 0,
 * or CM_E_INVAL. */
static int parse_host(struct cm_redis *r, const char *text, size_t len, int default_port)
{
    char *hostport = cm_xstrndup(text, len);
    char *host = hostport, *porttext = NULL;
    int rc = 0;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close || close == host + 1 || (close[1] && close[1] != ':')) {
            rc = CM_E_INVAL;
        } else {
            porttext = close[1] ? close + 2 : NULL;
            *close = '\0';
            host++;
        }
    } else {
        char *colon = strrchr(host, ':');
        if (colon) {
            *colon = '\0';
            porttext = colon + 1;
        }
    }
    long port = default_port;
    if (rc == 0 && porttext) {
        char *end;
        port = strtol(porttext, &end, 10);
        if (porttext[0] < '0' || porttext[0] > '9' || *end || port <= 0 || port > 65535) {
            rc = CM_E_INVAL;
        }
    }
    if (rc == 0) {
        const char *name = *host ? host : "127.0.0.1";
        size_t before = r->nnodes;
        redis_node_at(r, name, strlen(name), (int)port);
        rc = r->nnodes > before ? 0 : CM_E_INVAL; /* (a host named twice) */
    }
    free(hostport);
    return rc;
}

/* The URL after its scheme: [[user]:password@]host[:port][,host[:port]...][/db], port the
 * scheme's default. */
static int parse_rest(struct cm_redis *r, const char *p, int port)
{
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p) {
                r->user = cm_xstrndup(p, (size_t)(colon - p));
                cm_pct_decode(r->user);
            }
            r->password = cm_xstrndup(colon + 1, (size_t)(at - colon - 1));
        } else {
            r->password = cm_xstrndup(p, (size_t)(at - p));
        }
        cm_pct_decode(r->password); /* as RFC 3986 writes them: p%40ss is p@ss */
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hosts_len = slash ? (size_t)(slash - p) : strlen(p);
    /* host[:port], or a Redis Cluster's seed nodes separated by commas: h1:7001,h2:7002 */
    for (size_t from = 0;;) {
        const char *comma = memchr(p + from, ',', hosts_len - from);
        size_t len = comma ? (size_t)(comma - (p + from)) : hosts_len - from;
        if ((len == 0 && (comma || from > 0)) || parse_host(r, p + from, len, port) != 0) {
            return CM_E_INVAL;
        }
        if (!comma) {
            break;
        }
        from += len + 1;
    }
    r->nseeds = r->nnodes;
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end || db < 0 || db > 1000000) {
            return CM_E_INVAL;
        }
        r->db = (int)db;
    }
    return 0;
}

/* A sentinel URL's query, "sentinel_user=u&sentinel_password=p" (values percent-decoded, as
 * go-redis and redis-py name them): the sentinels' own credentials. Any other key is an error. */
static int parse_sentinel_query(struct cm_redis *r, char *q)
{
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            return CM_E_INVAL;
        }
        *eq = '\0';
        char **dst = strcmp(kv, "sentinel_user") == 0       ? &r->sentinel_user
                     : strcmp(kv, "sentinel_password") == 0 ? &r->sentinel_password
                                                            : NULL;
        if (!dst || *dst || !eq[1]) {
            return CM_E_INVAL; /* unknown, given twice or empty */
        }
        *dst = cm_xstrdup(eq + 1);
        cm_pct_decode(*dst);
    }
    return r->sentinel_user && !r->sentinel_password ? CM_E_INVAL : 0;
}

int redis_parse_url(struct cm_redis *r, const char *url)
{
    const char *p;
    int port = 6379;
    size_t end = strlen(url);
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "redis-sentinel://", 17) == 0) {
        p = url + 17;
        port = 26379;
        const char *hash = strrchr(p, '#'); /* #<master name>, as Lettuce writes it */
        if (!hash || !hash[1] || strpbrk(hash + 1, " \t\r\n")) {
            return CM_E_INVAL;
        }
        r->master_name = cm_xstrdup(hash + 1);
        cm_pct_decode(r->master_name);
        end = (size_t)(hash - url);
    } else {
        return CM_E_INVAL;
    }
    char *own = cm_xstrndup(url, end);
    p = own + (p - url);
    char *userinfo_end = strrchr(p, '@'); /* a password may hold '?' (as it may '@') */
    char *query = r->master_name ? strchr(userinfo_end ? userinfo_end : p, '?') : NULL;
    int rc = 0;
    if (query) {
        *query++ = '\0';
        rc = parse_sentinel_query(r, query);
    }
    rc = rc == 0 ? parse_rest(r, p, port) : rc;
    free(own);
    if (rc == 0 && r->master_name) {
        for (size_t i = 0; i < r->nseeds; i++) {
            r->nodes[i].sentinel = 1;
        }
    }
    return rc;
}
