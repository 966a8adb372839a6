/* gw_prepare: one event of a POST /events request made ready to produce (see
 * gw_ingest_internal.h): the fast lane enriches a scanned event's text without parsing it; the
 * jansson lane validates the envelope, checks a producer signature (gw_sig), enriches; both
 * route (gw_route) and validate data against the subject's schema (gw_schema). */
#include "gw_ingest_internal.h"

#include "gw_route.h"
#include "gw_schema.h"
#include "gw_sig.h"

#include "cm/http.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/swap.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <string.h>

/* Schema check of an event's data: the jansson value (jansson lane) or the JSON text (fast lane,
 * parsed only when the subject has a schema; NULL: no data). On success *schema_id is set (0: no
 * schema), else the item's refusal. */
static int check_schema(struct gw_ingest *g, struct item *it, const char *type, const json_t *data,
                        const char *data_text, size_t data_len, const char *topic, int *schema_id)
{
    char subject[300], msg[400];
    enum gw_check r;
    *schema_id = 0;
    const struct gw_schema *schema =
        gw_schemas_find(g->schemas, type, topic, subject, sizeof(subject), &r);
    json_t *errors = NULL; /* only for a schema: most events' types have none */
    if (schema) {
        errors = json_array();
        json_t *parsed = NULL;
        if (data_text) {
            parsed = json_loadb(data_text, data_len, JSON_DECODE_ANY, NULL);
            data = parsed;
        }
        r = gw_schema_validate(schema, data, schema_id, errors, &it->batch->validation_budget);
        json_decref(parsed);
        gw_schema_release(schema);
    }
    if (r == GW_CHECK_VALID || r == GW_CHECK_NO_SCHEMA) {
        json_decref(errors);
        return 0;
    }
    if (r == GW_CHECK_INVALID) {
        snprintf(msg, sizeof(msg), "data does not match the schema registered for subject '%s'",
                 subject);
        json_t *e = cm_http_error_body(422, msg);
        json_object_set_new(e, "errors", errors);
        ingest_refuse(it, 422, e, "schema");
    } else if (r == GW_CHECK_OVER_BUDGET) {
        /* not the event's fault alone: it may pass in a request of its own */
        snprintf(msg, sizeof(msg),
                 "not validated: this request's events took more than the %zu steps of schema "
                 "validation one request may take (GATEWAY_VALIDATION_BUDGET); send this event "
                 "in a smaller request",
                 it->batch->g->validation_budget);
        json_decref(errors);
        json_t *e = cm_http_error_body(413, msg);
        json_object_set_new(e, "field", json_string("/data"));
        ingest_refuse(it, 413, e, "validation_budget");
    } else {
        snprintf(msg, sizeof(msg),
                 "no schema is registered for subject '%s' and unknown types are rejected",
                 subject);
        json_decref(errors);
        ingest_refuse(it, 422, cm_http_error_body(422, msg), "unknown_type");
    }
    return -1;
}

/* The fast lane: the event's text enriched by splicing (jansson values only of the members
 * route expressions read, and of the data for a registered schema). Returns 1 when the event needs
 * the jansson lane instead. */
static int prepare_text(struct gw_ingest *g, const struct gw_routes *routes, struct item *it,
                        const struct cm_envelope_enrichment *enr, char *scratch, size_t scratch_len,
                        const char *const **topics, size_t *ntopics)
{
    /* scanned by gw_body */
    struct cm_jscan_span ev_text = {it->text, it->textlen, 'o', 0, 0, 0, it->members, it->nmembers};
    if (cm_envelope_enrich_text(&ev_text, enr, scratch, scratch_len, &it->out) != 0) {
        return 1;
    }
    size_t idlen = strlen(it->out.id); /* at most CM_ENVELOPE_MAX_ID */
    memcpy(it->id, it->out.id, idlen + 1);
    json_t *ev = NULL; /* the enriched event's members route expressions read */
    if (gw_routes_read_events(routes)) {
        size_t nfields;
        const char *const *fields = gw_routes_fields(routes, &nfields);
        ev = cm_envelope_text_members(&it->out, fields, nfields);
    }
    size_t route_errors = 0;
    *ntopics = gw_routes_select(routes, ev, topics, &route_errors);
    cm_counter_add(g->m_route_errors, route_errors);
    json_decref(ev);
    int schema_id = 0;
    if (g->schemas && check_schema(g, it, it->out.type, NULL, it->out.data, it->out.datalen,
                                   (*topics)[0], &schema_id) != 0) {
        *ntopics = 0;
    } else if (schema_id) {
        cm_envelope_text_set_schemaid(&it->out, schema_id);
    }
    return 0;
}

static struct cm_log_limit time_ahead_log = CM_LOG_LIMIT(60000);

/* An event refused for a time too far ahead: which producer's clock runs ahead, once a minute. */
static void log_time_ahead(const struct cm_envelope_enrichment *enr, const json_t *ev,
                           const char *why)
{
    unsigned long long left_out;
    if (cm_log_limit_pass(&time_ahead_log, cm_monotonic_ms(), &left_out)) {
        CM_LOG_WARN(
            "event_time_ahead",
            "tenant '%.127s', source '%.200s'%s%.100s: %s (%llu more refused since the "
            "last such line; counted in gateway_events_total{reason=\"time_ahead\"})",
            enr->tenant ? enr->tenant : "", json_string_value(json_object_get(ev, "source")),
            enr->clientip ? ", from " : "", enr->clientip ? enr->clientip : "", why, left_out);
    }
}

/* Envelope and schema checks, enrichment and routing of one event. On success leaves the event
 * enriched in it->out (fast lane; in scratch when it fits, NULL: allocated) or it->event and
 * its topics in *topics; else sets the item's refusal. */
size_t ingest_prepare(struct gw_ingest *g, const struct gw_routes *routes, struct item *it,
                      const struct cm_envelope_enrichment *enr, char *scratch, size_t scratch_len,
                      const char *const **topics)
{
    /* signed events, and all of a tenant that requires signatures, take the jansson lane */
    int sig_lane = g->sigs && it->text &&
                   (gw_sigs_strict(g->sigs, enr->tenant) ||
                    cm_memmem(it->text, it->textlen, "\"sig", 4) != NULL);
    if (it->text) {
        size_t n;
        if (!sig_lane && prepare_text(g, routes, it, enr, scratch, scratch_len, topics, &n) == 0) {
            return n;
        }
        /* jsonscan accepted the text without doubt: jansson reads it */
        it->event = json_loadb(it->text, it->textlen, JSON_REJECT_DUPLICATES, NULL);
    }
    struct cm_envelope_error verr;
    int invalid = cm_envelope_validate(it->event, &verr) != 0;
    if (invalid || cm_envelope_check_time(it->event, enr, &verr) != 0) {
        json_t *e = cm_http_error_body(400, verr.message);
        json_object_set_new(e, "field", json_string(verr.field));
        /* a producer whose clock runs ahead shows apart from malformed events */
        ingest_refuse(it, 400, e, invalid ? "envelope" : "time_ahead");
        if (!invalid) {
            log_time_ahead(enr, it->event, verr.message);
        }
        return 0;
    }
    enum gw_sig_result sig = GW_SIG_NONE;
    if (g->sigs) {
        char why[300];
        sig = gw_sigs_check(g->sigs, enr->tenant, it->event, why, sizeof(why));
        if (sig == GW_SIG_REFUSED) {
            json_t *e = cm_http_error_body(401, why);
            json_object_set_new(
                e, "field",
                json_string(strncmp(why, "sigkeyid", 8) == 0 ? "/sigkeyid" : "/signature"));
            snprintf(it->batch->policy, sizeof(it->batch->policy), "%.120s", why);
            ingest_refuse(it, 401, e, "signature");
            return 0;
        }
    }
    cm_envelope_enrich(it->event, enr);
    if (sig == GW_SIG_VERIFIED) {
        json_object_set_new(it->event, "sigverified", json_true());
    }
    snprintf(it->id, sizeof(it->id), "%s", json_string_value(json_object_get(it->event, "id")));
    size_t route_errors = 0;
    size_t n = gw_routes_select(routes, it->event, topics, &route_errors);
    cm_counter_add(g->m_route_errors, route_errors);
    int schema_id = 0;
    if (g->schemas &&
        check_schema(g, it, json_string_value(json_object_get(it->event, "type")),
                     json_object_get(it->event, "data"), NULL, 0, (*topics)[0], &schema_id) != 0) {
        return 0;
    }
    if (schema_id) {
        json_object_set_new(it->event, "schemaid", json_integer(schema_id));
    }
    return n;
}
