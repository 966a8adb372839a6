/* Unit tests for a pipeline's `deduplicate` (services/processor/proc_dedup.c and the engine): a
 * repeat of an event (the same source and id, or what `by` names) is dropped while a live window
 * of its key holds the first one, in one stage and in two (the first stage sends the id with the
 * aggregates' arguments); a session that grew keeps the ids of its earliest events; a repeat
 * after the first one's windows expired is late as any event; ids are per tenant and key; a key
 * at max_ids_per_key forgets its oldest ids; a hostile checkpoint's ids are refused; the
 * definition's member is checked. (Checkpoints of many ids: test_proc_dedup_ckpt.c.) */
#include "proc_test.h"

#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_window.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 1767225600000LL /* 2026-01-01T00:00:00Z */

struct got {
    json_t *results; /* each result */
    json_t *late;    /* ids of late events */
};

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct got *g = ud;
    json_array_append_new(g->results, json_deep_copy(ev));
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct got *g = ud;
    json_array_append(g->late, json_object_get(ev, "id"));
}

static json_t *ev_at(const char *source, const char *id, const char *tenant, const char *k, int v)
{
    json_t *ev = json_pack("{s:s,s:s,s:s,s:{s:s,s:i,s:s}}", "type", "t", "source", source, "id", id,
                           "data", "k", k, "v", v, "order", id);
    if (tenant) {
        json_object_set_new(ev, "tenant", json_string(tenant));
    }
    return ev;
}

/* One stage: the event at T + ms, read at offset *off (then advanced). */
static void feed(struct proc_engine *e, int64_t *off, const char *source, const char *id,
                 const char *tenant, const char *k, int v, int64_t ms)
{
    json_t *ev = ev_at(source, id, tenant, k, v);
    proc_engine_process(e, 0, ev, T + ms, (*off)++, 0);
    json_decref(ev);
}

/* The count and sum of the result of tenant's key k (tenant NULL: none) starting at
 * T + start_ms (asserted to be there). */
static void assert_result(const json_t *results, const char *tenant, const char *k,
                          int64_t start_ms, int n, int s)
{
    size_t i;
    const json_t *ev;
    json_array_foreach(results, i, ev)
    {
        const json_t *r = json_object_get(ev, "data");
        const char *key = json_string_value(json_object_get(r, "key"));
        const char *ws = json_string_value(json_object_get(r, "window_start"));
        const char *t = json_string_value(json_object_get(ev, "tenant"));
        int64_t at;
        cr_assert(key && ws && cm_time_parse_rfc3339(ws, &at) == 0);
        if (strcmp(key, k) == 0 && at == T + start_ms &&
            (tenant ? t && strcmp(t, tenant) == 0 : !t)) {
            cr_assert_eq(json_integer_value(json_object_get(r, "n")), n, "%s at %lld: n", k,
                         (long long)start_ms);
            cr_assert_eq(json_integer_value(json_object_get(r, "s")), s, "%s at %lld: s", k,
                         (long long)start_ms);
            return;
        }
    }
    cr_assert_fail("no result of %s at %lld", k, (long long)start_ms);
}

#define AGGS "\"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\"}"

/* A definition and an engine running it, its results and late events collected. */
struct fix {
    struct proc_def *d;
    struct got g;
    struct proc_engine *e;
};

static struct fix *fix_new(const char *def)
{
    struct fix *f = cm_xcalloc(1, sizeof(*f));
    f->d = proc_test_def(def);
    f->g = (struct got){json_array(), json_array()};
    struct proc_engine_out out = {.emit = on_emit, .late = on_late, .ud = &f->g};
    f->e = proc_engine_new(f->d, &out, NULL);
    return f;
}

static void fix_free(struct fix *f)
{
    proc_engine_free(f->e);
    proc_def_free(f->d);
    json_decref(f->g.results);
    json_decref(f->g.late);
    free(f);
}

Test(proc_dedup, a_repeat_is_dropped_while_a_live_window_holds_the_first)
{
    struct fix *f = fix_new(
        "{\"name\": \"p\", \"key\": \"data.k\", \"deduplicate\": true, \"window\": {\"type\": "
        "\"tumbling\", \"size\": \"10s\"}, \"allowed_lateness\": \"5s\", " AGGS "}");
    struct proc_engine *e = f->e;
    struct got g = f->g;
    int64_t off = 0;
    feed(e, &off, "/s", "a", NULL, "m", 1, 1000);
    feed(e, &off, "/s", "a", NULL, "m", 1, 1000);   /* a repeat: dropped */
    feed(e, &off, "/s", "a", NULL, "m", 50, 2000);  /* another time and value: the same event */
    feed(e, &off, "/o", "a", NULL, "m", 2, 1000);   /* another source: another event */
    feed(e, &off, "/s", "a", "acme", "m", 4, 1000); /* another tenant's */
    feed(e, &off, "/s", "a", NULL, "x", 8, 1000);   /* another key's */
    feed(e, &off, "/s", "b", NULL, "m", 16, 3000);
    feed(e, &off, "/s", "b", NULL, "m", 16, 3000);
    /* the window fires at 12 s (fired, not expired: a repeat is still dropped, not a revision) */
    feed(e, &off, "/s", "c", NULL, "m", 32, 12000);
    cr_assert_eq(json_array_size(g.results), 3, "three windows of [0, 10 s) fired");
    feed(e, &off, "/s", "b", NULL, "m", 16, 3000);
    cr_assert_eq(json_array_size(g.results), 3, "a repeat fires no revision");
    /* past its lateness the window is gone: the repeat is late, as any event of its time */
    feed(e, &off, "/s", "d", NULL, "m", 64, 16000);
    feed(e, &off, "/s", "a", NULL, "m", 1, 1000);
    cr_assert_eq(json_array_size(g.late), 1);
    cr_assert_str_eq(json_string_value(json_array_get(g.late, 0)), "a");
    feed(e, &off, "/s", "c", NULL, "m", 32, 12000); /* [10 s, 20 s) is live */
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    assert_result(g.results, NULL, "m", 0, 3, 1 + 2 + 16);
    assert_result(g.results, "acme", "m", 0, 1, 4);
    assert_result(g.results, NULL, "x", 0, 1, 8);
    assert_result(g.results, NULL, "m", 10000, 2, 32 + 64);
    cr_assert_eq(json_array_size(g.results), 4);
    fix_free(f);
}

Test(proc_dedup, a_session_that_grew_keeps_the_ids_of_its_first_events)
{
    struct fix *f =
        fix_new("{\"name\": \"p\", \"key\": \"data.k\", \"deduplicate\": {\"by\": \"data.order\"}, "
                "\"window\": {\"type\": \"session\", \"gap\": \"10s\"}, " AGGS "}");
    struct proc_engine *e = f->e;
    struct got g = f->g;
    json_t *first = json_loads("{\"source\": \"/s\", \"id\": \"1\", \"data\": {\"k\": \"m\", "
                               "\"v\": 1, \"order\": 7}}",
                               0, NULL),
           *again = json_loads("{\"source\": \"/other\", \"id\": \"2\", \"data\": {\"k\": \"m\", "
                               "\"v\": 100, \"order\": 7}}",
                               0, NULL);
    proc_engine_process(e, 0, first, T, 0, 0);
    feed(e, &(int64_t){1}, "/s", "n1", NULL, "m", 2, 8000);
    feed(e, &(int64_t){2}, "/s", "n2", NULL, "m", 4, 16000);
    /* the watermark (16 s) is past the first event's own gap, not its session's [0, 26 s) */
    proc_engine_process(e, 0, again, T + 100, 3, 0);
    cr_assert_eq(json_array_size(g.late), 0, "a repeat joining a live session is no late event");
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    cr_assert_eq(json_array_size(g.results), 1);
    assert_result(g.results, NULL, "m", 0, 3, 7);
    json_decref(first);
    json_decref(again);
    fix_free(f);
}

/* The first stage's events, as the daemon sends them through the repartition topic. */
struct prepared {
    json_t *keys, *args;
};

static void on_prepared(const json_t *ev, const char *tenant, const char *key, int unchanged,
                        const json_t *args, void *ud)
{
    (void)ev;
    (void)tenant;
    (void)unchanged;
    struct prepared *p = ud;
    json_array_append_new(p->keys, json_string(key));
    json_array_append_new(p->args, json_deep_copy(args));
}

Test(proc_dedup, the_second_stage_of_two_takes_the_id_the_first_sent)
{
    struct fix *f = fix_new(
        "{\"name\": \"p\", \"key\": \"data.k\", \"deduplicate\": true, \"steps\": [{\"flatMap\": "
        "\"data.items\"}], \"window\": {\"type\": \"tumbling\", \"size\": \"10s\"}, " AGGS "}");
    struct proc_engine *first = proc_engine_new(f->d, &proc_test_drop_out, NULL), *second = f->e;
    struct got g = f->g;
    struct prepared p = {json_array(), json_array()};
    json_t *ev = json_loads("{\"source\": \"/s\", \"id\": \"a\", \"data\": {\"items\": [{\"k\": "
                            "\"m\", \"v\": 1}, {\"k\": \"m\", \"v\": 2}]}}",
                            0, NULL);
    for (int i = 0; i < 2; i++) { /* the event, and its repeat */
        proc_engine_prepare(first, 0, ev, T, PROC_NO_RECORD_TIME, 0, on_prepared, &p);
    }
    cr_assert_eq(json_array_size(p.args), 4);
    /* count()'s argument, sum's, then the id: the source and each element's own id */
    const json_t *a0 = json_array_get(p.args, 0), *a1 = json_array_get(p.args, 1);
    cr_assert_eq(json_array_size(a0), 3);
    cr_assert_str_eq(json_string_value(json_array_get(a0, 2)), "[\"/s\",\"a#0\"]");
    cr_assert_str_eq(json_string_value(json_array_get(a1, 2)), "[\"/s\",\"a#1\"]");
    cr_assert(json_equal(json_array_get(p.args, 2), a0), "the repeat's first element");
    for (size_t i = 0; i < 4; i++) {
        struct proc_keyed k = {.tenant = "",
                               .key = json_string_value(json_array_get(p.keys, i)),
                               .traceparent = "",
                               .time_ms = T,
                               .args = json_array_get(p.args, i),
                               .raw = "{}",
                               .rawlen = 2};
        struct proc_origin o = {0, (int64_t)(i / 2), (int32_t)(i % 2)};
        proc_engine_window_keyed(second, 0, &k, (int64_t)i, &o, 0);
    }
    proc_engine_watermark(second, PROC_WATERMARK_MAX);
    cr_assert_eq(json_array_size(g.results), 1);
    assert_result(g.results, NULL, "m", 0, 2, 3);
    json_decref(ev);
    json_decref(p.keys);
    json_decref(p.args);
    proc_engine_free(first);
    fix_free(f);
}

static int64_t nop_emit_calls;

static int nop_emit(const struct proc_window_result *r, void *ud)
{
    (void)r;
    (void)ud;
    nop_emit_calls++;
    return 1;
}

Test(proc_dedup, a_key_at_its_bound_forgets_its_oldest_ids)
{
    struct proc_def *d = proc_test_def(
        "{\"name\": \"p\", \"key\": \"data.k\", \"deduplicate\": {\"max_ids_per_key\": 16}, "
        "\"window\": {\"type\": \"tumbling\", \"size\": \"10s\"}, " AGGS "}");
    cr_assert_eq(d->dedup_max_ids, 16);
    struct proc_windows *w = proc_windows_new(d);
    size_t errors = 0;
    for (int i = 0; i < 16; i++) { /* times from 1 s down: the oldest are the last ones added */
        char id[16];
        snprintf(id, sizeof(id), "i%02d", i);
        json_t *ev = json_pack("{s:{s:i}}", "data", "v", 1);
        int64_t t = T + 1000 - i;
        cr_assert_eq(proc_windows_add(w, "", "m", t, ev, NULL, "", 0, T, nop_emit, NULL, &errors),
                     PROC_ADDED);
        cr_assert_eq(proc_windows_remember(w, "", "m", id, t, T), 0, "%s", id);
        json_decref(ev);
    }
    /* the 17th: the oldest 16 - 14 = 2 go (i15 and i14), the 15 others stay with it */
    cr_assert_eq(proc_windows_remember(w, "", "m", "new", T + 2000, T), 2);
    cr_assert_not(proc_windows_seen(w, "", "m", "i15", T));
    cr_assert_not(proc_windows_seen(w, "", "m", "i14", T));
    cr_assert(proc_windows_seen(w, "", "m", "i13", T));
    cr_assert(proc_windows_seen(w, "", "m", "i00", T));
    cr_assert(proc_windows_seen(w, "", "m", "new", T));
    /* room for one more (16), then the next makes two go again (i13, i12) */
    cr_assert_eq(proc_windows_remember(w, "", "m", "more", T + 3000, T), 0);
    cr_assert_eq(proc_windows_remember(w, "", "m", "again", T + 3000, T), 2);
    cr_assert_not(proc_windows_seen(w, "", "m", "i12", T));
    cr_assert(proc_windows_seen(w, "", "m", "i11", T));
    proc_windows_free(w);
    proc_def_free(d);
}

Test(proc_dedup, a_checkpoints_ids_are_refused_when_damaged)
{
    struct proc_def *d = proc_test_def(
        "{\"name\": \"p\", \"key\": \"data.k\", \"deduplicate\": true, \"window\": {\"type\": "
        "\"tumbling\", \"size\": \"10s\"}, " AGGS "}");
    struct proc_def *plain = proc_test_def(
        "{\"name\": \"p\", \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": "
        "\"10s\"}, " AGGS "}");
    char *long_id = cm_xmalloc(PROC_DEDUP_ID_MAX + 1);
    memset(long_id, 'x', PROC_DEDUP_ID_MAX);
    long_id[PROC_DEDUP_ID_MAX] = '\0';
    json_t *cases[] = {
        json_pack("[s]", "a"),                     /* no time */
        json_pack("[s,s]", "a", "1"),              /* a time that is not a number */
        json_pack("[i,i]", 1, 1),                  /* an id that is not a string */
        json_pack("[s,I,i]", "a", T, 1),           /* a member more */
        json_pack("[s,I]", "a", INT64_MAX),        /* a time no event states */
        json_pack("[s%,I]", "a\0b", (size_t)3, T), /* a NUL in the id */
        json_pack("[s,I]", long_id, T),            /* longer than an id may be */
        json_string("a"),                          /* not a pair */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_not_null(cases[i], "case %zu", i);
        json_t *state = json_pack("{s:[],s:[],s:[],s:n,s:[O]}", "p", "s", "r", "n", "d", cases[i]);
        struct proc_windows *w = proc_windows_new(d);
        cr_assert_eq(proc_windows_restore(w, "\x1fm", state), CM_E_INVAL, "case %zu", i);
        proc_windows_free(w);
        json_decref(state);
        json_decref(cases[i]);
    }
    json_t *ok = json_pack("{s:[],s:[],s:[],s:n,s:[[s,I]]}", "p", "s", "r", "n", "d", "a", T);
    json_t *notlist = json_pack("{s:[],s:[],s:[],s:n,s:s}", "p", "s", "r", "n", "d", "a");
    struct proc_windows *w = proc_windows_new(d), *wp = proc_windows_new(plain),
                        *wn = proc_windows_new(d);
    cr_assert_eq(proc_windows_restore(w, "\x1fm", ok), 0);
    cr_assert_eq(proc_windows_restore(wp, "\x1fm", ok), CM_E_INVAL,
                 "ids in the state of a pipeline that does not deduplicate");
    cr_assert_eq(proc_windows_restore(wn, "\x1fm", notlist), CM_E_INVAL);
    proc_windows_free(w);
    proc_windows_free(wp);
    proc_windows_free(wn);
    json_decref(ok);
    json_decref(notlist);
    free(long_id);
    proc_def_free(d);
    proc_def_free(plain);
}

Test(proc_dedup, the_definitions_member_is_checked)
{
    static const struct {
        const char *members;
        const char *err; /* NULL: accepted */
    } cases[] = {
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": true", NULL},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": false", NULL},
        {"\"window\": {\"type\": \"session\", \"gap\": \"1s\"}, \"deduplicate\": {\"by\": "
         "\"data.order\"}",
         NULL},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": {}", NULL},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": \"id\"",
         "deduplicate: must be true, false or"},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": {\"by\": 1}",
         "deduplicate.by: must be an expression"},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": {\"by\": "
         "\"data.(\"}",
         "deduplicate.by: "},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": {\"by\": "
         "\"id\", \"within\": \"1m\"}",
         "deduplicate.within: unknown member"},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": "
         "{\"max_ids_per_key\": 0}",
         "deduplicate.max_ids_per_key: must be an integer from 1"},
        {"\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"deduplicate\": "
         "{\"max_ids_per_key\": \"10\"}",
         "deduplicate.max_ids_per_key: must be an integer from 1"},
        {"\"deduplicate\": true", "deduplicate: only with a window"},
        {"\"interval_join\": {\"left\": {\"filter\": \"true\"}, \"right\": {\"filter\": "
         "\"false\"}, \"lower\": \"0s\", \"upper\": \"1s\"}, \"deduplicate\": true",
         "deduplicate: not with an interval join"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = cm_xasprintf("{\"name\": \"p\", \"key\": \"data.k\", %s%s}", cases[i].members,
                                  strstr(cases[i].members, "window") &&
                                          !strstr(cases[i].members, "interval_join")
                                      ? ", " AGGS
                                      : "");
        json_t *doc = json_loads(text, 0, NULL);
        cr_assert_not_null(doc, "%s", text);
        char err[256] = "";
        struct proc_def *d = proc_def_parse(doc, "events", "derived", err, sizeof(err));
        if (cases[i].err) {
            cr_assert_null(d, "%s", text);
            cr_assert(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0, "%s: %s", text, err);
        } else {
            cr_assert_not_null(d, "%s: %s", text, err);
            cr_assert_eq(d->dedup != NULL, strstr(text, "false") == NULL, "%s", text);
            cr_assert_eq(d->dedup_max_ids, d->dedup ? PROC_DEDUP_MAX_IDS_DEFAULT : 0);
        }
        proc_def_free(d);
        json_decref(doc);
        free(text);
    }
}
