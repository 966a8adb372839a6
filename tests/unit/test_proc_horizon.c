/* Unit tests for event-time horizons (services/processor/proc_horizon.c and the engine's
 * proc_engine_restore_horizon): the text kept in Kafka's offset metadata reads back as written,
 * stays within Kafka's limit, and hostile text is refused; a partition recomputed without its
 * checkpoint emits no window that had gone out before the state was lost (tumbling and session
 * windows, an outer join's unmatched left events), emits the windows still open then, and judges
 * the records read after the commit late as they were judged then. */
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_horizon.h"
#include "proc_test.h"

#include "cm/event.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* The key of (name, version) with the digest "0123456789abcdef...". */
static const char *K(const char *name, long long version)
{
    static char keys[4][PROC_HORIZON_KEY_MAX];
    static int next;
    char *k = keys[next++ % 4];
    proc_horizon_key(k, PROC_HORIZON_KEY_MAX, name, version, "0123456789abcdef-ignored");
    return k;
}

Test(proc_horizon, entries_read_back_as_written)
{
    struct proc_horizon_text t = {.len = 0};
    cr_assert_str_eq(K("p", 3), "p/3/01234567", "the digest's first 8 characters");
    cr_assert_eq(proc_horizon_add(&t, K("payments-per-merchant", 3), 1234, 1767225600000LL), 0);
    cr_assert_eq(proc_horizon_add(&t, K("a.b_c", 12), 0, -5), 0);
    cr_assert_eq(proc_horizon_add(&t, K("payments-per-merchant", 4), 99, INT64_MIN), 0);
    cr_assert_str_eq(t.text, "h1;payments-per-merchant/3/01234567=1234,1767225600000;"
                             "a.b_c/12/01234567=0,-5;"
                             "payments-per-merchant/4/01234567=99,-9223372036854775808;");
    int64_t pos = -7, wm = -7;
    cr_assert_eq(proc_horizon_find(t.text, K("payments-per-merchant", 3), &pos, &wm), 1);
    cr_assert_eq(pos, 1234);
    cr_assert_eq(wm, 1767225600000LL);
    cr_assert_eq(proc_horizon_find(t.text, K("a.b_c", 12), &pos, &wm), 1);
    cr_assert_eq(pos, 0);
    cr_assert_eq(wm, -5);
    cr_assert_eq(proc_horizon_find(t.text, K("payments-per-merchant", 4), &pos, &wm), 1);
    cr_assert_eq(pos, 99);
    cr_assert_eq(wm, INT64_MIN, "no watermark yet");
    pos = wm = -7;
    cr_assert_eq(proc_horizon_find(t.text, K("payments-per-merchant", 5), &pos, &wm), 0);
    cr_assert_eq(proc_horizon_find(t.text, K("a.b", 12), &pos, &wm), 0, "a prefix of a name");
    cr_assert_eq(proc_horizon_find(t.text, K("b_c", 12), &pos, &wm), 0, "a suffix of a name");
    char other[PROC_HORIZON_KEY_MAX];
    proc_horizon_key(other, sizeof(other), "a.b_c", 12, "fedcba98");
    cr_assert_eq(proc_horizon_find(t.text, other, &pos, &wm), 0, "another definition");
    cr_assert_eq(pos, -7, "nothing set when not found");
    cr_assert_eq(proc_horizon_find("h1;", K("p", 1), &pos, &wm), 0, "no entry");
}

Test(proc_horizon, entries_stop_at_kafkas_metadata_limit)
{
    char name[101];
    memset(name, 'n', 100);
    name[100] = '\0';
    struct proc_horizon_text t = {.len = 0};
    size_t added = 0;
    while (proc_horizon_add(&t, K(name, (long long)added), INT64_MAX, INT64_MIN) == 0) {
        added++;
        cr_assert_leq(t.len, CM_KAFKA_METADATA_MAX);
        cr_assert_eq(strlen(t.text), t.len);
    }
    cr_assert_gt(added, 20, "about 26 entries of the longest names fit, %zu did", added);
    size_t len = t.len;
    cr_assert_eq(proc_horizon_add(&t, K(name, 1), INT64_MAX, INT64_MIN), -1, "past it: left out");
    cr_assert_eq(t.len, len, "and the text unchanged");
    int64_t pos, wm;
    cr_assert_eq(proc_horizon_find(t.text, K(name, (long long)added - 1), &pos, &wm), 1);
    cr_assert_eq(pos, INT64_MAX);
    cr_assert_eq(wm, INT64_MIN);
}

Test(proc_horizon, hostile_text_is_refused)
{
    static const char *bad[] = {
        "",
        "h1",
        "h2;p/1/d=5,6;",
        "H1;p/1/d=5,6;",
        "h1;p/1/d=5,6", /* no closing ';' */
        "h1;/1/d=5,6;", /* no name */
        "h1;p1/d=5,6;", /* one '/' */
        "h1;p/1=5,6;",
        "h1;p/1/d/e=5,6;",                  /* three */
        "h1;p/1/=5,6;",                     /* no digest */
        "h1;p/x/d=5,6;",                    /* version not a number */
        "h1;p/1/d=-5,6;",                   /* negative position */
        "h1;p/1/d=5,6;garbage",             /* trailing text */
        "h1;p/1/d=5,6;;",                   /* an empty entry */
        "h1;p/1/d=99999999999999999999,6;", /* out of range */
        "h1;p/1/d=5,-99999999999999999999;",
        "h1;p;q/1/d=5,6;", /* a separator in the name */
        "h1;p,q/1/d=5,6;",
        "h1;p q/1/d=5,6;",
        "h1;p/1/d=5,,6;",
        "h1;p/1/d=+5,6;",
        "h1;p/1/d= 5,6;",
        "h1;p/1/d=5,-;",
        "h1;p/1/d=5;",
        "h1;p/1/d=5,6,7;",
        "h1;p//d=5,6;",
        "h1;p/1/d=,6;",
        "h1;q/1/d=5,6;p/1/d=5,x;", /* a bad entry after the one asked for */
        /* watermarks no state holds (proc_time.h): window arithmetic on them would overflow */
        "h1;p/1/d=5,9223372036854775807;",
        "h1;p/1/d=5,-9223372036854775807;",
        "h1;p/1/d=5,253402300799999000;",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t pos = -7, wm = -7;
        cr_assert_eq(proc_horizon_find(bad[i], "p/1/d", &pos, &wm), -1, "accepted \"%s\"", bad[i]);
        cr_assert_eq(pos, -7, "\"%s\" set the position", bad[i]);
    }
    int64_t pos, wm;
    cr_assert_eq(proc_horizon_find(NULL, "p/1/d", &pos, &wm), -1);
    /* every prefix of a good text is refused or finds nothing, never something else */
    const char *good = "h1;q/2/d=10,20;p/1/d=5,-6;";
    char cut[64];
    for (size_t n = 0; n < strlen(good); n++) {
        memcpy(cut, good, n);
        cut[n] = '\0';
        pos = wm = -7;
        int rc = proc_horizon_find(cut, "p/1/d", &pos, &wm);
        cr_assert(rc == -1 || rc == 0, "prefix \"%s\" gave %d", cut, rc);
        cr_assert_eq(pos, -7);
    }
    cr_assert_eq(proc_horizon_find(good, "p/1/d", &pos, &wm), 1);
    cr_assert_eq(wm, -6);
}

/* ---- the engine ---- */

struct got {
    json_t *results; /* [[window_start, n or, for a join, whether unmatched], ...] */
    json_t *late;    /* late events' times */
};

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct got *g = ud;
    json_t *data = json_object_get(ev, "data");
    const char *start = json_string_value(json_object_get(data, "window_start"));
    int64_t ms = 0;
    if (start) {
        cm_time_parse_rfc3339(start, &ms);
    } else { /* an interval join's output: its time */
        cm_time_parse_rfc3339(json_string_value(json_object_get(ev, "time")), &ms);
    }
    json_t *n = json_object_get(data, "n"); /* a join's output: whether it is unmatched */
    json_array_append_new(
        g->results,
        json_pack("[I,o]", (json_int_t)ms,
                  n ? json_incref(n) : json_boolean(json_is_null(json_object_get(data, "right")))));
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct got *g = ud;
    json_array_append_new(g->late, json_incref(json_object_get(ev, "id")));
}

/* The second stage's step for an event of key "a" at time t read at offset off. */
static void entry(struct proc_engine *e, int32_t src, int64_t t, int64_t off, const char *id)
{
    char raw[160];
    snprintf(raw, sizeof(raw),
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/t\",\"type\":\"t\","
             "\"data\":{\"k\":\"a\"}}",
             id);
    struct cm_event ev;
    const char *why;
    cr_assert_eq(cm_event_from_text(raw, strlen(raw), t, CM_EVENT_OBJECT, &ev, &why), 0);
    proc_engine_window(e, src, ev.ev, t, off, NULL, 0);
    cm_event_clear(&ev);
}

static void report(struct proc_engine *e, int32_t src, int64_t wm)
{
    proc_engine_report(e, src, 0, wm, 0, 0);
}

static struct proc_engine *engine(const char *window, struct proc_def **d, struct got *g)
{
    char def[512];
    snprintf(def, sizeof(def), "{\"name\":\"p\",\"key\":\"data.k\",%s}", window);
    *d = proc_test_def(def);
    *g = (struct got){json_array(), json_array()};
    struct proc_engine_out out = {.emit = on_emit, .late = on_late, .ud = g};
    struct proc_engine *e = proc_engine_new(*d, &out, NULL);
    const int32_t origins[] = {0};
    proc_engine_use_reports(e, origins, 1);
    return e;
}

static void done(struct proc_engine *e, struct proc_def *d, struct got *g)
{
    json_decref(g->results);
    json_decref(g->late);
    proc_engine_free(e);
    proc_def_free(d);
}

/* Tumbling 10 ms. Before the state was lost, the watermark had reached 25 at position 100, so
 * [0, 10) and [10, 20) had gone out whole; the committed offset is 40, the first record of
 * [20, 30), which was still open. Recomputed from 40: records of the finished windows read again
 * count nowhere and are not late (they were not then); [20, 30) is emitted; a record at or after
 * position 100 of a finished window is late, as it was judged then. */
Test(proc_horizon, a_recomputed_partition_emits_no_window_that_went_out_before)
{
    struct proc_def *d;
    struct got g;
    struct proc_engine *e = engine("\"window\":{\"type\":\"tumbling\",\"size\":\"10ms\"},"
                                   "\"aggregates\":{\"n\":\"count()\"}",
                                   &d, &g);
    proc_engine_restore_horizon(e, 0, 100, 25, 0);
    int64_t until = 60;
    cr_assert_eq(proc_engine_horizon(e, 0, &until), 25, "kept for the next commit");
    cr_assert_eq(until, 100);
    entry(e, 0, 22, 40, "a");
    entry(e, 0, 7, 41, "b");  /* [0, 10): went out before */
    entry(e, 0, 15, 42, "c"); /* [10, 20) */
    entry(e, 0, 28, 43, "d");
    report(e, 0, 12); /* the reports read again lag: [0, 10) would fire here */
    cr_assert_eq(json_array_size(g.results), 0, "%s", json_dumps(g.results, 0));
    entry(e, 0, 16, 100, "e"); /* read after the commit: late by the horizon */
    entry(e, 0, 29, 101, "f");
    cr_assert_eq(json_array_size(g.late), 1);
    cr_assert_str_eq(json_string_value(json_array_get(g.late, 0)), "e");
    report(e, 0, 1000);
    cr_assert_eq(json_array_size(g.results), 1, "%s", json_dumps(g.results, 0));
    json_t *r = json_array_get(g.results, 0);
    cr_assert_eq(json_integer_value(json_array_get(r, 0)), 20);
    cr_assert_eq(json_integer_value(json_array_get(r, 1)), 3, "[20, 30) whole");
    until = 60;
    cr_assert_eq(proc_engine_horizon(e, 0, &until), 1000, "the watermark, once past it");
    cr_assert_eq(until, 60);
    done(e, d, &g);
}

/* Sessions (gap 10 ms), horizon 30: a session that had ended by then ([0, 10), [12, 22)) is not
 * emitted again; one still open then ([25, ...)) is, whole, with an earlier record that merges
 * into it ([18, 28) touches it, so it was part of it before too). */
Test(proc_horizon, sessions_that_went_out_before_are_not_emitted_again)
{
    struct proc_def *d;
    struct got g;
    struct proc_engine *e = engine("\"window\":{\"type\":\"session\",\"gap\":\"10ms\"},"
                                   "\"aggregates\":{\"n\":\"count()\"}",
                                   &d, &g);
    proc_engine_restore_horizon(e, 0, 50, 30, 0);
    entry(e, 0, 0, 10, "a");
    entry(e, 0, 12, 11, "b");
    report(e, 0, 23);
    entry(e, 0, 25, 12, "c");
    entry(e, 0, 30, 13, "d");
    entry(e, 0, 18, 14, "e");
    report(e, 0, 1000);
    cr_assert_eq(json_array_size(g.results), 1, "%s", json_dumps(g.results, 0));
    json_t *r = json_array_get(g.results, 0);
    cr_assert_eq(json_integer_value(json_array_get(r, 0)), 18);
    cr_assert_eq(json_integer_value(json_array_get(r, 1)), 3);
    cr_assert_eq(json_array_size(g.late), 0);
    done(e, d, &g);
}

/* A left interval join (right within [0, 10] ms of the left): a left event whose bound had
 * passed by the horizon went out before, matched or not: it is not emitted as unmatched now
 * that its partner lies before the committed offset. One still open is. */
Test(proc_horizon, an_outer_joins_unmatched_left_that_went_out_before_is_not_emitted_again)
{
    struct proc_def *d;
    struct got g;
    struct proc_engine *e =
        engine("\"interval_join\":{\"left\":{\"filter\":\"id.startsWith('l')\"},\"right\":{"
               "\"filter\":\"id.startsWith('r')\"},\"lower\":\"0ms\",\"upper\":\"10ms\","
               "\"type\":\"left\"}",
               &d, &g);
    proc_engine_restore_horizon(e, 0, 50, 30, 0);
    entry(e, 0, 5, 10, "l1");  /* bound [5, 15]: passed by 30 */
    entry(e, 0, 40, 11, "l2"); /* [40, 50]: open */
    report(e, 0, 1000);
    cr_assert_eq(json_array_size(g.results), 1, "%s", json_dumps(g.results, 0));
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(g.results, 0), 0)), 40);
    cr_assert(json_is_true(json_array_get(json_array_get(g.results, 0), 1)), "unmatched");
    done(e, d, &g);
}

/* A left event matched by a right one that left the state before it (the right's bound passes
 * first) keeps the right's offset as its own lowest: the committed offset does not pass the
 * right while the left is held, so a recompute reads the pair again. Otherwise the left, read
 * again without its partner, came out as unmatched. */
Test(proc_horizon, a_matched_left_holds_its_partners_offset)
{
    const char *join = "\"interval_join\":{\"left\":{\"filter\":\"id.startsWith('l')\"},"
                       "\"right\":{\"filter\":\"id.startsWith('r')\"},\"lower\":\"-5ms\","
                       "\"upper\":\"10ms\",\"type\":\"left\"}";
    struct proc_def *d;
    struct got g;
    struct proc_engine *e = engine(join, &d, &g);
    entry(e, 0, 3, 10, "r1"); /* kept until the watermark passes 3 + 5 */
    entry(e, 0, 5, 20, "l1"); /* until 5 + 10 */
    cr_assert_eq(json_array_size(g.results), 1, "the pair");
    report(e, 0, 10);
    cr_assert_eq(proc_engine_min_offset(e, 0), 10, "the right's offset, held by the left");
    done(e, d, &g);
    /* recomputed from offset 10, the state lost when the watermark was 10 at position 30 */
    e = engine(join, &d, &g);
    proc_engine_restore_horizon(e, 0, 30, 10, 0);
    entry(e, 0, 3, 10, "r1");
    entry(e, 0, 5, 20, "l1");
    report(e, 0, 1000);
    cr_assert_eq(json_array_size(g.results), 1, "the same pair again, no unmatched left: %s",
                 json_dumps(g.results, 0));
    cr_assert(json_is_false(json_array_get(json_array_get(g.results, 0), 1)), "a pair");
    done(e, d, &g);
}
