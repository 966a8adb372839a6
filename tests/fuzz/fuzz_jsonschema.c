/* fuzz_jsonschema: libFuzzer target for the JSON Schema validator: a schema, a newline, an
 * instance. Compiles the schema (with a referenced document) and validates the instance,
 * collecting errors, then again in what is left of a budget both walks share. Findings are crashes,
 * sanitizer reports and leaks. */
#include "cm/jsonschema.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t slen = nl ? (size_t)(nl - data) : size;
    json_t *schema = json_loadb((const char *)data, slen, JSON_DECODE_ANY, NULL);
    if (!schema) {
        return 0;
    }
    json_t *inst =
        nl ? json_loadb((const char *)nl + 1, size - slen - 1, JSON_DECODE_ANY, NULL) : NULL;
    json_t *docs =
        json_loads("{\"other.json\":{\"definitions\":{\"n\":{\"type\":\"number\"}}}}", 0, NULL);
    char err[256];
    struct cm_jsonschema *s = cm_jsonschema_compile(schema, docs, err, sizeof(err));
    if (s) {
        json_t *errors = json_array();
        /* a budget shared with a second walk, small enough that some inputs run out of it */
        size_t budget = 1 + size * 16;
        cm_jsonschema_validate_budget(s, inst ? inst : json_null(), "/data", errors, 50, &budget);
        cm_jsonschema_validate_budget(s, inst ? inst : json_null(), NULL, NULL, 0, &budget);
        json_decref(errors);
        cm_jsonschema_free(s);
    }
    json_decref(docs);
    json_decref(inst);
    json_decref(schema);
    return 0;
}
