/* fuzz_jsonw: differential libFuzzer target for common/jsonw: whatever jansson parses (any value,
 * NUL bytes in strings allowed) is written by cm_json_dumps and by cm_json_dumpb into a small
 * buffer with the same bytes; those are byte for byte what json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) writes when the value holds no real, and otherwise read back (by jansson) as a
 * value equal to it, no longer than jansson's text (reals take their shortest form). A difference
 * aborts. */
#include "cm/jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_real(const json_t *v)
{
    if (json_is_real(v)) {
        return 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (has_real(json_array_get(v, i))) {
                return 1;
            }
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (has_real(m)) {
                return 1;
            }
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v) {
        return 0;
    }
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = cm_json_dumps(v, &len);
    char small[64];
    size_t n = cm_json_dumpb(v, small, sizeof(small));
    if (want) {
        if (!got || n != len || (n <= sizeof(small) && memcmp(small, got, n) != 0)) {
            abort();
        }
        if (!has_real(v)) {
            if (len != strlen(want) || memcmp(got, want, len) != 0) {
                abort();
            }
        } else {
            json_t *back = json_loadb(got, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (!back || !json_equal(back, v) || len > strlen(want)) {
                abort();
            }
            json_decref(back);
        }
    }
    free(want);
    free(got);
    json_decref(v);
    return 0;
}
