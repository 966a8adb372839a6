/* Dead letters of the engine: every way an expression can fail on an input event (the source
 * filter, each step, the key, an interval join's sides, a time out of range) hands the input
 * event as it was read to out.dead_letter once, with the failing field and the reason; what does
 * not fail (filtered, unmatched, late) never does; and what the second stage of two reads back is
 * never dead-lettered again. Also the definition's "dead_letter" member. */
#include "proc_test.h"

#include "../../services/processor/proc_engine.h"

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
    proc_engine_prepare(e, 0, bad, T, 0, on_prepared, &prepared);
    proc_engine_prepare(e, 0, good, T, 0, on_prepared, &prepared);
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
