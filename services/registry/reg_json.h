/* reg_json: JSON Schemas for the registry: parsing, the normalized serialization used for
 * deduplication (keys sorted at every level), and compatibility by Confluent's rules: a reader
 * schema is compatible with a writer schema when every instance the writer accepts, the reader
 * accepts too, judged structurally (types, open/closed/partially open content models, properties
 * and required lists, numeric and length constraints, enums, combined schemas, local $refs).
 * Pure functions over jansson values; thread-safe. */
#ifndef REG_JSON_H
#define REG_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Parses schema text: an object or a boolean. Returns a new reference or NULL with err set. */
json_t *reg_json_parse(const char *text, char *err, size_t errlen);

/* Compact serialization with object keys sorted at every level (caller frees). */
char *reg_json_normalized_text(const json_t *schema);

/* Whether every instance valid under `writer` is valid under `reader`. One message per
 * incompatibility goes to `messages` (may be NULL). `lenient` allows adding optional properties
 * to an open content model (Confluent's LENIENT policy). `documents` (may be NULL) maps
 * reference names to the referenced schemas, for $refs that leave the document. Returns 1 when
 * compatible. */
int reg_json_can_read(const json_t *reader, const json_t *writer, int lenient,
                      const json_t *documents, json_t *messages);

#endif
