/* fuzz_reg_schema: libFuzzer target for the registry's handling of schemas that users POST: a
 * flags byte, then [referenced schema '\n'] existing schema '\n' candidate schema. The flags pick
 * the type (Avro or JSON Schema), the compatibility level, normalization and the lenient JSON
 * policy. A referenced schema defines named types (Avro) or the document "ref.json" (JSON), as
 * the registry's references do. Each schema is parsed (validation, normalized text, canonical
 * form, hash) and the candidate checked against the existing one. Findings are crashes,
 * sanitizer reports and leaks. */
#include "../../services/registry/reg_avro.h"
#include "../../services/registry/reg_schema.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next '\n'-ended part of [*p, end) as a string (caller frees); NULL past the end. */
static char *next_part(const char **p, const char *end)
{
    if (*p > end) {
        return NULL;
    }
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(len + 1);
    memcpy(s, *p, len);
    s[len] = '\0';
    *p = nl ? nl + 1 : end + 1;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t flags = data[0];
    enum reg_type type = (flags & 1) ? REG_JSON : REG_AVRO;
    enum reg_level level = (enum reg_level)((flags >> 1) % 7);
    int normalize = (flags >> 4) & 1, lenient = (flags >> 5) & 1;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    char *parts[3] = {NULL, NULL, NULL};
    size_t n = 0;
    while (n < 3 && (parts[n] = next_part(&p, end)) != NULL) {
        n++;
    }
    if (n == 0) {
        return 0;
    }
    json_t *named = json_object();
    json_t *refs = NULL;
    size_t first = 0;
    char err[256];
    if (n == 3) { /* a referenced schema */
        first = 1;
        refs = json_pack("[{s:s, s:s, s:i}]", "name", "ref.json", "subject", "ref", "version", 1);
        if (type == REG_AVRO) {
            json_t *ref = reg_avro_parse(parts[0], NULL, err, sizeof(err));
            if (ref) {
                reg_avro_collect_named(ref, named);
                json_decref(ref);
            }
        } else {
            json_t *doc = json_loads(parts[0], JSON_DECODE_ANY, NULL);
            if (doc) {
                json_object_set_new(named, "ref.json", doc);
            }
        }
    }
    struct reg_schema existing, candidate;
    int have_existing = 0, have_candidate = 0;
    if (n - first == 2) {
        have_existing = reg_schema_parse(type, parts[first], refs, named, normalize, &existing, err,
                                         sizeof(err)) == 0;
    }
    have_candidate = reg_schema_parse(type, parts[n - 1], refs, named, normalize, &candidate, err,
                                      sizeof(err)) == 0;
    if (have_candidate) {
        const struct reg_schema *list[1] = {&existing};
        json_t *messages = json_array();
        reg_compat_check(level, &candidate, list, have_existing ? 1 : 0, named, lenient, messages);
        json_decref(messages);
        if (type == REG_AVRO) {
            free(reg_avro_canonical_form(candidate.parsed));
        }
        reg_schema_clear(&candidate);
    }
    if (have_existing) {
        reg_schema_clear(&existing);
    }
    json_decref(refs);
    json_decref(named);
    for (size_t i = 0; i < n; i++) {
        free(parts[i]);
    }
    return 0;
}
