/* harness: see harness.h. */
#include "harness.h"

#include "cm/kafka.h"
#include "cm/kafka_mock.h"
#include "cm/metrics.h"

#include "cm/timeutil.h"
#include "cm/uuid.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *it_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run integration tests through tests/integration/run.sh",
              name);
    return v;
}

void it_unique(char *buf, size_t len, const char *prefix)
{
    static unsigned counter;
    unsigned r;
    cm_random_bytes(&r, sizeof(r));
    snprintf(buf, len, "%s-%d-%u-%08x", prefix, (int)getpid(), counter++, r);
}

int it_wait_until(int timeout_ms, int (*cond)(void *ud), void *ud)
{
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    int r;
    while (!(r = cond(ud)) && cm_monotonic_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return r;
}

int it_topic_has(const char *brokers, const char *topic, const char *id)
{
    char group[96];
    it_unique(group, sizeof(group), "ithas");
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c = cm_kafka_consumer_new(brokers, group, topics, 1, NULL);
    int found = 0;
    for (int i = 0; i < 300 && !found; i++) {
        struct cm_kafka_msg *m = cm_kafka_consumer_poll(c, 100);
        char hv[512]; /* an id may have 256 bytes */
        if (m && cm_kafka_msg_header(m, "ce_id", hv, sizeof(hv)) == 0 && strcmp(hv, id) == 0) {
            found = 1;
        }
        cm_kafka_msg_free(m);
    }
    cm_kafka_consumer_free(c);
    return found;
}

int it_topic_ids_seen(const char *brokers, const char *topic, const char *marker,
                      const char *const *ids, size_t n)
{
    char group[96];
    it_unique(group, sizeof(group), "itseen");
    const char *topics[] = {topic};
    struct cm_kafka_consumer *c = cm_kafka_consumer_new(brokers, group, topics, 1, NULL);
    int seen = 0, marked = 0, quiet = 0;
    for (int i = 0; i < 300 && quiet < 10; i++) {
        struct cm_kafka_msg *m = cm_kafka_consumer_poll(c, 100);
        char hv[512]; /* an id may have 256 bytes */
        if (m && cm_kafka_msg_header(m, "ce_id", hv, sizeof(hv)) == 0) {
            marked |= strcmp(hv, marker) == 0;
            for (size_t k = 0; k < n; k++) {
                seen += strcmp(hv, ids[k]) == 0;
            }
        }
        quiet = m || !marked ? 0 : quiet + 1;
        cm_kafka_msg_free(m);
    }
    cm_kafka_consumer_free(c);
    return marked ? seen : -1;
}

size_t it_curl_append(char *p, size_t size, size_t n, void *ud)
{
    char *buf = ud;
    size_t k = size * n, cur = strlen(buf);
    if (cur + k < 4000) {
        memcpy(buf + cur, p, k);
        buf[cur + k] = '\0';
    }
    return k;
}

size_t it_curl_collect(char *p, size_t size, size_t n, void *ud)
{
    struct it_buf *b = ud;
    size_t k = size * n;
    if (b->len + k < b->cap) {
        memcpy(b->p + b->len, p, k);
        b->len += k;
        b->p[b->len] = '\0';
    }
    return k;
}

void it_request(unsigned port, const char *method, const char *path, const char *ctype,
                const char *const *headers, const char *body, size_t len, struct it_resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[512], line[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_curl_append);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* (no SIGALRM: tests call it from threads too) */
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* A port handed out is reserved across the processes of the machine for PORT_HOLD_S: the tests
 * run in parallel, each picks its ports before it starts what binds them, and a port free when
 * one test looked could otherwise be handed to another before the first bound it. A reservation
 * is a directory per port under PORT_DIR, made atomically (scripts/stack-lib.sh keeps the same
 * ones); one older than PORT_HOLD_S may be taken again. */
#define PORT_DIR "/tmp/cm-ports"
#define PORT_HOLD_S 900

static int port_reserve(int port)
{
    char path[64];
    snprintf(path, sizeof(path), PORT_DIR "/%d", port);
    if (mkdir(PORT_DIR, 0777) == 0) {
        (void)chmod(PORT_DIR, 01777);
    }
    if (mkdir(path, 0700) == 0) {
        return 1;
    }
    if (errno != EEXIST) {
        return 1; /* no reservations here (PORT_DIR not writable, say): the port as it is */
    }
    struct stat st;
    if (stat(path, &st) != 0 || time(NULL) - st.st_mtime < PORT_HOLD_S) {
        return 0;
    }
    /* a stale reservation: taken again, or, another user's (not ours to remove), used as it is */
    if (rmdir(path) != 0 && errno != ENOENT) {
        return 1;
    }
    return mkdir(path, 0700) == 0;
}

int it_free_port(void)
{
    for (;;) {
        unsigned r;
        cm_random_bytes(&r, sizeof(r));
        int port = 10000 + (int)(r % 22000);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(s);
        if (ok && port_reserve(port)) {
            return port;
        }
    }
}

int it_start_redis(int port, const char *dir, const char *const *extra)
{
    char p[16], log[512];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(log, sizeof(log), "%s", ""); /* its standard output, kept by it_spawn_redis */
    if (dir) {
        snprintf(log, sizeof(log), "%s/redis.log", dir);
    }
    dir = dir ? dir : "/tmp";
    const char *fixed[] = {"redis-server",
                           "--port",
                           p,
                           "--bind",
                           "127.0.0.1",
                           "--dir",
                           dir,
                           "--save",
                           "",
                           "--logfile",
                           log,
                           "--appendonly",
                           "no",
                           "--daemonize",
                           "no"};
    size_t nf = sizeof(fixed) / sizeof(fixed[0]), ne = 0;
    while (extra && extra[ne]) {
        ne++;
    }
    const char **argv = calloc(nf + ne + 1, sizeof(*argv));
    cr_assert_not_null(argv);
    memcpy(argv, fixed, sizeof(fixed));
    for (size_t i = 0; i < ne; i++) {
        argv[nf + i] = extra[i];
    }
    pid_t pid = it_spawn_redis(argv, port, log);
    free(argv);
    return pid;
}

int it_start_sentinel(int port, const char *dir, const char *name, int master_port,
                      const char *auth_pass, const char *own_pass)
{
    char conf[512], log[512];
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", dir);
    snprintf(log, sizeof(log), "%s/sentinel.log", dir);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f, "%s", conf);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
            "sentinel monitor %s 127.0.0.1 %d 1\n"
            "sentinel down-after-milliseconds %s 3000\n"
            "sentinel failover-timeout %s 10000\n",
            port, dir, log, name, master_port, name, name);
    if (auth_pass) {
        fprintf(f, "sentinel auth-pass %s %s\n", name, auth_pass);
    }
    if (own_pass) {
        fprintf(f, "requirepass %s\n", own_pass);
    }
    fclose(f);
    const char *argv[] = {"redis-server", conf, "--sentinel", NULL};
    return it_spawn_redis(argv, port, log);
}

/* The last bytes (at most len - 1) of the file open as fd, or of the file at path when fd < 0,
 * into out, each line break made a space. */
static void file_tail(int fd, const char *path, char *out, size_t len)
{
    out[0] = '\0';
    int own = fd < 0 && path && path[0] ? open(path, O_RDONLY) : -1;
    int f = fd >= 0 ? fd : own;
    struct stat st;
    if (f >= 0 && fstat(f, &st) == 0) {
        off_t from = st.st_size > (off_t)(len - 1) ? st.st_size - (off_t)(len - 1) : 0;
        ssize_t n = pread(f, out, len - 1, from);
        out[n > 0 ? n : 0] = '\0';
        for (char *c = out; *c; c++) {
            *c = *c == '\n' ? ' ' : *c;
        }
    }
    if (own >= 0) {
        close(own);
    }
}

int it_spawn_redis(const char *const *argv, int port, const char *log)
{
    /* what it writes to its standard output and error, for the message if it does not start */
    char tmpl[] = "/tmp/it-redis-out.XXXXXX";
    int out = mkstemp(tmpl);
    cr_assert_geq(out, 0, "mkstemp: %s", strerror(errno));
    unlink(tmpl);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* it goes with the test: a failed assertion ends the test before its own kill */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        close(out);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    int64_t deadline = cm_monotonic_ms() + 10000;
    for (;;) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        char pong[8] = "";
        int up = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                 write(s, "PING\r\n", 6) == 6 && read(s, pong, 5) == 5;
        close(s);
        if (up && (pong[0] == '+' || pong[0] == '-')) { /* PONG, or NOAUTH: it answers */
            close(out);
            return pid;
        }
        int status = 0;
        int gone = waitpid(pid, &status, WNOHANG) == pid;
        if (gone || cm_monotonic_ms() >= deadline) {
            char said[600], logged[600];
            file_tail(out, NULL, said, sizeof(said));
            file_tail(-1, log, logged, sizeof(logged));
            close(out);
            cr_assert_fail("redis-server on %d %s (exit status %d); its output: %s%s%s%s%s", port,
                           gone ? "exited" : "did not answer within 10 s",
                           gone && WIFEXITED(status) ? WEXITSTATUS(status) : -1, said,
                           log && log[0] ? "; its log " : "", log && log[0] ? log : "",
                           log && log[0] ? ": " : "", logged);
        }
        cm_sleep_ms(20);
    }
}

void it_kill_and_remove(int *pid, const char *dir)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir ? dir : "");
    if (dir && dir[0] && system(cmd) != 0) {
        cr_log_warn("could not remove %s", dir);
    }
}

void *it_redis_vraw(int port, const char *password, int db, const char *fmt, va_list ap)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    if (password) {
        freeReplyObject(redisCommand(c, "AUTH %s", password));
    }
    if (db > 0) {
        freeReplyObject(redisCommand(c, "SELECT %d", db));
    }
    redisReply *rep = redisvCommand(c, fmt, ap);
    redisFree(c);
    return rep;
}

struct cm_kafka_mock *it_dev_broker(const char *prefix, char *topic, size_t len)
{
    setenv("KAFKA_MESSAGE_TIMEOUT_MS", "1500", 1);
    setenv("KAFKA_FETCH_WAIT_MAX_MS", "10", 1);
    struct cm_kafka_mock *mock = cm_kafka_mock_new(1);
    cr_assert_not_null(mock);
    it_unique(topic, len, prefix);
    cr_assert_eq(cm_kafka_mock_create_topic(mock, topic, 4), 0);
    return mock;
}

int it_silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

size_t it_read_head(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = cm_monotonic_ms() + timeout_ms;
    buf[0] = '\0';
    while (n < len - 1 && cm_monotonic_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        ssize_t r = recv(fd, buf + n, len - 1 - n, 0);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            break;
        }
    }
    return n;
}

double it_topic_series(struct cm_metrics *m, const char *name, const char *topic)
{
    char *text = cm_metrics_render(m);
    char want[512];
    snprintf(want, sizeof(want), "%s{topic=\"%s\"} ", name, topic);
    const char *at = strstr(text, want);
    double v = at ? strtod(at + strlen(want), NULL) : -1;
    free(text);
    return v;
}
