/* Integration test for common/redis against a Redis Cluster that fails over: a master serving
 * every slot and its replica (two redis-server processes started here). The client is given the
 * master's URL only; the master is killed (-9) and its replica takes its slots over (CLUSTER
 * FAILOVER TAKEOVER, as a cluster's vote would do). The dead master cannot answer MOVED, so the
 * client must learn the map again from the replica it learnt of: commands then reach the new
 * master, the data written before is there, and PING of every master succeeds again. A replica
 * that joined after the client learnt the map is learnt from the map asked for again when it has
 * aged, and followed the same way. */
#include "harness.h"

#include "cm/err.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int pids[2];
static int ports[2], buses[2];
static char dirs[2][64];

static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        it_kill_and_remove(&pids[i], dirs[i]);
    }
}

TestSuite(redis_failover, .fini = teardown, .timeout = 90);

/* One command on node n as it is (no redirection followed); the reply (freed by the caller), or
 * NULL when the node does not answer. */
static redisReply *raw(int n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = it_redis_vraw(ports[n], NULL, 0, fmt, ap);
    va_end(ap);
    return rep;
}

/* 1 when node n's reply to the command holds text. */
static int says(int n, const char *text, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = it_redis_vraw(ports[n], NULL, 0, fmt, ap);
    va_end(ap);
    int found = rep && rep->type != REDIS_REPLY_ERROR && rep->str && strstr(rep->str, text);
    freeReplyObject(rep);
    return found;
}

struct cond {
    int node;
    const char *text, *cmd;
};

static int holds(void *ud)
{
    const struct cond *c = ud;
    return says(c->node, c->text, c->cmd);
}

static void wait_for(int node, const char *cmd, const char *text)
{
    struct cond c = {node, text, cmd};
    cr_assert(it_wait_until(20000, holds, &c), "node %d: '%s' never held '%s'", node, cmd, text);
}

/* The node's own id (CLUSTER MYID). */
static void node_id(int n, char id[64])
{
    redisReply *rep = raw(n, "CLUSTER MYID");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "CLUSTER MYID of node %d", n);
    snprintf(id, 64, "%s", rep->str);
    freeReplyObject(rep);
}

static void start_node(int n)
{
    snprintf(dirs[n], sizeof(dirs[n]), "/tmp/it-redis-failover-XXXXXX");
    cr_assert_not_null(mkdtemp(dirs[n]));
    ports[n] = it_free_port();
    do {
        buses[n] = it_free_port();
    } while (buses[n] == ports[n]);
    char bus[16];
    snprintf(bus, sizeof(bus), "%d", buses[n]);
    const char *extra[] = {
        "--cluster-enabled", "yes", "--cluster-port", bus, "--cluster-config-file",
        "nodes.conf",        NULL};
    pids[n] = it_start_redis(ports[n], dirs[n], extra);
}

static int command(struct cm_redis *r, const char *a, const char *b, const char *c,
                   struct cm_redis_reply **rep)
{
    const char *argv[] = {a, b, c};
    return cm_redis_command(r, c ? 3 : 2, argv, NULL, rep);
}

struct reading {
    struct cm_redis *r;
    const char *key, *want;
};

static int reads(void *ud)
{
    const struct reading *g = ud;
    struct cm_redis_reply *rep = NULL;
    int ok = command(g->r, "GET", g->key, NULL, &rep) == 0 &&
             cm_redis_reply_type(rep) == CM_REDIS_STRING &&
             strcmp(cm_redis_reply_str(rep, NULL), g->want) == 0;
    cm_redis_reply_free(rep);
    return ok;
}

/* 1 when the master's CLUSTER SLOTS names a node besides itself (its replica). */
static int replica_listed(void *ud)
{
    (void)ud;
    redisReply *rep = raw(0, "CLUSTER SLOTS");
    int listed = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                 rep->element[0]->elements >= 4;
    freeReplyObject(rep);
    return listed;
}

/* Node 0, a master serving every slot. */
static void start_master(void)
{
    start_node(0);
    redisReply *rep = raw(0, "CLUSTER ADDSLOTSRANGE 0 16383");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "ADDSLOTSRANGE: %s", rep ? rep->str : "-");
    freeReplyObject(rep);
    wait_for(0, "CLUSTER INFO", "cluster_state:ok");
}

/* Node 1, node 0's replica, in sync with it and named in its map. */
static void add_replica(void)
{
    start_node(1);
    redisReply *rep = raw(1, "CLUSTER MEET 127.0.0.1 %d %d", ports[0], buses[0]);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "MEET: %s", rep ? rep->str : "-");
    freeReplyObject(rep);
    char master[64];
    node_id(0, master);
    wait_for(1, "CLUSTER NODES", master); /* the replica knows the master */
    rep = raw(1, "CLUSTER REPLICATE %s", master);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "REPLICATE: %s", rep ? rep->str : "-");
    freeReplyObject(rep);
    wait_for(1, "INFO replication", "master_link_status:up");
    /* written before the master goes: on the replica when it does */
    rep = raw(0, "SET before 1");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "SET: %s", rep ? rep->str : "-");
    freeReplyObject(rep);
    rep = raw(0, "WAIT 1 5000");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1, "WAIT");
    freeReplyObject(rep);
    /* a master lists a replica in its map once the replica's offset reached it by gossip */
    wait_for(0, "CLUSTER NODES", "slave");
    cr_assert(it_wait_until(20000, replica_listed, NULL), "the master's map names its replica");
}

/* The client r, given the master's URL: the master is killed (-9) and the replica takes its
 * slots over; r reads what was written before, writes to the new master and PINGs it. */
static void fail_over(struct cm_redis *r)
{
    it_kill_and_remove(&pids[0], NULL);
    char why[256];
    cr_assert_neq(cm_redis_ping(r, why, sizeof(why)), 0, "the master is gone");
    redisReply *rep = raw(1, "CLUSTER FAILOVER TAKEOVER");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "TAKEOVER: %s", rep ? rep->str : "-");
    freeReplyObject(rep);
    wait_for(1, "INFO replication", "role:master");

    struct reading g = {r, "before", "1"};
    cr_assert(it_wait_until(15000, reads, &g),
              "the key written before the failover is read from the new master");
    struct cm_redis_reply *out = NULL;
    cr_assert_eq(command(r, "SET", "after", "2", &out), 0);
    cr_assert_eq(cm_redis_reply_type(out), CM_REDIS_STATUS, "%s", cm_redis_reply_str(out, NULL));
    cm_redis_reply_free(out);
    rep = raw(1, "GET after");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "2") == 0,
              "the write went to the new master");
    freeReplyObject(rep);
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "every master answers: %s", why);
}

static struct cm_redis *client(void)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ports[0]);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r);
    return r;
}

Test(redis_failover, the_replica_that_took_the_slots_over_is_found)
{
    start_master();
    add_replica();
    struct cm_redis *r = client();
    struct reading g = {r, "before", "1"};
    cr_assert(reads(&g), "read through the master");
    fail_over(r);
    cm_redis_free(r);
}

struct ageing {
    struct cm_redis *r;
    int64_t until;
};

/* Reads through the client until the time has come (a command is what asks for the map). */
static int aged(void *ud)
{
    struct ageing *a = ud;
    struct reading g = {a->r, "before", "1"};
    cr_assert(reads(&g), "read through the master");
    return cm_monotonic_ms() >= a->until;
}

/* The client learnt the map while the master had no replica: the replica that joined after is
 * known from the map's next periodic refresh, so a failover is followed too. */
Test(redis_failover, a_replica_that_joined_later_is_learnt_from_the_map_asked_again)
{
    start_master();
    struct cm_redis *r = client();
    cm_redis_set_map_age(r, 300);
    struct cm_redis_reply *out = NULL;
    cr_assert_eq(command(r, "SET", "early", "0", &out), 0); /* the map, without the replica */
    cr_assert_eq(cm_redis_reply_type(out), CM_REDIS_STATUS, "%s", cm_redis_reply_str(out, NULL));
    cm_redis_reply_free(out);
    add_replica();
    struct ageing a = {r, cm_monotonic_ms() + 1500}; /* the map older than its age, and then some */
    cr_assert(it_wait_until(5000, aged, &a));
    fail_over(r);
    cm_redis_free(r);
}
