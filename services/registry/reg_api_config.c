/* reg_api_config: the registry API's config and mode resources (GET/PUT/DELETE /config, /mode,
 * globally and per subject), in Confluent's shapes and error codes. */
#include "reg_api_int.h"

#include "reg_store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config and mode ---- */

static void config_get(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    enum reg_level l;
    int found = 0;
    enum reg_status s = reg_store_get_level(st, subject, &l, &found);
    if (s == REG_OK && subject && !found && api_flag(req, "defaultToGlobal")) {
        s = reg_store_get_level(st, NULL, &l, &found);
        found = 1;
    }
    if (s != REG_OK) {
        api_fail_status(req, s, subject, NULL);
    } else if (subject && !found) {
        api_fail_status(req, REG_E_SUBJECT_LEVEL_NOT_FOUND, subject, NULL);
    } else {
        api_respond(req, 200, json_pack("{s:s}", "compatibilityLevel", reg_level_name(l)));
    }
}

static void config_put(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    json_t *body = api_body_object(req);
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
        api_fail(req, 42203,
                 "Invalid compatibility level. Valid values are none, backward, forward, full, "
                 "backward_transitive, forward_transitive, and full_transitive");
    } else {
        enum reg_status s = reg_store_set_level(st, subject, l);
        if (s != REG_OK) {
            api_fail_status(req, s, subject, NULL);
        } else {
            api_respond(req, 200, json_pack("{s:s}", "compatibility", reg_level_name(l)));
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
        api_fail_status(req, s, subject, NULL);
        return;
    }
    api_respond(req, 200, json_pack("{s:s}", "compatibilityLevel", reg_level_name(l)));
}

void reg_h_config_get(struct cm_http_req *req, void *ud)
{
    config_get(req, api_store(ud), NULL);
}
void reg_h_config_put(struct cm_http_req *req, void *ud)
{
    config_put(req, api_store(ud), NULL);
}
void reg_h_config_delete(struct cm_http_req *req, void *ud)
{
    config_delete(req, api_store(ud), NULL);
}
void reg_h_subject_config_get(struct cm_http_req *req, void *ud)
{
    config_get(req, api_store(ud), cm_http_param(req, "subject"));
}
void reg_h_subject_config_put(struct cm_http_req *req, void *ud)
{
    if (api_subject_ok(req, cm_http_param(req, "subject"))) {
        config_put(req, api_store(ud), cm_http_param(req, "subject"));
    }
}
void reg_h_subject_config_delete(struct cm_http_req *req, void *ud)
{
    config_delete(req, api_store(ud), cm_http_param(req, "subject"));
}

static void mode_get(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    const char *mode;
    int found = 0;
    enum reg_status s = reg_store_get_mode(st, subject, &mode, &found);
    if (s == REG_OK && subject && !found && api_flag(req, "defaultToGlobal")) {
        s = reg_store_get_mode(st, NULL, &mode, &found);
        found = 1;
    }
    if (s != REG_OK) {
        api_fail_status(req, s, subject, NULL);
    } else if (subject && !found) {
        api_fail_status(req, REG_E_SUBJECT_MODE_NOT_FOUND, subject, NULL);
    } else {
        api_respond(req, 200, json_pack("{s:s}", "mode", mode));
    }
}

static void mode_put(struct cm_http_req *req, struct reg_store *st, const char *subject)
{
    json_t *body = api_body_object(req);
    if (!body) {
        return;
    }
    const char *mode = json_string_value(json_object_get(body, "mode"));
    enum reg_status s =
        mode ? reg_store_set_mode(st, subject, mode, api_flag(req, "force")) : REG_E_INVALID_MODE;
    if (s == REG_E_NOT_PERMITTED) {
        api_fail(req, s, "Cannot import since found existing subjects");
    } else if (s != REG_OK) {
        api_fail_status(req, s, subject, NULL);
    } else {
        api_respond(req, 200, json_pack("{s:s}", "mode", mode));
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
        api_fail_status(req, s, subject, NULL);
        return;
    }
    api_respond(req, 200, json_pack("{s:s}", "mode", mode));
}

void reg_h_mode_get(struct cm_http_req *req, void *ud)
{
    mode_get(req, api_store(ud), NULL);
}
void reg_h_mode_put(struct cm_http_req *req, void *ud)
{
    mode_put(req, api_store(ud), NULL);
}
void reg_h_mode_delete(struct cm_http_req *req, void *ud)
{
    mode_delete(req, api_store(ud), NULL);
}
void reg_h_subject_mode_get(struct cm_http_req *req, void *ud)
{
    mode_get(req, api_store(ud), cm_http_param(req, "subject"));
}
void reg_h_subject_mode_put(struct cm_http_req *req, void *ud)
{
    if (api_subject_ok(req, cm_http_param(req, "subject"))) {
        mode_put(req, api_store(ud), cm_http_param(req, "subject"));
    }
}
void reg_h_subject_mode_delete(struct cm_http_req *req, void *ud)
{
    mode_delete(req, api_store(ud), cm_http_param(req, "subject"));
}
