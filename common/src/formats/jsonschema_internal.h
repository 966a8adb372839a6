/* jsonschema_internal: what the parts of the JSON Schema validator share (jsonschema_compile.c
 * compiles, jsonschema.c validates, jsonschema_format.c checks formats, jsonschema_values.c
 * compares values, jsonschema_meta.c holds the meta-schemas): a compiled schema and its node table.
 * Not for other modules. */
#ifndef CM_JSONSCHEMA_INTERNAL_H
#define CM_JSONSCHEMA_INTERNAL_H

#include "cm/jsonschema.h"
#include "cm/regex.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_DEPTH 128

struct slot {
    const json_t *node;
    char *base;                   /* base URI in effect at this node */
    const json_t *target;         /* resolved $ref, when the node has one */
    struct cm_json_set *enum_set; /* its enum's values by hash, when it has many; owned */
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

/* JSON values as JSON Schema compares them (jsonschema_values.c), counting their work in *nodes
 * (a node visited, or 64 bytes of a string): equality (cm_json_equal_values); a hash that equal
 * values share; and a set of an array's items by it, with room for all of them (added by index,
 * at most once each). */
int jsonschema_equal_counted(const json_t *a, const json_t *b, size_t *nodes);
uint64_t jsonschema_value_hash(const json_t *v, size_t *nodes);

struct jsonschema_vslot {
    uint64_t hash;
    size_t index;
    int used;
};

struct jsonschema_vset {
    const json_t *arr; /* borrowed */
    struct jsonschema_vslot *slots;
    size_t cap;
};

void jsonschema_vset_init(struct jsonschema_vset *set, const json_t *arr);
void jsonschema_vset_free(struct jsonschema_vset *set);
void jsonschema_vset_add(struct jsonschema_vset *set, size_t index, uint64_t h);
/* The index of the first added item equal to v (of hash h), or -1; the comparisons' work is
 * counted in *nodes. */
long jsonschema_vset_find(const struct jsonschema_vset *set, const json_t *v, uint64_t h,
                          size_t *nodes);

/* cm_json_set: a vset of all the array's items. */
struct cm_json_set {
    struct jsonschema_vset v;
};

#endif
