/* stream_commit: commit points of the stream runtime, asynchronous as Flink's checkpoints are.
 * On the stream's thread a commit point only takes what it covers: the records emitted since the
 * previous one, each partition's committable offset and the handler's snapshot of its state. A
 * committer thread then does the slow part in order, job after job: waits for every record's
 * delivery report (producing failed ones again with backoff), persists the snapshot (retried with
 * backoff), and stores the offsets. Processing goes on meanwhile, so neither Kafka's
 * acknowledgements nor a Redis round trip stall the stream. At most two jobs are outstanding:
 * the stream's thread waits beyond that, which bounds the records held in memory.
 * A job given up at shutdown (outputs not acknowledged, state not persisted) gives up every job
 * after it too: later snapshots may be increments over it, and its offsets must not move. */
#include "stream_internal.h"

#include "cm/err.h"
#include "cm/kafka.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_JOBS 2 /* queued or running before a commit point waits */

struct stored {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *meta; /* h.commit_metadata's, or NULL */
};

struct commit_job {
    struct output **outs;
    size_t nouts;
    void *snap; /* the handler's, or NULL */
    struct stored *offs;
    size_t noffs;
    int64_t started_ms;
    struct commit_job *next;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void free_job(struct cm_stream *s, struct commit_job *j)
{
    for (size_t i = 0; i < j->nouts; i++) {
        struct output *o = j->outs[i];
        if (atomic_load(&o->state) == OUT_INFLIGHT) {
            /* a job given up at shutdown: the sender or librdkafka may still hold the record
             * (librdkafka borrows its value), so it lives until the producer is gone */
            if (s->norphans == s->caporphans) {
                s->caporphans = s->caporphans ? s->caporphans * 2 : 64;
                s->orphans = cm_xrealloc(s->orphans, s->caporphans * sizeof(*s->orphans));
            }
            s->orphans[s->norphans++] = o;
        } else {
            stream_output_free(o);
        }
    }
    free(j->outs);
    if (j->snap && s->h.release) {
        s->h.release(j->snap, s->h.ud);
    }
    for (size_t i = 0; i < j->noffs; i++) {
        free(j->offs[i].topic);
        free(j->offs[i].meta);
    }
    free(j->offs);
    free(j);
}

/* Counts the job's outputs not yet acknowledged (from *from on, which advances past the leading
 * acknowledged ones) and how many of them failed. Unless exact, stops at the first one still in
 * flight: the caller then only needs to know that not all of what is left failed (the committer
 * asks every millisecond, and a job holds every output of a second). */
static size_t pending(const struct commit_job *j, size_t *from, size_t *failed, int exact)
{
    for (; *from < j->nouts; (*from)++) { /* past those acknowledged, or refused for good */
        int st = atomic_load(&j->outs[*from]->state);
        if (st != OUT_ACKED && st != OUT_REFUSED) {
            break;
        }
    }
    size_t n = 0;
    *failed = 0;
    for (size_t i = *from; i < j->nouts; i++) {
        int st = atomic_load(&j->outs[i]->state);
        if (st == OUT_REFUSED) {
            continue;
        }
        n += st != OUT_ACKED;
        *failed += st == OUT_FAILED;
        if (!exact && st != OUT_ACKED && st != OUT_FAILED) {
            break; /* in flight: left > failed */
        }
    }
    return n;
}

/* Waits until every output of the job is acknowledged, producing failed ones again with backoff.
 * When stopping, gives up after one flush. 0, or CM_E_UNAVAIL. */
static int await_outputs(struct cm_stream *s, struct commit_job *j)
{
    size_t from = 0, failed;
    int backoff = BACKOFF_MIN_MS;
    for (;;) {
        size_t left = pending(j, &from, &failed, 0);
        if (left == 0) {
            return 0;
        }
        if (cm_lifecycle_stopping()) {
            stream_send_drain(s);
            cm_kafka_producer_flush(s->producer, FLUSH_WAIT_MS);
            if ((left = pending(j, &from, &failed, 1)) == 0) {
                return 0;
            }
            CM_LOG_WARN("outputs_unacknowledged",
                        "%zu outputs not acknowledged at shutdown; their input is read again "
                        "after a restart",
                        left);
            return CM_E_UNAVAIL;
        }
        if (failed == 0 || failed < left) {
            sleep_ms(1); /* delivery reports arrive on the producer's thread */
            continue;
        }
        CM_LOG_WARN("outputs_retry", "%zu outputs not acknowledged; producing again in %d ms",
                    failed, backoff);
        cm_lifecycle_wait(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        for (size_t i = from; i < j->nouts; i++) {
            if (atomic_load(&j->outs[i]->state) == OUT_FAILED) {
                cm_counter_inc(s->m_output_retries);
                stream_produce(s, j->outs[i]);
            }
        }
    }
}

/* Persists the job's snapshot, retrying with backoff. 0, CM_STREAM_NOT_DURABLE, or
 * CM_E_UNAVAIL when stopping. */
static int persist(struct cm_stream *s, struct commit_job *j)
{
    if (!j->snap || !s->h.persist) {
        return 0;
    }
    int backoff = BACKOFF_MIN_MS;
    int rc;
    while ((rc = s->h.persist(j->snap, s->h.ud)) != 0 && rc != CM_STREAM_NOT_DURABLE) {
        /* nothing is lost (offsets wait for it), but nothing moves on either: shown on /readyz,
         * in state_not_durable and state_persist_failures_total (alert StreamStateNotDurable) */
        atomic_fetch_add(&s->persist_failures, 1);
        cm_counter_inc(s->m_persist_failures);
        int64_t none = 0;
        if (atomic_compare_exchange_strong(&s->persist_failing_since, &none, cm_now_ms())) {
            cm_gauge_set(s->m_not_durable, 1);
        }
        if (cm_lifecycle_stopping()) {
            return rc;
        }
        CM_LOG_WARN("durable_retry", "making state durable failed (%s); retrying in %d ms",
                    cm_strerror(rc), backoff);
        cm_lifecycle_wait(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    int64_t since = atomic_exchange(&s->persist_failing_since, 0);
    if (since) {
        cm_gauge_set(s->m_not_durable, 0);
        CM_LOG_INFO("durable_again", "state is durable again after %lld ms of failures",
                    (long long)(cm_now_ms() - since));
    }
    return rc;
}

/* The job's offsets committed with their metadata (h.commit_metadata), synchronously: a
 * revocation waits for the jobs, so none commits a partition this instance no longer holds. */
static int commit_offsets(struct cm_stream *s, struct commit_job *j)
{
    struct cm_kafka_partition *parts = cm_xcalloc(j->noffs ? j->noffs : 1, sizeof(*parts));
    for (size_t i = 0; i < j->noffs; i++) {
        parts[i] = (struct cm_kafka_partition){j->offs[i].topic, j->offs[i].partition,
                                               j->offs[i].offset, j->offs[i].meta};
    }
    int rc = cm_kafka_consumer_commit_offsets(s->consumer, parts, j->noffs);
    free(parts);
    return rc;
}

static void run_job(struct cm_stream *s, struct commit_job *j)
{
    if (atomic_load(&s->abandoned)) {
        return;
    }
    int rc = s->producer ? await_outputs(s, j) : 0;
    rc = rc ? rc : persist(s, j);
    if (rc == CM_STREAM_NOT_DURABLE) {
        atomic_store(&s->offsets_skipped, 1); /* the next commit point stores them all again */
        return;
    }
    if (rc != 0) {
        atomic_store(&s->abandoned, 1);
        CM_LOG_WARN("commit_abandoned",
                    "a commit point was given up at shutdown (%s); its offsets stay where they "
                    "were",
                    cm_strerror(rc));
        return;
    }
    if (s->h.commit_metadata) {
        if (commit_offsets(s, j) != 0) {
            atomic_store(&s->offsets_skipped, 1); /* the next commit point commits them all */
            return;
        }
    } else {
        for (size_t i = 0; i < j->noffs; i++) {
            cm_kafka_consumer_store(s->consumer, j->offs[i].topic, j->offs[i].partition,
                                    j->offs[i].offset);
        }
    }
    cm_histogram_observe(s->m_commit_duration,
                         (double)(cm_monotonic_ms() - j->started_ms) / 1000.0);
}

static void *committer_main(void *arg)
{
    struct cm_stream *s = arg;
    pthread_mutex_lock(&s->jobs_lock);
    for (;;) {
        while (!s->head && !s->committer_exit) {
            pthread_cond_wait(&s->jobs_changed, &s->jobs_lock);
        }
        struct commit_job *j = s->head;
        if (!j) {
            break; /* told to exit, nothing left */
        }
        pthread_mutex_unlock(&s->jobs_lock);
        run_job(s, j);
        pthread_mutex_lock(&s->jobs_lock);
        s->head = j->next;
        if (!s->head) {
            s->tail = NULL;
        }
        s->njobs--;
        pthread_cond_broadcast(&s->jobs_changed);
        pthread_mutex_unlock(&s->jobs_lock);
        free_job(s, j);
        pthread_mutex_lock(&s->jobs_lock);
    }
    pthread_mutex_unlock(&s->jobs_lock);
    return NULL;
}

int stream_committer_start(struct cm_stream *s)
{
    pthread_mutex_init(&s->jobs_lock, NULL);
    pthread_cond_init(&s->jobs_changed, NULL);
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    s->m_commit_duration = cm_metric_with(
        cm_metrics_histogram(s->cfg.metrics, "commit_duration_seconds",
                             "from a commit point to its offsets stored (outputs acknowledged, "
                             "state persisted)",
                             NULL, bounds, sizeof(bounds) / sizeof(bounds[0])),
        NULL);
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        CM_LOG_ERROR("thread_failed", "could not start the stream's committer thread");
        return CM_E_NOMEM;
    }
    s->committer_running = 1;
    return 0;
}

void stream_committer_stop(struct cm_stream *s)
{
    if (s->committer_running) {
        pthread_mutex_lock(&s->jobs_lock);
        s->committer_exit = 1;
        pthread_cond_broadcast(&s->jobs_changed);
        pthread_mutex_unlock(&s->jobs_lock);
        pthread_join(s->committer, NULL);
        s->committer_running = 0;
    }
    while (s->head) { /* (only when the thread never ran) */
        struct commit_job *j = s->head;
        s->head = j->next;
        free_job(s, j);
    }
    pthread_cond_destroy(&s->jobs_changed);
    pthread_mutex_destroy(&s->jobs_lock);
}

int stream_commit_drain(struct cm_stream *s)
{
    stream_send_kick(s); /* the jobs wait for what is queued */
    pthread_mutex_lock(&s->jobs_lock);
    while (s->njobs > 0) {
        pthread_cond_wait(&s->jobs_changed, &s->jobs_lock);
    }
    pthread_mutex_unlock(&s->jobs_lock);
    return atomic_load(&s->abandoned) ? CM_E_UNAVAIL : 0;
}

int cm_stream_drain(struct cm_stream *s)
{
    return stream_commit_drain(s);
}

int stream_commit_point(struct cm_stream *s)
{
    s->commit_requested = 0;
    s->last_commit_ms = cm_monotonic_ms();
    if (s->h.before_commit) {
        s->h.before_commit(s, s->h.ud);
    }
    stream_send_kick(s); /* the job waits for what is queued, before_commit's outputs too */
    if (atomic_exchange(&s->offsets_skipped, 0)) {
        for (size_t i = 0; i < s->nparts; i++) {
            s->parts[i].stored = -1; /* a job's offsets were not stored: this one stores all */
        }
    }
    /* (the committable offsets and their metadata are taken before the snapshot, so that what
     * the metadata describes is never ahead of the state the snapshot makes durable) */
    struct commit_job *j = cm_xcalloc(1, sizeof(*j));
    j->started_ms = s->last_commit_ms;
    j->outs = s->outs;
    j->nouts = s->nouts;
    s->outs = NULL;
    s->nouts = s->capouts = 0;
    j->offs = cm_xcalloc(s->nparts ? s->nparts : 1, sizeof(*j->offs));
    for (size_t i = 0; i < s->nparts; i++) {
        struct part *p = &s->parts[i];
        if (p->next < 0) {
            continue;
        }
        int64_t off = s->h.committable
                          ? s->h.committable(s, p->topic, p->partition, p->next, s->h.ud)
                          : p->next;
        if (off < 0) {
            continue;
        }
        char *meta = s->h.commit_metadata
                         ? s->h.commit_metadata(s, p->topic, p->partition, off, s->h.ud)
                         : NULL;
        int meta_changed = (meta == NULL) != (p->stored_meta == NULL) ||
                           (meta && strcmp(meta, p->stored_meta) != 0);
        if (off != p->stored || meta_changed) {
            j->offs[j->noffs++] = (struct stored){cm_xstrdup(p->topic), p->partition, off,
                                                  meta ? cm_xstrdup(meta) : NULL};
            p->stored = off;
            free(p->stored_meta);
            p->stored_meta = meta;
        } else {
            free(meta);
        }
    }
    j->snap = s->h.snapshot ? s->h.snapshot(s, s->h.ud) : NULL;
    if (j->nouts == 0 && !j->snap && j->noffs == 0) {
        free_job(s, j);
        return atomic_load(&s->abandoned) ? CM_E_UNAVAIL : 0;
    }
    pthread_mutex_lock(&s->jobs_lock);
    while (s->njobs >= MAX_JOBS) {
        pthread_cond_wait(&s->jobs_changed, &s->jobs_lock);
    }
    if (s->tail) {
        s->tail->next = j;
    } else {
        s->head = j;
    }
    s->tail = j;
    s->njobs++;
    pthread_cond_broadcast(&s->jobs_changed);
    pthread_mutex_unlock(&s->jobs_lock);
    return atomic_load(&s->abandoned) ? CM_E_UNAVAIL : 0;
}
