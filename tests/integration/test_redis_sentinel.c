/* Integration test for common/redis with Redis Sentinel: a master and its replica (with a
 * password) and a sentinel (without one), three redis-server processes started here. The client
 * is given the sentinels only (a first that does not answer, then the real one) and the master's
 * name: it writes to the master Sentinel names; when the master is killed (-9) and Sentinel
 * promotes the replica, the client follows to it; when the old master is back (a replica now)
 * and Sentinel hands the master's role back to it in a graceful failover (the demoted node still
 * answering), the client follows again. */
#include "harness.h"

#include "cm/err.h"
#include "cm/redis.h"

#include <criterion/criterion.h>
#include <hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PASSWORD "s3cret/pw"
#define NAME "events-state"

enum { MASTER, REPLICA, SENTINEL, NPROC };

static int pids[NPROC];
static int ports[NPROC];
static char dirs[NPROC][48];

static void teardown(void)
{
    for (int i = 0; i < NPROC; i++) {
        it_kill_and_remove(&pids[i], dirs[i]);
    }
}

TestSuite(redis_sentinel, .fini = teardown, .timeout = 120);

/* One command on node n as it is (the password and database 1 given first to a data node); the
 * reply (freed by the caller), or NULL when the node does not answer. */
static redisReply *raw(int n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep =
        it_redis_vraw(ports[n], n == SENTINEL ? NULL : PASSWORD, n == SENTINEL ? 0 : 1, fmt, ap);
    va_end(ap);
    return rep;
}

/* The data node n: started, with the password; a replica of the master when replica_of >= 0. */
static void start_data(int n, int replica_of)
{
    if (!dirs[n][0]) {
        snprintf(dirs[n], sizeof(dirs[n]), "/tmp/it-redis-sentinel-XXXXXX");
        cr_assert_not_null(mkdtemp(dirs[n]));
        ports[n] = it_free_port();
    }
    char of[16];
    snprintf(of, sizeof(of), "%d", replica_of >= 0 ? ports[replica_of] : 0);
    const char *extra[] = {
        "--requirepass", PASSWORD, "--masterauth", PASSWORD, "--replicaof", "127.0.0.1", of, NULL};
    if (replica_of < 0) {
        extra[4] = NULL;
    }
    pids[n] = it_start_redis(ports[n], dirs[n], extra);
}

struct role {
    int node;
    const char *want; /* "master" or "slave" */
};

/* 1 when the node's ROLE is the one wanted (and a replica's link to its master is up). */
static int has_role(void *ud)
{
    const struct role *w = ud;
    redisReply *rep = raw(w->node, "INFO replication");
    char line[64];
    snprintf(line, sizeof(line), "role:%s", w->want);
    int ok = rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, line) &&
             (strcmp(w->want, "master") == 0 || strstr(rep->str, "master_link_status:up"));
    freeReplyObject(rep);
    return ok;
}

/* The last lines of a node's log, to stderr: what a failed wait leaves to read. */
static void dump_log(const char *dir, const char *name)
{
    char path[128], line[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "(no %s)\n", path);
        return;
    }
    static char tail[40][512];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        snprintf(tail[n++ % 40], sizeof(tail[0]), "%s", line);
    }
    fclose(f);
    fprintf(stderr, "--- the last lines of %s\n", path);
    for (size_t i = n > 40 ? n - 40 : 0; i < n; i++) {
        fputs(tail[i % 40], stderr);
    }
}

static void wait_role(int node, const char *want)
{
    struct role w = {node, want};
    if (!it_wait_until(30000, has_role, &w)) {
        redisReply *rep = raw(node, "INFO replication");
        fprintf(stderr, "--- node %d (port %d): %s\n", node, ports[node],
                rep && rep->type == REDIS_REPLY_STRING ? rep->str : "no answer");
        freeReplyObject(rep);
        for (int i = 0; i < NPROC; i++) {
            dump_log(dirs[i], i == SENTINEL ? "sentinel.log" : "redis.log");
        }
        cr_assert_fail("node %d never became %s", node, want);
    }
}

/* 1 when the sentinel names node n as the master. */
static int names(void *ud)
{
    int n = *(const int *)ud;
    redisReply *rep = raw(SENTINEL, "SENTINEL get-master-addr-by-name %s", NAME);
    char port[16];
    snprintf(port, sizeof(port), "%d", ports[n]);
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
             strcmp(rep->element[1]->str, port) == 0;
    freeReplyObject(rep);
    return ok;
}

/* 1 when the sentinel knows a replica of the master (it can fail over). */
static int knows_replica(void *ud)
{
    (void)ud;
    redisReply *rep = raw(SENTINEL, "SENTINEL replicas %s", NAME);
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1;
    freeReplyObject(rep);
    return ok;
}

struct writing {
    struct cm_redis *r;
    const char *key, *value;
};

/* 1 when the client's SET succeeds (a READONLY or unreachable node is no success). */
static int writes(void *ud)
{
    const struct writing *w = ud;
    const char *argv[] = {"SET", w->key, w->value};
    struct cm_redis_reply *rep = NULL;
    int ok = cm_redis_command(w->r, 3, argv, NULL, &rep) == 0 &&
             cm_redis_reply_type(rep) == CM_REDIS_STATUS;
    cm_redis_reply_free(rep);
    return ok;
}

/* The client's GET of key is value. */
static void reads(struct cm_redis *r, const char *key, const char *value)
{
    const char *argv[] = {"GET", key};
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, 2, argv, NULL, &rep), 0, "GET %s", key);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STRING, "GET %s: %s", key,
                 cm_redis_reply_str(rep, NULL));
    cr_assert_str_eq(cm_redis_reply_str(rep, NULL), value);
    cm_redis_reply_free(rep);
}

/* Node n holds key = value. */
static void holds(int n, const char *key, const char *value)
{
    redisReply *rep = raw(n, "GET %s", key);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, value) == 0,
              "node %d: %s is not %s", n, key, value);
    freeReplyObject(rep);
}

/* A pipeline through the client: a command without a key (ECHO, which a sentinel does not
 * know) and a MULTI block go to the master. */
static void pipeline_to_the_master(struct cm_redis *r)
{
    const char *echo[] = {"ECHO", "hello"};
    const char *multi[] = {"MULTI"}, *set[] = {"SET", "p", "1"}, *exec[] = {"EXEC"};
    const char *const *argvs[] = {echo, multi, set, exec};
    int argcs[] = {2, 1, 3, 1};
    struct cm_redis_reply *out[4];
    cr_assert_eq(cm_redis_pipeline(r, 4, argcs, argvs, out), 0);
    cr_assert_eq(cm_redis_reply_type(out[0]), CM_REDIS_STRING, "ECHO: %s",
                 cm_redis_reply_str(out[0], NULL));
    cr_assert_str_eq(cm_redis_reply_str(out[0], NULL), "hello");
    cr_assert_eq(cm_redis_reply_type(out[3]), CM_REDIS_ARRAY, "EXEC: %s",
                 cm_redis_reply_str(out[3], NULL));
    for (int i = 0; i < 4; i++) {
        cm_redis_reply_free(out[i]);
    }
    holds(MASTER, "p", "1");
}

Test(redis_sentinel, the_master_sentinel_names_is_followed_through_failovers)
{
    start_data(MASTER, -1);
    start_data(REPLICA, MASTER);
    wait_role(REPLICA, "slave");
    snprintf(dirs[SENTINEL], sizeof(dirs[SENTINEL]), "/tmp/it-redis-sentinel-XXXXXX");
    cr_assert_not_null(mkdtemp(dirs[SENTINEL]));
    ports[SENTINEL] = it_free_port();
    pids[SENTINEL] =
        it_start_sentinel(ports[SENTINEL], dirs[SENTINEL], NAME, ports[MASTER], PASSWORD, NULL);
    cr_assert(it_wait_until(30000, knows_replica, NULL), "the sentinel never saw the replica");

    /* the sentinels: one where nothing listens, then the real one; the password percent-encoded */
    char url[256];
    snprintf(url, sizeof(url), "redis-sentinel://:s3cret%%2Fpw@127.0.0.1:1,127.0.0.1:%d/1#%s",
             ports[SENTINEL], NAME);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    struct writing w = {r, "k", "1"};
    cr_assert(writes(&w), "SET through the master Sentinel names");
    holds(MASTER, "k", "1");
    pipeline_to_the_master(r);
    char why[256];
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);

    /* the master dies: Sentinel promotes the replica, the client follows */
    it_kill_and_remove(&pids[MASTER], NULL);
    int replica = REPLICA;
    cr_assert(it_wait_until(40000, names, &replica), "Sentinel never promoted the replica");
    w.value = "2";
    cr_assert(it_wait_until(15000, writes, &w), "no write reached the promoted replica");
    holds(REPLICA, "k", "2");
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);

    /* the old master comes back (Sentinel makes it the new master's replica); a graceful
     * failover gives it the master's role back while the demoted node still answers */
    start_data(MASTER, REPLICA);
    wait_role(MASTER, "slave");
    redisReply *rep = raw(SENTINEL, "SENTINEL FAILOVER %s", NAME);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "SENTINEL FAILOVER: %s",
              rep ? rep->str : "no answer");
    freeReplyObject(rep);
    int master = MASTER;
    cr_assert(it_wait_until(40000, names, &master), "Sentinel never handed the role back");
    wait_role(MASTER, "master");
    wait_role(REPLICA, "slave"); /* (until then both take writes, as Sentinel has it) */
    w.value = "3";
    cr_assert(it_wait_until(15000, writes, &w), "no write reached the master again");
    holds(MASTER, "k", "3");
    reads(r, "k", "3");
    cm_redis_free(r);
}

Test(redis_sentinel, a_master_name_no_sentinel_knows_is_an_error_that_says_so)
{
    snprintf(dirs[SENTINEL], sizeof(dirs[SENTINEL]), "/tmp/it-redis-sentinel-XXXXXX");
    cr_assert_not_null(mkdtemp(dirs[SENTINEL]));
    ports[SENTINEL] = it_free_port();
    start_data(MASTER, -1);
    pids[SENTINEL] =
        it_start_sentinel(ports[SENTINEL], dirs[SENTINEL], NAME, ports[MASTER], PASSWORD, NULL);
    char url[256];
    snprintf(url, sizeof(url), "redis-sentinel://:%s@127.0.0.1:%d#other", PASSWORD,
             ports[SENTINEL]);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    char why[256];
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0);
    cr_assert(strstr(why, "does not monitor a master named 'other'") != NULL, "%s", why);
    cr_assert(strstr(why, PASSWORD) == NULL, "%s", why);
    const char *argv[] = {"GET", "k"};
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, 2, argv, NULL, &rep), CM_E_UNAVAIL, "no command sent");
    cm_redis_free(r);

    /* the master's name, percent-encoded; the data node's password wrong: AUTH fails there */
    snprintf(url, sizeof(url), "redis-sentinel://:wrong@127.0.0.1:%d/0#events%%2Dstate",
             ports[SENTINEL]);
    r = cm_redis_new(url);
    cr_assert_not_null(r);
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0);
    cr_assert(strstr(why, "the master of 'events-state', not reached:") != NULL, "%s", why);
    cr_assert(strstr(why, "AUTH failed") != NULL, "%s", why);
    cm_redis_free(r);
}

/* A sentinel with a password of its own (not the data's): the URL's query gives it
 * (?sentinel_password=, percent-decoded), the data's password still goes to the data node, and
 * without it the sentinel refuses and the error says where; a query with a key unknown, twice or
 * without a password, or on a redis:// URL, is an invalid URL. */
Test(redis_sentinel, a_sentinel_with_its_own_password_is_given_it_in_the_query)
{
    snprintf(dirs[SENTINEL], sizeof(dirs[SENTINEL]), "/tmp/it-redis-sentinel-XXXXXX");
    cr_assert_not_null(mkdtemp(dirs[SENTINEL]));
    ports[SENTINEL] = it_free_port();
    start_data(MASTER, -1);
    pids[SENTINEL] = it_start_sentinel(ports[SENTINEL], dirs[SENTINEL], NAME, ports[MASTER],
                                       PASSWORD, "sentinel@pw");
    char url[256], why[256];
    snprintf(url, sizeof(url), "redis-sentinel://:%s@127.0.0.1:%d#%s", PASSWORD, ports[SENTINEL],
             NAME);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0, "the sentinel took the data's password");
    cr_assert(strstr(why, "AUTH") != NULL, "%s", why);
    cm_redis_free(r);

    snprintf(url, sizeof(url),
             "redis-sentinel://:%s@127.0.0.1:%d/1?sentinel_password=sentinel%%40pw#%s", PASSWORD,
             ports[SENTINEL], NAME);
    r = cm_redis_new(url);
    cr_assert_not_null(r);
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);
    const char *set[] = {"SET", "k", "own"};
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0);
    cm_redis_reply_free(rep);
    cm_redis_free(r);
    redisReply *got = raw(MASTER, "GET k");
    cr_assert_not_null(got);
    cr_assert_str_eq(got->str, "own", "written to the master, database 1");
    freeReplyObject(got);

    const char *bad[] = {"?sentinel_pasword=x", "?sentinel_password=", "?sentinel_user=u",
                         "?sentinel_password=a&sentinel_password=b", "?sentinel_password"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(url, sizeof(url), "redis-sentinel://:%s@127.0.0.1:%d%s#%s", PASSWORD,
                 ports[SENTINEL], bad[i], NAME);
        cr_assert_null(cm_redis_new(url), "%s accepted", bad[i]);
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d?sentinel_password=x", ports[MASTER]);
    cr_assert_null(cm_redis_new(url), "a query on a redis:// URL accepted");
}
