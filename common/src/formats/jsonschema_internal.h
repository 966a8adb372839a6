/* jsonschema_internal: what the parts of the JSON Schema validator share (jsonschema_compile.c
 * compiles, jsonschema.c validates, jsonschema_format.c checks formats, jsonschema_meta.c holds
 * the meta-schemas): a compiled schema and its node table. Not for other modules. */
#ifndef CM_JSONSCHEMA_INTERNAL_H
#define CM_JSONSCHEMA_INTERNAL_H

#include "cm/jsonschema.h"
#include "cm/regex.h"

#include <jansson.h>
#include <stddef.h>

#define MAX_DEPTH 128

struct slot {
    const json_t *node;
    char *base;           /* base URI in effect at this node */
    const json_t *target; /* resolved $ref, when the node has one */
};

struct cm_jsonschema {
    json_t *root;  /* owned copy */
    json_t *docs;  /* owned copy of the referenced documents */
    json_t *index; /* absolute URI (or URI#anchor) -> node (borrowed into root/docs) */
    struct slot *slots;
    size_t cap, count;
    json_t *patterns; /* pattern text -> integer index into codes */
    struct cm_regex **codes;
    size_t ncodes;
    char err[256];
    int failed;
};

/* The node table's entry for a schema node, or NULL. */
struct slot *jsonschema_slot_find(const struct cm_jsonschema *s, const json_t *node);

/* 1 when the URI reference u starts with a scheme ("http:"). */
int jsonschema_has_scheme(const char *u);
/* 1 when v satisfies format fmt (formats not known are satisfied). */
int jsonschema_format_ok(const char *fmt, const char *v);

#endif
