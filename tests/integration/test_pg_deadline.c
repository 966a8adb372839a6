/* Integration tests for the deadlines of cm_pg (each connection attempt and each statement) and
 * of cm_pg_probe, the readiness check of PostgreSQL, against the harness's PostgreSQL through a
 * proxy of this test that can stop passing bytes on (a server that is stopped, as with SIGSTOP,
 * or hung): a statement, a statement too large to send at once and a connection attempt each
 * fail within the deadline, naming what they waited for; calls right after a failure fail at
 * once; it works again once the server answers; migrations have no statement deadline; a pool
 * whose connection found the server not answering tries no other (a transaction under way goes
 * on) until its cool-down ends. The
 * probe: a check while another waits answers at once. Before, a /readyz over a hung server held
 * its HTTP thread until the server came back, and enough requests to the registry stopped its
 * /metrics too. */
#include "harness.h"

#include "cm/err.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A TCP proxy to PostgreSQL: each accepted connection is passed on to the server, both ways,
 * until `frozen` is set (then bytes stay where they are) or either side closes. */
struct proxy {
    int listen_fd, port, target_port;
    atomic_int frozen, stop;
    pthread_t thread;
};

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct pair {
    struct proxy *p;
    int a, b;
};

static void *pass_on(void *arg)
{
    struct pair *c = arg;
    char buf[8192];
    while (!atomic_load(&c->p->stop)) {
        if (atomic_load(&c->p->frozen)) {
            cm_sleep_ms(10);
            continue;
        }
        struct pollfd fds[2] = {{c->a, POLLIN, 0}, {c->b, POLLIN, 0}};
        if (poll(fds, 2, 50) <= 0) {
            continue;
        }
        int closed = 0;
        for (int i = 0; i < 2 && !closed; i++) {
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = read(fds[i].fd, buf, sizeof(buf));
                closed = n <= 0 || write(fds[1 - i].fd, buf, (size_t)n) != n;
            }
        }
        if (closed) {
            break;
        }
    }
    close(c->a);
    close(c->b);
    free(c);
    return NULL;
}

static void *accepting(void *arg)
{
    struct proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd fd = {p->listen_fd, POLLIN, 0};
        if (poll(&fd, 1, 50) <= 0) {
            continue;
        }
        int a = accept(p->listen_fd, NULL, NULL);
        int b = a >= 0 ? connect_to(p->target_port) : -1;
        if (b < 0) {
            if (a >= 0) {
                close(a);
            }
            continue;
        }
        struct pair *c = malloc(sizeof(*c));
        *c = (struct pair){p, a, b};
        pthread_t t;
        pthread_create(&t, NULL, pass_on, c);
        pthread_detach(t);
    }
    return NULL;
}

static void proxy_start(struct proxy *p, int target_port)
{
    memset(p, 0, sizeof(*p));
    p->target_port = target_port;
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(p->listen_fd, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(p->listen_fd, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    pthread_create(&p->thread, NULL, accepting, p);
}

static void proxy_stop(struct proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
}

/* One check, its duration in *ms. */
static int timed_check(struct cm_pg_probe *probe, char *why, size_t len, int64_t *ms)
{
    int64_t t0 = cm_monotonic_ms();
    int rc = cm_pg_probe_check(probe, why, len);
    *ms = cm_monotonic_ms() - t0;
    return rc;
}

struct bg {
    struct cm_pg_probe *probe;
    int rc;
    char why[256];
};

static void *check_in_background(void *arg)
{
    struct bg *b = arg;
    b->rc = cm_pg_probe_check(b->probe, b->why, sizeof(b->why));
    return NULL;
}

static int answers(void *ud)
{
    char why[256];
    return cm_pg_probe_check(ud, why, sizeof(why)) == 0;
}

Test(pg_deadline, a_probe_over_a_server_that_stops_answering, .timeout = 60)
{
    struct proxy px;
    proxy_start(&px, atoi(it_env("PG_PORT")));
    char url[160], why[256];
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/postgres?connect_timeout=30",
             px.port);
    struct cm_pg_probe *probe = cm_pg_probe_new(url, 1000);
    int64_t ms;
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), 0, "%s", why);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), 0, "%s", why);

    /* connected, then the server stops answering: the query waits its deadline */
    atomic_store(&px.frozen, 1);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "no answer within 1000 ms to a statement");
    cr_assert(ms >= 950 && ms < 3000, "the check took %lld ms", (long long)ms);
    /* right after: the same answer at once */
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "no answer within 1000 ms to a statement");
    cr_assert_lt(ms, 100, "%lld ms", (long long)ms);

    /* after the backoff it connects again, and the server does not answer that either */
    cm_sleep_ms(300);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "no answer within 1000 ms while connecting");
    cr_assert(ms >= 950 && ms < 3000, "the check took %lld ms", (long long)ms);

    /* a check while another waits answers at once */
    cm_sleep_ms(500);
    struct bg b = {.probe = probe};
    pthread_t t;
    pthread_create(&t, NULL, check_in_background, &b);
    cm_sleep_ms(150);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "the check before this one is still waiting for an answer");
    cr_assert_lt(ms, 100, "%lld ms", (long long)ms);
    pthread_join(t, NULL);
    cr_assert_eq(b.rc, CM_E_UNAVAIL);

    /* the server answers again: so does the check, within the backoff's longest wait */
    atomic_store(&px.frozen, 0);
    cr_assert(it_wait_until(10000, answers, probe), "the check answers again");
    cm_pg_probe_free(probe);
    proxy_stop(&px);
}

Test(pg_deadline, a_probe_names_a_refused_connection_and_a_bad_database)
{
    char why[256];
    struct cm_pg_probe *probe =
        cm_pg_probe_new("postgresql://postgres@127.0.0.1:1/postgres", CM_PG_READY_TIMEOUT_MS);
    cr_assert_eq(cm_pg_probe_check(probe, why, sizeof(why)), CM_E_UNAVAIL);
    cr_assert(strstr(why, "port 1 failed") != NULL, "%s", why);
    cm_pg_probe_free(probe);
    char url[160];
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%s/no_such_database_here",
             it_env("PG_PORT"));
    probe = cm_pg_probe_new(url, CM_PG_READY_TIMEOUT_MS);
    cr_assert_eq(cm_pg_probe_check(probe, why, sizeof(why)), CM_E_UNAVAIL);
    cr_assert(strstr(why, "no_such_database_here") != NULL, "%s", why);
    cm_pg_probe_free(probe);
}

static int runs(void *ud)
{
    return cm_pg_exec(ud, "SELECT 1", 0, NULL, NULL, NULL) == 0;
}

Test(pg_deadline, statements_and_connecting_over_a_server_that_stops_answering, .timeout = 60)
{
    struct proxy px;
    proxy_start(&px, atoi(it_env("PG_PORT")));
    char url[160];
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/postgres", px.port);
    struct cm_pg *pg = cm_pg_new_timeout(url, 1000);
    struct cm_pg_error err;
    cr_assert_eq(cm_pg_exec(pg, "SELECT 1", 0, NULL, NULL, &err), 0, "%s", err.message);

    atomic_store(&px.frozen, 1);
    int64_t t0 = cm_monotonic_ms();
    cr_assert_eq(cm_pg_exec(pg, "SELECT 1", 0, NULL, NULL, &err), CM_E_UNAVAIL);
    int64_t ms = cm_monotonic_ms() - t0;
    cr_assert_str_eq(err.message, "no answer within 1000 ms to a statement");
    cr_assert(ms >= 950 && ms < 3000, "the statement took %lld ms", (long long)ms);
    t0 = cm_monotonic_ms();
    cr_assert_eq(cm_pg_exec(pg, "SELECT 1", 0, NULL, NULL, &err), CM_E_UNAVAIL);
    cr_assert_lt(cm_monotonic_ms() - t0, 100, "right after, at once");

    /* connecting again: the server does not answer that either */
    cm_sleep_ms(300);
    t0 = cm_monotonic_ms();
    cr_assert_eq(cm_pg_exec(pg, "SELECT 1", 0, NULL, NULL, &err), CM_E_UNAVAIL);
    ms = cm_monotonic_ms() - t0;
    cr_assert_str_eq(err.message, "no answer within 1000 ms while connecting");
    cr_assert(ms >= 950 && ms < 3000, "connecting took %lld ms", (long long)ms);

    /* answered again: connected again */
    atomic_store(&px.frozen, 0);
    cr_assert(it_wait_until(10000, runs, pg), "statements run again");

    /* a statement larger than the socket buffers (loopback's at most 4 MiB to send and 6 MiB
     * to receive): the send itself waits for the server. A deadline of its own: 16 MiB through
     * this proxy can take longer than 1 s on a loaded machine. */
    struct cm_pg *pg2 = cm_pg_new_timeout(url, 3000);
    size_t big = 16u << 20;
    char *param = malloc(big + 1);
    memset(param, 'x', big);
    param[big] = '\0';
    const char *params[] = {param};
    struct cm_pg_result *res = NULL;
    cr_assert_eq(cm_pg_exec(pg2, "SELECT length($1)", 1, params, &res, &err), 0, "%s", err.message);
    cr_assert_str_eq(cm_pg_value(res, 0, 0), "16777216");
    cm_pg_result_free(res);
    atomic_store(&px.frozen, 1);
    t0 = cm_monotonic_ms();
    int rc = cm_pg_exec(pg2, "SELECT length($1)", 1, params, &res, &err);
    ms = cm_monotonic_ms() - t0;
    free(param);
    atomic_store(&px.frozen, 0);
    cr_assert_eq(rc, CM_E_UNAVAIL);
    cr_assert_str_eq(err.message, "no answer within 3000 ms to a statement (sending)");
    cr_assert(ms >= 2900 && ms < 6000, "the statement took %lld ms", (long long)ms);
    cm_pg_free(pg2);
    cr_assert(it_wait_until(10000, runs, pg), "statements run again");

    /* a migration step longer than the deadline is not cut short */
    char component[64];
    it_unique(component, sizeof(component), "slow-migration");
    static const char *const steps[] = {"SELECT pg_sleep(2)"};
    cr_assert_eq(cm_pg_migrate(pg, component, steps, 1), 0);
    cr_assert_eq(cm_pg_exec(pg, "SELECT pg_sleep(2)", 0, NULL, NULL, &err), CM_E_UNAVAIL,
                 "after the migration the deadline holds again");
    cm_pg_free(pg);
    proxy_stop(&px);
}

Test(pg_deadline, a_pool_stops_trying_once_the_server_does_not_answer, .timeout = 60)
{
    struct proxy px;
    proxy_start(&px, atoi(it_env("PG_PORT")));
    char url[160];
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/postgres", px.port);
    struct cm_pg_pool *pool = cm_pg_pool_new_timeout(url, 3, 1000);
    struct cm_pg *a = cm_pg_pool_acquire(pool, 1000), *b = cm_pg_pool_acquire(pool, 1000),
                 *c = cm_pg_pool_acquire(pool, 1000);
    cr_assert(a && b && c);
    struct cm_pg_error err;
    cr_assert_eq(cm_pg_exec(b, "SELECT 1", 0, NULL, NULL, &err), 0, "%s", err.message);
    cr_assert_eq(cm_pg_exec(c, "BEGIN", 0, NULL, NULL, &err), 0, "%s", err.message);

    /* one connection pays the deadline; another connection is then not tried */
    atomic_store(&px.frozen, 1);
    cr_assert_eq(cm_pg_exec(a, "SELECT 1", 0, NULL, NULL, &err), CM_E_UNAVAIL);
    cr_assert_str_eq(err.message, "no answer within 1000 ms to a statement");
    atomic_store(&px.frozen, 0);
    int64_t t0 = cm_monotonic_ms();
    cr_assert_eq(cm_pg_exec(b, "SELECT 1", 0, NULL, NULL, &err), CM_E_UNAVAIL);
    cr_assert_lt(cm_monotonic_ms() - t0, 100);
    cr_assert_str_eq(err.message, "not tried: PostgreSQL did not answer this pool's last attempt");
    /* a transaction under way goes on, and can finish */
    cr_assert_eq(cm_pg_exec(c, "SELECT 1", 0, NULL, NULL, &err), 0, "%s", err.message);
    cr_assert_eq(cm_pg_exec(c, "ROLLBACK", 0, NULL, NULL, &err), 0, "%s", err.message);
    /* after the cool-down a trial goes through, and the pool works again */
    cr_assert(it_wait_until(10000, runs, b), "statements run again");
    cr_assert_eq(cm_pg_exec(c, "SELECT 1", 0, NULL, NULL, &err), 0, "%s", err.message);
    cm_pg_pool_release(pool, a);
    cm_pg_pool_release(pool, b);
    cm_pg_pool_release(pool, c);
    cm_pg_pool_free(pool);
    proxy_stop(&px);
}
