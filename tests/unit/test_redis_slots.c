/* Redis Cluster and Sentinel replies as the client reads them (common/src/clients/
 * redis_cluster.c and redis_sentinel.c), table-tested with well-formed and hostile ones: MOVED and
 * ASK redirections (slot and port out of range, no port, no host, trailing bytes), CLUSTER SLOTS
 * maps (wrong types, ranges out of order or past the last slot, ports out of range, hosts empty or
 * "?", more nodes than it keeps, replicas well-formed and not), Sentinel's master addresses (nil,
 * errors, ports that are not one) and ROLE replies. The replies are built here, as hiredis would
 * hand them over; no server is needed. */
#include "../../common/src/clients/redis_internal.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static redisReply *reply(int type)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = type;
    return r;
}

static redisReply *str(int type, const char *s)
{
    redisReply *r = reply(type);
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

static redisReply *num(long long v)
{
    redisReply *r = reply(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

/* An array of n elements (taken). */
static redisReply *arr(size_t n, redisReply **e)
{
    redisReply *r = reply(REDIS_REPLY_ARRAY);
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof(*r->element));
    if (n) {
        memcpy(r->element, e, n * sizeof(*e));
    }
    return r;
}

/* [lo, hi, [host, port, id]] */
static redisReply *range(long long lo, long long hi, redisReply *host, long long port)
{
    redisReply *node[] = {host, num(port), str(REDIS_REPLY_STRING, "id")};
    redisReply *e[] = {num(lo), num(hi), arr(3, node)};
    return arr(3, e);
}

static void drop(redisReply *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        drop(r->element[i]);
    }
    free(r->element);
    free(r->str);
    free(r);
}

/* A client of a server that is not there (nothing is sent in these tests). */
static struct cm_redis *client(void)
{
    struct cm_redis *r = cm_redis_new("redis://127.0.0.9:1");
    cr_assert_not_null(r);
    return r;
}

Test(redis_slots, redirections_are_read_or_refused)
{
    struct cm_redis *r = client();
    struct {
        const char *text;
        long node; /* -1: not a redirection; else the node's index */
        int ask;   /* for a redirection */
        long slot; /* MOVED: the slot now mapped to it */
        const char *host;
        int port;
    } cases[] = {
        {"MOVED 3999 127.0.0.1:6381", 1, 0, 3999, "127.0.0.1", 6381},
        {"ASK 3999 127.0.0.1:6382", 2, 1, -1, "127.0.0.1", 6382},
        {"MOVED 16383 127.0.0.1:6381", 1, 0, 16383, "127.0.0.1", 6381}, /* a known node */
        {"MOVED 0 :6383", 3, 0, 0, "127.0.0.9", 6383}, /* no host: the answering node's */
        {"MOVED 7 [::1]:6384", 4, 0, 7, "::1", 6384},  /* an IPv6 address in brackets */
        {"MOVED 8 ::1:6384", 4, 0, 8, "::1", 6384},    /* or without: the last ':' splits */
        {"MOVED 16384 127.0.0.1:6381", -1, 0, -1, NULL, 0},
        {"MOVED -1 127.0.0.1:6381", -1, 0, -1, NULL, 0},
        {"MOVED 99999999999999999999 h:1", -1, 0, -1, NULL, 0},
        {"MOVED 5 127.0.0.1:0", -1, 0, -1, NULL, 0},
        {"MOVED 5 127.0.0.1:65536", -1, 0, -1, NULL, 0},
        {"MOVED 5 127.0.0.1:63x", -1, 0, -1, NULL, 0},
        {"MOVED 5 127.0.0.1", -1, 0, -1, NULL, 0},
        {"MOVED 5", -1, 0, -1, NULL, 0},
        {"MOVED", -1, 0, -1, NULL, 0},
        {"MOVED 5x 127.0.0.1:6381", -1, 0, -1, NULL, 0},
        {"ASKING 5 127.0.0.1:6381", -1, 0, -1, NULL, 0},
        {"ERR unknown command", -1, 0, -1, NULL, 0},
        {"moved 5 127.0.0.1:6381", -1, 0, -1, NULL, 0},
    };
    size_t redirections = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *rep = str(REDIS_REPLY_ERROR, cases[i].text);
        int ask = -1;
        long node = redis_redirected(r, 0, rep, &ask);
        cr_assert_eq(node, cases[i].node, "'%s': node %ld", cases[i].text, node);
        if (node >= 0) {
            redirections++;
            cr_assert_eq(ask, cases[i].ask, "'%s'", cases[i].text);
            cr_assert_str_eq(r->nodes[node].host, cases[i].host, "'%s'", cases[i].text);
            cr_assert_eq(r->nodes[node].port, cases[i].port, "'%s'", cases[i].text);
            if (cases[i].slot >= 0) {
                cr_assert_not_null(r->slots);
                cr_assert_eq(r->slots[cases[i].slot], node, "'%s'", cases[i].text);
            }
        }
        drop(rep);
    }
    cr_assert_eq(redirections, 6);
    cr_assert_eq(r->slots[3999], 1, "an ASK moves no slot for good");
    redisReply *plain = str(REDIS_REPLY_STATUS, "MOVED 5 127.0.0.1:6381");
    int ask;
    cr_assert_eq(redis_redirected(r, 0, plain, &ask), -1, "only an error redirects");
    drop(plain);
    cr_assert_eq(redis_redirected(r, 0, NULL, &ask), -1);
    cm_redis_free(r);
}

Test(redis_slots, a_cluster_slots_map_is_taken_and_bad_ranges_left_out)
{
    struct cm_redis *r = client();
    redisReply *e[] = {
        range(0, 5460, str(REDIS_REPLY_STRING, "127.0.0.1"), 7001),
        range(5461, 10922, str(REDIS_REPLY_STRING, ""), 7002),           /* the asked node's host */
        range(10923, 16383, str(REDIS_REPLY_STRING, "?"), 7003),         /* so is "?" */
        range(100, 50, str(REDIS_REPLY_STRING, "127.0.0.9"), 7009),      /* backwards */
        range(16000, 16384, str(REDIS_REPLY_STRING, "127.0.0.9"), 7009), /* past the last */
        range(-1, 3, str(REDIS_REPLY_STRING, "127.0.0.9"), 7009),
        range(1, 3, str(REDIS_REPLY_STRING, "127.0.0.9"), 0),
        range(1, 3, str(REDIS_REPLY_STRING, "127.0.0.9"), 65536),
        range(1, 3, num(5), 7009), /* host not a string */
        str(REDIS_REPLY_STRING, "not a range"),
        arr(0, NULL),
    };
    redisReply *map = arr(sizeof(e) / sizeof(e[0]), e);
    cr_assert_eq(redis_take_slots(r, 0, map), 1);
    drop(map);
    cr_assert_not_null(r->slots);
    cr_assert_eq(r->nnodes, 4, "the URL's node and three (%zu)", r->nnodes);
    const int port_of[] = {7001, 7002, 7003};
    const long first[] = {0, 5461, 10923}, last[] = {5460, 10922, 16383};
    for (int k = 0; k < 3; k++) {
        size_t n = r->slots[first[k]];
        cr_assert_eq(r->nodes[n].port, port_of[k]);
        cr_assert_eq(r->slots[last[k]], n);
    }
    cr_assert_str_eq(r->nodes[r->slots[6000]].host, "127.0.0.9");
    cr_assert_str_eq(r->nodes[r->slots[12000]].host, "127.0.0.9");
    for (size_t n = 0; n < r->nnodes; n++) {
        cr_assert_neq(r->nodes[n].port, 7009, "a bad range added a node");
    }
    size_t masters[8];
    cr_assert_eq(redis_masters(r, masters), 3);
    /* a plain server's answer changes nothing */
    redisReply *err = str(REDIS_REPLY_ERROR, "ERR This instance has cluster support disabled");
    cr_assert_eq(redis_take_slots(r, 0, err), 0);
    drop(err);
    cr_assert_eq(r->nodes[r->slots[0]].port, 7001);
    cm_redis_free(r);

    /* more nodes than kept: the map stays usable (the extra ranges go to the URL's node) */
    r = client();
    enum { MANY = 1100 };
    redisReply **many = calloc(MANY, sizeof(*many));
    char host[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(host, sizeof(host), "10.0.%d.%d", i / 256, i % 256);
        many[i] =
            range(i * 14, i == MANY - 1 ? 16383 : i * 14 + 13, str(REDIS_REPLY_STRING, host), 7000);
    }
    map = arr(MANY, many);
    free(many);
    cr_assert_eq(redis_take_slots(r, 0, map), 1);
    drop(map);
    cr_assert_leq(r->nnodes, 1024);
    cr_assert_eq(r->slots[16383], 0, "past the nodes kept: the URL's node");
    cm_redis_free(r);
}

/* [host, port, id] as a range's node */
static redisReply *node(redisReply *host, redisReply *port)
{
    redisReply *e[] = {host, port, str(REDIS_REPLY_STRING, "id")};
    return arr(3, e);
}

/* Replicas after a range's master become known nodes serving no slot (asked for the map when
 * the masters are gone); malformed ones are left out. */
Test(redis_slots, replicas_are_known_and_serve_no_slot)
{
    struct cm_redis *r = client();
    redisReply *e[] = {
        num(0),
        num(16383),
        node(str(REDIS_REPLY_STRING, "127.0.0.1"), num(7001)),
        node(str(REDIS_REPLY_STRING, "127.0.0.2"), num(7002)), /* a replica */
        node(str(REDIS_REPLY_STRING, "127.0.0.3"), num(7003)), /* another */
        node(str(REDIS_REPLY_STRING, ""), num(7009)),
        node(str(REDIS_REPLY_STRING, "?"), num(7009)),
        node(str(REDIS_REPLY_STRING, "127.0.0.9"), num(0)),
        node(str(REDIS_REPLY_STRING, "127.0.0.9"), num(65536)),
        node(num(5), num(7009)),
        node(str(REDIS_REPLY_STRING, "127.0.0.9"), str(REDIS_REPLY_STRING, "7009")),
        str(REDIS_REPLY_STRING, "not a node"),
        arr(0, NULL),
    };
    redisReply *one = arr(sizeof(e) / sizeof(e[0]), e);
    redisReply *map = arr(1, &one);
    cr_assert_eq(redis_take_slots(r, 0, map), 1);
    drop(map);
    cr_assert_eq(r->nnodes, 4, "the URL's node, the master and two replicas (%zu)", r->nnodes);
    for (size_t n = 0; n < r->nnodes; n++) {
        cr_assert_neq(r->nodes[n].port, 7009, "a malformed replica added a node");
    }
    size_t masters[8];
    cr_assert_eq(redis_masters(r, masters), 1, "replicas serve no slot");
    cr_assert_eq(r->nodes[masters[0]].port, 7001);
    cr_assert_str_eq(r->nodes[2].host, "127.0.0.2");
    cr_assert_eq(r->nodes[3].port, 7003);
    cm_redis_free(r);
}

Test(redis_slots, commands_name_their_key)
{
    struct {
        int argc;
        const char *argv[5];
        const char *key; /* NULL: none */
    } cases[] = {
        {2, {"GET", "k1"}, "k1"},
        {3, {"hset", "{t}:h", "f"}, "{t}:h"},
        {1, {"PING"}, NULL},
        {1, {"MULTI"}, NULL},
        {1, {"exec"}, NULL},
        {3, {"SCRIPT", "LOAD", "return 1"}, NULL},
        {4, {"SCAN", "0", "MATCH", "*"}, NULL},
        {5, {"EVALSHA", "abc", "1", "key", "a"}, "key"},
        {3, {"EVAL", "return 1", "0"}, NULL},
        {4, {"EVAL", "return 1", "0", "notakey"}, NULL},
        {3, {"EVALSHA", "abc", "1"}, NULL}, /* numkeys without the key: none */
        {1, {"GET"}, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        const char *key = redis_command_key(cases[i].argc, cases[i].argv, NULL, &len);
        if (!cases[i].key) {
            cr_assert_null(key, "case %zu: %s", i, key);
        } else {
            cr_assert_not_null(key, "case %zu", i);
            cr_assert_eq(len, strlen(cases[i].key));
            cr_assert_eq(memcmp(key, cases[i].key, len), 0, "case %zu", i);
        }
    }
    const char *bin[] = {"SET", "a\0b", "v"};
    size_t lens[] = {3, 3, 1}, len = 0;
    cr_assert_eq(redis_command_key(3, bin, lens, &len), bin[1]);
    cr_assert_eq(len, 3, "binary keys keep their length");
}

/* [host, port] as Sentinel answers get-master-addr-by-name (the port as text). */
static redisReply *addr(redisReply *host, redisReply *port)
{
    redisReply *e[] = {host, port};
    return arr(2, e);
}

Test(redis_slots, sentinel_answers_are_read_or_refused)
{
    struct cm_redis *r = cm_redis_new("redis-sentinel://127.0.0.9:1#events-state");
    cr_assert_not_null(r);
    cr_assert_str_eq(r->master_name, "events-state");
    cr_assert_eq(r->nseeds, 1);
    cr_assert(r->nodes[0].sentinel);
    struct {
        redisReply *rep;
        long node;     /* -1: refused */
        const char *e; /* refused: in last_error */
    } cases[] = {
        {addr(str(REDIS_REPLY_STRING, "127.0.0.1"), str(REDIS_REPLY_STRING, "6380")), 1, NULL},
        {addr(str(REDIS_REPLY_STRING, "10.0.0.7"), str(REDIS_REPLY_STRING, "6380")), 2, NULL},
        {addr(str(REDIS_REPLY_STRING, "127.0.0.1"), str(REDIS_REPLY_STRING, "6380")), 1, NULL},
        {reply(REDIS_REPLY_NIL), -1, "does not monitor a master named 'events-state'"},
        {str(REDIS_REPLY_ERROR, "ERR unknown command 'SENTINEL'"), -1, "ERR unknown command"},
        {str(REDIS_REPLY_ERROR, "NOAUTH Authentication required."), -1, "NOAUTH"},
        {addr(str(REDIS_REPLY_STRING, ""), str(REDIS_REPLY_STRING, "6380")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "0")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "65536")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "-1")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "+6380")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, " 6380")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "6380x")), -1, "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), str(REDIS_REPLY_STRING, "99999999999999999999")), -1,
         "no address"},
        {addr(str(REDIS_REPLY_STRING, "h"), num(6380)), -1, "no address"},
        {addr(num(1), str(REDIS_REPLY_STRING, "6380")), -1, "no address"},
        {arr(1, (redisReply *[]){str(REDIS_REPLY_STRING, "h")}), -1, "no address"},
        {str(REDIS_REPLY_STATUS, "OK"), -1, "no address"},
        {num(7), -1, "no address"},
    };
    size_t named = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r->last_error[0] = '\0';
        long node = redis_sentinel_answer(r, 0, cases[i].rep);
        cr_assert_eq(node, cases[i].node, "case %zu: node %ld", i, node);
        if (node < 0) {
            cr_assert(strstr(r->last_error, cases[i].e) != NULL, "case %zu: %s", i, r->last_error);
            cr_assert(strstr(r->last_error, "127.0.0.9:1") != NULL, "case %zu: %s", i,
                      r->last_error);
        } else {
            named++;
            cr_assert_str_eq(r->nodes[node].host, cases[i].rep->element[0]->str);
            cr_assert_eq(r->nodes[node].port, 6380);
            cr_assert_not(r->nodes[node].sentinel, "a master is no sentinel");
        }
        drop(cases[i].rep);
    }
    cr_assert_eq(named, 3);
    cr_assert_eq(r->nnodes, 3, "each master once");
    cm_redis_free(r);
}

Test(redis_slots, roles_are_read)
{
    redisReply *master[] = {str(REDIS_REPLY_STRING, "master"), num(0), arr(0, NULL)};
    redisReply *slave[] = {str(REDIS_REPLY_STRING, "slave"), str(REDIS_REPLY_STRING, "h")};
    struct {
        redisReply *rep;
        const char *role;
    } cases[] = {
        {arr(3, master), "master"},
        {arr(2, slave), "slave"},
        {str(REDIS_REPLY_ERROR, "NOAUTH Authentication required."), "NOAUTH"},
        {arr(0, NULL), "no role"},
        {arr(1, (redisReply *[]){num(1)}), "no role"},
        {str(REDIS_REPLY_STRING, "master"), "no role"},
        {reply(REDIS_REPLY_NIL), "no role"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert(strstr(redis_role(cases[i].rep), cases[i].role) == redis_role(cases[i].rep),
                  "case %zu: %s", i, redis_role(cases[i].rep));
        drop(cases[i].rep);
    }
}
