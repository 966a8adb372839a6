/* redis_conn: one connection to a Redis server, over TCP or TLS (OpenSSL): connect within a
 * deadline, commands written in the RESP form hiredis formats, replies parsed by hiredis's
 * reader. hiredis 0.14's own connection has no TLS, so only its formatter and reader are used.
 * Every read and write is bounded by the connection's timeout (SO_RCVTIMEO, SO_SNDTIMEO). */
#include "redis_internal.h"

#include "cm/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct redis_conn {
    int fd;
    SSL *ssl; /* NULL: plain TCP */
    redisReader *reader;
    char *obuf; /* commands appended, not yet written */
    size_t olen, ocap;
    int broken;    /* an I/O or protocol error: the connection is of no more use */
    int timed_out; /* ... and it was the timeout */
    char errstr[200];
};

static void fail(struct redis_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct redis_conn *c, const char *fmt, ...)
{
    if (c->broken) {
        return; /* the first error is the one that says why */
    }
    c->broken = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
}

/* SIGPIPE held back around a TLS call, which writes with write() and would raise it when the
 * server has gone: the daemons ignore it, but a library must not raise it in a program that does
 * not (plain TCP sends with MSG_NOSIGNAL instead). A SIGPIPE the call caused is taken from the
 * pending ones before the mask is restored (as libpq does). */
struct pipe_guard {
    sigset_t old;
    int pending_before;
};

static void pipe_hold(struct pipe_guard *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    g->pending_before = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void pipe_release(const struct pipe_guard *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    if (!g->pending_before && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        int saved = errno;
        sigtimedwait(&pipe, NULL, &zero);
        errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* OpenSSL's first queued error, or what fallback says. */
static void tls_error(char *out, size_t outlen, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof(buf));
        const char *reason = ERR_reason_error_string(e);
        snprintf(out, outlen, "TLS: %s", reason ? reason : buf);
    } else {
        snprintf(out, outlen, "%s", fallback);
    }
    ERR_clear_error();
}

/* A failed read or write (n its result): the timeout, the server closing, or an error. */
static void io_failed(struct redis_conn *c, int n, const char *what)
{
    int e = errno;
    if (c->ssl) {
        int se = SSL_get_error(c->ssl, n);
        if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE ||
            (se == SSL_ERROR_SYSCALL && (e == EAGAIN || e == EWOULDBLOCK))) {
            c->timed_out = 1;
            fail(c, "no answer");
        } else if (se == SSL_ERROR_ZERO_RETURN || (se == SSL_ERROR_SYSCALL && n == 0)) {
            fail(c, "Server closed the connection");
        } else if (se == SSL_ERROR_SSL) {
            char why[160];
            tls_error(why, sizeof(why), "TLS error");
            fail(c, "%s", why);
        } else {
            fail(c, "%s: %s", what, strerror(e));
        }
        ERR_clear_error();
        return;
    }
    if (n == 0) {
        fail(c, "Server closed the connection");
    } else if (e == EAGAIN || e == EWOULDBLOCK) {
        c->timed_out = 1;
        fail(c, "no answer");
    } else {
        fail(c, "%s: %s", what, strerror(e));
    }
}

static int is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A TCP connection to host:port within timeout_ms (each address getaddrinfo gives in turn):
 * the socket, blocking, or -1 with err set. */
static int tcp_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int g = getaddrinfo(host, portstr, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "%s", g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                e = errno;
            } else {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                int pr;
                while ((pr = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
                }
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                if (pr == 0) {
                    e = ETIMEDOUT;
                } else if (pr < 0) {
                    e = errno;
                } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
                    e = soerr ? soerr : errno;
                } else {
                    e = 0;
                }
            }
            if (e) {
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (e == ETIMEDOUT) {
            snprintf(err, errlen, "no answer within %d ms", timeout_ms);
        } else {
            snprintf(err, errlen, "%s", strerror(e ? e : EHOSTUNREACH));
        }
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int one = 1;
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The TLS handshake on c's socket: the server's name sent (SNI) and, when tls verifies peers,
 * its certificate checked against the CA and against host (a name, or an address). */
static int tls_handshake(struct redis_conn *c, SSL_CTX *tls, const char *host, char *err,
                         size_t errlen)
{
    ERR_clear_error();
    c->ssl = SSL_new(tls);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_error(err, errlen, "TLS: out of memory");
        return -1;
    }
    int ip = is_ip(host);
    if (!ip && SSL_set_tlsext_host_name(c->ssl, host) != 1) {
        tls_error(err, errlen, "TLS: the server's name cannot be sent");
        return -1;
    }
    if (SSL_CTX_get_verify_mode(tls) & SSL_VERIFY_PEER) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host)
                    : SSL_set1_host(c->ssl, host);
        if (ok != 1) {
            tls_error(err, errlen, "TLS: the server's name cannot be checked");
            return -1;
        }
    }
    struct pipe_guard g;
    pipe_hold(&g);
    int n = SSL_connect(c->ssl);
    int e = errno;
    pipe_release(&g);
    if (n == 1) {
        return 0;
    }
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        snprintf(err, errlen, "TLS: the server's certificate: %s",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
        return -1;
    }
    int se = SSL_get_error(c->ssl, n);
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE ||
        (se == SSL_ERROR_SYSCALL && (e == EAGAIN || e == EWOULDBLOCK))) {
        snprintf(err, errlen, "TLS: no handshake (is the port a TLS one?)");
        ERR_clear_error();
    } else if (se == SSL_ERROR_SYSCALL) {
        snprintf(err, errlen, "TLS: the server closed the connection in the handshake%s%s",
                 e ? ": " : "", e ? strerror(e) : "");
        ERR_clear_error();
    } else {
        tls_error(err, errlen, "TLS: the handshake failed");
    }
    return -1;
}

struct redis_conn *redis_conn_open(const char *host, int port, int timeout_ms, SSL_CTX *tls,
                                   char *err, size_t errlen)
{
    int fd = tcp_connect(host, port, timeout_ms, err, errlen);
    if (fd < 0) {
        return NULL;
    }
    struct redis_conn *c = cm_xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->reader = redisReaderCreate();
    if (!c->reader) {
        snprintf(err, errlen, "out of memory");
        redis_conn_free(c);
        return NULL;
    }
    if (tls && tls_handshake(c, tls, host, err, errlen) != 0) {
        redis_conn_free(c);
        return NULL;
    }
    return c;
}

void redis_conn_free(struct redis_conn *c)
{
    if (!c) {
        return;
    }
    if (c->ssl) {
        SSL_free(c->ssl); /* (no close_notify: the connection may be broken, and Redis does
                           * not wait for one) */
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->reader) {
        redisReaderFree(c->reader);
    }
    free(c->obuf);
    free(c);
}

int redis_conn_broken(const struct redis_conn *c)
{
    return c->broken;
}

int redis_conn_timed_out(const struct redis_conn *c)
{
    return c->timed_out;
}

const char *redis_conn_error(const struct redis_conn *c)
{
    return c->errstr;
}

int redis_conn_append(struct redis_conn *c, int argc, const char *const *argv, const size_t *lens)
{
    if (c->broken) {
        return -1;
    }
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
    if (n < 0) {
        fail(c, "out of memory");
        return -1;
    }
    if (c->olen + (size_t)n > c->ocap) {
        c->ocap = c->olen + (size_t)n > 2 * c->ocap ? c->olen + (size_t)n : 2 * c->ocap;
        c->obuf = cm_xrealloc(c->obuf, c->ocap);
    }
    memcpy(c->obuf + c->olen, cmd, (size_t)n);
    c->olen += (size_t)n;
    redisFreeCommand(cmd);
    return 0;
}

int redis_conn_flush(struct redis_conn *c)
{
    if (c->broken) {
        return -1;
    }
    size_t off = 0;
    while (off < c->olen) {
        size_t len = c->olen - off;
        int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
        ssize_t w;
        if (c->ssl) {
            ERR_clear_error();
            struct pipe_guard g;
            pipe_hold(&g);
            w = SSL_write(c->ssl, c->obuf + off, chunk);
            pipe_release(&g);
        } else {
            w = send(c->fd, c->obuf + off, (size_t)chunk, MSG_NOSIGNAL);
        }
        if (w <= 0) {
            if (!c->ssl && w < 0 && errno == EINTR) {
                continue;
            }
            io_failed(c, (int)w, "write");
            return -1;
        }
        off += (size_t)w;
    }
    c->olen = 0;
    return 0;
}

redisReply *redis_conn_read(struct redis_conn *c)
{
    if (c->broken || (c->olen && redis_conn_flush(c) != 0)) {
        return NULL;
    }
    for (;;) {
        void *rep = NULL;
        if (redisReaderGetReply(c->reader, &rep) != REDIS_OK) {
            fail(c, "protocol error: %s", c->reader->errstr);
            return NULL;
        }
        if (rep) {
            return rep;
        }
        char buf[16384];
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            struct pipe_guard g; /* (TLS 1.3 may answer a key update while reading) */
            pipe_hold(&g);
            n = SSL_read(c->ssl, buf, sizeof(buf));
            pipe_release(&g);
        } else {
            n = recv(c->fd, buf, sizeof(buf), 0);
        }
        if (n <= 0) {
            if (!c->ssl && n < 0 && errno == EINTR) {
                continue;
            }
            io_failed(c, (int)n, "read");
            return NULL;
        }
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
            fail(c, "protocol error: %s", c->reader->errstr);
            return NULL;
        }
    }
}

redisReply *redis_conn_command(struct redis_conn *c, int argc, const char *const *argv,
                               const size_t *lens)
{
    return redis_conn_append(c, argc, argv, lens) == 0 ? redis_conn_read(c) : NULL;
}

SSL_CTX *redis_tls_new(const struct redis_tls *t, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        tls_error(err, errlen, "TLS: out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
    const char *failed = NULL;
    if (t->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (t->ca_file ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            failed = "ssl_ca_certs";
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (!failed && t->cert_file && SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        failed = "ssl_certfile";
    }
    const char *key = t->key_file ? t->key_file : t->cert_file; /* (a key in the same file) */
    if (!failed && key &&
        (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(ctx) != 1)) {
        failed = "ssl_keyfile";
    }
    if (failed) {
        char why[160];
        tls_error(why, sizeof(why), "cannot be read");
        const char *file = strcmp(failed, "ssl_ca_certs") == 0   ? t->ca_file
                           : strcmp(failed, "ssl_certfile") == 0 ? t->cert_file
                                                                 : key;
        snprintf(err, errlen, "%s '%s': %s", failed, file ? file : "(the system's CAs)", why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}
