/* reg_cache: the registry's in-process read cache: response bodies by key (schema by id, lookups
 * by subject and request body), each for at most `ttl_ms`, so an id or a lookup costs no database
 * round trip after its first answer. Entries are dropped on this instance's deletes; changes made
 * through another instance become visible within the TTL. Thread-safe (striped locks). */
#ifndef REG_CACHE_H
#define REG_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct reg_cache;

/* max_entries and max_bytes (keys and answers, each entry's bookkeeping counted) bound what is
 * kept: a lookup's key is its request body, chosen by the client, and its answer holds a whole
 * schema. An entry over a sixteenth of max_bytes is not kept. ttl_ms 0 disables the cache. Free
 * with reg_cache_free. */
struct reg_cache *reg_cache_new(size_t max_entries, size_t max_bytes, int64_t ttl_ms);
void reg_cache_free(struct reg_cache *c);
/* Copies the cached value for key into a fresh buffer (caller frees) and its HTTP status into
 * *status; NULL on a miss. */
char *reg_cache_get(struct reg_cache *c, const char *key, size_t keylen, int *status);
void reg_cache_put(struct reg_cache *c, const char *key, size_t keylen, const char *value,
                   int status);
void reg_cache_clear(struct reg_cache *c);
/* Bytes held now (as max_bytes counts them). */
size_t reg_cache_bytes(struct reg_cache *c);

#endif
