/* Unit tests for the client address (common/src/net/clientip.c): X-Forwarded-For
 * believed only from trusted proxies, the right-most untrusted hop, IPv6, bad lists and headers. */
#include "cm/clientip.h"

#include <criterion/criterion.h>
#include <string.h>

static const char *ip(const struct cm_proxies *p, const char *peer, const char *xff)
{
    static char out[64];
    cm_client_ip(p, peer, xff, out, sizeof(out));
    return out;
}

Test(clientip, trusted_proxies_only)
{
    char err[128];
    struct cm_proxies *p = cm_proxies_parse("10.0.0.0/8, 192.168.1.7,fd00::/8", err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    cr_assert_str_eq(ip(p, "203.0.113.5", "1.2.3.4"), "203.0.113.5",
                     "an untrusted peer's header is ignored");
    cr_assert_str_eq(ip(p, "10.1.2.3", "1.2.3.4"), "1.2.3.4");
    cr_assert_str_eq(ip(p, "10.1.2.3", "6.6.6.6, 1.2.3.4"), "1.2.3.4",
                     "the client's own claim is ignored");
    cr_assert_str_eq(ip(p, "10.1.2.3", "1.2.3.4, 10.9.9.9"), "1.2.3.4", "trusted hops are skipped");
    cr_assert_str_eq(ip(p, "192.168.1.7", "10.0.0.1, 10.0.0.2"), "10.0.0.1",
                     "all trusted: left-most");
    cr_assert_str_eq(ip(p, "fd00::1", "2001:db8::5"), "2001:db8::5");
    cr_assert_str_eq(ip(p, "10.1.2.3", "garbage, 1.2.3.4"), "1.2.3.4");
    cr_assert_str_eq(ip(p, "10.1.2.3", "1.2.3.4, garbage"), "10.1.2.3",
                     "an invalid hop ends the walk");
    cr_assert_str_eq(ip(p, "10.1.2.3", NULL), "10.1.2.3");
    cr_assert_str_eq(ip(p, "192.168.1.8", "1.2.3.4"), "192.168.1.8", "a /32 entry is exact");
    cm_proxies_free(p);
    p = cm_proxies_parse(NULL, err, sizeof(err));
    cr_assert_str_eq(ip(p, "10.1.2.3", "1.2.3.4"), "10.1.2.3", "no proxies: never believed");
    cm_proxies_free(p);
}

Test(clientip, bad_lists)
{
    const char *bad[] = {"10.0.0.0/33", "nonsense", "10.0.0.0/", "1.2.3.4/x", "::1/129"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        cr_assert_null(cm_proxies_parse(bad[i], err, sizeof(err)), "accepted %s", bad[i]);
        cr_assert_gt(strlen(err), 0);
    }
}
