/* reg_store_refs: a schema's references resolved from the stored versions they name (each read
 * once per resolution), into what its parsing and compatibility need: Avro named types by full
 * name, JSON Schema documents by reference name. */
#include "reg_avro.h"
#include "reg_store_int.h"

#include "cm/mem.h"
#include "cm/pg.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_REFERENCE_DEPTH 10

/* Resolves refs into named; `fetched` holds what this resolution has read already ("subject\n
 * version" -> [type, text], its own references resolved), so a schema that several others name
 * is read once, not once per path: four-way diamonds ten levels deep were 4^10 lookups, and a
 * registration held its thread and connection for hours. */
static enum reg_status resolve_refs(struct cm_pg *pg, const json_t *refs, json_t *named,
                                    json_t *fetched, int depth, char *err, size_t errlen)
{
    if (depth > MAX_REFERENCE_DEPTH) {
        snprintf(err, errlen, "references nest more than %d levels", MAX_REFERENCE_DEPTH);
        return REG_E_INVALID_SCHEMA;
    }
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *subject = json_string_value(json_object_get(r, "subject"));
        int version = (int)json_integer_value(json_object_get(r, "version"));
        char *key = cm_xasprintf("%s\n%d", subject ? subject : "", version);
        const json_t *known = json_object_get(fetched, key);
        enum reg_status s = REG_OK;
        if (!known) {
            struct reg_version v;
            s = store_get_version(pg, subject, version, 0, &v);
            if (s != REG_OK) {
                snprintf(err, errlen, "reference '%s' version %d not found", subject, version);
                free(key);
                return reg_store_failed(s) ? s : REG_E_INVALID_SCHEMA;
            }
            s = resolve_refs(pg, v.references, named, fetched, depth + 1, err, errlen);
            if (s == REG_OK && v.type == REG_AVRO) { /* its named types, once */
                json_t *parsed = reg_avro_parse(v.schema, named, err, errlen);
                if (parsed) {
                    reg_avro_collect_named(parsed, named);
                    json_decref(parsed);
                }
            }
            if (s == REG_OK) {
                json_object_set_new(fetched, key, json_pack("[i,s]", (int)v.type, v.schema));
                known = json_object_get(fetched, key);
            }
            reg_version_clear(&v);
        }
        free(key);
        if (s != REG_OK) {
            return s;
        }
        if (json_integer_value(json_array_get(known, 0)) == REG_JSON) {
            /* JSON Schema: the document, under each name a reference gives it */
            const char *name = json_string_value(json_object_get(r, "name"));
            json_t *parsed =
                json_loads(json_string_value(json_array_get(known, 1)), JSON_DECODE_ANY, NULL);
            if (name && parsed) {
                json_object_set_new(named, name, parsed);
            } else {
                json_decref(parsed);
            }
        }
    }
    return REG_OK;
}

enum reg_status store_resolve_refs(struct cm_pg *pg, const json_t *refs, json_t *named, int depth,
                                   char *err, size_t errlen)
{
    json_t *fetched = json_object();
    enum reg_status s = resolve_refs(pg, refs, named, fetched, depth, err, errlen);
    json_decref(fetched);
    return s;
}

enum reg_status reg_store_resolve_references(struct reg_store *st, const json_t *references,
                                             json_t *named, char *err, size_t errlen)
{
    if (json_array_size(references) == 0) {
        return REG_OK;
    }
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    enum reg_status s = store_resolve_refs(pg, references, named, 0, err, errlen);
    store_give(st, pg);
    return s;
}
