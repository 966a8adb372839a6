/* jsonw: compact JSON text of jansson values (and their RFC 8785 canonical form), byte for byte
 * what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes except for reals, about five times
 * faster. A real takes the fewest significant digits that read back to the same double (0.1 where
 * jansson writes 0.10000000000000001, which PostgreSQL's numeric and jsonb keep as another number
 * than the client sent), in jansson's form otherwise (1e-7, 1e20, 3.0). Jansson 2.14's dump
 * formats and hashes the address of every object and array it visits (cycle detection), which
 * costs more than parsing the same document. Values built by parsing or by the JSON API are
 * trees, so no cycle check is needed; depth is bounded instead. Pure functions, thread-safe. */
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

/* A JSON text written piece by piece, without building a jansson tree first (window results,
 * checkpoints): the same bytes cm_json_dumps writes for the same values in the same order.
 * Separators are placed by the writer; nesting is bounded by CM_JW_MAX_DEPTH (deeper is a
 * programming error: abort). Zero-initialise, write, then take the text or reset to reuse the
 * buffer; cm_jw_free releases it. */
#define CM_JW_MAX_DEPTH 32
struct cm_jw {
    char *buf;
    size_t len, cap;
    unsigned depth;
    char open[CM_JW_MAX_DEPTH];          /* '{' or '[' per open level */
    unsigned char some[CM_JW_MAX_DEPTH]; /* a member or element written at that level */
    int after_key;                       /* a member's name was written, its value is due */
};
void cm_jw_object(struct cm_jw *w);
void cm_jw_array(struct cm_jw *w);
void cm_jw_end(struct cm_jw *w); /* closes the innermost object or array */
void cm_jw_key(struct cm_jw *w, const char *name);
void cm_jw_string(struct cm_jw *w, const char *s);
void cm_jw_stringn(struct cm_jw *w, const char *s, size_t n);
void cm_jw_int(struct cm_jw *w, long long v);
void cm_jw_real(struct cm_jw *w, double v); /* as a jansson real (non-finite: null) */
void cm_jw_null(struct cm_jw *w);
void cm_jw_bool(struct cm_jw *w, int v);
void cm_jw_value(struct cm_jw *w, const json_t *v); /* a jansson value, as cm_json_dumps */
/* The text written so far (NUL-terminated, owned by w until reset or free). */
const char *cm_jw_text(struct cm_jw *w, size_t *len);
void cm_jw_reset(struct cm_jw *w); /* empty again, keeping the buffer */
void cm_jw_free(struct cm_jw *w);

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
