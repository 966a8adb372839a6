/* reg_cache: a striped hash map of byte-string keys to response bodies with expiry
 * (see reg_cache.h). A stripe full of entries or of bytes is emptied before the next insert:
 * simple, bounded, and good enough for a working set of schema ids and lookups. */
#include "reg_cache.h"

#include "cm/hash.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 16
#define BUCKETS_PER_STRIPE 256

struct entry {
    struct entry *next;
    uint64_t hash;
    char *key;
    size_t keylen;
    char *value;
    int status;
    int64_t expires_ms;
};

struct stripe {
    pthread_mutex_t lock;
    struct entry *buckets[BUCKETS_PER_STRIPE];
    size_t count, bytes;
};

struct reg_cache {
    struct stripe stripes[STRIPES];
    size_t max_per_stripe, max_bytes_per_stripe;
    int64_t ttl_ms;
    _Atomic uint64_t generation; /* clears so far */
};

/* What an entry holds, as the byte bound counts it. */
static size_t entry_bytes(size_t keylen, size_t valuelen)
{
    return sizeof(struct entry) + keylen + 1 + valuelen + 1;
}

struct reg_cache *reg_cache_new(size_t max_entries, size_t max_bytes, int64_t ttl_ms)
{
    struct reg_cache *c = cm_xcalloc(1, sizeof(*c));
    c->max_per_stripe = max_entries / STRIPES + 1;
    c->max_bytes_per_stripe = max_bytes / STRIPES;
    c->ttl_ms = ttl_ms;
    for (size_t i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&c->stripes[i].lock, NULL);
    }
    return c;
}

static void entry_free(struct entry *e)
{
    free(e->key);
    free(e->value);
    free(e);
}

static void stripe_clear(struct stripe *s)
{
    for (size_t b = 0; b < BUCKETS_PER_STRIPE; b++) {
        struct entry *e = s->buckets[b];
        while (e) {
            struct entry *next = e->next;
            entry_free(e);
            e = next;
        }
        s->buckets[b] = NULL;
    }
    s->count = 0;
    s->bytes = 0;
}

void reg_cache_free(struct reg_cache *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < STRIPES; i++) {
        stripe_clear(&c->stripes[i]);
        pthread_mutex_destroy(&c->stripes[i].lock);
    }
    free(c);
}

char *reg_cache_get(struct reg_cache *c, const char *key, size_t keylen, int *status)
{
    if (!c || c->ttl_ms <= 0) {
        return NULL;
    }
    uint64_t h = cm_hash64_table(key, keylen);
    struct stripe *s = &c->stripes[h % STRIPES];
    int64_t now = cm_monotonic_ms();
    char *out = NULL;
    pthread_mutex_lock(&s->lock);
    for (struct entry *e = s->buckets[(h / STRIPES) % BUCKETS_PER_STRIPE]; e; e = e->next) {
        if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0) {
            if (e->expires_ms > now) {
                out = cm_xstrdup(e->value);
                *status = e->status;
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

/* Under the stripe's lock: drops the entry for key (hash h, in bucket b) if there is one. */
static void remove_key(struct stripe *s, size_t b, uint64_t h, const char *key, size_t keylen)
{
    for (struct entry **pp = &s->buckets[b]; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0) {
            *pp = e->next;
            s->bytes -= entry_bytes(e->keylen, strlen(e->value));
            entry_free(e);
            s->count--;
            return;
        }
    }
}

uint64_t reg_cache_generation(struct reg_cache *c)
{
    return c ? atomic_load(&c->generation) : 0;
}

void reg_cache_put(struct reg_cache *c, uint64_t generation, const char *key, size_t keylen,
                   const char *value, int status)
{
    if (!c || c->ttl_ms <= 0) {
        return;
    }
    uint64_t h = cm_hash64_table(key, keylen);
    struct stripe *s = &c->stripes[h % STRIPES];
    size_t valuelen = strlen(value);
    size_t size = entry_bytes(keylen, valuelen);
    size_t b = (h / STRIPES) % BUCKETS_PER_STRIPE;
    if (size > c->max_bytes_per_stripe) { /* too large to keep: an older answer is dropped */
        pthread_mutex_lock(&s->lock);
        remove_key(s, b, h, key, keylen);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    struct entry *n = cm_xcalloc(1, sizeof(*n));
    n->hash = h;
    n->key = cm_xmalloc(keylen + 1);
    memcpy(n->key, key, keylen);
    n->key[keylen] = '\0';
    n->keylen = keylen;
    n->value = cm_xmalloc(valuelen + 1);
    memcpy(n->value, value, valuelen + 1);
    n->status = status;
    n->expires_ms = cm_monotonic_ms() + c->ttl_ms;
    pthread_mutex_lock(&s->lock);
    if (atomic_load(&c->generation) != generation) { /* cleared since the answer was read */
        pthread_mutex_unlock(&s->lock);
        entry_free(n);
        return;
    }
    remove_key(s, b, h, key, keylen); /* replaced, not added */
    if (s->count >= c->max_per_stripe || s->bytes + size > c->max_bytes_per_stripe) {
        stripe_clear(s);
    }
    n->next = s->buckets[b];
    s->buckets[b] = n;
    s->count++;
    s->bytes += size;
    pthread_mutex_unlock(&s->lock);
}

/* The generation moves first: a put that read the database before it is refused at its
 * stripe, or lands before that stripe is emptied. */
void reg_cache_clear(struct reg_cache *c)
{
    if (!c) {
        return;
    }
    atomic_fetch_add(&c->generation, 1);
    for (size_t i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&c->stripes[i].lock);
        stripe_clear(&c->stripes[i]);
        pthread_mutex_unlock(&c->stripes[i].lock);
    }
}

int reg_cache_clear_announced(struct cm_pg *pg, const char *payload, void *ud)
{
    (void)pg;
    (void)payload; /* a deleted subject's lookups, and ids no subject may hold any more */
    reg_cache_clear(ud);
    return 0;
}

size_t reg_cache_bytes(struct reg_cache *c)
{
    size_t total = 0;
    for (size_t i = 0; c && i < STRIPES; i++) {
        pthread_mutex_lock(&c->stripes[i].lock);
        total += c->stripes[i].bytes;
        pthread_mutex_unlock(&c->stripes[i].lock);
    }
    return total;
}
