/* avro: JSON values checked against an Avro schema (Avro's JSON encoding: unions as
 * {"type": value} or null, bytes and fixed as strings of code points 0..255, record field
 * defaults applied) and encoded to Avro binary with avro-c, optionally in Confluent's wire format
 * (magic byte 0, 4-byte big-endian schema id, payload). A compiled schema is immutable; each call
 * builds its own values, so it is safe to share between threads. */
#ifndef CM_AVRO_H
#define CM_AVRO_H

#include <jansson.h>
#include <stddef.h>

struct cm_avro_schema;

/* The largest fixed type accepted (bytes): libavro allocates a fixed's size for each value. */
#define CM_AVRO_FIXED_MAX (1024 * 1024)

/* Parses an Avro schema (a self-contained one: references resolved into the text). NULL with the
 * reason in err, also for what avro-c accepts but cannot hold: a record that holds itself through
 * fields that are neither unions, arrays nor maps (no value of it is finite), and a fixed type of
 * a size below 0 or above CM_AVRO_FIXED_MAX. Free with cm_avro_schema_free. */
struct cm_avro_schema *cm_avro_schema_new(const char *text, char *err, size_t errlen);
void cm_avro_schema_free(struct cm_avro_schema *s);
/* Whether avro-c's own parser accepts the schema text (a self-contained one) and it is usable
 * (as cm_avro_schema_new), without compiling it: 0, or CM_E_INVAL with the reason in err. The
 * registry asks it as a second opinion. */
int cm_avro_schema_check(const char *text, char *err, size_t errlen);
/* The same for a schema that uses named types defined elsewhere (Confluent schema references):
 * named maps each full name to its schema (JSON); the first use of a referenced name is replaced
 * by its definition (recursively, a referenced schema may use others) and later uses stay
 * names, so avro-c sees one self-contained schema. */
struct cm_avro_schema *cm_avro_schema_new_with_refs(const char *text, const json_t *named,
                                                    char *err, size_t errlen);

/* Checks value; returns 1 when it conforms, else 0 with up to max_errors "pointer: message"
 * strings appended to errors (may be NULL), pointers prefixed with prefix (may be NULL). */
int cm_avro_validate(const struct cm_avro_schema *s, const json_t *value, const char *prefix,
                     json_t *errors, size_t max_errors);

/* Encodes value (which must conform) to Avro binary. schema_id >= 0 adds Confluent's 5-byte
 * header. Returns a malloc'd buffer (caller frees) with *len, or NULL with err set. */
unsigned char *cm_avro_encode(const struct cm_avro_schema *s, const json_t *value, int schema_id,
                              size_t *len, char *err, size_t errlen);

#endif
