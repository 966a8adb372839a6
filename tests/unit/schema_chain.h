/* schema_chain: the JSON Schema documents the registry's compatibility tests and the validator's
 * tests build their chains of definitions in: definitions d0, d1, ... and a root naming d0. */
#ifndef SCHEMA_CHAIN_H
#define SCHEMA_CHAIN_H

#include <jansson.h>
#include <stdio.h>

/* The document's text (caller frees): defs (taken), plus d<levels> = {"type": leaf} unless leaf
 * is NULL. */
static inline char *schema_chain_text(json_t *defs, int levels, const char *leaf)
{
    if (leaf) {
        char name[16];
        snprintf(name, sizeof(name), "d%d", levels);
        json_object_set_new(defs, name, json_pack("{s:s}", "type", leaf));
    }
    json_t *root = json_pack("{s:o, s:s}", "definitions", defs, "$ref", "#/definitions/d0");
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

#endif
