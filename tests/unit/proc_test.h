/* proc_test: helpers shared by the processor's unit tests: a pipeline definition parsed from
 * JSON text (the test fails, naming the reason, when it does not parse), an accumulator's
 * result, the identity law of the empty accumulator, accumulators' checkpoint forms read back
 * or refused, and an engine's outputs collected (struct proc_test_got). */
#ifndef PROC_TEST_H
#define PROC_TEST_H

#include "../../services/processor/proc_agg.h"
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"

#include "cm/envelope.h"
#include "cm/event.h"
#include "cm/jsonw.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>

static inline struct proc_def *proc_test_def(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert_not_null(doc, "not JSON: %s", text);
    char err[256];
    struct proc_def *d = proc_def_parse(doc, "events", "derived", err, sizeof(err));
    json_decref(doc);
    cr_assert_not_null(d, "%s", err);
    return d;
}

/* An engine's outputs that keep nothing (proc_test_drop_out). */
static inline void proc_test_drop_json(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ev;
    (void)ud;
}

static inline void proc_test_drop_text(const struct proc_def *d, const char *key, const char *text,
                                       size_t len, const char *const *names,
                                       const char *const *values, size_t nh, void *ud)
{
    (void)d;
    (void)key;
    (void)text;
    (void)len;
    (void)names;
    (void)values;
    (void)nh;
    (void)ud;
}

static const struct proc_engine_out proc_test_drop_out = {.emit = proc_test_drop_json,
                                                          .emit_text = proc_test_drop_text};

/* An accumulator's result: a new object of its aggregates' values. */
static inline json_t *proc_test_result(const struct proc_acc *a)
{
    json_t *o = json_object();
    proc_acc_result(a, o);
    return o;
}

/* The empty accumulator is an identity on both sides of a merge with a: asserted; returns the
 * empty accumulator's own result for the caller to check (and free). */
static inline json_t *proc_test_check_identity(const struct proc_def *d, const struct proc_acc *a)
{
    struct proc_acc *e = proc_acc_new(d), *ae = proc_acc_copy(a), *ea = proc_acc_new(d);
    proc_acc_merge(ae, e);
    proc_acc_merge(ea, a);
    json_t *ra = proc_test_result(a), *rae = proc_test_result(ae), *rea = proc_test_result(ea),
           *re = proc_test_result(e);
    cr_assert(json_equal(ra, rae), "right identity");
    cr_assert(json_equal(ra, rea), "left identity");
    json_decref(ra);
    json_decref(rae);
    json_decref(rea);
    proc_acc_free(e);
    proc_acc_free(ae);
    proc_acc_free(ea);
    return re;
}

/* a written to its checkpoint form and read back (asserted to be taken): the caller frees it. */
static inline struct proc_acc *proc_test_restored(const struct proc_def *d,
                                                  const struct proc_acc *a)
{
    struct cm_jw w = {0};
    proc_acc_write_state(a, &w);
    json_t *j = json_loads(cm_jw_text(&w, NULL), 0, NULL);
    cr_assert_not_null(j, "%s", cm_jw_text(&w, NULL));
    struct proc_acc *back = proc_acc_from_json(d, j);
    cr_assert_not_null(back, "not taken back: %s", cm_jw_text(&w, NULL));
    json_decref(j);
    cm_jw_free(&w);
    return back;
}

/* Each of the checkpoint forms (JSON texts, up to a NULL) is refused. */
static inline void proc_test_refused(const struct proc_def *d, const char *const *hostile)
{
    cr_assert_not_null(hostile[0]);
    for (size_t i = 0; hostile[i]; i++) {
        json_t *h = json_loads(hostile[i], JSON_DECODE_ANY, NULL);
        cr_assert_not_null(h, "not JSON: %s", hostile[i]);
        cr_assert_null(proc_acc_from_json(d, h), "taken: %s", hostile[i]);
        json_decref(h);
    }
}

/* xorshift64: the tests' random input, the same for a given seed on every machine. */
static inline uint64_t proc_test_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* What an engine emitted (proc_test_on_text, proc_test_on_json and proc_test_on_late as its
 * outputs, with the struct as their ud): each result as {"key", "text", "headers": [[name,
 * value], ...]}, and its late events when `late` is not NULL. */
struct proc_test_got {
    json_t *list; /* [{"key", "text", "headers": [[name, value], ...]}] */
    json_t *late; /* late events, or NULL */
};

static inline void proc_test_got_add(struct proc_test_got *g, const char *key, const char *text,
                                     size_t len, const char *const *names,
                                     const char *const *values, size_t nh)
{
    json_t *h = json_array();
    for (size_t i = 0; i < nh; i++) {
        json_array_append_new(h, json_pack("[s,s]", names[i], values[i]));
    }
    json_array_append_new(g->list,
                          json_pack("{s:s,s:s%,s:o}", "key", key, "text", text, len, "headers", h));
}

static inline void proc_test_on_text(const struct proc_def *d, const char *key, const char *text,
                                     size_t len, const char *const *names,
                                     const char *const *values, size_t nh, void *ud)
{
    (void)d;
    proc_test_got_add(ud, key, text, len, names, values, nh);
}

static inline void proc_test_on_json(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    const char *names[CM_EVENT_MAX_HEADERS], *values[CM_EVENT_MAX_HEADERS];
    size_t nh = cm_event_headers(ev, names, values);
    char *text = cm_envelope_serialize(ev);
    proc_test_got_add(ud, cm_event_key(ev), text, strlen(text), names, values, nh);
    free(text);
}

static inline void proc_test_on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct proc_test_got *g = ud;
    if (g->late) {
        json_array_append(g->late, (json_t *)ev);
    }
}

#endif
