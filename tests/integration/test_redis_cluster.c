/* Integration tests for common/redis against a real Redis Cluster of three redis-server nodes
 * (tests/integration/run.sh starts it): the URL names one node, and every command reaches the
 * node that serves its key; pipelines with MULTI ... EXEC blocks of several slots; a script
 * loaded once runs on every node; SCAN sees every node; a slot moved to another node (MOVED) and
 * one migrating (ASK) are followed; of several seed nodes, the first that answers gives the map.
 * Also the key slots of the cluster specification's examples. */
#include "harness.h"

#include "cm/err.h"
#include "cm/redis.h"

#include <criterion/criterion.h>
#include <hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The cluster's node ports (REDIS_CLUSTER_PORTS) into ports; their count. */
static size_t node_ports(int ports[3])
{
    const char *list = it_env("REDIS_CLUSTER_PORTS");
    size_t n = 0;
    char *end;
    for (const char *p = list; n < 3 && *p; p = end) {
        ports[n++] = (int)strtol(p, &end, 10);
        if (end == p) {
            break;
        }
    }
    cr_assert_eq(n, 3, "REDIS_CLUSTER_PORTS: '%s'", list);
    return n;
}

/* One command on the node at port as it is (no redirection followed): the reply (freed by the
 * caller). */
static redisReply *raw(int port, const char *fmt, ...)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err, "connect %d", port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(rep, "port %d: %s", port, c->errstr);
    redisFree(c);
    return rep;
}

/* The port of the node serving key, from the nodes' own answers (ours, not the client's). */
static int owner(const int ports[3], const char *key)
{
    int found = 0;
    for (int i = 0; i < 3; i++) {
        redisReply *rep = raw(ports[i], "EXISTS %s", key);
        if (rep->type == REDIS_REPLY_INTEGER) {
            cr_assert_eq(found, 0, "%s: two nodes serve it", key);
            found = ports[i];
        }
        freeReplyObject(rep);
    }
    cr_assert_neq(found, 0, "%s: no node serves it", key);
    return found;
}

Test(redis_cluster, key_slots_are_the_specification_s)
{
    cr_assert_eq(cm_redis_key_slot("123456789", 9), 0x31C3 & 16383);
    cr_assert_eq(cm_redis_key_slot("foo", 3), 12182);
    cr_assert_eq(cm_redis_key_slot("{user1000}.following", 20),
                 cm_redis_key_slot("{user1000}.followers", 20), "one hash tag, one slot");
    cr_assert_eq(cm_redis_key_slot("{user1000}.following", 20), cm_redis_key_slot("user1000", 8));
    cr_assert_eq(cm_redis_key_slot("foo{}{bar}", 10), cm_redis_key_slot("foo{}{bar}", 10));
    cr_assert_neq(cm_redis_key_slot("foo{}{bar}", 10), cm_redis_key_slot("bar", 3),
                  "an empty tag: the whole key");
    cr_assert_eq(cm_redis_key_slot("foo{{bar}}zap", 13), cm_redis_key_slot("{bar", 4));
    cr_assert_eq(cm_redis_key_slot("foo{bar}{zap}", 13), cm_redis_key_slot("bar", 3));
    cr_assert_eq(cm_redis_key_slot("{processor:p:3}:v1", 18),
                 cm_redis_key_slot("processor:p:3", 13));
}

Test(redis_cluster, each_command_reaches_the_node_of_its_key)
{
    int ports[3];
    node_ports(ports);
    struct cm_redis *r = cm_redis_new(it_env("REDIS_CLUSTER_URL"));
    cr_assert_not_null(r);
    int on[3] = {0, 0, 0};
    for (int i = 0; i < 120; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "cl:%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        const char *set[] = {"SET", key, value};
        struct cm_redis_reply *rep;
        cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0);
        cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS, "%s: %s", key,
                     cm_redis_reply_str(rep, NULL));
        cm_redis_reply_free(rep);
        int port = owner(ports, key);
        for (int n = 0; n < 3; n++) {
            on[n] += ports[n] == port;
        }
        const char *get[] = {"GET", key};
        cr_assert_eq(cm_redis_command(r, 2, get, NULL, &rep), 0);
        cr_assert_str_eq(cm_redis_reply_str(rep, NULL), value);
        cm_redis_reply_free(rep);
    }
    for (int n = 0; n < 3; n++) {
        cr_assert_gt(on[n], 10, "node %d holds %d of the keys", ports[n], on[n]);
    }
    char why[256];
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);
    cm_redis_free(r);
}

/* Seed nodes: the first does not answer, the second gives the map; commands and PING of every
 * node work as with one node named. */
Test(redis_cluster, the_first_seed_node_that_answers_gives_the_map)
{
    int ports[3];
    node_ports(ports);
    char url[160], why[256];
    snprintf(url, sizeof(url), "redis://127.0.0.1:1,127.0.0.1:%d,127.0.0.1:%d/0", ports[1],
             ports[2]);
    struct cm_redis *r = cm_redis_new(url);
    cr_assert_not_null(r, "%s", url);
    for (int i = 0; i < 30; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "seed:%d", i);
        snprintf(value, sizeof(value), "s%d", i);
        const char *set[] = {"SET", key, value};
        struct cm_redis_reply *rep;
        cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0, "%s", key);
        cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS, "%s: %s", key,
                     cm_redis_reply_str(rep, NULL));
        cm_redis_reply_free(rep);
        redisReply *mine = raw(owner(ports, key), "GET %s", key);
        cr_assert_str_eq(mine->str, value, "%s is on the node that serves it", key);
        freeReplyObject(mine);
    }
    cr_assert_eq(cm_redis_ping(r, why, sizeof(why)), 0, "%s", why);
    cm_redis_free(r);
}

Test(redis_cluster, a_pipeline_of_transactions_over_many_slots)
{
    int ports[3];
    node_ports(ports);
    struct cm_redis *r = cm_redis_new(it_env("REDIS_CLUSTER_URL"));
    cr_assert_not_null(r);
    /* per partition MULTI, HSET, HSET, EXEC, as the processor's checkpoints; a GET between */
    enum { PARTS = 24, PER = 5 };
    char keys[PARTS][32], plain[PARTS][32];
    const char *argv[PARTS * PER][5];
    int argcs[PARTS * PER];
    const char *const *argvs[PARTS * PER];
    size_t n = 0;
    for (int p = 0; p < PARTS; p++) {
        snprintf(keys[p], sizeof(keys[p]), "{ptx:%d}:v1", p);
        snprintf(plain[p], sizeof(plain[p]), "cl:%d", p); /* any value, never an error */
        const char *cmds[PER][5] = {{"MULTI"},
                                    {"HSET", keys[p], "f", "1"},
                                    {"HSET", keys[p], "g", "2"},
                                    {"EXEC"},
                                    {"GET", plain[p]}};
        int counts[PER] = {1, 4, 4, 1, 2};
        for (int c = 0; c < PER; c++) {
            memcpy(argv[n], cmds[c], sizeof(cmds[c]));
            argcs[n] = counts[c];
            argvs[n] = argv[n];
            n++;
        }
    }
    struct cm_redis_reply *out[PARTS * PER];
    cr_assert_eq(cm_redis_pipeline(r, n, argcs, argvs, out), 0);
    int nodes_used[3] = {0, 0, 0};
    for (int p = 0; p < PARTS; p++) {
        const struct cm_redis_reply *exec = out[p * PER + 3];
        cr_assert_eq(cm_redis_reply_type(exec), CM_REDIS_ARRAY, "EXEC of %s: %s", keys[p],
                     cm_redis_reply_str(exec, NULL));
        cr_assert_eq(cm_redis_reply_len(exec), 2);
        cr_assert_neq(cm_redis_reply_type(out[p * PER + 4]), CM_REDIS_ERROR, "GET %s: %s", plain[p],
                      cm_redis_reply_str(out[p * PER + 4], NULL));
        int port = owner(ports, keys[p]);
        for (int k = 0; k < 3; k++) {
            nodes_used[k] += ports[k] == port;
        }
        redisReply *h = raw(port, "HGET %s g", keys[p]);
        cr_assert_str_eq(h->str, "2", "%s on its node", keys[p]);
        freeReplyObject(h);
    }
    cr_assert(nodes_used[0] && nodes_used[1] && nodes_used[2], "the blocks went to every node");
    for (size_t i = 0; i < n; i++) {
        cm_redis_reply_free(out[i]);
    }
    cm_redis_free(r);
}

Test(redis_cluster, a_script_loaded_once_runs_on_every_node)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_CLUSTER_URL"));
    cr_assert_not_null(r);
    const char *load[] = {"SCRIPT", "LOAD", "return redis.call('INCRBY', KEYS[1], ARGV[1])"};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 3, load, NULL, &rep), 0);
    size_t len;
    const char *sha = cm_redis_reply_str(rep, &len);
    cr_assert_eq(len, 40, "%s", sha);
    char sha_copy[41];
    memcpy(sha_copy, sha, 41);
    cm_redis_reply_free(rep);
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(key, sizeof(key), "sc:%d", i);
        const char *eval[] = {"EVALSHA", sha_copy, "1", key, "3"};
        cr_assert_eq(cm_redis_command(r, 5, eval, NULL, &rep), 0);
        cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_INTEGER, "%s: %s", key,
                     cm_redis_reply_str(rep, NULL));
        cm_redis_reply_free(rep);
    }
    cm_redis_free(r);
}

struct seen {
    int n;
};

static void count_key(const char *key, size_t len, void *ud)
{
    (void)key;
    cr_assert_gt(len, 0);
    ((struct seen *)ud)->n++;
}

Test(redis_cluster, scan_sees_every_node)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_CLUSTER_URL"));
    cr_assert_not_null(r);
    for (int i = 0; i < 60; i++) {
        char key[32];
        snprintf(key, sizeof(key), "{scan:%d}:v1", i);
        const char *set[] = {"SET", key, "x"};
        struct cm_redis_reply *rep;
        cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0);
        cm_redis_reply_free(rep);
    }
    struct seen s = {0};
    cr_assert_eq(cm_redis_scan(r, "{scan:*}:v1", count_key, &s), 0);
    cr_assert_eq(s.n, 60, "%d keys seen", s.n);
    cm_redis_free(r);
}

/* The node id of the node at port. */
static void node_id(int port, char id[64])
{
    redisReply *rep = raw(port, "CLUSTER MYID");
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    snprintf(id, 64, "%s", rep->str);
    freeReplyObject(rep);
}

/* A key of a slot no other test of this file uses (they run alongside). */
static void lone_key(char *key, size_t len)
{
    static const char *const prefixes[][2] = {
        {"cl:", ""}, {"{ptx:", "}:v1"}, {"sc:", ""}, {"{scan:", "}:v1"}};
    for (int t = 0;; t++) {
        snprintf(key, len, "{mig%d}", t);
        unsigned slot = cm_redis_key_slot(key, strlen(key)), clash = 0;
        for (size_t f = 0; f < 4 && !clash; f++) {
            for (int i = 0; i < 120 && !clash; i++) {
                char other[32];
                snprintf(other, sizeof(other), "%s%d%s", prefixes[f][0], i, prefixes[f][1]);
                clash = cm_redis_key_slot(other, strlen(other)) == slot;
            }
        }
        if (!clash) {
            return;
        }
    }
}

Test(redis_cluster, a_moved_slot_and_a_migrating_one_are_followed)
{
    int ports[3];
    node_ports(ports);
    struct cm_redis *r = cm_redis_new(it_env("REDIS_CLUSTER_URL"));
    cr_assert_not_null(r);
    char key[32];
    lone_key(key, sizeof(key));
    unsigned slot = cm_redis_key_slot(key, strlen(key));
    const char *set[] = {"SET", key, "before"};
    struct cm_redis_reply *rep;
    cr_assert_eq(cm_redis_command(r, 3, set, NULL, &rep), 0);
    cm_redis_reply_free(rep); /* the client knows where the slot is */
    int from = owner(ports, key), to = from == ports[0] ? ports[1] : ports[0];
    char from_id[64], to_id[64];
    node_id(from, from_id);
    node_id(to, to_id);

    /* migrating: the key is moved, the slot not yet: its old node answers ASK */
    freeReplyObject(raw(to, "CLUSTER SETSLOT %u IMPORTING %s", slot, from_id));
    freeReplyObject(raw(from, "CLUSTER SETSLOT %u MIGRATING %s", slot, to_id));
    redisReply *m = raw(from, "MIGRATE 127.0.0.1 %d %s 0 5000", to, key);
    cr_assert_eq(m->type, REDIS_REPLY_STATUS, "MIGRATE: %s", m->str);
    freeReplyObject(m);
    redisReply *ask = raw(from, "GET %s", key);
    cr_assert(ask->type == REDIS_REPLY_ERROR && strncmp(ask->str, "ASK ", 4) == 0, "%s", ask->str);
    freeReplyObject(ask);
    const char *get[] = {"GET", key};
    cr_assert_eq(cm_redis_command(r, 2, get, NULL, &rep), 0);
    cr_assert_str_eq(cm_redis_reply_str(rep, NULL), "before", "ASK followed");
    cm_redis_reply_free(rep);

    /* moved for good: every node is told; the client still has the old node for the slot */
    for (int i = 0; i < 3; i++) {
        freeReplyObject(raw(ports[i], "CLUSTER SETSLOT %u NODE %s", slot, to_id));
    }
    redisReply *moved = raw(from, "GET %s", key);
    cr_assert(moved->type == REDIS_REPLY_ERROR && strncmp(moved->str, "MOVED ", 6) == 0, "%s",
              moved->str);
    freeReplyObject(moved);
    const char *set2[] = {"SET", key, "after"};
    cr_assert_eq(cm_redis_command(r, 3, set2, NULL, &rep), 0);
    cr_assert_eq(cm_redis_reply_type(rep), CM_REDIS_STATUS, "%s", cm_redis_reply_str(rep, NULL));
    cm_redis_reply_free(rep);
    redisReply *there = raw(to, "GET %s", key);
    cr_assert_str_eq(there->str, "after", "written on the slot's new node");
    freeReplyObject(there);

    /* and back, met by a pipeline's transaction */
    freeReplyObject(raw(from, "CLUSTER SETSLOT %u IMPORTING %s", slot, to_id));
    freeReplyObject(raw(to, "CLUSTER SETSLOT %u MIGRATING %s", slot, from_id));
    m = raw(to, "MIGRATE 127.0.0.1 %d %s 0 5000", from, key);
    cr_assert_eq(m->type, REDIS_REPLY_STATUS, "MIGRATE back: %s", m->str);
    freeReplyObject(m);
    for (int i = 0; i < 3; i++) {
        freeReplyObject(raw(ports[i], "CLUSTER SETSLOT %u NODE %s", slot, from_id));
    }
    const char *a0[] = {"MULTI"}, *a1[] = {"SET", key, "tx"}, *a2[] = {"EXEC"},
               *a3[] = {"GET", key};
    const char *const *argvs[] = {a0, a1, a2, a3};
    int argcs[] = {1, 3, 1, 2};
    struct cm_redis_reply *out[4];
    cr_assert_eq(cm_redis_pipeline(r, 4, argcs, argvs, out), 0);
    cr_assert_eq(cm_redis_reply_type(out[2]), CM_REDIS_ARRAY, "EXEC: %s",
                 cm_redis_reply_str(out[2], NULL));
    cr_assert_str_eq(cm_redis_reply_str(out[3], NULL), "tx");
    for (int i = 0; i < 4; i++) {
        cm_redis_reply_free(out[i]);
    }
    cr_assert_eq(owner(ports, key), from);
    cm_redis_free(r);
}
