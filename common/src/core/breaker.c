/* breaker: the circuit breaker (see breaker.h). */
#include "cm/breaker.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"

#include <pthread.h>
#include <stdlib.h>

struct cm_breaker {
    pthread_mutex_t lock;
    char *name;
    int threshold;
    int64_t cooldown_ms, max_cooldown_ms;
    struct cm_series *gauge;
    enum cm_breaker_state state;
    int failures;       /* in a row, while closed */
    int64_t current_ms; /* the cool-down now in force */
    int64_t retry_at;   /* open: when the trial may go */
    int trial_out;      /* half-open: the trial call is under way */
};

static const char *state_name(enum cm_breaker_state s)
{
    return s == CM_BREAKER_CLOSED ? "closed" : s == CM_BREAKER_OPEN ? "open" : "half-open";
}

static void set_state(struct cm_breaker *b, enum cm_breaker_state s)
{
    if (s == b->state) {
        return;
    }
    if (s == CM_BREAKER_OPEN) {
        CM_LOG_WARN("breaker_open", "%s: breaker open; calls refused for %lld ms", b->name,
                    (long long)b->current_ms);
    } else {
        CM_LOG_INFO("breaker_state", "%s: breaker %s", b->name, state_name(s));
    }
    b->state = s;
    if (b->gauge) {
        cm_gauge_set(b->gauge, (double)s);
    }
}

struct cm_breaker *cm_breaker_new(const char *name, int threshold, int64_t cooldown_ms,
                                  int64_t max_cooldown_ms, struct cm_series *state)
{
    struct cm_breaker *b = cm_xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->name = cm_xstrdup(name);
    b->threshold = threshold > 0 ? threshold : 1;
    b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 1;
    b->max_cooldown_ms = max_cooldown_ms > b->cooldown_ms ? max_cooldown_ms : b->cooldown_ms;
    b->current_ms = b->cooldown_ms;
    b->gauge = state;
    if (state) {
        cm_gauge_set(state, CM_BREAKER_CLOSED);
    }
    return b;
}

void cm_breaker_free(struct cm_breaker *b)
{
    if (b) {
        pthread_mutex_destroy(&b->lock);
        free(b->name);
        free(b);
    }
}

int cm_breaker_allow(struct cm_breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->lock);
    int ok = 1;
    if (b->state == CM_BREAKER_OPEN) {
        if (now_ms >= b->retry_at) {
            set_state(b, CM_BREAKER_HALF_OPEN);
            b->trial_out = 1;
        } else {
            ok = 0;
        }
    } else if (b->state == CM_BREAKER_HALF_OPEN) {
        ok = !b->trial_out; /* one trial at a time */
        b->trial_out = 1;
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void cm_breaker_success(struct cm_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    b->failures = 0;
    b->trial_out = 0;
    b->current_ms = b->cooldown_ms;
    set_state(b, CM_BREAKER_CLOSED);
    pthread_mutex_unlock(&b->lock);
}

void cm_breaker_failure(struct cm_breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->lock);
    if (b->state == CM_BREAKER_HALF_OPEN) { /* the trial failed: longer this time */
        b->current_ms =
            b->current_ms * 2 > b->max_cooldown_ms ? b->max_cooldown_ms : b->current_ms * 2;
        b->trial_out = 0;
        b->retry_at = now_ms + b->current_ms;
        set_state(b, CM_BREAKER_OPEN);
    } else if (b->state == CM_BREAKER_CLOSED && ++b->failures >= b->threshold) {
        b->retry_at = now_ms + b->current_ms;
        set_state(b, CM_BREAKER_OPEN);
    }
    pthread_mutex_unlock(&b->lock);
}

enum cm_breaker_state cm_breaker_state(struct cm_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    enum cm_breaker_state s = b->state;
    pthread_mutex_unlock(&b->lock);
    return s;
}
