/* gw_route: the gateway's routing table: which Kafka topics an accepted event goes to.
 * Document: {"routes": [{"when": "<expression>", "topics": ["t1", "t2"]}, ...],
 *            "default": ["events"]}
 * The first route whose `when` is true decides (an expression that fails to evaluate counts as
 * false and is reported); with none, the default topics. Without a document every event goes to
 * the default topic. Immutable after loading: share it between threads; a cm_swap holds the
 * table in force, so a new one replaces it without stopping requests (gw_route_admin). */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <jansson.h>
#include <stddef.h>

#define GW_ROUTE_MAX_TOPICS 8

struct gw_routes;

/* Parses a routing document; `default_topic` is used when the document names no default.
 * Returns the table (caller frees with gw_routes_free) or NULL with one line in err naming the
 * field (routes[1].when: 1:5: ...). */
struct gw_routes *gw_routes_parse(const char *text, size_t len, const char *default_topic,
                                  char *err, size_t errlen);
struct gw_routes *gw_routes_load_file(const char *path, const char *default_topic, char *err,
                                      size_t errlen);
/* A table that sends everything to `topic`. */
struct gw_routes *gw_routes_single(const char *topic);
void gw_routes_free(struct gw_routes *r);
/* gw_routes_free with the signature cm_swap takes. */
void gw_routes_release(void *routes);

/* The routing document the table was built from (borrowed; default topics filled in). */
const json_t *gw_routes_document(const struct gw_routes *r);

/* 1 when the table has route expressions (gw_routes_select reads the event); 0 when every event
 * goes to the default topics (ev may then be NULL). */
int gw_routes_read_events(const struct gw_routes *r);
/* The event's fields route expressions read (borrowed from the table; *n of them): the rest of
 * the event need not be given to gw_routes_select. */
const char *const *gw_routes_fields(const struct gw_routes *r, size_t *n);

/* Sets *topics (borrowed from the table) and returns how many. *errors (may be NULL) is increased
 * by the number of route expressions that failed to evaluate. */
size_t gw_routes_select(const struct gw_routes *r, const json_t *ev, const char *const **topics,
                        size_t *errors);

#endif
