/* event: CloudEvents as the consuming daemons see them. A consumed Kafka record parsed into its
 * envelope (the one record→envelope path of processor, rules, store and output), and the builder
 * of derived events (window results, alerts): deterministic id, the cause's tenant and
 * traceparent carried over, and the structured-mode Kafka key and headers every produced
 * CloudEvent carries (ce_id, ce_type, ce_source, ce_tenant, traceparent, content-type).
 * Pure functions over jansson values; thread-safe. */
#ifndef CM_EVENT_H
#define CM_EVENT_H

#include "cm/envelope.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_kafka_msg;

#define CM_EVENT_CONTENT_TYPE CM_ENVELOPE_CONTENT_TYPE
#define CM_EVENT_MAX_HEADERS CM_ENVELOPE_MAX_HEADERS

/* A consumed record's event. Strings are borrowed from `ev` (NULL when absent). */
struct cm_event {
    json_t *ev;      /* the envelope object (owned; cm_event_clear releases it) */
    int64_t time_ms; /* `time` when valid, else the record's timestamp */
    const char *id, *source, *type, *subject, *tenant, *traceparent;
};

/* How strictly a record is read. */
enum cm_event_check {
    CM_EVENT_OBJECT,  /* any JSON object */
    CM_EVENT_IDS,     /* an object with string id, source and type (the store's log) */
    CM_EVENT_ENVELOPE /* a valid CloudEvent with an id (cm_envelope_validate) */
};

/* Parses a record's value. Returns 0 with *out filled (release with cm_event_clear), or
 * CM_E_INVAL with *why set to the reason ("not JSON", ...; for CM_EVENT_ENVELOPE the field and what
 * is wrong with it, valid on this thread until its next call); the caller logs it once with
 * cm_event_log_invalid. Until cm_event_clear, the thread's log lines carry the event's trace id
 * (cm_log_set_trace). */
int cm_event_from_record(const struct cm_kafka_msg *m, enum cm_event_check check,
                         struct cm_event *out, const char **why);
/* Parses text the same way (offline tools); fallback_ms stands in for the record timestamp. */
int cm_event_from_text(const char *text, size_t len, int64_t fallback_ms, enum cm_event_check check,
                       struct cm_event *out, const char **why);
/* Fills the borrowed fields of out from out->ev (after changing ev). */
void cm_event_refresh(struct cm_event *out);
void cm_event_clear(struct cm_event *e);
/* Logs `record_invalid` naming topic, partition, offset and why. */
void cm_event_log_invalid(const struct cm_kafka_msg *m, const char *why);

/* A derived event. Strings are borrowed for the call. */
struct cm_derived {
    const char *type;
    const char *source;
    const char *subject; /* NULL: none */
    int64_t time_ms;
    const char *const *id_parts; /* the id is cm_uuid_from_parts of these */
    unsigned nid_parts;
    const char *tenant;      /* NULL: none */
    const char *traceparent; /* of the cause; NULL or invalid: none */
    /* extension attributes after traceparent: names and values in turn (NULL: none) */
    const char *const *ext;
    unsigned next;
};

/* Builds the CloudEvent; takes ownership of data (may be NULL). Caller decrefs. */
json_t *cm_event_derived_new(const struct cm_derived *d, json_t *data);

/* Kafka key of an event (partitionkey, subject, id; borrowed, "" when none) and its headers:
 * as cm_envelope_headers: content-type, then ce_id, ce_type, ce_source, ce_tenant, traceparent.
 * Returns the header count (at most CM_EVENT_MAX_HEADERS); values borrowed from ev. */
const char *cm_event_key(const json_t *ev);
size_t cm_event_headers(const json_t *ev, const char *names[CM_EVENT_MAX_HEADERS],
                        const char *values[CM_EVENT_MAX_HEADERS]);

#endif
