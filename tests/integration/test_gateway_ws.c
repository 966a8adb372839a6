/* Integration tests of WebSocket ingest (gw_ws + common/ws + the ws client) against an
 * in-process development broker: acks after the durable produce, batches, auth by header and
 * query parameter, 1008 on a missing or expiring token, 1009/1003/1007 on oversized, binary and
 * non-UTF-8 messages, handshake errors, backpressure instead of refusals while the producer queue
 * is full, the 1001 close of a graceful stop after in-flight acks, and 1008 when an event breaks
 * its source's signature policy. */
#include "harness.h"

#include "../../services/gateway/gw_ingest.h"
#include "../../services/gateway/gw_ratelimit.h"
#include "../../services/gateway/gw_route.h"
#include "../../services/gateway/gw_sig.h"
#include "../../services/gateway/gw_ws.h"
#include "cm/auth.h"

#include "cm/http.h"
#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"
#include "cm/swap.h"
#include "cm/ws.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "integration-secret-0123456789abcdef"

static struct cm_kafka_mock *mock;
static struct cm_metrics *reg;
static struct cm_swap *auth;
static struct gw_ingest *ingest;
static struct cm_swap *routes;
static struct gw_ws *ws;
static struct gw_ws *small; /* 2 connections at most, pings every 200 ms */
static struct cm_metrics *small_reg;
static struct gw_ingest *limited; /* the small server's: 2 events, then 429 */
static struct gw_ratelimit *limiter;
static struct cm_http_server *srv;
static char topic[96];
static char token[2048];
static struct gw_sigs *sigs; /* source /ws-signed requires signatures */
static char keys_dir[64];

/* A keys directory with one Ed25519 key (made with OpenSSL) that requires signatures for tenant
 * acme's source /ws-signed. */
static void write_signing_key(void)
{
    snprintf(keys_dir, sizeof(keys_dir), "/tmp/gwws-keys-%d", (int)getpid());
    cr_assert_eq(mkdir(keys_dir, 0700), 0);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    cr_assert_not_null(k);
    char *pem = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&pem, &len);
    PEM_write_PUBKEY(mem, k);
    fclose(mem);
    EVP_PKEY_free(k);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", "ws-key", "tenant", "acme",
                            "source", "/ws-signed", "public_key", pem, "require", 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/ws-key.json", keys_dir);
    cr_assert_eq(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
    free(pem);
}

static char *sign(const char *scope, long long exp)
{
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"tenant\":\"acme\",\"sub\":\"t\",\"scope\":\"%s\",\"exp\":%lld}", scope, exp);
    return cm_auth_sign_hs256(SECRET, claims);
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mock = it_dev_broker("gwws", topic, sizeof(topic));
    reg = cm_metrics_new("gateway_");
    struct cm_auth_config ac = {SECRET, NULL, NULL, 0, "tenant", NULL, NULL, 64};
    char aerr[128];
    auth = cm_swap_new(cm_auth_new(&ac, aerr, sizeof(aerr)), cm_auth_release);
    routes = cm_swap_new(gw_routes_single(topic), gw_routes_release);
    write_signing_key();
    struct gw_sigs_config sgc = {.keys_dir = keys_dir, .metrics = reg};
    sigs = gw_sigs_new(&sgc);
    cr_assert_not_null(sigs);
    cr_assert_eq(gw_sigs_start(sigs), 0);
    struct gw_ingest_config ic = {.brokers = cm_kafka_mock_bootstraps(mock),
                                  .routes = routes,
                                  .schemas = NULL,
                                  .max_queue = 2,
                                  .max_body = 65536,
                                  .max_batch = 10,
                                  .ratelimit = NULL,
                                  .idem = NULL,
                                  .required_scope = "events:write",
                                  .sigs = sigs};
    ingest = gw_ingest_new(&ic, auth, reg);
    cr_assert_not_null(ingest);
    struct gw_ws_config wc = {2, 4096, 60000, 100, 4, 0};
    ws = gw_ws_new(&wc, ingest, reg);
    struct cm_http_options o = {
        .bind_addr = "127.0.0.1", .threads = 2, .max_body = 4096, .timeout_s = 10, .metrics = reg};
    srv = cm_http_new(&o);
    cm_http_route(srv, "GET", "/events/ws", gw_ws_handle, ws);
    struct gw_ws_config sc = {1, 4096, 200, 2, 4, 0};
    small_reg = cm_metrics_new("small_");
    limiter = gw_ratelimit_new(0.01, 2); /* refills one token per 100 s: no timing in the test */
    struct gw_ingest_config lc = {.brokers = cm_kafka_mock_bootstraps(mock),
                                  .routes = routes,
                                  .schemas = NULL,
                                  .max_queue = 2,
                                  .max_body = 65536,
                                  .max_batch = 10,
                                  .ratelimit = limiter,
                                  .idem = NULL,
                                  .required_scope = "events:write"};
    limited = gw_ingest_new(&lc, auth, small_reg);
    small = gw_ws_new(&sc, limited, small_reg);
    cm_http_route(srv, "GET", "/events/ws-small", gw_ws_handle, small);
    cr_assert_eq(cm_http_start(srv), 0);
    char *t = sign("events:write", (long long)time(NULL) + 600);
    snprintf(token, sizeof(token), "%s", t);
    free(t);
}

static void teardown(void)
{
    gw_ws_stop(ws, 5000);
    gw_ws_stop(small, 5000);
    cm_http_stop(srv, 5000);
    cm_http_free(srv);
    gw_ws_free(ws);
    gw_ws_free(small);
    gw_ingest_free(limited);
    gw_ratelimit_free(limiter);
    cm_metrics_free(small_reg);
    gw_ingest_free(ingest);
    gw_sigs_free(sigs);
    char path[128];
    snprintf(path, sizeof(path), "%s/ws-key.json", keys_dir);
    unlink(path);
    rmdir(keys_dir);
    cm_swap_free(routes);
    cm_swap_free(auth);
    cm_metrics_free(reg);
    cm_kafka_mock_free(mock);
    unsetenv("KAFKA_MESSAGE_TIMEOUT_MS");
    curl_global_cleanup();
}

TestSuite(gateway_ws, .init = setup, .fini = teardown, .timeout = 60);

static struct cm_ws_client *open_with(const char *path, const char *headers, int *status, char *err,
                                      size_t errlen)
{
    return cm_ws_client_connect("127.0.0.1", cm_http_port(srv), path, headers, 5000, status, err,
                                errlen);
}

static struct cm_ws_client *open_authed(void)
{
    char headers[2200], err[512];
    snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", token);
    int status;
    struct cm_ws_client *c = open_with("/events/ws", headers, &status, err, sizeof(err));
    cr_assert_not_null(c, "handshake: %d %s", status, err);
    return c;
}

/* The next ack (parsed); fails the test on timeout or close. */
static json_t *next_ack(struct cm_ws_client *c, int timeout_ms)
{
    char *msg;
    size_t len;
    uint16_t code = 0;
    int r = cm_ws_client_recv(c, timeout_ms, &msg, &len, &code);
    cr_assert_eq(r, 1, "an ack (got %d, close code %u)", r, code);
    json_t *ack = json_loadb(msg, len, 0, NULL);
    cr_assert_not_null(ack, "ack is JSON: %s", msg);
    free(msg);
    return ack;
}

/* Waits for the server's close; returns its code and copies its reason. */
static uint16_t closed_with(struct cm_ws_client *c, char *reason, size_t rlen)
{
    char *msg = NULL;
    size_t len;
    uint16_t code = 0;
    int r;
    while ((r = cm_ws_client_recv(c, 8000, &msg, &len, &code)) == 1) {
        free(msg); /* acks sent before the close */
        msg = NULL;
    }
    cr_assert_eq(r, 0, "the server closed the connection");
    snprintf(reason, rlen, "%s", msg ? msg : "");
    free(msg);
    return code;
}

static void send_text(struct cm_ws_client *c, const char *text)
{
    cr_assert_eq(cm_ws_client_send(c, 1, text, strlen(text)), 0);
}

Test(gateway_ws, each_message_is_acked_after_the_produce)
{
    struct cm_ws_client *c = open_authed();
    send_text(c, "{\"type\":\"order.created\",\"source\":\"/shop\",\"subject\":\"o-1\"}");
    json_t *ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "seq")), 1);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 202);
    const char *id = json_string_value(json_object_get(ack, "id"));
    cr_assert_not_null(id);
    cr_assert(it_topic_has(cm_kafka_mock_bootstraps(mock), topic, id),
              "the acked event is on Kafka");
    json_decref(ack);

    send_text(c, "[{\"type\":\"a\",\"source\":\"/s\"},{\"type\":\"b\"}]");
    ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "seq")), 2);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 207);
    json_t *results = json_object_get(ack, "results");
    cr_assert_eq(json_array_size(results), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(results, 0), "status")), 202);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(results, 1), "status")), 400);
    json_decref(ack);

    send_text(c, "{\"type\":");
    ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "seq")), 3);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 400);
    cr_assert(json_is_string(json_object_get(json_object_get(ack, "error"), "message")));
    json_decref(ack);

    send_text(c, "42");
    ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 400, "a number is no event");
    json_decref(ack);
    cr_assert_eq(cm_ws_client_send(c, 1, "", 0), 0);
    ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 400, "an empty message");
    json_decref(ack);
    cm_ws_client_close(c, CM_WS_NORMAL, 2000);
    cm_ws_client_free(c);
}

Test(gateway_ws, token_in_the_query_parameter)
{
    char path[2200], err[512];
    snprintf(path, sizeof(path), "/events/ws?access_token=%s", token);
    int status;
    struct cm_ws_client *c = open_with(path, NULL, &status, err, sizeof(err));
    cr_assert_not_null(c, "%d %s", status, err);
    send_text(c, "{\"type\":\"t\",\"source\":\"/q\"}");
    json_t *ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 202);
    json_decref(ack);
    cm_ws_client_free(c);
}

/* A query that is ambiguous (two tokens) or says nothing sure (atomic=ture) is refused with 400
 * before the upgrade, instead of taking the first token or a non-atomic connection. */
Test(gateway_ws, ambiguous_or_bad_query_parameters_refuse_the_handshake)
{
    char path[4400], err[512];
    const char *query[] = {"access_token twice",
                           "atomic=ture&access_token=", "atomic=true&atomic=false&access_token="};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/events/ws?%s%s", query[i], token);
        if (i == 0) {
            snprintf(path, sizeof(path), "/events/ws?access_token=%s&access_token=%s", token,
                     token);
        }
        int status = 0;
        struct cm_ws_client *c = open_with(path, NULL, &status, err, sizeof(err));
        cr_assert_null(c, "%s: refused", query[i]);
        cr_assert_eq(status, 400, "%s: %d %s", query[i], status, err);
    }
    snprintf(path, sizeof(path), "/events/ws?atomic=false&access_token=%s", token);
    int status;
    struct cm_ws_client *c = open_with(path, NULL, &status, err, sizeof(err));
    cr_assert_not_null(c, "%d %s", status, err);
    cm_ws_client_free(c);
}

Test(gateway_ws, auth_failures_close_with_1008)
{
    const char *cases[][2] = {
        {"", "missing"},
        {"Authorization: Bearer not.a.token\r\n", "malformed"},
        {NULL, "scope"},
    };
    char *readonly = sign("events:read", (long long)time(NULL) + 600);
    char scope_hdr[2200];
    snprintf(scope_hdr, sizeof(scope_hdr), "Authorization: Bearer %s\r\n", readonly);
    free(readonly);
    cases[2][0] = scope_hdr;
    for (size_t i = 0; i < 3; i++) {
        int status;
        char err[512], reason[200];
        struct cm_ws_client *c = open_with("/events/ws", cases[i][0], &status, err, sizeof(err));
        cr_assert_not_null(c, "%s: the handshake succeeds, then the close explains", cases[i][1]);
        cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_POLICY_VIOLATION, "%s",
                     cases[i][1]);
        cr_assert(reason[0], "%s: the close frame gives the reason", cases[i][1]);
        cm_ws_client_free(c);
    }
}

Test(gateway_ws, an_expiring_token_closes_the_connection)
{
    char *t = sign("events:write", (long long)time(NULL) + 2);
    char hdr[2200], err[512], reason[200];
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", t);
    free(t);
    int status;
    struct cm_ws_client *c = open_with("/events/ws", hdr, &status, err, sizeof(err));
    cr_assert_not_null(c, "%d %s", status, err);
    send_text(c, "{\"type\":\"t\",\"source\":\"/exp\"}");
    json_t *ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 202, "valid until exp");
    json_decref(ack);
    cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_POLICY_VIOLATION);
    cr_assert_str_eq(reason, "token expired");
    cm_ws_client_free(c);
}

Test(gateway_ws, hostile_messages_close_the_connection)
{
    char reason[200];
    struct cm_ws_client *c = open_authed();
    char *big = malloc(10000);
    memset(big, ' ', 9999);
    big[0] = '[';
    big[9998] = ']';
    big[9999] = '\0';
    send_text(c, big); /* above the 4096-byte cap */
    free(big);
    cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_MESSAGE_TOO_BIG);
    cm_ws_client_free(c);

    c = open_authed();
    cr_assert_eq(cm_ws_client_send(c, 0, "\x01\x02", 2), 0);
    cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_UNSUPPORTED_DATA);
    cm_ws_client_free(c);

    c = open_authed();
    send_text(c, "{\"type\":\"\xC3\x28\"}");
    cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_INVALID_DATA);
    cm_ws_client_free(c);
}

/* A plain GET with the given extra headers; returns the status, headers in hdrs. */
static long plain_get(const char *const *headers, size_t n, char *hdrs)
{
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/events/ws", cm_http_port(srv));
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < n; i++) {
        list = curl_slist_append(list, headers[i]);
    }
    char body[2048] = "";
    hdrs[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_curl_append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, it_curl_append);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return status;
}

Test(gateway_ws, handshake_errors)
{
    char hdrs[2048];
    cr_assert_eq(plain_get(NULL, 0, hdrs), 426, "not a WebSocket request");
    cr_assert(strstr(hdrs, "Upgrade: websocket") != NULL, "%s", hdrs);
    const char *v8[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 8",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="};
    cr_assert_eq(plain_get(v8, 4, hdrs), 426, "unsupported version");
    cr_assert(strstr(hdrs, "Sec-WebSocket-Version: 13") != NULL, "%s", hdrs);
    const char *badkey[] = {"Upgrade: websocket", "Connection: Upgrade",
                            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: short"};
    cr_assert_eq(plain_get(badkey, 4, hdrs), 400, "malformed key");
    const char *noconn[] = {"Upgrade: websocket", "Sec-WebSocket-Version: 13",
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="};
    cr_assert_eq(plain_get(noconn, 3, hdrs), 400, "Connection: Upgrade missing");
    char accept[29];
    cr_assert_eq(cm_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
    cr_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455's example");
}

Test(gateway_ws, a_full_producer_queue_pauses_reading_instead_of_refusing)
{
    struct cm_ws_client *c = open_authed();
    send_text(c, "{\"type\":\"t\",\"source\":\"/warm\"}");
    json_decref(next_ack(c, 10000));
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 0), 0);
    /* the high-water mark is 2 events: the first message fills the queue until its delivery
     * times out; the second must wait for that instead of being refused as "too many" */
    send_text(c, "[{\"type\":\"t\",\"source\":\"/bp\"},{\"type\":\"t\",\"source\":\"/bp\"}]");
    send_text(c, "{\"type\":\"t\",\"source\":\"/bp\",\"id\":\"second\"}");
    json_t *a1 = next_ack(c, 15000);
    cr_assert_eq(json_integer_value(json_object_get(a1, "seq")), 2);
    char *text = json_dumps(a1, JSON_COMPACT);
    cr_assert_eq(json_integer_value(json_object_get(a1, "status")), 207, "%s", text);
    free(text);
    json_decref(a1);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 1), 0);
    json_t *a2 = next_ack(c, 15000);
    cr_assert_eq(json_integer_value(json_object_get(a2, "seq")), 3);
    const char *msg = json_string_value(json_object_get(json_object_get(a2, "error"), "message"));
    cr_assert(!msg || !strstr(msg, "too many events"), "read after the queue drained: %s", msg);
    json_decref(a2);
    cm_ws_client_free(c);
}

static int two_messages_read(void *ud)
{
    (void)ud;
    char *text = cm_metrics_render(reg);
    int yes = strstr(text, "gateway_websocket_messages_total 2") != NULL;
    free(text);
    return yes;
}

Test(gateway_ws, graceful_stop_acks_in_flight_messages_then_closes_1001)
{
    struct cm_ws_client *c = open_authed();
    send_text(c, "{\"type\":\"t\",\"source\":\"/stop\"}");
    json_decref(next_ack(c, 10000));
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 0), 0);
    send_text(c, "{\"type\":\"t\",\"source\":\"/stop\",\"id\":\"in-flight\"}");
    /* stop once the server has read it (the producer holds it until the delivery timeout) */
    cr_assert(it_wait_until(5000, two_messages_read, NULL));
    gw_ws_stop(ws, 10000);
    json_t *ack = next_ack(c, 1000); /* delivered before the close */
    cr_assert_eq(json_integer_value(json_object_get(ack, "seq")), 2);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 503);
    json_decref(ack);
    char reason[200];
    cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_GOING_AWAY);
    cm_ws_client_free(c);
    cr_assert_eq(cm_kafka_mock_broker_set_up(mock, 1, 1), 0);
}

static struct cm_ws_client *open_small(int *status)
{
    char headers[2200], err[512];
    snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", token);
    return open_with("/events/ws-small", headers, status, err, sizeof(err));
}

Test(gateway_ws, connections_beyond_the_limit_are_refused)
{
    int status;
    struct cm_ws_client *a = open_small(&status), *b = open_small(&status);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    struct cm_ws_client *c = open_small(&status);
    cr_assert_null(c, "a third connection");
    cr_assert_eq(status, 503);
    cm_ws_client_close(a, CM_WS_NORMAL, 2000);
    cm_ws_client_free(a);
    struct cm_ws_client *d = NULL;
    for (int i = 0; i < 100 && !d; i++) { /* the closed one's slot frees once the server saw it */
        d = open_small(&status);
        if (!d) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    cr_assert_not_null(d, "a slot frees when a connection closes");
    cm_ws_client_free(b);
    cm_ws_client_free(d);
}

Test(gateway_ws, pings_keep_a_live_peer_and_close_a_silent_one)
{
    int status;
    struct cm_ws_client *live = open_small(&status), *silent = open_small(&status);
    cr_assert_not_null(live);
    cr_assert_not_null(silent);
    /* the live peer reads (and so answers pings) for a second: 5 ping intervals */
    char *msg;
    size_t len;
    uint16_t code = 0;
    for (int i = 0; i < 10; i++) {
        int r = cm_ws_client_recv(live, 100, &msg, &len, &code);
        cr_assert_eq(r, -1, "nothing but pings arrives (and no close: %u)", code);
    }
    send_text(live, "{\"type\":\"t\",\"source\":\"/ping\"}");
    json_t *ack = next_ack(live, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 202, "still open");
    json_decref(ack);
    /* the silent one never read its pings: closed after 2.5 intervals */
    char reason[200];
    cr_assert_eq(closed_with(silent, reason, sizeof(reason)), CM_WS_GOING_AWAY);
    cr_assert_str_eq(reason, "no answer to pings");
    cm_ws_client_free(live);
    cm_ws_client_free(silent);
}

Test(gateway_ws, atomic_batches_on_an_atomic_connection)
{
    char path[2200], err[512];
    snprintf(path, sizeof(path), "/events/ws?atomic=true&access_token=%s", token);
    int status;
    struct cm_ws_client *c = open_with(path, NULL, &status, err, sizeof(err));
    cr_assert_not_null(c, "%d %s", status, err);
    send_text(c, "[{\"type\":\"a\",\"source\":\"/atomic\"},{\"source\":\"/atomic\"}]");
    json_t *ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 422, "nothing produced");
    json_t *results = json_object_get(json_object_get(ack, "error"), "results");
    cr_assert_eq(json_array_size(results), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(results, 0), "status")), 424);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(results, 1), "status")), 400);
    json_decref(ack);
    send_text(c,
              "[{\"type\":\"a\",\"source\":\"/atomic\"},{\"type\":\"b\",\"source\":\"/atomic\"}]");
    ack = next_ack(c, 10000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 202,
                 "all valid: all produced");
    json_decref(ack);
    cm_ws_client_free(c);
}

Test(gateway_ws, rate_limited_messages_are_acked_429_with_retry_after)
{
    int status;
    struct cm_ws_client *c = open_small(&status);
    cr_assert_not_null(c);
    const int want[] = {202, 202, 429};
    for (int i = 0; i < 3; i++) {
        send_text(c, "{\"type\":\"t\",\"source\":\"/limited\"}");
        json_t *ack = next_ack(c, 10000);
        cr_assert_eq(json_integer_value(json_object_get(ack, "status")), want[i], "message %d", i);
        if (want[i] == 429) {
            cr_assert_gt(json_integer_value(json_object_get(ack, "retry_after")), 0);
        }
        json_decref(ack);
    }
    cm_ws_client_free(c);
}

Test(gateway_ws, an_unsigned_event_where_signatures_are_required_closes_with_1008)
{
    struct cm_ws_client *c = open_authed();
    send_text(c, "{\"type\":\"t\",\"source\":\"/ws\"}");
    json_t *ack = next_ack(c, 5000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 202, "another source is open");
    json_decref(ack);
    send_text(c, "{\"type\":\"t\",\"source\":\"/ws-signed\"}");
    ack = next_ack(c, 5000);
    cr_assert_eq(json_integer_value(json_object_get(ack, "status")), 401);
    json_decref(ack);
    char reason[200];
    cr_assert_eq(closed_with(c, reason, sizeof(reason)), CM_WS_POLICY_VIOLATION);
    cr_assert(strstr(reason, "signature: required"), "the close names the reason: %s", reason);
    cm_ws_client_free(c);
}
