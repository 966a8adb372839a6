/* redis_url: REDIS_URL as cm_redis reads it (see redis_internal.h): redis://[[user]:password@]
 * host[:port][,host[:port]...][/db] (several hosts: a Redis Cluster's seed nodes), and
 * redis-sentinel://...[?sentinel_user=u&sentinel_password=p]#<master name> (the hosts are
 * sentinels, port 26379 by default; the query gives them credentials of their own).
 * rediss:// and rediss-sentinel:// are the same over TLS, the query's ssl_ca_certs,
 * ssl_certfile, ssl_keyfile and ssl_cert_reqs (required or none) saying how, as redis-py names
 * them. User and password are percent-decoded as RFC 3986 writes them; ports and databases are
 * strict. */
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

/* The URL's query (values percent-decoded): a sentinel URL's "sentinel_user=u&sentinel_password=p"
 * (as go-redis and redis-py name them: the sentinels' own credentials), and with TLS
 * ssl_ca_certs (a PEM file of the CAs the server's certificate is checked against; else the
 * system's), ssl_certfile and ssl_keyfile (a client certificate; its key may be in the same
 * file) and ssl_cert_reqs (required, the default, or none: the server's certificate is not
 * checked). Any other key, or one not for this URL's kind, is an error. */
static int parse_query(struct cm_redis *r, char *q)
{
    char *reqs = NULL;
    int rc = 0;
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); rc == 0 && kv;
         kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = CM_E_INVAL;
            break;
        }
        *eq = '\0';
        char **dst = NULL;
        if (r->master_name && strcmp(kv, "sentinel_user") == 0) {
            dst = &r->sentinel_user;
        } else if (r->master_name && strcmp(kv, "sentinel_password") == 0) {
            dst = &r->sentinel_password;
        } else if (r->tls.on && strcmp(kv, "ssl_ca_certs") == 0) {
            dst = &r->tls.ca_file;
        } else if (r->tls.on && strcmp(kv, "ssl_certfile") == 0) {
            dst = &r->tls.cert_file;
        } else if (r->tls.on && strcmp(kv, "ssl_keyfile") == 0) {
            dst = &r->tls.key_file;
        } else if (r->tls.on && strcmp(kv, "ssl_cert_reqs") == 0) {
            dst = &reqs;
        }
        if (!dst || *dst || !eq[1]) {
            rc = CM_E_INVAL; /* unknown, given twice or empty */
            break;
        }
        *dst = cm_xstrdup(eq + 1);
        cm_pct_decode(*dst);
    }
    if (rc == 0 && reqs) {
        if (strcmp(reqs, "none") == 0) {
            r->tls.verify = 0;
        } else if (strcmp(reqs, "required") != 0) {
            rc = CM_E_INVAL;
        }
    }
    free(reqs);
    if (rc == 0 && r->tls.key_file && !r->tls.cert_file) {
        rc = CM_E_INVAL; /* a key without its certificate */
    }
    return rc == 0 && r->sentinel_user && !r->sentinel_password ? CM_E_INVAL : rc;
}

int redis_parse_url(struct cm_redis *r, const char *url)
{
    const char *p;
    int port = 6379;
    size_t end = strlen(url);
    r->tls.on = strncmp(url, "rediss", 6) == 0;
    r->tls.verify = 1;
    const char *rest = strncmp(url, "redis", 5) == 0 ? url + 5 + r->tls.on : ""; /* the rest */
    if (strncmp(rest, "://", 3) == 0) {
        p = rest + 3;
    } else if (strncmp(rest, "-sentinel://", 12) == 0) {
        p = rest + 12;
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
    char *query = strchr(userinfo_end ? userinfo_end : p, '?');
    int rc = 0;
    if (query) {
        *query++ = '\0';
        rc = parse_query(r, query);
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
