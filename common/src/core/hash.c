/* hash: cm_hash64, SipHash-2-4 and the per-process keyed table hash (see cm/hash.h). */
#include "cm/hash.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

uint64_t cm_mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

uint64_t cm_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x243f6a8885a308d3ULL ^ (len * 0x9e3779b97f4a7c15ULL);
    while (len >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = (h ^ cm_mix64(k)) * 0x9e3779b97f4a7c15ULL;
        h = (h << 31) | (h >> 33);
        p += 8;
        len -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < len; i++) {
        k |= (uint64_t)p[i] << (8 * i);
    }
    h = (h ^ cm_mix64(k ^ 0xa5a5a5a5a5a5a5a5ULL)) * 0x9e3779b97f4a7c15ULL;
    return cm_mix64(h);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

uint64_t cm_siphash24(const unsigned char key[16], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                     0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
    size_t left = len;
    for (; left >= 8; p += 8, left -= 8) {
        uint64_t m = le64(p);
        v[3] ^= m;
        sipround(v);
        sipround(v);
        v[0] ^= m;
    }
    uint64_t b = (uint64_t)len << 56; /* the length's low byte, then the last bytes */
    for (size_t i = 0; i < left; i++) {
        b |= (uint64_t)p[i] << (8 * i);
    }
    v[3] ^= b;
    sipround(v);
    sipround(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++) {
        sipround(v);
    }
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static unsigned char table_key[16];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_key_init(void)
{
    if (getrandom(table_key, sizeof(table_key), 0) != (ssize_t)sizeof(table_key)) {
        fprintf(stderr, "hash: no random bytes for the table key\n");
        abort();
    }
}

uint64_t cm_hash64_table(const void *data, size_t len)
{
    pthread_once(&table_once, table_key_init);
    return cm_siphash24(table_key, data, len);
}
