/* Integration tests of the gateway's per-tenant rate limits and idempotency (gw_ratelimit,
 * gw_idem on the harness's Redis) through gw_ingest and common/http, against an in-process
 * development broker: a tenant past its burst gets 429 with Retry-After and RateLimit headers; an
 * event repeated by id (or a batch by Idempotency-Key) is answered as the first time and produced
 * once, the same id with another payload is 422, one batch mixing repeats and new events gets an
 * answer per event, and different events never share a key (long ids and sources, ':' inside);
 * a client's reals keep their digits on both lanes (spliced, and parsed again for the key);
 * a key held in flight by a gateway that died is claimed again once its lease lapses.
 */
#include "harness.h"

#include "../../services/gateway/gw_idem.h"
#include "../../services/gateway/gw_ingest.h"
#include "../../services/gateway/gw_ratelimit.h"
#include "../../services/gateway/gw_route.h"
#include "cm/auth.h"
#include "cm/http.h"
#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"
#include "cm/redis.h"
#include "cm/swap.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "gateway-idempotency-test-secret-0123456789abcdef"

static struct cm_kafka_mock *mock;
static struct cm_metrics *reg;
static struct cm_swap *auth, *routes;
static struct gw_ratelimit *limiter;
static struct gw_idem *idem;
static struct gw_ingest *plain, *limited, *idem_ingest;
static struct cm_http_server *srv;
static char topic[96];
static char authorization[2100];

static struct gw_ingest *ingest_with(struct gw_ratelimit *rl, struct gw_idem *id)
{
    struct gw_ingest_config c = {.brokers = cm_kafka_mock_bootstraps(mock),
                                 .routes = routes,
                                 .max_queue = 1000,
                                 .max_body = 4096,
                                 .max_batch = 10,
                                 .ratelimit = rl,
                                 .idem = id};
    struct gw_ingest *g = gw_ingest_new(&c, auth, reg);
    cr_assert_not_null(g);
    return g;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mock = it_dev_broker("gwidem", topic, sizeof(topic));
    reg = cm_metrics_new("gateway_");
    struct cm_auth_config ac = {SECRET, NULL, NULL, 30, "tenant", NULL, NULL, 64};
    char err[256];
    auth = cm_swap_new(cm_auth_new(&ac, err, sizeof(err)), cm_auth_release);
    struct gw_routes *parsed = gw_routes_parse("{\"routes\":[]}", 13, topic, err, sizeof(err));
    cr_assert_not_null(parsed, "%s", err);
    routes = cm_swap_new(parsed, gw_routes_release);
    limiter = gw_ratelimit_new(0.01, 2); /* refills one token per 100 s: no timing in the test */
    plain = ingest_with(NULL, NULL);
    limited = ingest_with(limiter, NULL);
    idem = gw_idem_new(it_env("REDIS_URL"), 2, 60000, GW_IDEM_LEASE_MS, NULL);
    idem_ingest = ingest_with(NULL, idem);
    struct cm_http_options o = {
        .bind_addr = "127.0.0.1", .threads = 2, .max_body = 4096, .timeout_s = 10, .metrics = reg};
    srv = cm_http_new(&o);
    cm_http_route(srv, "POST", "/plain", gw_ingest_handle, plain);
    cm_http_route(srv, "POST", "/limited", gw_ingest_handle, limited);
    cm_http_route(srv, "POST", "/idem", gw_ingest_handle, idem_ingest);
    cr_assert_eq(cm_http_start(srv), 0);
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"tenant\":\"acme\",\"sub\":\"t\",\"scope\":\"events:write\",\"exp\":%lld}",
             (long long)time(NULL) + 600);
    char *t = cm_auth_sign_hs256(SECRET, claims);
    snprintf(authorization, sizeof(authorization), "Authorization: Bearer %s", t);
    free(t);
}

static void teardown(void)
{
    cm_http_stop(srv, 5000);
    cm_http_free(srv);
    gw_ingest_free(plain);
    gw_ingest_free(limited);
    gw_ingest_free(idem_ingest);
    gw_idem_free(idem);
    gw_ratelimit_free(limiter);
    cm_swap_free(routes);
    cm_swap_free(auth);
    cm_metrics_free(reg);
    cm_kafka_mock_free(mock);
    curl_global_cleanup();
}

TestSuite(gateway_idem, .init = setup, .fini = teardown, .timeout = 60);

/* POSTs a JSON body to path with the token, and one more header line when extra is given. */
static void post_raw(const char *body, size_t len, const char *path, const char *extra,
                     struct it_resp *r)
{
    const char *headers[] = {authorization, extra, NULL};
    it_request(cm_http_port(srv), "POST", path, "application/json", headers, body, len, r);
}

/* 1 when the event with ce_id id reaches the topic. */
static int on_topic(const char *id)
{
    return it_topic_has(cm_kafka_mock_bootstraps(mock), topic, id);
}

Test(gateway_idem, rate_limits_answer_429_with_headers)
{
    struct it_resp r;
    const char *two = "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"a\",\"source\":\"/s\"}]";
    /* the /limited route: burst 2, per tenant, barely refilling */
    post_raw(two, strlen(two), "/limited", NULL, &r);
    cr_assert_eq(r.status, 202, "the burst covers two events: %s", r.body);
    cr_assert(strstr(r.headers, "RateLimit-Policy: \"tenant\";q=2;w=200") != NULL, "%s", r.headers);
    post_raw(two, strlen(two), "/limited", NULL, &r);
    cr_assert_eq(r.status, 429, "%s", r.body);
    cr_assert(strstr(r.headers, "Retry-After: ") != NULL, "%s", r.headers);
    cr_assert(strstr(r.headers, "RateLimit: \"tenant\";r=0") != NULL, "%s", r.headers);
}

/* gateway_events_total{outcome="duplicate"} as rendered now. */
static double duplicates(void)
{
    char *text = cm_metrics_render(reg);
    const char *series = "gateway_events_total{outcome=\"duplicate\",reason=\"\"} ";
    const char *at = strstr(text, series);
    double v = at ? strtod(at + strlen(series), NULL) : 0;
    free(text);
    return v;
}

Test(gateway_idem, idempotency_by_event_id_and_header)
{
    struct it_resp r;
    char id[96], body[512], body2[512];
    it_unique(id, sizeof(id), "idem");
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\",\"data\":1}", id);
    snprintf(body2, sizeof(body2), "{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\",\"data\":2}",
             id);
    post_raw(body, strlen(body), "/idem", NULL, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    static char first[8192];
    snprintf(first, sizeof(first), "%s", r.body);
    post_raw(body, strlen(body), "/idem", NULL, &r);
    cr_assert_eq(r.status, 202, "a repeat is answered like the first time: %s", r.body);
    cr_assert_str_eq(r.body, first);
    char *text = cm_metrics_render(reg);
    cr_assert(strstr(text, "gateway_events_total{outcome=\"duplicate\",reason=\"\"} 1") != NULL,
              "counted as a duplicate, not produced again");
    free(text);
    post_raw(body2, strlen(body2), "/idem", NULL, &r);
    cr_assert_eq(r.status, 422, "the same id with another payload: %s", r.body);
    /* an Idempotency-Key covers a whole batch of events without ids */
    char key[128];
    it_unique(key, sizeof(key), "Idempotency-Key: k");
    const char *batch = "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"b\",\"source\":\"/s\"}]";
    post_raw(batch, strlen(batch), "/idem", key, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    snprintf(first, sizeof(first), "%s", r.body);
    post_raw(batch, strlen(batch), "/idem", key, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert_str_eq(r.body, first, "the same ids for the repeated batch");
    /* one batch mixing a repeat, a new id, the same new id again and a changed payload: each
     * event gets its own answer from one exchange with Redis */
    char id2[96], mixed[1024];
    it_unique(id2, sizeof(id2), "idem2");
    snprintf(mixed, sizeof(mixed),
             "[{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\",\"data\":1},"
             "{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\"},"
             "{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\"},"
             "{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\",\"data\":3}]",
             id, id2, id2, id);
    post_raw(mixed, strlen(mixed), "/idem", NULL, &r);
    cr_assert_eq(r.status, 207, "%s", r.body);
    json_t *v = json_loads(r.body, 0, NULL);
    json_t *res = json_object_get(v, "results");
    const int want[] = {202, 202, 409, 422};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(res, i), "status")), want[i],
                     "event %zu: %s", i, r.body);
    }
    json_decref(v);
    /* different events never share a key: ids of 250 bytes alike in their first 200 (keys were
     * cut there), and a ':' inside a source or an id ("u:a", "b:x") and ("u", "a:b:x") */
    char base[96], longa[300], longb[300], odd[2048];
    it_unique(base, sizeof(base), "idem3");
    snprintf(longa, sizeof(longa), "%s%0*d", base, (int)(250 - strlen(base)), 1);
    snprintf(longb, sizeof(longb), "%s%0*d", base, (int)(250 - strlen(base)), 2);
    cr_assert_eq(strlen(longa), 250);
    cr_assert_eq(strncmp(longa, longb, 200), 0);
    snprintf(odd, sizeof(odd),
             "[{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\"},"
             "{\"id\":\"%s\",\"type\":\"a\",\"source\":\"/s\"},"
             "{\"id\":\"b:%s\",\"type\":\"a\",\"source\":\"u:a\"},"
             "{\"id\":\"a:b:%s\",\"type\":\"a\",\"source\":\"u\"}]",
             longa, longb, base, base);
    post_raw(odd, strlen(odd), "/idem", NULL, &r);
    cr_assert_eq(r.status, 202, "four events, four keys: %s", r.body);
    v = json_loads(r.body, 0, NULL);
    res = json_object_get(v, "results");
    cr_assert_eq(json_array_size(res), 4, "%s", r.body);
    json_decref(v);
    cr_assert(on_topic(longb), "the second long id is produced too");
    char colon[128];
    snprintf(colon, sizeof(colon), "a:b:%s", base);
    cr_assert(on_topic(colon), "the second source with a ':' is produced too");
    /* sources over 256 bytes are hashed into the key (a key stays small): two that differ only
     * at their end are two keys, and a repeat of one is still recognised */
    char src1[400], src2[400], two[1400], one[800];
    memset(src1, 'S', 300);
    memcpy(src1 + 300, base, strlen(base) + 1);
    memcpy(src2, src1, sizeof(src1));
    src1[299] = '1';
    src2[299] = '2';
    snprintf(two, sizeof(two),
             "[{\"id\":\"same\",\"type\":\"a\",\"source\":\"%s\"},"
             "{\"id\":\"same\",\"type\":\"a\",\"source\":\"%s\"}]",
             src1, src2);
    double dups = duplicates();
    post_raw(two, strlen(two), "/idem", NULL, &r);
    cr_assert_eq(r.status, 202, "two long sources, two keys: %s", r.body);
    cr_assert_eq(duplicates(), dups, "neither is taken for a repeat");
    snprintf(one, sizeof(one), "{\"id\":\"same\",\"type\":\"a\",\"source\":\"%s\"}", src2);
    post_raw(one, strlen(one), "/idem", NULL, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert_eq(duplicates(), dups + 1, "a repeat of a long source is recognised");
}

/* A client's 0.1 stays 0.1 on Kafka on both lanes: spliced text (the fast lane) and the event
 * parsed and written again (the lane idempotency keys take, as in the local stack). Jansson
 * wrote 0.10000000000000001, another number to PostgreSQL's jsonb. */
Test(gateway_idem, a_clients_reals_keep_their_digits_on_both_lanes)
{
    const char *paths[] = {"/plain", "/idem"};
    char ids[2][64];
    for (int i = 0; i < 2; i++) {
        struct it_resp r;
        char body[256];
        it_unique(ids[i], sizeof(ids[i]), "reals");
        snprintf(body, sizeof(body),
                 "{\"id\":\"%s\",\"type\":\"reading\",\"source\":\"/meter\","
                 "\"data\":{\"price\":0.1,\"tiny\":1e-7,\"avg\":5.003}}",
                 ids[i]);
        post_raw(body, strlen(body), paths[i], NULL, &r);
        cr_assert_eq(r.status, 202, "%s: %s", paths[i], r.body);
    }
    char group[96];
    it_unique(group, sizeof(group), "gwreals");
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c =
        cm_kafka_consumer_new(cm_kafka_mock_bootstraps(mock), group, topics, 1, NULL);
    int found = 0;
    for (int i = 0; i < 300 && found < 2; i++) {
        struct cm_kafka_msg *m = cm_kafka_consumer_poll(c, 100);
        if (!m) {
            continue;
        }
        size_t len;
        const char *value = cm_kafka_msg_value(m, &len);
        char *text = strndup(value, len);
        for (int k = 0; k < 2; k++) {
            if (strstr(text, ids[k])) {
                cr_assert(strstr(text, "\"data\":{\"price\":0.1,\"tiny\":1e-7,\"avg\":5.003}") !=
                              NULL,
                          "%s", text);
                found++;
            }
        }
        free(text);
        cm_kafka_msg_free(m);
    }
    cr_assert_eq(found, 2, "both events reached Kafka");
    cm_kafka_consumer_free(c);
}

/* One claim of key by g: its state. */
static enum gw_idem_state claim(struct gw_idem *g, const char *key, const char *hash)
{
    struct gw_idem_claim c = {.key = key, .hash = hash};
    gw_idem_begin(g, &c, 1);
    return c.state;
}

struct reclaim_ctx {
    struct gw_idem *g;
    const char *key;
    int tries;
};

static int reclaimed(void *ud)
{
    struct reclaim_ctx *c = ud;
    c->tries++;
    enum gw_idem_state s = claim(c->g, c->key, "h1");
    cr_assert(s == GW_IDEM_IN_FLIGHT || s == GW_IDEM_NEW, "state %d", (int)s);
    return s == GW_IDEM_NEW;
}

/* A request in flight when its gateway dies (killed: it never settles its keys) holds them only
 * as long as that gateway's lease: a repeat to another instance, or to the gateway started again,
 * is 409 while the lease lives and goes through once it has lapsed, instead of 409 for
 * GW_IDEM_IN_FLIGHT_MS. A live instance's keys stay in flight; a key in flight under an earlier
 * build's marker (no instance named) waits for its expiry. */
Test(gateway_idem, keys_of_a_dead_gateway_are_claimed_again_after_its_lease)
{
    const char *url = it_env("REDIS_URL");
    struct cm_metrics *m = cm_metrics_new("gateway_");
    struct gw_idem *a = gw_idem_new(url, 1, 60000, 300, NULL);
    struct gw_idem *b = gw_idem_new(url, 1, 60000, 300, m);
    char key[96];
    it_unique(key, sizeof(key), "lease");
    cr_assert_eq(claim(a, key, "h1"), GW_IDEM_NEW, "a takes it");
    cr_assert_eq(claim(b, key, "h1"), GW_IDEM_IN_FLIGHT, "a lives: in flight");
    cr_assert_eq(claim(a, key, "h1"), GW_IDEM_IN_FLIGHT, "a's own repeat too");
    cr_assert_eq(claim(b, key, "h2"), GW_IDEM_CONFLICT, "another payload is refused");
    gw_idem_free(a); /* dies with the key in flight */
    struct reclaim_ctx c = {b, key, 0};
    cr_assert(it_wait_until(10000, reclaimed, &c), "b claims it once a's lease lapsed");
    cr_assert_gt(c.tries, 1, "not before a's lease lapsed");
    char *text = cm_metrics_render(m);
    cr_assert(strstr(text, "gateway_idempotency_taken_over_total 1\n") != NULL, "%s", text);
    free(text);

    struct gw_idem *c2 = gw_idem_new(url, 1, 60000, 300, NULL);
    cr_assert_eq(claim(c2, key, "h1"), GW_IDEM_IN_FLIGHT, "b lives: in flight");
    struct gw_idem_claim done = {.key = key, .hash = "h1", .id = "e1", .accepted = 1};
    gw_idem_finish(b, &done, 1);
    struct gw_idem_claim again = {.key = key, .hash = "h1"};
    gw_idem_begin(c2, &again, 1);
    cr_assert_eq(again.state, GW_IDEM_DONE);
    cr_assert_str_eq(again.prev_id, "e1");

    /* an earlier build's marker names no instance: in flight until it expires */
    struct cm_redis *r = cm_redis_new(url);
    char old[96], rkey[128];
    it_unique(old, sizeof(old), "lease-old");
    snprintf(rkey, sizeof(rkey), "idem:%s", old);
    const char *set[] = {"SET", rkey, "P|h1", "PX", "60000"};
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, 5, set, NULL, &rep), 0);
    cm_redis_reply_free(rep);
    cr_assert_eq(claim(c2, old, "h1"), GW_IDEM_IN_FLIGHT);
    cm_redis_free(r);

    gw_idem_free(b);
    gw_idem_free(c2);
    cm_metrics_free(m);
}
