/* Integration tests for common/redis against a real redis-server: commands and typed replies,
 * binary-safe arguments, readiness, URL validation (credentials percent-decoded, IPv6 hosts,
 * several hosts only for a cluster), an unreachable server, and one that accepts
 * connections but never answers (one timeout, then calls fail at once until the backoff passes),
 * and Lua scripts run by their SHA-1 and loaded again after Redis forgot them. */
#include "harness.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/redis.h"
#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

Test(redis, commands_and_replies)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_URL"));
    cr_assert_not_null(r);
    char key[96];
    it_unique(key, sizeof(key), "{it}:k");
    const char *set[] = {"SET", key, "a\0b"};
    size_t lens[] = {3, strlen(key), 3};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 3, set, lens, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS);
    cm_redis_reply_free(rep);
    const char *get[] = {"GET", key};
    cr_assert_eq(cm_redis_command(r, 2, get, NULL, &rep), 0);
    size_t len;
    const char *v = cm_redis_reply_str(rep, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(v, "a\0b", 3), 0);
    cm_redis_reply_free(rep);
    const char *incr[] = {"INCRBY", key, "1"};
    cr_assert_eq(cm_redis_command(r, 3, incr, NULL, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_ERROR, "not an integer: an error reply, rc 0");
    cm_redis_reply_free(rep);
    const char *rpush[] = {"RPUSH", "{it}:list", "x", "y"};
    cr_assert_eq(cm_redis_command(r, 4, rpush, NULL, &rep), 0);
    cm_redis_reply_free(rep);
    const char *lrange[] = {"LRANGE", "{it}:list", "0", "-1"};
    cr_assert_eq(cm_redis_command(r, 4, lrange, NULL, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_ARRAY);
    cr_assert_geq(cm_redis_reply_len(rep), 2);
    cr_assert_str_eq(cm_redis_reply_str(cm_redis_reply_elem(rep, 0), NULL), "x");
    cr_assert_null(cm_redis_reply_elem(rep, 1000));
    cm_redis_reply_free(rep);
    char why[128];
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);
    cm_redis_free(r);
}

Test(redis, bad_urls)
{
    const char *bad[] = {"",
                         "http://127.0.0.1:6379",
                         "redis://127.0.0.1:notaport",
                         "redis://127.0.0.1:99999",
                         "redis://127.0.0.1:0",
                         "redis://127.0.0.1:-1",
                         "redis://127.0.0.1: 6379",
                         "redis://127.0.0.1:+6379",
                         "redis://127.0.0.1:",
                         "redis://127.0.0.1:6379/x",
                         "redis://127.0.0.1:6379/-1",
                         "redis://127.0.0.1:6379/ 1",
                         "redis://127.0.0.1:6379/+1",
                         "redis://127.0.0.1:6379/1?x=y",
                         "redis://127.0.0.1:6379/99999999999999999999",
                         "redis://[::1",
                         "redis://[]:6379",
                         "redis://[::1]x",
                         "redis://[::1]:",
                         "redis://[::1]:0",
                         "redis://[::1]6379",
                         "redis://127.0.0.1:1,/0",
                         "redis://,127.0.0.1:1",
                         "redis://127.0.0.1:1,,127.0.0.1:2",
                         "redis://127.0.0.1:1,127.0.0.1:1",
                         "redis://127.0.0.1:1,127.0.0.1:x",
                         "redis://127.0.0.1:1,[::1",
                         "redis-sentinel://127.0.0.1:26379",
                         "redis-sentinel://127.0.0.1:26379#",
                         "redis-sentinel://127.0.0.1:26379/0#a name",
                         "redis-sentinel://127.0.0.1:x#m",
                         "redis-sentinel://127.0.0.1:1,,127.0.0.1:2#m",
                         "redis-sentinel://127.0.0.1:1/x#m",
                         "redis+sentinel://127.0.0.1:26379#m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(cm_redis_new(bad[i]), "accepted %s", bad[i]);
    }
    cr_assert_null(cm_redis_new(NULL));
}

Test(redis, unreachable_server)
{
    struct cm_redis *r = cm_redis_new("redis://127.0.0.1:1/0");
    cr_assert_not_null(r, "a valid URL gives an object even when the server is down");
    char why[256];
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), CM_E_UNAVAIL);
    cr_assert(strstr(why, "127.0.0.1:1") != NULL, "%s", why);
    const char *argv[] = {"PING"};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 1, argv, NULL, &rep), CM_E_UNAVAIL);
    cr_assert_null(rep);
    cm_redis_free(r);
}

/* A password as RFC 3986 writes it in a URL (p%2Fw%40...) is decoded; one written as it is
 * works too unless it holds a percent-escape; the user name is decoded as well. */
Test(redis, passwords_in_urls_are_percent_decoded, .timeout = 60)
{
    int port = it_free_port();
    const char *extra[] = {"--requirepass", "p/w@:%x+", NULL};
    pid_t pid = it_start_redis(port, NULL, extra);
    static const struct {
        const char *userinfo; /* redis://<userinfo>@127.0.0.1:<port>/0 */
        int ok;
    } cases[] = {
        {":p%2Fw%40%3A%25x%2B", 1},
        {":p%2fw%40:%25x+", 1},
        {":p/w@:%x+", 1},
        {"default:p/w@:%x+", 1},
        {"%64efault:p%2Fw%40%3A%25x%2B", 1},
        {":p%2Fw", 0},
        {":p%252Fw%40%3A%25x%2B", 0}, /* decoded once, not twice */
        {"nobody:p/w@:%x+", 0},
    };
    char url[160], why[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(url, sizeof(url), "redis://%s@127.0.0.1:%d/0", cases[i].userinfo, port);
        struct cm_redis *r = cm_redis_new(url);
        cr_assert_not_null(r, "%s", cases[i].userinfo);
        why[0] = '\0';
        int rc = cm_redis_ping(r, why, sizeof(why));
        cr_assert_eq(rc == 0, cases[i].ok, "%s: %s", cases[i].userinfo, rc ? why : "answered");
        cr_assert_null(strstr(why, "p/w"), "no password in the error: %s", why);
        cm_redis_free(r);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* An IPv6 address in brackets, with and without a port (a server on ::1). */
Test(redis, ipv6_hosts_in_brackets, .timeout = 60)
{
    int port = it_free_port();
    const char *extra[] = {"--bind", "127.0.0.1", "::1", NULL};
    pid_t pid = it_start_redis(port, NULL, extra);
    char url[96], why[256];
    snprintf(url, sizeof(url), "redis://[::1]:%d/0", port);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r, "%s", url);
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s: %s", url, why);
    cm_redis_free(r);
    r = cm_redis_new("redis://[::1]:1/0"); /* where nothing listens: the error names it */
    cr_assert_not_null(r);
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0);
    cr_assert(strstr(why, "connect ::1:1:") != NULL, "%s", why);
    cm_redis_free(r);
    r = cm_redis_new("redis://[::1]/0"); /* (port 6379) */
    cr_assert_not_null(r);
    cm_redis_free(r);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Several hosts name a cluster's seed nodes: a server that is not a cluster among them is an
 * error that says so, not a server commands quietly go to. */
Test(redis, several_hosts_are_for_a_cluster_only)
{
    const char *url = it_env("REDIS_URL"); /* redis://127.0.0.1:PORT/0 */
    char seeds[256], why[256];
    snprintf(seeds, sizeof(seeds), "redis://127.0.0.1:1,%s", url + strlen("redis://"));
    struct cm_redis *r = cm_redis_new(seeds);
    cr_assert_not_null(r, "%s", seeds);
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", seeds);
    cr_assert(strstr(why, "is not a Redis Cluster node") != NULL, "%s", why);
    const char *argv[] = {"GET", "seeds"};
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, 2, argv, NULL, &rep), CM_E_UNAVAIL);
    cr_assert_null(rep);
    cm_redis_free(r);
}

/* A server that takes connections and never answers (stopped with SIGSTOP, say): the first call
 * waits for the 2 s timeout; the calls right after it fail at once instead of waiting again. */
Test(redis, a_server_that_does_not_answer_costs_one_timeout, .timeout = 30)
{
    int port;
    int fd = it_silent_listener(&port); /* the kernel completes connections; nobody reads them */
    char url[64], why[256];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    int64_t t0 = cm_monotonic_ms();
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), CM_E_UNAVAIL);
    int64_t waited = cm_monotonic_ms() - t0;
    cr_assert_geq(waited, 1500, "the first call waits for the timeout (%lld ms)",
                  (long long)waited);
    char expect[64];
    snprintf(expect, sizeof(expect), "127.0.0.1:%d: no answer within 2000 ms", port);
    cr_assert_str_eq(why, expect, "a timeout says so, not EAGAIN's text");
    for (int i = 0; i < 5; i++) {
        t0 = cm_monotonic_ms();
        cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), CM_E_UNAVAIL);
        waited = cm_monotonic_ms() - t0;
        cr_assert_lt(waited, 1000, "call %d after the timeout waited %lld ms", i,
                     (long long)waited);
    }
    cr_assert_neq(why[0], '\0', "the error of the last attempt is kept");
    cm_redis_free(r);
    close(fd);
}

Test(redis, wrong_password)
{
    const char *url = it_env("REDIS_URL"); /* redis://127.0.0.1:PORT/0 */
    char bad[256];
    snprintf(bad, sizeof(bad), "redis://:nope@%s", url + strlen("redis://"));
    struct cm_redis *r = cm_redis_new(bad);
    cr_assert_not_null(r);
    char why[256];
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0,
                  "AUTH without a configured password fails");
    cr_assert(strstr(why, "AUTH") != NULL, "%s", why);
    cm_redis_free(r);
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

Test(redis, reconnects_after_a_restart, .timeout = 60)
{
    int port = it_free_port(); /* (no outgoing connection takes it between the two starts) */
    pid_t pid = it_start_redis(port, NULL, NULL);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert(it_wait_until(10000, ping_ok, r), "first server answers");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    cr_assert(it_wait_until(5000, ping_fails, r), "the loss is noticed");
    pid = it_start_redis(port, NULL, NULL);
    cr_assert(it_wait_until(20000, ping_ok, r), "reconnected after the restart");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    cm_redis_free(r);
}

Test(redis, pipelines_run_in_order_in_one_round_trip)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_URL"));
    char key[96];
    it_unique(key, sizeof(key), "pipe");
    const char *set[] = {"SET", key, "one"};
    const char *incr[] = {"INCR", key};
    const char *get[] = {"GET", key};
    const char *del[] = {"DEL", key};
    const char *const *argvs[] = {set, incr, get, del};
    const int argcs[] = {3, 2, 2, 2};
    struct cm_redis_reply *out[4];
    cr_assert_eq(cm_redis_pipeline(r, 4, argcs, argvs, out), 0);
    cr_assert_eq(cm_redis_reply_type(out[0]), CM_REDIS_STATUS);
    cr_assert_eq(cm_redis_reply_type(out[1]), CM_REDIS_ERROR, "INCR of a non-number is an error");
    cr_assert_str_eq(cm_redis_reply_str(out[2], NULL), "one", "replies stay in command order");
    cr_assert_eq(cm_redis_reply_integer(out[3]), 1);
    for (int i = 0; i < 4; i++) {
        cm_redis_reply_free(out[i]);
    }
    cr_assert_eq(cm_redis_pipeline(r, 0, NULL, NULL, out), 0, "an empty pipeline");

    /* a long pipeline, written out in chunks as it is built: 2,000 INCRs of one counter, each
     * reply the count so far, so the replies came in order and none was lost */
    enum { LONG = 2000 };
    const char *incr_n[] = {"INCR", key};
    const char *const **many = cm_xcalloc(LONG, sizeof(*many));
    int *many_argc = cm_xcalloc(LONG, sizeof(*many_argc));
    struct cm_redis_reply **replies = cm_xcalloc(LONG, sizeof(*replies));
    for (int i = 0; i < LONG; i++) {
        many[i] = incr_n;
        many_argc[i] = 2;
    }
    cr_assert_eq(cm_redis_pipeline(r, LONG, many_argc, many, replies), 0);
    for (int i = 0; i < LONG; i++) {
        cr_assert_eq(cm_redis_reply_integer(replies[i]), i + 1);
        cm_redis_reply_free(replies[i]);
    }
    const char *del_again[] = {"DEL", key};
    cr_assert_eq(
        cm_redis_pipeline(r, 1, (const int[]){2}, (const char *const *const[]){del_again}, out), 0);
    cm_redis_reply_free(out[0]);
    free(many);
    free(many_argc);
    free(replies);
    cm_redis_free(r);

    struct cm_redis *down = cm_redis_new("redis://127.0.0.1:1");
    cr_assert_eq(cm_redis_pipeline(down, 2, argcs, argvs, out), CM_E_UNAVAIL);
    cr_assert_null(out[0]);
    cr_assert_null(out[1]);
    cm_redis_free(down);
}

/* A script is named by the SHA-1 Redis gives it, run with its keys and binary arguments, loaded
 * the first time and again after Redis forgot its scripts (SCRIPT FLUSH, as a restart does); an
 * error the script raises comes back as an error reply. */
Test(redis, scripts_run_by_their_sha_and_are_loaded_again)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_URL"));
    cr_assert_not_null(r);
    char key[96];
    it_unique(key, sizeof(key), "{it}:script");
    static const char echo[] = "return {KEYS[1], ARGV[1], string.len(ARGV[2])} -- it_echo";
    struct cm_redis_script sc;
    cm_redis_script_init(&sc, echo);
    cr_assert_eq(strlen(sc.sha), 40);
    const char *flush[] = {"SCRIPT", "FLUSH"};
    struct cm_redis_reply *rep = NULL;
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(cm_redis_command(r, 2, flush, NULL, &rep), 0);
        cm_redis_reply_free(rep);
        const char *argv[] = {key, "one", "a\0b"};
        size_t lens[] = {strlen(key), 3, 3};
        cr_assert_eq(cm_redis_eval(r, &sc, 1, 3, argv, lens, &rep), 0, "round %d", round);
        cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_ARRAY);
        cr_assert_eq(cm_redis_reply_len(rep), 3);
        cr_assert_str_eq(cm_redis_reply_str(cm_redis_reply_elem(rep, 0), NULL), key);
        cr_assert_str_eq(cm_redis_reply_str(cm_redis_reply_elem(rep, 1), NULL), "one");
        cr_assert_eq(cm_redis_reply_integer(cm_redis_reply_elem(rep, 2)), 3, "binary-safe");
        cm_redis_reply_free(rep);
        const char *exists[] = {"SCRIPT", "EXISTS", sc.sha};
        cr_assert_eq(cm_redis_command(r, 3, exists, NULL, &rep), 0);
        cr_assert_eq(cm_redis_reply_integer(cm_redis_reply_elem(rep, 0)), 1,
                     "loaded under the name computed here");
        cm_redis_reply_free(rep);
    }
    struct cm_redis_script bad;
    cm_redis_script_init(&bad, "return redis.error_reply('NOPE ' .. ARGV[1]) -- it_bad");
    const char *argv[] = {key, "x"};
    cr_assert_eq(cm_redis_eval(r, &bad, 1, 2, argv, NULL, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_ERROR);
    cr_assert_str_eq(cm_redis_reply_str(rep, NULL), "NOPE x");
    cm_redis_reply_free(rep);
    cm_redis_free(r);
}
