/* reg_schema: one registered schema as the registry handles it: its type (AVRO or JSON), the
 * parsed document, the text it is stored and served as, its references, and the SHA-256 that
 * identifies duplicates (of the normalized form plus references, so formatting and key order do
 * not make a new schema). Also the compatibility levels and their checks across versions. */
#ifndef REG_SCHEMA_H
#define REG_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

enum reg_type { REG_AVRO, REG_JSON };

enum reg_level {
    REG_NONE,
    REG_BACKWARD,
    REG_BACKWARD_TRANSITIVE,
    REG_FORWARD,
    REG_FORWARD_TRANSITIVE,
    REG_FULL,
    REG_FULL_TRANSITIVE
};

struct reg_schema {
    enum reg_type type;
    json_t *parsed;     /* owned */
    char *text;         /* owned: the form stored and served */
    json_t *references; /* owned: [{"name","subject","version"}], possibly empty */
    char hash_hex[65];
};

/* "AVRO"/"JSON" (NULL or "" = AVRO). Returns 0, or -1 for an unknown type and -2 for PROTOBUF
 * (known but not supported). */
int reg_type_parse(const char *name, enum reg_type *out);
const char *reg_type_name(enum reg_type t);
int reg_level_parse(const char *name, enum reg_level *out);
const char *reg_level_name(enum reg_level l);

/* Parses and validates `text` of `type`; `named` (may be NULL, borrowed) holds what references
 * define: Avro named types by full name, JSON Schema documents by reference name; `references` (a
 * JSON array or NULL) is copied. With `normalize`, the stored text is the normalized form. Returns
 * 0 with *out filled (release with reg_schema_clear), or -1 with the reason in err. */
int reg_schema_parse(enum reg_type type, const char *text, const json_t *references,
                     const json_t *named, int normalize, struct reg_schema *out, char *err,
                     size_t errlen);
void reg_schema_clear(struct reg_schema *s);

/* Checks `candidate` against the subject's live versions (`existing`, newest first, same type)
 * under `level`. Appends messages naming each incompatibility. Returns 1 when compatible. */
int reg_compat_check(enum reg_level level, const struct reg_schema *candidate,
                     const struct reg_schema *const *existing, size_t n, const json_t *named,
                     int lenient, json_t *messages);

#endif
