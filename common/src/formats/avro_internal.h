/* avro_internal: what the two halves of the Avro module share (avro_schema.c parses and indexes a
 * schema, avro.c walks values over it): the compiled schema and helpers over avro-c's schemas.
 * Not for other modules; with those two files the only place that includes avro.h. */
#ifndef CM_AVRO_INTERNAL_H
#define CM_AVRO_INTERNAL_H

#include "cm/avro.h"

#include <avro.h>
#include <jansson.h>

#define MAX_DEPTH 64
/* Room for a branch's full name (longer ones are cut, and match no value). */
#define AVRO_NAME_MAX 256

struct cm_avro_schema {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    json_t *defaults; /* "fullname\nfield" -> default value */
    json_t *branches; /* "<union>\n<name>" -> branch index (avro_union_branch) */
};

/* t with links followed to the named type they stand for. */
avro_schema_t avro_deref(avro_schema_t t);
/* The name a union branch is written with in Avro's JSON encoding (full name of a named type). */
void avro_branch_name(avro_schema_t b, char *buf, size_t len);
/* The index of union u's first branch whose full or short name is name ("null" for the null
 * branch), or -1. */
int avro_union_branch(const struct cm_avro_schema *s, avro_schema_t u, const char *name);

#endif
