/* jsonw: compact JSON text of jansson values (and their RFC 8785 canonical form), byte for byte
 * what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes, about five times faster:
 * jansson 2.14's dump formats and hashes the address of every object and array it visits (cycle
 * detection), which costs more than parsing the same document. Values built by parsing or by the
 * JSON API are trees, so no cycle check is needed; depth is bounded instead. Pure functions,
 * thread-safe. */
#ifndef CM_JSONW_H
#define CM_JSONW_H

#include <jansson.h>
#include <stddef.h>

/* The text of v, NUL-terminated (caller frees), length in *len (may be NULL). NULL when v is
 * NULL or nested deeper than 2048 levels. */
char *cm_json_dumps(const json_t *v, size_t *len);
/* The text into buf (not NUL-terminated) when it fits: returns its length, larger than cap when
 * it did not fit (then nothing useful is in buf); 0 when v is NULL or too deep. */
size_t cm_json_dumpb(const json_t *v, char *buf, size_t cap);

/* The JSON Canonicalization Scheme (RFC 8785) form of v, the bytes producer signatures are made
 * over: members sorted by their names' UTF-16 code units, no whitespace, strings escaped as
 * ECMAScript's JSON.stringify does ('"', '\\', controls; \u00xx in lower case), and every number
 * written as ECMAScript writes an IEEE 754 double (the shortest digits that read back to it;
 * exponent form below 1e-6 and from 1e21; -0 as 0), integers included, as I-JSON has it.
 * NUL-terminated (caller frees), length in *len; NULL when a number is not finite or v is too
 * deep. */
char *cm_json_dumps_canonical(const json_t *v, size_t *len);
/* A double as ECMAScript's Number.prototype.toString writes it, into out (at least 32 bytes);
 * returns the length. v must be finite. */
size_t cm_json_number_canonical(double v, char *out);

#endif
