/* fuzz_jscan_load: differential libFuzzer target for cm_jscan_load against jansson: whatever the
 * bytes, it must give what json_loadb(JSON_REJECT_DUPLICATES) gives: NULL for both, or values
 * that are equal and written out the same (members in the same order, reals to the same
 * digits). A difference aborts. */
#include "cm/jsonscan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so reading past them is caught */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    json_t *want = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *got = cm_jscan_load(text, size);
    if (!want != !got) {
        abort();
    }
    if (want) {
        char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!json_equal(want, got) || !a || !b || strcmp(a, b) != 0) {
            abort();
        }
        free(a);
        free(b);
    }
    json_decref(want);
    json_decref(got);
    free(text);
    return 0;
}
