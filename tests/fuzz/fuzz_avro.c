/* fuzz_avro: libFuzzer target for Avro schemas and values: a schema, a newline, a JSON value.
 * Parses the schema, validates the value and encodes it in the wire format. */
#include "cm/avro.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t slen = nl ? (size_t)(nl - data) : size;
    char *text = malloc(slen + 1);
    memcpy(text, data, slen);
    text[slen] = '\0';
    char err[256];
    struct cm_avro_schema *s = cm_avro_schema_new(text, err, sizeof(err));
    free(text);
    if (!s) {
        return 0;
    }
    json_t *v =
        nl ? json_loadb((const char *)nl + 1, size - slen - 1, JSON_DECODE_ANY, NULL) : NULL;
    if (v) {
        json_t *errors = json_array();
        cm_avro_validate(s, v, NULL, errors, 20);
        json_decref(errors);
        size_t len;
        unsigned char *b = cm_avro_encode(s, v, 7, &len, err, sizeof(err));
        free(b);
        json_decref(v);
    }
    cm_avro_schema_free(s);
    return 0;
}
