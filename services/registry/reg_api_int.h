/* reg_api_int: what the registry API's files share (reg_api.c: subjects, versions, schemas,
 * compatibility and the routes; reg_api_config.c: config and mode): answering in Confluent's
 * content type and error bodies, and the request checks. */
#ifndef REG_API_INT_H
#define REG_API_INT_H

#include "reg_api.h"
#include "reg_store.h"

#include <jansson.h>

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

/* Answers body (taken) with status in the registry's content type. */
void api_respond(struct cm_http_req *req, int status, json_t *body);
/* Answers Confluent's error body: code, and the HTTP status its first three digits. */
void api_fail(struct cm_http_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers the standard message for a store status, in Confluent's words. */
void api_fail_status(struct cm_http_req *req, enum reg_status s, const char *subject,
                     const char *version);
/* The store behind a handler's ud. */
struct reg_store *api_store(void *ud);
/* The request's JSON body when it is an object, else NULL after answering 400 or 415. */
json_t *api_body_object(struct cm_http_req *req);
/* Whether the query parameter is a true boolean. */
int api_flag(struct cm_http_req *req, const char *name);
/* Whether subject is a valid subject name; answers 42208 when not. */
int api_subject_ok(struct cm_http_req *req, const char *subject);

/* The config and mode resources (reg_api_config.c). */
void reg_h_config_get(struct cm_http_req *req, void *ud);
void reg_h_config_put(struct cm_http_req *req, void *ud);
void reg_h_config_delete(struct cm_http_req *req, void *ud);
void reg_h_subject_config_get(struct cm_http_req *req, void *ud);
void reg_h_subject_config_put(struct cm_http_req *req, void *ud);
void reg_h_subject_config_delete(struct cm_http_req *req, void *ud);
void reg_h_mode_get(struct cm_http_req *req, void *ud);
void reg_h_mode_put(struct cm_http_req *req, void *ud);
void reg_h_mode_delete(struct cm_http_req *req, void *ud);
void reg_h_subject_mode_get(struct cm_http_req *req, void *ud);
void reg_h_subject_mode_put(struct cm_http_req *req, void *ud);
void reg_h_subject_mode_delete(struct cm_http_req *req, void *ud);

#endif
