/* gw_body: turns a POST /events request body into events: Content-Encoding gzip (or identity)
 * decoded with zlib under the size cap (a gzip bomb is a 413, not an allocation), then by
 * Content-Type one CloudEvent (application/json, application/cloudevents+json), a batch (a JSON
 * array, application/cloudevents-batch+json) or bulk NDJSON (application/x-ndjson, one event
 * per line; a bad line fails only its event), or a binary-mode CloudEvent (gw_binary.h). Events are
 * checked with jsonscan first: one it accepts without doubt and that is an object is handed on as
 * its text (the gateway's fast lane enriches it without parsing it); the rest is parsed with
 * jansson, and any doubt sends the whole body through jansson, so what is refused and how is
 * jansson's. Pure function of its inputs; thread-safe. */
#ifndef GW_BODY_H
#define GW_BODY_H

#include "gw_binary.h"

#include "cm/jsonscan.h"

#include <jansson.h>
#include <stddef.h>

struct gw_item {
    json_t *event;     /* owned; NULL when the item could not be parsed or is text */
    char *parse_error; /* owned; set when the item could not be parsed */
    const char *text;  /* an object checked by jsonscan (event and parse_error NULL): its text, */
    size_t len;        /* inside the request body or the body's decoded copy, */
    const struct cm_jscan_member *members; /* and its members when the scan gathered them */
    size_t nmembers;
};

struct gw_body {
    struct gw_item *items;
    size_t n, cap;
    char *decoded;                   /* the gunzipped body, owned: items' text points into it */
    struct cm_jscan_member *members; /* owned when allocated: items' members point into it (or
                                      * into the thread's own room, until the next body) */
    int single; /* one event sent as an object: answer {"id": ...}, not per-event results */
};

/* Returns 0 with *out filled (release with gw_body_clear; the request body must outlive it), or
 * the HTTP status to answer (400,
 * 413, 415) with a message. */
int gw_body_parse(const char *content_type, const char *content_encoding, const char *body,
                  size_t len, size_t max_bytes, size_t max_events, struct gw_body *out, char *msg,
                  size_t msglen);
/* A binary-mode CloudEvent (gw_binary.h): the body decoded as above, then the one event rebuilt
 * from the ce- headers, the body and its Content-Type (400 naming what is wrong). */
int gw_body_parse_binary(const struct gw_header *hdrs, size_t nhdrs, const char *content_type,
                         const char *content_encoding, const char *body, size_t len,
                         size_t max_bytes, struct gw_body *out, char *msg, size_t msglen);
void gw_body_clear(struct gw_body *b);

#endif
