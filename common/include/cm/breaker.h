/* breaker: a circuit breaker for a sink's calls to a system that may be down (PostgreSQL, S3, a
 * webhook), as Resilience4j and Kafka Connect's retrying sinks have it. Closed: calls go through;
 * `threshold` failures in a row open it. Open: calls are refused without trying, for a cool-down
 * that doubles each time a trial fails (from `cooldown_ms` up to `max_cooldown_ms`). Half-open:
 * after the cool-down one trial call goes through; its success closes the breaker, its failure
 * opens it again. The state is exported as a gauge (0 closed, 1 half-open, 2 open) and
 * transitions are logged. Thread-safe. */
#ifndef CM_BREAKER_H
#define CM_BREAKER_H

#include <stdint.h>

struct cm_series;
struct cm_breaker;

enum cm_breaker_state { CM_BREAKER_CLOSED = 0, CM_BREAKER_HALF_OPEN = 1, CM_BREAKER_OPEN = 2 };

/* name appears in logs (copied); state (may be NULL) is the gauge series to keep current. */
struct cm_breaker *cm_breaker_new(const char *name, int threshold, int64_t cooldown_ms,
                                  int64_t max_cooldown_ms, struct cm_series *state);
void cm_breaker_free(struct cm_breaker *b);
/* 1 when a call may be made at monotonic now_ms (closed, or the half-open trial), else 0. */
int cm_breaker_allow(struct cm_breaker *b, int64_t now_ms);
/* The outcome of an allowed call. */
void cm_breaker_success(struct cm_breaker *b);
void cm_breaker_failure(struct cm_breaker *b, int64_t now_ms);
enum cm_breaker_state cm_breaker_state(struct cm_breaker *b);

#endif
