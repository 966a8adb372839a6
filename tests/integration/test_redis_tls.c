/* Integration tests of Redis over TLS (rediss://) against real redis-servers with TLS ports and
 * certificates made for the test (tls_certs.sh): commands, long pipelines and large
 * values; the server's certificate checked against ssl_ca_certs and its address (a wrong CA, the
 * system's CAs, a name the certificate does not hold all refused, saying why; ssl_cert_reqs=none
 * takes any); client certificates for a server that requires them (separate files, or one
 * file holding both); TLS and plain TCP mistaken for each other fail within the timeout; a
 * reconnection after the server is killed (-9) and started again; a Redis Cluster of three
 * nodes over TLS; Redis Sentinel over TLS; and the URLs refused. */
#include "harness.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/redis.h"

#include <criterion/criterion.h>
#include <hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static int plain_port, tls_port, strict_plain, strict_tls; /* strict: client certificates */
static int pid, strict_pid;

static char cert[128], key[128], ca[128]; /* the server's certificate and key, the CA */

/* The arguments that give a redis-server the TLS port tp (a string) with the server's
 * certificate, client certificates as auth says (no, optional, yes). */
#define TLS_ARGS(tp, auth)                                                                         \
    "--tls-port", tp, "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,    \
        "--tls-auth-clients", auth

static int start_tls_redis(int port, int tport, const char *auth_clients)
{
    char tp[16];
    snprintf(tp, sizeof(tp), "%d", tport);
    const char *extra[] = {TLS_ARGS(tp, auth_clients), NULL};
    return it_start_redis(port, NULL, extra);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/it-redis-tls.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cmd[256]; /* (the tests run from the repository's root) */
    snprintf(cmd, sizeof(cmd), "tests/integration/tls_certs.sh %s", dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    plain_port = it_free_port();
    tls_port = it_free_port();
    pid = start_tls_redis(plain_port, tls_port, "optional");
    strict_plain = it_free_port();
    strict_tls = it_free_port();
    strict_pid = start_tls_redis(strict_plain, strict_tls, "yes");
}

static void teardown(void)
{
    it_kill_and_remove(&strict_pid, NULL);
    it_kill_and_remove(&pid, dir);
}

TestSuite(redis_tls, .init = setup, .fini = teardown, .timeout = 90);

/* rediss://127.0.0.1:<port>/0 with the query given (may be ""): the URL into url. */
static const char *tls_url(char *url, size_t len, const char *host, int port, const char *query)
{
    snprintf(url, len, "rediss://%s:%d/0%s", host, port, query);
    return url;
}

/* One command on the plain port given (hiredis's reply, or NULL). */
static redisReply *raw_at(int port, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = it_redis_vraw(port, NULL, 0, fmt, ap);
    va_end(ap);
    return rep;
}

static int ping(const char *url, char *why, size_t len)
{
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r, "%s", url);
    int rc = cm_redis_ping(r, why, len);
    cm_redis_free(r);
    return rc;
}

Test(redis_tls, commands_pipelines_and_large_values)
{
    char url[1024], q[256], why[256];
    snprintf(q, sizeof(q), "?ssl_ca_certs=%s/ca.pem", dir);
    struct cm_redis *r = cm_redis_new(tls_url(url, sizeof(url), "127.0.0.1", tls_port, q));
    cr_assert_not_null(r);
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);
    const char *set[] = {"SET", "tls:k", "a\0b"};
    size_t lens[] = {3, 5, 3};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 3, set, lens, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS);
    cm_redis_reply_free(rep);
    /* the value went over TLS: the plain port reads it back */
    redisReply *plain = raw_at(plain_port, "GET tls:k");
    cr_assert_not_null(plain);
    cr_assert_eq(plain->len, 3);
    cr_assert_eq(memcmp(plain->str, "a\0b", 3), 0);
    freeReplyObject(plain);

    /* 4 MiB out and back: many TLS records each way */
    size_t big = 4u << 20;
    char *value = cm_xmalloc(big);
    for (size_t i = 0; i < big; i++) {
        value[i] = (char)('a' + i % 26);
    }
    const char *setbig[] = {"SET", "tls:big", value};
    size_t biglens[] = {3, 7, big};
    cr_assert_eq(cm_redis_command(r, 3, setbig, biglens, &rep), 0);
    cm_redis_reply_free(rep);
    const char *getbig[] = {"GET", "tls:big"};
    cr_assert_eq(cm_redis_command(r, 2, getbig, NULL, &rep), 0);
    size_t got = 0;
    const char *back = cm_redis_reply_str(rep, &got);
    cr_assert_eq(got, big);
    cr_assert_eq(memcmp(back, value, big), 0, "the large value came back whole");
    cm_redis_reply_free(rep);
    free(value);

    /* a long pipeline (written in chunks as it is built): each reply the count so far */
    enum { LONG = 3000 };
    const char *incr[] = {"INCR", "tls:n"};
    const char *const **argvs = cm_xcalloc(LONG, sizeof(*argvs));
    int *argcs = cm_xcalloc(LONG, sizeof(*argcs));
    struct cm_redis_reply **out = cm_xcalloc(LONG, sizeof(*out));
    for (int i = 0; i < LONG; i++) {
        argvs[i] = incr;
        argcs[i] = 2;
    }
    cr_assert_eq(cm_redis_pipeline(r, LONG, argcs, argvs, out), 0);
    for (int i = 0; i < LONG; i++) {
        cr_assert_eq(cm_redis_reply_integer(out[i]), i + 1, "reply %d", i);
        cm_redis_reply_free(out[i]);
    }
    free(out);
    free(argcs);
    free(argvs);
    cm_redis_free(r);
}

Test(redis_tls, the_servers_certificate_is_checked)
{
    char url[1024], q[256], why[256];
    snprintf(q, sizeof(q), "?ssl_ca_certs=%s/other.pem", dir);
    cr_assert_neq(ping(tls_url(url, sizeof(url), "127.0.0.1", tls_port, q), why, sizeof(why)), 0,
                  "a CA that did not sign the server's certificate");
    cr_assert(strstr(why, "the server's certificate") != NULL, "%s", why);
    cr_assert_neq(ping(tls_url(url, sizeof(url), "127.0.0.1", tls_port, ""), why, sizeof(why)), 0,
                  "the system's CAs did not sign it either");
    cr_assert(strstr(why, "the server's certificate") != NULL, "%s", why);
    /* the certificate holds the address 127.0.0.1, not the name localhost */
    snprintf(q, sizeof(q), "?ssl_ca_certs=%s/ca.pem", dir);
    cr_assert_neq(ping(tls_url(url, sizeof(url), "localhost", tls_port, q), why, sizeof(why)), 0,
                  "a name the certificate does not hold");
    cr_assert(strstr(why, "mismatch") != NULL, "%s", why);
    cr_assert_eq(ping(tls_url(url, sizeof(url), "127.0.0.1", tls_port, q), why, sizeof(why)), 0,
                 "%s", why);
    cr_assert_eq(ping(tls_url(url, sizeof(url), "localhost", tls_port, "?ssl_cert_reqs=none"), why,
                      sizeof(why)),
                 0, "ssl_cert_reqs=none takes any certificate: %s", why);
}

Test(redis_tls, client_certificates)
{
    char url[1024], q[512], why[256];
    snprintf(q, sizeof(q), "?ssl_ca_certs=%s/ca.pem", dir);
    cr_assert_neq(ping(tls_url(url, sizeof(url), "127.0.0.1", strict_tls, q), why, sizeof(why)), 0,
                  "a server that requires a client certificate refuses a client without");
    snprintf(q, sizeof(q),
             "?ssl_ca_certs=%s/ca.pem&ssl_certfile=%s/client.pem&ssl_keyfile=%s/client.key", dir,
             dir, dir);
    cr_assert_eq(ping(tls_url(url, sizeof(url), "127.0.0.1", strict_tls, q), why, sizeof(why)), 0,
                 "%s", why);
    snprintf(q, sizeof(q), "?ssl_ca_certs=%s/ca.pem&ssl_certfile=%s/client-both.pem", dir, dir);
    cr_assert_eq(ping(tls_url(url, sizeof(url), "127.0.0.1", strict_tls, q), why, sizeof(why)), 0,
                 "the key in the certificate's file: %s", why);
}

/* TLS to a plain port, and plain TCP to a TLS port: each fails within the 2 s timeout, saying
 * so, rather than hanging or taking garbage for a reply. */
Test(redis_tls, tls_and_plain_mistaken_for_each_other_fail)
{
    char url[1024], why[256];
    cr_assert_neq(ping(tls_url(url, sizeof(url), "127.0.0.1", plain_port, "?ssl_cert_reqs=none"),
                       why, sizeof(why)),
                  0);
    cr_assert(strstr(why, "TLS") != NULL, "%s", why);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", tls_port);
    cr_assert_neq(ping(url, why, sizeof(why)), 0, "plain TCP to the TLS port");
    cr_assert_neq(why[0], '\0');
}

static int ping_ok(void *ud)
{
    char why[128];
    return cm_redis_ping(ud, why, sizeof(why)) == 0;
}

static int ping_fails(void *ud)
{
    return !ping_ok(ud);
}

Test(redis_tls, reconnects_after_the_server_is_killed_and_started_again)
{
    char url[1024], q[256];
    snprintf(q, sizeof(q), "?ssl_ca_certs=%s/ca.pem", dir);
    struct cm_redis *r = cm_redis_new(tls_url(url, sizeof(url), "127.0.0.1", tls_port, q));
    cr_assert(it_wait_until(10000, ping_ok, r));
    it_kill_and_remove(&pid, NULL);
    cr_assert(it_wait_until(5000, ping_fails, r), "the loss is noticed");
    pid = start_tls_redis(plain_port, tls_port, "optional");
    cr_assert(it_wait_until(20000, ping_ok, r), "reconnected over TLS after the restart");
    const char *set[] = {"SET", "tls:after", "1"};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS);
    cm_redis_reply_free(rep);
    cm_redis_free(r);
}

Test(redis_tls, bad_urls)
{
    char missing[256];
    snprintf(missing, sizeof(missing), "rediss://127.0.0.1:6379?ssl_ca_certs=%s/nothing.pem", dir);
    char wrongkey[512];
    snprintf(wrongkey, sizeof(wrongkey),
             "rediss://127.0.0.1:6379?ssl_certfile=%s/client.pem&ssl_keyfile=%s/server.key", dir,
             dir);
    const char *bad[] = {"redis://127.0.0.1:6379?ssl_cert_reqs=none", /* TLS keys without TLS */
                         "redis://127.0.0.1:6379/0?ssl_ca_certs=/etc/ssl/certs/ca-certificates.crt",
                         "rediss://127.0.0.1:6379?ssl_cert_reqs=maybe",
                         "rediss://127.0.0.1:6379?ssl_cert_reqs=",
                         "rediss://127.0.0.1:6379?ssl_cert_reqs=none&ssl_cert_reqs=none",
                         "rediss://127.0.0.1:6379?ssl_keyfile=/tmp/k.pem",
                         "rediss://127.0.0.1:6379?ssl_verify=none",
                         "rediss://127.0.0.1:6379?sentinel_user=u&sentinel_password=p",
                         "rediss://127.0.0.1:6379?ssl_cert_reqs",
                         "rediss:/127.0.0.1:6379",
                         "redisss://127.0.0.1:6379",
                         "rediss-sentinel://127.0.0.1:26379",
                         missing,
                         wrongkey};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(cm_redis_new(bad[i]), "accepted %s", bad[i]);
    }
    const char *good[] = {"rediss://127.0.0.1:6379",
                          "rediss://127.0.0.1:6379/2?ssl_cert_reqs=required",
                          "rediss://:p%3Fw@127.0.0.1:6379/0?ssl_cert_reqs=none",
                          "rediss-sentinel://127.0.0.1:26379?ssl_cert_reqs=none#mymaster",
                          "rediss-sentinel://127.0.0.1:26379?sentinel_user=u&sentinel_password=p"
                          "&ssl_cert_reqs=none#mymaster"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cm_redis *r = cm_redis_new(good[i]);
        cr_assert_not_null(r, "refused %s", good[i]);
        cm_redis_free(r);
    }
}

static int cluster_plain[3];

/* Each node of the cluster says it is whole and knows the other two. */
static int cluster_ok(void *ud)
{
    (void)ud;
    for (int i = 0; i < 3; i++) {
        redisReply *rep = raw_at(cluster_plain[i], "CLUSTER INFO");
        int ok = rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_state:ok") &&
                 strstr(rep->str, "cluster_known_nodes:3");
        if (rep) {
            freeReplyObject(rep);
        }
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* A Redis Cluster of three masters over TLS (tls-cluster yes: the nodes speak TLS to each other,
 * and CLUSTER SLOTS names their TLS ports to a client that came over TLS): a URL naming one node
 * reaches all three, each command at the node of its key, pipelines too. */
Test(redis_tls, a_cluster_over_tls)
{
    int tlsp[3];
    char tp[3][16], nodedir[3][96];
    for (int i = 0; i < 3; i++) {
        cluster_plain[i] = it_free_port();
        tlsp[i] = it_free_port();
        snprintf(tp[i], sizeof(tp[i]), "%d", tlsp[i]);
        snprintf(nodedir[i], sizeof(nodedir[i]), "%s/node%d", dir, i);
        cr_assert_eq(mkdir(nodedir[i], 0700), 0);
        const char *extra[] = {
            TLS_ARGS(tp[i], "no"), "--tls-cluster", "yes", "--tls-replication", "yes",
            "--cluster-enabled",   "yes",           NULL};
        it_start_redis(cluster_plain[i], nodedir[i], extra);
    }
    int range[3][2] = {{0, 5460}, {5461, 10922}, {10923, 16383}};
    for (int i = 0; i < 3; i++) {
        redisReply *rep =
            raw_at(cluster_plain[i], "CLUSTER ADDSLOTSRANGE %d %d", range[i][0], range[i][1]);
        cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "ADDSLOTSRANGE on node %d", i);
        freeReplyObject(rep);
        if (i > 0) { /* (the cluster bus over TLS: the node's TLS port) */
            rep = raw_at(cluster_plain[0], "CLUSTER MEET 127.0.0.1 %d", tlsp[i]);
            cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "MEET node %d", i);
            freeReplyObject(rep);
        }
    }
    cr_assert(it_wait_until(30000, cluster_ok, NULL), "the cluster formed");

    char url[1024];
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d?ssl_ca_certs=%s", tlsp[0], ca);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    enum { KEYS = 60 };
    for (int k = 0; k < KEYS; k++) {
        char name[16], value[16];
        snprintf(name, sizeof(name), "tk%d", k);
        snprintf(value, sizeof(value), "v%d", k);
        const char *set[] = {"SET", name, value};
        struct cm_redis_reply *rep;
        cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0, "SET %s", name);
        cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS, "SET %s: %s", name,
                     cm_redis_reply_str(rep, NULL));
        cm_redis_reply_free(rep);
    }
    long long total = 0;
    for (int i = 0; i < 3; i++) {
        redisReply *rep = raw_at(cluster_plain[i], "DBSIZE");
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
        cr_assert_gt(rep->integer, 0, "node %d holds keys of its slots", i);
        total += rep->integer;
        freeReplyObject(rep);
    }
    cr_assert_eq(total, KEYS, "each key once, at its node");
    const char *gets[KEYS][2];
    char names[KEYS][16];
    const char *const *argvs[KEYS];
    int argcs[KEYS];
    for (int k = 0; k < KEYS; k++) {
        snprintf(names[k], sizeof(names[k]), "tk%d", k);
        gets[k][0] = "GET";
        gets[k][1] = names[k];
        argvs[k] = gets[k];
        argcs[k] = 2;
    }
    struct cm_redis_reply *out[KEYS];
    cr_assert_eq(cm_redis_pipeline(r, KEYS, argcs, argvs, out), 0);
    for (int k = 0; k < KEYS; k++) {
        char want[16];
        snprintf(want, sizeof(want), "v%d", k);
        cr_assert_str_eq(cm_redis_reply_str(out[k], NULL), want, "GET tk%d in a pipeline", k);
        cm_redis_reply_free(out[k]);
    }
    cm_redis_free(r);
}

/* Behind Redis Sentinel over TLS: a sentinel with a TLS port of its own, monitoring the master at
 * its TLS port (tls-replication yes). rediss-sentinel:// asks the sentinel over TLS where the
 * master is, checks its ROLE and writes to it, all over TLS. */
Test(redis_tls, sentinel_over_tls)
{
    int splain = it_free_port(), stls = it_free_port();
    char sdir[96], conf[160], log[160];
    snprintf(sdir, sizeof(sdir), "%s/sentinel", dir);
    cr_assert_eq(mkdir(sdir, 0700), 0);
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", sdir);
    snprintf(log, sizeof(log), "%s/sentinel.log", sdir);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\ntls-port %d\ntls-cert-file %s\n"
            "tls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\ntls-replication yes\n"
            "sentinel monitor tlsm 127.0.0.1 %d 1\nsentinel down-after-milliseconds tlsm 3000\n",
            splain, sdir, log, stls, cert, key, ca, tls_port);
    fclose(f);
    const char *argv[] = {"redis-server", conf, "--sentinel", NULL};
    it_spawn_redis(argv, splain, log);
    char url[1024];
    snprintf(url, sizeof(url), "rediss-sentinel://127.0.0.1:%d/0?ssl_ca_certs=%s#tlsm", stls, ca);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    cr_assert(it_wait_until(20000, ping_ok, r), "the master Sentinel names answers over TLS");
    const char *set[] = {"SET", "tls:sentinel", "through-sentinel"};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS);
    cm_redis_reply_free(rep);
    redisReply *plain = raw_at(plain_port, "GET tls:sentinel");
    cr_assert(plain && plain->type == REDIS_REPLY_STRING, "written to the master");
    cr_assert_str_eq(plain->str, "through-sentinel");
    freeReplyObject(plain);
    cm_redis_free(r);
}
