/* gw_route: routing table parsing and first-match selection (see gw_route.h). */
#include "gw_route.h"

#include "cm/expr.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTES_FILE_MAX (1024 * 1024)

struct route {
    struct cm_expr *when;
    char *topics[GW_ROUTE_MAX_TOPICS];
    size_t ntopics;
};

struct gw_routes {
    struct route *routes;
    size_t n;
    struct route fallback; /* when == NULL */
    json_t *doc;           /* the document it was built from */
    char **fields;         /* the event's fields expressions read (owned) */
    size_t nfields;
};

static void route_clear(struct route *r)
{
    cm_expr_free(r->when);
    for (size_t i = 0; i < r->ntopics; i++) {
        free(r->topics[i]);
    }
    memset(r, 0, sizeof(*r));
}

void gw_routes_free(struct gw_routes *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        route_clear(&r->routes[i]);
    }
    free(r->routes);
    route_clear(&r->fallback);
    json_decref(r->doc);
    for (size_t i = 0; i < r->nfields; i++) {
        free(r->fields[i]);
    }
    free(r->fields);
    free(r);
}

/* Fills r->topics from a JSON array; field names the place for messages. */
static int parse_topics(struct route *r, const json_t *arr, const char *field, char *err,
                        size_t errlen)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > GW_ROUTE_MAX_TOPICS) {
        snprintf(err, errlen, "%s: must be an array of 1 to %d topic names", field,
                 GW_ROUTE_MAX_TOPICS);
        return -1;
    }
    size_t i;
    const json_t *t;
    json_array_foreach(arr, i, t)
    {
        if (!json_is_string(t) || !cm_kafka_topic_name_ok(json_string_value(t))) {
            snprintf(err, errlen, "%s[%zu]: not a legal Kafka topic name", field, i);
            return -1;
        }
        r->topics[r->ntopics++] = cm_xstrdup(json_string_value(t));
    }
    return 0;
}

struct gw_routes *gw_routes_single(const char *topic)
{
    struct gw_routes *r = cm_xcalloc(1, sizeof(*r));
    r->fallback.topics[0] = cm_xstrdup(topic);
    r->fallback.ntopics = 1;
    r->doc = json_pack("{s:[], s:[s]}", "routes", "default", topic);
    return r;
}

const json_t *gw_routes_document(const struct gw_routes *r)
{
    return r->doc;
}

/* Adds the root fields an expression reads to the table's set. */
static void add_fields(struct gw_routes *r, const struct cm_expr *e)
{
    size_t n = cm_expr_root_fields(e, NULL, 0);
    const char **names = cm_xcalloc(n + 1, sizeof(*names));
    cm_expr_root_fields(e, names, n);
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < r->nfields && strcmp(r->fields[j], names[i]) != 0) {
            j++;
        }
        if (j == r->nfields) {
            r->fields = cm_xrealloc(r->fields, (r->nfields + 1) * sizeof(*r->fields));
            r->fields[r->nfields++] = cm_xstrdup(names[i]);
        }
    }
    free(names);
}

struct gw_routes *gw_routes_parse(const char *text, size_t len, const char *default_topic,
                                  char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "line %d column %d: %s", jerr.line, jerr.column,
                 doc ? "must be a JSON object" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    const json_t *routes = json_object_get(doc, "routes");
    const json_t *def = json_object_get(doc, "default");
    struct gw_routes *r = cm_xcalloc(1, sizeof(*r));
    int ok = 1;
    if (!json_is_array(routes)) {
        snprintf(err, errlen, "routes: must be an array");
        ok = 0;
    }
    if (ok && def) {
        ok = parse_topics(&r->fallback, def, "default", err, errlen) == 0;
    } else if (ok) {
        r->fallback.topics[0] = cm_xstrdup(default_topic);
        r->fallback.ntopics = 1;
    }
    if (ok) {
        r->routes = cm_xcalloc(json_array_size(routes) + 1, sizeof(*r->routes));
    }
    size_t i;
    const json_t *jr;
    json_array_foreach(ok ? routes : NULL, i, jr)
    {
        struct route *rt = &r->routes[r->n++];
        const json_t *when = json_object_get(jr, "when");
        char field[48];
        if (!json_is_object(jr) || !json_is_string(when)) {
            snprintf(err, errlen, "routes[%zu].when: must be an expression string", i);
            ok = 0;
            break;
        }
        struct cm_expr_error cerr;
        rt->when = cm_expr_compile(json_string_value(when), &cerr);
        if (!rt->when) {
            char pos[200];
            snprintf(err, errlen, "routes[%zu].when: %s", i,
                     cm_expr_error_format(&cerr, pos, sizeof(pos)));
            ok = 0;
            break;
        }
        add_fields(r, rt->when);
        snprintf(field, sizeof(field), "routes[%zu].topics", i);
        if (parse_topics(rt, json_object_get(jr, "topics"), field, err, errlen) != 0) {
            ok = 0;
            break;
        }
    }
    if (!ok) {
        json_decref(doc);
        gw_routes_free(r);
        return NULL;
    }
    if (!def) { /* the document in force names its default */
        json_object_set_new(doc, "default", json_pack("[s]", default_topic));
    }
    r->doc = doc;
    return r;
}

struct gw_routes *gw_routes_load_file(const char *path, const char *default_topic, char *err,
                                      size_t errlen)
{
    size_t len;
    char *buf = cm_file_read(path, ROUTES_FILE_MAX, &len, err, errlen);
    struct gw_routes *r = buf ? gw_routes_parse(buf, len, default_topic, err, errlen) : NULL;
    free(buf);
    return r;
}

int gw_routes_read_events(const struct gw_routes *r)
{
    return r->n > 0;
}

const char *const *gw_routes_fields(const struct gw_routes *r, size_t *n)
{
    *n = r->nfields;
    return (const char *const *)r->fields;
}

size_t gw_routes_select(const struct gw_routes *r, const json_t *ev, const char *const **topics,
                        size_t *errors)
{
    for (size_t i = 0; i < r->n; i++) {
        enum cm_expr_outcome o = cm_expr_eval_bool(r->routes[i].when, ev, NULL, 0);
        if (o == CM_EXPR_TRUE) {
            *topics = (const char *const *)r->routes[i].topics;
            return r->routes[i].ntopics;
        }
        if (o == CM_EXPR_ERROR && errors) {
            (*errors)++;
        }
    }
    *topics = (const char *const *)r->fallback.topics;
    return r->fallback.ntopics;
}

void gw_routes_release(void *routes)
{
    gw_routes_free(routes);
}
