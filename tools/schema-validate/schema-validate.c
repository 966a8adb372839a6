/* schema-validate: `schema-validate --schema FILE [--type JSON|AVRO]` reads NDJSON instances on
 * standard input and prints one line per instance: `valid`, or the errors ("pointer: message",
 * separated by "; "). For users checking data against a schema and for conformance runs.
 * Exit status: 0 when every instance is valid, 1 when some are not, 2 for bad usage or a schema
 * that does not compile. */
#include "cm/avro.h"
#include "cm/jsonschema.h"
#include "cm/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA (16 * 1024 * 1024)

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --schema FILE [--type JSON|AVRO] < instances.ndjson\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *type = "JSON";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
            type = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    int avro = strcmp(type, "AVRO") == 0;
    if (!path || (!avro && strcmp(type, "JSON") != 0)) {
        return usage(argv[0]);
    }
    char err[512];
    size_t len;
    char *text = cm_file_read(path, MAX_SCHEMA, &len, err, sizeof(err));
    if (!text) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct cm_jsonschema *js = NULL;
    struct cm_avro_schema *as = NULL;
    if (avro) {
        as = cm_avro_schema_new(text, err, sizeof(err));
    } else {
        json_error_t jerr;
        json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (!doc) {
            snprintf(err, sizeof(err), "schema is not JSON: %s", jerr.text);
        } else {
            js = cm_jsonschema_compile(doc, NULL, err, sizeof(err));
        }
        json_decref(doc);
    }
    free(text);
    if (!js && !as) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 2;
    }
    int status = 0;
    char *line = NULL;
    size_t cap = 0;
    long n;
    while ((n = cm_read_line(stdin, &line, &cap)) >= 0) {
        json_error_t jerr;
        json_t *inst = json_loadb(line, (size_t)n, JSON_DECODE_ANY, &jerr);
        if (!inst) {
            printf("invalid JSON at column %d: %s\n", jerr.column, jerr.text);
            status = 1;
            continue;
        }
        json_t *errors = json_array();
        int ok = js ? cm_jsonschema_validate(js, inst, NULL, errors, 20)
                    : cm_avro_validate(as, inst, NULL, errors, 20);
        if (ok) {
            printf("valid\n");
        } else {
            status = 1;
            size_t i;
            json_t *e;
            json_array_foreach(errors, i, e)
            {
                printf("%s%s", i ? "; " : "", json_string_value(e));
            }
            printf("\n");
        }
        json_decref(errors);
        json_decref(inst);
    }
    free(line);
    cm_jsonschema_free(js);
    cm_avro_schema_free(as);
    return status;
}
