/* Integration tests for common/kafka_mock, the development broker's core: its brokers' listening
 * sockets, the connections they accept, and the listener of a broker taken down and brought back
 * all have TCP_NODELAY, as a real broker's do (without it an answer waited for the client's
 * delayed ACK, about 40 ms, whenever the one before it was unacknowledged). */
#include "cm/kafka_mock.h"
#include "cm/timeutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PORTS 8

/* The ports of a bootstrap list "127.0.0.1:port,...". */
static size_t bootstrap_ports(const char *bootstraps, unsigned *ports)
{
    size_t n = 0;
    for (const char *p = bootstraps; p && *p && n < MAX_PORTS;) {
        const char *colon = strchr(p, ':');
        cr_assert_not_null(colon, "bootstrap list %s", bootstraps);
        ports[n++] = (unsigned)strtoul(colon + 1, NULL, 10);
        const char *comma = strchr(p, ',');
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

struct found {
    int listeners, listeners_nodelay;
    int accepted, accepted_nodelay;
};

/* This process's TCP sockets whose local port is `port`: listening ones and accepted ones. */
static struct found sockets_on(unsigned port)
{
    struct found f = {0, 0, 0, 0};
    DIR *dir = opendir("/proc/self/fd");
    cr_assert_not_null(dir);
    for (struct dirent *e; (e = readdir(dir));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        int listening = 0, nodelay = 0;
        socklen_t len = sizeof(int);
        if (*end || end == e->d_name || fd == dirfd(dir) ||
            getsockname((int)fd, (struct sockaddr *)&a, &alen) != 0 || a.sin_family != AF_INET ||
            ntohs(a.sin_port) != port ||
            getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
            continue;
        }
        len = sizeof(int);
        cr_assert_eq(getsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
        if (listening) {
            f.listeners++;
            f.listeners_nodelay += nodelay != 0;
        } else {
            f.accepted++;
            f.accepted_nodelay += nodelay != 0;
        }
    }
    closedir(dir);
    return f;
}

static int connect_to(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

Test(kafka_mock, listeners_and_accepted_connections_have_nodelay)
{
    struct cm_kafka_mock *m = cm_kafka_mock_new(2);
    cr_assert_not_null(m);
    unsigned ports[MAX_PORTS];
    size_t n = bootstrap_ports(cm_kafka_mock_bootstraps(m), ports);
    cr_assert_eq(n, 2, "two brokers, two ports: %s", cm_kafka_mock_bootstraps(m));
    for (size_t i = 0; i < n; i++) {
        struct found f = sockets_on(ports[i]);
        cr_assert_eq(f.listeners, 1, "port %u", ports[i]);
        cr_assert_eq(f.listeners_nodelay, 1, "port %u's listener has Nagle's algorithm on",
                     ports[i]);
    }
    /* a client's connection, once the mock's thread accepted it */
    int s = connect_to(ports[0]);
    int64_t deadline = cm_monotonic_ms() + 5000;
    struct found f;
    while ((f = sockets_on(ports[0])).accepted == 0 && cm_monotonic_ms() < deadline) {
        cm_sleep_ms(2);
    }
    cr_assert_eq(f.accepted, 1, "the mock accepted the connection");
    cr_assert_eq(f.accepted_nodelay, 1, "the accepted connection has Nagle's algorithm on");
    close(s);
    cm_kafka_mock_free(m);
}

Test(kafka_mock, a_broker_brought_back_listens_with_nodelay)
{
    struct cm_kafka_mock *m = cm_kafka_mock_new(1);
    cr_assert_not_null(m);
    unsigned ports[MAX_PORTS];
    cr_assert_eq(bootstrap_ports(cm_kafka_mock_bootstraps(m), ports), 1);
    cr_assert_eq(cm_kafka_mock_broker_set_up(m, 1, 0), 0);
    cr_assert_eq(sockets_on(ports[0]).listeners, 0, "a broker down does not listen");
    cr_assert_eq(cm_kafka_mock_broker_set_up(m, 1, 1), 0);
    struct found f = sockets_on(ports[0]);
    cr_assert_eq(f.listeners, 1, "the broker listens again on its port");
    cr_assert_eq(f.listeners_nodelay, 1, "the new listener has Nagle's algorithm on");
    cm_kafka_mock_free(m);
}
