/* event: consumed records as CloudEvents and the derived-event builder (see event.h). */
#include "cm/event.h"

#include "cm/envelope.h"
#include "cm/err.h"
#include "cm/jsonscan.h"
#include "cm/kafka.h"
#include "cm/log.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <stdio.h>
#include <string.h>

static const char *str_attr(const json_t *ev, const char *name)
{
    return json_string_value(json_object_get(ev, name));
}

void cm_event_refresh(struct cm_event *out)
{
    const json_t *ev = out->ev;
    out->id = str_attr(ev, "id");
    out->source = str_attr(ev, "source");
    out->type = str_attr(ev, "type");
    out->subject = str_attr(ev, "subject");
    out->tenant = str_attr(ev, "tenant");
    out->traceparent = str_attr(ev, "traceparent");
}

/* The reason an envelope check failed, naming the field (the thread's, until its next call). */
static _Thread_local char envelope_why[sizeof((struct cm_envelope_error *)0)->message + 32];

int cm_event_from_text(const char *text, size_t len, int64_t fallback_ms, enum cm_event_check check,
                       struct cm_event *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    json_t *ev = text ? cm_jscan_load(text, len) : NULL; /* json_loadb's reading, faster */
    const char *reason = NULL;
    if (!ev) {
        reason = "not JSON";
    } else if (!json_is_object(ev)) {
        reason = "not a JSON object";
    } else if (json_object_get(ev, "tenant") &&
               !cm_envelope_tenant_ok(json_string_value(json_object_get(ev, "tenant")),
                                      json_string_length(json_object_get(ev, "tenant")))) {
        reason = "tenant is not a string of at most 127 bytes without control characters";
    } else if (check == CM_EVENT_IDS && !json_is_string(json_object_get(ev, "id"))) {
        reason = "id: missing, or not a string";
    } else if (check == CM_EVENT_IDS && !json_is_string(json_object_get(ev, "source"))) {
        reason = "source: missing, or not a string";
    } else if (check == CM_EVENT_IDS && !json_is_string(json_object_get(ev, "type"))) {
        reason = "type: missing, or not a string";
    } else if (check == CM_EVENT_ENVELOPE) {
        struct cm_envelope_error err = {{0}, {0}};
        if (cm_envelope_validate(ev, &err) != 0) { /* named: "not a CloudEvent" said too little */
            snprintf(envelope_why, sizeof(envelope_why), "not a CloudEvent: %s", err.message);
            reason = envelope_why;
        } else if (!json_is_string(json_object_get(ev, "id"))) {
            reason = "not a CloudEvent with an id";
        }
    }
    if (reason) {
        json_decref(ev);
        if (why) {
            *why = reason;
        }
        return CM_E_INVAL;
    }
    out->ev = ev;
    out->time_ms = cm_envelope_time_ms(ev, fallback_ms);
    cm_event_refresh(out);
    return 0;
}

int cm_event_from_record(const struct cm_kafka_msg *m, enum cm_event_check check,
                         struct cm_event *out, const char **why)
{
    size_t len;
    const char *value = cm_kafka_msg_value(m, &len);
    int rc = cm_event_from_text(value, len, cm_kafka_msg_timestamp_ms(m), check, out, why);
    cm_log_set_trace(rc == 0 ? out->traceparent : NULL); /* lines about it carry its trace */
    return rc;
}

void cm_event_clear(struct cm_event *e)
{
    cm_log_set_trace(NULL);
    if (e) {
        json_decref(e->ev);
        memset(e, 0, sizeof(*e));
    }
}

void cm_event_log_invalid(const struct cm_kafka_msg *m, const char *why)
{
    CM_LOG_WARN("record_invalid", "%s [%d] @%lld skipped: %s", cm_kafka_msg_topic(m),
                cm_kafka_msg_partition(m), (long long)cm_kafka_msg_offset(m), why);
}

json_t *cm_event_derived_new(const struct cm_derived *d, json_t *data)
{
    char id[CM_UUID_STR_LEN], time[CM_RFC3339_LEN];
    cm_uuid_from_parts(d->id_parts, d->nid_parts, id);
    cm_time_format_rfc3339(d->time_ms, time);
    json_t *ev = json_object();
    json_object_set_new(ev, "specversion", json_string("1.0"));
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "source", json_string(d->source));
    json_object_set_new(ev, "type", json_string(d->type));
    if (d->subject) {
        json_object_set_new(ev, "subject", json_string(d->subject));
    }
    json_object_set_new(ev, "time", json_string(time));
    json_object_set_new(ev, "datacontenttype", json_string("application/json"));
    if (d->tenant) {
        json_object_set_new(ev, "tenant", json_string(d->tenant));
    }
    if (d->traceparent && cm_traceparent_valid(d->traceparent)) {
        json_object_set_new(ev, "traceparent", json_string(d->traceparent));
    }
    for (unsigned i = 0; d->ext && i < d->next; i++) {
        json_object_set_new(ev, d->ext[2 * i], json_string(d->ext[2 * i + 1]));
    }
    if (data) {
        json_object_set_new(ev, "data", data);
    }
    return ev;
}

const char *cm_event_key(const json_t *ev)
{
    const char *k = cm_envelope_key(ev);
    return k ? k : "";
}

size_t cm_event_headers(const json_t *ev, const char *names[CM_EVENT_MAX_HEADERS],
                        const char *values[CM_EVENT_MAX_HEADERS])
{
    return cm_envelope_headers(ev, names, values);
}
