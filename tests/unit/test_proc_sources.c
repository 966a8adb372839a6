/* Unit tests for the watermarks of a pipeline's input partitions (services/processor/
 * proc_sources.c, proc_watermark.c), through the engine: a keyed pipeline's second stage judges
 * each partition by its own reports (one restored from a checkpoint keeps its watermark, a grown
 * input topic's new partition is awaited, an idle report counts only while its sender keeps
 * sending it); one stage holds the watermark for an assigned partition not heard yet and for one
 * with records waiting, keeps a restored partition's own watermark, and reports records whose
 * Kafka key is not the pipeline's key. */
#include "../../services/processor/proc_engine.h"
#include "proc_test.h"

#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct heard {
    int64_t *v;
    size_t *n;
};

static void collect_report(int32_t origin, int64_t wm, int idle, int64_t sent_ms, void *ud)
{
    (void)sent_ms;
    struct heard *rl = ud;
    (void)origin;
    (void)idle;
    rl->v[(*rl->n)++] = wm;
}

/* A keyed tumbling count of 10 ms windows read through the repartition topic (its second stage,
 * fed by reports and proc_engine_window_keyed), and what it emits. */
struct second_stage {
    struct proc_def *d;
    struct proc_engine *e;
    struct proc_test_got g;
};

static void second_stage_new(struct second_stage *t)
{
    t->d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                         "\"tumbling\",\"size\":\"10ms\"},\"aggregates\":{\"n\":\"count()\"}}");
    t->g = (struct proc_test_got){json_array(), json_array()};
    struct proc_engine_out out = {
        .emit = proc_test_on_json, .late = proc_test_on_late, .ud = &t->g};
    t->e = proc_engine_new(t->d, &out, NULL);
}

/* The count `n` of the i-th result emitted (its text parsed). */
static json_int_t result_n(const struct proc_test_got *g, size_t i)
{
    json_t *ev =
        json_loads(json_string_value(json_object_get(json_array_get(g->list, i), "text")), 0, NULL);
    cr_assert_not_null(ev);
    json_int_t n = json_integer_value(json_object_get(json_object_get(ev, "data"), "n"));
    json_decref(ev);
    return n;
}

static void second_stage_free(struct second_stage *t)
{
    json_decref(t->g.list);
    json_decref(t->g.late);
    proc_engine_free(t->e);
    proc_def_free(t->d);
}

/* A second-stage partition is judged by its own reports: one restored from a checkpoint (its
 * watermark and the reports it had heard) after another partition of the same engine moved far
 * ahead takes what it reads again as it did the first time. With one watermark over the whole
 * engine, raised meanwhile by the other partition, the event below was late (an instance that
 * took over partitions under load sent events of open windows to events.late). */
Test(proc_sources, a_restored_partition_keeps_its_own_watermark)
{
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    struct proc_test_got g = t.g;
    const int32_t origins[] = {0, 1};
    proc_engine_use_reports(e, origins, 2);
    proc_engine_report(e, 0, 0, 1000, 0, 0); /* partition 0 hears both input partitions at 1000 */
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "one input partition not heard");
    proc_engine_report(e, 0, 1, 1000, 0, 0);
    cr_assert_eq(proc_engine_current_watermark(e), 1000);
    /* partition 1 restored from a checkpoint taken when both input partitions were at 15 */
    proc_engine_restore_source(e, 1, 15, 5, 0);
    proc_engine_restore_watermark(e, 1, 15);
    proc_engine_restore_report(e, 1, 0, 15, 0, 0);
    proc_engine_restore_report(e, 1, 1, 15, 0, 0);
    proc_engine_restore_report(e, 1, 7, 99, 0, 0); /* not an input partition: ignored */
    cr_assert_eq(proc_engine_current_watermark(e), 15, "the least of its partitions'");
    int64_t heard[4];
    size_t nheard = 0;
    struct heard rl = {heard, &nheard};
    cr_assert_eq(proc_engine_source_watermark(e, 1, collect_report, &rl), 15);
    cr_assert_eq(nheard, 2, "both reports kept for the next checkpoint");
    /* read again after the checkpoint: an event at 17, in [10, 20), is on time */
    json_t *args = json_loads("[null]", 0, NULL);
    struct proc_keyed k = {
        .tenant = "", .key = "a", .time_ms = 17, .args = args, .raw = "{}", .rawlen = 2};
    cr_assert_eq(proc_engine_window_keyed(e, 1, &k, 5, NULL, 0), 0);
    json_decref(args);
    cr_assert_eq(json_array_size(g.late), 0, "not late");
    proc_engine_report(e, 1, 0, 1000, 0, 0);
    cr_assert_eq(json_array_size(g.list), 0, "input partition 1 still at 15 there");
    proc_engine_report(e, 1, 1, 1000, 0, 0);
    cr_assert_eq(json_array_size(g.list), 1, "[10, 20) fired by partition 1's own reports");
    cr_assert_eq(result_n(&g, 0), 1);
    second_stage_free(&t);
}

/* A second stage told again its input partitions when an input topic grew (the processor asks
 * after every rebalance): the partitions it knew keep their reports, so nothing already fired
 * waits again, and the new one holds the watermark back until it is first reported, so its
 * events are judged by it. Told the same list again, nothing changes. */
Test(proc_sources, a_grown_input_topic_keeps_the_reports_and_awaits_its_new_partition)
{
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    struct proc_test_got g = t.g;
    const int32_t two[] = {0, 65536}, three[] = {0, 1, 65536};
    proc_engine_use_reports(e, two, 2);
    json_t *args = json_loads("[null]", 0, NULL);
    struct proc_keyed k = {
        .tenant = "", .key = "a", .time_ms = 5, .args = args, .raw = "{}", .rawlen = 2};
    for (int32_t src = 0; src < 2; src++) {
        proc_engine_report(e, src, 0, 20, 0, 0);
        proc_engine_report(e, src, 65536, 20, 0, 0);
    }
    cr_assert_eq(proc_engine_current_watermark(e), 20);
    proc_engine_use_reports(e, two, 2); /* the same list: nothing changes */
    cr_assert_eq(proc_engine_current_watermark(e), 20);
    proc_engine_use_reports(e, three, 3); /* the first topic got a second partition */
    cr_assert_eq(proc_engine_current_watermark(e), 20, "a watermark never goes back");
    k.time_ms = 25;
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 0, NULL, 0), 0);
    proc_engine_report(e, 0, 0, 40, 0, 0);
    proc_engine_report(e, 0, 65536, 40, 0, 0);
    cr_assert_eq(proc_engine_current_watermark(e), 20, "input partition 1 not heard yet");
    cr_assert_eq(json_array_size(g.list), 0, "[20, 30) waits for it");
    k.time_ms = 22; /* the new partition's first event, older than the others' 40 */
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 1, NULL, 0), 0);
    cr_assert_eq(json_array_size(g.late), 0, "on time");
    proc_engine_report(e, 0, 1, 40, 0, 0);
    cr_assert_eq(json_array_size(g.list), 1, "[20, 30) fired with both events");
    cr_assert_eq(result_n(&g, 0), 2);
    /* source 1 kept its reports of 0 and 65536; it waits only for the new partition */
    proc_engine_report(e, 1, 1, 40, 0, 0);
    int64_t heard[4];
    size_t nheard = 0;
    struct heard rl = {heard, &nheard};
    cr_assert_eq(proc_engine_source_watermark(e, 1, collect_report, &rl), 20);
    cr_assert_eq(nheard, 3, "the two kept and the new one");
    cr_assert_eq(proc_engine_current_watermark(e), 20, "source 1's other partitions still at 20");
    json_decref(args);
    second_stage_free(&t);
}

/* An input partition's idle report counts only while its sender keeps saying so. Input partition
 * 0 is idle on instance A, which then falls silent (starved, stopped) while partition 1's
 * reports (instance B) go on: sent more than PROC_IDLE_REPORT_STALE_MS after A's last one, they
 * no longer pass partition 0 by, so the event A reads late is on time. Before, A's last word
 * stood: [10, 20) fired without it and it went to the late events. The same reports within the
 * bound still pass the idle partition by (the control), and A's fresh idle report does again. */
static void silent_sender(int64_t b_sent, size_t want_results_before, size_t want_late)
{
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    const int32_t origins[] = {0, 1};
    proc_engine_use_reports(e, origins, 2);
    proc_engine_report(e, 0, 0, 5, 1, 1000); /* A: partition 0 idle */
    proc_engine_report(e, 0, 1, 5, 0, 1000); /* B: partition 1 at 5 */
    json_t *args = json_loads("[null]", 0, NULL);
    struct proc_keyed k = {
        .tenant = "", .key = "a", .time_ms = 12, .args = args, .raw = "{}", .rawlen = 2};
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 0, NULL, 0), 0); /* (of partition 1) */
    proc_engine_report(e, 0, 1, 25, 0, b_sent); /* B moves on; A says nothing */
    cr_assert_eq(json_array_size(t.g.list), want_results_before, "B's report at %lld",
                 (long long)b_sent);
    k.time_ms = 15; /* A reads partition 0's event at last */
    cr_assert_eq(proc_engine_window_keyed(e, 0, &k, 1, NULL, 0), 0);
    cr_assert_eq(json_array_size(t.g.late), want_late);
    proc_engine_report(e, 0, 0, 30, 0, b_sent + 100); /* A: partition 0 at 30 */
    cr_assert_eq(json_array_size(t.g.list), 1, "[10, 20) fired once");
    cr_assert_eq(result_n(&t.g, 0), 2 - (json_int_t)want_late);
    json_decref(args);
    second_stage_free(&t);
}

Test(proc_sources, a_silent_senders_idle_report_stops_counting)
{
    silent_sender(1000 + PROC_IDLE_REPORT_STALE_MS + 1, 0, 0);
}

Test(proc_sources, a_fresh_idle_report_passes_the_partition_by)
{
    silent_sender(1000 + PROC_IDLE_REPORT_STALE_MS, 1, 1);
    /* and one that went stale counts again once its sender says idle anew; the staleness comes
     * back from a checkpoint with the reports */
    struct second_stage t;
    second_stage_new(&t);
    struct proc_engine *e = t.e;
    const int32_t origins[] = {0, 1};
    proc_engine_use_reports(e, origins, 2);
    proc_engine_report(e, 0, 0, 5, 1, 1000);
    proc_engine_report(e, 0, 1, 25, 0, 9000);
    cr_assert_eq(proc_engine_current_watermark(e), 5, "held by the stale idle partition");
    proc_engine_restore_source(e, 1, 5, 0, 0);
    proc_engine_restore_report(e, 1, 0, 5, 1, 1000);
    proc_engine_restore_report(e, 1, 1, 25, 0, 9000);
    int64_t heard[4];
    size_t nheard = 0;
    struct heard rl = {heard, &nheard};
    proc_engine_source_watermark(e, 0, collect_report, &rl);
    cr_assert_eq(nheard, 2);
    proc_engine_report(e, 0, 0, 5, 1, 9100);  /* A again: idle */
    proc_engine_report(e, 1, 1, 25, 0, 9100); /* (source 1 hears B anew) */
    cr_assert_eq(proc_engine_current_watermark(e), 5, "source 1 restored A's stale report");
    proc_engine_report(e, 1, 0, 5, 1, 9100);
    cr_assert_eq(proc_engine_current_watermark(e), 25,
                 "both sources pass partition 0 by again (%lld)",
                 (long long)proc_engine_current_watermark(e));
    second_stage_free(&t);
}

/* A keyed tumbling count of 10 ms windows read in one stage (idle_timeout 1 s, no
 * out-of-orderness), what it emits, and an event to feed it. */
struct one_stage {
    struct proc_def *d;
    struct proc_engine *e;
    struct proc_test_got g;
    json_t *ev;
};

static void one_stage_new(struct one_stage *o)
{
    o->d = proc_test_def("{\"name\":\"p\",\"key\":\"data.k\",\"window\":{\"type\":"
                         "\"tumbling\",\"size\":\"10ms\"},\"idle_timeout\":\"1s\","
                         "\"out_of_orderness\":\"0ms\",\"aggregates\":{\"n\":\"count()\"},"
                         "\"repartition\":false}");
    o->g = (struct proc_test_got){json_array(), json_array()};
    struct proc_engine_out out = {
        .emit = proc_test_on_json, .late = proc_test_on_late, .ud = &o->g};
    o->e = proc_engine_new(o->d, &out, NULL);
    o->ev = json_loads("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\","
                       "\"data\":{\"k\":\"a\"}}",
                       0, NULL);
}

static void one_stage_free(struct one_stage *o)
{
    json_decref(o->ev);
    json_decref(o->g.list);
    json_decref(o->g.late);
    proc_engine_free(o->e);
    proc_def_free(o->d);
}

/* One stage: an input partition assigned that has sent nothing holds the watermark back until
 * it has been idle for idle_timeout (as a Flink source's split), so its events that come after
 * another partition moved ahead are on time; then it is left out, and it holds nothing back
 * once revoked. Without it, partition 1's event below was late. */
Test(proc_sources, an_assigned_partition_not_heard_yet_holds_the_watermark)
{
    struct one_stage o;
    one_stage_new(&o);
    struct proc_engine *e = o.e;
    struct proc_test_got g = o.g;
    const json_t *ev = o.ev;
    for (int32_t p = 0; p < 3; p++) {
        proc_engine_expect_source(e, p, 100000);
    }
    proc_engine_process(e, 0, ev, 45, 0, 100010);
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "partitions 1 and 2 not heard");
    proc_engine_process(e, 1, ev, 5, 0, 100020);
    cr_assert_eq(json_array_size(g.late), 0, "partition 1's event is on time");
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "partition 2 still awaited");
    proc_engine_tick(e, 100999);
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "not idle before idle_timeout");
    proc_engine_drop_source(e, 2); /* revoked: awaited no more */
    proc_engine_tick(e, 101000);
    cr_assert_eq(proc_engine_current_watermark(e), 5, "the least of partitions 0 and 1");
    cr_assert_eq(json_array_size(g.list), 0, "[0, 10) has not ended");
    proc_engine_expect_source(e, 3, 101000); /* assigned later: holds back from now on */
    proc_engine_process(e, 1, ev, 30, 1, 101010);
    cr_assert_eq(proc_engine_current_watermark(e), 5, "partition 3 awaited");
    proc_engine_tick(e, 102000); /* partition 3 idle now; 0 too, 1 not */
    cr_assert_eq(proc_engine_current_watermark(e), 30);
    proc_engine_tick(e, 102010); /* all idle: the greatest */
    cr_assert_eq(proc_engine_current_watermark(e), 45);
    cr_assert_eq(json_array_size(g.list), 2, "[0, 10) and [30, 40) fired; [40, 50) not ended");
    cr_assert_eq(json_array_size(g.late), 0);
    one_stage_free(&o);
}

static int backlog_calls;

static int backlog_of_1(int32_t source, void *ud)
{
    (void)ud;
    backlog_calls++;
    return source == 1;
}

/* One stage: a partition with records waiting to be read (its fetching paused by flow control,
 * say) is not idle, as in a first stage's reports; else the partition ahead moves the watermark
 * past the records it holds back, and they are late once read. The same engine without the
 * backlog noted sends that event to the late topic. */
Test(proc_sources, a_partition_with_records_waiting_is_not_idle)
{
    for (int noted = 0; noted <= 1; noted++) {
        struct one_stage o;
        one_stage_new(&o);
        struct proc_engine *e = o.e;
        struct proc_test_got g = o.g;
        const json_t *ev = o.ev;
        proc_engine_expect_source(e, 0, 100000);
        proc_engine_expect_source(e, 1, 100000);
        proc_engine_process(e, 0, ev, 45, 0, 100000);
        proc_engine_process(e, 1, ev, 5, 0, 100000);
        cr_assert_eq(proc_engine_current_watermark(e), 5);
        backlog_calls = 0;
        if (noted) {
            proc_engine_note_backlog(e, 100400, backlog_of_1, NULL);
            cr_assert_eq(backlog_calls, 0, "not asked before half of idle_timeout");
            proc_engine_note_backlog(e, 100600, backlog_of_1, NULL);
            cr_assert_eq(backlog_calls, 2, "both partitions asked");
        }
        proc_engine_tick(e, 101000);
        cr_assert_eq(proc_engine_current_watermark(e), noted ? 5 : 45,
                     "partition 0 idle; partition 1 %s", noted ? "has records waiting" : "too");
        proc_engine_process(e, 1, ev, 8, 1, 101010);
        cr_assert_eq(json_array_size(g.late), noted ? 0 : 1);
        one_stage_free(&o);
    }
}

/* One stage: a partition that moves here with its checkpoint (restored behind the watermark
 * this instance's other partitions made) judges what it reads again as it did before: by its
 * own watermark, not by the one of the partitions that were here. With one watermark over the
 * engine, the event below was late (an instance that took over a partition sent events of its
 * open windows to events.late). */
Test(proc_sources, one_stage_a_restored_partition_keeps_its_own_watermark)
{
    struct one_stage o;
    one_stage_new(&o);
    proc_engine_process(o.e, 0, o.ev, 100, 0, 0);
    proc_engine_process(o.e, 1, o.ev, 100, 0, 0);
    cr_assert_eq(proc_engine_current_watermark(o.e), 100);
    size_t fired = json_array_size(o.g.list);
    /* partition 2, checkpointed elsewhere at event time 90 (its window [90, 100) open) */
    proc_engine_expect_source(o.e, 2, 0);
    proc_engine_restore_source(o.e, 2, 90, 7, 0);
    proc_engine_restore_watermark(o.e, 2, 90);
    proc_engine_process(o.e, 2, o.ev, 92, 7, 0);
    cr_assert_eq(json_array_size(o.g.late), 0, "on time by partition 2's own watermark");
    cr_assert_eq(json_array_size(o.g.list), fired, "[90, 100) of partition 2 not ended for it");
    proc_engine_process(o.e, 2, o.ev, 100, 8, 0);
    cr_assert_eq(json_array_size(o.g.list), fired + 1, "fired when partition 2 passed it");
    one_stage_free(&o);
}

struct mismatch {
    json_t *seen; /* ["<source>@<offset> <record key>≠<key>", ...] */
};

static void on_mismatch(const struct proc_def *d, int32_t source, int64_t offset,
                        const struct proc_record_key *rkey, const char *key, void *ud)
{
    (void)d;
    struct mismatch *m = ud;
    char line[128];
    snprintf(line, sizeof(line), "%d@%lld %.*s/%s", (int)source, (long long)offset, (int)rkey->len,
             rkey->key ? rkey->key : "", key);
    json_array_append_new(m->seen, json_string(line));
}

static void mismatch_json(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
}

/* One stage ("repartition": false): an event whose pipeline key (after the steps: a flatMap's
 * elements may each have their own) is not its record's Kafka key is counted and reported, and
 * still windowed; a record without a key is reported too; events fed without a record key
 * (pipeline-run, the dry run) are not checked. */
Test(proc_sources, one_stage_reports_records_not_keyed_by_the_pipeline_key)
{
    struct proc_def *d =
        proc_test_def("{\"name\":\"p\",\"steps\":[{\"flatMap\":\"data.items\"}],\"key\":\"data.k\","
                      "\"window\":{\"type\":\"tumbling\",\"size\":\"10ms\"},\"out_of_orderness\":"
                      "\"0ms\",\"aggregates\":{\"n\":\"count()\"},\"repartition\":false}");
    struct mismatch m = {json_array()};
    struct proc_engine_out out = {.emit = mismatch_json, .key_mismatch = on_mismatch, .ud = &m};
    struct cm_metrics *metrics = cm_metrics_new("t_");
    struct proc_engine *e = proc_engine_new(d, &out, metrics);
    json_t *ev =
        json_loads("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\","
                   "\"data\":{\"items\":[{\"k\":\"a\"},{\"k\":\"b\"}]}}",
                   0, NULL);
    struct proc_record_key a = {"a", 1}, none = {NULL, 0}, longer = {"ab", 2}, prefix = {"a", 0};
    proc_engine_process_record(e, 3, ev, 1, -1, 10, &a, 0);
    proc_engine_process_record(e, 3, ev, 2, -1, 11, &none, 0);
    proc_engine_process_record(e, 65539, ev, 3, -1, 12, &longer, 0);
    proc_engine_process_record(e, 3, ev, 4, -1, 13, &prefix, 0);
    proc_engine_process(e, 3, ev, 5, 14, 0); /* no record key: not checked */
    /* an empty pipeline key and a record without a key agree (compared without reading the
     * record's absent key bytes) */
    json_t *empty = json_loads("{\"specversion\":\"1.0\",\"id\":\"y\",\"source\":\"/s\","
                               "\"type\":\"t\",\"data\":{\"items\":[{\"k\":\"\"}]}}",
                               0, NULL);
    proc_engine_process_record(e, 3, empty, 6, -1, 15, &none, 0);
    json_decref(empty);
    json_t *want = json_pack("[s,s,s,s,s,s,s]", "3@10 a/b", "3@11 /a", "3@11 /b", "65539@12 ab/a",
                             "65539@12 ab/b", "3@13 /a", "3@13 /b");
    char *got = json_dumps(m.seen, 0);
    cr_assert(json_equal(m.seen, want), "reported %s", got);
    free(got);
    json_decref(want);
    char *text = cm_metrics_render(metrics);
    cr_assert_not_null(strstr(text, "t_key_mismatch_total{pipeline=\"p\"} 7\n"), "%s", text);
    cr_assert_eq(proc_engine_key_mismatches(e), 7);
    cr_assert_not_null(strstr(text, "outcome=\"windowed\"} 11\n"), "all still windowed: %s", text);
    free(text);
    json_decref(ev);
    json_decref(m.seen);
    proc_engine_free(e);
    proc_def_free(d);
    cm_metrics_free(metrics);
}
