/* The pipelines' graph of topics (proc_graph): a pipeline that would close a cycle with the
 * others is refused, naming its first output's field and the path round (through sinks, late
 * events and dead letters); a pipeline off every cycle, one whose way round is broken by
 * "dead_letter": false, and the default dead-letter topic of a pipeline that reads it are not.
 * And the warnings of a pipeline windowing the results of another's windows by their time. */
#include "proc_test.h"

#include "../../services/processor/proc_graph.h"

#include <string.h>

static const struct proc_graph_topics topics = {"events.late", "dlq"};

/* The definitions of others (NULL-terminated, at most 8) compiled into o; how many. */
static size_t compile_all(const char *const *others, struct proc_def *o[8])
{
    size_t n = 0;
    while (others[n]) {
        cr_assert_lt(n, 8);
        o[n] = proc_test_def(others[n]);
        n++;
    }
    return n;
}

static void free_all(struct proc_def *o[8], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        proc_def_free(o[i]);
    }
}

/* proc_graph_check of the first definition against the others (NULL-terminated); the message
 * into err (256 bytes). */
static int check(const char *def, const char *const *others, char *err)
{
    struct proc_def *d = proc_test_def(def);
    struct proc_def *o[8];
    size_t n = compile_all(others, o);
    err[0] = '\0';
    int rc = proc_graph_check(d, (const struct proc_def *const *)o, n, &topics, err, 256);
    free_all(o, n);
    proc_def_free(d);
    return rc;
}

#define MAP "\"steps\": [{\"map\": {\"x\": \"1\"}}]"
#define WINDOW                                                                                     \
    "\"key\": \"subject\", \"window\": {\"type\": \"tumbling\", \"size\": \"10s\"}, "              \
    "\"aggregates\": {\"n\": \"count()\"}"

Test(proc_graph, two_pipelines_through_their_sinks)
{
    const char *others[] = {"{\"name\": \"b\", \"source\": {\"topics\": [\"t2\"]}, " MAP
                            ", \"sink\": {\"topic\": \"events\"}}",
                            NULL};
    char err[256];
    cr_assert_eq(check("{\"name\": \"a\", " MAP ", \"sink\": {\"topic\": \"t2\"}}", others, err),
                 -1);
    cr_assert_str_eq(err, "sink.topic: events would go round without end: this pipeline writes "
                          "'t2' (its sink), pipeline 'b' reads it and writes 'events' (its sink), "
                          "which this pipeline reads");
    /* the same pipeline writing elsewhere closes nothing */
    cr_assert_eq(check("{\"name\": \"a\", " MAP ", \"sink\": {\"topic\": \"t3\"}}", others, err), 0,
                 "%s", err);
}

Test(proc_graph, a_longer_way_round_named_step_by_step)
{
    const char *others[] = {
        "{\"name\": \"side\", \"source\": {\"topics\": [\"t2\"]}, " MAP
        ", \"sink\": {\"topic\": \"elsewhere\"}, \"dead_letter\": false}",
        "{\"name\": \"b\", \"source\": {\"topics\": [\"t2\"]}, " MAP
        ", \"sink\": {\"topic\": \"t3\"}, \"dead_letter\": false}",
        "{\"name\": \"c\", \"source\": {\"topics\": [\"t3\"]}, \"steps\": [{\"map\": {\"x\": "
        "\"double(data.s)\"}}], \"sink\": {\"topic\": \"t4\"}, \"dead_letter\": {\"topic\": "
        "\"in\"}}",
        NULL};
    char err[256];
    cr_assert_eq(check("{\"name\": \"a\", \"source\": {\"topics\": [\"in\"]}, " MAP
                       ", \"sink\": {\"topic\": \"t2\"}, \"dead_letter\": false}",
                       others, err),
                 -1);
    cr_assert_str_eq(err, "sink.topic: events would go round without end: this pipeline writes "
                          "'t2' (its sink), pipeline 'b' reads it and writes 't3' (its sink), "
                          "pipeline 'c' reads it and writes 'in' (its dead letters), which this "
                          "pipeline reads");
}

Test(proc_graph, late_events_and_dead_letters_are_ways_round)
{
    /* a windowed pipeline's late events, transformed back into its input, are late again */
    const char *relate[] = {
        "{\"name\": \"relate\", \"source\": {\"topics\": [\"events.late\"]}, " MAP
        ", \"sink\": {\"topic\": \"events\"}, \"dead_letter\": false}",
        NULL};
    char err[256];
    cr_assert_eq(check("{\"name\": \"w\", " WINDOW ", \"dead_letter\": false}", relate, err), -1);
    cr_assert(strncmp(err, "window: ", 8) == 0, "%s", err);
    cr_assert(strstr(err, "writes 'events.late' (its late events)") != NULL, "%s", err);
    /* a stateless pipeline has no late events */
    cr_assert_eq(check("{\"name\": \"s\", " MAP ", \"dead_letter\": false}", relate, err), 0, "%s",
                 err);
    /* the dead letters of a pipeline, replayed into its input, fail again */
    const char *replay[] = {"{\"name\": \"replay\", \"source\": {\"topics\": [\"dlq\"]}, " MAP
                            ", \"sink\": {\"topic\": \"events\"}}",
                            NULL};
    cr_assert_eq(check("{\"name\": \"s\", " MAP "}", replay, err), -1);
    cr_assert(strncmp(err, "dead_letter: ", 13) == 0, "%s", err);
    cr_assert(strstr(err, "writes 'dlq' (its dead letters), pipeline 'replay'") != NULL, "%s", err);
    cr_assert_eq(check("{\"name\": \"s\", " MAP ", \"dead_letter\": false}", replay, err), 0, "%s",
                 err);
    /* named: the field is dead_letter.topic */
    cr_assert_eq(
        check("{\"name\": \"s\", " MAP ", \"dead_letter\": {\"topic\": \"dlq\"}}", replay, err),
        -1);
    cr_assert(strncmp(err, "dead_letter.topic: ", 19) == 0, "%s", err);
    /* an interval join's late events: the field is interval_join */
    const char *join = "{\"name\": \"j\", \"key\": \"subject\", \"interval_join\": {\"left\": "
                       "{\"filter\": \"type == 'a'\"}, \"right\": {\"filter\": \"type == 'b'\"}, "
                       "\"lower\": \"0s\", \"upper\": \"1m\"}, \"dead_letter\": false}";
    cr_assert_eq(check(join, relate, err), -1);
    cr_assert(strncmp(err, "interval_join: ", 15) == 0, "%s", err);
}

Test(proc_graph, the_dead_letter_topic_of_a_pipeline_that_reads_it)
{
    struct proc_def *d = proc_test_def("{\"name\": \"x\", \"source\": {\"topics\": [\"dlq\"]}, " MAP
                                       ", \"sink\": {\"topic\": \"out\"}}");
    cr_assert_null(proc_graph_dead_letter_topic(d, "dlq"), "its failures are only counted");
    cr_assert_str_eq(proc_graph_dead_letter_topic(d, "dlq2"), "dlq2");
    proc_def_free(d);
    d = proc_test_def("{\"name\": \"x\", " MAP ", \"dead_letter\": {\"topic\": \"mine\"}}");
    cr_assert_str_eq(proc_graph_dead_letter_topic(d, "dlq"), "mine");
    proc_def_free(d);
    d = proc_test_def("{\"name\": \"x\", " MAP ", \"dead_letter\": false}");
    cr_assert_null(proc_graph_dead_letter_topic(d, "dlq"));
    proc_def_free(d);
    /* so a pipeline over the dead letters closes no cycle with a pipeline feeding it */
    const char *feeder[] = {"{\"name\": \"f\", \"source\": {\"topics\": [\"in\"]}, " MAP
                            ", \"sink\": {\"topic\": \"dlq\"}, \"dead_letter\": false}",
                            NULL};
    char err[256];
    cr_assert_eq(check("{\"name\": \"x\", \"source\": {\"topics\": [\"dlq\"]}, " MAP
                       ", \"sink\": {\"topic\": \"out\"}}",
                       feeder, err),
                 0, "%s", err);
}

Test(proc_graph, a_chain_and_a_fan_without_a_cycle)
{
    const char *others[] = {
        "{\"name\": \"b\", \"source\": {\"topics\": [\"derived\"]}, " MAP
        ", \"sink\": {\"topic\": \"t3\"}}",
        "{\"name\": \"c\", \"source\": {\"topics\": [\"derived\", \"t3\"]}, " MAP
        ", \"sink\": {\"topic\": \"t4\"}}",
        "{\"name\": \"d\", \"source\": {\"topics\": [\"t4\"]}, " WINDOW
        ", \"sink\": {\"topic\": \"t5\"}}",
        /* a cycle among the others, not through the new one, is not its fault */
        "{\"name\": \"e\", \"source\": {\"topics\": [\"t6\"]}, " MAP
        ", \"sink\": {\"topic\": \"t7\"}}",
        "{\"name\": \"f\", \"source\": {\"topics\": [\"t7\"]}, " MAP
        ", \"sink\": {\"topic\": \"t6\"}}",
        NULL};
    char err[256] = "";
    cr_assert_eq(check("{\"name\": \"a\", " WINDOW "}", others, err), 0, "%s", err);
    cr_assert_eq(check("{\"name\": \"a\", " MAP ", \"sink\": {\"topic\": \"t6\"}}", others, err), 0,
                 "%s", err);
}

Test(proc_graph, a_message_longer_than_its_buffer_is_cut)
{
    const char *others[] = {"{\"name\": \"b\", \"source\": {\"topics\": [\"t2\"]}, " MAP
                            ", \"sink\": {\"topic\": \"events\"}}",
                            NULL};
    struct proc_def *d = proc_test_def("{\"name\": \"a\", " MAP ", \"sink\": {\"topic\": \"t2\"}}");
    struct proc_def *o = proc_test_def(others[0]);
    const struct proc_def *const list[] = {o};
    char err[40];
    memset(err, 'x', sizeof(err));
    cr_assert_eq(proc_graph_check(d, list, 1, &topics, err, 30), -1);
    cr_assert_eq(strlen(err), 29);
    cr_assert_eq(err[31], 'x', "nothing written past the length given");
    proc_def_free(o);
    proc_def_free(d);
}

/* proc_graph_warnings of the first definition against the others (NULL-terminated): a new
 * array, asserted to be one. */
static json_t *warnings_of(const char *def, const char *const *others)
{
    struct proc_def *d = proc_test_def(def);
    struct proc_def *o[8];
    size_t n = compile_all(others, o);
    json_t *list = json_array();
    proc_graph_warnings(d, (const struct proc_def *const *)o, n, list);
    free_all(o, n);
    proc_def_free(d);
    cr_assert(json_is_array(list));
    return list;
}

#define PER_MINUTE(name)                                                                           \
    "{\"name\": \"" name "\", \"key\": \"data.k\", "                                               \
    "\"window\": {\"type\": \"tumbling\", \"size\": \"1m\"}, \"aggregates\": {\"n\": "             \
    "\"count()\"}}"
#define PER_HOUR(extra)                                                                            \
    "{\"name\": \"per-hour\", \"source\": {\"topics\": [\"events\", \"derived\"]" extra "}, "      \
    "\"key\": \"data.key\", \"window\": {\"type\": \"tumbling\", \"size\": \"1h\"}, "              \
    "\"aggregates\": {\"n\": \"sum(data.n)\"}, \"sink\": {\"topic\": \"rollups\"}}"

/* A rollup windowing the results of another pipeline's windows by their time (each window's
 * end) counts each in the window after the one it covers: both sides of the pair are told. */
Test(proc_graph, windows_of_window_results_by_their_time_are_warned_of)
{
    const char *writers[] = {PER_MINUTE("per-minute"), NULL};
    json_t *w = warnings_of(PER_HOUR(""), writers);
    cr_assert_eq(json_array_size(w), 1);
    cr_assert_str_eq(json_string_value(json_array_get(w, 0)),
                     "source.topics[1]: pipeline 'per-minute' writes the results of windows to "
                     "'derived', each with its window's end as its time, the first instant of the "
                     "next window: windowed by that time, a result counts in the window after the "
                     "one it covers; give \"source.time\": \"data.window_start\"");
    json_decref(w);

    const char *readers[] = {PER_HOUR(""), NULL};
    w = warnings_of(PER_MINUTE("per-minute"), readers);
    cr_assert_eq(json_array_size(w), 1);
    cr_assert_str_eq(json_string_value(json_array_get(w, 0)),
                     "sink.topic: pipeline 'per-hour' reads 'derived' and windows it by time, "
                     "which for these results is their window's end, the first instant of the "
                     "next window: a result counts in the window after the one it covers; that "
                     "pipeline needs \"source.time\": \"data.window_start\"");
    json_decref(w);

    /* many writers are named once, the first three and how many more */
    const char *many[] = {PER_MINUTE("m1"), PER_MINUTE("m2"), PER_MINUTE("m3"),
                          PER_MINUTE("m4"), PER_MINUTE("m5"), NULL};
    w = warnings_of(PER_HOUR(""), many);
    cr_assert_eq(json_array_size(w), 1);
    cr_assert(strstr(json_string_value(json_array_get(w, 0)),
                     "source.topics[1]: pipelines 'm1', 'm2', 'm3' and 2 more write the results "),
              "%s", json_string_value(json_array_get(w, 0)));
    json_decref(w);
    const char *two[] = {PER_MINUTE("m1"), PER_MINUTE("m2"), NULL};
    w = warnings_of(PER_HOUR(""), two);
    cr_assert(strstr(json_string_value(json_array_get(w, 0)), "pipelines 'm1' and 'm2' write "));
    json_decref(w);
}

/* Nothing to say: the rollup takes its times from the results, the reader is stateless, the
 * writer batches its results or writes elsewhere, or writes the results of no window. */
Test(proc_graph, no_warning_where_the_times_are_not_taken_from_window_results)
{
    const char *writers[] = {PER_MINUTE("per-minute"), NULL};
    json_t *w = warnings_of(PER_HOUR(", \"time\": \"data.window_start\""), writers);
    cr_assert_eq(json_array_size(w), 0);
    json_decref(w);
    w = warnings_of("{\"name\": \"t\", \"source\": {\"topics\": [\"derived\"]}, " MAP
                    ", \"sink\": {\"topic\": \"t2\"}}",
                    writers);
    cr_assert_eq(json_array_size(w), 0);
    json_decref(w);
    const char *others[] = {
        "{\"name\": \"batched\", \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", "
        "\"size\": \"1m\"}, \"aggregates\": {\"n\": \"count()\"}, \"batch\": {\"max\": 10}}",
        "{\"name\": \"elsewhere\", \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", "
        "\"size\": \"1m\"}, \"aggregates\": {\"n\": \"count()\"}, \"sink\": {\"topic\": \"t9\"}}",
        "{\"name\": \"transform\", " MAP "}", NULL};
    w = warnings_of(PER_HOUR(""), others);
    cr_assert_eq(json_array_size(w), 0);
    json_decref(w);
}

#define MINUTES(extra)                                                                             \
    "{\"name\": \"per-minute\", \"key\": \"data.k\", "                                             \
    "\"window\": {\"type\": \"tumbling\", \"size\": \"1m\"}, \"aggregates\": {\"n\": "             \
    "\"count()\"}" extra "}"
#define ROLLUP(filter)                                                                             \
    "{\"name\": \"rollup\", \"source\": {\"topics\": [\"derived\"], "                              \
    "\"time\": \"data.window_start\"" filter "}, \"key\": \"data.key\", "                          \
    "\"window\": {\"type\": \"tumbling\", \"size\": \"1h\"}, "                                     \
    "\"aggregates\": {\"n\": \"sum(data.n)\"}, \"sink\": {\"topic\": \"rollups\"}}"

/* A rollup adds up every result it reads: one over a pipeline writing a window's values so far
 * (early results, emit update) or writing a window again after late events is warned of, on
 * either side; a rollup keeping the final results (timing == 'on_time') of a pipeline with early
 * results or allowed lateness is not, nor one keeping data.revision == 0 of a pipeline with
 * allowed lateness; emit update writes no final result, so a rollup of it is warned of anyway. */
Test(proc_graph, rollups_of_results_written_more_than_once_per_window_are_warned_of)
{
    const char *early[] = {MINUTES(", \"early\": \"10s\""), NULL};
    json_t *w = warnings_of(ROLLUP(""), early);
    cr_assert_eq(json_array_size(w), 1);
    cr_assert_str_eq(json_string_value(json_array_get(w, 0)),
                     "source.topics[0]: pipeline 'per-minute' writes several results for one "
                     "window to 'derived', each with the window's values so far (early results, "
                     "or \"emit\": \"update\"): a window of them adds up each; keep \"timing == "
                     "'on_time'\" in source.filter (each window's final result, of a pipeline "
                     "with \"early\"), or roll up the results of a pipeline that writes one per "
                     "window (\"emit\": \"final\")");
    json_decref(w);
    w = warnings_of(ROLLUP(", \"filter\": \"timing == 'on_time'\""), early);
    cr_assert_eq(json_array_size(w), 0, "the final results are one per window");
    json_decref(w);
    const char *update[] = {MINUTES(", \"emit\": \"update\""), NULL};
    w = warnings_of(ROLLUP(", \"filter\": \"data.revision == 0\""), update);
    cr_assert_eq(json_array_size(w), 1, "revision 0 of updates is the first event's alone");
    json_decref(w);
    w = warnings_of(ROLLUP(", \"filter\": \"timing == 'on_time'\""), update);
    cr_assert_eq(json_array_size(w), 1, "updates are never final");
    json_decref(w);

    const char *late[] = {MINUTES(", \"allowed_lateness\": \"1m\""), NULL};
    w = warnings_of(ROLLUP(""), late);
    cr_assert_eq(json_array_size(w), 1);
    cr_assert_str_eq(json_string_value(json_array_get(w, 0)),
                     "source.topics[0]: pipeline 'per-minute' writes a window's result to "
                     "'derived' again when a late event changes it (allowed_lateness), each time "
                     "with the window's full values: a window of them adds up each; keep "
                     "\"timing == 'on_time'\" in source.filter (the late changes are then left "
                     "out)");
    json_decref(w);
    w = warnings_of(ROLLUP(", \"filter\": \"data.revision == 0\""), late);
    cr_assert_eq(json_array_size(w), 0);
    json_decref(w);
    w = warnings_of(ROLLUP(", \"filter\": \"timing == 'on_time'\""), late);
    cr_assert_eq(json_array_size(w), 0);
    json_decref(w);

    /* the writer's side, with the time warning of a rollup without source.time first */
    const char *readers[] = {ROLLUP(""), PER_HOUR(""), NULL};
    w = warnings_of(MINUTES(", \"emit\": \"update\""), readers);
    cr_assert_eq(json_array_size(w), 2);
    cr_assert_str_eq(json_string_value(json_array_get(w, 0)),
                     "sink.topic: pipeline 'per-hour' reads 'derived' and windows it by time, "
                     "which for these results is their window's end, the first instant of the "
                     "next window: a result counts in the window after the one it covers; that "
                     "pipeline needs \"source.time\": \"data.window_start\"");
    cr_assert_str_eq(json_string_value(json_array_get(w, 1)),
                     "sink.topic: pipelines 'rollup' and 'per-hour' read 'derived' and window "
                     "it, adding up every result, while this pipeline writes several for one "
                     "window, each with the window's values so far (early results, or \"emit\": "
                     "\"update\"): those pipelines should roll up the results of a pipeline that "
                     "writes one per window, or of one with \"early\" keep the final results "
                     "alone (\"timing == 'on_time'\" in source.filter)");
    json_decref(w);
    /* a stateless reader, or an interval join pairing them, adds nothing up */
    const char *pairs[] = {MINUTES(", \"early\": \"10s\""), NULL};
    w = warnings_of("{\"name\": \"j\", \"source\": {\"topics\": [\"derived\"], \"time\": "
                    "\"data.window_start\"}, \"key\": \"data.key\", \"interval_join\": {\"left\": "
                    "{\"filter\": \"data.n > 1\"}, \"right\": {\"filter\": \"data.n <= 1\"}, "
                    "\"lower\": \"-1m\", \"upper\": \"1m\"}, \"sink\": {\"topic\": \"t9\"}}",
                    pairs);
    cr_assert_eq(json_array_size(w), 0);
    json_decref(w);
}
