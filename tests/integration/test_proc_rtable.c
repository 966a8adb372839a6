/* Integration tests of the processor's Redis-hash join tables (services/processor/proc_rtable.c)
 * against real redis-server processes: rows read as JSON (or as a string), a missing field is no
 * row, the TTL cache serves a row until it expires and then shows the change, and while Redis is
 * down a lookup waits for it (the row found after the restart) instead of deciding without it. */
#include "harness.h"

#include "../../services/processor/proc_rtable.h"
#include "cm/redis.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void hset(struct cm_redis *r, const char *hash, const char *key, const char *value)
{
    const char *argv[] = {"HSET", hash, key, value};
    struct cm_redis_reply *rep = NULL;
    cr_assert_eq(cm_redis_command(r, 4, argv, NULL, &rep), 0);
    cm_redis_reply_free(rep);
}

static char *text_of(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(none)");
    json_decref(v);
    return s;
}

static void expect_row(struct proc_rtables *t, const char *hash, const char *key, const char *want)
{
    char *got = text_of(proc_rtables_get(t, hash, key));
    cr_assert_str_eq(got, want, "%s/%s", hash, key);
    free(got);
}

Test(proc_rtable, rows_and_the_ttl_cache)
{
    struct cm_redis *r = cm_redis_new(it_env("REDIS_URL"));
    char hash[64];
    it_unique(hash, sizeof(hash), "merchants");
    hset(r, hash, "m1", "{\"category\":\"books\"}");
    hset(r, hash, "m2", "plain text");
    struct proc_rtables *cached = proc_rtables_new(r, 400);
    struct proc_rtables *uncached = proc_rtables_new(r, 0);
    expect_row(cached, hash, "m1", "{\"category\":\"books\"}");
    expect_row(cached, hash, "m2", "\"plain text\"");
    expect_row(cached, hash, "m3", "(none)");
    hset(r, hash, "m1", "{\"category\":\"games\"}");
    hset(r, hash, "m3", "7");
    expect_row(uncached, hash, "m1", "{\"category\":\"games\"}");
    expect_row(cached, hash, "m1", "{\"category\":\"books\"}"); /* within the TTL */
    expect_row(cached, hash, "m3", "(none)");                   /* a miss is cached too */
    cm_sleep_ms(500);
    expect_row(cached, hash, "m1", "{\"category\":\"games\"}");
    expect_row(cached, hash, "m3", "7");
    proc_rtables_free(cached);
    proc_rtables_free(uncached);
    cm_redis_free(r);
}

struct lookup {
    struct proc_rtables *t;
    json_t *row;
    int done;
};

static void *look(void *arg)
{
    struct lookup *l = arg;
    l->row = proc_rtables_get(l->t, "outage", "k");
    __atomic_store_n(&l->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

Test(proc_rtable, a_lookup_waits_for_redis_instead_of_missing_the_row, .timeout = 60)
{
    int port = it_free_port();
    pid_t pid = it_start_redis(port, NULL, NULL);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    struct cm_redis *r = cm_redis_new(url);
    struct proc_rtables *t = proc_rtables_new(r, 0);
    hset(r, "outage", "k", "{\"v\":1}");
    expect_row(t, "outage", "k", "{\"v\":1}");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    struct lookup l = {t, NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, look, &l);
    cm_sleep_ms(800);
    cr_assert_not(__atomic_load_n(&l.done, __ATOMIC_SEQ_CST),
                  "the lookup decided while Redis was down");
    pid = it_start_redis(port, NULL, NULL);
    struct cm_redis *w = cm_redis_new(url);
    hset(w, "outage", "k", "{\"v\":2}");
    pthread_join(th, NULL);
    char *got = text_of(l.row);
    cr_assert_str_eq(got, "{\"v\":2}", "the row read once Redis answered");
    free(got);
    proc_rtables_free(t);
    cm_redis_free(w);
    cm_redis_free(r);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
