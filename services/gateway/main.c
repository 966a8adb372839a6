/* gateway: the HTTP front door. Wiring only; authentication is in common/src/net/auth.c, the ingest
 * pipeline in gw_ingest.c. Shutdown: /readyz 503, stop accepting, let in-flight events get their
 * acks and answers, flush the producer. */
#include "cm/auth.h"
#include "cm/clientip.h"
#include "gw_idem.h"
#include "gw_ingest.h"
#include "gw_ratelimit.h"
#include "gw_route.h"
#include "gw_route_admin.h"
#include "gw_schema.h"
#include "gw_sig.h"
#include "gw_ws.h"

#include "cm/err.h"
#include "cm/http.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/memlimit.h"
#include "cm/service.h"
#include "cm/swap.h"
#include "cm/text.h"

#include <string.h>
#include <time.h>

static const struct cm_config_entry config_table[] = {
    CM_SERVICE_HTTP_ENTRIES("GATEWAY_"),
    {"GATEWAY_PORT", CM_CFG_INT, "8080", 0, 0, "HTTP port", 0, 65535, NULL},
    {"KAFKA_BROKERS", CM_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers", 0, 0, NULL},
    {"TOPIC_EVENTS", CM_CFG_STRING, "events", 0, 0, "topic accepted events are produced to", 0, 0,
     NULL},
    {"GATEWAY_ROUTES_FILE", CM_CFG_STRING, NULL, 0, 0,
     "routing table: expressions to topics (unset: every event to TOPIC_EVENTS); reloaded on "
     "SIGHUP or change, rewritten by PUT /routes",
     0, 0, NULL},
    {"REGISTRY_URL", CM_CFG_STRING, NULL, 0, 0,
     "schema registry; when set, each event's data is validated against its subject's schema", 0, 0,
     NULL},
    {"REGISTRY_USER_INFO", CM_CFG_STRING, NULL, 0, 1,
     "user:password the schema fetches send to the registry (HTTP Basic; a user with "
     "schema:read in its REGISTRY_BASIC_AUTH_FILE)",
     0, 0, NULL},
    {"GATEWAY_SUBJECT_STRATEGY", CM_CFG_ENUM, "type", 0, 0,
     "subject of an event's schema: its type (Confluent's RecordNameStrategy with the type as "
     "record "
     "name; alias record), <topic>-value (topic) or <topic>-<type> (topic_record)",
     0, 0, "type|record|topic|topic_record"},
    {"GATEWAY_UNKNOWN_TYPES", CM_CFG_ENUM, "allow", 0, 0,
     "events whose subject has no registered schema", 0, 0, "allow|reject"},
    {"GATEWAY_SCHEMA_TTL", CM_CFG_DURATION, "60s", 0, 0,
     "how often cached schemas are refreshed from the registry", 1000, 86400000, NULL},
    {"GATEWAY_SCHEMA_CACHE", CM_CFG_INT, "10000", 0, 0,
     "subjects whose schema (or its absence) is cached at most; past it the least recently used "
     "are forgotten",
     10, 10000000, NULL},
    {"GATEWAY_MAX_BODY", CM_CFG_SIZE, "1MiB", 0, 0, "largest request body accepted (413 above)",
     1024, 1073741824, NULL},
    {"GATEWAY_MAX_BATCH", CM_CFG_INT, "1000", 0, 0, "events in one request (413 above)", 1, 100000,
     NULL},
    {"GATEWAY_VALIDATION_BUDGET", CM_CFG_INT, "10000000", 0, 0,
     "steps of JSON Schema validation one request's events share (a step is a subschema applied "
     "to a value; a typical event takes tens, one value at most 1,000,000): an event that would "
     "go past them is refused with 413 and may be sent again in a smaller request",
     1000, 1000000000, NULL},
    {"GATEWAY_RATE_LIMIT", CM_CFG_INT, "0", 0, 0,
     "events per second per tenant (or client IP without one), per instance unless "
     "GATEWAY_RATE_LIMIT_STORE=redis; 0 = unlimited",
     0, 100000000, NULL},
    {"GATEWAY_RATE_BURST", CM_CFG_INT, "0", 0, 0,
     "bucket size of the rate limit in events (0 = one second's worth)", 0, 1000000000, NULL},
    {"GATEWAY_RATE_LIMIT_STORE", CM_CFG_ENUM, "local", 0, 0,
     "where rate-limit buckets live: local (per instance) or redis (one bucket per tenant shared "
     "by every instance through REDIS_URL; the local bucket stands in while Redis is down)",
     0, 0, "local|redis"},
    {"REDIS_URL", CM_CFG_STRING, NULL, 0, 1,
     "Redis for idempotency keys and shared rate limits; unset = no idempotency guarantee at the "
     "gateway",
     0, 0, NULL},
    {"GATEWAY_IDEMPOTENCY_WINDOW", CM_CFG_DURATION, "24h", 0, 0,
     "how long an event id or Idempotency-Key is remembered", 1000, 2592000000LL, NULL},
    {"GATEWAY_MAX_TIME_AHEAD", CM_CFG_DURATION, "1h", 0, 0,
     "an event whose time is further ahead of the gateway's clock is refused (400 naming /time): "
     "one producer's clock far ahead would move every windowed pipeline's watermark past the "
     "events to come; 0 = any time",
     0, 31536000000LL, NULL},
    {"GATEWAY_MAX_QUEUE", CM_CFG_INT, "100000", 0, 0,
     "producer queue high-water mark in events (503 + Retry-After above)", 1, 10000000, NULL},
    {"GATEWAY_AUTH_DISABLED", CM_CFG_BOOL, "false", 0, 0,
     "accept requests without a token (development only)", 0, 0, NULL},
    CM_AUTH_CONFIG_ENTRIES,
    {"GATEWAY_TOKEN_CACHE", CM_CFG_INT, "4096", 0, 0,
     "verified tokens remembered (by SHA-256, until their exp); 0 = verify every request", 0,
     10000000, NULL},
    {"GATEWAY_TRUSTED_PROXIES", CM_CFG_STRING, NULL, 0, 0,
     "proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For is believed", 0, 0, NULL},
    {"GATEWAY_REQUIRED_SCOPE", CM_CFG_STRING, "events:write", 0, 0,
     "scope a token needs to ingest (in its scope or scp claim; empty = none)", 0, 0, NULL},
    {"GATEWAY_SIGNATURES", CM_CFG_ENUM, "optional", 0, 0,
     "producer signatures: optional (required per source by its keys' require flag) or "
     "required for every event",
     0, 0, "optional|required"},
    {"GATEWAY_KEYS_DIR", CM_CFG_STRING, NULL, 0, 0,
     "directory of signing-key definitions (<keyid>.json) applied at start", 0, 0, NULL},
    {"DATABASE_URL", CM_CFG_STRING, NULL, 0, 1,
     "PostgreSQL URI where signing keys are kept (the /keys API), and where the registry "
     "announces changed subjects; unset = keys only from GATEWAY_KEYS_DIR, API read-only, and "
     "schemas refreshed every GATEWAY_SCHEMA_TTL",
     0, 0, NULL},
    {"GATEWAY_ADMIN_SCOPE", CM_CFG_STRING, "gateway:admin", 0, 0,
     "scope a token needs to read and change the routing table (GET/PUT /routes)", 0, 0, NULL},
    {"GATEWAY_WS_THREADS", CM_CFG_INT, "2", 0, 0,
     "event-loop threads serving WebSocket connections", 1, 64, NULL},
    {"GATEWAY_WS_MAX_MESSAGE", CM_CFG_SIZE, "1MiB", 0, 0,
     "largest WebSocket message (the connection is closed with 1009 above)", 1024, 1073741824,
     NULL},
    {"GATEWAY_WS_PING_INTERVAL", CM_CFG_DURATION, "30s", 0, 0,
     "idle time before the server pings; a peer silent for 2.5 intervals is closed", 100, 3600000,
     NULL},
    {"GATEWAY_WS_MAX_CONNECTIONS", CM_CFG_INT, "10000", 0, 0,
     "open WebSocket connections (503 to further handshakes)", 1, 1000000, NULL},
    {"GATEWAY_WS_MAX_UNACKED", CM_CFG_INT, "1000", 0, 0,
     "messages awaiting their ack per connection before reading pauses", 1, 1000000, NULL},
    {"GATEWAY_WS_MAX_BUFFERED", CM_CFG_SIZE, "256MiB", 0, 0,
     "bytes WebSocket messages received may hold across connections (a message that would pass "
     "it closes its connection with 1013), and, apart, answers waiting to be written (past it, "
     "connections holding over 64 KiB of answers are not read); must exceed "
     "GATEWAY_WS_MAX_MESSAGE",
     1024, (int64_t)1 << 40, NULL},
};

static enum gw_subject_strategy subject_strategy(const char *name)
{
    if (strcmp(name, "topic") == 0) {
        return GW_SUBJECT_TOPIC;
    }
    return strcmp(name, "topic_record") == 0 ? GW_SUBJECT_TOPIC_RECORD : GW_SUBJECT_TYPE;
}

int main(int argc, char **argv)
{
    struct cm_service svc;
    cm_service_init(&svc, "gateway", "GATEWAY_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "GATEWAY_PORT",
                    "GATEWAY_MAX_BODY", argc, argv);
    const struct cm_config *cfg = svc.cfg;
    int status = CM_CONFIG_EXIT_BAD;
    struct cm_auth_keys *keys = NULL; /* NULL = authentication disabled */
    struct cm_swap *auth = NULL;      /* of cm_auth, from keys */
    struct gw_ingest *ingest = NULL;
    struct gw_ws *ws = NULL;
    struct gw_routes *routes = NULL;
    struct cm_swap *route_table = NULL;
    struct gw_route_admin *route_admin = NULL;
    struct gw_schemas *schemas = NULL;
    struct gw_ratelimit *ratelimit = NULL;
    struct gw_idem *idem = NULL;
    struct cm_proxies *proxies = NULL;
    struct gw_sigs *sigs = NULL;
    if (cm_config_bool(cfg, "GATEWAY_AUTH_DISABLED")) {
        CM_LOG_WARN("auth_disabled", "AUTHENTICATION IS DISABLED: every request is accepted "
                                     "without a token (GATEWAY_AUTH_DISABLED=true)");
    } else {
        keys = cm_auth_keys_new(cfg, (size_t)cm_config_int(cfg, "GATEWAY_TOKEN_CACHE"),
                                "GATEWAY_AUTH_DISABLED");
        if (!keys) {
            goto out;
        }
        auth = cm_auth_keys_swap(keys);
    }
    const char *routes_file = cm_config_str(cfg, "GATEWAY_ROUTES_FILE");
    if (routes_file) {
        char err[512];
        routes =
            gw_routes_load_file(routes_file, cm_config_str(cfg, "TOPIC_EVENTS"), err, sizeof(err));
        if (!routes) {
            CM_LOG_ERROR("config_invalid", "GATEWAY_ROUTES_FILE: %s", err);
            goto out;
        }
    } else {
        routes = gw_routes_single(cm_config_str(cfg, "TOPIC_EVENTS"));
    }
    if (cm_config_str(cfg, "REGISTRY_URL")) {
        struct gw_schemas_config sc = {
            cm_config_str(cfg, "REGISTRY_URL"),
            cm_config_str(cfg, "REGISTRY_USER_INFO"),
            subject_strategy(cm_config_str(cfg, "GATEWAY_SUBJECT_STRATEGY")),
            strcmp(cm_config_str(cfg, "GATEWAY_UNKNOWN_TYPES"), "reject") == 0,
            cm_config_int(cfg, "GATEWAY_SCHEMA_TTL"),
            (size_t)cm_config_int(cfg, "GATEWAY_SCHEMA_CACHE"),
            cm_config_str(cfg, "DATABASE_URL")};
        schemas = gw_schemas_new(&sc, svc.metrics);
    }
    char perr[256];
    proxies = cm_proxies_parse(cm_config_str(cfg, "GATEWAY_TRUSTED_PROXIES"), perr, sizeof(perr));
    if (!proxies) {
        CM_LOG_ERROR("config_invalid", "GATEWAY_TRUSTED_PROXIES: %s", perr);
        goto out;
    }
    cm_http_set_trusted_proxies(svc.http, proxies);
    int64_t rate = cm_config_int(cfg, "GATEWAY_RATE_LIMIT");
    if (rate > 0) {
        int64_t burst = cm_config_int(cfg, "GATEWAY_RATE_BURST");
        ratelimit = gw_ratelimit_new((double)rate, (double)(burst > 0 ? burst : rate));
        if (strcmp(cm_config_str(cfg, "GATEWAY_RATE_LIMIT_STORE"), "redis") == 0) {
            if (!cm_config_str(cfg, "REDIS_URL")) {
                CM_LOG_ERROR("config_invalid",
                             "GATEWAY_RATE_LIMIT_STORE=redis: REDIS_URL must be set");
                goto out;
            }
            if (gw_ratelimit_use_redis(ratelimit, cm_config_str(cfg, "REDIS_URL"), svc.metrics) !=
                0) {
                goto out;
            }
        }
    }
    if (cm_config_str(cfg, "REDIS_URL")) {
        /* a connection per HTTP and WebSocket thread, and one for the delivery thread */
        idem = gw_idem_new(cm_config_str(cfg, "REDIS_URL"),
                           (unsigned)(cm_config_int(cfg, "GATEWAY_WS_THREADS") + 5),
                           cm_config_int(cfg, "GATEWAY_IDEMPOTENCY_WINDOW"), GW_IDEM_LEASE_MS,
                           svc.metrics);
        if (!idem) {
            status = CM_CONFIG_EXIT_BAD;
            goto out;
        }
        cm_http_add_detail(svc.http, "redis", gw_idem_detail, idem);
    }
    struct gw_sigs_config sgc = {
        .database_url = cm_config_str(cfg, "DATABASE_URL"),
        .keys_dir = cm_config_str(cfg, "GATEWAY_KEYS_DIR"),
        .required = strcmp(cm_config_str(cfg, "GATEWAY_SIGNATURES"), "required") == 0,
        .metrics = svc.metrics};
    sigs = gw_sigs_new(&sgc);
    if (!sigs) {
        goto out;
    }
    int rc;
    while ((rc = gw_sigs_start(sigs)) == CM_E_UNAVAIL && !cm_lifecycle_wait(1000)) {
    }
    if (rc != 0) {
        status = cm_service_exit_status(rc);
        goto out;
    }
    gw_sigs_routes(sigs, svc.http, auth, cm_config_str(cfg, "GATEWAY_ADMIN_SCOPE"));
    route_table = cm_swap_new(routes, gw_routes_release);
    routes = NULL; /* owned by the table now */
    struct gw_ingest_config ic = {.brokers = cm_config_str(cfg, "KAFKA_BROKERS"),
                                  .routes = route_table,
                                  .schemas = schemas,
                                  .max_queue = (int)cm_config_int(cfg, "GATEWAY_MAX_QUEUE"),
                                  .max_body = (size_t)cm_config_int(cfg, "GATEWAY_MAX_BODY"),
                                  .max_batch = (size_t)cm_config_int(cfg, "GATEWAY_MAX_BATCH"),
                                  .validation_budget =
                                      (size_t)cm_config_int(cfg, "GATEWAY_VALIDATION_BUDGET"),
                                  .max_time_ahead_ms = cm_config_int(cfg, "GATEWAY_MAX_TIME_AHEAD"),
                                  .ratelimit = ratelimit,
                                  .idem = idem,
                                  .required_scope = cm_config_str(cfg, "GATEWAY_REQUIRED_SCOPE"),
                                  .sigs = sigs};
    ingest = gw_ingest_new(&ic, auth, svc.metrics);
    if (!ingest) {
        goto out;
    }
    cm_http_route(svc.http, "POST", "/events", gw_ingest_handle, ingest);
    route_admin = gw_route_admin_new(route_table, routes_file, cm_config_str(cfg, "TOPIC_EVENTS"),
                                     auth, cm_config_str(cfg, "GATEWAY_ADMIN_SCOPE"));
    cm_http_route(svc.http, "GET", "/routes", gw_route_admin_get, route_admin);
    cm_http_route(svc.http, "PUT", "/routes", gw_route_admin_put, route_admin);
    struct gw_ws_config wc = {
        (unsigned)cm_config_int(cfg, "GATEWAY_WS_THREADS"),
        (size_t)cm_config_int(cfg, "GATEWAY_WS_MAX_MESSAGE"),
        (int)cm_config_int(cfg, "GATEWAY_WS_PING_INTERVAL"),
        (unsigned)cm_config_int(cfg, "GATEWAY_WS_MAX_CONNECTIONS"),
        (unsigned)cm_config_int(cfg, "GATEWAY_WS_MAX_UNACKED"),
        (size_t)cm_config_memory(cfg, "GATEWAY_WS_MAX_BUFFERED", 8,
                                 cm_config_int(cfg, "GATEWAY_WS_MAX_MESSAGE") + 1)};
    ws = gw_ws_new(&wc, ingest, svc.metrics);
    if (!ws) {
        goto out;
    }
    cm_http_route(svc.http, "GET", "/events/ws", gw_ws_handle, ws);
    cm_http_add_check(svc.http, "kafka", gw_ingest_check_kafka, ingest);
    status = 1;
    if (cm_service_start(&svc) != 0) {
        goto out;
    }
    while (!cm_lifecycle_wait(1000)) {
        /* hot reload: on SIGHUP or when a file changes; a bad file keeps what is in force */
        int hup = cm_lifecycle_reload_requested();
        gw_route_admin_poll(route_admin, hup);
        cm_auth_keys_poll(keys, hup);
    }
    status = 0;
out:
    /* Shutdown: /readyz 503 and no new connections or WebSocket messages; in-flight events get
     * their acks and answers, or, past the timeout, a 503 (so no request is left hanging); then
     * WebSockets close with 1001 and the HTTP server stops. */
    cm_service_begin_shutdown(&svc);
    cm_http_quiesce(svc.http);
    gw_ws_quiesce(ws);
    gw_ingest_drain(ingest, 4000);
    gw_ingest_abort_pending(ingest);
    gw_ws_stop(ws, 3000);
    cm_http_stop(svc.http, 3000);
    gw_ws_free(ws);
    gw_ingest_free(ingest);
    gw_sigs_free(sigs);
    gw_schemas_free(schemas);
    gw_ratelimit_free(ratelimit);
    gw_idem_free(idem);
    gw_routes_free(routes);
    gw_route_admin_free(route_admin);
    cm_swap_free(route_table);
    cm_auth_keys_free(keys);
    cm_service_free(&svc);
    cm_proxies_free(proxies); /* after the server that reads it */
    return status;
}
