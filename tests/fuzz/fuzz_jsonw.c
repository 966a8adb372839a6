/* fuzz_jsonw: differential libFuzzer target for common/jsonw: whatever jansson parses (any value,
 * NUL bytes in strings allowed) must be written byte for byte as json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) writes it, by cm_json_dumps and by cm_json_dumpb into a small buffer. A
 * difference aborts. */
#include "cm/jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if (want && (!got || len != strlen(want) || memcmp(got, want, len) != 0 || n != len ||
                 (n <= sizeof(small) && memcmp(small, want, n) != 0))) {
        abort();
    }
    free(want);
    free(got);
    json_decref(v);
    return 0;
}
