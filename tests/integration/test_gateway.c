/* Integration tests of the gateway's ingest path (gw_ingest + cm_auth + common/http +
 * common/kafka) against an in-process development broker: an accepted event is on Kafka enriched,
 * keyed and with headers before the 202; bad requests get 400/401/413/415; with the broker down
 * the answer is 503 with Retry-After once the delivery timeout passes, and a broker lost while a
 * batch is in flight leaves every event unacknowledged with the id to retry with; a producer queue
 * past its high-water mark refuses a whole request with 503 and Retry-After, producing none of it;
 * an event larger than Kafka takes in one record is 413 (not a 503 to retry); ?atomic= must be a
 * boolean given once. Rate limits and idempotency: test_gateway_idem.c.
 */
#include "harness.h"

#include "../../services/gateway/gw_ingest.h"
#include "../../services/gateway/gw_route.h"
#include "cm/auth.h"

#include "cm/http.h"
#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/redis.h"
#include "cm/swap.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SECRET "integration-secret-0123456789abcdef"

static struct cm_kafka_mock *mock;
static struct cm_metrics *reg;
static struct cm_swap *auth;
static struct gw_ingest *ingest;
static struct gw_ingest *small_queue; /* /small-queue: a high-water mark of 3 events */
static struct cm_metrics *small_reg;
static struct gw_ingest *small_records; /* /small-records: Kafka takes records up to 1,500 bytes */
static struct cm_swap *routes;
static char audit_topic[96];
static struct cm_http_server *srv;
static char topic[96];
static char token[2048];

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mock = it_dev_broker("gw", topic, sizeof(topic));
    reg = cm_metrics_new("gateway_");
    struct cm_auth_config ac = {SECRET, NULL, NULL, 30, "tenant", NULL, NULL, 64};
    char aerr[128];
    auth = cm_swap_new(cm_auth_new(&ac, aerr, sizeof(aerr)), cm_auth_release);
    it_unique(audit_topic, sizeof(audit_topic), "gwaudit");
    cr_assert_eq(cm_kafka_mock_create_topic(mock, audit_topic, 2), 0);
    char doc[512], err[256];
    snprintf(doc, sizeof(doc),
             "{\"routes\":[{\"when\":\"type.startsWith('audit.')\",\"topics\":[\"%s\",\"%s\"]},"
             "{\"when\":\"data.n / data.zero > 0\",\"topics\":[\"never\"]}]}",
             audit_topic, topic);
    struct gw_routes *parsed = gw_routes_parse(doc, strlen(doc), topic, err, sizeof(err));
    cr_assert_not_null(parsed, "%s", err);
    routes = cm_swap_new(parsed, gw_routes_release);
    struct gw_ingest_config ic = {.brokers = cm_kafka_mock_bootstraps(mock),
                                  .routes = routes,
                                  .schemas = NULL,
                                  .max_queue = 1000,
                                  .max_body = 4096,
                                  .max_batch = 10,
                                  .max_time_ahead_ms = 3600000,
                                  .ratelimit = NULL,
                                  .idem = NULL,
                                  .required_scope = "events:write"};
    ingest = gw_ingest_new(&ic, auth, reg);
    cr_assert_not_null(ingest);
    struct cm_http_options o = {
        .bind_addr = "127.0.0.1", .threads = 2, .max_body = 4096, .timeout_s = 10, .metrics = reg};
    srv = cm_http_new(&o);
    cm_http_route(srv, "POST", "/events", gw_ingest_handle, ingest);
    /* a producer queue whose high-water mark is 3 events */
    struct gw_ingest_config qc = {.brokers = cm_kafka_mock_bootstraps(mock),
                                  .routes = routes,
                                  .max_queue = 3,
                                  .max_body = 4096,
                                  .max_batch = 10};
    small_reg = cm_metrics_new("small_queue_");
    small_queue = gw_ingest_new(&qc, auth, small_reg);
    cm_http_route(srv, "POST", "/small-queue", gw_ingest_handle, small_queue);
    /* a producer whose records may be at most 1,500 bytes (read from the environment when made) */
    setenv("KAFKA_MESSAGE_MAX_BYTES", "1500", 1);
    small_records = gw_ingest_new(&qc, auth, small_reg);
    unsetenv("KAFKA_MESSAGE_MAX_BYTES");
    cr_assert_not_null(small_records);
    cm_http_route(srv, "POST", "/small-records", gw_ingest_handle, small_records);
    cr_assert_eq(cm_http_start(srv), 0);
    char claims[256];
    snprintf(
        claims, sizeof(claims),
        "{\"tenant\":\"acme\",\"sub\":\"t\",\"scope\":\"events:read events:write\",\"exp\":%lld}",
        (long long)time(NULL) + 600);
    char *t = cm_auth_sign_hs256(SECRET, claims);
    snprintf(token, sizeof(token), "%s", t);
    free(t);
}

static void teardown(void)
{
    cm_http_stop(srv, 5000);
    cm_http_free(srv);
    gw_ingest_free(ingest);
    gw_ingest_abort_pending(small_queue);
    gw_ingest_free(small_queue);
    gw_ingest_free(small_records);
    cm_metrics_free(small_reg);
    cm_swap_free(routes);
    cm_swap_free(auth);
    cm_metrics_free(reg);
    cm_kafka_mock_free(mock);
    unsetenv("KAFKA_MESSAGE_TIMEOUT_MS");
    curl_global_cleanup();
}

TestSuite(gateway, .init = setup, .fini = teardown, .timeout = 60);

static void post_raw(const char *ctype, const char *auth_header, const char *extra_header,
                     const char *body, size_t blen, const char *query, struct it_resp *r)
{
    char path[256], auth_line[2200];
    snprintf(path, sizeof(path), "%s%s", query[0] == '/' ? "" : "/events", query);
    snprintf(auth_line, sizeof(auth_line), "Authorization: %s", auth_header ? auth_header : "");
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (auth_header) {
        headers[n++] = auth_line;
    }
    headers[n] = extra_header;
    it_request(cm_http_port(srv), "POST", path, ctype, headers, body, blen, r);
}

static void post(const char *ctype, const char *auth_header, const char *body, struct it_resp *r)
{
    post_raw(ctype, auth_header, NULL, body, strlen(body), "", r);
}

/* 1 when the event with ce_id id reaches topic t of the broker. */
static int on_topic(const char *t, const char *id)
{
    return it_topic_has(cm_kafka_mock_bootstraps(mock), t, id);
}

static char *bearer(void)
{
    static char b[2100];
    snprintf(b, sizeof(b), "Bearer %s", token);
    return b;
}

Test(gateway, accepted_event_is_on_kafka_before_the_202)
{
    struct it_resp r;
    post("application/cloudevents+json; charset=utf-8", bearer(),
         "{\"type\":\"order.created\",\"source\":\"/shop\",\"subject\":\"order-7\","
         "\"tenant\":\"spoofed\",\"data\":{\"total\":12}}",
         &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    json_t *b = json_loads(r.body, 0, NULL);
    const char *id = json_string_value(json_object_get(b, "id"));
    cr_assert_not_null(id, "%s", r.body);

    char group[96];
    it_unique(group, sizeof(group), "gwg");
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c =
        cm_kafka_consumer_new(cm_kafka_mock_bootstraps(mock), group, topics, 1, NULL);
    struct cm_kafka_msg *m = NULL;
    for (int i = 0; i < 300 && !m; i++) {
        m = cm_kafka_consumer_poll(c, 100);
    }
    cr_assert_not_null(m, "the event reached Kafka");
    size_t len, klen;
    const char *value = cm_kafka_msg_value(m, &len);
    const char *key = cm_kafka_msg_key(m, &klen);
    cr_assert_eq(klen, 7);
    cr_assert_eq(memcmp(key, "order-7", 7), 0, "key is the subject");
    json_t *ev = json_loadb(value, len, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "tenant")), "acme", "from the token");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "clientip")), "127.0.0.1");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "specversion")), "1.0");
    cr_assert(json_is_string(json_object_get(ev, "receivedat")));
    cr_assert(json_is_string(json_object_get(ev, "traceparent")));
    char hv[128];
    cr_assert_eq(cm_kafka_msg_header(m, "ce_type", hv, sizeof(hv)), 0);
    cr_assert_str_eq(hv, "order.created");
    cr_assert_eq(cm_kafka_msg_header(m, "ce_tenant", hv, sizeof(hv)), 0);
    cr_assert_str_eq(hv, "acme");
    cm_kafka_msg_free(m);
    cm_kafka_consumer_free(c);
    json_decref(ev);
    json_decref(b);
}

Test(gateway, routes_fan_out_to_every_topic_of_the_first_match)
{
    struct it_resp r;
    post("application/json", bearer(),
         "{\"id\":\"routed-1\",\"type\":\"audit.login\",\"source\":\"/s\",\"data\":{\"n\":1,"
         "\"zero\":0}}",
         &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert(on_topic(audit_topic, "routed-1"), "copy on the audit topic");
    cr_assert(on_topic(topic, "routed-1"), "copy on the events topic");
    /* a route whose expression fails (division by zero) is skipped: default topic */
    post("application/json", bearer(),
         "{\"id\":\"routed-2\",\"type\":\"other\",\"source\":\"/s\",\"data\":{\"n\":1,"
         "\"zero\":0}}",
         &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert(on_topic(topic, "routed-2"));
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "gateway_route_errors_total 1") != NULL, "%s", text);
    free(text);
}

Test(gateway, bad_requests)
{
    struct it_resp r;
    char claims[256], no_scope[2100];
    snprintf(claims, sizeof(claims), "{\"tenant\":\"acme\",\"scope\":\"events:read\",\"exp\":%lld}",
             (long long)time(NULL) + 600);
    char *t = cm_auth_sign_hs256(SECRET, claims);
    snprintf(no_scope, sizeof(no_scope), "Bearer %s", t);
    free(t);
    post("application/json", no_scope, "{\"type\":\"t\",\"source\":\"/s\"}", &r);
    cr_assert_eq(r.status, 403, "a token without events:write: %s", r.body);
    cr_assert(strstr(r.headers, "insufficient_scope") != NULL, "%s", r.headers);
    const char *ok = "{\"type\":\"t\",\"source\":\"/s\"}";
    post("application/json", NULL, ok, &r);
    cr_assert_eq(r.status, 401);
    cr_assert(strstr(r.headers, "WWW-Authenticate: Bearer") != NULL, "%s", r.headers);
    post("application/json", "Bearer not.a.token", ok, &r);
    cr_assert_eq(r.status, 401);
    cr_assert(strstr(r.headers, "invalid_token") != NULL, "%s", r.headers);
    post("text/plain", bearer(), ok, &r);
    cr_assert_eq(r.status, 415);
    post(NULL, bearer(), ok, &r);
    cr_assert_eq(r.status, 415, "no content type");
    const char *bad_bodies[] = {"",
                                "{",
                                "[]",
                                "{\"type\":\"t\"}",
                                "{\"type\":\"t\",\"source\":1}",
                                "{\"type\":\"t\",\"source\":\"/s\",\"a\":1,\"a\":2}",
                                "{\"type\":\"t\xff\",\"source\":\"/s\"}",
                                "null",
                                "\"x\"",
                                "{\"type\":\"t\",\"source\":\"/s\"} trailing"};
    for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
        post("application/json", bearer(), bad_bodies[i], &r);
        cr_assert_eq(r.status, 400, "body '%s' gave %ld", bad_bodies[i], r.status);
        json_t *e = json_loads(r.body, 0, NULL);
        cr_assert_eq(json_integer_value(json_object_get(e, "error_code")), 400);
        json_decref(e);
    }
    char deep[3000];
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"type\":\"t\",\"source\":\"/s\",\"data\":");
    for (int i = 0; i < 1200; i++) {
        deep[n++] = '[';
    }
    deep[n] = '\0';
    post("application/json", bearer(), deep, &r);
    cr_assert(r.status == 400 || r.status == 413, "deeply nested: %ld", r.status);
    char big[5000];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    post("application/json", bearer(), big, &r);
    cr_assert_eq(r.status, 413);
}

Test(gateway, broker_down_is_503_with_retry_after)
{
    struct it_resp r;
    post("application/json", bearer(), "{\"type\":\"t\",\"source\":\"/s\"}", &r);
    cr_assert_eq(r.status, 202, "warm-up: %s", r.body);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 0), 0);
    int fds[2]; /* the log: one produce_failed line for the batch's five failures, not five */
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    cm_log_set_fd(fds[1]);
    post("application/json", bearer(),
         "[{\"type\":\"t\",\"source\":\"/s\"},{\"type\":\"t\",\"source\":\"/s\"},"
         "{\"type\":\"t\",\"source\":\"/s\"},{\"type\":\"t\",\"source\":\"/s\"},"
         "{\"type\":\"t\",\"source\":\"/s\"}]",
         &r);
    cm_log_set_fd(STDERR_FILENO);
    cr_assert(r.status == 207 || r.status == 503, "%ld %s", r.status, r.body);
    static char logged[65536];
    ssize_t got = read(fds[0], logged, sizeof(logged) - 1);
    logged[got > 0 ? got : 0] = '\0';
    int lines = 0;
    for (const char *at = logged; (at = strstr(at, "\"event\":\"produce_failed\"")); at++) {
        lines++;
    }
    cr_assert_eq(lines, 1, "five failures at once are one line: %s", logged);
    cr_assert(strstr(logged, "(0 more since the last such line)"), "%s", logged);
    close(fds[0]);
    close(fds[1]);
    post("application/json", bearer(), "{\"type\":\"t\",\"source\":\"/s\",\"id\":\"keep-me\"}", &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    cr_assert(strstr(r.headers, "Retry-After: 1") != NULL, "%s", r.headers);
    json_t *e = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(e, "id")), "keep-me",
                     "the id to retry with");
    json_decref(e);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 1), 0);
}

Test(gateway, a_full_producer_queue_refuses_the_whole_request_with_503)
{
    struct it_resp r;
    post("application/json", bearer(), "{\"type\":\"t\",\"source\":\"/s\"}", &r);
    cr_assert_eq(r.status, 202, "warm-up: %s", r.body);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 0), 0);
    /* three events wait in the producer's queue (respond-async answers once they are in it) */
    const char *three = "[{\"type\":\"t\",\"source\":\"/q\"},{\"type\":\"t\",\"source\":\"/q\"},"
                        "{\"type\":\"t\",\"source\":\"/q\"}]";
    post_raw("application/json", bearer(), "Prefer: respond-async", three, strlen(three),
             "/small-queue", &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    const char *two = "[{\"type\":\"t\",\"source\":\"/q\",\"id\":\"queue-full-1\"},"
                      "{\"type\":\"t\",\"source\":\"/q\",\"id\":\"queue-full-2\"}]";
    post_raw("application/json", bearer(), NULL, two, strlen(two), "/small-queue", &r);
    cr_assert_eq(r.status, 503, "past the high-water mark: %s", r.body);
    cr_assert(strstr(r.headers, "Retry-After: 1") != NULL, "%s", r.headers);
    cr_assert(strstr(r.body, "too many events in flight"), "%s", r.body);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 1), 0);
    /* nothing of the refused request was produced: a later event arrives, they never do */
    post("application/json", bearer(), "{\"type\":\"t\",\"source\":\"/q\",\"id\":\"after-full\"}",
         &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    const char *refused[] = {"queue-full-1", "queue-full-2"};
    cr_assert_eq(it_topic_ids_seen(cm_kafka_mock_bootstraps(mock), topic, "after-full", refused, 2),
                 0);
}

/* An event larger than Kafka takes in one record can never be produced: 413 naming the limit,
 * not a 503 that invites retrying it for ever; in a batch, that event alone. */
Test(gateway, an_event_over_kafkas_record_limit_is_413_not_503)
{
    struct it_resp r;
    char big[2600];
    int n = snprintf(big, sizeof(big), "{\"type\":\"t\",\"source\":\"/big\",\"data\":\"");
    memset(big + n, 'x', 2000);
    snprintf(big + n + 2000, sizeof(big) - (size_t)n - 2000, "\"}");
    post_raw("application/json", bearer(), NULL, big, strlen(big), "/small-records", &r);
    cr_assert_eq(r.status, 413, "%s", r.body);
    cr_assert(strstr(r.body, "message.max.bytes") && strstr(r.body, "\"id\""), "%s", r.body);
    cr_assert_null(strstr(r.headers, "Retry-After"), "nothing to retry: %s", r.headers);
    char batch[2800];
    snprintf(batch, sizeof(batch), "[{\"type\":\"t\",\"source\":\"/small\"},%s]", big);
    post_raw("application/json", bearer(), NULL, batch, strlen(batch), "/small-records", &r);
    cr_assert_eq(r.status, 207, "%s", r.body);
    json_t *v = json_loads(r.body, 0, NULL);
    cr_assert_not_null(v, "%s", r.body);
    json_t *res = json_object_get(v, "results");
    cr_assert_eq(json_array_size(res), 2, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 0), "status")), 202);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 1), "status")), 413);
    json_decref(v);
    char *text = cm_metrics_render(small_reg);
    cr_assert(strstr(text, "small_queue_events_total{outcome=\"rejected\",reason=\"size\"} 2"),
              "%s", text);
    free(text);
}

static unsigned char *gzip(const char *in, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, len) + 64;
    unsigned char *out = malloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static json_t *results_of(const struct it_resp *r)
{
    json_t *v = json_loads(r->body, 0, NULL);
    cr_assert_not_null(v, "%s", r->body);
    return v;
}

Test(gateway, batches_report_per_event)
{
    struct it_resp r;
    post("application/json", bearer(),
         "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"b\"},"
         "{\"type\":\"c\",\"source\":\"/s\",\"id\":\"batch-3\"}]",
         &r);
    cr_assert_eq(r.status, 207, "%s", r.body);
    json_t *v = results_of(&r);
    json_t *res = json_object_get(v, "results");
    cr_assert_eq(json_array_size(res), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 0), "status")), 202);
    cr_assert(json_is_string(json_object_get(json_array_get(res, 0), "id")));
    json_t *second = json_array_get(res, 1);
    cr_assert_eq(json_integer_value(json_object_get(second, "status")), 400);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(second, "error"), "field")),
                     "/source");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 2), "id")), "batch-3");
    json_decref(v);
    cr_assert(on_topic(topic, "batch-3"), "accepted events of a partly bad batch are produced");

    /* ids that need escaping come back as they were sent, in batches and single answers */
    post("application/json", bearer(),
         "[{\"type\":\"a\",\"source\":\"/s\",\"id\":\"q\\\"u\\\\o\\u00e9\\t\"},{\"type\":\"b\"}]",
         &r);
    cr_assert_eq(r.status, 207, "%s", r.body);
    v = results_of(&r);
    res = json_object_get(v, "results");
    cr_assert_eq(json_array_size(res), 2, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "id")),
                     "q\"u\\o\xc3\xa9\t");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 0), "index")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 1), "index")), 1);
    json_decref(v);
    post("application/json", bearer(), "{\"type\":\"a\",\"source\":\"/s\",\"id\":\"one\\\"q\"}",
         &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    v = results_of(&r);
    cr_assert_str_eq(json_string_value(json_object_get(v, "id")), "one\"q");
    json_decref(v);

    post("application/cloudevents-batch+json", bearer(),
         "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"b\",\"source\":\"/s\"}]", &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    post("application/cloudevents-batch+json", bearer(), "{\"type\":\"a\",\"source\":\"/s\"}", &r);
    cr_assert_eq(r.status, 400, "a batch content type needs an array: %s", r.body);
    post("application/x-ndjson", bearer(),
         "{\"type\":\"a\",\"source\":\"/s\"}\n\nnot json\n{\"type\":\"b\",\"source\":\"/s\"}\n",
         &r);
    cr_assert_eq(r.status, 207, "%s", r.body);
    v = results_of(&r);
    res = json_object_get(v, "results");
    cr_assert_eq(json_array_size(res), 3, "blank lines are skipped");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 1), "status")), 400);
    json_decref(v);
    /* more than max_batch (10) events */
    char big[2048] = "[";
    for (int i = 0; i < 11; i++) {
        strcat(big,
               i ? ",{\"type\":\"a\",\"source\":\"/s\"}" : "{\"type\":\"a\",\"source\":\"/s\"}");
    }
    strcat(big, "]");
    post("application/json", bearer(), big, &r);
    cr_assert_eq(r.status, 413, "%s", r.body);
}

/* GATEWAY_MAX_TIME_AHEAD (1 h here): an event stamped further ahead of the gateway's clock is
 * refused with 400 naming /time on both lanes (spliced text, and parsed: the escaped type), the
 * others of its batch are produced; the past is never refused. */
Test(gateway, a_time_too_far_ahead_is_refused)
{
    char near[CM_RFC3339_LEN], far[CM_RFC3339_LEN], body[1024];
    cm_time_format_rfc3339(cm_now_ms() + 50 * 60000, near);
    cm_time_format_rfc3339(cm_now_ms() + 2 * 3600000, far);
    snprintf(
        body, sizeof(body),
        "[{\"type\":\"a\",\"source\":\"/s\",\"id\":\"fut-past\",\"time\":\"2001-01-01T00:00:00Z\"},"
        "{\"type\":\"a\",\"source\":\"/s\",\"id\":\"fut-near\",\"time\":\"%s\"},"
        "{\"type\":\"a\",\"source\":\"/s\",\"id\":\"fut-far\",\"time\":\"%s\"},"
        "{\"type\":\"\\u0061\",\"source\":\"/s\",\"id\":\"fut-far-j\",\"time\":\"%s\"},"
        "{\"type\":\"a\",\"source\":\"/s\",\"id\":\"fut-3000\",\"time\":\"3000-01-01T00:00:00Z\"}]",
        near, far, far);
    struct it_resp r;
    post("application/json", bearer(), body, &r);
    cr_assert_eq(r.status, 207, "%s", r.body);
    json_t *v = results_of(&r);
    json_t *res = json_object_get(v, "results");
    cr_assert_eq(json_array_size(res), 5, "%s", r.body);
    static const int want[] = {202, 202, 400, 400, 400};
    for (size_t i = 0; i < 5; i++) {
        json_t *one = json_array_get(res, i);
        cr_assert_eq(json_integer_value(json_object_get(one, "status")), want[i], "%zu: %s", i,
                     r.body);
        if (want[i] == 400) {
            json_t *e = json_object_get(one, "error");
            cr_assert_str_eq(json_string_value(json_object_get(e, "field")), "/time");
            cr_assert(strstr(json_string_value(json_object_get(e, "message")),
                             "is more than 1h ahead of the gateway's clock"),
                      "%s", r.body);
        }
    }
    json_decref(v);
    cr_assert(on_topic(topic, "fut-past"));
    cr_assert(on_topic(topic, "fut-near"));
    /* one event alone: its answer is the error itself */
    snprintf(body, sizeof(body), "{\"type\":\"a\",\"source\":\"/s\",\"time\":\"%s\"}", far);
    post("application/json", bearer(), body, &r);
    cr_assert_eq(r.status, 400, "%s", r.body);
    v = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(v, "field")), "/time", "%s", r.body);
    json_decref(v);
    /* counted apart from malformed events: a producer whose clock runs ahead shows */
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "gateway_events_total{outcome=\"rejected\",reason=\"time_ahead\"} 4") !=
                  NULL,
              "%s", text);
    free(text);
}

Test(gateway, atomic_batches_produce_nothing_unless_all_are_valid)
{
    struct it_resp r;
    char *before = cm_metrics_render(reg);
    const char *bad = "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"b\"}]";
    post_raw("application/json", bearer(), NULL, bad, strlen(bad), "?atomic=true", &r);
    cr_assert_eq(r.status, 422, "%s", r.body);
    json_t *v = results_of(&r);
    json_t *res = json_object_get(v, "results");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 0), "status")), 424);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, 1), "status")), 400);
    json_decref(v);
    char *after = cm_metrics_render(reg);
    const char *acc = "gateway_events_total{outcome=\"accepted\",reason=\"\"}";
    const char *b = strstr(before, acc), *a = strstr(after, acc);
    cr_assert((b == NULL && a == NULL) ||
                  (b && a && atoll(b + strlen(acc)) == atoll(a + strlen(acc))),
              "nothing accepted");
    free(before);
    free(after);
    const char *good = "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"b\",\"source\":\"/s\"}]";
    post_raw("application/json", bearer(), NULL, good, strlen(good), "?atomic=true", &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    /* atomic=ture is not quietly non-atomic, and two answers to one question are refused */
    const char *unsure[] = {"?atomic=ture", "?atomic=", "?atomic=true&atomic=false"};
    for (size_t i = 0; i < 3; i++) {
        post_raw("application/json", bearer(), NULL, good, strlen(good), unsure[i], &r);
        cr_assert_eq(r.status, 400, "%s: %s", unsure[i], r.body);
        cr_assert(strstr(r.body, "\"atomic: ") != NULL, "%s names atomic: %s", unsure[i], r.body);
    }
}

Test(gateway, gzip_bodies_and_encodings)
{
    struct it_resp r;
    const char *ev = "{\"type\":\"zipped\",\"source\":\"/s\",\"id\":\"gz-1\"}";
    size_t zlen;
    unsigned char *z = gzip(ev, strlen(ev), &zlen);
    post_raw("application/json", bearer(), "Content-Encoding: gzip", (const char *)z, zlen, "", &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    free(z);
    cr_assert(on_topic(topic, "gz-1"));
    post_raw("application/json", bearer(), "Content-Encoding: gzip", "not gzip at all", 15, "", &r);
    cr_assert_eq(r.status, 400, "%s", r.body);
    post_raw("application/json", bearer(), "Content-Encoding: br", ev, strlen(ev), "", &r);
    cr_assert_eq(r.status, 415, "%s", r.body);
    /* a bomb: 1 MB of spaces inflates far past the 4 KiB cap */
    size_t n = 1024 * 1024;
    char *spaces = malloc(n);
    memset(spaces, ' ', n);
    z = gzip(spaces, n, &zlen);
    cr_assert_lt(zlen, 4096, "the compressed bomb fits the body cap");
    post_raw("application/json", bearer(), "Content-Encoding: gzip", (const char *)z, zlen, "", &r);
    cr_assert_eq(r.status, 413, "%s", r.body);
    free(z);
    free(spaces);
}

Test(gateway, respond_async_answers_once_enqueued)
{
    struct it_resp r;
    const char *ev = "{\"type\":\"a\",\"source\":\"/s\",\"id\":\"async-1\"}";
    post_raw("application/json", bearer(), "Prefer: respond-async", ev, strlen(ev), "", &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert(strstr(r.body, "async-1") != NULL, "%s", r.body);
    cr_assert(on_topic(topic, "async-1"));
}

struct inflight_post {
    pthread_t thread;
    const char *body;
    struct it_resp r;
};

static void *post_in_thread(void *arg)
{
    struct inflight_post *p = arg;
    post("application/json", bearer(), p->body, &p->r);
    return NULL;
}

/* The broker dies while a batch's produce requests are in flight (its answers are delayed): no
 * event is reported accepted, each says Kafka's outcome and carries the id to retry with. */
Test(gateway, broker_lost_mid_batch)
{
    struct it_resp r;
    post("application/json", bearer(), "{\"type\":\"t\",\"source\":\"/s\"}", &r);
    cr_assert_eq(r.status, 202, "warm-up: %s", r.body);
    cr_assert_eq(cm_kafka_mock_broker_set_rtt(mock, 1, 1000), 0);
    struct inflight_post p = {.body = "[{\"type\":\"t\",\"source\":\"/mid\",\"id\":\"mid-0\"},"
                                      "{\"type\":\"t\",\"source\":\"/mid\",\"id\":\"mid-1\"},"
                                      "{\"type\":\"t\",\"source\":\"/mid\",\"id\":\"mid-2\"}]"};
    pthread_create(&p.thread, NULL, post_in_thread, &p);
    struct timespec ts = {0, 300 * 1000000L}; /* the produce requests are out, unanswered */
    nanosleep(&ts, NULL);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 0), 0);
    pthread_join(p.thread, NULL);
    cm_kafka_mock_broker_set_up(mock, 1, 1);
    cm_kafka_mock_broker_set_rtt(mock, 1, 0);
    cr_assert_eq(p.r.status, 207, "%s", p.r.body);
    json_t *doc = results_of(&p.r);
    json_t *results = json_object_get(doc, "results");
    cr_assert_eq(json_array_size(results), 3, "%s", p.r.body);
    for (size_t i = 0; i < 3; i++) {
        json_t *res = json_array_get(results, i);
        char want[8];
        snprintf(want, sizeof(want), "mid-%zu", i);
        cr_assert_eq(json_integer_value(json_object_get(res, "status")), 503, "%s", p.r.body);
        cr_assert_str_eq(json_string_value(json_object_get(res, "id")), want,
                         "the id to retry with");
        const char *msg =
            json_string_value(json_object_get(json_object_get(res, "error"), "message"));
        cr_assert(msg && (strstr(msg, "retry with the same id") || strstr(msg, "did not accept")),
                  "%s", p.r.body);
    }
    json_decref(doc);
}
