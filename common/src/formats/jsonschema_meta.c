/* jsonschema_meta: the JSON Schema meta-schemas (draft-07, 2019-09 and its vocabularies) known
 * offline, so a $ref to them resolves without a network and the registry can check a schema
 * against its meta-schema. Their text is the one Debian's python3-jsonschema ships, embedded at
 * build time (scripts/gen-metaschemas.sh writes metaschemas.inc into the build tree). */
#include "jsonschema_internal.h"

#include "cm/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metaschemas.inc"

static json_t *known;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    known = json_object();
    for (size_t i = 0; i < sizeof(metaschema_texts) / sizeof(metaschema_texts[0]); i++) {
        json_error_t jerr;
        json_t *doc = json_loads(metaschema_texts[i].text, 0, &jerr);
        if (!doc) { /* the build embedded something that is not JSON: a build defect */
            CM_LOG_ERROR("metaschema_invalid", "%s: %s", metaschema_texts[i].uri, jerr.text);
            abort();
        }
        json_object_set_new(known, metaschema_texts[i].uri, doc);
    }
}

const json_t *cm_jsonschema_metaschemas(void)
{
    pthread_once(&once, load);
    return known;
}

/* The meta-schemas compiled once each (draft-07, 2019-09), for cm_jsonschema_check. */
static struct cm_jsonschema *compiled[2];
static pthread_once_t compiled_once = PTHREAD_ONCE_INIT;

static void compile_metas(void)
{
    static const char *const uris[2] = {"http://json-schema.org/draft-07/schema",
                                        "https://json-schema.org/draft/2019-09/schema"};
    for (int i = 0; i < 2; i++) {
        char err[256];
        compiled[i] = cm_jsonschema_compile(json_object_get(cm_jsonschema_metaschemas(), uris[i]),
                                            NULL, err, sizeof(err));
        if (!compiled[i]) {
            CM_LOG_ERROR("metaschema_invalid", "%s does not compile: %s", uris[i], err);
            abort();
        }
    }
}

int cm_jsonschema_check(const json_t *schema, char *err, size_t errlen)
{
    const char *dialect = cm_jsonschema_dialect(schema);
    if (!dialect) {
        snprintf(err, errlen,
                 "$schema: '%.120s' is not a dialect this registry knows (draft-07 or 2019-09)",
                 json_is_string(json_object_get(schema, "$schema"))
                     ? json_string_value(json_object_get(schema, "$schema"))
                     : "(not a string)");
        return -1;
    }
    pthread_once(&compiled_once, compile_metas);
    const struct cm_jsonschema *meta = compiled[strstr(dialect, "2019-09") ? 1 : 0];
    json_t *errors = json_array();
    int ok = cm_jsonschema_validate(meta, schema, NULL, errors, 3);
    if (!ok) {
        size_t used =
            (size_t)snprintf(err, errlen, "not valid against its meta-schema (%s):", dialect);
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            if (used < errlen) {
                used += (size_t)snprintf(err + used, errlen - used, "%s %s", i ? ";" : "",
                                         json_string_value(e));
            }
        }
    }
    json_decref(errors);
    return ok ? 0 : -1;
}
