/* reg_api: the Confluent Schema Registry REST API over reg_store, behind reg_access. Answers use
 * the content type application/vnd.schemaregistry.v1+json and Confluent's error bodies
 * {"error_code": 40401, "message": "..."} with the HTTP status the code's first three digits. */
#ifndef REG_API_H
#define REG_API_H

#include "reg_access.h"

#include "cm/http.h"

struct reg_cache;
struct reg_store;
struct reg_api;

/* A route with the access it needs (filled by reg_api_register). */
struct reg_route {
    struct reg_api *api;
    cm_http_handler handler;
    enum reg_need need;
    int subject_scoped; /* a write on the {subject} path parameter */
};

#define REG_API_MAX_ROUTES 32

/* What the handlers work with; borrowed for the server's lifetime. */
struct reg_api {
    struct reg_store *store;
    struct reg_cache *cache;         /* may be NULL */
    const struct reg_access *access; /* every request is checked against it first */
    struct reg_route routes[REG_API_MAX_ROUTES];
};

/* Registers the API's routes on srv, each behind api->access. */
void reg_api_register(struct cm_http_server *srv, struct reg_api *api);

#endif
