/* harness: helpers for integration tests, which run against the real servers that
 * tests/integration/run.sh starts on free loopback ports (addresses in the environment). */
#ifndef IT_HARNESS_H
#define IT_HARNESS_H

#include <stdarg.h>
#include <stddef.h>

/* The value of an environment variable the harness sets; fails the test when missing. */
const char *it_env(const char *name);
/* A name unique to this process and call ("<prefix>-<pid>-<n>-<random>"), for topics and keys. */
void it_unique(char *buf, size_t len, const char *prefix);
/* Polls cond(ud) every 10 ms until it returns nonzero or timeout_ms passes; returns its last
 * result. Tests wait with this, never with fixed sleeps. */
int it_wait_until(int timeout_ms, int (*cond)(void *ud), void *ud);

struct cm_kafka_mock;
/* An in-process development broker with one topic named "<prefix>-..." (into topic) of 4
 * partitions, and the producer settings gateway tests use (1.5 s delivery timeout). */
struct cm_kafka_mock *it_dev_broker(const char *prefix, char *topic, size_t len);
/* 1 when a record whose ce_id header is id arrives on topic at brokers within 30 s (read from
 * the beginning by a fresh consumer group). */
int it_topic_has(const char *brokers, const char *topic, const char *id);
/* Reads topic from its start until the event with ce_id marker is found and the topic has been
 * quiet for a second after it; returns how many of ids[0..n) were seen, or -1 when the marker
 * never came (30 s). For "never produced" checks: produce the marker after the refused events. */
int it_topic_ids_seen(const char *brokers, const char *topic, const char *marker,
                      const char *const *ids, size_t n);
/* A libcurl write (or header) callback appending to a NUL-terminated char buffer of at least
 * 4096 bytes given as its user data; what does not fit is dropped. */
size_t it_curl_append(char *p, size_t size, size_t n, void *ud);
/* A fixed buffer that it_curl_collect appends to: cap bytes at p, len of them used, kept
 * NUL-terminated; what does not fit is dropped. */
struct it_buf {
    char *p;
    size_t cap, len;
};
/* A libcurl write (or header) callback appending to the struct it_buf given as its user data. */
size_t it_curl_collect(char *p, size_t size, size_t n, void *ud);
/* An answer read by it_request: its status, body and header lines (each cut at about 4 KB). */
struct it_resp {
    long status;
    char body[8192];
    char headers[4096];
};
/* Sends method to http://127.0.0.1:<port><path> with Content-Type ctype (none when NULL), the
 * header lines in headers (NULL-terminated; may be NULL) and body (len bytes; none when NULL), and
 * reads the answer into *r; fails the test when none comes within 30 s. */
void it_request(unsigned port, const char *method, const char *path, const char *ctype,
                const char *const *headers, const char *body, size_t len, struct it_resp *r);
/* A loopback port below the kernel's ephemeral range (where outgoing connections could take it
 * before a server binds it) that is free now and not handed to any other test of the machine
 * for the next 15 minutes. */
int it_free_port(void);
/* A redis-server on 127.0.0.1:port (no persistence; its files and its log redis.log in dir, or
 * logged to its standard output, kept for a failure's message, when dir is NULL) with the extra
 * arguments given (NULL-terminated; may be NULL), answering when this returns; its pid (stop it
 * with kill and waitpid). It is killed when the test's process ends, so a failed assertion leaves
 * no server behind. */
int it_start_redis(int port, const char *dir, const char *const *extra);
/* Starts redis-server with argv as given (a configuration file of the test's own, say) and waits
 * until it answers on the plain port `port` (log: where it logs, for the failure's message); its
 * pid, killed when the test's process ends. */
int it_spawn_redis(const char *const *argv, int port, const char *log);
/* A Redis Sentinel on 127.0.0.1:port (its sentinel.conf and sentinel.log in dir) monitoring the
 * master `name` at 127.0.0.1:master_port with a quorum of 1, down after 3 s without an answer
 * (it pings each second: at 1 s a reply a little late under load had it fail a healthy master
 * over, and the failover test then found the roles swapped back),
 * with the master's password auth_pass (may be NULL) and its own password own_pass (may be
 * NULL: none); answering when this returns; its pid, killed when the test's process ends. */
int it_start_sentinel(int port, const char *dir, const char *name, int master_port,
                      const char *auth_pass, const char *own_pass);
/* Kills the process *pid (-9) and waits for it, then removes dir (when set) with what it holds;
 * *pid becomes 0. For the redis-servers a test starts. */
void it_kill_and_remove(int *pid, const char *dir);
/* One command on the redis-server at 127.0.0.1:port as it is (AUTH password first when not
 * NULL, then SELECT db when db > 0; no redirection followed): the reply (hiredis's; freed by the
 * caller with freeReplyObject), or NULL when the server does not answer. */
void *it_redis_vraw(int port, const char *password, int db, const char *fmt, va_list ap);

struct cm_metrics;
/* The value of the series `name{topic="topic"}` in m's exposition, or -1 when it has none. */
double it_topic_series(struct cm_metrics *m, const char *name, const char *topic);

/* A loopback listener that takes connections (the kernel completes them) and never reads them,
 * as a server stopped with SIGSTOP: its port in *port. Returns the socket, to close. */
int it_silent_listener(int *port);
/* Reads from fd into buf (NUL-terminated) until the end of an HTTP head ("\r\n\r\n"), the peer's
 * close, len - 1 bytes or timeout_ms: the bytes read. */
size_t it_read_head(int fd, char *buf, size_t len, int timeout_ms);

#endif
