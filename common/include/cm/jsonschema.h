/* jsonschema: a JSON Schema validator over jansson: draft-07 (every keyword, $ref to local
 * pointers, $id-based identifiers and referenced documents, the draft-07 and 2019-09
 * meta-schemas known offline, $recursiveRef as the 2019-09 meta-schema uses it, formats date-time,
 * date, time, email, hostname, ipv4, ipv6, uri, uri-reference, uuid, regex, json-pointer) plus the
 * 2019-09/2020-12 keywords that fit cleanly ($defs, dependentRequired, dependentSchemas,
 * minContains, maxContains). Compile once (index identifiers, compile every pattern with PCRE2),
 * validate many times; a compiled schema is immutable and safe to share between threads. Errors
 * name the failing place as a JSON pointer into the instance: "/items/0/price: must be >= 0". */
#ifndef CM_JSONSCHEMA_H
#define CM_JSONSCHEMA_H

#include <jansson.h>
#include <stddef.h>

struct cm_jsonschema;

/* Compiles `schema` (copied). `documents` (may be NULL) maps absolute URIs to schema documents
 * that $ref may point into (registered references); copied. Returns NULL with the reason in err
 * (an invalid pattern, a $ref that resolves nowhere, a schema that is not an object or bool). */
struct cm_jsonschema *cm_jsonschema_compile(const json_t *schema, const json_t *documents,
                                            char *err, size_t errlen);
void cm_jsonschema_free(struct cm_jsonschema *s);

/* Validates instance. Returns 1 when valid; otherwise 0 and, when errors is non-NULL, appends up
 * to max_errors strings "pointer: message" to it (pointers prefixed with `prefix`, may be NULL). */
int cm_jsonschema_validate(const struct cm_jsonschema *s, const json_t *instance,
                           const char *prefix, json_t *errors, size_t max_errors);
/* The same, with a budget of steps that several validations share (the values of one request):
 * the walk takes the steps it used from *budget. A value costs at most 1,000,000 steps of its own
 * (0 past them: its schema is too costly for any value); when *budget runs out first, returns
 * CM_E_TOOBIG ("not validated: the budget ... is spent" in errors): the value is neither valid
 * nor invalid, only not checked. */
int cm_jsonschema_validate_budget(const struct cm_jsonschema *s, const json_t *instance,
                                  const char *prefix, json_t *errors, size_t max_errors,
                                  size_t *budget);

/* The meta-schemas known offline: an object from URI (no fragment: "http://json-schema.org/
 * draft-07/schema", "https://json-schema.org/draft/2019-09/schema" and its vocabularies) to
 * document. Every compiled schema can $ref them; borrowed, immutable, lives for the process. */
const json_t *cm_jsonschema_metaschemas(void);
/* The meta-schema URI for a schema's "$schema" (draft-07 when absent), or NULL when the schema
 * names a dialect this validator does not know. */
const char *cm_jsonschema_dialect(const json_t *schema);

/* Checks a schema against the meta-schema of its dialect ($schema; draft-07 when absent). 0, or
 * -1 with the dialect and the first failures ("/properties/a/minLength: must be >= 0") in err
 * (also for a $schema this validator does not know). Thread-safe. */
int cm_jsonschema_check(const json_t *schema, char *err, size_t errlen);

/* JSON equality as JSON Schema defines it (1 equals 1.0). */
int cm_json_equal_values(const json_t *a, const json_t *b);

/* A set of an array's items under that equality, looked up by hash (time linear in the values,
 * not their product). The array is borrowed and must outlive the set; not changed meanwhile. */
struct cm_json_set;
struct cm_json_set *cm_json_set_new(const json_t *array);
/* 1 when the set holds a value equal to v. */
int cm_json_set_has(const struct cm_json_set *set, const json_t *v);
void cm_json_set_free(struct cm_json_set *set);

#endif
