/* jcs: the JSON Canonicalization Scheme (RFC 8785), the bytes producer signatures are made over.
 * Object members sorted by their names' UTF-16 code units, no whitespace, strings escaped as
 * ECMAScript's JSON.stringify does (only '"', '\\' and control characters; \b \f \n \r \t, other
 * controls as \u00xx), and every number written as ECMAScript writes an IEEE 754 double (the
 * shortest digits that read back to the same double; exponent form below 1e-6 and from 1e21;
 * -0 as 0), integers included, as I-JSON has it. Pure functions; thread-safe. */
#ifndef CM_JCS_H
#define CM_JCS_H

#include <jansson.h>
#include <stddef.h>

/* The canonical form of v (NUL-terminated, caller frees) with its length in *len; NULL when a
 * number is not finite or v nests deeper than 512 levels. */
char *cm_jcs(const json_t *v, size_t *len);

/* A double as ECMAScript's Number.prototype.toString writes it, into out (at least 32 bytes);
 * returns the length. v must be finite. */
size_t cm_jcs_number(double v, char *out);

#endif
