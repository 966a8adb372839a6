/* reg_api: REST handlers of the schema registry (see reg_api.h). */
#include "reg_api.h"

#include "reg_store.h"

#include "cm/config.h"
#include "cm/err.h"
#include "cm/http.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

/* Confluent error codes used here. */
#define ERR_BACKEND 50001
#define ERR_BAD_REQUEST 400 /* Confluent answers malformed parameters with a plain 400 */

static void respond(struct cm_http_req *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    cm_http_respond(req, status, CONTENT_TYPE, text, strlen(text));
    free(text);
}

static void respond_error(struct cm_http_req *req, int code, const char *message)
{
    json_t *body = json_pack("{s:i, s:s}", "error_code", code, "message", message);
    respond(req, code >= 10000 ? code / 100 : code, body);
}

static void h_list_subjects(struct cm_http_req *req, void *ud)
{
    struct reg_store *st = ud;
    const char *deleted = cm_http_query(req, "deleted");
    int include_deleted = 0;
    if (deleted && cm_parse_bool(deleted, &include_deleted) != 0) {
        respond_error(req, ERR_BAD_REQUEST, "query parameter 'deleted' must be true or false");
        return;
    }
    json_t *subjects = NULL;
    int rc = reg_store_list_subjects(st, cm_http_query(req, "subjectPrefix"), include_deleted,
                                     &subjects);
    if (rc != 0) {
        respond_error(req, ERR_BACKEND, "Error in the backend data store");
        return;
    }
    respond(req, 200, subjects);
}

void reg_api_register(struct cm_http_server *srv, struct reg_store *st)
{
    cm_http_route(srv, "GET", "/subjects", h_list_subjects, st);
}
