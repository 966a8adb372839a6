/* reg_cache: the registry's in-process read cache: response bodies by key (schema by id, lookups
 * by subject and request body), each for at most `ttl_ms`, so an id or a lookup costs no database
 * round trip after its first answer. Entries are dropped on deletes, this instance's and, as the
 * database announces them (registry_deletes, followed in main.c), another's; an answer read before
 * a clear is not kept after it. Thread-safe (striped locks). */
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
/* The number of clears so far: read it before reading the database for an answer, and give it to
 * reg_cache_put, which keeps the answer only if no clear came in between (the answer may predate
 * the delete that cleared the cache). */
uint64_t reg_cache_generation(struct reg_cache *c);
void reg_cache_put(struct reg_cache *c, uint64_t generation, const char *key, size_t keylen,
                   const char *value, int status);
void reg_cache_clear(struct reg_cache *c);
/* reg_cache_clear as a cm_pg_notify_fn (ud the cache), for the announcements of deletes. */
struct cm_pg;
int reg_cache_clear_announced(struct cm_pg *pg, const char *payload, void *ud);
/* Bytes held now (as max_bytes counts them). */
size_t reg_cache_bytes(struct reg_cache *c);

#endif
