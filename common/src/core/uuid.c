/* uuid: UUIDv7 with a 12-bit sequence in rand_a (RFC 9562 method 1) so ids from one process sort
 * in creation order even within a millisecond; the remaining 62 bits are random. */
#include "cm/uuid.h"

#include "cm/text.h"
#include "cm/timeutil.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 8-4-4-4-12 lowercase hex of 16 bytes. */
static void format_uuid(const unsigned char *b, char *out)
{
    static const unsigned groups[] = {4, 2, 2, 2, 6};
    size_t at = 0;
    for (unsigned g = 0; g < 5; g++) {
        cm_hex_encode(b, groups[g], out + at);
        at += groups[g] * 2;
        b += groups[g];
        out[at++] = g < 4 ? '-' : '\0';
    }
}
static _Atomic uint64_t uuid_state;

/* Random bytes come from a small per-thread pool refilled from OpenSSL's DRBG (AES-CTR, seeded
 * from the kernel and reseeded after fork), 4 KiB at a time: about a hundred events' ids and
 * traceparents per refill, where the kernel's getrandom cost a system call and ChaCha20 work
 * per event. A forked child also discards the pool it inherited, so parent and child never
 * hand out the same bytes. */
#define POOL_SIZE 4096

static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static _Thread_local struct {
    unsigned char bytes[POOL_SIZE];
    unsigned pos;
    unsigned generation;
    int filled;
} pool;

static void fill_random(unsigned char *p, size_t n)
{
    if (RAND_bytes(p, (int)n) != 1) {
        abort(); /* only when the DRBG cannot be seeded: nothing random can be made */
    }
}

void cm_random_bytes(void *buf, unsigned n)
{
    pthread_once(&atfork_once, register_atfork);
    unsigned char *p = buf;
    while (n > 0) {
        unsigned gen = atomic_load(&fork_generation);
        if (!pool.filled || pool.pos == POOL_SIZE || pool.generation != gen) {
            fill_random(pool.bytes, POOL_SIZE);
            pool.pos = 0;
            pool.generation = gen;
            pool.filled = 1;
        }
        unsigned take = POOL_SIZE - pool.pos < n ? POOL_SIZE - pool.pos : n;
        memcpy(p, pool.bytes + pool.pos, take);
        memset(pool.bytes + pool.pos, 0, take); /* handed out once, not kept */
        pool.pos += take;
        p += take;
        n -= take;
    }
}

void cm_uuid_v7_at(int64_t ms, char *out)
{
    unsigned char b[16];
    cm_random_bytes(b, sizeof(b));
    /* the last (ms << 12 | seq) handed out, advanced without a lock: a later millisecond starts
     * its sequence at random (with room to count up), the same or an earlier one counts up,
     * and an exhausted sequence carries into the next millisecond */
    uint64_t fresh = (uint64_t)ms << 12 | ((unsigned)(b[6] & 0x03) << 8 | b[7]);
    uint64_t last = atomic_load(&uuid_state), next;
    do {
        next = (uint64_t)ms > last >> 12 ? fresh : last + 1;
    } while (!atomic_compare_exchange_weak(&uuid_state, &last, next));
    ms = (int64_t)(next >> 12);
    unsigned seq = (unsigned)(next & 0xFFF);

    uint64_t t = (uint64_t)ms;
    for (int i = 0; i < 6; i++) {
        b[i] = (unsigned char)(t >> (40 - 8 * i));
    }
    b[6] = (unsigned char)(0x70 | ((seq >> 8) & 0x0F));
    b[7] = (unsigned char)(seq & 0xFF);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    format_uuid(b, out);
}

void cm_uuid_v7(char *out)
{
    cm_uuid_v7_at(cm_now_ms(), out);
}

int cm_uuid_valid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}

/* SHA-256 fetched once, and one digest context per thread: OpenSSL 3 looks the algorithm up
 * again on every EVP_DigestInit_ex with EVP_sha256() (0.83 µs a call against 0.25 µs, measured),
 * and a window result needs an id each. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static pthread_key_t sha256_ctx_key;

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md || pthread_key_create(&sha256_ctx_key, free_ctx) != 0) {
        abort();
    }
}

static EVP_MD_CTX *sha256_ctx(void)
{
    pthread_once(&sha256_once, sha256_init);
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_ctx_key);
    if (!ctx) {
        ctx = EVP_MD_CTX_new();
        if (!ctx || pthread_setspecific(sha256_ctx_key, ctx) != 0) {
            abort();
        }
    }
    return ctx;
}

void cm_uuid_from_parts(const char *const *parts, unsigned n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = sha256_ctx();
    EVP_DigestInit_ex(ctx, sha256_md, NULL);
    /* the parts gathered, each after its length as 8 big-endian bytes, and handed over in one
     * piece when they fit (a result's id: one call where each piece cost one before) */
    unsigned char buf[512];
    size_t used = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t len = strlen(parts[i]);
        if (used + 8 > sizeof(buf)) {
            EVP_DigestUpdate(ctx, buf, used);
            used = 0;
        }
        for (int k = 0; k < 8; k++) {
            buf[used++] = (unsigned char)(len >> (56 - 8 * k));
        }
        if (used + len <= sizeof(buf)) {
            memcpy(buf + used, parts[i], len);
            used += len;
        } else {
            EVP_DigestUpdate(ctx, buf, used);
            EVP_DigestUpdate(ctx, parts[i], len);
            used = 0;
        }
    }
    EVP_DigestUpdate(ctx, buf, used);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    unsigned char *b = md;
    b[6] = (unsigned char)(0x80 | (b[6] & 0x0F));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    format_uuid(b, out);
}
