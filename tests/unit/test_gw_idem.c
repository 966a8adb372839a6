/* Unit tests for the gateway's idempotency keys (gw_idem) while Redis cannot answer: every event
 * goes through unguarded, each is counted, and the warning comes once a second at most (one line
 * for a whole batch, not one per event). Redis is a loopback port nothing listens on. */
#include "../../services/gateway/gw_idem.h"

#include "cm/log.h"
#include "cm/metrics.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port that refuses connections: bound to pick it, closed without listening. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The value of a series without labels (its line, not the HELP line naming it). */
static double counter(struct cm_metrics *m, const char *name)
{
    char *text = cm_metrics_render(m), want[128];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(text, want);
    cr_assert_not_null(at, "%s not in\n%s", name, text);
    double v = strtod(at + strlen(want), NULL);
    free(text);
    return v;
}

/* The idempotency_unavailable lines written so far (the Redis client logs its own too), the
 * last one's msg into msg. */
static int warnings(int fd, char *msg, size_t len)
{
    static char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int found = 0;
    for (char *line = buf, *end; n > 0 && line < buf + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(buf + n - line));
        cr_assert_not_null(end, "a whole line");
        *end = '\0';
        json_t *v = json_loads(line, 0, NULL);
        cr_assert_not_null(v, "%s", line);
        if (strcmp(json_string_value(json_object_get(v, "event")), "idempotency_unavailable") ==
            0) {
            snprintf(msg, len, "%s", json_string_value(json_object_get(v, "msg")));
            found++;
        }
        json_decref(v);
    }
    return found;
}

static void claim(struct gw_idem *g, size_t n, char keys[][48], struct gw_idem_claim *claims)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], 48, "acme:ev:/shop:o-%zu", i);
        claims[i] = (struct gw_idem_claim){.key = keys[i], .hash = "00ff"};
    }
    gw_idem_begin(g, claims, n);
}

Test(gw_idem, without_redis_events_go_through_counted_and_logged_once_a_second)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    cm_log_init("gateway");
    cm_log_set_fd(fds[1]);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", closed_port());
    struct cm_metrics *m = cm_metrics_new("gateway_");
    struct gw_idem *g = gw_idem_new(url, 1, 60000, m);
    cr_assert_not_null(g);

    char keys[5][48];
    struct gw_idem_claim claims[5];
    claim(g, 5, keys, claims);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(claims[i].state, GW_IDEM_UNAVAILABLE, "claim %zu", i);
    }
    cr_assert_eq(counter(m, "gateway_idempotency_unguarded_total"), 5);
    char msg[512];
    cr_assert_eq(warnings(fds[0], msg, sizeof(msg)), 1, "one line for the batch, not per event");
    cr_assert(strstr(msg, "5 events go through unguarded (the first acme:ev:/shop:o-0)"), "%s",
              msg);

    /* a second batch within the second: counted, not logged */
    claim(g, 3, keys, claims);
    cr_assert_eq(claims[2].state, GW_IDEM_UNAVAILABLE);
    cr_assert_eq(counter(m, "gateway_idempotency_unguarded_total"), 8);
    cr_assert_eq(warnings(fds[0], msg, sizeof(msg)), 0, "no second line within a second");
    for (size_t i = 0; i < 3; i++) {
        claims[i].accepted = 1;
        claims[i].id = "id";
    }
    gw_idem_finish(g, claims, 3); /* no Redis: nothing to record, nothing fails */

    gw_idem_free(g);
    cm_metrics_free(m);
    cm_log_set_fd(STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
}
