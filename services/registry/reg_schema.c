/* reg_schema: parsing, hashing and compatibility levels (see reg_schema.h). */
#include "reg_schema.h"

#include "reg_avro.h"
#include "reg_json.h"

#include "cm/jsonschema.h"
#include "cm/jsonw.h"
#include "cm/mem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *level_names[] = {"NONE",           "BACKWARD",           "BACKWARD_TRANSITIVE",
                                    "FORWARD",        "FORWARD_TRANSITIVE", "FULL",
                                    "FULL_TRANSITIVE"};

int reg_type_parse(const char *name, enum reg_type *out)
{
    if (!name || !*name || strcmp(name, "AVRO") == 0) {
        *out = REG_AVRO;
        return 0;
    }
    if (strcmp(name, "JSON") == 0) {
        *out = REG_JSON;
        return 0;
    }
    return strcmp(name, "PROTOBUF") == 0 ? -2 : -1;
}

const char *reg_type_name(enum reg_type t)
{
    return t == REG_JSON ? "JSON" : "AVRO";
}

int reg_level_parse(const char *name, enum reg_level *out)
{
    for (size_t i = 0; name && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum reg_level)i;
            return 0;
        }
    }
    return -1;
}

const char *reg_level_name(enum reg_level l)
{
    return level_names[l];
}

static void sha256_hex(const char *const *parts, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1); /* the NUL separates the parts */
    }
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

static int references_ok(const json_t *refs, char *err, size_t errlen)
{
    if (!refs) {
        return 1;
    }
    if (!json_is_array(refs)) {
        snprintf(err, errlen, "references must be an array");
        return 0;
    }
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        if (!json_is_string(json_object_get(r, "name")) ||
            !json_is_string(json_object_get(r, "subject")) ||
            !json_is_integer(json_object_get(r, "version"))) {
            snprintf(err, errlen, "references[%zu] needs name, subject and version", i);
            return 0;
        }
    }
    return 1;
}

int reg_schema_parse(enum reg_type type, const char *text, const json_t *references,
                     const json_t *named, int normalize, struct reg_schema *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->type = type;
    if (!text) {
        snprintf(err, errlen, "schema is missing");
        return -1;
    }
    if (!references_ok(references, err, errlen)) {
        return -1;
    }
    out->parsed = type == REG_AVRO ? reg_avro_parse(text, named, err, errlen)
                                   : reg_json_parse(text, err, errlen);
    if (!out->parsed) {
        return -1;
    }
    if (type == REG_JSON) {
        /* valid against its meta-schema, and every keyword, pattern and $ref (local, to a
         * reference or to a meta-schema) must compile */
        struct cm_jsonschema *check = NULL;
        if (cm_jsonschema_check(out->parsed, err, errlen) != 0 ||
            !(check = cm_jsonschema_compile(out->parsed, named, err, errlen))) {
            json_decref(out->parsed);
            out->parsed = NULL;
            return -1;
        }
        cm_jsonschema_free(check);
    }
    out->references = references ? json_deep_copy(references) : json_array();
    char *dedupe;
    if (type == REG_AVRO) {
        json_t *n = reg_avro_normalize(out->parsed);
        dedupe = json_dumps(n, JSON_COMPACT | JSON_ENCODE_ANY);
        if (normalize) {
            json_decref(out->parsed);
            out->parsed = n;
        } else {
            json_decref(n);
        }
    } else {
        dedupe = reg_json_normalized_text(out->parsed);
    }
    /* the text answered for the schema: reals as written (cm_json_dumps: 0.1, where jansson
     * writes 0.10000000000000001); the normalized text keeps jansson's, as the hash has it */
    out->text =
        normalize && type == REG_JSON ? cm_xstrdup(dedupe) : cm_json_dumps(out->parsed, NULL);
    if (!out->text) { /* nested past cm_json_dumps' bound */
        out->text = json_dumps(out->parsed, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    char *refs = json_dumps(out->references, JSON_COMPACT | JSON_SORT_KEYS);
    const char *parts[] = {reg_type_name(type), dedupe, refs};
    sha256_hex(parts, 3, out->hash_hex);
    free(refs);
    free(dedupe);
    return 0;
}

void reg_schema_clear(struct reg_schema *s)
{
    json_decref(s->parsed);
    json_decref(s->references);
    free(s->text);
    memset(s, 0, sizeof(*s));
}

/* reader can read what writer wrote */
static int can_read(const struct reg_schema *reader, const struct reg_schema *writer,
                    const json_t *named, int lenient, json_t *messages)
{
    if (reader->type != writer->type) {
        if (messages) {
            json_array_append_new(messages, json_string("schema types differ"));
        }
        return 0;
    }
    return reader->type == REG_AVRO
               ? reg_avro_can_read(reader->parsed, writer->parsed, named, messages)
               : reg_json_can_read(reader->parsed, writer->parsed, lenient, named, messages);
}

int reg_compat_check(enum reg_level level, const struct reg_schema *candidate,
                     const struct reg_schema *const *existing, size_t n, const json_t *named,
                     int lenient, json_t *messages)
{
    if (level == REG_NONE || n == 0) {
        return 1;
    }
    int transitive = level == REG_BACKWARD_TRANSITIVE || level == REG_FORWARD_TRANSITIVE ||
                     level == REG_FULL_TRANSITIVE;
    int backward = level != REG_FORWARD && level != REG_FORWARD_TRANSITIVE;
    int forward = level != REG_BACKWARD && level != REG_BACKWARD_TRANSITIVE;
    size_t upto = transitive ? n : 1;
    int ok = 1;
    for (size_t i = 0; i < upto; i++) {
        if (backward) {
            ok &= can_read(candidate, existing[i], named, lenient, messages);
        }
        if (forward) {
            ok &= can_read(existing[i], candidate, named, lenient, messages);
        }
    }
    return ok;
}
