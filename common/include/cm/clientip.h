/* clientip: the client address of a request (the HTTP server resolves it; see cm_http_client_ip).
 * X-Forwarded-For is honoured only when the peer is a configured trusted proxy: the client is then
 * the right-most address in the header that is not itself a trusted proxy (an invalid entry ends
 * the walk at the hop after it), so a client cannot forge its address by sending the header itself.
 * Immutable after parsing; thread-safe. */
#ifndef CM_CLIENTIP_H
#define CM_CLIENTIP_H

#include <stddef.h>

struct cm_proxies;

/* Parses "10.0.0.0/8, 192.168.1.7, fd00::/8" (CIDRs or single addresses, IPv4 and IPv6).
 * NULL or "" gives an empty list. Returns NULL with the bad entry named in err. */
struct cm_proxies *cm_proxies_parse(const char *list, char *err, size_t errlen);
void cm_proxies_free(struct cm_proxies *p);
/* Writes the client address into out. peer is the TCP peer; xff the header (may be NULL). */
/* 1 when addr (textual IPv4 or IPv6) lies in one of the trusted networks. */
int cm_proxies_trusted(const struct cm_proxies *p, const char *addr);
void cm_client_ip(const struct cm_proxies *p, const char *peer, const char *xff, char *out,
                  size_t len);

#endif
