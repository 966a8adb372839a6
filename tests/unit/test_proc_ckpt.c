/* Unit tests of what the processor reads from outside the process and computes with: a
 * checkpoint read back from Redis (proc_ckpt_restore, refused whole when any part is damaged or
 * foreign) and event times (a Kafka record's timestamp may be any int64; an event outside the
 * years an event's `time` can state is counted and left out, never windowed). */
#include "../../services/processor/proc_ckpt.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_window.h"
#include "proc_test.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUMBLING                                                                                   \
    "{\"name\":\"p\",\"key\":\"subject\",\"window\":{\"type\":\"tumbling\",\"size\":\"10ms\"},"    \
    "\"out_of_orderness\":\"0ms\",\"allowed_lateness\":\"5ms\",\"aggregates\":{\"n\":\"count()\"," \
    "\"p\":\"percentile(data.v, 0.5)\",\"d\":\"distinct(data.v)\"}}"

static void count_json(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (*(int *)ud)++;
}

static void count_text(const struct proc_def *d, const char *key, const char *text, size_t len,
                       const char *const *names, const char *const *values, size_t nh, void *ud)
{
    (void)d;
    (void)key;
    (void)text;
    (void)len;
    (void)names;
    (void)values;
    (void)nh;
    (*(int *)ud)++;
}

static json_t *event(const char *subject, int v)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:i}}", "specversion", "1.0", "id", "x", "source",
                     "/s", "type", "t", "subject", subject, "data", "v", v);
}

/* The fields of a whole checkpoint of e's partition 0 at offset 7: each key's state as written. */
struct fields {
    struct proc_ckpt_field v[32];
    char *owned[32];
    size_t n;
};

static void put(struct fields *f, const char *name, const char *value)
{
    cr_assert_lt(f->n, 32);
    f->owned[f->n] = cm_xstrdup(value);
    char *nm = cm_xstrdup(name);
    f->v[f->n] = (struct proc_ckpt_field){nm, f->owned[f->n], strlen(value)};
    f->n++;
}

static void on_key(const char *name, int block, const char *state, size_t len, void *ud)
{
    char field[128], value[4096];
    cr_assert_eq(block, PROC_KEY_STATE);
    cr_assert_not_null(state);
    cr_assert_lt(len, sizeof(value));
    snprintf(field, sizeof(field), "k:%s", name);
    memcpy(value, state, len);
    value[len] = '\0';
    put(ud, field, value);
}

static void on_source(int32_t source, int64_t max_time, int64_t resume, struct proc_windows *w,
                      void *ud)
{
    (void)source;
    (void)resume;
    char wm[32];
    snprintf(wm, sizeof(wm), "%lld", (long long)max_time);
    put(ud, "wm", wm);
    proc_windows_set_full(w, 1);
    proc_windows_changes(w, on_key, ud);
}

static void fields_free(struct fields *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free((char *)f->v[i].name);
        free(f->owned[i]);
    }
    f->n = 0;
}

/* Sets field name to value (added when absent; value NULL: removed). */
static void set(struct fields *f, const char *name, const char *value)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].name, name) == 0) {
            free(f->owned[i]);
            f->owned[i] = value ? cm_xstrdup(value) : NULL;
            f->v[i].value = f->owned[i];
            f->v[i].len = value ? strlen(value) : 0;
            return;
        }
    }
    if (value) {
        put(f, name, value);
    }
}

static const char *get(const struct fields *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].name, name) == 0) {
            return f->v[i].value;
        }
    }
    return NULL;
}

static void checkpoint(struct proc_engine *e, struct fields *f)
{
    proc_engine_each_source(e, on_source, f);
    put(f, "offset", "7");
    put(f, "whole", "1");
    put(f, "swm", "3");
    put(f, "hz", "5,2");
    put(f, "o:1", "4:0");
    put(f, "r:1", "3:0:1000"); /* (an earlier build's "3:0", without when it was sent, too) */
}

/* Replaces the first occurrence of what in text by with (the result is owned by the caller). */
static char *replaced(const char *text, const char *what, const char *with)
{
    const char *at = strstr(text, what);
    cr_assert_not_null(at, "%s not in %s", what, text);
    return cm_xasprintf("%.*s%s%s", (int)(at - text), text, with, at + strlen(what));
}

Test(proc_ckpt, a_checkpoint_read_back_is_refused_whole_when_any_part_is_damaged)
{
    cm_log_set_level((enum cm_log_level)(CM_LOG_ERROR + 1)); /* (refusals are logged) */
    struct proc_def *d = proc_test_def(TUMBLING);
    int n = 0;
    struct proc_engine_out out = {.emit = count_json, .emit_text = count_text, .ud = &n};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    proc_engine_track_changes(e);
    for (int i = 0; i < 6; i++) {
        json_t *ev = event(i % 2 ? "a" : "b", i);
        proc_engine_process(e, 0, ev, 1 + i, i, 0);
        json_decref(ev);
    }
    struct fields good = {0};
    checkpoint(e, &good);
    const char *ka = get(&good, "k:\x1f"
                                "a");
    cr_assert_not_null(ka, "the key's state was written");
    cr_assert_not_null(strstr(ka, "\"p\":[[0,"), "one pane at 0: %s", ka);
    struct proc_engine *back = proc_engine_new(d, &out, NULL);
    int64_t offset = -1;
    cr_assert_eq(proc_ckpt_restore(back, 0, "t", good.v, good.n, 0, &offset), 1);
    cr_assert_eq(offset, 7);
    cr_assert(proc_engine_has_source(back, 0));
    proc_engine_free(back);
    /* numbered: taken when the number Redis counted is the one the writer meant, else refused
     * (Redis lost an incremental write) */
    const char *numbers[][2] = {{"4", "4"}, {"3", "4"}, {"5", "4"}};
    for (size_t i = 0; i < 3; i++) {
        struct fields f = {0};
        for (size_t j = 0; j < good.n; j++) {
            put(&f, good.v[j].name, good.v[j].value);
        }
        set(&f, "seq", numbers[i][0]);
        set(&f, "wseq", numbers[i][1]);
        back = proc_engine_new(d, &out, NULL);
        offset = -1;
        int rc = proc_ckpt_restore(back, 0, "t", f.v, f.n, 0, &offset);
        cr_assert_eq(rc, i == 0 ? 1 : CM_E_INVAL, "seq %s, wseq %s", numbers[i][0], numbers[i][1]);
        cr_assert_eq(proc_engine_has_source(back, 0), i == 0);
        proc_engine_free(back);
        fields_free(&f);
    }

    /* each row: a field and the value it gets (NULL: removed), or a damaged key state */
    char *big_pane = replaced(ka, "\"p\":[[0,", "\"p\":[[9223372036854775800,");
    char *neg_offset = replaced(ka, "\"p\":[[0,1,", "\"p\":[[0,-1,");
    char *far_next = replaced(ka, "\"n\":", "\"n\":9223372036854775807,\"was\":");
    char *session = replaced(ka, "\"s\":[]", "\"s\":[[0,5,1,[1],0,false,\"\"]]");
    char *rev = replaced(ka, "\"r\":[]", "\"r\":[[0,4294967296]]");
    char *rev_time = replaced(ka, "\"r\":[]", "\"r\":[[-9223372036854775807,1]]");
    const struct {
        const char *field, *value;
    } hostile[] = {
        {"offset", "-1"},
        {"offset", "7x"},
        {"whole", NULL},
        {"seq", "3"},  /* numbered without what the writer meant: */
        {"wseq", "3"}, /* (each alone) */
        {"seq", "0"},
        {"seq", "3x"},
        {"wm", "9223372036854775807"},
        {"swm", "-9223372036854775807"},
        {"swm", "253402300799999000"},
        {"hz", "5,9223372036854775807"},
        {"hz", "-5,2"},
        {"o:1", "-4:0"},
        {"o:1x", "4:0"},
        {"o:1", "4:0:junk"},
        {"r:1", "9223372036854775807:0"},
        {"r:1", "3"},
        {"r:1", "3:1:-1"},
        {"r:1", "3:1:253402400000000"},
        {"r:1", "3:1:1000:7"},
        {"r:1", "3:1:x"},
        {"k:\x1f"
         "a",
         "[1]"},
        {"k:\x1f"
         "a",
         big_pane},
        {"k:\x1f"
         "a",
         neg_offset},
        {"k:\x1f"
         "a",
         far_next},
        {"k:\x1f"
         "a",
         session},
        {"k:\x1f"
         "a",
         rev},
        {"k:\x1f"
         "a",
         rev_time},
        {"k:no-separator", ka},
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct fields f = {0};
        for (size_t j = 0; j < good.n; j++) {
            put(&f, good.v[j].name, good.v[j].value);
        }
        set(&f, hostile[i].field, hostile[i].value);
        struct proc_engine *t = proc_engine_new(d, &out, NULL);
        offset = -1;
        int rc = proc_ckpt_restore(t, 0, "t", f.v, f.n, 0, &offset);
        cr_assert_lt(rc, 0, "refused: %s = %s", hostile[i].field,
                     hostile[i].value ? hostile[i].value : "(none)");
        cr_assert_eq(offset, -1);
        cr_assert_not(proc_engine_has_source(t, 0), "left empty: %s", hostile[i].field);
        proc_engine_free(t);
        fields_free(&f);
    }
    { /* an earlier build's report, without when it was sent, is read (as sent at 0) */
        struct fields f = {0};
        for (size_t j = 0; j < good.n; j++) {
            put(&f, good.v[j].name, good.v[j].value);
        }
        set(&f, "r:1", "3:0");
        struct proc_engine *t = proc_engine_new(d, &out, NULL);
        offset = -1;
        cr_assert_eq(proc_ckpt_restore(t, 0, "t", f.v, f.n, 0, &offset), 1);
        cr_assert(proc_engine_has_source(t, 0));
        proc_engine_free(t);
        fields_free(&f);
    }
    free(big_pane);
    free(neg_offset);
    free(far_next);
    free(session);
    free(rev);
    free(rev_time);
    fields_free(&good);
    proc_engine_free(e);
    proc_def_free(d);
}

Test(proc_ckpt, an_interval_joins_key_with_panes_is_refused_not_divided_by_zero)
{
    cm_log_set_level((enum cm_log_level)(CM_LOG_ERROR + 1)); /* (refusals are logged) */
    struct proc_def *d = proc_test_def(
        "{\"name\":\"j\",\"key\":\"subject\",\"interval_join\":{\"left\":{\"filter\":\"type == "
        "'l'\"},\"right\":{\"filter\":\"type == 'r'\"},\"lower\":\"-5ms\",\"upper\":\"5ms\"}}");
    int n = 0;
    struct proc_engine_out out = {.emit = count_json, .emit_text = count_text, .ud = &n};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    struct fields f = {0};
    put(&f, "offset", "0");
    put(&f, "whole", "1");
    put(&f,
        "k:\x1f"
        "a",
        "{\"p\":[[1,0,[1],\"\"]],\"s\":[],\"r\":[],\"n\":null}");
    int64_t offset = -1;
    cr_assert_lt(proc_ckpt_restore(e, 0, "t", f.v, f.n, 0, &offset), 0);
    cr_assert_not(proc_engine_has_source(e, 0));
    fields_free(&f);
    proc_engine_free(e);
    proc_def_free(d);
}

Test(proc_ckpt, events_outside_the_years_an_event_can_state_are_counted_not_windowed)
{
    struct proc_def *d = proc_test_def(TUMBLING);
    int n = 0;
    struct proc_engine_out out = {.emit = count_json, .emit_text = count_text, .ud = &n};
    struct cm_metrics *metrics = cm_metrics_new("t_");
    struct proc_engine *e = proc_engine_new(d, &out, metrics);
    const int64_t bad[] = {INT64_MAX, INT64_MIN + 1, CM_TIME_MAX_MS + 1, CM_TIME_MIN_MS - 1};
    json_t *ev = event("a", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        proc_engine_process(e, 0, ev, bad[i], (int64_t)i, 0);
    }
    cr_assert_eq(proc_engine_current_watermark(e), INT64_MIN, "the watermark did not move");
    /* the ends of the range are times */
    proc_engine_process(e, 0, ev, CM_TIME_MIN_MS, 10, 0);
    proc_engine_process(e, 0, ev, CM_TIME_MAX_MS, 11, 0);
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    cr_assert_eq(n, 2, "the two windows of the two events in range, not %d", n);
    char *text = cm_metrics_render(metrics);
    cr_assert_not_null(strstr(text, "outcome=\"time_out_of_range\"} 4\n"), "%s", text);
    cr_assert_not_null(strstr(text, "outcome=\"windowed\"} 2\n"), "%s", text);
    free(text);

    /* a first stage sends none of them on; a second stage reading them from a frame takes none */
    struct proc_engine *first = proc_engine_new(d, &out, NULL);
    struct proc_engine *second = proc_engine_new(d, &out, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        proc_engine_prepare(first, 0, ev, bad[i], PROC_NO_RECORD_TIME, 0, NULL,
                            NULL); /* (NULL: never called) */
        struct proc_origin o = {0, (int64_t)i, 0};
        cr_assert_eq(proc_engine_window(second, 0, ev, bad[i], (int64_t)i, &o, 0), 1);
    }
    cr_assert_eq(proc_engine_origin_wm(first, 0), INT64_MIN);
    proc_engine_watermark(second, PROC_WATERMARK_MAX);
    cr_assert_eq(n, 2, "nothing more emitted");
    json_decref(ev);
    proc_engine_free(first);
    proc_engine_free(second);
    proc_engine_free(e);
    proc_def_free(d);
    cm_metrics_free(metrics);
}

/* The types of the JSON outputs, in order ("result" or "retraction"), and each retraction's
 * result_id. */
struct kinds {
    char v[8][16];
    char ids[8][40];
    int n;
};

static void keep_kind(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct kinds *k = ud;
    cr_assert_lt(k->n, 8);
    const char *type = json_string_value(json_object_get(ev, "type"));
    cr_assert_not_null(type);
    snprintf(k->v[k->n], sizeof(k->v[0]), "%s", type + strlen("pipeline."));
    const char *id = json_string_value(json_object_get(json_object_get(ev, "data"), "result_id"));
    snprintf(k->ids[k->n], sizeof(k->ids[0]), "%s",
             id ? id : json_string_value(json_object_get(ev, "id")));
    k->n++;
}

Test(proc_ckpt, which_sessions_results_went_out_survives_a_checkpoint)
{
    cm_log_set_level((enum cm_log_level)(CM_LOG_ERROR + 1)); /* (refusals are logged) */
    /* `having` so that results take the JSON path, as with retractions */
    struct proc_def *d = proc_test_def(
        "{\"name\":\"p\",\"key\":\"subject\",\"window\":{\"type\":\"session\",\"gap\":\"10ms\","
        "\"retract\":true},\"allowed_lateness\":\"100ms\",\"having\":\"n > 0\","
        "\"aggregates\":{\"n\":\"count()\"}}");
    struct kinds before = {0}, after = {0};
    struct proc_engine_out out = {.emit = keep_kind, .ud = &before};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    proc_engine_track_changes(e);
    json_t *a = event("a", 1), *b = event("b", 1);
    proc_engine_process(e, 0, a, 0, 1, 0);  /* a: [0, 10) */
    proc_engine_process(e, 0, a, 15, 2, 0); /* a: [15, 25) */
    proc_engine_process(e, 0, b, 40, 3, 0); /* the watermark passes both: they fire */
    cr_assert_eq(before.n, 2, "the two sessions of a fired, not %d outputs", before.n);
    struct fields f = {0};
    checkpoint(e, &f);
    const char *ka = get(&f, "k:\x1f"
                             "a");
    cr_assert_not_null(ka);
    cr_assert_not_null(strstr(ka, "\"s\":[[0,10,1,"), "%s", ka);
    cr_assert_not_null(strstr(ka, ",true],[15,25,2,"), "each marked as gone out: %s", ka);

    /* restored, a late event that bridges them withdraws both results, then the merged one */
    out.ud = &after;
    struct proc_engine *back = proc_engine_new(d, &out, NULL);
    int64_t offset = -1;
    cr_assert_eq(proc_ckpt_restore(back, 0, "t", f.v, f.n, 0, &offset), 1);
    proc_engine_process(back, 0, a, 8, 8, 0);
    cr_assert_eq(after.n, 3, "%d outputs", after.n);
    cr_assert_str_eq(after.v[0], "retraction");
    cr_assert_str_eq(after.ids[0], before.ids[0], "it names the result of [0, 10)");
    cr_assert_str_eq(after.v[1], "retraction");
    cr_assert_str_eq(after.ids[1], before.ids[1], "it names the result of [15, 25)");
    cr_assert_str_eq(after.v[2], "result");
    proc_engine_free(back);

    /* the mark ([start, end, min_offset, acc, next_revision, pending, traceparent, gone out]) is
     * a boolean, present with retract, and true only on a session with a revision out */
    const struct {
        const char *what, *with;
        int taken;
    } rows[] = {
        {"\"\",true],[15", "\"\",false],[15", 1},
        {"\"\",true],[15", "\"\",1],[15", 0},
        {"\"\",true],[15", "\"\"],[15", 0},
        {"\"\",true]],", "\"\",true,true]],", 0},
        {"1,false,\"\",true],[15", "0,false,\"\",true],[15", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *state = replaced(ka, rows[i].what, rows[i].with);
        struct fields g = {0};
        for (size_t j = 0; j < f.n; j++) {
            put(&g, f.v[j].name, f.v[j].value);
        }
        set(&g,
            "k:\x1f"
            "a",
            state);
        struct proc_engine *t = proc_engine_new(d, &out, NULL);
        offset = -1;
        int rc = proc_ckpt_restore(t, 0, "t", g.v, g.n, 0, &offset);
        cr_assert_eq(rc, rows[i].taken ? 1 : CM_E_INVAL, "%s: %d", state, rc);
        proc_engine_free(t);
        fields_free(&g);
        free(state);
    }
    fields_free(&f);
    json_decref(a);
    json_decref(b);
    proc_engine_free(e);
    proc_def_free(d);
}
