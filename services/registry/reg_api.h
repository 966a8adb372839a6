/* reg_api: the Confluent Schema Registry REST API over reg_store. Answers use the content type
 * application/vnd.schemaregistry.v1+json and Confluent's error bodies
 * {"error_code": 40401, "message": "..."} with the HTTP status the code's first three digits. */
#ifndef REG_API_H
#define REG_API_H

struct cm_http_server;
struct reg_store;

/* Registers the API's routes on srv; st is borrowed for the server's lifetime. */
void reg_api_register(struct cm_http_server *srv, struct reg_store *st);

#endif
