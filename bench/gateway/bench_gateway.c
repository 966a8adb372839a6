/* bench-gateway: load generator for bench/gateway/run.sh (the two figures wrk cannot give) and
 * bench/stack/run.sh.
 *   bench-gateway paced <port> <token> <events/s> <connections> <seconds> <event-json>
 *     POSTs single events over keep-alive connections at a fixed total rate (open loop: each
 *     request has a scheduled send time, and its latency is measured from that time, so a slow
 *     answer delays the next request's clock instead of hiding it: no coordinated omission).
 *   bench-gateway ws <port> <token> <connections> <window> <seconds> <event-json>
 *     WebSocket ingest: each connection keeps <window> messages awaiting their ack and sends one
 *     more per ack; latency is send to ack.
 * Prints "BENCH <prefix>_events_per_sec", "_events_accepted", "_p50", "_p99" lines (a JSON array as
 * the event is a batch: each answer counts its events), and the count of non-2xx answers on stderr.
 */
#include "cm/mem.h"
#include "cm/timeutil.h"
#include "cm/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct worker {
    pthread_t thread;
    unsigned port;
    const char *token;
    const char *event;
    double interval_ns; /* paced: time between two sends of this connection */
    int64_t start_ns, end_ns;
    unsigned window; /* ws */
    double *lat_ms;
    size_t nlat, cap;
    long ok, bad;
};

static atomic_int failures;

static void record(struct worker *w, double ms)
{
    if (w->nlat == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat_ms = cm_xrealloc(w->lat_ms, w->cap * sizeof(*w->lat_ms));
    }
    w->lat_ms[w->nlat++] = ms;
}

static void sleep_until_ns(int64_t t)
{
    for (;;) {
        int64_t left = t - cm_monotonic_ns();
        if (left <= 0) {
            return;
        }
        struct timespec ts = {left / 1000000000LL, left % 1000000000LL};
        nanosleep(&ts, NULL);
    }
}

static int connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Reads one HTTP response; returns its status or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            return -1;
        }
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) {
            continue;
        }
        const char *cl = strstr(buf, "Content-Length:");
        if (!cl) {
            cl = strstr(buf, "content-length:");
        }
        size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if ((size_t)(end + 4 - buf) + body <= n) {
            int status = 0;
            sscanf(buf, "HTTP/1.1 %d", &status);
            return status;
        }
    }
}

static void *paced_main(void *arg)
{
    struct worker *w = arg;
    int fd = connect_port(w->port);
    if (fd < 0) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    char *req =
        cm_xasprintf("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                     "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     w->token, strlen(w->event), w->event);
    size_t len = strlen(req);
    char buf[8192];
    for (long i = 0;; i++) {
        int64_t due = w->start_ns + (int64_t)((double)i * w->interval_ns);
        if (due >= w->end_ns) {
            break;
        }
        sleep_until_ns(due);
        if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
            atomic_fetch_add(&failures, 1);
            break;
        }
        int status = read_response(fd, buf, sizeof(buf));
        if (status < 0) {
            atomic_fetch_add(&failures, 1);
            break;
        }
        record(w, (double)(cm_monotonic_ns() - due) / 1e6);
        if (status == 202) {
            w->ok++;
        } else {
            w->bad++;
        }
    }
    free(req);
    close(fd);
    return NULL;
}

/* The number after the last occurrence of key in an ack: the gateway writes "seq" and the
 * message's "status" after any per-event results, so the last ones are the ack's own (parsing
 * the whole ack would cost the load generator more than the server). -1 when absent. */
static long last_number(const char *msg, const char *key)
{
    const char *at = NULL;
    for (const char *p = strstr(msg, key); p; p = strstr(p + 1, key)) {
        at = p;
    }
    return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

static void *ws_main(void *arg)
{
    struct worker *w = arg;
    char hdr[4096], err[512];
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", w->token);
    int status;
    struct cm_ws_client *c = cm_ws_client_connect("127.0.0.1", w->port, "/events/ws", hdr, 10000,
                                                  &status, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "bench-gateway: handshake: %d %s\n", status, err);
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    size_t len = strlen(w->event);
    enum { RING = 1 << 16 }; /* send times by message number; acks may come out of order */
    int64_t *sent = cm_xcalloc(RING, sizeof(*sent));
    long seq = 0, acked = 0;
    for (; seq < (long)w->window; seq++) {
        sent[seq % RING] = cm_monotonic_ns();
        cm_ws_client_send(c, 1, w->event, len);
    }
    while (acked < seq) {
        char *msg;
        size_t mlen;
        uint16_t code;
        if (cm_ws_client_recv(c, 10000, &msg, &mlen, &code) != 1) {
            atomic_fetch_add(&failures, 1);
            break;
        }
        long s = last_number(msg, "\"seq\":");
        int st = (int)last_number(msg, "\"status\":");
        free(msg);
        acked++;
        int64_t now = cm_monotonic_ns();
        if (s >= 1) {
            record(w, (double)(now - sent[(s - 1) % RING]) / 1e6);
        }
        if (st == 202 || st == 207) {
            w->ok++;
        } else {
            w->bad++;
        }
        if (now < w->end_ns) {
            sent[seq % RING] = now;
            seq++;
            if (cm_ws_client_send(c, 1, w->event, len) != 0) {
                atomic_fetch_add(&failures, 1);
                break;
            }
        }
    }
    free(sent);
    cm_ws_client_close(c, CM_WS_NORMAL, 2000);
    cm_ws_client_free(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench-gateway paced <port> <token> <events/s> <connections> <seconds> "
                    "<event-json> <prefix>\n"
                    "       bench-gateway ws <port> <token> <connections> <window> <seconds> "
                    "<event-json> <prefix>\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        return usage();
    }
    int paced = strcmp(argv[1], "paced") == 0;
    if (!paced && strcmp(argv[1], "ws") != 0) {
        return usage();
    }
    unsigned port = (unsigned)atoi(argv[2]);
    const char *token = argv[3];
    double rate = paced ? atof(argv[4]) : 0;
    unsigned conns = (unsigned)atoi(argv[paced ? 5 : 4]);
    unsigned window = paced ? 0 : (unsigned)atoi(argv[5]);
    double secs = atof(argv[6]);
    const char *event = argv[7], *prefix = argv[8];
    if (!port || !conns || secs <= 0 || (paced && rate <= 0) || (!paced && !window)) {
        return usage();
    }
    struct worker *w = cm_xcalloc(conns, sizeof(*w));
    int64_t start = cm_monotonic_ns() + 100 * 1000000LL;
    int64_t end = start + (int64_t)(secs * 1e9);
    for (unsigned i = 0; i < conns; i++) {
        w[i].port = port;
        w[i].token = token;
        w[i].event = event;
        w[i].window = window;
        w[i].interval_ns = paced ? 1e9 * conns / rate : 0;
        /* spread the connections' clocks over one interval */
        w[i].start_ns = start + (int64_t)(w[i].interval_ns * i / conns);
        w[i].end_ns = end;
        pthread_create(&w[i].thread, NULL, paced ? paced_main : ws_main, &w[i]);
    }
    size_t total = 0;
    long ok = 0, bad = 0;
    for (unsigned i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].nlat;
        ok += w[i].ok;
        bad += w[i].bad;
    }
    double elapsed = (double)(cm_monotonic_ns() - start) / 1e9;
    double *all = cm_xmalloc((total ? total : 1) * sizeof(*all));
    size_t k = 0;
    for (unsigned i = 0; i < conns; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].nlat * sizeof(*all));
        k += w[i].nlat;
        free(w[i].lat_ms);
    }
    qsort(all, total, sizeof(*all), cmp_double);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[total * 99 / 100] : 0;
    /* a message holding a JSON array is a batch: count its events */
    json_t *doc = json_loads(event, 0, NULL);
    size_t per_message = json_is_array(doc) ? json_array_size(doc) : 1;
    json_decref(doc);
    printf("BENCH %s_events_per_sec %.0f events/s\n", prefix,
           (double)ok * (double)per_message / elapsed);
    printf("BENCH %s_events_accepted %.0f events\n", prefix, (double)ok * (double)per_message);
    printf("BENCH %s_p50 %.3f ms\n", prefix, p50);
    printf("BENCH %s_p99 %.3f ms\n", prefix, p99);
    if (bad || atomic_load(&failures)) {
        fprintf(stderr, "bench-gateway: %ld answers were not 202, %d connections failed\n", bad,
                atomic_load(&failures));
    }
    free(all);
    free(w);
    return atomic_load(&failures) ? 1 : 0;
}
