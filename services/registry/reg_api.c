/* reg_api: the Confluent Schema Registry REST API over reg_store (see reg_api.h): subjects and
 * versions, schemas by id, compatibility checks, config and mode, with Confluent's error codes
 * and messages and exactly the fields Confluent answers with. */
#include "reg_api_int.h"

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
#include <time.h>

void api_respond(struct cm_http_req *req, int status, json_t *body)
{
    size_t len;
    char *text = cm_json_dumps(body, &len);
    json_decref(body);
    cm_http_respond(req, status, CONTENT_TYPE, text, len);
    free(text);
}

void api_fail(struct cm_http_req *req, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_respond(req, code >= 10000 ? code / 100 : code, cm_http_error_body(code, msg));
}

/* The standard message for a store status, in Confluent's words. */
void api_fail_status(struct cm_http_req *req, enum reg_status s, const char *subject,
                     const char *version)
{
    subject = subject ? subject : "";
    version = version ? version : "";
    switch (s) {
    case REG_E_SUBJECT_NOT_FOUND:
        api_fail(req, s, "Subject '%s' not found.", subject);
        break;
    case REG_E_VERSION_NOT_FOUND:
        api_fail(req, s, "Version %s not found.", version);
        break;
    case REG_E_SCHEMA_NOT_FOUND:
        api_fail(req, s, "Schema not found");
        break;
    case REG_E_SUBJECT_SOFT_DELETED:
        api_fail(req, s, "Subject '%s' was soft deleted.Set permanent=true to delete permanently",
                 subject);
        break;
    case REG_E_SUBJECT_NOT_SOFT_DELETED:
        api_fail(req, s, "Subject '%s' was not deleted first before being permanently deleted",
                 subject);
        break;
    case REG_E_VERSION_SOFT_DELETED:
        api_fail(
            req, s,
            "Subject '%s' Version %s was soft deleted.Set permanent=true to delete permanently",
            subject, version);
        break;
    case REG_E_VERSION_NOT_SOFT_DELETED:
        api_fail(req, s,
                 "Subject '%s' Version %s was not deleted first before being permanently deleted",
                 subject, version);
        break;
    case REG_E_SUBJECT_LEVEL_NOT_FOUND:
        api_fail(req, s, "Subject '%s' does not have subject-level compatibility configured",
                 subject);
        break;
    case REG_E_SUBJECT_MODE_NOT_FOUND:
        api_fail(req, s, "Subject '%s' does not have subject-level mode configured", subject);
        break;
    case REG_E_NOT_PERMITTED:
        api_fail(req, s, "Operation not permitted: subject '%s' is not writable in its mode",
                 subject);
        break;
    case REG_E_REFERENCE_EXISTS:
        api_fail(req, s, "One or more references exist to the schema");
        break;
    case REG_E_ID_MISMATCH:
        api_fail(req, s, "The given id is already used by a different schema");
        break;
    case REG_E_INVALID_MODE:
        api_fail(req, s, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT");
        break;
    case REG_E_TIMEOUT:
        api_fail(req, s, "Operation timed out: the database did not answer in time");
        break;
    default:
        api_fail(req, REG_E_BACKEND, "Error in the backend data store");
        break;
    }
}

struct reg_store *api_store(void *ud)
{
    return ((struct reg_api *)ud)->store;
}

/* Responds with a cached body when there is one; else 0 with the cache's generation, for
 * respond_cached, in *generation. */
static int from_cache(struct cm_http_req *req, void *ud, const char *key, size_t keylen,
                      uint64_t *generation)
{
    int status;
    *generation = reg_cache_generation(((struct reg_api *)ud)->cache);
    char *body = reg_cache_get(((struct reg_api *)ud)->cache, key, keylen, &status);
    if (!body) {
        return 0;
    }
    cm_http_respond(req, status, CONTENT_TYPE, body, strlen(body));
    free(body);
    return 1;
}

/* Responds 200 with body and keeps it in the cache under key unless the cache was cleared since
 * generation (takes body). */
static void respond_cached(struct cm_http_req *req, void *ud, uint64_t generation, const char *key,
                           size_t keylen, json_t *body)
{
    size_t len;
    char *text = cm_json_dumps(body, &len);
    json_decref(body);
    reg_cache_put(((struct reg_api *)ud)->cache, generation, key, keylen, text, 200);
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
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (cm_http_media_type_is(ct, ok[i])) {
            return 1;
        }
    }
    api_fail(req, 415, "Unsupported Media Type: %.*s", (int)strcspn(ct, "; \t"), ct);
    return 0;
}

/* Parses the JSON body (an object); responds and returns NULL on error. */
json_t *api_body_object(struct cm_http_req *req)
{
    if (!content_type_ok(req)) {
        return NULL;
    }
    size_t len;
    const char *text = cm_http_body(req, &len);
    json_error_t err;
    json_t *body = json_loadb(text, len, 0, &err);
    if (!json_is_object(body)) {
        api_fail(req, 400, "Invalid request body: %s", body ? "expected a JSON object" : err.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

int api_flag(struct cm_http_req *req, const char *name)
{
    const char *v = cm_http_query(req, name);
    int b = 0;
    return v && cm_parse_bool(v, &b) == 0 && b;
}

int api_subject_ok(struct cm_http_req *req, const char *subject)
{
    if (!subject || !*subject || strlen(subject) > 255) {
        api_fail(req, 42208, "The specified subject is not valid");
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++) {
        if (*p < 0x20 || *p == 0x7F) {
            api_fail(req, 42208, "The specified subject is not valid");
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
    api_fail(req, 42202,
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
        api_fail(req, 42201, "Invalid schema: \"schema\" must be a string");
        return 0;
    }
    if (type && !json_is_string(type)) {
        api_fail(req, 42201, "Invalid schema: \"schemaType\" must be a string");
        return 0;
    }
    int rc = reg_type_parse(json_string_value(type), &t);
    if (rc == -2) {
        api_fail(req, 42201,
                 "Invalid schema: schema type PROTOBUF is not supported by this registry");
        return 0;
    }
    if (rc != 0) {
        api_fail(req, 42201, "Invalid schema: unknown schema type '%.40s'",
                 json_string_value(type));
        return 0;
    }
    if (refs && !json_is_null(refs) && !json_is_array(refs)) {
        api_fail(req, 42201, "Invalid schema: \"references\" must be an array");
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
                api_fail(req, 42201, "Invalid schema: references[%zu] needs subject and version",
                         i);
                return 0;
            }
        }
        enum reg_status s = reg_store_resolve_references(st, refs, named, err, sizeof(err));
        if (reg_store_failed(s)) {
            api_fail_status(req, s, NULL, NULL);
            return 0;
        }
        if (s != REG_OK) {
            api_fail(req, 42201, "Invalid schema: %s", err);
            return 0;
        }
    }
    if (reg_schema_parse(t, json_string_value(schema), json_is_array(refs) ? refs : NULL, named,
                         api_flag(req, "normalize"), out, err, sizeof(err)) != 0) {
        api_fail(req, 42201, "Invalid schema: %s", err);
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
    enum reg_status s = reg_store_list_subjects(api_store(ud), cm_http_query(req, "subjectPrefix"),
                                                api_flag(req, "deleted"), &out);
    if (s != REG_OK) {
        api_fail_status(req, s, NULL, NULL);
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
    api_respond(req, 200, out);
}

static void h_list_versions(struct cm_http_req *req, void *ud)
{
    const char *subject = cm_http_param(req, "subject");
    json_t *out = NULL;
    enum reg_status s =
        reg_store_list_versions(api_store(ud), subject, api_flag(req, "deleted"), &out);
    if (s != REG_OK) {
        api_fail_status(req, s, subject, NULL);
        return;
    }
    api_respond(req, 200, out);
}

static void h_register(struct cm_http_req *req, void *ud)
{
    struct reg_store *st = api_store(ud);
    const char *subject = cm_http_param(req, "subject");
    if (!api_subject_ok(req, subject)) {
        return;
    }
    json_t *body = api_body_object(req);
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
            api_respond(req, 200, json_pack("{s:i}", "id", id));
        } else if (s == REG_E_INCOMPATIBLE) {
            char *details = json_dumps(messages, JSON_COMPACT);
            api_fail(req, 409,
                     "Schema being registered is incompatible with an earlier schema for subject "
                     "\"%s\", details: %s",
                     subject, details);
            free(details);
        } else {
            api_fail_status(req, s, subject, NULL);
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
        reg_store_get_version(api_store(ud), subject, version, api_flag(req, "deleted"), &v);
    if (s != REG_OK) {
        api_fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    api_respond(req, 200, version_json(&v));
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
        reg_store_get_version(api_store(ud), subject, version, api_flag(req, "deleted"), &v);
    if (s != REG_OK) {
        api_fail_status(req, s, subject, cm_http_param(req, "version"));
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
    enum reg_status s = reg_store_referenced_by(api_store(ud), subject, version, &out);
    if (s != REG_OK) {
        api_fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    api_respond(req, 200, out);
}

static void h_lookup(struct cm_http_req *req, void *ud)
{
    struct reg_store *st = api_store(ud);
    const char *subject = cm_http_param(req, "subject");
    /* serializers send the same request again and again: key the cache by the raw request */
    size_t blen;
    const char *raw = cm_http_body(req, &blen);
    char *key = cm_xasprintf("lookup\n%s\n%d%d\n%.*s", subject, api_flag(req, "deleted"),
                             api_flag(req, "normalize"), (int)blen, raw);
    uint64_t generation;
    if (from_cache(req, ud, key, strlen(key), &generation)) { /* only 200s to accepted types */
        free(key);
        return;
    }
    json_t *body = api_body_object(req);
    if (!body) {
        free(key);
        return;
    }
    json_t *named = json_object();
    struct reg_schema schema;
    if (schema_from_body(req, st, body, named, &schema)) {
        struct reg_version v;
        enum reg_status s = reg_store_lookup(st, subject, &schema, api_flag(req, "deleted"), &v);
        if (s == REG_OK) {
            respond_cached(req, ud, generation, key, strlen(key), version_json(&v));
            reg_version_clear(&v);
        } else {
            api_fail_status(req, s, subject, NULL);
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
        reg_store_delete_subject(api_store(ud), subject, api_flag(req, "permanent"), &out);
    reg_cache_clear(((struct reg_api *)ud)->cache);
    if (s != REG_OK) {
        api_fail_status(req, s, subject, NULL);
        return;
    }
    api_respond(req, 200, out);
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
        reg_store_delete_version(api_store(ud), subject, version, api_flag(req, "permanent"), &out);
    reg_cache_clear(((struct reg_api *)ud)->cache);
    if (s != REG_OK) {
        api_fail_status(req, s, subject, cm_http_param(req, "version"));
        return;
    }
    api_respond(req, 200, out);
}

/* ---- schemas ---- */

static int id_param(struct cm_http_req *req, int *id)
{
    const char *v = cm_http_param(req, "id");
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < 1 || n > 2147483647L) {
        api_fail(req, 40403, "Schema %.40s not found", v);
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
    uint64_t generation;
    if (from_cache(req, ud, key, (size_t)keylen, &generation)) {
        return;
    }
    struct reg_version v;
    enum reg_status s = reg_store_get_schema(api_store(ud), id, &v);
    if (s != REG_OK) {
        if (s == REG_E_SCHEMA_NOT_FOUND) {
            api_fail(req, s, "Schema %d not found", id);
        } else {
            api_fail_status(req, s, NULL, NULL);
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
    respond_cached(req, ud, generation, key, (size_t)keylen, o);
    reg_version_clear(&v);
}

static void h_schema_text_by_id(struct cm_http_req *req, void *ud)
{
    int id;
    if (!id_param(req, &id)) {
        return;
    }
    struct reg_version v;
    enum reg_status s = reg_store_get_schema(api_store(ud), id, &v);
    if (s == REG_E_SCHEMA_NOT_FOUND) {
        api_fail(req, s, "Schema %d not found", id);
    } else if (s != REG_OK) {
        api_fail_status(req, s, NULL, NULL);
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
        reg_store_schema_usage(api_store(ud), id, versions, api_flag(req, "deleted"), &out);
    if (s == REG_E_SCHEMA_NOT_FOUND) {
        api_fail(req, s, "Schema %d not found", id);
    } else if (s != REG_OK) {
        api_fail_status(req, s, NULL, NULL);
    } else {
        api_respond(req, 200, out);
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
    api_respond(req, 200, json_pack("[s,s]", "JSON", "AVRO"));
}

/* ---- compatibility ---- */

static void compat(struct cm_http_req *req, struct reg_store *st, int all_versions)
{
    const char *subject = cm_http_param(req, "subject");
    int version = 0;
    if (!all_versions && !version_param(req, &version)) {
        return;
    }
    json_t *body = api_body_object(req);
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
            if (api_flag(req, "verbose")) {
                json_object_set(o, "messages", messages);
            }
            api_respond(req, 200, o);
        } else {
            api_fail_status(req, s, subject, all_versions ? NULL : cm_http_param(req, "version"));
        }
        json_decref(messages);
        reg_schema_clear(&schema);
    }
    json_decref(named);
    json_decref(body);
}

static void h_compat_version(struct cm_http_req *req, void *ud)
{
    compat(req, api_store(ud), 0);
}

static void h_compat_all(struct cm_http_req *req, void *ud)
{
    compat(req, api_store(ud), 1);
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
        api_fail(req, code, "%s", msg);
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
        {"GET", "/config", reg_h_config_get, R, 0},
        {"PUT", "/config", reg_h_config_put, A, 0},
        {"DELETE", "/config", reg_h_config_delete, A, 0},
        {"GET", "/config/{subject}", reg_h_subject_config_get, R, 0},
        {"PUT", "/config/{subject}", reg_h_subject_config_put, W, 1},
        {"DELETE", "/config/{subject}", reg_h_subject_config_delete, W, 1},
        {"GET", "/mode", reg_h_mode_get, R, 0},
        {"PUT", "/mode", reg_h_mode_put, A, 0},
        {"DELETE", "/mode", reg_h_mode_delete, A, 0},
        {"GET", "/mode/{subject}", reg_h_subject_mode_get, R, 0},
        {"PUT", "/mode/{subject}", reg_h_subject_mode_put, W, 1},
        {"DELETE", "/mode/{subject}", reg_h_subject_mode_delete, W, 1},
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
