/* gw_idem: idempotent ingest (see gw_idem.h): an event's key and payload hash, and the Redis
 * protocol. A key holds "P|<hash>|<instance>" while its event is in flight (expiring after
 * GW_IDEM_IN_FLIGHT_MS, so a request that never settles its keys, its gateway killed or Redis
 * lost in between, does not block their retries for the whole window; and claimed again sooner
 * when the instance named has let its lease, "idem:live:<instance>", lapse) and "D|<hash>|<id>"
 * once accepted, for the window. (An earlier build's "P|<hash>" waits for its expiry.) Keys are
 * "idem:<key>", without a hash tag: on a Redis Cluster they spread over every node (each is read
 * and written alone). A circuit breaker shared by the connections stops trying Redis after a
 * failure, for a cool-down: a Redis that takes connections but does not answer would otherwise cost
 * every request the client's timeout. */
#include "gw_idem.h"

#include "cm/breaker.h"
#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gw_idem {
    struct cm_redis **conns;
    unsigned nconns;
    atomic_uint next;
    char window[24];    /* PX of an accepted event's key */
    char in_flight[24]; /* PX of the in-flight marker: the least of the window and
                           GW_IDEM_IN_FLIGHT_MS */
    struct cm_breaker *breaker;
    struct cm_series *m_unguarded; /* NULL without metrics */
    struct cm_series *m_taken_over;
    struct cm_log_limit unguarded_log;
    struct cm_log_limit taken_over_log;
    /* the lease: this instance's name, its key, renewed by the lease thread on its connection */
    char me[CM_UUID_STR_LEN];
    char live_key[CM_UUID_STR_LEN + 16];
    char lease_px[24];
    int64_t lease_ms;
    struct cm_redis *lease_conn;
    pthread_t lease_thread;
    int lease_started;
    pthread_mutex_t lease_lock;
    pthread_cond_t lease_wake;
    int stopping;
};

/* Writes the lease (again) for lease_ms; a failure is retried at the next turn. */
static void renew(struct gw_idem *g)
{
    const char *argv[] = {"SET", g->live_key, "1", "PX", g->lease_px};
    struct cm_redis_reply *rep = NULL;
    (void)cm_redis_command(g->lease_conn, 5, argv, NULL, &rep);
    cm_redis_reply_free(rep);
}

/* Renews the lease every fifth of it (gw_idem_new wrote it first), until gw_idem_free. */
static void *lease_loop(void *ud)
{
    struct gw_idem *g = ud;
    pthread_mutex_lock(&g->lease_lock);
    while (!g->stopping) {
        struct timespec until;
        cm_deadline_after((int)(g->lease_ms / 5), &until);
        pthread_cond_timedwait(&g->lease_wake, &g->lease_lock, &until); /* (early: renewed early) */
        if (!g->stopping) {
            pthread_mutex_unlock(&g->lease_lock);
            renew(g);
            pthread_mutex_lock(&g->lease_lock);
        }
    }
    pthread_mutex_unlock(&g->lease_lock);
    return NULL;
}

/* A variable part of a key: "<length>:<text>" up to IDEM_PART_MAX bytes, else "h<its hash>", so a
 * key stays small (a source may be as long as a request) and never shared. */
#define IDEM_PART_MAX 256
static void key_part(const char *s, char out[IDEM_PART_MAX + 24])
{
    size_t n = strlen(s);
    if (n <= IDEM_PART_MAX) {
        snprintf(out, IDEM_PART_MAX + 24, "%zu:%s", n, s);
    } else {
        const char *parts[] = {s};
        out[0] = 'h';
        cm_uuid_from_parts(parts, 1, out + 1);
    }
}

char *gw_idem_key(const char *tenant, const char *header_key, size_t index, const json_t *event,
                  char hash[CM_UUID_STR_LEN])
{
    const char *id = json_string_value(json_object_get(event, "id"));
    const char *source = json_string_value(json_object_get(event, "source"));
    char *key, part[IDEM_PART_MAX + 24];
    /* each part whole (or hashed), the variable ones after their lengths, so no two events
     * share a key: cut to 200 bytes, two ids alike in their first 200 did, and ':' inside a
     * source, an id or a tenant made ("a:b", "c") and ("a", "b:c") one key. The tenant (at most
     * CM_TENANT_MAX bytes) and the id (CM_ENVELOPE_MAX_ID, the last part) are kept as they are. */
    if (header_key && *header_key) {
        key_part(header_key, part);
        key = cm_xasprintf("%zu:%s:req:%s:%zu", strlen(tenant), tenant, part, index);
    } else if (id && source) {
        key_part(source, part);
        key = cm_xasprintf("%zu:%s:ev:%s:%s", strlen(tenant), tenant, part, id);
    } else {
        return NULL;
    }
    char *text = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    const char *parts[] = {text ? text : ""};
    cm_uuid_from_parts(parts, 1, hash);
    free(text);
    return key;
}

struct gw_idem *gw_idem_new(const char *url, unsigned connections, int64_t window_ms,
                            int64_t lease_ms, struct cm_metrics *metrics)
{
    struct gw_idem *g = cm_xcalloc(1, sizeof(*g));
    g->unguarded_log.every_ms = 1000;
    g->taken_over_log.every_ms = 1000;
    if (metrics) {
        g->m_unguarded = cm_metric_with(
            cm_metrics_counter(metrics, "idempotency_unguarded_total",
                               "events accepted without the idempotency guarantee because Redis "
                               "could not answer",
                               NULL),
            NULL);
        g->m_taken_over = cm_metric_with(
            cm_metrics_counter(metrics, "idempotency_taken_over_total",
                               "idempotency keys claimed again from a gateway instance whose "
                               "lease had lapsed while it held them in flight (it was killed or "
                               "cut off)",
                               NULL),
            NULL);
    }
    cm_uuid_v7(g->me);
    snprintf(g->live_key, sizeof(g->live_key), "idem:live:%s", g->me);
    g->lease_ms = lease_ms >= 5 ? lease_ms : 5;
    snprintf(g->lease_px, sizeof(g->lease_px), "%lld", (long long)g->lease_ms);
    pthread_mutex_init(&g->lease_lock, NULL);
    pthread_cond_init(&g->lease_wake, NULL);
    g->nconns = connections ? connections : 1;
    g->conns = cm_xcalloc(g->nconns, sizeof(*g->conns));
    for (unsigned i = 0; i < g->nconns; i++) {
        if (!(g->conns[i] = cm_redis_new(url))) {
            gw_idem_free(g);
            return NULL;
        }
    }
    if (!(g->lease_conn = cm_redis_new(url))) {
        gw_idem_free(g);
        return NULL;
    }
    renew(g); /* before the first claim naming this instance, which another would take over */
    g->lease_started = pthread_create(&g->lease_thread, NULL, lease_loop, g) == 0;
    window_ms = window_ms > 0 ? window_ms : 1;
    snprintf(g->window, sizeof(g->window), "%lld", (long long)window_ms);
    snprintf(g->in_flight, sizeof(g->in_flight), "%lld",
             (long long)(window_ms < GW_IDEM_IN_FLIGHT_MS ? window_ms : GW_IDEM_IN_FLIGHT_MS));
    g->breaker = cm_breaker_new("redis (idempotency keys)", 1, 1000, 30000, NULL);
    return g;
}

void gw_idem_free(struct gw_idem *g)
{
    if (!g) {
        return;
    }
    if (g->lease_started) {
        pthread_mutex_lock(&g->lease_lock);
        g->stopping = 1;
        pthread_cond_signal(&g->lease_wake);
        pthread_mutex_unlock(&g->lease_lock);
        pthread_join(g->lease_thread, NULL);
    }
    pthread_mutex_destroy(&g->lease_lock);
    pthread_cond_destroy(&g->lease_wake);
    cm_redis_free(g->lease_conn);
    for (unsigned i = 0; i < g->nconns; i++) {
        cm_redis_free(g->conns[i]);
    }
    free(g->conns);
    cm_breaker_free(g->breaker);
    free(g);
}

json_t *gw_idem_detail(void *ud)
{
    struct gw_idem *g = ud;
    char why[256] = "";
    if (cm_redis_ping(g->conns[0], why, sizeof(why)) == 0) {
        return json_pack("{s:b}", "available", 1);
    }
    return json_pack("{s:b, s:s, s:s}", "available", 0, "error", why, "effect",
                     "events go through without the idempotency guarantee");
}

/* A connection for one exchange, in turn. */
static struct cm_redis *conn(struct gw_idem *g)
{
    return g->conns[atomic_fetch_add(&g->next, 1) % g->nconns];
}

/* The Redis commands of n claims: argv arrays and the strings they point to, freed together. */
struct commands {
    int *argcs;
    const char *const **argvs;
    const char **slots; /* 6 per command */
    char **owned;       /* 2 per command */
    struct cm_redis_reply **replies;
    size_t n;
};

static void commands_init(struct commands *c, size_t n)
{
    c->n = n;
    c->argcs = cm_xcalloc(n ? n : 1, sizeof(*c->argcs));
    c->argvs = cm_xcalloc(n ? n : 1, sizeof(*c->argvs));
    c->slots = cm_xcalloc(n ? 6 * n : 1, sizeof(*c->slots));
    c->owned = cm_xcalloc(n ? 2 * n : 1, sizeof(*c->owned));
    c->replies = cm_xcalloc(n ? n : 1, sizeof(*c->replies));
}

static void commands_free(struct commands *c)
{
    for (size_t i = 0; i < 2 * c->n; i++) {
        free(c->owned[i]);
    }
    for (size_t i = 0; i < c->n; i++) {
        cm_redis_reply_free(c->replies[i]);
    }
    free(c->argcs);
    free(c->argvs);
    free(c->slots);
    free(c->owned);
    free(c->replies);
}

/* Command i: the given words; key and value (owned, may be NULL) fill the "$K" and "$V" words. */
static void command_set(struct commands *c, size_t i, int argc, const char *const *words, char *key,
                        char *value)
{
    const char **argv = &c->slots[6 * i];
    for (int k = 0; k < argc; k++) {
        argv[k] = !words[k]                     ? NULL /* filled in by the caller */
                  : strcmp(words[k], "$K") == 0 ? key
                  : strcmp(words[k], "$V") == 0 ? value
                                                : words[k];
    }
    c->owned[2 * i] = key;
    c->owned[2 * i + 1] = value;
    c->argcs[i] = argc;
    c->argvs[i] = argv;
}

/* The claim's state from the value stored under its key. */
static enum gw_idem_state classify(struct gw_idem_claim *cl, const char *v)
{
    size_t hl = strlen(cl->hash);
    if (!v) {
        return GW_IDEM_IN_FLIGHT; /* expired between the two calls: be safe */
    }
    if (strlen(v) < 2 + hl || strncmp(v + 2, cl->hash, hl) != 0) {
        return GW_IDEM_CONFLICT;
    }
    if (v[0] == 'D' && v[2 + hl] == '|') {
        snprintf(cl->prev_id, sizeof(cl->prev_id), "%s", v + 3 + hl);
        return GW_IDEM_DONE;
    }
    return GW_IDEM_IN_FLIGHT;
}

/* The instance named by an in-flight marker "P|<hash>|<instance>" of cl's payload, or NULL (an
 * earlier build's "P|<hash>", or another payload's). */
static const char *in_flight_owner(const struct gw_idem_claim *cl, const char *v)
{
    size_t hl = strlen(cl->hash);
    if (strncmp(v, "P|", 2) != 0 || strlen(v) < 4 + hl || strncmp(v + 2, cl->hash, hl) != 0 ||
        v[2 + hl] != '|') {
        return NULL;
    }
    return v + 3 + hl;
}

/* KEYS[1] a key in flight; ARGV the marker read, this instance's marker, its expiry (PX): the
 * key becomes this instance's when it still holds the marker read. 1 when taken, else 0. */
static const char reclaim_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                     "  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
                                     "  return 1\n"
                                     "end\n"
                                     "return 0\n";

/* Of the keys taken (get: what they hold), those in flight under another instance whose lease
 * has lapsed are claimed again (GW_IDEM_NEW): the request that held them died with its gateway. */
static void reclaim(struct gw_idem *g, struct cm_redis *r, struct gw_idem_claim *claims,
                    const size_t *taken, size_t nt, const struct commands *get)
{
    size_t *cand = cm_xcalloc(nt ? nt : 1, sizeof(*cand)), nc = 0;
    struct commands live;
    commands_init(&live, nt);
    for (size_t k = 0; k < nt; k++) {
        struct gw_idem_claim *cl = &claims[taken[k]];
        const char *v = cm_redis_reply_str(get->replies[k], NULL);
        const char *owner = cl->state == GW_IDEM_IN_FLIGHT && v ? in_flight_owner(cl, v) : NULL;
        if (owner && strcmp(owner, g->me) != 0) {
            static const char *const words[] = {"EXISTS", "$K"};
            command_set(&live, nc, 2, words, cm_xasprintf("idem:live:%s", owner), NULL);
            cand[nc++] = k;
        }
    }
    size_t reclaimed = 0, first = 0;
    if (nc && cm_redis_pipeline(r, nc, live.argcs, live.argvs, live.replies) == 0) {
        struct cm_redis_script script;
        cm_redis_script_init(&script, reclaim_script);
        for (size_t j = 0; j < nc; j++) {
            if (cm_redis_reply_type(live.replies[j]) != CM_REDIS_INTEGER ||
                cm_redis_reply_integer(live.replies[j]) != 0) {
                continue; /* its instance holds its lease: still in flight */
            }
            struct gw_idem_claim *cl = &claims[taken[cand[j]]];
            char *key = cm_xasprintf("idem:%s", cl->key);
            char *mine = cm_xasprintf("P|%s|%s", cl->hash, g->me);
            const char *argv[] = {key, cm_redis_reply_str(get->replies[cand[j]], NULL), mine,
                                  g->in_flight};
            struct cm_redis_reply *rep = NULL;
            if (cm_redis_eval(r, &script, 1, 4, argv, NULL, &rep) == 0 &&
                cm_redis_reply_type(rep) == CM_REDIS_INTEGER && cm_redis_reply_integer(rep) == 1) {
                cl->state = GW_IDEM_NEW;
                first = reclaimed++ ? first : taken[cand[j]];
            }
            cm_redis_reply_free(rep);
            free(key);
            free(mine);
        }
    }
    unsigned long long left_out;
    if (reclaimed > 0 && g->m_taken_over) {
        cm_counter_add(g->m_taken_over, reclaimed);
    }
    if (reclaimed > 0 && cm_log_limit_pass(&g->taken_over_log, cm_monotonic_ms(), &left_out)) {
        CM_LOG_WARN("idempotency_taken_over",
                    "%zu keys in flight under a gateway instance whose lease lapsed (killed, or "
                    "cut off from Redis) claimed again by their repeat (the first %s); %llu "
                    "batches more since the last such line",
                    reclaimed, claims[first].key, left_out);
    }
    commands_free(&live);
    free(cand);
}

void gw_idem_begin(struct gw_idem *g, struct gw_idem_claim *claims, size_t n)
{
    struct commands set;
    commands_init(&set, n);
    for (size_t i = 0; i < n; i++) {
        static const char *const words[] = {"SET", "$K", "$V", "NX", "PX", NULL};
        command_set(&set, i, 6, words, cm_xasprintf("idem:%s", claims[i].key),
                    cm_xasprintf("P|%s|%s", claims[i].hash, g->me));
        set.slots[6 * i + 5] = g->in_flight;
        claims[i].state = GW_IDEM_UNAVAILABLE;
        claims[i].prev_id[0] = '\0';
    }
    struct cm_redis *r = conn(g); /* the GETs follow the SETs on the same connection */
    int tried = cm_breaker_allow(g->breaker, cm_monotonic_ms()), rc = CM_E_UNAVAIL;
    if (tried && (rc = cm_redis_pipeline(r, n, set.argcs, set.argvs, set.replies)) == 0) {
        /* keys already taken: read what they hold */
        size_t *taken = cm_xcalloc(n ? n : 1, sizeof(*taken)), nt = 0;
        for (size_t i = 0; i < n; i++) {
            enum cm_redis_type t = cm_redis_reply_type(set.replies[i]);
            if (t == CM_REDIS_STATUS) {
                claims[i].state = GW_IDEM_NEW;
            } else if (t == CM_REDIS_NIL) {
                taken[nt++] = i;
            }
        }
        struct commands get;
        commands_init(&get, nt);
        for (size_t k = 0; k < nt; k++) {
            static const char *const words[] = {"GET", "$K"};
            command_set(&get, k, 2, words, cm_xasprintf("idem:%s", claims[taken[k]].key), NULL);
        }
        if (nt && (rc = cm_redis_pipeline(r, nt, get.argcs, get.argvs, get.replies)) == 0) {
            for (size_t k = 0; k < nt; k++) {
                claims[taken[k]].state =
                    classify(&claims[taken[k]], cm_redis_reply_str(get.replies[k], NULL));
            }
            reclaim(g, r, claims, taken, nt, &get);
        }
        commands_free(&get);
        free(taken);
    }
    if (tried && rc == 0) {
        cm_breaker_success(g->breaker);
    } else if (tried) {
        cm_breaker_failure(g->breaker, cm_monotonic_ms());
    }
    size_t unguarded = 0, first = 0;
    for (size_t i = n; i-- > 0;) {
        if (claims[i].state == GW_IDEM_UNAVAILABLE) {
            unguarded++;
            first = i;
        }
    }
    unsigned long long left_out;
    if (unguarded > 0 && g->m_unguarded) {
        cm_counter_add(g->m_unguarded, unguarded);
    }
    if (unguarded > 0 && cm_log_limit_pass(&g->unguarded_log, cm_monotonic_ms(), &left_out)) {
        CM_LOG_WARN("idempotency_unavailable",
                    "Redis did not answer: %zu events go through unguarded (the first %s); "
                    "%llu batches more since the last such line",
                    unguarded, claims[first].key, left_out);
    }
    commands_free(&set);
}

void gw_idem_finish(struct gw_idem *g, const struct gw_idem_claim *claims, size_t n)
{
    struct commands c;
    commands_init(&c, n);
    for (size_t i = 0; i < n; i++) {
        char *key = cm_xasprintf("idem:%s", claims[i].key);
        if (claims[i].accepted) {
            static const char *const words[] = {"SET", "$K", "$V", "PX", NULL};
            command_set(&c, i, 5, words, key,
                        cm_xasprintf("D|%s|%s", claims[i].hash, claims[i].id));
            c.slots[6 * i + 4] = g->window;
        } else {
            static const char *const words[] = {"DEL", "$K"};
            command_set(&c, i, 2, words, key, NULL);
        }
    }
    if (n > 0 && cm_breaker_allow(g->breaker, cm_monotonic_ms())) {
        /* not tried while the breaker is open: the in-flight markers expire by themselves */
        if (cm_redis_pipeline(conn(g), n, c.argcs, c.argvs, c.replies) == 0) {
            cm_breaker_success(g->breaker);
        } else {
            cm_breaker_failure(g->breaker, cm_monotonic_ms());
        }
    }
    commands_free(&c);
}
