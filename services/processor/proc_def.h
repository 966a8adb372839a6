/* proc_def: a pipeline definition (docs/pipelines.md), parsed and validated from its JSON
 * document: source topics and filter, steps (map, flatMap, filter), key, window (tumbling,
 * hopping, session), event-time settings, aggregates, having, emit mode and sink.
 * Every expression is compiled here, so a definition that parses runs. A proc_def is immutable
 * after parsing: share it between threads. */
#ifndef PROC_DEF_H
#define PROC_DEF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_expr;

enum proc_step_kind { PROC_STEP_MAP, PROC_STEP_FLATMAP, PROC_STEP_FILTER, PROC_STEP_JOIN };

struct proc_step {
    enum proc_step_kind kind;
    struct cm_expr *expr;   /* flatMap, filter; join: the key */
    char *table;            /* join: the table's topic, or "redis:H" for the Redis hash H
                             * (proc_join_redis_hash) */
    char *as;               /* join: the field of data the row goes to; flatMap: the field
                             * each element goes to (NULL: the element becomes data) */
    int left;               /* join: keep events without a row (as null) */
    char **names;           /* map: field names of the new data ... */
    struct cm_expr **exprs; /* ... and their expressions */
    size_t n;
};

/* PROC_WIN_JOIN: an interval join of two streams (keyed, event-time state like a window). */
enum proc_window_kind {
    PROC_WIN_NONE,
    PROC_WIN_TUMBLING,
    PROC_WIN_HOPPING,
    PROC_WIN_SESSION,
    PROC_WIN_JOIN
};

/* An interval join (docs/pipelines.md): events of the left and right side with the same key
 * pair up when right.time - left.time lies in [lower, upper]. */
enum { PROC_LEFT = 0, PROC_RIGHT = 1 };
struct proc_ijoin {
    struct cm_expr *filter[2]; /* which events are of the side */
    struct cm_expr *key[2];    /* the side's key; NULL: the pipeline's key */
    char *as[2];               /* the field of the result's data each side's data goes to */
    int64_t lower, upper;
    int outer;            /* "type": "left": a left without any match is emitted with null */
    long long max_events; /* events one key keeps (max_events_per_key; 0: no bound) */
};

enum proc_agg_kind {
    PROC_AGG_COUNT,
    PROC_AGG_SUM,
    PROC_AGG_AVG,
    PROC_AGG_MIN,
    PROC_AGG_MAX,
    PROC_AGG_DISTINCT,
    PROC_AGG_PERCENTILE,
    PROC_AGG_VAR_SAMP, /* variance, var_samp */
    PROC_AGG_VAR_POP,
    PROC_AGG_STDDEV_SAMP, /* stddev, stddev_samp */
    PROC_AGG_STDDEV_POP,
    PROC_AGG_FIRST,         /* first, first_value: the value at the earliest event time */
    PROC_AGG_LAST,          /* last, last_value: the value at the latest event time */
    PROC_AGG_TOPK,          /* topk(x, k): the k greatest values, greatest first */
    PROC_AGG_TOPK_DISTINCT, /* topk_distinct(x, k): the k greatest distinct values */
    PROC_AGG_COLLECT_LIST,  /* collect_list(x[, n]): the values by event time, the first n */
    PROC_AGG_COLLECT_SET,   /* collect_set(x[, n]): the distinct values by first event time */
    PROC_AGG_COUNT_IF       /* count_if(cond): the events for which cond is true */
};
/* The variance family keeps a count, a mean and a sum of squared deviations. */
#define PROC_AGG_IS_TOPK(k) ((k) == PROC_AGG_TOPK || (k) == PROC_AGG_TOPK_DISTINCT)
#define PROC_TOPK_MAX 1000
#define PROC_AGG_IS_COLLECT(k) ((k) == PROC_AGG_COLLECT_LIST || (k) == PROC_AGG_COLLECT_SET)
#define PROC_COLLECT_MAX 1000
#define PROC_AGG_IS_SPREAD(k) ((k) >= PROC_AGG_VAR_SAMP && (k) <= PROC_AGG_STDDEV_POP)

struct proc_agg_def {
    char *name;
    enum proc_agg_kind kind;
    struct cm_expr *arg; /* NULL for count() */
    double q;            /* percentile */
    int k; /* topk, topk_distinct: 1 to PROC_TOPK_MAX; collect: its limit, to PROC_COLLECT_MAX */
};

struct proc_def {
    char *name;
    long long version; /* "version" of the document, set by the definitions store; 1 when absent */
    json_t *doc;       /* the document as given (owned) */
    /* a digest of the document without its version: two versions computing the same give the
     * same; checkpoints carry it, so one of another definition under the same version (a file
     * changed without a new version, when no store numbers them) is never loaded */
    char digest[37];
    char **topics;
    size_t ntopics;
    struct cm_expr *filter; /* source.filter; NULL: every event */
    struct cm_expr *time;   /* source.time: each event's time; NULL: its `time` */
    /* source.start: the pipeline runs on a consumer group of its own (the processor's
     * proc_fleet), which starts at the beginning of its topics ("earliest") or at start_ms (a
     * time: the records stamped at or after it; 0 for "earliest"), or ("latest": start_latest)
     * at the time its run began (its first version's creation, which proc_fleet knows); 0: on
     * the processor's group, from its position */
    int own_group;
    int start_latest;
    int64_t start_ms;
    struct proc_step *steps;
    size_t nsteps;
    struct cm_expr *key; /* NULL: the record's Kafka key decides nothing; key "" */
    enum proc_window_kind window;
    int64_t size_ms, slide_ms, gap_ms, pane_ms; /* pane = gcd(size, slide) for hopping */
    int64_t offset_ms; /* windows and panes start at offset + k * slide (k * pane); < slide */
    int64_t ooo_ms, lateness_ms, idle_ms;
    int64_t max_ahead_ms; /* max_time_ahead: an event whose time is further ahead of its Kafka
                           * record's timestamp is a dead letter (0: no bound) */
    long long max_keys;   /* keys a window's or interval join's state holds per input partition:
                           * an event that would add one more is a dead letter (0: no bound) */
    long long max_keys_per_tenant; /* the same for the keys of one tenant (0: no bound) */
    struct proc_agg_def *aggs;
    size_t naggs;
    struct cm_expr *having; /* NULL: every window */
    int retract;            /* session windows: a result that went out for a session a merge
                             * replaces (or that grows) is withdrawn by a pipeline.retraction */
    int emit_update;        /* 1: on every change; 0: final */
    int64_t early_ms;       /* emit final: also fire changed open windows whenever the
                             * watermark passes a multiple of it (0: never) */
    int repartition;        /* keyed window input re-keyed through <name>.repartition */
    char *repartition_topic;
    char *sink_topic;
    /* events it cannot process (an expression fails on them) go to this topic with the
     * reason; NULL: the processor's default (TOPIC_DLQ), unless dead_letter_off */
    char *dead_letter_topic;
    int dead_letter_off; /* "dead_letter": false: only counted */
    char **tables;       /* topics of the tables its join steps read (distinct) */
    size_t ntables;
    int batch_max;            /* outputs per batch event; 0: no batching */
    int64_t batch_timeout_ms; /* a batch is closed this long after its first output */
    struct proc_ijoin ijoin;  /* window PROC_WIN_JOIN */
    /* "deduplicate": what identifies an event (the expression `by`, by default [source, id]),
     * whose repeats a key's windows drop while the first one's windows are live; NULL: none */
    struct cm_expr *dedup;
    long long dedup_max_ids; /* deduplicate.max_ids_per_key: past it a key forgets its oldest */
    int dedup_default;       /* by the default [source, id] (computed without the expression) */
};
/* deduplicate.max_ids_per_key's default: about 10 MB of ids for one key (docs/pipelines.md) */
#define PROC_DEDUP_MAX_IDS_DEFAULT 100000

#define PROC_BATCH_MAX 10000
/* max_time_ahead's default, as GATEWAY_MAX_TIME_AHEAD's */
#define PROC_MAX_AHEAD_DEFAULT_MS 3600000
/* max_keys' default: about 60 MB of state per partition for a count and a sum (docs/pipelines.md,
 * Bounded state) */
#define PROC_MAX_KEYS_DEFAULT 100000
#define PROC_MAX_KEYS_LIMIT 1000000000LL
/* interval_join.max_events_per_key's default */
#define PROC_JOIN_MAX_EVENTS_DEFAULT 10000

#define PROC_NAME_MAX 100
/* Steps of a pipeline: with a flatMap's place in each (up to 4 digits) an output's path, which its
 * id hashes, stays within 256 bytes, so two outputs never share an id. */
#define PROC_STEPS_MAX 32

/* Parses doc (borrowed; a copy is kept). Returns the definition (caller frees with
 * proc_def_free) or NULL with "field: reason" in err. default_sink is the topic used when the
 * document names none; default_topics likewise (comma-separated). */
struct proc_def *proc_def_parse(const json_t *doc, const char *default_topics,
                                const char *default_sink, char *err, size_t errlen);
/* Reads and parses a file. */
struct proc_def *proc_def_load_file(const char *path, const char *default_topics,
                                    const char *default_sink, char *err, size_t errlen);
void proc_def_free(struct proc_def *d);
/* The Redis hash a join step's table names ("redis:H"), or NULL for a table kept from a topic. */
const char *proc_join_redis_hash(const char *table);
/* What looks wrong about a valid definition without stopping it (proc_def_shape.c): an
 * expression reading a field of data that the steps before it never make. A JSON array of
 * messages naming the field ("aggregates.total: reads data.amount, ..."), or NULL for none. */
json_t *proc_def_warnings(const struct proc_def *d);
/* The latest start at or before t of d's grid of `unit` (its slide: window starts; its pane: pane
 * starts), which starts at offset_ms + k * unit; proc_def_align_up: the earliest at or after t. */
static inline int64_t proc_def_align(const struct proc_def *d, int64_t t, int64_t unit)
{
    int64_t x = t - d->offset_ms, q = x / unit;
    if (x % unit != 0 && x < 0) {
        q--; /* floored: windows before 1970 too */
    }
    return q * unit + d->offset_ms;
}
static inline int64_t proc_def_align_up(const struct proc_def *d, int64_t t, int64_t unit)
{
    int64_t a = proc_def_align(d, t, unit);
    return a < t ? a + unit : a;
}
/* An interval join's side of ev: PROC_LEFT, PROC_RIGHT, -1 for neither (the left filter is
 * tried first), -2 when a filter fails on it. */
int proc_def_join_side(const struct proc_def *d, const json_t *ev);
/* 1 for a name of the form <pipeline>.repartition: a pipeline's own repartition topic, whose
 * records are frames and watermark reports (no pipeline reads or writes it otherwise). */
int proc_def_is_repartition_topic(const char *topic);

#endif
