/* Integration tests for the HTTP server's defence against connection exhaustion (common/src/net/
 * http_guard.c) over loopback, with raw sockets bound to other loopback addresses as the
 * attackers: the per-address limit refuses a flood from one address at once while another
 * address is served; the total limit refuses beyond it and frees as connections close; a client
 * trickling a request a byte at a time is cut at the request timeout; behind a trusted proxy the
 * limit applies to the forwarded client's requests in progress (429), and the client address is
 * the forwarded one; the bodies of all requests in progress share one bound on memory (503 beyond
 * it, whether announced by Content-Length or grown chunk by chunk). */
#include "harness.h"

#include "cm/clientip.h"
#include "cm/http.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static struct cm_http_server *start(unsigned max, unsigned per_ip, unsigned request_timeout_ms,
                                    const struct cm_proxies *proxies, struct cm_metrics *reg);
static struct cm_http_server *start_buffered(size_t max_buffered, struct cm_metrics *reg);

/* A TCP connection from address `from` (e.g. "127.0.0.2") to the server. */
static int dial(const char *from, unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s: %s", from,
                 strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* 1 when the server closed fd within ms (end of stream or reset), 0 when it stayed open. */
static int closed_within(int fd, int ms)
{
    int64_t deadline = cm_monotonic_ms() + ms;
    for (;;) {
        int64_t left = deadline - cm_monotonic_ms();
        if (left <= 0) {
            return 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            return 1;
        }
    }
}

static void send_text(int fd, const char *text)
{
    cr_assert_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

static double metric(struct cm_metrics *reg, const char *series)
{
    char *text = cm_metrics_render(reg);
    char line[160];
    snprintf(line, sizeof(line), "\n%s", series); /* a sample line, not its # HELP */
    const char *at = strstr(text, line);
    double v = at ? strtod(at + strlen(line), NULL) : -1;
    free(text);
    return v;
}

/* Waits up to 5 s for the open-connection gauge to reach n. */
static void wait_open(struct cm_metrics *reg, double n)
{
    for (int i = 0; i < 500 && metric(reg, "t_http_connections ") != n; i++) {
        cm_sleep_ms(10);
    }
    cr_assert_eq(metric(reg, "t_http_connections "), n);
}

struct got {
    long status;
    char body[512];
    size_t len;
    char retry_after[16];
};

static size_t keep(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    size_t k = sz * n;
    if (g->len + k < sizeof(g->body)) {
        memcpy(g->body + g->len, p, k);
        g->len += k;
        g->body[g->len] = '\0';
    }
    return k;
}

static size_t header(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    if (strncasecmp(p, "Retry-After:", 12) == 0) {
        snprintf(g->retry_after, sizeof(g->retry_after), "%.*s", (int)(sz * n - 12), p + 12);
    }
    return sz * n;
}

/* GET path from 127.0.0.1 with an optional X-Forwarded-For; with post_size, a POST of that many
 * bytes instead. */
static struct got fetch(unsigned port, const char *path, const char *xff, size_t post_size)
{
    struct got g = {0};
    CURL *c = curl_easy_init();
    char *data = NULL;
    if (post_size) {
        data = malloc(post_size);
        memset(data, 'x', post_size);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)post_size);
    }
    char url[256], h[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &g);
    struct curl_slist *hs = NULL;
    if (xff) {
        snprintf(h, sizeof(h), "X-Forwarded-For: %s", xff);
        hs = curl_slist_append(hs, h);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g.status);
    }
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    free(data);
    return g;
}

static struct got get(unsigned port, const char *path, const char *xff)
{
    return fetch(port, path, xff, 0);
}

Test(http_limits, a_flood_from_one_address_is_refused_at_once_and_others_are_served)
{
    struct cm_metrics *reg = cm_metrics_new("t_");
    struct cm_http_server *srv = start(1000, 8, 30000, NULL, reg);
    unsigned port = cm_http_port(srv);
    int held[8];
    for (int i = 0; i < 8; i++) {
        held[i] = dial("127.0.0.2", port);
        send_text(held[i], "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: "); /* half the headers */
    }
    wait_open(reg, 8);
    int64_t t0 = cm_monotonic_ms();
    for (int i = 0; i < 40; i++) {
        int fd = dial("127.0.0.2", port);
        cr_assert(closed_within(fd, 2000), "connection %d over the per-address limit stayed open",
                  i);
        close(fd);
    }
    int64_t took = cm_monotonic_ms() - t0;
    cr_assert_lt(took, 2000, "40 refusals took %lld ms", (long long)took);
    cr_assert_eq(metric(reg, "t_http_connections_refused_total{reason=\"per_ip\"} "), 40);
    cr_assert_eq(get(port, "/healthz", NULL).status, 200, "another address is served");
    for (int i = 0; i < 8; i++) {
        cr_assert_not(closed_within(held[i], 10), "a connection under the limit is kept");
        close(held[i]);
    }
    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_metrics_free(reg);
}

Test(http_limits, the_total_limit_refuses_beyond_it_and_frees_as_connections_close)
{
    struct cm_metrics *reg = cm_metrics_new("t_");
    struct cm_http_server *srv = start(16, 0, 30000, NULL, reg);
    unsigned port = cm_http_port(srv);
    int held[16];
    for (int i = 0; i < 16; i++) {
        held[i] = dial("127.0.0.3", port);
    }
    wait_open(reg, 16);
    int fd = dial("127.0.0.1", port);
    cr_assert(closed_within(fd, 2000), "the 17th connection is refused");
    close(fd);
    cr_assert_eq(metric(reg, "t_http_connections_refused_total{reason=\"max_connections\"} "), 1);
    for (int i = 0; i < 5; i++) {
        close(held[i]);
    }
    wait_open(reg, 11);
    cr_assert_eq(get(port, "/healthz", NULL).status, 200);
    for (int i = 5; i < 16; i++) {
        close(held[i]);
    }
    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_metrics_free(reg);
}

Test(http_limits, a_request_trickled_a_byte_at_a_time_is_cut_at_the_request_timeout)
{
    struct cm_metrics *reg = cm_metrics_new("t_");
    struct cm_http_server *srv = start(1000, 0, 600, NULL, reg);
    unsigned port = cm_http_port(srv);
    int fd = dial("127.0.0.1", port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int64_t t0 = cm_monotonic_ms();
    int cut = 0;
    for (size_t i = 0; req[i] && !cut; i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
            cut = 1; /* reset by the server */
            break;
        }
        cut = closed_within(fd, 50); /* a byte every 50 ms: never idle for the idle timeout */
    }
    int64_t took = cm_monotonic_ms() - t0;
    close(fd);
    cr_assert(cut, "the trickling client was never cut");
    cr_assert(took >= 500 && took < 3000, "cut after %lld ms (timeout 600 ms)", (long long)took);
    cr_assert_eq(metric(reg, "t_http_request_timeouts_total "), 1);
    /* a whole request sent at once, on a connection kept alive across requests, is served */
    fd = dial("127.0.0.1", port);
    for (int i = 0; i < 3; i++) {
        send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        cr_assert_gt(n, 12);
        buf[n] = '\0';
        cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
        cm_sleep_ms(250); /* idle between requests, within the bound */
    }
    close(fd);
    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_metrics_free(reg);
}

struct slow_call {
    unsigned port;
    const char *xff;
    struct got got;
};

static void *slow_get(void *arg)
{
    struct slow_call *c = arg;
    c->got = get(c->port, "/slow", c->xff);
    return NULL;
}

Test(http_limits, behind_a_trusted_proxy_the_forwarded_client_is_limited_per_request)
{
    char err[128];
    struct cm_proxies *proxies = cm_proxies_parse("127.0.0.1", err, sizeof(err));
    cr_assert_not_null(proxies, "%s", err);
    struct cm_metrics *reg = cm_metrics_new("t_");
    struct cm_http_server *srv = start(1000, 1, 30000, proxies, reg);
    unsigned port = cm_http_port(srv);
    struct got me = get(port, "/client", "198.51.100.7");
    cr_assert_eq(me.status, 200);
    cr_assert_str_eq(me.body, "198.51.100.7", "the client address is the forwarded one");
    struct slow_call a = {port, "203.0.113.9", {0}};
    pthread_t t;
    pthread_create(&t, NULL, slow_get, &a);
    cm_sleep_ms(200); /* a's request is in progress (answered after 800 ms) */
    struct got b = get(port, "/slow", "203.0.113.9");
    struct got other = get(port, "/client", "203.0.113.10");
    pthread_join(t, NULL);
    cr_assert_eq(a.got.status, 200);
    cr_assert_eq(b.status, 429, "a second request in progress for the same client: %s", b.body);
    cr_assert_str_eq(b.retry_after, " 1\r\n");
    cr_assert(strstr(b.body, "203.0.113.9"), "%s", b.body);
    cr_assert_eq(other.status, 200, "another forwarded client is served");
    cr_assert_eq(get(port, "/slow", "203.0.113.9").status, 200, "the slot is free again");
    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_metrics_free(reg);
    cm_proxies_free(proxies);
}

static void h_client(struct cm_http_req *req, void *ud)
{
    (void)ud;
    const char *ip = cm_http_client_ip(req);
    cm_http_respond(req, 200, "text/plain", ip, strlen(ip));
}

static atomic_int holding, release_held;

/* Answers "slow" after 800 ms, or "held" once release_held is set (/hold). */
static void *answer_later(void *arg)
{
    struct cm_http_req *req = arg;
    int hold = strcmp(cm_http_path(req), "/hold") == 0;
    if (hold) {
        while (!atomic_load(&release_held)) {
            cm_sleep_ms(5);
        }
    } else {
        cm_sleep_ms(800);
    }
    cm_http_respond(req, 200, "text/plain", hold ? "held" : "slow", 4);
    return NULL;
}

/* Keeps its request (and so its body) until answer_later answers it. */
static void h_slow(struct cm_http_req *req, void *ud)
{
    (void)ud;
    cm_http_defer(req);
    atomic_fetch_add(&holding, 1);
    pthread_t t;
    pthread_create(&t, NULL, answer_later, req);
    pthread_detach(t);
}

static struct cm_http_server *start(unsigned max, unsigned per_ip, unsigned request_timeout_ms,
                                    const struct cm_proxies *proxies, struct cm_metrics *reg)
{
    struct cm_http_options o = {.bind_addr = "127.0.0.1",
                                .threads = 2,
                                .timeout_s = 30,
                                .metrics = reg,
                                .max_connections = max,
                                .max_connections_per_ip = per_ip,
                                .request_timeout_ms = request_timeout_ms};
    struct cm_http_server *srv = cm_http_new(&o);
    cr_assert_not_null(srv);
    cm_http_set_trusted_proxies(srv, proxies);
    cm_http_route(srv, "GET", "/client", h_client, NULL);
    cm_http_route(srv, "GET", "/slow", h_slow, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    return srv;
}

/* ---- the bodies' memory bound ---- */

static void h_echo_len(struct cm_http_req *req, void *ud)
{
    (void)ud;
    size_t len;
    cm_http_body(req, &len);
    char text[32];
    snprintf(text, sizeof(text), "%zu", len);
    cm_http_respond(req, 200, "text/plain", text, strlen(text));
}

static struct cm_http_server *start_buffered(size_t max_buffered, struct cm_metrics *reg)
{
    struct cm_http_options o = {.bind_addr = "127.0.0.1",
                                .threads = 2,
                                .max_body = 64 * 1024,
                                .max_buffered = max_buffered,
                                .metrics = reg};
    struct cm_http_server *srv = cm_http_new(&o);
    cr_assert_not_null(srv);
    cm_http_route(srv, "POST", "/echo", h_echo_len, NULL);
    cm_http_route(srv, "POST", "/hold", h_slow, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    return srv;
}

struct held_post {
    unsigned port;
    struct got r;
};

static void *post_held(void *arg)
{
    struct held_post *h = arg;
    h->r = fetch(h->port, "/hold", NULL, 40 * 1024);
    return NULL;
}

/* A status line's code from a raw connection's answer, or -1. */
static int raw_status(int fd)
{
    char buf[2048];
    it_read_head(fd, buf, sizeof(buf), 10000);
    int code = -1;
    return sscanf(buf, "HTTP/1.1 %d", &code) == 1 ? code : -1;
}

/* 100 KiB for the bodies of all requests: one of 40 KiB held in progress leaves room for another
 * of 40 KiB but not of 60 KiB, announced or chunked; once it is answered, there is room again. */
Test(http_limits, requests_bodies_share_one_bound_on_memory)
{
    struct cm_metrics *reg = cm_metrics_new("t_");
    struct cm_http_server *srv = start_buffered(100 * 1024, reg);
    unsigned port = cm_http_port(srv);
    struct got r = fetch(port, "/echo", NULL, 60 * 1024);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "61440");

    struct held_post h = {port, {0}};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, post_held, &h), 0);
    int64_t deadline = cm_monotonic_ms() + 10000;
    while (atomic_load(&holding) == 0 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(5);
    }
    cr_assert_eq(atomic_load(&holding), 1, "the held request never reached its handler");
    for (int i = 0; i < 500 && metric(reg, "t_http_buffered_bytes ") != 40 * 1024 + 1; i++) {
        cm_sleep_ms(10); /* the first request's body is let go once its answer is sent */
    }
    cr_assert_eq(metric(reg, "t_http_buffered_bytes "), 40 * 1024 + 1, "the held body alone");
    r = fetch(port, "/echo", NULL, 40 * 1024);
    cr_assert_eq(r.status, 200, "room for a second of 40 KiB: %s", r.body);
    r = fetch(port, "/echo", NULL, 60 * 1024);
    cr_assert_eq(r.status, 503, "no room for 60 KiB: %ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "\"error_code\":503") && strstr(r.body, "102400 bytes"), "%s", r.body);
    cr_assert_eq(atoi(r.retry_after), 1, "Retry-After:%s", r.retry_after);

    /* the same body sent chunk by chunk, without Content-Length: refused as it grows */
    int fd = dial("127.0.0.1", port);
    send_text(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[4096 + 16];
    memset(chunk, 'y', sizeof(chunk));
    int head = snprintf(chunk, sizeof(chunk), "1000\r\n");
    chunk[head + 4096] = '\r';
    chunk[head + 4097] = '\n';
    for (int i = 0; i < 15; i++) { /* 60 KiB */
        cr_assert_eq(send(fd, chunk, (size_t)head + 4098, MSG_NOSIGNAL), (ssize_t)head + 4098);
    }
    send_text(fd, "0\r\n\r\n");
    cr_assert_eq(raw_status(fd), 503);
    close(fd);
    cr_assert_eq(metric(reg, "t_http_bodies_refused_total "), 2);

    atomic_store(&release_held, 1);
    pthread_join(t, NULL);
    cr_assert_eq(h.r.status, 200);
    cr_assert_str_eq(h.r.body, "held");
    deadline = cm_monotonic_ms() + 10000;
    do { /* the held request's body is let go once its answer is sent */
        r = fetch(port, "/echo", NULL, 60 * 1024);
    } while (r.status == 503 && cm_monotonic_ms() < deadline && (cm_sleep_ms(20), 1));
    cr_assert_eq(r.status, 200, "room again: %s", r.body);
    cm_http_free(srv);
    cr_assert_eq(metric(reg, "t_http_buffered_bytes "), 0, "every body let go");
    cm_metrics_free(reg);

    /* a bound no larger than the largest body is refused */
    struct cm_http_options bad = {
        .bind_addr = "127.0.0.1", .max_body = 64 * 1024, .max_buffered = 64 * 1024};
    cr_assert_null(cm_http_new(&bad));
}
