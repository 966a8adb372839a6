/* Integration tests for the dependencies the gateway goes on without: Redis, for idempotency keys
 * (gw_idem) and shared rate limits (gw_ratelimit), and the schema registry (gw_schema).
 * Idempotency keys: while Redis cannot answer
 * (a loopback port nothing listens on) every event goes through unguarded, each is counted, and
 * the warning comes once a second at most (one line for a whole batch, not one per event); a
 * Redis that takes connections but never answers costs one timeout, not one per request (the
 * breaker shared by the connections); against the real Redis, a key claimed by a request that
 * never settles it expires after GW_IDEM_IN_FLIGHT_MS, not after the whole window; on a Redis
 * Cluster the keys spread over every node and repeats are recognised. Rate limits:
 * a Redis that never answers costs one timeout too, then the local buckets decide at once.
 * Schemas: a registry that never answers costs one lookup the fetch timeout; lookups of other
 * subjects right after it are not tried (no schema, at once). A subject registered while an
 * event's first lookup of it is in flight (announced on registry_subjects before the registry's
 * 404 comes back) is asked again at once, not after the 2 s a missing subject waits. */
#include "harness.h"

#include "../../services/gateway/gw_idem.h"
#include "../../services/gateway/gw_ratelimit.h"
#include "../../services/gateway/gw_schema.h"

#include "cm/log.h"
#include "cm/metrics.h"
#include "cm/pg.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <hiredis.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port that refuses connections: bound to pick it, closed without listening. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The value of a series without labels (its line, not the HELP line naming it). */
static double counter(struct cm_metrics *m, const char *name)
{
    char *text = cm_metrics_render(m), want[128];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(text, want);
    cr_assert_not_null(at, "%s not in\n%s", name, text);
    double v = strtod(at + strlen(want), NULL);
    free(text);
    return v;
}

/* The idempotency_unavailable lines written so far (the Redis client logs its own too), the
 * last one's msg into msg. */
static int warnings(int fd, char *msg, size_t len)
{
    static char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int found = 0;
    for (char *line = buf, *end; n > 0 && line < buf + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(buf + n - line));
        cr_assert_not_null(end, "a whole line");
        *end = '\0';
        json_t *v = json_loads(line, 0, NULL);
        cr_assert_not_null(v, "%s", line);
        if (strcmp(json_string_value(json_object_get(v, "event")), "idempotency_unavailable") ==
            0) {
            snprintf(msg, len, "%s", json_string_value(json_object_get(v, "msg")));
            found++;
        }
        json_decref(v);
    }
    return found;
}

static void claim(struct gw_idem *g, size_t n, char keys[][48], struct gw_idem_claim *claims)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], 48, "acme:ev:/shop:o-%zu", i);
        claims[i] = (struct gw_idem_claim){.key = keys[i], .hash = "00ff"};
    }
    gw_idem_begin(g, claims, n);
}

Test(gw_idem, without_redis_events_go_through_counted_and_logged_once_a_second)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    cm_log_init("gateway");
    cm_log_set_fd(fds[1]);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", closed_port());
    struct cm_metrics *m = cm_metrics_new("gateway_");
    struct gw_idem *g = gw_idem_new(url, 1, 60000, GW_IDEM_LEASE_MS, m);
    cr_assert_not_null(g);

    char keys[5][48];
    struct gw_idem_claim claims[5];
    claim(g, 5, keys, claims);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(claims[i].state, GW_IDEM_UNAVAILABLE, "claim %zu", i);
    }
    cr_assert_eq(counter(m, "gateway_idempotency_unguarded_total"), 5);
    char msg[512];
    cr_assert_eq(warnings(fds[0], msg, sizeof(msg)), 1, "one line for the batch, not per event");
    cr_assert(strstr(msg, "5 events go through unguarded (the first acme:ev:/shop:o-0)"), "%s",
              msg);

    /* a second batch within the second: counted, not logged */
    claim(g, 3, keys, claims);
    cr_assert_eq(claims[2].state, GW_IDEM_UNAVAILABLE);
    cr_assert_eq(counter(m, "gateway_idempotency_unguarded_total"), 8);
    cr_assert_eq(warnings(fds[0], msg, sizeof(msg)), 0, "no second line within a second");
    for (size_t i = 0; i < 3; i++) {
        claims[i].accepted = 1;
        claims[i].id = "id";
    }
    gw_idem_finish(g, claims, 3); /* no Redis: nothing to record, nothing fails */

    gw_idem_free(g);
    cm_metrics_free(m);
    cm_log_set_fd(STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
}

/* A listener that never answers (harness), as a redis:// URL into url. */
static int silent_listener(char *url, size_t len)
{
    int port;
    int fd = it_silent_listener(&port);
    snprintf(url, len, "redis://127.0.0.1:%d/0", port);
    return fd;
}

/* A listener that takes connections and never answers (Redis stopped with SIGSTOP, say): the
 * first request waits for the 2 s timeout; the next ones, on the other connections too, do not
 * try Redis while the breaker is open. */
Test(gw_idem, a_redis_that_does_not_answer_costs_one_timeout, .timeout = 30)
{
    char url[64];
    int fd = silent_listener(url, sizeof(url));
    struct gw_idem *g = gw_idem_new(url, 4, 60000, GW_IDEM_LEASE_MS, NULL);
    cr_assert_not_null(g);
    char keys[5][48];
    struct gw_idem_claim claims[5];
    int64_t t0 = cm_monotonic_ms();
    claim(g, 1, keys, claims);
    int64_t waited = cm_monotonic_ms() - t0;
    cr_assert_eq(claims[0].state, GW_IDEM_UNAVAILABLE);
    cr_assert_geq(waited, 1500, "the first request waits for the timeout (%lld ms)",
                  (long long)waited);
    for (int i = 0; i < 4; i++) { /* each on another connection, in turn */
        t0 = cm_monotonic_ms();
        claim(g, 1, keys, claims);
        waited = cm_monotonic_ms() - t0;
        cr_assert_eq(claims[0].state, GW_IDEM_UNAVAILABLE);
        cr_assert_lt(waited, 1000, "request %d waited %lld ms", i, (long long)waited);
    }
    gw_idem_free(g);
    close(fd);
}

static long long pttl(struct cm_redis *r, const char *key)
{
    char k[128];
    snprintf(k, sizeof(k), "idem:%s", key);
    const char *argv[] = {"PTTL", k};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 2, argv, NULL, &rep), 0);
    long long v = cm_redis_reply_integer(rep);
    cm_redis_reply_free(rep);
    return v;
}

/* A claim holds its key for GW_IDEM_IN_FLIGHT_MS until it is settled; settled as accepted, for the
 * window (a day here); a repeat meanwhile finds it in flight. */
Test(gw_idem, an_unsettled_claim_expires_long_before_the_window)
{
    const int64_t day = 86400000;
    struct gw_idem *g = gw_idem_new(it_env("REDIS_URL"), 1, day, GW_IDEM_LEASE_MS, NULL);
    struct cm_redis *r = cm_redis_new(it_env("REDIS_URL"));
    cr_assert_not_null(g);
    cr_assert_not_null(r);
    char key[96];
    it_unique(key, sizeof(key), "acme:ev:/shop:inflight");
    struct gw_idem_claim c = {.key = key, .hash = "00ff"};
    gw_idem_begin(g, &c, 1);
    cr_assert_eq(c.state, GW_IDEM_NEW);
    long long left = pttl(r, key);
    cr_assert(left > 0 && left <= GW_IDEM_IN_FLIGHT_MS, "in flight for %lld ms", left);
    struct gw_idem_claim again = {.key = key, .hash = "00ff"};
    gw_idem_begin(g, &again, 1);
    cr_assert_eq(again.state, GW_IDEM_IN_FLIGHT);
    c.accepted = 1;
    c.id = "the-id";
    gw_idem_finish(g, &c, 1);
    left = pttl(r, key);
    cr_assert(left > day - 60000 && left <= day, "accepted: kept %lld ms", left);
    struct gw_idem_claim repeat = {.key = key, .hash = "00ff"};
    gw_idem_begin(g, &repeat, 1);
    cr_assert_eq(repeat.state, GW_IDEM_DONE);
    cr_assert_str_eq(repeat.prev_id, "the-id");
    cm_redis_free(r);
    gw_idem_free(g);
}

/* Shared rate limits against a Redis that never answers: the first decision waits for the
 * timeout, then the local buckets decide at once (each connection would otherwise wait again). */
Test(gw_ratelimit_redis, a_redis_that_does_not_answer_costs_one_timeout, .timeout = 30)
{
    char url[64];
    int fd = silent_listener(url, sizeof(url));
    struct gw_ratelimit *r = gw_ratelimit_new(100.0, 100.0);
    cr_assert_eq(gw_ratelimit_use_redis(r, url, NULL), 0);
    int64_t t0 = cm_monotonic_ms();
    struct gw_rate_decision d = gw_ratelimit_take(r, "acme", 1, cm_monotonic_ms());
    int64_t waited = cm_monotonic_ms() - t0;
    cr_assert(d.allowed, "the local bucket allows it");
    cr_assert_geq(waited, 1500, "the first decision waits for the timeout (%lld ms)",
                  (long long)waited);
    for (int i = 0; i < 6; i++) {
        t0 = cm_monotonic_ms();
        d = gw_ratelimit_take(r, "acme", 1, cm_monotonic_ms());
        waited = cm_monotonic_ms() - t0;
        cr_assert(d.allowed);
        cr_assert_lt(waited, 1000, "decision %d waited %lld ms", i, (long long)waited);
    }
    gw_ratelimit_free(r);
    close(fd);
}

/* A schema registry that never answers: the first lookup waits for the fetch timeout (2 s), the
 * lookups of other subjects right after it find no schema at once. */
Test(gw_schema_registry, a_registry_that_does_not_answer_costs_one_timeout, .timeout = 30)
{
    int port;
    int fd = it_silent_listener(&port);
    char url[64], subject[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    struct cm_metrics *m = cm_metrics_new("gateway_");
    struct gw_schemas_config cfg = {.registry_url = url, .strategy = GW_SUBJECT_TYPE};
    struct gw_schemas *s = gw_schemas_new(&cfg, m);
    enum gw_check verdict;
    int64_t t0 = cm_monotonic_ms();
    cr_assert_null(
        gw_schemas_find(s, "order.created", "events", subject, sizeof(subject), &verdict));
    int64_t waited = cm_monotonic_ms() - t0;
    cr_assert_eq(verdict, GW_CHECK_NO_SCHEMA);
    cr_assert_geq(waited, 1500, "the first lookup waits for the timeout (%lld ms)",
                  (long long)waited);
    for (int i = 0; i < 5; i++) {
        char type[32];
        snprintf(type, sizeof(type), "order.t%d", i);
        t0 = cm_monotonic_ms();
        cr_assert_null(gw_schemas_find(s, type, "events", subject, sizeof(subject), &verdict));
        waited = cm_monotonic_ms() - t0;
        cr_assert_eq(verdict, GW_CHECK_NO_SCHEMA);
        cr_assert_lt(waited, 1000, "lookup %d waited %lld ms", i, (long long)waited);
    }
    gw_schemas_free(s);
    cm_metrics_free(m);
    close(fd);
}

/* A registry whose first answer (404: no such subject) comes after the subject was announced as
 * registered, as when the registration commits while the lookup is in flight; every later answer
 * holds the schema. */
struct slow_registry {
    int fd;
    int requests;
};

static void *slow_registry_main(void *arg)
{
    struct slow_registry *r = arg;
    static const char missing[] = "{\"error_code\":40401,\"message\":\"Subject not found.\"}";
    static const char found[] =
        "{\"subject\":\"slow.subject\",\"version\":1,\"id\":7,\"schemaType\":\"JSON\","
        "\"schema\":\"{\\\"type\\\":\\\"object\\\",\\\"required\\\":[\\\"n\\\"]}\"}";
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) {
            return NULL; /* closed: the test is over */
        }
        char buf[4096];
        it_read_head(c, buf, sizeof(buf), 10000); /* the request: a GET has no body */
        int first = r->requests++ == 0;
        if (first) {
            struct cm_pg *pg = cm_pg_new(it_env("DATABASE_URL"));
            cr_assert_eq(cm_pg_exec(pg, "SELECT pg_notify('registry_subjects', 'slow.subject')", 0,
                                    NULL, NULL, NULL),
                         0);
            cm_pg_free(pg);
            cm_sleep_ms(300); /* the gateway takes the announcement before this answer */
        }
        const char *body = first ? missing : found;
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: "
                          "%zu\r\nConnection: close\r\n\r\n",
                          first ? "404 Not Found" : "200 OK", strlen(body));
        cr_assert_eq(write(c, head, (size_t)hl), hl);
        cr_assert_eq(write(c, body, strlen(body)), (ssize_t)strlen(body));
        close(c);
    }
}

/* The gateway's follower listens on registry_subjects in this test's database. */
static int following(struct cm_pg *pg)
{
    struct cm_pg_result *res = NULL;
    int n = 0;
    if (cm_pg_exec(pg,
                   "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                   " AND query = 'LISTEN \"registry_subjects\"'",
                   0, NULL, &res, NULL) == 0) {
        n = atoi(cm_pg_value(res, 0, 0));
        cm_pg_result_free(res);
    }
    return n;
}

Test(gw_schema_registry, a_subject_registered_during_its_first_lookup_is_asked_again, .timeout = 30)
{
    struct slow_registry reg = {0};
    int port;
    reg.fd = it_silent_listener(&port); /* this test's thread takes its connections */
    pthread_t t;
    pthread_create(&t, NULL, slow_registry_main, &reg);
    char url[64], subject[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    struct cm_metrics *m = cm_metrics_new("gateway_");
    struct gw_schemas_config cfg = {.registry_url = url,
                                    .strategy = GW_SUBJECT_TYPE,
                                    .ttl_ms = 60000,
                                    .database_url = it_env("DATABASE_URL")};
    struct gw_schemas *s = gw_schemas_new(&cfg, m);
    struct cm_pg *pg = cm_pg_new(it_env("DATABASE_URL"));
    for (int i = 0; i < 100 && following(pg) != 1; i++) {
        cm_sleep_ms(50);
    }
    cr_assert_eq(following(pg), 1, "the gateway listens on registry_subjects");
    cm_pg_free(pg);
    enum gw_check verdict;
    cr_assert_null(gw_schemas_find(s, "slow.subject", "events", subject, sizeof(subject), &verdict),
                   "the first answer: no such subject");
    cr_assert_eq(verdict, GW_CHECK_NO_SCHEMA);
    int64_t t0 = cm_monotonic_ms();
    const struct gw_schema *found = NULL;
    while (!found && cm_monotonic_ms() - t0 < 1000) { /* a missing subject waits 2 s otherwise */
        found = gw_schemas_find(s, "slow.subject", "events", subject, sizeof(subject), &verdict);
        if (!found) {
            cm_sleep_ms(20);
        }
    }
    cr_assert_not_null(found, "asked again within a second");
    gw_schema_release(found);
    gw_schemas_free(s);
    cm_metrics_free(m);
    shutdown(reg.fd, SHUT_RDWR);
    close(reg.fd);
    pthread_join(t, NULL);
    cr_assert_geq(reg.requests, 2);
}

/* On a Redis Cluster (the harness's three nodes, REDIS_URL naming one): a batch's claims are
 * taken, finished and recognised as repeats, and their keys spread over every node (no hash tag
 * gathers them on one). */
Test(gw_idem, a_redis_cluster_spreads_the_keys_and_recognises_repeats)
{
    const char *url = it_env("REDIS_CLUSTER_URL");
    struct gw_idem *g = gw_idem_new(url, 2, 60000, GW_IDEM_LEASE_MS, NULL);
    cr_assert_not_null(g);
    enum { N = 60 };
    char keys[N][48], prefix[40];
    it_unique(prefix, sizeof(prefix), "cl");
    struct gw_idem_claim claims[N], again[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%.30s:ev:/s:%zu", prefix, i);
        claims[i] = (struct gw_idem_claim){.key = keys[i], .hash = "00ff"};
    }
    gw_idem_begin(g, claims, N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(claims[i].state, GW_IDEM_NEW, "claim %zu: %d", i, claims[i].state);
        claims[i].accepted = 1;
        claims[i].id = keys[i];
    }
    gw_idem_finish(g, claims, N);
    for (size_t i = 0; i < N; i++) {
        again[i] = (struct gw_idem_claim){.key = keys[i], .hash = "00ff"};
    }
    gw_idem_begin(g, again, N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(again[i].state, GW_IDEM_DONE, "repeat %zu: %d", i, again[i].state);
        cr_assert_str_eq(again[i].prev_id, keys[i]);
    }
    /* where the keys are: each node, asked itself, holds some of them */
    const char *ports = it_env("REDIS_CLUSTER_PORTS");
    int nodes = 0;
    for (const char *p = ports; *p;) {
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        p = end;
        redisContext *c = redisConnect("127.0.0.1", (int)port); /* (no redirection followed) */
        cr_assert(c && !c->err, "node %ld", port);
        int here = 0;
        for (size_t i = 0; i < N; i++) { /* a key another node serves answers MOVED */
            redisReply *rep = redisCommand(c, "EXISTS idem:%s", keys[i]);
            cr_assert_not_null(rep);
            here += rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
            freeReplyObject(rep);
        }
        redisFree(c);
        nodes += here > 0;
    }
    cr_assert_eq(nodes, 3, "the keys are on %d of the 3 nodes", nodes);
    gw_idem_free(g);
}
