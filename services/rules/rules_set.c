/* rules_set: parsing the rules document and matching by compiled conditions (see rules_set.h). */
#include "rules_set.h"

#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/event.h"
#include "cm/expr.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULES_FILE_MAX (4 * 1024 * 1024)

struct rule {
    char *id;
    struct cm_expr *condition;
};

struct rules_set {
    struct rule *rules;
    size_t n;
};

void rules_set_free(struct rules_set *set)
{
    if (!set) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        free(set->rules[i].id);
        cm_expr_free(set->rules[i].condition);
    }
    free(set->rules);
    free(set);
}

static int parse_rule(struct rule *r, const json_t *jr, size_t idx, const struct rules_set *set,
                      char *err, size_t errlen)
{
    const json_t *id = json_object_get(jr, "id");
    const json_t *types = json_object_get(jr, "types");
    if (!json_is_object(jr)) {
        snprintf(err, errlen, "rules[%zu]: must be an object", idx);
        return CM_E_INVAL;
    }
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 128) {
        snprintf(err, errlen, "rules[%zu].id: must be a string of 1 to 128 characters", idx);
        return CM_E_INVAL;
    }
    for (size_t i = 0; i < idx; i++) {
        if (strcmp(set->rules[i].id, json_string_value(id)) == 0) {
            snprintf(err, errlen, "rules[%zu].id: duplicate id '%s'", idx, json_string_value(id));
            return CM_E_INVAL;
        }
    }
    const json_t *cond = json_object_get(jr, "condition");
    if ((cond != NULL) == (types != NULL)) {
        snprintf(err, errlen, "rules[%zu]: needs exactly one of \"condition\" and \"types\"", idx);
        return CM_E_INVAL;
    }
    char *text = NULL;
    const char *field = "condition";
    if (cond) {
        if (!json_is_string(cond)) {
            snprintf(err, errlen, "rules[%zu].condition: must be a string", idx);
            return CM_E_INVAL;
        }
        text = cm_xstrdup(json_string_value(cond));
    } else {
        field = "types";
        if (!json_is_array(types) || json_array_size(types) == 0) {
            snprintf(err, errlen, "rules[%zu].types: must be a non-empty array of event types",
                     idx);
            return CM_E_INVAL;
        }
        size_t k;
        const json_t *t;
        json_array_foreach(types, k, t)
        {
            if (!json_is_string(t) || json_string_length(t) == 0) {
                snprintf(err, errlen, "rules[%zu].types[%zu]: must be a non-empty string", idx, k);
                return CM_E_INVAL;
            }
        }
        char *list = json_dumps(types, JSON_COMPACT | JSON_ENSURE_ASCII);
        text = cm_xasprintf("type in %s", list);
        free(list);
    }
    struct cm_expr_error cerr;
    r->condition = cm_expr_compile(text, &cerr);
    free(text);
    if (!r->condition) {
        char pos[200];
        snprintf(err, errlen, "rules[%zu].%s: %s", idx, field,
                 cm_expr_error_format(&cerr, pos, sizeof(pos)));
        return CM_E_INVAL;
    }
    r->id = cm_xstrdup(json_string_value(id));
    return 0;
}

struct rules_set *rules_set_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    const json_t *arr = json_object_get(doc, "rules");
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "rules: must be an array");
        json_decref(doc);
        return NULL;
    }
    struct rules_set *set = cm_xcalloc(1, sizeof(*set));
    set->rules = cm_xcalloc(json_array_size(arr) + 1, sizeof(*set->rules));
    size_t i;
    const json_t *jr;
    json_array_foreach(arr, i, jr)
    {
        int rc = parse_rule(&set->rules[i], jr, i, set, err, errlen);
        set->n = i + 1; /* so free() releases the partly parsed rule too */
        if (rc != 0) {
            rules_set_free(set);
            json_decref(doc);
            return NULL;
        }
    }
    json_decref(doc);
    return set;
}

struct rules_set *rules_set_load_file(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *buf = cm_file_read(path, RULES_FILE_MAX, &len, err, errlen);
    struct rules_set *set = buf ? rules_set_parse(buf, len, err, errlen) : NULL;
    free(buf);
    return set;
}

size_t rules_set_count(const struct rules_set *set)
{
    return set->n;
}

const char *rules_set_next_match(const struct rules_set *set, const json_t *ev, size_t *cursor,
                                 size_t *errors)
{
    while (*cursor < set->n) {
        const struct rule *r = &set->rules[(*cursor)++];
        enum cm_expr_outcome o = cm_expr_eval_bool(r->condition, ev, NULL, 0);
        if (o == CM_EXPR_TRUE) {
            return r->id;
        }
        if (o == CM_EXPR_ERROR && errors) {
            (*errors)++;
        }
    }
    return NULL;
}

json_t *rules_alert_new(const char *rule_id, const json_t *ev)
{
    const char *src = json_string_value(json_object_get(ev, "source"));
    const char *evid = json_string_value(json_object_get(ev, "id"));
    const char *parts[] = {"alert", rule_id, src ? src : "", evid ? evid : ""};
    json_t *data = json_object();
    json_object_set_new(data, "rule", json_string(rule_id));
    json_object_set_new(data, "event", json_deep_copy(ev));
    struct cm_derived d = {
        .type = "rule.matched",
        .source = "rules",
        .subject = rule_id,
        .time_ms = cm_envelope_time_ms(ev, cm_now_ms()),
        .id_parts = parts,
        .nid_parts = 4,
        .tenant = json_string_value(json_object_get(ev, "tenant")),
        .traceparent = json_string_value(json_object_get(ev, "traceparent")),
    };
    return cm_event_derived_new(&d, data);
}
