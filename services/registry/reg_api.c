/* reg_api: the Confluent Schema Registry REST API over reg_store (see reg_api.h): subjects and
 * versions, schemas by id, compatibility checks, config and mode, with Confluent's error codes
 * and messages and exactly the fields Confluent answers with. */
#include "reg_api.h"

#include "reg_cache.h"
#include "reg_schema.h"
#include "reg_store.h"

#include "cm/auth.h"
#include "cm/config.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

static void respond(struct cm_http_req *req, int status, json_t *body)
{
    size_t len;
    char *text = cm_json_dumps(body, &len);
    json_decref(body);
    cm_http_respond(req, status, CONTENT_TYPE, text, len);
    free(text);
}

static void fail(struct cm_http_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct cm_http_req *req, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    respond(req, code >= 10000 ? code / 100 : code, cm_http_error_body(code, msg));
}

/* The standard message for a store status, in Confluent's words. */
static void fail_status(struct cm_http_req *req, enum reg_status s, const char *subject,
                        const char *version)
{
    subject = subject ? subject : "";
    version = version ? version : "";
    switch (s) {
    case REG_E_SUBJECT_NOT_FOUND:
        fail(req, s, "Subject '%s' not found.", subject);
        break;
    case REG_E_VERSION_NOT_FOUND:
        fail(req, s, "Version %s not found.", version);
        break;
    case REG_E_SCHEMA_NOT_FOUND:
        fail(req, s, "Schema not found");
        break;
    case REG_E_SUBJECT_SOFT_DELETED:
        fail(req, s, "Subject '%s' was soft deleted.Set permanent=true to delete permanently",
             subject);
        break;
    case REG_E_SUBJECT_NOT_SOFT_DELETED:
        fail(req, s, "Subject '%s' was not deleted first before being permanently deleted",
             subject);
        break;
    case REG_E_VERSION_SOFT_DELETED:
        fail(req, s,
             "Subject '%s' Version %s was soft deleted.Set permanent=true to delete permanently",
             subject, version);
        break;
    case REG_E_VERSION_NOT_SOFT_DELETED:
        fail(req, s,
             "Subject '%s' Version %s was not deleted first before being permanently deleted",
             subject, version);
        break;
    case REG_E_SUBJECT_LEVEL_NOT_FOUND:
        fail(req, s, "Subject '%s' does not have subject-level compatibility configured", subject);
        break;
    case REG_E_SUBJECT_MODE_NOT_FOUND:
        fail(req, s, "Subject '%s' does not have subject-level mode configured", subject);
        break;
    case REG_E_NOT_PERMITTED:
        fail(req, s, "Operation not permitted: subject '%s' is not writable in its mode", subject);
        break;
    case REG_E_REFERENCE_EXISTS:
        fail(req, s, "One or more references exist to the schema");
        break;
    case REG_E_ID_MISMATCH:
        fail(req, s, "The given id is already used by a different schema");
        break;
    case REG_E_INVALID_MODE:
        fail(req, s, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT");
        break;
    default:
        fail(req, REG_E_BACKEND, "Error in the backend data store");
        break;
    }
}

static struct reg_store *store_of(void *ud)
{
    return ((struct reg_api *)ud)->store;
}

/* Responds with a cached body when there is one. */
static int from_cache(struct cm_http_req *req, void *ud, const char *key, size_t keylen)
{
    int status;
    char *body = reg_cache_get(((struct reg_api *)ud)->cache, key, keylen, &status);
    if (!body) {
        return 0;
    }
    cm_http_respond(req, status, CONTENT_TYPE, body, strlen(body));
    free(body);
    return 1;
}

/* Responds 200 with body and keeps it in the cache under key (takes body). */
static void respond_cached(struct cm_http_req *req, void *ud, const char *key, size_t keylen,
                           json_t *body)
{
    size_t len;
    char *text = cm_json_dumps(body, &len);
    json_decref(body);
    reg_cache_put(((struct reg_api *)ud)->cache, key, keylen, text, 200);
    cm_http_respond(req, 200, CONTENT_TYPE, text, len);
    free(text);
}

/* ---- request helpers ---- */

static int content_type_ok(struct cm_http_req *req)
{
    static const char *ok[] = {"application/vnd.schemaregistry.v1+json",
                               "application/vnd.schemaregistry+json", "application/json",
                               "application/octet-stream"};
    const char *ct = cm_http_header(req, "Content-Type");
    if (!ct || !*ct) {
        return 1;
    }
    size_t len = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strlen(ok[i]) == len && strncasecmp(ct, ok[i], len) == 0) {
            return 1;
        }
    }
    fail(req, 415, "Unsupported Media Type: %.*s", (int)len, ct);
    return 0;
}

/* Parses the JSON body (an object); responds and returns NULL on error. */
static json_t *body_object(struct cm_http_req *req)
{
    if (!content_type_ok(req)) {
        return NULL;
    }
    size_t len;
    const char *text = cm_http_body(req, &len);
    json_error_t err;
    json_t *body = json_loadb(text, len, 0, &err);
    if (!json_is_object(body)) {
        fail(req, 400, "Invalid request body: %s", body ? "expected a JSON object" : err.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

static int flag(struct cm_http_req *req, const char *name)
{
    const char *v = cm_http_query(req, name);
    int b = 0;
    return v && cm_parse_bool(v, &b) == 0 && b;
}

static int subject_ok(struct cm_http_req *req, const char *subject)
{
    if (!subject || !*subject || strlen(subject) > 255) {
        fail(req, 42208, "The specified subject is not valid");
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++) {
        if (*p < 0x20 || *p == 0x7F) {
            fail(req, 42208, "The specified subject is not valid");
            return 0;
        }
    }
    return 1;
}

/* "latest", -1 or 1..2^31-1; responds 42202 otherwise. */
static int version_param(struct cm_http_req *req, int *version)
{
    const char *v = cm_http_param(req, "version");
    if (strcmp(v, "latest") == 0 || strcmp(v, "-1") == 0) {
        *version = REG_LATEST;
        return 1;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (*v && !*end && !errno && n >= 1 && n <= 2147483647L && v[0] != '+' && v[0] != '0') {
        *version = (int)n;
        return 1;
    }
    fail(req, 42202,
         "The specified version '%s' is not a valid version id. Allowed values are between [1, "
         "2^31-1] and the string \"latest\"",
         v);
    return 0;
}

/* Reads schema, schemaType and references from body, resolves references and parses. */
static int schema_from_body(struct cm_http_req *req, struct reg_store *st, const json_t *body,
                            json_t *named, struct reg_schema *out)
{
    const json_t *schema = json_object_get(body, "schema");
    const json_t *type = json_object_get(body, "schemaType");
    const json_t *refs = json_object_get(body, "references");
    enum reg_type t;
    if (!json_is_string(schema)) {
        fail(req, 42201, "Invalid schema: \"schema\" must be a string");
        return 0;
    }
    if (type && !json_is_string(type)) {
        fail(req, 42201, "Invalid schema: \"schemaType\" must be a string");
        return 0;
    }
    int rc = reg_type_parse(json_string_value(type), &t);
    if (rc == -2) {
        fail(req, 42201, "Invalid schema: schema type PROTOBUF is not supported by this registry");
        return 0;
    }
    if (rc != 0) {
        fail(req, 42201, "Invalid schema: unknown schema type '%.40s'", json_string_value(type));
        return 0;
    }
    if (refs && !json_is_null(refs) && !json_is_array(refs)) {
        fail(req, 42201, "Invalid schema: \"references\" must be an array");
        return 0;
    }
    char err[512];
    if (json_is_array(refs)) {
        size_t i;
        const json_t *r;
        json_array_foreach(refs, i, r)
        {
            if (!json_is_string(json_object_get(r, "subject")) ||
                !json_is_integer(json_object_get(r, "version"))) {
                fail(req, 42201, "Invalid schema: references[%zu] needs subject and version", i);
                return 0;
            }
        }
        enum reg_status s = reg_store_resolve_references(st, refs, named, err, sizeof(err));
        if (s == REG_E_BACKEND) {
            fail_status(req, s, NULL, NULL);
            return 0;
        }
        if (s != REG_OK) {
            fail(req, 42201, "Invalid schema: %s", err);
            return 0;
        }
    }
    if (reg_schema_parse(t, json_string_value(schema), json_is_array(refs) ? refs : NULL, named,
                         flag(req, "normalize"), out, err, sizeof(err)) != 0) {
        fail(req, 42201, "Invalid schema: %s", err);
        return 0;
    }
    return 1;
}

/* The body of a subject-version answer: subject, version, id, schemaType (when not AVRO),
 * references (when any), schema. */
static json_t *version_json(const struct reg_version *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "subject", json_string(v->subject));
    json_object_set_new(o, "version", json_integer(v->version));
    json_object_set_new(o, "id", json_integer(v->id));
    if (v->type != REG_AVRO) {
        json_object_set_new(o, "schemaType", json_string(reg_type_name(v->type)));
    }
    if (json_array_size(v->references) > 0) {
        json_object_set(o, "references", v->references);
    }
    json_object_set_new(o, "schema", json_string(v->schema));
    return o;
}

/* ---- subjects ---- */

static void h_list_subjects(struct cm_http_req *req, void *ud)
{
    json_t *out = NULL;
    enum reg_status s = reg_store_list_subjects(store_of(ud), cm_http_query(req, "subjectPrefix"),
                                                flag(req, "deleted"), &out);
    if (s != REG_OK) {
        fail_status(req, s, NULL, NULL);
        return;
    }
    /* offset and limit, as newer Confluent releases page this list */
    const char *off = cm_http_query(req, "offset"), *lim = cm_http_query(req, "limit");
    long offset = off ? atol(off) : 0, limit = lim ? atol(lim) : -1;
    if (offset > 0 || limit >= 0) {
        json_t *page = json_array();
        for (size_t i = offset > 0 ? (size_t)offset : 0;
             i < json_array_size(out) && (limit < 0 || (long)json_array_size(page) < limit); i++) {
            json_array_append(page, json_array_get(out, i));
        }
        json_decref(out);
        out = page;
    }
    respond(req, 200, out);
}

static void h_list_versions(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    json_t *out = NULL;
    enum reg_status s = reg_store_list_versions(store_of(ud), subject, flag(req, "deleted"), &out);
    if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
        return;
    }
    respond(req, 200, out);
}

static void h_register(struct cm_http_req *req, void *ud)
{
    struct reg_store *st = store_of(ud);
    const char *subject = cm_http_param(req, "subject");
    if (!subject_ok(req, subject)) {
        return;
    }
    json_t *body = body_object(req);
    if (!body) {
        return;
    }
    json_t *named = json_object();
    struct reg_schema schema;
    if (schema_from_body(req, st, body, named, &schema)) {
        const json_t *jid = json_object_get(body, "id");
        const json_t *jver = json_object_get(body, "version");
        int import_id = json_is_integer(jid) ? (int)json_integer_value(jid) : 0;
        int import_version = json_is_integer(jver) ? (int)json_integer_value(jver) : 0;
        json_t *messages = json_array();
        int id = 0, version = 0;
        enum reg_status s = reg_store_register(st, subject, &schema, named, import_id,
                                               import_version, &id, &version, messages);
        if (s == REG_OK) {
            respond(req, 200, json_pack("{s:i}", "id", id));
        } else if (s == REG_E_INCOMPATIBLE) {
            char *details = json_dumps(messages, JSON_COMPACT);
            fail(req, 409,
                 "Schema being registered is incompatible with an earlier schema for subject "
                 "\"%s\", details: %s",
                 subject, details);
            free(details);
        } else {
            fail_status(req, s, subject, NULL);
        }
        json_decref(messages);
        reg_schema_clear(&schema);
    }
    json_decref(named);
    json_decref(body);
}

static void h_get_version(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    int version;
    if (!version_param(req, &version)) {
        return;
    }
    struct reg_version v;
    enum reg_status s =
        reg_store_get_version(store_of(ud), subject, version, flag(req, "deleted"), &v);
    if (s != REG_OK) {
        fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    respond(req, 200, version_json(&v));
    reg_version_clear(&v);
}

static void h_get_version_schema(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    int version;
    if (!version_param(req, &version)) {
        return;
    }
    struct reg_version v;
    enum reg_status s =
        reg_store_get_version(store_of(ud), subject, version, flag(req, "deleted"), &v);
    if (s != REG_OK) {
        fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    cm_http_respond(req, 200, CONTENT_TYPE, v.schema, strlen(v.schema));
    reg_version_clear(&v);
}

static void h_referenced_by(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    int version;
    if (!version_param(req, &version)) {
        return;
    }
    json_t *out = NULL;
    enum reg_status s = reg_store_referenced_by(store_of(ud), subject, version, &out);
    if (s != REG_OK) {
        fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    respond(req, 200, out);
}

static void h_lookup(struct cm_http_req *req, void *ud)
{
    struct reg_store *st = store_of(ud);
    const char *subject = cm_http_param(req, "subject");
    /* serializers send the same request again and again: key the cache by the raw request */
    size_t blen;
    const char *raw = cm_http_body(req, &blen);
    char *key = cm_xasprintf("lookup\n%s\n%d%d\n%.*s", subject, flag(req, "deleted"),
                             flag(req, "normalize"), (int)blen, raw);
    if (from_cache(req, ud, key, strlen(key))) { /* only 200 answers to accepted types are kept */
        free(key);
        return;
    }
    json_t *body = body_object(req);
    if (!body) {
        free(key);
        return;
    }
    json_t *named = json_object();
    struct reg_schema schema;
    if (schema_from_body(req, st, body, named, &schema)) {
        struct reg_version v;
        enum reg_status s = reg_store_lookup(st, subject, &schema, flag(req, "deleted"), &v);
        if (s == REG_OK) {
            respond_cached(req, ud, key, strlen(key), version_json(&v));
            reg_version_clear(&v);
        } else {
            fail_status(req, s, subject, NULL);
        }
        reg_schema_clear(&schema);
    }
    json_decref(named);
    json_decref(body);
    free(key);
}

static void h_delete_subject(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    json_t *out = NULL;
    enum reg_status s =
        reg_store_delete_subject(store_of(ud), subject, flag(req, "permanent"), &out);
    reg_cache_clear(((struct reg_api *)ud)->cache);
    if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
        return;
    }
    respond(req, 200, out);
}

static void h_delete_version(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    int version;
    if (!version_param(req, &version)) {
        return;
    }
    json_t *out = NULL;
    enum reg_status s =
        reg_store_delete_version(store_of(ud), subject, version, flag(req, "permanent"), &out);
    reg_cache_clear(((struct reg_api *)ud)->cache);
    if (s != REG_OK) {
        fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    respond(req, 200, out);
}

/* ---- schemas ---- */

static int id_param(struct cm_http_req *req, int *id)
{
    const char *v = cm_http_param(req, "id");
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < 1 || n > 2147483647L) {
        fail(req, 40403, "Schema %.40s not found", v);
        return 0;
    }
    *id = (int)n;
    return 1;
}

static void h_schema_by_id(struct cm_http_req *req, void *ud)
{
    int id;
    if (!id_param(req, &id)) {
        return;
    }
    char key[32];
    int keylen = snprintf(key, sizeof(key), "id\n%d", id);
    if (from_cache(req, ud, key, (size_t)keylen)) {
        return;
    }
    struct reg_version v;
    enum reg_status s = reg_store_get_schema(store_of(ud), id, &v);
    if (s != REG_OK) {
        if (s == REG_E_SCHEMA_NOT_FOUND) {
            fail(req, s, "Schema %d not found", id);
        } else {
            fail_status(req, s, NULL, NULL);
        }
        return;
    }
    json_t *o = json_object();
    if (v.type != REG_AVRO) {
        json_object_set_new(o, "schemaType", json_string(reg_type_name(v.type)));
    }
    if (json_array_size(v.references) > 0) {
        json_object_set(o, "references", v.references);
    }
    json_object_set_new(o, "schema", json_string(v.schema));
    respond_cached(req, ud, key, (size_t)keylen, o);
    reg_version_clear(&v);
}

static void h_schema_text_by_id(struct cm_http_req *req, void *ud)
{
    int id;
    if (!id_param(req, &id)) {
        return;
    }
    struct reg_version v;
    enum reg_status s = reg_store_get_schema(store_of(ud), id, &v);
    if (s == REG_E_SCHEMA_NOT_FOUND) {
        fail(req, s, "Schema %d not found", id);
    } else if (s != REG_OK) {
        fail_status(req, s, NULL, NULL);
    } else {
        cm_http_respond(req, 200, CONTENT_TYPE, v.schema, strlen(v.schema));
        reg_version_clear(&v);
    }
}

static void schema_usage(struct cm_http_req *req, void *ud, int versions)
{
    int id;
    if (!id_param(req, &id)) {
        return;
    }
    json_t *out = NULL;
    enum reg_status s =
        reg_store_schema_usage(store_of(ud), id, versions, flag(req, "deleted"), &out);
    if (s == REG_E_SCHEMA_NOT_FOUND) {
        fail(req, s, "Schema %d not found", id);
    } else if (s != REG_OK) {
        fail_status(req, s, NULL, NULL);
    } else {
        respond(req, 200, out);
    }
}

static void h_schema_subjects(struct cm_http_req *req, void *ud)
{
    schema_usage(req, ud, 0);
}

static void h_schema_versions(struct cm_http_req *req, void *ud)
{
    schema_usage(req, ud, 1);
}

static void h_schema_types(struct cm_http_req *req, void *ud)
{
    (void)ud;
    respond(req, 200, json_pack("[s,s]", "JSON", "AVRO"));
}

/* ---- compatibility ---- */

static void compat(struct cm_http_req *req, struct reg_store *st, int all_versions)
{
    const char *subject = cm_http_param(req, "subject");
    int version = 0;
    if (!all_versions && !version_param(req, &version)) {
        return;
    }
    json_t *body = body_object(req);
    if (!body) {
        return;
    }
    json_t *named = json_object();
    struct reg_schema schema;
    if (schema_from_body(req, st, body, named, &schema)) {
        json_t *messages = json_array();
        int ok = 0;
        enum reg_status s =
            reg_store_test_compat(st, subject, version, &schema, named, &ok, messages);
        if (s == REG_OK) {
            json_t *o = json_pack("{s:b}", "is_compatible", ok);
            if (flag(req, "verbose")) {
                json_object_set(o, "messages", messages);
            }
            respond(req, 200, o);
        } else {
            fail_status(req, s, subject, all_versions ? NULL : cm_http_param(req, "version"));
        }
        json_decref(messages);
        reg_schema_clear(&schema);
    }
    json_decref(named);
    json_decref(body);
}

static void h_compat_version(struct cm_http_req *req, void *ud)
{
    compat(req, store_of(ud), 0);
}

static void h_compat_all(struct cm_http_req *req, void *ud)
{
    compat(req, store_of(ud), 1);
}

/* ---- config and mode ---- */

static void config_get(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    enum reg_level l;
    int found = 0;
    enum reg_status s = reg_store_get_level(st, subject, &l, &found);
    if (s == REG_OK && subject && !found && flag(req, "defaultToGlobal")) {
        s = reg_store_get_level(st, NULL, &l, &found);
        found = 1;
    }
    if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
    } else if (subject && !found) {
        fail_status(req, REG_E_SUBJECT_LEVEL_NOT_FOUND, subject, NULL);
    } else {
        respond(req, 200, json_pack("{s:s}", "compatibilityLevel", reg_level_name(l)));
    }
}

static void config_put(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    json_t *body = body_object(req);
    if (!body) {
        return;
    }
    const char *value = json_string_value(json_object_get(body, "compatibility"));
    enum reg_level l;
    char upper[40] = "";
    for (size_t i = 0; value && value[i] && i < sizeof(upper) - 1; i++) {
        upper[i] = (char)((value[i] >= 'a' && value[i] <= 'z') ? value[i] - 32 : value[i]);
        upper[i + 1] = '\0';
    }
    if (!value || reg_level_parse(upper, &l) != 0) {
        fail(req, 42203,
             "Invalid compatibility level. Valid values are none, backward, forward, full, "
             "backward_transitive, forward_transitive, and full_transitive");
    } else {
        enum reg_status s = reg_store_set_level(st, subject, l);
        if (s != REG_OK) {
            fail_status(req, s, subject, NULL);
        } else {
            respond(req, 200, json_pack("{s:s}", "compatibility", reg_level_name(l)));
        }
    }
    json_decref(body);
}

static void config_delete(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    enum reg_level l;
    int found = 0;
    enum reg_status s = reg_store_get_level(st, subject, &l, &found);
    if (s == REG_OK && subject && !found) {
        s = REG_E_SUBJECT_LEVEL_NOT_FOUND;
    }
    if (s == REG_OK) {
        s = reg_store_delete_level(st, subject);
    }
    if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
        return;
    }
    respond(req, 200, json_pack("{s:s}", "compatibilityLevel", reg_level_name(l)));
}

static void h_config_get(struct cm_http_req *req, void *ud)
{
    config_get(req, store_of(ud), NULL);
}
static void h_config_put(struct cm_http_req *req, void *ud)
{
    config_put(req, store_of(ud), NULL);
}
static void h_config_delete(struct cm_http_req *req, void *ud)
{
    config_delete(req, store_of(ud), NULL);
}
static void h_subject_config_get(struct cm_http_req *req, void *ud)
{
    config_get(req, store_of(ud), cm_http_param(req, "subject"));
}
static void h_subject_config_put(struct cm_http_req *req, void *ud)
{
    if (subject_ok(req, cm_http_param(req, "subject"))) {
        config_put(req, store_of(ud), cm_http_param(req, "subject"));
    }
}
static void h_subject_config_delete(struct cm_http_req *req, void *ud)
{
    config_delete(req, store_of(ud), cm_http_param(req, "subject"));
}

static void mode_get(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    const char *mode;
    int found = 0;
    enum reg_status s = reg_store_get_mode(st, subject, &mode, &found);
    if (s == REG_OK && subject && !found && flag(req, "defaultToGlobal")) {
        s = reg_store_get_mode(st, NULL, &mode, &found);
        found = 1;
    }
    if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
    } else if (subject && !found) {
        fail_status(req, REG_E_SUBJECT_MODE_NOT_FOUND, subject, NULL);
    } else {
        respond(req, 200, json_pack("{s:s}", "mode", mode));
    }
}

static void mode_put(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    json_t *body = body_object(req);
    if (!body) {
        return;
    }
    const char *mode = json_string_value(json_object_get(body, "mode"));
    enum reg_status s =
        mode ? reg_store_set_mode(st, subject, mode, flag(req, "force")) : REG_E_INVALID_MODE;
    if (s == REG_E_NOT_PERMITTED) {
        fail(req, s, "Cannot import since found existing subjects");
    } else if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
    } else {
        respond(req, 200, json_pack("{s:s}", "mode", mode));
    }
    json_decref(body);
}

static void mode_delete(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    const char *mode;
    int found = 0;
    enum reg_status s = reg_store_get_mode(st, subject, &mode, &found);
    if (s == REG_OK && subject && !found) {
        s = REG_E_SUBJECT_MODE_NOT_FOUND;
    }
    if (s == REG_OK) {
        s = reg_store_delete_mode(st, subject);
    }
    if (s != REG_OK) {
        fail_status(req, s, subject, NULL);
        return;
    }
    respond(req, 200, json_pack("{s:s}", "mode", mode));
}

static void h_mode_get(struct cm_http_req *req, void *ud)
{
    mode_get(req, store_of(ud), NULL);
}
static void h_mode_put(struct cm_http_req *req, void *ud)
{
    mode_put(req, store_of(ud), NULL);
}
static void h_mode_delete(struct cm_http_req *req, void *ud)
{
    mode_delete(req, store_of(ud), NULL);
}
static void h_subject_mode_get(struct cm_http_req *req, void *ud)
{
    mode_get(req, store_of(ud), cm_http_param(req, "subject"));
}
static void h_subject_mode_put(struct cm_http_req *req, void *ud)
{
    if (subject_ok(req, cm_http_param(req, "subject"))) {
        mode_put(req, store_of(ud), cm_http_param(req, "subject"));
    }
}
static void h_subject_mode_delete(struct cm_http_req *req, void *ud)
{
    mode_delete(req, store_of(ud), cm_http_param(req, "subject"));
}

/* Checks the request's access before the route's handler runs. */
static void guarded(struct cm_http_req *req, void *ud)
{
    const struct reg_route *r = ud;
    struct cm_principal who;
    char msg[512], challenges[2][256];
    size_t nch = 0;
    const char *subject = r->subject_scoped ? cm_http_param(req, "subject") : NULL;
    int code =
        reg_access_check(r->api->access, cm_http_header(req, "Authorization"), r->need, subject,
                         (long long)time(NULL), &who, msg, sizeof(msg), challenges, &nch);
    if (code != 0) {
        for (size_t i = 0; i < nch; i++) {
            cm_http_add_header(req, "WWW-Authenticate", challenges[i]);
        }
        fail(req, code, "%s", msg);
        return;
    }
    r->handler(req, r->api);
}

void reg_api_register(struct cm_http_server *srv, struct reg_api *api)
{
    enum { R = REG_READ, W = REG_WRITE, A = REG_ADMIN };
    static const struct {
        const char *method, *pattern;
        cm_http_handler h;
        int need, subject_scoped;
    } routes[] = {
        {"GET", "/subjects", h_list_subjects, R, 0},
        {"GET", "/subjects/{subject}/versions", h_list_versions, R, 0},
        {"POST", "/subjects/{subject}/versions", h_register, W, 1},
        {"GET", "/subjects/{subject}/versions/{version}", h_get_version, R, 0},
        {"GET", "/subjects/{subject}/versions/{version}/schema", h_get_version_schema, R, 0},
        {"GET", "/subjects/{subject}/versions/{version}/referencedby", h_referenced_by, R, 0},
        {"DELETE", "/subjects/{subject}/versions/{version}", h_delete_version, W, 1},
        {"POST", "/subjects/{subject}", h_lookup, R, 0},
        {"DELETE", "/subjects/{subject}", h_delete_subject, W, 1},
        {"GET", "/schemas/ids/{id}", h_schema_by_id, R, 0},
        {"GET", "/schemas/ids/{id}/schema", h_schema_text_by_id, R, 0},
        {"GET", "/schemas/ids/{id}/subjects", h_schema_subjects, R, 0},
        {"GET", "/schemas/ids/{id}/versions", h_schema_versions, R, 0},
        {"GET", "/schemas/types", h_schema_types, R, 0},
        {"POST", "/compatibility/subjects/{subject}/versions/{version}", h_compat_version, R, 0},
        {"POST", "/compatibility/subjects/{subject}/versions", h_compat_all, R, 0},
        {"GET", "/config", h_config_get, R, 0},
        {"PUT", "/config", h_config_put, A, 0},
        {"DELETE", "/config", h_config_delete, A, 0},
        {"GET", "/config/{subject}", h_subject_config_get, R, 0},
        {"PUT", "/config/{subject}", h_subject_config_put, W, 1},
        {"DELETE", "/config/{subject}", h_subject_config_delete, W, 1},
        {"GET", "/mode", h_mode_get, R, 0},
        {"PUT", "/mode", h_mode_put, A, 0},
        {"DELETE", "/mode", h_mode_delete, A, 0},
        {"GET", "/mode/{subject}", h_subject_mode_get, R, 0},
        {"PUT", "/mode/{subject}", h_subject_mode_put, W, 1},
        {"DELETE", "/mode/{subject}", h_subject_mode_delete, W, 1},
    };
    _Static_assert(sizeof(routes) / sizeof(routes[0]) <= REG_API_MAX_ROUTES, "routes fit");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        api->routes[i] = (struct reg_route){.api = api,
                                            .handler = routes[i].h,
                                            .need = (enum reg_need)routes[i].need,
                                            .subject_scoped = routes[i].subject_scoped};
        cm_http_route(srv, routes[i].method, routes[i].pattern, guarded, &api->routes[i]);
    }
}
