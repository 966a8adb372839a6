/* gw_idem: idempotent ingest with Redis. Each event with a key (the client's event id, or the
 * request's Idempotency-Key header plus the event's index) is remembered for a window, with a
 * hash of its payload: a repeat is answered like the first time and not produced again, a repeat
 * with a different payload is refused, a repeat while the first is still in flight is told so.
 * While Redis cannot answer, events go through unguarded (downstream sinks deduplicate by id):
 * counted in gateway_idempotency_unguarded_total and logged at most once a second; after a
 * failure Redis is not tried again for a cool-down (1 s, doubling to 30 s while it keeps
 * failing). Thread-safe. */
#ifndef GW_IDEM_H
#define GW_IDEM_H

#include "cm/envelope.h"
#include "cm/uuid.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct gw_idem;
struct cm_metrics;

/* How long a key stays claimed by a request still in flight (at most the window): twice the
 * producer's message.timeout.ms, past which every request has its answer. A request that never
 * settles its keys (its gateway killed, Redis lost in between) leaves them to expire, and a
 * retry goes through after this instead of a 409 for the whole window. */
#define GW_IDEM_IN_FLIGHT_MS 60000
/* Each gateway instance holds a lease in Redis while it runs ("idem:live:<instance>", renewed
 * every fifth of it) and names itself in the keys it holds in flight. A key in flight whose
 * instance's lease has lapsed (killed, frozen, cut off from Redis) is claimed by the next request
 * that repeats it, so a client retrying after a gateway crash gets through within this, not a 409
 * until GW_IDEM_IN_FLIGHT_MS. */
#define GW_IDEM_LEASE_MS 5000

enum gw_idem_state {
    GW_IDEM_NEW,        /* first time: produce, then gw_idem_finish */
    GW_IDEM_DONE,       /* accepted before: answer 202 with the id in prev_id, do not produce */
    GW_IDEM_CONFLICT,   /* the key was used with a different payload: 422 */
    GW_IDEM_IN_FLIGHT,  /* the first request with this key has not been answered yet: 409 */
    GW_IDEM_UNAVAILABLE /* Redis did not answer: go ahead without the guarantee */
};

/* Opens `connections` Redis connections to url (requests pick one in turn, so threads rarely
 * wait for each other), and one more for the lease, held by a thread of its own for lease_ms
 * (GW_IDEM_LEASE_MS; shorter in tests); metrics may be NULL. NULL (logged) for an invalid URL.
 * Free with gw_idem_free, which stops renewing the lease without giving it up: its keys in flight
 * are claimed again once it lapses, as after a crash (a graceful stop settles them first). */
struct gw_idem *gw_idem_new(const char *url, unsigned connections, int64_t window_ms,
                            int64_t lease_ms, struct cm_metrics *metrics);
void gw_idem_free(struct gw_idem *g);
/* cm_http_detail for /readyz (ud is the gw_idem): {"available": true} when Redis answers PING,
 * else {"available": false, "error": ..., "effect": ...}. Not a readiness check: without Redis
 * the gateway still takes events (unguarded), and a Redis outage must not take every instance
 * out of its load balancer. */
json_t *gw_idem_detail(void *ud);
/* One event's key, as claimed and later settled. */
struct gw_idem_claim {
    const char *key;                      /* borrowed */
    const char *hash;                     /* payload hash (hex), borrowed */
    enum gw_idem_state state;             /* set by gw_idem_begin */
    char prev_id[CM_ENVELOPE_MAX_ID + 1]; /* GW_IDEM_DONE: the id the first answer gave */
    const char *id;                       /* for gw_idem_finish: the id answered */
    int accepted;                         /* for gw_idem_finish: produced and acknowledged */
};

/* The idempotency key of an event of `tenant` (the request's Idempotency-Key header with the
 * event's index in the request, else the event's source and id): "<n>:<tenant>:ev:<n>:<source>:
 * <id>" or "<n>:<tenant>:req:<n>:<header key>:<index>", each <n> the length of what follows it
 * (a source or header key longer than 256 bytes as "h<its hash>" instead of "<n>:<text>"), so
 * different events never share a key; caller frees; and the hash of
 * its payload (its members sorted, compact) into hash. NULL when the event has neither a header
 * key nor both source and id (the gateway assigns the id: nothing to repeat). */
char *gw_idem_key(const char *tenant, const char *header_key, size_t index, const json_t *event,
                  char hash[CM_UUID_STR_LEN]);
/* Claims n keys in at most two round trips (SET NX for all, then GET for those taken), and for
 * keys held in flight by another instance, one more for their leases and one for each key whose
 * instance's lease has lapsed (claimed again, GW_IDEM_NEW, when it still holds that marker). */
void gw_idem_begin(struct gw_idem *g, struct gw_idem_claim *claims, size_t n);
/* Records n outcomes in one round trip: accepted keys remember their id for the window, the
 * others are forgotten so a retry can go through. */
void gw_idem_finish(struct gw_idem *g, const struct gw_idem_claim *claims, size_t n);

#endif
