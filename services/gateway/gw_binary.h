/* gw_binary: the CloudEvents HTTP protocol binding's binary mode (what the CloudEvents SDKs send
 * by default): the attributes in `ce-<name>` headers (values percent-decoded), the body as
 * `data` and its Content-Type as `datacontenttype`. The event is rebuilt in the JSON event
 * format, so the gateway then treats it exactly as the structured form: `data` is the parsed
 * body for a JSON media type (application/json or any +json type), a string for text (text/
 * types, XML), and `data_base64` for anything else. Pure functions; thread-safe. */
#ifndef GW_BINARY_H
#define GW_BINARY_H

#include <jansson.h>
#include <stddef.h>

struct gw_header {
    const char *name, *value; /* as received; names in any case */
};

/* 1 when a request is in binary mode: a ce-specversion header is among hdrs and the
 * Content-Type is not a structured or batch CloudEvents type (whose ce- headers are ignored). */
int gw_binary_mode(const struct gw_header *hdrs, size_t n, const char *content_type);

/* The event (new reference) built from the ce- headers, the body (decoded already) and its
 * Content-Type; NULL with a message naming the header or the body's problem in msg (answer 400). */
json_t *gw_binary_event(const struct gw_header *hdrs, size_t n, const char *content_type,
                        const char *body, size_t len, char *msg, size_t msglen);

#endif
