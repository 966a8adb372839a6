/* Unit tests of the WebSocket handshake key (cm_ws_accept_key): RFC 6455's example and a table of
 * hostile Sec-WebSocket-Key values, each refused. */
#include "cm/ws.h"

#include <criterion/criterion.h>
#include <string.h>

Test(ws, accept_key_of_the_rfc_example)
{
    char out[29];
    cr_assert_eq(cm_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(ws, hostile_keys_are_refused)
{
    static const char *bad[] = {
        "",                            /* empty */
        "dGhlIHNhbXBsZSBub25jZQ=",     /* 23 characters */
        "dGhlIHNhbXBsZSBub25jZQ===",   /* 25 characters */
        "dGhlIHNhbXBsZSBub25jZQAA",    /* 18 bytes, no padding */
        "dGhlIHNhbXBsZSBub25j!Q==",    /* not base64 */
        "dGhlIHNhbXBsZSBub25j\nQ==",   /* control character */
        "dGhlIHNhbXBsZSBub25jZQ=\xff", /* high byte */
        "====================dQ==",    /* padding first */
        "dGhlIHNhbXBsZSBub25jZQ== ",   /* trailing space */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[29];
        cr_assert_eq(cm_ws_accept_key(bad[i], out), -1, "key %zu accepted", i);
    }
    char out[29];
    cr_assert_eq(cm_ws_accept_key(NULL, out), -1);
}
