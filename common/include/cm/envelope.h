/* envelope: the CloudEvents 1.0 envelope of ARCHITECTURE.md, over jansson values.
 * Validates what clients send, fills in what the gateway adds, and derives the Kafka key and
 * headers. Functions take a borrowed json_t object and modify it in place where stated. */
#ifndef CM_ENVELOPE_H
#define CM_ENVELOPE_H

#include "cm/jsonscan.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CM_ENVELOPE_MAX_ID 256
#define CM_ENVELOPE_MAX_EXT_NAME 20

/* Why an envelope was rejected: the JSON pointer of the field and a message. */
struct cm_envelope_error {
    char field[64];
    char message[192];
};

/* What the gateway adds to an accepted event; strings borrowed for the call. */
struct cm_envelope_enrichment {
    const char *tenant;        /* from the token; NULL leaves no tenant */
    const char *clientip;      /* NULL leaves none */
    int64_t received_ms;       /* receive time */
    const char *received_text; /* received_ms as RFC 3339 when formatted once for many events;
                                * NULL: formatted per event */
    int64_t max_ahead_ms;      /* > 0: an event whose `time` is more than this after received_ms
                                * is refused (a producer's clock far ahead would move every
                                * windowed pipeline's watermark past the events to come); 0: any */
};

/* Checks an event sent by a client: an object, `type` and `source` non-empty strings,
 * `specversion` "1.0" when present, `id`/`subject`/`time`/... of the right types, `time`
 * RFC 3339, not both `data` and `data_base64`, extension names [a-z0-9]{1,20} with scalar values.
 * Returns 0, or CM_E_INVAL with *err filled in. */
int cm_envelope_validate(const json_t *ev, struct cm_envelope_error *err);

/* Refuses an event whose `time` lies more than e->max_ahead_ms after e->received_ms (none when
 * max_ahead_ms is 0 or there is no valid `time`). Returns 0, or CM_E_INVAL with *err naming
 * "/time". Call after cm_envelope_validate. */
int cm_envelope_check_time(const json_t *ev, const struct cm_envelope_enrichment *e,
                           struct cm_envelope_error *err);

/* A tenant name: at most CM_TENANT_MAX bytes, none of them a control character (state and
 * checkpoints join tenant and key with one, so a tenant holding one could come back from a
 * checkpoint as another tenant with another key). 1 when s (len bytes) is one. */
#define CM_TENANT_MAX 127
int cm_envelope_tenant_ok(const char *s, size_t len);

/* Fills in what the gateway owns: specversion, id (UUIDv7) and time when absent; tenant,
 * receivedat and clientip always (client-sent values are overwritten); traceparent kept when
 * valid W3C, else created. Call after cm_envelope_validate succeeded. */
void cm_envelope_enrich(json_t *ev, const struct cm_envelope_enrichment *e);

/* The Kafka key: `partitionkey`, else `subject`, else `id` (borrowed from ev; NULL if none). */
const char *cm_envelope_key(const json_t *ev);

/* The Kafka protocol binding of CloudEvents, structured mode: the record's value is the event
 * as JSON and its content-type header says so, so CloudEvents SDKs read records as events. */
#define CM_ENVELOPE_CONTENT_TYPE "application/cloudevents+json; charset=UTF-8"
#define CM_ENVELOPE_MAX_HEADERS 6

/* Kafka headers: content-type (CM_ENVELOPE_CONTENT_TYPE), then ce_id, ce_type, ce_source,
 * ce_tenant, traceparent for those present (read without parsing the value). Fills
 * names[i]/values[i] (borrowed from ev) and returns the count. */
size_t cm_envelope_headers(const json_t *ev, const char *names[CM_ENVELOPE_MAX_HEADERS],
                           const char *values[CM_ENVELOPE_MAX_HEADERS]);

/* Compact JSON text of the envelope; caller frees with free(). */
char *cm_envelope_serialize(const json_t *ev);
/* The same into buf when it fits (no allocation): returns the length, which is larger than cap
 * when it did not fit (then use cm_envelope_serialize). Not NUL-terminated. */
size_t cm_envelope_serialize_into(const json_t *ev, char *buf, size_t cap);

/* Event time in ms: `time` when valid, else fallback. */
int64_t cm_envelope_time_ms(const json_t *ev, int64_t fallback);

/* ---- The fast lane: an event as text ----
 * An event whose text jsonscan accepts without doubt, whose attributes the gateway reads need no
 * unescaping, and that passes every check of cm_envelope_validate, is enriched by splicing: its
 * members are copied as they are (compact at the top level) and the gateway's attributes are
 * written in, as cm_envelope_enrich sets them (same order, same values), without building
 * jansson values. Anything else is left to the functions above. */
struct cm_envelope_text {
    char *json; /* the enriched event (owned, NUL-terminated), room for
                   cm_envelope_text_set_schemaid */
    size_t len;
    /* NUL-terminated, inside the same allocation: */
    const char *id, *type;
    const char *key; /* the Kafka key: partitionkey, subject or id */
    size_t keylen;
    /* as cm_envelope_headers gives them */
    const char *header_names[CM_ENVELOPE_MAX_HEADERS], *header_values[CM_ENVELOPE_MAX_HEADERS];
    size_t nheaders;
    const char *data; /* the `data` member's JSON text inside json; NULL when absent */
    size_t datalen;
    int owned; /* json was allocated (not the caller's scratch buffer) */
};

/* event: a value found by a jsonscan scan (an object not marked unsure, else jansson's lane).
 * The text is written into scratch when it fits in scratch_len bytes (about three times the
 * event's size plus 1 KiB; NULL: always allocated), then valid while scratch is.
 * Returns 0 with *out filled (free with cm_envelope_text_free), or CM_ENVELOPE_NEEDS_JANSSON
 * when the event is not valid, or not plainly so: parse it, then validate and enrich it with the
 * functions above (which also say what is wrong). */
#define CM_ENVELOPE_NEEDS_JANSSON 1
int cm_envelope_enrich_text(const struct cm_jscan_span *event,
                            const struct cm_envelope_enrichment *e, char *scratch,
                            size_t scratch_len, struct cm_envelope_text *out);
/* The enriched event as a jansson object holding its members named in names (n of them), for
 * expressions that read only those. Caller decrefs. */
json_t *cm_envelope_text_members(const struct cm_envelope_text *t, const char *const *names,
                                 size_t n);
/* Adds "schemaid" at the end, as the gateway does after validating data. */
void cm_envelope_text_set_schemaid(struct cm_envelope_text *t, int schema_id);
void cm_envelope_text_free(struct cm_envelope_text *t);

/* Returns 1 for a valid W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>", ids not all zero). */
int cm_traceparent_valid(const char *s);

#endif
