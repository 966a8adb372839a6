/* fuzz_jcs: libFuzzer target for RFC 8785 canonicalization (cm_json_dumps_canonical) and the Basic
 * credentials parser (cm_basic_verify). The input, when jansson reads it as JSON, is canonicalized;
 * the canonical form must read back as JSON and canonicalize to itself (a fixed point: signing and
 * verifying agree). The input is also tried as an Authorization header against a users file.
 * Crashes, sanitizer reports and leaks are findings. */
#include "cm/basicauth.h"
#include "cm/jsonw.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cm_basic_users *users;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!users) {
        char err[256];
        /* openssl passwd -6 -salt Qx7Lp2aZ 'ci-secret' */
        users = cm_basic_users_parse(
            "ci:$6$Qx7Lp2aZ$xT0LDMBrGhJwqPff.mCdhYU9AG9tQaPlIH11dsfJjETb9QrIAbUL/WgGwcvkkeewfD."
            "WXRHt/pZHJfgzw8l/T1:acme:schema:read\n",
            "users", err, sizeof(err));
    }
    json_t *v =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (v) {
        size_t len;
        char *canon = cm_json_dumps_canonical(v, &len);
        if (canon) {
            json_t *back = json_loadb(canon, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
            if (!back) {
                abort(); /* the canonical form is not JSON */
            }
            size_t len2;
            char *again = cm_json_dumps_canonical(back, &len2);
            if (!again || len2 != len || memcmp(again, canon, len) != 0) {
                abort(); /* not a fixed point */
            }
            free(again);
            json_decref(back);
            free(canon);
        }
        json_decref(v);
    }
    if (size < 2048 && !memchr(data, '\0', size)) {
        char *header = malloc(size + 7);
        memcpy(header, "Basic ", 6);
        memcpy(header + 6, data, size);
        header[size + 6] = '\0';
        struct cm_principal who;
        char why[200];
        (void)cm_basic_verify(users, header, &who, why, sizeof(why));
        free(header);
    }
    return 0;
}
