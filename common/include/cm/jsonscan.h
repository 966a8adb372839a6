/* jsonscan: checks JSON text and finds the spans of values, object members and array elements
 * without building values (the gateway's fast lane splices text instead of parsing it into
 * jansson and writing it out again). Strict RFC 8259 with jansson's reading: UTF-8 checked,
 * no control characters in strings, no trailing commas, duplicate keys refused (as
 * json_loadb with JSON_REJECT_DUPLICATES does).
 *
 * The contract with jansson, checked by a differential fuzzer: a document the scanner accepts
 * and does not mark `unsure`, json_loadb(JSON_REJECT_DUPLICATES) accepts too and reads to the
 * same values; a document the scanner calls invalid, jansson refuses. What only jansson can
 * decide (a \u0000 or surrogate escape, an escaped key that may repeat another, an integer past
 * 18 digits or a number that may overflow, objects with more keys than the scanner tracks) is
 * marked `unsure`: hand that text to jansson. */
#ifndef CM_JSONSCAN_H
#define CM_JSONSCAN_H

#include <stddef.h>

#define CM_JSCAN_MAX_DEPTH 64 /* deeper documents are left to jansson (CM_JSCAN_TOO_DEEP) */
#define CM_JSCAN_MAX_KEYS 64  /* keys per object checked for duplicates; more: unsure */

enum {
    CM_JSCAN_INVALID = -1,  /* not JSON (jansson refuses it too) */
    CM_JSCAN_TOO_DEEP = -2, /* nests deeper than CM_JSCAN_MAX_DEPTH: let jansson decide */
    CM_JSCAN_TOO_MANY = -3  /* more elements or members than the caller has room for */
};

/* A value found in the text. Objects and arrays span their brackets; strings span what is
 * between the quotes (their text is their value unless `escaped`). */
struct cm_jscan_member;

struct cm_jscan_span {
    const char *text;
    size_t len;
    char type;             /* 'o' object, 'a' array, 's' string, 'n' number, 't', 'f', 'z' null */
    unsigned char escaped; /* a string holding backslash escapes */
    unsigned char integer; /* a number without fraction or exponent */
    unsigned char unsure;  /* jansson may refuse it or read it differently: see above */
    /* an array element that is an object, when cm_jscan_array had room to gather its members
     * (else NULL: split it with cm_jscan_members) */
    const struct cm_jscan_member *members;
    size_t nmembers;
};

struct cm_jscan_member {
    struct cm_jscan_span key, value;
};

/* Scans a whole document: one value with nothing but whitespace around it. Returns 0 with *v
 * set, or CM_JSCAN_INVALID / CM_JSCAN_TOO_DEEP. */
int cm_jscan_document(const char *text, size_t len, struct cm_jscan_span *v);

/* Scans a document that is an array and fills elems with its elements (each with its own unsure
 * flag). With a pool (members, room for pool_max; may be NULL), the members of elements that are
 * objects are gathered on the way, as long as there is room (elems[i].members), saving a second
 * pass. Returns 0 with *n set, CM_JSCAN_TOO_MANY past max elements, or an error above; also
 * CM_JSCAN_INVALID when the document is not an array. */
int cm_jscan_array(const char *text, size_t len, struct cm_jscan_span *elems, size_t max, size_t *n,
                   struct cm_jscan_member *pool, size_t pool_max);

/* Splits an object span found by a scan above into its members, in order, without checking the
 * text again (given other text it stays within it but its spans mean nothing). Member values'
 * `unsure` is not set (the object's is what counts). Returns 0 with *n set, or
 * CM_JSCAN_TOO_MANY past max members (or CM_JSCAN_INVALID when obj is not an object). */
int cm_jscan_members(const struct cm_jscan_span *obj, struct cm_jscan_member *m, size_t max,
                     size_t *n);

/* Reads a document exactly as json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) does (the
 * same values, members in the same order, NULL for what jansson refuses, scalars at the top
 * included), faster: a checked document is built into values from its text directly; what the
 * scanner leaves to jansson goes to json_loadb. Numbers are read in the C locale. */
struct json_t;
struct json_t *cm_jscan_load(const char *text, size_t len);

#endif
