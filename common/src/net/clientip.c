/* clientip: trusted-proxy CIDRs and the X-Forwarded-For walk (see cm/clientip.h). */
#include "cm/clientip.h"

#include "cm/mem.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net {
    int family;
    unsigned char addr[16];
    int prefix;
};

struct cm_proxies {
    struct net *nets;
    size_t n;
};

/* Parses an address (no brackets or port) into family/bytes. 0 or -1. */
static int parse_addr(const char *s, int *family, unsigned char *bytes)
{
    if (inet_pton(AF_INET, s, bytes) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, bytes) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

static int in_net(const struct net *n, int family, const unsigned char *a)
{
    if (n->family != family) {
        return 0;
    }
    int bits = n->prefix;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xFF : (unsigned char)(0xFF << (8 - bits));
        if ((a[i] & mask) != (n->addr[i] & mask)) {
            return 0;
        }
    }
    return 1;
}

int cm_proxies_trusted(const struct cm_proxies *p, const char *addr)
{
    int family;
    unsigned char bytes[16];
    if (!p || parse_addr(addr, &family, bytes) != 0) {
        return 0;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (in_net(&p->nets[i], family, bytes)) {
            return 1;
        }
    }
    return 0;
}

struct cm_proxies *cm_proxies_parse(const char *list, char *err, size_t errlen)
{
    struct cm_proxies *p = cm_xcalloc(1, sizeof(*p));
    char *copy = cm_xstrdup(list ? list : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        struct net n = {0};
        char *slash = strchr(tok, '/');
        if (slash) {
            *slash = '\0';
        }
        char *end = NULL;
        long prefix = slash ? strtol(slash + 1, &end, 10) : -1;
        if (parse_addr(tok, &n.family, n.addr) != 0 ||
            (slash &&
             (!*(slash + 1) || *end || prefix < 0 || prefix > (n.family == AF_INET ? 32 : 128)))) {
            snprintf(err, errlen, "'%s%s%s' is not an address or CIDR", tok, slash ? "/" : "",
                     slash ? slash + 1 : "");
            free(copy);
            cm_proxies_free(p);
            return NULL;
        }
        n.prefix = slash ? (int)prefix : (n.family == AF_INET ? 32 : 128);
        p->nets = cm_xrealloc(p->nets, (p->n + 1) * sizeof(*p->nets));
        p->nets[p->n++] = n;
    }
    free(copy);
    return p;
}

void cm_proxies_free(struct cm_proxies *p)
{
    if (!p) {
        return;
    }
    free(p->nets);
    free(p);
}

void cm_client_ip(const struct cm_proxies *p, const char *peer, const char *xff, char *out,
                  size_t len)
{
    snprintf(out, len, "%s", peer);
    if (!xff || !*xff || !cm_proxies_trusted(p, peer)) {
        return;
    }
    char *copy = cm_xstrdup(xff);
    /* walk the hops from the right: each trusted hop vouches for the one before it */
    for (;;) {
        char *comma = strrchr(copy, ',');
        char *hop = comma ? comma + 1 : copy;
        while (*hop == ' ' || *hop == '\t') {
            hop++;
        }
        size_t n = strlen(hop);
        while (n > 0 && (hop[n - 1] == ' ' || hop[n - 1] == '\t')) {
            hop[--n] = '\0';
        }
        int family;
        unsigned char bytes[16];
        if (parse_addr(hop, &family, bytes) != 0) {
            break; /* unparseable: keep the last address a trusted hop reported */
        }
        snprintf(out, len, "%s", hop);
        if (!cm_proxies_trusted(p, hop) || !comma) {
            break;
        }
        *comma = '\0';
    }
    free(copy);
}
