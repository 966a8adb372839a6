/* reg_api: the Confluent Schema Registry REST API over reg_store. Answers use the content type
 * application/vnd.schemaregistry.v1+json and Confluent's error bodies
 * {"error_code": 40401, "message": "..."} with the HTTP status the code's first three digits. */
#ifndef REG_API_H
#define REG_API_H

struct cm_http_server;
struct reg_cache;
struct reg_store;

/* What the handlers work with; borrowed for the server's lifetime. */
struct reg_api {
    struct reg_store *store;
    struct reg_cache *cache; /* may be NULL */
};

/* Registers the API's routes on srv. */
void reg_api_register(struct cm_http_server *srv, struct reg_api *api);

#endif
