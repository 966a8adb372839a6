/* proc_def_shape: warnings about a valid pipeline definition whose expressions read fields of
 * `data` that no event can hold there. After a `map`, `data` holds exactly the map's fields (and
 * then the `as` fields that later joins and flatMaps add), so an expression further on that reads
 * another field of `data` always fails: each event it reads becomes a dead letter or an unusable
 * aggregate value. Not refused, since a definition may well be written before the steps that
 * will feed it: the API answers these with the write, and pipeline-run prints them. */
#include "proc_def.h"

#include "cm/expr.h"
#include "cm/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE_MAX 64 /* fields of data followed; past that (a map this wide) nothing is said */

struct shape {
    const char *fields[SHAPE_MAX];
    size_t n;
    int known;      /* 0: data is whatever the input held */
    size_t made_by; /* the step whose map set it */
    json_t *out;    /* the warnings */
};

static void shape_add(struct shape *s, const char *field)
{
    if (s->n == SHAPE_MAX) {
        s->known = 0;
        return;
    }
    s->fields[s->n++] = field;
}

static int shape_holds(const struct shape *s, const char *field)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->fields[i], field) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Warns about each field of data that e reads and data cannot hold; `where` names e. */
static void check(struct shape *s, const struct cm_expr *e, const char *where)
{
    if (!s->known || !e) {
        return;
    }
    const char *read[16];
    size_t n = cm_expr_fields_of(e, "data", read, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        if (shape_holds(s, read[i])) {
            continue;
        }
        size_t len = 1;
        for (size_t k = 0; k < s->n; k++) {
            len += strlen(s->fields[k]) + 2;
        }
        char *held = cm_xcalloc(1, len);
        for (size_t k = 0; k < s->n; k++) {
            strcat(held, k ? ", " : "");
            strcat(held, s->fields[k]);
        }
        char *w = cm_xasprintf("%s: reads data.%s, which no event holds there: after the map "
                               "of steps[%zu], data holds only %s",
                               where, read[i], s->made_by, held);
        json_array_append_new(s->out, json_string(w));
        free(w);
        free(held);
    }
}

json_t *proc_def_warnings(const struct proc_def *d)
{
    struct shape s = {.out = json_array()};
    char where[128];
    for (size_t i = 0; i < d->nsteps; i++) {
        const struct proc_step *st = &d->steps[i];
        switch (st->kind) {
        case PROC_STEP_MAP:
            for (size_t k = 0; k < st->n; k++) {
                snprintf(where, sizeof(where), "steps[%zu].map.%.64s", i, st->names[k]);
                check(&s, st->exprs[k], where);
            }
            s.known = 1;
            s.n = 0;
            s.made_by = i;
            for (size_t k = 0; k < st->n; k++) {
                shape_add(&s, st->names[k]);
            }
            break;
        case PROC_STEP_FLATMAP:
            snprintf(where, sizeof(where), "steps[%zu].flatMap", i);
            check(&s, st->expr, where);
            if (st->as) {
                shape_add(&s, st->as);
            } else {
                s.known = 0; /* each element becomes data */
            }
            break;
        case PROC_STEP_FILTER:
            snprintf(where, sizeof(where), "steps[%zu].filter", i);
            check(&s, st->expr, where);
            break;
        case PROC_STEP_JOIN:
            snprintf(where, sizeof(where), "steps[%zu].join.key", i);
            check(&s, st->expr, where);
            shape_add(&s, st->as);
            break;
        }
    }
    check(&s, d->key, "key");
    for (size_t i = 0; i < d->naggs; i++) {
        snprintf(where, sizeof(where), "aggregates.%.64s", d->aggs[i].name);
        check(&s, d->aggs[i].arg, where);
    }
    if (!d->dedup_default) {
        check(&s, d->dedup, "deduplicate.by");
    }
    if (json_array_size(s.out) == 0) {
        json_decref(s.out);
        return NULL;
    }
    return s.out;
}
