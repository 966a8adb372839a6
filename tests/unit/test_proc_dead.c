/* Dead letters of the engine: every way an expression can fail on an input event (the source
 * filter, each step, the key, an interval join's sides, a time out of range) hands the input
 * event as it was read to out.dead_letter once, with the failing field and the reason; what does
 * not fail (filtered, unmatched, late) never does; and what the second stage of two reads back is
 * never dead-lettered again. Also the definition's "dead_letter" member. */
#include "proc_test.h"

#include "../../services/processor/proc_engine.h"

#include "cm/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
    json_t *events; /* the events handed over */
    json_t *whys;   /* and the reasons */
};

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
}

static void on_dead(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    (void)d;
    struct got *g = ud;
    json_array_append_new(g->events, json_deep_copy(ev));
    json_array_append_new(g->whys, json_string(why));
}

/* Runs the definition over one event (with time_ms) and returns what was dead-lettered. */
static struct got run_one(const char *def, const char *event, int64_t time_ms)
{
    struct proc_def *d = proc_test_def(def);
    struct got g = {json_array(), json_array()};
    struct proc_engine_out out = {
        .emit = on_emit, .late = on_late, .dead_letter = on_dead, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    json_t *ev = json_loads(event, 0, NULL);
    cr_assert_not_null(ev, "%s", event);
    proc_engine_process(e, 0, ev, time_ms, 0, 0);
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    for (size_t i = 0; i < json_array_size(g.events); i++) {
        cr_assert(json_equal(json_array_get(g.events, i), ev), "the input event as it was read");
    }
    json_decref(ev);
    proc_engine_free(e);
    proc_def_free(d);
    return g;
}

static void got_free(struct got *g)
{
    json_decref(g->events);
    json_decref(g->whys);
}

#define WIN                                                                                        \
    "\"window\": {\"type\": \"tumbling\", \"size\": \"1m\"}, \"aggregates\": {\"n\": \"count()\"}"
#define T 1767225600000LL

struct dead_case {
    const char *def;   /* the members after "name" */
    const char *event; /* its data */
    const char *why;   /* the reason's start; NULL: not dead-lettered */
};

static const struct dead_case cases[] = {
    /* each place an expression fails */
    {"\"source\": {\"filter\": \"data.x > 1\"}, \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"x\": \"text\"}", "source.filter: "},
    {"\"steps\": [{\"filter\": \"data.x > 1\"}], \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"x\": [1]}", "steps[0].filter: "},
    {"\"steps\": [{\"filter\": \"true\"}, {\"map\": {\"k\": \"data.k\", \"amount\": "
     "\"double(data.amount)\"}}], \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"amount\": \"x\"}", "steps[1].map.amount: "},
    {"\"steps\": [{\"flatMap\": \"data.items\"}], \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"items\": \"none\"}", "steps[0].flatMap: not a list"},
    {"\"steps\": [{\"flatMap\": \"data.items\"}], \"key\": \"data.k\", " WIN, "{\"k\": \"a\"}",
     "steps[0].flatMap: "},
    {"\"key\": \"data.k\", " WIN, "{\"x\": 1}", "key: "},
    {"\"key\": \"data.k + 1\", " WIN, "{\"k\": \"a\"}", "key: "},
    /* two elements fail the key: one dead letter */
    {"\"steps\": [{\"flatMap\": \"data.items\"}], \"key\": \"data.k\", " WIN,
     "{\"items\": [{\"k\": \"a\"}, {\"x\": 1}, {\"y\": 2}]}", "key: "},
    {"\"steps\": [{\"join\": {\"topic\": \"t\", \"key\": \"data.id\", \"as\": \"row\"}}], "
     "\"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"id\": [1, 2]}", "steps[0].join.key: not a string or a number"},
    {"\"steps\": [{\"join\": {\"topic\": \"t\", \"key\": \"data.id\", \"as\": \"row\"}}], "
     "\"key\": \"data.k\", " WIN,
     "{\"k\": \"a\"}", "steps[0].join.key: "},
    {"\"key\": \"data.k\", \"interval_join\": {\"left\": {\"filter\": \"data.side > 0\"}, "
     "\"right\": {\"filter\": \"data.side < 0\"}, \"lower\": \"0s\", \"upper\": \"1m\"}",
     "{\"k\": \"a\", \"side\": \"x\"}", "interval_join.left.filter: "},
    {"\"key\": \"data.k\", \"interval_join\": {\"left\": {\"filter\": \"data.side == 'l'\"}, "
     "\"right\": {\"filter\": \"data.side < 0\"}, \"lower\": \"0s\", \"upper\": \"1m\"}",
     "{\"k\": \"a\", \"side\": \"x\"}", "interval_join.right.filter: "},
    {"\"key\": \"data.k\", \"interval_join\": {\"left\": {\"filter\": \"true\", \"key\": "
     "\"data.lk\"}, \"right\": {\"filter\": \"false\"}, \"lower\": \"0s\", \"upper\": \"1m\"}",
     "{\"k\": \"a\"}", "interval_join.left.key: "},
    {"\"key\": \"data.k\", \"deduplicate\": {\"by\": \"data.id + 1\"}, " WIN,
     "{\"k\": \"a\", \"id\": \"x\"}", "deduplicate.by: "},
    /* stateless */
    {"\"steps\": [{\"map\": {\"v\": \"int(data.v)\"}}]", "{\"v\": \"z\"}", "steps[0].map.v: "},
    /* what is not an error */
    {"\"source\": {\"filter\": \"data.x > 1\"}, \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"x\": 0}", NULL},
    {"\"steps\": [{\"filter\": \"has(data.x) && data.x > 1\"}], \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\"}", NULL},
    {"\"steps\": [{\"join\": {\"topic\": \"t\", \"key\": \"data.id\", \"as\": \"row\"}}], "
     "\"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"id\": \"no-row\"}", NULL},
    /* a left join keeps an event whose key cannot be computed, with null: it has no row */
    {"\"steps\": [{\"join\": {\"topic\": \"t\", \"key\": \"data.id\", \"as\": \"row\", "
     "\"type\": \"left\"}}], \"key\": \"data.k\", " WIN,
     "{\"k\": \"a\", \"id\": [1, 2]}", NULL},
    {"\"steps\": [{\"flatMap\": \"data.items\"}], \"key\": \"data.k\", " WIN, "{\"items\": []}",
     NULL},
    {"\"key\": \"data.k\", " WIN, "{\"k\": 7}", NULL},
    /* an aggregate's argument that fails skips the value; the event is windowed */
    {"\"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"1m\"}, "
     "\"aggregates\": {\"s\": \"sum(double(data.v))\"}",
     "{\"k\": \"a\", \"v\": \"x\"}", NULL},
    {"\"key\": \"data.k\", \"interval_join\": {\"left\": {\"filter\": \"data.side == 'l'\"}, "
     "\"right\": {\"filter\": \"data.side == 'r'\"}, \"lower\": \"0s\", \"upper\": \"1m\"}",
     "{\"k\": \"a\", \"side\": \"x\"}", NULL},
};

Test(proc_dead, each_failing_expression_hands_the_input_event_over_once_with_its_reason)
{
    size_t n = sizeof(cases) / sizeof(cases[0]), dead = 0;
    cr_assert_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        char def[1024], event[512];
        snprintf(def, sizeof(def), "{\"name\": \"p\", %s}", cases[i].def);
        snprintf(
            event, sizeof(event),
            "{\"specversion\": \"1.0\", \"type\": \"t\", \"source\": \"/s\", \"id\": \"e%zu\", "
            "\"time\": \"2026-01-01T00:00:00Z\", \"data\": %s}",
            i, cases[i].event);
        struct got g = run_one(def, event, T);
        if (!cases[i].why) {
            cr_assert_eq(json_array_size(g.whys), 0, "case %zu: dead-lettered: %s", i,
                         json_string_value(json_array_get(g.whys, 0)));
        } else {
            cr_assert_eq(json_array_size(g.whys), 1, "case %zu: %zu dead letters", i,
                         json_array_size(g.whys));
            const char *why = json_string_value(json_array_get(g.whys, 0));
            cr_assert(strncmp(why, cases[i].why, strlen(cases[i].why)) == 0,
                      "case %zu: '%s', not '%s...'", i, why, cases[i].why);
            cr_assert_gt(strlen(why), strlen("key: ") + 3, "case %zu: no reason: '%s'", i, why);
            dead++;
        }
        got_free(&g);
    }
    cr_assert_gt(dead, 10);
}

Test(proc_dead, a_time_out_of_range_is_a_dead_letter_of_a_windowed_pipeline_only)
{
    const char *ev = "{\"type\": \"t\", \"source\": \"/s\", \"id\": \"x\", \"data\": {\"k\": 1}}";
    struct got g = run_one("{\"name\": \"p\", \"key\": \"data.k\", " WIN "}", ev, INT64_MAX / 2);
    cr_assert_eq(json_array_size(g.whys), 1);
    cr_assert(strncmp(json_string_value(json_array_get(g.whys, 0)), "time: ", 6) == 0, "%s",
              json_string_value(json_array_get(g.whys, 0)));
    got_free(&g);
    g = run_one("{\"name\": \"p\"}", ev, INT64_MAX / 2);
    cr_assert_eq(json_array_size(g.whys), 0, "a stateless pipeline takes any time");
    got_free(&g);
}

static void on_prepared(const json_t *ev, const char *tenant, const char *key, int unchanged,
                        const json_t *args, void *ud)
{
    (void)ev;
    (void)tenant;
    (void)key;
    (void)unchanged;
    (void)args;
    (*(int *)ud)++;
}

Test(proc_dead, the_first_stage_dead_letters_and_the_second_does_not_again)
{
    struct proc_def *d = proc_test_def("{\"name\": \"p\", \"key\": \"data.k\", " WIN "}");
    struct got g = {json_array(), json_array()};
    struct proc_engine_out out = {
        .emit = on_emit, .late = on_late, .dead_letter = on_dead, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    json_t *bad = json_loads("{\"type\": \"t\", \"source\": \"/s\", \"id\": \"x\", \"data\": {}}",
                             0, NULL),
           *good = json_loads(
               "{\"type\": \"t\", \"source\": \"/s\", \"id\": \"y\", \"data\": {\"k\": \"a\"}}", 0,
               NULL);
    int prepared = 0;
    proc_engine_prepare(e, 0, bad, T, PROC_NO_RECORD_TIME, 0, on_prepared, &prepared);
    proc_engine_prepare(e, 0, good, T, PROC_NO_RECORD_TIME, 0, on_prepared, &prepared);
    cr_assert_eq(prepared, 1);
    cr_assert_eq(json_array_size(g.whys), 1);
    cr_assert(json_equal(json_array_get(g.events, 0), bad));
    /* read back by the second stage (as from the repartition topic): counted, not handed over */
    proc_engine_window(e, 0, bad, T, 0, NULL, 0);
    cr_assert_eq(json_array_size(g.whys), 1);
    json_decref(bad);
    json_decref(good);
    proc_engine_free(e);
    proc_def_free(d);
    got_free(&g);
}

Test(proc_dead, the_definition_names_a_topic_or_turns_dead_letters_off)
{
    struct proc_def *d = proc_test_def("{\"name\": \"p\"}");
    cr_assert_null(d->dead_letter_topic);
    cr_assert_eq(d->dead_letter_off, 0);
    proc_def_free(d);
    d = proc_test_def("{\"name\": \"p\", \"dead_letter\": {\"topic\": \"p.dlq\"}}");
    cr_assert_str_eq(d->dead_letter_topic, "p.dlq");
    proc_def_free(d);
    d = proc_test_def("{\"name\": \"p\", \"dead_letter\": false}");
    cr_assert_eq(d->dead_letter_off, 1);
    proc_def_free(d);
    static const char *const bad[][2] = {
        {"{\"name\": \"p\", \"dead_letter\": true}", "dead_letter: must be an object"},
        {"{\"name\": \"p\", \"dead_letter\": \"dlq\"}", "dead_letter: must be an object"},
        {"{\"name\": \"p\", \"dead_letter\": {}}", "dead_letter.topic: must be a topic name"},
        {"{\"name\": \"p\", \"dead_letter\": {\"topic\": \"a b\"}}",
         "dead_letter.topic: must be a topic name"},
        {"{\"name\": \"p\", \"dead_letter\": {\"topic\": \"events\"}}",
         "dead_letter.topic: 'events' is also a source topic"},
        {"{\"name\": \"p\", \"dead_letter\": {\"topic\": \"x.repartition\"}}",
         "dead_letter.topic: a topic named *.repartition"},
        {"{\"name\": \"p\", \"dead_letter\": {\"topic\": \"d\", \"tries\": 3}}",
         "dead_letter.tries"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = json_loads(bad[i][0], 0, NULL);
        cr_assert_not_null(doc);
        char err[256] = "";
        cr_assert_null(proc_def_parse(doc, "events", "derived", err, sizeof(err)), "%s", bad[i][0]);
        cr_assert(strstr(err, bad[i][1]) != NULL, "%s: '%s'", bad[i][0], err);
        json_decref(doc);
    }
}

/* ---- max_time_ahead: an event's time against its record's timestamp ---- */

struct ahead_run {
    struct got g;
    json_t *results; /* the data of each result emitted */
    struct proc_engine *e;
    struct proc_def *d;
    struct cm_metrics *m;
};

static void on_emit_keep(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct ahead_run *r = ud;
    json_array_append(r->results, json_object_get(ev, "data"));
}

static void on_dead_keep(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    on_dead(d, ev, why, &((struct ahead_run *)ud)->g);
}

static void ahead_open(struct ahead_run *r, const char *def)
{
    r->g = (struct got){json_array(), json_array()};
    r->results = json_array();
    r->d = proc_test_def(def);
    r->m = cm_metrics_new("t_");
    struct proc_engine_out out = {
        .emit = on_emit_keep, .late = on_late, .dead_letter = on_dead_keep, .ud = r};
    r->e = proc_engine_new(r->d, &out, r->m);
}

/* One event of key k at time_ms from a record stamped record_ms, at offset. */
static void ahead_feed(struct ahead_run *r, const char *k, int64_t time_ms, int64_t record_ms,
                       int64_t offset)
{
    char text[256];
    snprintf(text, sizeof(text),
             "{\"type\": \"t\", \"source\": \"/s\", \"id\": \"e%lld\", \"data\": {\"k\": \"%s\"}}",
             (long long)offset, k);
    json_t *ev = json_loads(text, 0, NULL);
    proc_engine_process_record(r->e, 0, ev, time_ms, record_ms, offset, NULL, 0);
    json_decref(ev);
}

/* The value of the time_ahead series in the metrics' text (0 when absent). */
static double ahead_count(struct ahead_run *r)
{
    char *all = cm_metrics_render(r->m);
    const char *at = strstr(all, "t_records_total{pipeline=\"p\",outcome=\"time_ahead\"} ");
    double v = at ? strtod(strchr(at, '}') + 2, NULL) : 0;
    free(all);
    return v;
}

static void ahead_close(struct ahead_run *r)
{
    proc_engine_free(r->e);
    proc_def_free(r->d);
    cm_metrics_free(r->m);
    json_decref(r->results);
    got_free(&r->g);
}

#define HOUR 3600000LL

Test(proc_dead, an_event_further_ahead_of_its_record_than_max_time_ahead_is_a_dead_letter)
{
    struct ahead_run r;
    ahead_open(&r, "{\"name\": \"p\", \"key\": \"data.k\", " WIN "}");
    cr_assert_eq(r.d->max_ahead_ms, HOUR, "the default is an hour, as the gateway's");
    ahead_feed(&r, "a", T + HOUR + 1, T, 0); /* a millisecond more than an hour: refused */
    ahead_feed(&r, "b", T + 3000 * 365 * 24 * HOUR, T + 5, 1); /* a clock years ahead */
    cr_assert_eq(json_array_size(r.g.whys), 2);
    cr_assert_str_eq(json_string_value(json_array_get(r.g.whys, 0)),
                     "time: 2026-01-01T01:00:00.001Z is more than 1h ahead of its record's "
                     "timestamp 2026-01-01T00:00:00.000Z (max_time_ahead)");
    cr_assert(strstr(json_string_value(json_array_get(r.g.whys, 1)),
                     "more than 1h ahead of its record's timestamp 2026-01-01T00:00:00.005Z") !=
                  NULL,
              "%s", json_string_value(json_array_get(r.g.whys, 1)));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r.g.events, 0), "id")), "e0",
                     "the input event as it was read");
    cr_assert_eq(ahead_count(&r), 2);
    /* neither moved the watermark: an event of the first minute is on time, not late */
    ahead_feed(&r, "a", T + 1000, T + 1000, 2);
    ahead_feed(&r, "a", T + HOUR, T, 3); /* exactly an hour ahead: taken */
    cr_assert_eq(json_array_size(r.g.whys), 2);
    cr_assert_eq(json_array_size(r.results), 1, "its watermark fired the first minute");
    proc_engine_watermark(r.e, PROC_WATERMARK_MAX);
    cr_assert_eq(json_array_size(r.results), 2, "the first minute and the next hour's");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(r.results, 0), "n")), 1);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(r.results, 0), "window_start")),
        "2026-01-01T00:00:00.000Z");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(r.results, 1), "window_start")),
        "2026-01-01T01:00:00.000Z");
    ahead_close(&r);
}

Test(proc_dead, max_time_ahead_is_set_turned_off_and_not_applied_without_a_record_timestamp)
{
    struct ahead_run r;
    ahead_open(&r, "{\"name\": \"p\", \"key\": \"data.k\", \"max_time_ahead\": \"5m\", " WIN "}");
    ahead_feed(&r, "a", T + 300000, T, 0);
    ahead_feed(&r, "a", T + 300001, T, 1);
    cr_assert_eq(json_array_size(r.g.whys), 1);
    cr_assert(strstr(json_string_value(json_array_get(r.g.whys, 0)), " more than 5m ahead ") !=
                  NULL,
              "%s", json_string_value(json_array_get(r.g.whys, 0)));
    ahead_feed(&r, "a", T + 24 * HOUR, -1, 2); /* Kafka's -1: a record without a timestamp */
    ahead_feed(&r, "a", T + 24 * HOUR, PROC_NO_RECORD_TIME, 3);
    cr_assert_eq(json_array_size(r.g.whys), 1, "no timestamp, nothing to compare with");
    ahead_close(&r);

    ahead_open(&r, "{\"name\": \"p\", \"key\": \"data.k\", \"max_time_ahead\": \"0\", " WIN "}");
    ahead_feed(&r, "a", T + 1000 * 24 * HOUR, T, 0);
    cr_assert_eq(json_array_size(r.g.whys), 0, "0: no bound");
    ahead_close(&r);

    ahead_open(&r, "{\"name\": \"p\"}"); /* stateless: no watermark to move */
    ahead_feed(&r, "a", T + 1000 * 24 * HOUR, T, 0);
    cr_assert_eq(json_array_size(r.g.whys), 0);
    cr_assert_eq(json_array_size(r.results), 1);
    ahead_close(&r);

    /* a record stamped later than its event (a back-fill) is never refused */
    ahead_open(&r, "{\"name\": \"p\", \"key\": \"data.k\", " WIN "}");
    ahead_feed(&r, "a", T, T + 1000 * 24 * HOUR, 0);
    cr_assert_eq(json_array_size(r.g.whys), 0);
    ahead_close(&r);

    static const char *const bad[] = {"\"-1h\"", "\"1y\"", "3600", "\"400d\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"name\": \"p\", \"max_time_ahead\": %s}", bad[i]);
        json_t *doc = json_loads(text, 0, NULL);
        char err[256] = "";
        cr_assert_null(proc_def_parse(doc, "events", "derived", err, sizeof(err)), "%s", text);
        cr_assert(strncmp(err, "max_time_ahead: ", 16) == 0, "%s: '%s'", text, err);
        json_decref(doc);
    }
}

Test(proc_dead, the_first_stage_refuses_an_event_too_far_ahead_of_its_record)
{
    struct proc_def *d = proc_test_def("{\"name\": \"p\", \"key\": \"data.k\", " WIN "}");
    struct got g = {json_array(), json_array()};
    struct proc_engine_out out = {
        .emit = on_emit, .late = on_late, .dead_letter = on_dead, .ud = &g};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    json_t *ev = json_loads(
        "{\"type\": \"t\", \"source\": \"/s\", \"id\": \"y\", \"data\": {\"k\": \"a\"}}", 0, NULL);
    int prepared = 0;
    proc_engine_prepare(e, 0, ev, T + 2 * HOUR, T, 0, on_prepared, &prepared);
    cr_assert_eq(prepared, 0);
    cr_assert_eq(json_array_size(g.whys), 1);
    cr_assert_eq(proc_engine_origin_wm(e, 0), INT64_MIN, "its watermark did not move");
    proc_engine_prepare(e, 0, ev, T + HOUR, T, 0, on_prepared, &prepared);
    cr_assert_eq(prepared, 1);
    cr_assert_eq(json_array_size(g.whys), 1);
    json_decref(ev);
    proc_engine_free(e);
    proc_def_free(d);
    got_free(&g);
}
