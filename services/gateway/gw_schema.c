/* gw_schema: the gateway's schema cache and validation (see gw_schema.h).
 * Entries are reference counted: a handler holds its entry while validating, and the refresher
 * may replace it meanwhile. Fetches use the common HTTP client (cm/http_client.h) with a short
 * timeout, behind a circuit breaker: after a fetch the registry did not answer (unreachable,
 * timed out, 5xx) it is left alone for a cool-down, so a registry that takes connections but
 * does not answer costs one request the timeout, not every request for a subject not cached.
 * With a database, a listener follows the registry's announcements of changed subjects
 * (LISTEN registry_subjects) and fetches a cached subject again at once. */
#include "gw_schema.h"

#include "cm/avro.h"
#include "cm/breaker.h"
#include "cm/err.h"
#include "cm/http_client.h"
#include "cm/jsonschema.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCH_TIMEOUT_MS 2000
#define MAX_SCHEMA_BYTES (4 * 1024 * 1024)
#define CHANNEL "registry_subjects" /* the registry's trigger on subject_versions */

struct entry {
    atomic_int refs;
    char *subject;
    int found; /* 0: the registry has no schema for the subject */
    int id;
    struct cm_jsonschema *json;
    struct cm_avro_schema *avro;
    int64_t asked; /* the fetch's number: of two answers for a subject, the later asked wins */
    _Atomic int64_t fetched_ms;
    _Atomic int64_t used_ms; /* when an event last named the subject */
};

struct gw_schemas {
    struct gw_schemas_config cfg;
    char *url;
    char *user_info; /* NULL: no credentials */
    json_t *map;     /* subject -> integer holding the struct entry pointer */
    pthread_mutex_t lock;
    pthread_t refresher;
    atomic_int stop;
    _Atomic int64_t asked; /* fetches begun */
    /* fetches numbered up to this began before a subject not cached was announced changed */
    _Atomic int64_t before_announced;
    struct cm_pg_follower *follower; /* NULL: no database, the TTL alone refreshes */
    struct cm_series *m_fetch_ok, *m_fetch_missing, *m_fetch_error;
    struct cm_breaker *breaker;
};

static void entry_release(struct entry *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1) {
        cm_jsonschema_free(e->json);
        cm_avro_schema_free(e->avro);
        free(e->subject);
        free(e);
    }
}

/* GET {registry}/subjects/{subject}/versions/{version}; returns the parsed answer on 200 (caller
 * decrefs) and the HTTP status (0 when the registry could not be reached) in *status. */
static json_t *get_version(struct gw_schemas *s, const char *subject, const char *version,
                           long *status)
{
    char *esc = cm_http_escape(subject);
    char *url = cm_xasprintf("%s/subjects/%s/versions/%s", s->url, esc, version);
    free(esc);
    struct cm_http_request rq = {.url = url,
                                 .user_info = s->user_info,
                                 .timeout_ms = FETCH_TIMEOUT_MS,
                                 .max_bytes = MAX_SCHEMA_BYTES};
    struct cm_http_response rs;
    int rc = cm_http_fetch(&rq, &rs);
    if (rc != 0) {
        CM_LOG_DEBUG("schema_fetch_failed", "subject %s: %s", subject, rs.error);
    }
    *status = rs.status;
    json_t *doc = rc == 0 && rs.status == 200 ? json_loads(rs.body, 0, NULL) : NULL;
    cm_http_response_free(&rs);
    free(url);
    return doc;
}

/* Adds the schema documents that `refs` name (recursively) to docs, by reference name; `fetched`
 * holds what this fetch has read already ("subject\nversion" -> schema, its own references
 * added), so a schema that several others name is asked for once, not once per path (four-way
 * diamonds eight levels deep were 4^8 requests). 0, or -1 when one cannot be fetched. */
static int fetch_references(struct gw_schemas *s, const json_t *refs, json_t *docs, json_t *fetched,
                            int depth)
{
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *subject = json_string_value(json_object_get(r, "subject"));
        char version[24];
        snprintf(version, sizeof(version), "%lld",
                 (long long)json_integer_value(json_object_get(r, "version")));
        if (!name || !subject || depth >= 8) {
            return -1;
        }
        char *key = cm_xasprintf("%s\n%s", subject, version);
        json_t *schema = json_incref(json_object_get(fetched, key));
        if (!schema) {
            long status;
            json_t *doc = get_version(s, subject, version, &status);
            const char *text = json_string_value(json_object_get(doc, "schema"));
            schema = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
            if (schema && fetch_references(s, json_object_get(doc, "references"), docs, fetched,
                                           depth + 1) != 0) {
                json_decref(schema);
                schema = NULL;
            }
            if (schema) {
                json_object_set(fetched, key, schema);
            }
            json_decref(doc);
        }
        free(key);
        if (!schema) {
            return -1;
        }
        json_object_set_new(docs, name, schema);
    }
    return 0;
}

/* The same from the top: a fetch of its own. */
static int fetch_all_references(struct gw_schemas *s, const json_t *refs, json_t *docs)
{
    json_t *fetched = json_object();
    int rc = fetch_references(s, refs, docs, fetched, 0);
    json_decref(fetched);
    return rc;
}

/* Fetches and compiles the latest schema of subject. Returns a new entry (refs 1), or NULL when
 * the registry could not be asked (unreachable, 5xx, unusable answer). */
static struct entry *fetch(struct gw_schemas *s, const char *subject)
{
    if (!cm_breaker_allow(s->breaker, cm_monotonic_ms())) {
        return NULL; /* not asked: as unreachable */
    }
    int64_t asked = atomic_fetch_add(&s->asked, 1) + 1;
    long status;
    json_t *doc = get_version(s, subject, "latest", &status);
    if (status == 0 || status >= 500) {
        cm_breaker_failure(s->breaker, cm_monotonic_ms());
    } else {
        cm_breaker_success(s->breaker);
    }
    struct entry *e = NULL;
    if (status == 404) {
        e = cm_xcalloc(1, sizeof(*e));
        cm_counter_inc(s->m_fetch_missing);
    } else if (status == 401 || status == 403) {
        CM_LOG_ERROR("schema_fetch_refused",
                     "the registry refused the gateway's request for subject %s (HTTP %ld): set "
                     "REGISTRY_USER_INFO to a user with schema:read",
                     subject, status);
    } else if (doc) {
        const char *text = json_string_value(json_object_get(doc, "schema"));
        const char *type = json_string_value(json_object_get(doc, "schemaType"));
        char err[256] = "no schema in the answer";
        e = cm_xcalloc(1, sizeof(*e));
        e->found = 1;
        e->id = (int)json_integer_value(json_object_get(doc, "id"));
        if (text && type && strcmp(type, "JSON") == 0) {
            json_t *schema = json_loads(text, JSON_DECODE_ANY, NULL);
            json_t *docs = json_object();
            if (fetch_all_references(s, json_object_get(doc, "references"), docs) != 0) {
                snprintf(err, sizeof(err), "a referenced schema could not be fetched");
            } else if (schema) {
                e->json = cm_jsonschema_compile(schema, docs, err, sizeof(err));
            }
            json_decref(docs);
            json_decref(schema);
        } else if (text && json_array_size(json_object_get(doc, "references")) > 0) {
            json_t *docs = json_object(); /* referenced full names to their schemas */
            if (fetch_all_references(s, json_object_get(doc, "references"), docs) != 0) {
                snprintf(err, sizeof(err), "a referenced schema could not be fetched");
            } else {
                e->avro = cm_avro_schema_new_with_refs(text, docs, err, sizeof(err));
            }
            json_decref(docs);
        } else if (text) {
            e->avro = cm_avro_schema_new(text, err, sizeof(err));
        }
        if (!e->json && !e->avro) {
            CM_LOG_WARN("schema_unusable", "subject %s: %s", subject, err);
            free(e);
            e = NULL;
        } else {
            cm_counter_inc(s->m_fetch_ok);
        }
    }
    json_decref(doc);
    if (!e) {
        cm_counter_inc(s->m_fetch_error);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    e->subject = cm_xstrdup(subject);
    e->asked = asked;
    int64_t now = cm_monotonic_ms();
    atomic_init(&e->fetched_ms, now);
    atomic_init(&e->used_ms, now);
    return e;
}

struct lru {
    int64_t used_ms;
    const char *subject;
};

static int lru_cmp(const void *a, const void *b)
{
    const struct lru *x = a, *y = b;
    return (x->used_ms > y->used_ms) - (x->used_ms < y->used_ms);
}

/* With the lock held and more than max_subjects cached: removes the least recently used tenth
 * (at least the excess) from the map into `gone`, to be released after unlocking. */
static void evict_locked(struct gw_schemas *s, json_t *gone)
{
    size_t n = json_object_size(s->map);
    if (n <= s->cfg.max_subjects) {
        return;
    }
    struct lru *all = cm_xmalloc(n * sizeof(*all));
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(s->map, key, v)
    {
        struct entry *e = (struct entry *)(uintptr_t)json_integer_value(v);
        all[k++] = (struct lru){atomic_load(&e->used_ms), e->subject};
    }
    qsort(all, n, sizeof(*all), lru_cmp);
    size_t drop = n - s->cfg.max_subjects + s->cfg.max_subjects / 10;
    for (size_t i = 0; i < drop && i < n; i++) {
        json_array_append(gone, json_object_get(s->map, all[i].subject));
        json_object_del(s->map, all[i].subject); /* all[i].subject lives on in its entry */
    }
    free(all);
}

static void release_all(json_t *gone)
{
    size_t i;
    json_t *v;
    json_array_foreach(gone, i, v)
    {
        entry_release((struct entry *)(uintptr_t)json_integer_value(v));
    }
}

/* Installs e for its subject (the map takes e's reference), releasing a previous entry (a
 * refresh keeps its last use) and, past max_subjects, the least recently used. An entry fetched
 * before the one in the map was (the refresher's answer coming after the listener's) is dropped
 * instead: it may predate the change the other one was fetched for. */
static void install(struct gw_schemas *s, struct entry *e)
{
    json_t *gone = json_array();
    pthread_mutex_lock(&s->lock);
    json_t *old = json_object_get(s->map, e->subject);
    if (old && ((struct entry *)(uintptr_t)json_integer_value(old))->asked > e->asked) {
        pthread_mutex_unlock(&s->lock);
        json_decref(gone);
        entry_release(e);
        return;
    }
    if (old) {
        struct entry *prev = (struct entry *)(uintptr_t)json_integer_value(old);
        int64_t used = atomic_load(&prev->used_ms);
        if (used > atomic_load(&e->used_ms)) {
            atomic_store(&e->used_ms, used);
        }
        json_array_append(gone, old);
    }
    json_object_set_new(s->map, e->subject, json_integer((json_int_t)(uintptr_t)e));
    if (e->asked <= atomic_load(&s->before_announced)) {
        /* asked before a change was announced, perhaps its own: asked again at the next pass */
        atomic_store(&e->fetched_ms, INT64_MIN / 2);
    }
    evict_locked(s, gone);
    pthread_mutex_unlock(&s->lock);
    release_all(gone);
    json_decref(gone);
}

/* The subject's entry with a reference of the caller's, or NULL; `use` marks it used now. */
static struct entry *acquire(struct gw_schemas *s, const char *subject, int use)
{
    pthread_mutex_lock(&s->lock);
    const json_t *v = json_object_get(s->map, subject);
    struct entry *e = v ? (struct entry *)(uintptr_t)json_integer_value(v) : NULL;
    if (e) {
        atomic_fetch_add(&e->refs, 1);
        if (use) {
            atomic_store(&e->used_ms, cm_monotonic_ms());
        }
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

/* Removes subject's entry from the map when it is still e (compared, never read, unlocked). */
static void forget(struct gw_schemas *s, const char *subject, const struct entry *e)
{
    pthread_mutex_lock(&s->lock);
    json_t *v = json_object_get(s->map, subject);
    struct entry *cur = v ? (struct entry *)(uintptr_t)json_integer_value(v) : NULL;
    if (cur == e) {
        json_object_del(s->map, subject);
    } else {
        cur = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    entry_release(cur);
}

#define MISSING_TTL_MS 2000

/* Refreshes entries older than the TTL; an entry whose refresh fails keeps serving. A subject
 * without a schema is asked again only while events still name it: one named once (a made-up
 * type) is forgotten when due, not asked about every two seconds for good (each distinct type an
 * outside client sent made a registry request every 2 s, forever). */
static void *refresher_main(void *arg)
{
    struct gw_schemas *s = arg;
    while (!atomic_load(&s->stop)) {
        cm_sleep_ms(200);
        int64_t now = cm_monotonic_ms();
        json_t *due = json_array(), *unused = json_array();
        pthread_mutex_lock(&s->lock);
        const char *k;
        json_t *v;
        json_object_foreach(s->map, k, v)
        {
            struct entry *e = (struct entry *)(uintptr_t)json_integer_value(v);
            /* a subject without a schema is asked again sooner: one registered meanwhile
             * takes effect within seconds, not a whole TTL */
            int64_t ttl =
                e->found || s->cfg.ttl_ms < MISSING_TTL_MS ? s->cfg.ttl_ms : MISSING_TTL_MS;
            int64_t fetched = atomic_load(&e->fetched_ms);
            if (now - fetched < ttl) {
                continue;
            }
            if (!e->found && atomic_load(&e->used_ms) <= fetched) {
                json_array_append_new(unused, json_pack("[s,I]", k, (json_int_t)(uintptr_t)e));
            } else {
                json_array_append_new(due, json_string(k));
            }
        }
        pthread_mutex_unlock(&s->lock);
        size_t j;
        json_t *u;
        json_array_foreach(unused, j, u)
        {
            forget(s, json_string_value(json_array_get(u, 0)),
                   (const struct entry *)(uintptr_t)json_integer_value(json_array_get(u, 1)));
        }
        json_decref(unused);
        size_t i;
        json_t *subject;
        json_array_foreach(due, i, subject)
        {
            if (atomic_load(&s->stop)) {
                break;
            }
            struct entry *e = fetch(s, json_string_value(subject));
            if (e) {
                install(s, e);
            } else { /* keep the old one; try again after another TTL */
                struct entry *old = acquire(s, json_string_value(subject), 0);
                if (old) {
                    atomic_store(&old->fetched_ms, cm_monotonic_ms());
                    entry_release(old);
                }
            }
        }
        json_decref(due);
    }
    return NULL;
}

/* Makes every cached subject due at the refresher's next pass: announcements made while the
 * listener was not listening are lost. */
static void all_due(struct gw_schemas *s)
{
    pthread_mutex_lock(&s->lock);
    const char *k;
    json_t *v;
    json_object_foreach(s->map, k, v)
    {
        struct entry *e = (struct entry *)(uintptr_t)json_integer_value(v);
        atomic_store(&e->fetched_ms, INT64_MIN / 2);
    }
    pthread_mutex_unlock(&s->lock);
}

/* A subject the registry announced as changed (NULL or "": any): a cached one is fetched again
 * now, or, when the registry does not answer, at the refresher's next pass. One not cached is
 * fetched when an event first names it. Runs on the follower's thread. */
static int announced(struct cm_pg *pg, const char *subject, void *ud)
{
    (void)pg;
    struct gw_schemas *s = ud;
    if (!subject || !*subject) {
        all_due(s);
        return 0;
    }
    struct entry *old = acquire(s, subject, 0);
    if (!old) { /* an event's first fetch of it may be in flight: such answers are asked again */
        atomic_store(&s->before_announced, atomic_load(&s->asked));
        return 0;
    }
    struct entry *e = fetch(s, subject);
    if (e) {
        install(s, e);
    } else {
        atomic_store(&old->fetched_ms, INT64_MIN / 2);
    }
    entry_release(old);
    return 0;
}

static double cached_subjects(void *ud)
{
    struct gw_schemas *s = ud;
    pthread_mutex_lock(&s->lock);
    double n = (double)json_object_size(s->map);
    pthread_mutex_unlock(&s->lock);
    return n;
}

struct gw_schemas *gw_schemas_new(const struct gw_schemas_config *cfg, struct cm_metrics *metrics)
{
    struct gw_schemas *s = cm_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->url = cm_xstrdup(cfg->registry_url);
    size_t n = strlen(s->url);
    while (n > 0 && s->url[n - 1] == '/') {
        s->url[--n] = '\0';
    }
    s->cfg.registry_url = s->url;
    s->user_info = cfg->user_info && *cfg->user_info ? cm_xstrdup(cfg->user_info) : NULL;
    s->cfg.user_info = s->user_info;
    if (s->cfg.ttl_ms <= 0) {
        s->cfg.ttl_ms = 60000;
    }
    if (s->cfg.max_subjects == 0) {
        s->cfg.max_subjects = 10000;
    }
    s->map = json_object();
    pthread_mutex_init(&s->lock, NULL);
    s->breaker = cm_breaker_new("schema registry", 1, 1000, 30000, NULL);
    struct cm_metric *m = cm_metrics_counter(metrics, "schema_fetches_total",
                                             "schema registry lookups by outcome", "outcome");
    s->m_fetch_ok = cm_metric_with(m, "found", NULL);
    s->m_fetch_missing = cm_metric_with(m, "not_registered", NULL);
    s->m_fetch_error = cm_metric_with(m, "error", NULL);
    cm_metrics_gauge_fn(metrics, "schema_cache_subjects",
                        "subjects whose schema (or its absence) the gateway holds", cached_subjects,
                        s);
    pthread_create(&s->refresher, NULL, refresher_main, s);
    if (cfg->database_url && *cfg->database_url) {
        s->follower = cm_pg_follow(cfg->database_url, CHANNEL, 0, metrics, announced, s);
    }
    return s;
}

void gw_schemas_free(struct gw_schemas *s)
{
    if (!s) {
        return;
    }
    cm_pg_follower_free(s->follower); /* before the entries it refreshes go */
    atomic_store(&s->stop, 1);
    pthread_join(s->refresher, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(s->map, k, v)
    {
        entry_release((struct entry *)(uintptr_t)json_integer_value(v));
    }
    json_decref(s->map);
    pthread_mutex_destroy(&s->lock);
    cm_breaker_free(s->breaker);
    free(s->url);
    free(s->user_info);
    free(s);
}

const struct gw_schema *gw_schemas_find(struct gw_schemas *s, const char *type, const char *topic,
                                        char *subject, size_t subject_len, enum gw_check *verdict)
{
    if (s->cfg.strategy == GW_SUBJECT_TOPIC) {
        snprintf(subject, subject_len, "%s-value", topic);
    } else if (s->cfg.strategy == GW_SUBJECT_TOPIC_RECORD) {
        snprintf(subject, subject_len, "%s-%s", topic, type);
    } else {
        snprintf(subject, subject_len, "%s", type);
    }
    struct entry *e = acquire(s, subject, 1);
    if (!e) {
        e = fetch(s, subject);
        if (e) {
            atomic_fetch_add(&e->refs, 1); /* one for the map, one for us */
            install(s, e);
        }
    }
    if (!e || !e->found) {
        entry_release(e);
        *verdict = s->cfg.reject_unknown ? GW_CHECK_UNKNOWN : GW_CHECK_NO_SCHEMA;
        return NULL;
    }
    return (const struct gw_schema *)e;
}

enum gw_check gw_schema_validate(const struct gw_schema *schema, const json_t *data, int *schema_id,
                                 json_t *errors, size_t *budget)
{
    const struct entry *e = (const struct entry *)schema;
    json_t *null_data = data ? NULL : json_null();
    int ok = e->json ? cm_jsonschema_validate_budget(e->json, data ? data : null_data, "/data",
                                                     errors, 20, budget)
                     : cm_avro_validate(e->avro, data ? data : null_data, "/data", errors, 20);
    json_decref(null_data);
    *schema_id = e->id;
    return ok == CM_E_TOOBIG ? GW_CHECK_OVER_BUDGET : ok ? GW_CHECK_VALID : GW_CHECK_INVALID;
}

void gw_schema_release(const struct gw_schema *schema)
{
    entry_release((struct entry *)schema);
}
