/* http_guard: connection limits, per-address limits and the request receive bound of the HTTP
 * server (see http_guard.h). */
#include "http_guard.h"

#include "cm/clientip.h"
#include "cm/hash.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define ADDR_BUCKETS 1024
#define SWEEP_MS 100
/* descriptors kept for everything but client connections: Kafka, PostgreSQL and Redis sockets,
 * epoll and signalling descriptors, files */
#define FD_RESERVE 512

struct addr_count {
    struct addr_count *next;
    unsigned n;
    char ip[INET6_ADDRSTRLEN];
};

struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    char ip[INET6_ADDRSTRLEN];   /* the socket's peer */
    int counted;                 /* holds one of ip's slots */
    char fwd[INET6_ADDRSTRLEN];  /* the forwarded client holding a slot for this request, or "" */
    _Atomic int64_t deadline_ms; /* the whole request must have arrived by then; 0: no bound */
    atomic_int upgraded;
    atomic_int nul_in_target; /* a %00 was decoded in the request target being parsed */
};

struct http_guard {
    struct http_guard_options opt;
    const struct cm_proxies *proxies;
    atomic_uint open;
    atomic_int draining;  /* the server is shutting down: new connections are closed at once */
    pthread_mutex_t lock; /* the connection list and the address table */
    struct http_conn *conns;
    struct addr_count *addrs[ADDR_BUCKETS];
    pthread_t sweeper;
    int sweeping;
    pthread_cond_t wake;
    int stop;
    struct cm_series *m_open, *m_refused_total, *m_refused_ip, *m_timeouts;
};

static void addr_text(const struct sockaddr *sa, char *out, size_t len)
{
    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    } else if (sa && sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
    }
}

static size_t bucket(const char *ip)
{
    return cm_hash64_table(ip, strlen(ip)) % ADDR_BUCKETS; /* clients choose their addresses */
}

/* Under the lock. */
static unsigned addr_get(struct http_guard *g, const char *ip)
{
    for (struct addr_count *a = g->addrs[bucket(ip)]; a; a = a->next) {
        if (strcmp(a->ip, ip) == 0) {
            return a->n;
        }
    }
    return 0;
}

/* Under the lock: takes a slot when ip has fewer than max (0: no limit); 1 taken, 0 refused. */
static int addr_take(struct http_guard *g, const char *ip, unsigned max)
{
    struct addr_count **head = &g->addrs[bucket(ip)];
    for (struct addr_count *a = *head; a; a = a->next) {
        if (strcmp(a->ip, ip) == 0) {
            if (max && a->n >= max) {
                return 0;
            }
            a->n++;
            return 1;
        }
    }
    struct addr_count *a = cm_xcalloc(1, sizeof(*a));
    snprintf(a->ip, sizeof(a->ip), "%s", ip);
    a->n = 1;
    a->next = *head;
    *head = a;
    return 1;
}

/* Under the lock. */
static void addr_release(struct http_guard *g, const char *ip)
{
    for (struct addr_count **pp = &g->addrs[bucket(ip)]; *pp; pp = &(*pp)->next) {
        struct addr_count *a = *pp;
        if (strcmp(a->ip, ip) == 0) {
            if (--a->n == 0) {
                *pp = a->next;
                free(a);
            }
            return;
        }
    }
}

struct http_guard *http_guard_new(const struct http_guard_options *opt)
{
    struct http_guard *g = cm_xcalloc(1, sizeof(*g));
    g->opt = *opt;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (opt->metrics) {
        g->m_open = cm_metric_with(
            cm_metrics_gauge(opt->metrics, "http_connections", "open HTTP connections", NULL),
            NULL);
        struct cm_metric *refused = cm_metrics_counter(
            opt->metrics, "http_connections_refused_total",
            "connections closed at once because a limit was reached (max_connections: the "
            "total; per_ip: one client address's share)",
            "reason");
        g->m_refused_total = cm_metric_with(refused, "max_connections", NULL);
        g->m_refused_ip = cm_metric_with(refused, "per_ip", NULL);
        g->m_timeouts = cm_metric_with(
            cm_metrics_counter(opt->metrics, "http_request_timeouts_total",
                               "connections closed because a whole request did not arrive "
                               "within the request timeout",
                               NULL),
            NULL);
    }
    return g;
}

void http_guard_set_proxies(struct http_guard *g, const struct cm_proxies *proxies)
{
    g->proxies = proxies;
}

static void *sweep(void *arg)
{
    struct http_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        struct timespec until;
        cm_deadline_after(SWEEP_MS, &until);
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        int64_t now = cm_monotonic_ms();
        for (struct http_conn *c = g->conns; c; c = c->next) {
            int64_t d = atomic_load(&c->deadline_ms);
            if (d == 0 || now < d || atomic_load(&c->upgraded)) {
                continue;
            }
            atomic_store(&c->deadline_ms, 0);
            if (g->m_timeouts) {
                cm_counter_inc(g->m_timeouts); /* before the client can see the close */
            }
            /* libmicrohttpd sees the end of the stream and closes the connection itself. The
             * descriptor is still the connection's: it is closed only after the close
             * notification, which takes this lock. */
            shutdown(c->fd, SHUT_RDWR);
            CM_LOG_DEBUG("http_request_timeout",
                         "closed a connection from %s: no whole request "
                         "within %u ms",
                         c->ip, g->opt.request_timeout_ms);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

unsigned http_guard_start(struct http_guard *g)
{
    unsigned extra = g->opt.max_connections / 4 + g->opt.threads * 8 + 16;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t need = (rlim_t)g->opt.max_connections + extra + FD_RESERVE;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
            rlim_t was = rl.rlim_cur;
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                rl.rlim_cur = was;
            }
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
            unsigned fit =
                rl.rlim_cur > FD_RESERVE + 64 ? (unsigned)((rl.rlim_cur - FD_RESERVE) * 4 / 5) : 32;
            CM_LOG_WARN("http_connection_limit_lowered",
                        "the open-file limit (%llu) cannot hold %u connections; serving at most "
                        "%u (raise the hard limit, e.g. ulimit -Hn)",
                        (unsigned long long)rl.rlim_cur, g->opt.max_connections, fit);
            g->opt.max_connections = fit;
            extra = fit / 4 + 16;
        }
    }
    if (g->opt.request_timeout_ms > 0 && pthread_create(&g->sweeper, NULL, sweep, g) == 0) {
        g->sweeping = 1;
    }
    return g->opt.max_connections + extra;
}

void http_guard_free(struct http_guard *g)
{
    if (!g) {
        return;
    }
    if (g->sweeping) {
        pthread_mutex_lock(&g->lock);
        g->stop = 1;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->sweeper, NULL);
    }
    for (size_t i = 0; i < ADDR_BUCKETS; i++) {
        while (g->addrs[i]) {
            struct addr_count *a = g->addrs[i];
            g->addrs[i] = a->next;
            free(a);
        }
    }
    while (g->conns) { /* connections libmicrohttpd left open (an abandoned stop) */
        struct http_conn *c = g->conns;
        g->conns = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void http_guard_drain(struct http_guard *g)
{
    atomic_store(&g->draining, 1);
}

enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct http_guard *g = cls;
    (void)addrlen;
    if (atomic_load(&g->draining)) {
        return MHD_NO;
    }
    if (atomic_load(&g->open) >= g->opt.max_connections) {
        if (g->m_refused_total) {
            cm_counter_inc(g->m_refused_total);
        }
        return MHD_NO;
    }
    if (g->opt.max_per_ip == 0) {
        return MHD_YES;
    }
    char ip[INET6_ADDRSTRLEN];
    addr_text(addr, ip, sizeof(ip));
    if (!ip[0] || cm_proxies_trusted(g->proxies, ip)) {
        return MHD_YES;
    }
    pthread_mutex_lock(&g->lock);
    unsigned n = addr_get(g, ip);
    pthread_mutex_unlock(&g->lock);
    if (n >= g->opt.max_per_ip) {
        if (g->m_refused_ip) {
            cm_counter_inc(g->m_refused_ip);
        }
        return MHD_NO;
    }
    return MHD_YES;
}

static void conn_started(struct http_guard *g, struct MHD_Connection *conn, void **socket_context)
{
    struct http_conn *c = cm_xcalloc(1, sizeof(*c));
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = fd ? fd->connect_fd : -1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    addr_text(ci ? ci->client_addr : NULL, c->ip, sizeof(c->ip));
    if (g->opt.request_timeout_ms > 0 && c->fd >= 0) {
        atomic_store(&c->deadline_ms, cm_monotonic_ms() + g->opt.request_timeout_ms);
    }
    pthread_mutex_lock(&g->lock);
    if (g->opt.max_per_ip && c->ip[0] && !cm_proxies_trusted(g->proxies, c->ip)) {
        /* accepted under the limit; threads accepting at once may pass it by a few */
        addr_take(g, c->ip, 0);
        c->counted = 1;
    }
    c->next = g->conns;
    if (g->conns) {
        g->conns->prev = c;
    }
    g->conns = c;
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&g->open, 1);
    if (g->m_open) {
        cm_gauge_add(g->m_open, 1);
    }
    *socket_context = c;
}

static void conn_closed(struct http_guard *g, void **socket_context)
{
    struct http_conn *c = *socket_context;
    if (!c) {
        return;
    }
    *socket_context = NULL;
    pthread_mutex_lock(&g->lock);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        g->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    if (c->counted) {
        addr_release(g, c->ip);
    }
    if (c->fwd[0]) {
        addr_release(g, c->fwd);
    }
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_sub(&g->open, 1);
    if (g->m_open) {
        cm_gauge_add(g->m_open, -1);
    }
    free(c);
}

void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct http_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_started(g, conn, socket_context);
    } else {
        conn_closed(g, socket_context);
    }
}

struct http_conn *http_guard_conn(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

int http_guard_request_begin(struct http_guard *g, struct http_conn *c, const char *client_ip)
{
    if (!c || g->opt.max_per_ip == 0 || !client_ip || !client_ip[0] ||
        strcmp(client_ip, c->ip) == 0) {
        return 0; /* a direct client: limited per connection at accept time */
    }
    pthread_mutex_lock(&g->lock);
    int ok = addr_take(g, client_ip, g->opt.max_per_ip);
    if (ok) {
        snprintf(c->fwd, sizeof(c->fwd), "%s", client_ip);
    }
    pthread_mutex_unlock(&g->lock);
    if (!ok && g->m_refused_ip) {
        cm_counter_inc(g->m_refused_ip);
    }
    return ok ? 0 : -1;
}

void http_guard_request_received(struct http_conn *c)
{
    if (c) {
        atomic_store(&c->deadline_ms, 0);
    }
}

size_t http_guard_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    size_t n = MHD_http_unescape(s);
    if (strlen(s) != n) {
        struct http_conn *c = http_guard_conn(conn);
        if (c) {
            atomic_store(&c->nul_in_target, 1);
        }
    }
    return n;
}

int http_guard_take_nul(struct http_conn *c)
{
    return c ? atomic_exchange(&c->nul_in_target, 0) : 0;
}

void http_guard_request_end(struct http_guard *g, struct http_conn *c)
{
    if (!c) {
        return;
    }
    if (c->fwd[0]) {
        pthread_mutex_lock(&g->lock);
        addr_release(g, c->fwd);
        c->fwd[0] = '\0';
        pthread_mutex_unlock(&g->lock);
    }
    if (g->opt.request_timeout_ms > 0 && c->fd >= 0 && !atomic_load(&c->upgraded)) {
        atomic_store(&c->deadline_ms, cm_monotonic_ms() + g->opt.request_timeout_ms);
    }
}

void http_guard_upgraded(struct http_conn *c)
{
    if (c) {
        atomic_store(&c->upgraded, 1);
        atomic_store(&c->deadline_ms, 0);
    }
}
