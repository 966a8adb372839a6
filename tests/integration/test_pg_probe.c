/* Integration tests for cm_pg_probe, the readiness check of PostgreSQL, against the harness's
 * PostgreSQL through a proxy of this test that can stop passing bytes on (a server that is
 * stopped, as with SIGSTOP, or hung): the check answers within its deadline, naming what it
 * waited for, while connecting and during the query; checks right after a failure answer at once;
 * a check while another waits answers at once; and the check comes back once the server
 * answers again. Before, a /readyz over a hung server held its HTTP thread until the server
 * came back, and enough of them stopped the daemon's /metrics too. */
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

Test(pg_probe, a_server_that_stops_answering_costs_a_check_its_deadline, .timeout = 60)
{
    struct proxy px;
    proxy_start(&px, atoi(it_env("PG_PORT")));
    char url[160], why[256];
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/postgres?connect_timeout=30",
             px.port);
    struct cm_pg_probe *probe = cm_pg_probe_new(url, 500);
    int64_t ms;
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), 0, "%s", why);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), 0, "%s", why);

    /* connected, then the server stops answering: the query waits its deadline */
    atomic_store(&px.frozen, 1);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "no answer within 500 ms (SELECT 1)");
    cr_assert(ms >= 450 && ms < 2000, "the check took %lld ms", (long long)ms);
    /* right after: the same answer at once */
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "no answer within 500 ms (SELECT 1)");
    cr_assert_lt(ms, 100, "%lld ms", (long long)ms);

    /* after the backoff it connects again, and the server does not answer that either */
    cm_sleep_ms(300);
    cr_assert_eq(timed_check(probe, why, sizeof(why), &ms), CM_E_UNAVAIL);
    cr_assert_str_eq(why, "no answer within 500 ms (connecting)");
    cr_assert(ms >= 450 && ms < 2000, "the check took %lld ms", (long long)ms);

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

Test(pg_probe, a_refused_connection_and_a_bad_database_name_what_failed)
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
