/* gw_schema: validation of events' `data` against the schema registered for their subject.
 * The subject follows one of Confluent's naming strategies, with the CloudEvents type as the
 * record's fully-qualified name: RecordNameStrategy "<type>" (the default), TopicNameStrategy
 * "<topic>-value", or TopicRecordNameStrategy "<topic>-<type>". The
 * latest schema of each subject is fetched from the registry (GET /subjects/{s}/versions/latest),
 * compiled once (JSON Schema or Avro), cached, and refreshed in the background every TTL (every
 * 2 s at most for a subject without a schema, so a new registration takes effect quickly), and at
 * once when the registry announces a change of the subject (with database_url: the registry's
 * trigger NOTIFYs channel registry_subjects, which the gateway LISTENs to); with the
 * registry down, cached schemas keep serving and uncached subjects follow the unknown-type policy
 * (allow or reject). Thread-safe: handlers on HTTP threads share one gw_schemas. */
#ifndef GW_SCHEMA_H
#define GW_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_metrics;
struct gw_schemas;

enum gw_subject_strategy { GW_SUBJECT_TYPE, GW_SUBJECT_TOPIC, GW_SUBJECT_TOPIC_RECORD };

enum gw_check {
    GW_CHECK_VALID,      /* validated: *schema_id set */
    GW_CHECK_NO_SCHEMA,  /* nothing registered (or registry unreachable) and the policy allows */
    GW_CHECK_INVALID,    /* data does not match: errors filled (422) */
    GW_CHECK_UNKNOWN,    /* nothing registered and the policy rejects (422) */
    GW_CHECK_OVER_BUDGET /* not validated: the request's budget of validation steps is spent */
};

struct gw_schemas_config {
    const char *registry_url;
    const char *user_info; /* "user:password" for the registry's HTTP Basic; NULL: none */
    enum gw_subject_strategy strategy;
    int reject_unknown;
    int64_t ttl_ms;
    size_t max_subjects; /* cached at most, the least recently used forgotten first; 0 = 10,000 */
    const char *database_url; /* the registry's PostgreSQL, for its announcements; NULL: none */
};

/* Starts the background refresher. Borrows metrics. Free with gw_schemas_free. */
struct gw_schemas *gw_schemas_new(const struct gw_schemas_config *cfg, struct cm_metrics *metrics);
void gw_schemas_free(struct gw_schemas *s);

/* The schema registered for an event of `type` routed to `topic` (fetched on first use), its
 * subject in `subject`; NULL when there is none (or the registry is unreachable), with *verdict
 * GW_CHECK_NO_SCHEMA or GW_CHECK_UNKNOWN by the policy. Release with gw_schema_release. */
struct gw_schema;
const struct gw_schema *gw_schemas_find(struct gw_schemas *s, const char *type, const char *topic,
                                        char *subject, size_t subject_len, enum gw_check *verdict);
/* Validates data (NULL: absent, checked as null) against the schema: GW_CHECK_VALID with
 * *schema_id set, or GW_CHECK_INVALID with up to 20 "pointer: message" strings in errors. A JSON
 * Schema's walk takes its steps from *budget (the request's, shared by its events): when that
 * runs out first, GW_CHECK_OVER_BUDGET (Avro's check is linear in the value and takes none). */
enum gw_check gw_schema_validate(const struct gw_schema *schema, const json_t *data, int *schema_id,
                                 json_t *errors, size_t *budget);
void gw_schema_release(const struct gw_schema *schema);

#endif
