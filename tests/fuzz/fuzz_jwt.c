/* fuzz_jwt: libFuzzer target for bearer-token checks (cm_auth): an input starting with '{' is a
 * JWKS document given to cm_auth_new (key parsing and JWK-to-PEM conversion); any other input is
 * a token, verified (header, kid selection, signature, claims, the verified-token cache) against
 * an HS256 secret and a fixed JWKS with an RSA and an EC P-256 key. Crashes, sanitizer reports
 * and leaks are findings; refusals are the expected outcome. */
#include "cm/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* public keys only (made once with Node's crypto): a test fixture, no secret */
static const char *JWKS =
    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"l7BuDtAvi2bZ0Xwb_"
    "HHqXe4HEqGVuyV0rQtMzBo5ukcfRThaZCFRLYH0NfiFSbDCbipB1orW94fkDOCFAE1L8AVnQUDWGdC8XWrCw6sSbYRRTCx"
    "vUUPYnW-fYUebJplx1JZeUMiBS6r84caPCpeLnm60VCAM8ZcQ1EPO8bAaefhZEdpHi0sJ20sTK42UiDsnggCpHZFQrE-"
    "j5SL_8t9faDcsIKMw4HpyI9NRkNzKNlIEIJXXb569_YfGKlCx22TakLlXE8Gi_3WIYC7RTpwzmkKKP3o_8-"
    "WQvylHkZZxbVDeSg1tzyJYmL2Fy1IpGAJVDztBn1TjCFG_VWb8l3ED1w\",\"e\":\"AQAB\",\"kid\":\"r1\","
    "\"use\":\"sig\"},{\"kty\":\"EC\",\"x\":\"5O3dJR9p_rjQM5CSUR9WDjVn_ZxdrvGWzWzhw03fkWw\",\"y\":"
    "\"X3KWj5Fuoi9JakPoMSlULuGtq0RwCw2sk_YXODjsU4k\",\"crv\":\"P-256\",\"kid\":\"e1\",\"alg\":"
    "\"ES256\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cm_auth *auth;
    if (!auth) {
        struct cm_auth_config c = {
            "fuzz-secret-0123456789abcdef0123456789", "iss", "aud", 30, "tenant", NULL, JWKS, 64};
        char err[256];
        auth = cm_auth_new(&c, err, sizeof(err));
        if (!auth) {
            abort();
        }
    }
    if (size > 16384) {
        return 0;
    }
    char *text = malloc(size + 8);
    if (size > 0 && data[0] == '{') {
        memcpy(text, data, size);
        text[size] = '\0';
        struct cm_auth_config c = {NULL, NULL, NULL, 0, "tenant", NULL, text, 0};
        char err[256];
        cm_auth_free(cm_auth_new(&c, err, sizeof(err)));
    } else {
        memcpy(text, "Bearer ", 7);
        memcpy(text + 7, data, size);
        text[size + 7] = '\0';
        struct cm_principal p;
        char why[128];
        cm_auth_verify(auth, text, 1795397331LL, &p, why, sizeof(why));
    }
    free(text);
    return 0;
}
