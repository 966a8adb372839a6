/* reg_avro: Avro schemas for the registry: validation (avro-c parses every schema that has no
 * references; the structural checks here cover the rest), the normalized form used for
 * deduplication and `normalize=true`, the Parsing Canonical Form of the Avro specification, and
 * reader/writer compatibility by the specification's resolution rules (promotions, unions,
 * defaults, aliases, enum defaults). Pure functions over jansson values; thread-safe. */
#ifndef REG_AVRO_H
#define REG_AVRO_H

#include <jansson.h>
#include <stddef.h>

/* Parses and validates schema text. `named` (may be NULL) is an object of named types from
 * references (fullname -> definition), borrowed. Returns the parsed schema (caller decrefs) or
 * NULL with the reason in err. */
json_t *reg_avro_parse(const char *text, const json_t *named, char *err, size_t errlen);

/* The normalized form: named types fully qualified, primitives written as plain names, keys in a
 * fixed order; docs, defaults, aliases and other attributes kept. Returns a new reference. */
json_t *reg_avro_normalize(const json_t *schema);

/* The Parsing Canonical Form (compact text; caller frees). */
char *reg_avro_canonical_form(const json_t *schema);

/* Whether data written with `writer` can be read with `reader`. Appends one message per
 * incompatibility to `messages` (a JSON array, may be NULL). Both schemas' named types may be
 * completed by `named` (from references; may be NULL). Returns 1 when compatible. */
int reg_avro_can_read(const json_t *reader, const json_t *writer, const json_t *named,
                      json_t *messages);

/* Collects the named types a parsed schema defines (fullname -> definition) into `out`. */
void reg_avro_collect_named(const json_t *schema, json_t *out);

#endif
