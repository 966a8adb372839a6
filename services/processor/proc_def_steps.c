/* proc_def_steps: the steps of a pipeline definition parsed and validated: map, flatMap (a list
 * to one event per element, or into data.<as> keeping the rest), filter, and the stream-table join
 * (a compacted topic's table or a Redis hash). */
#include "proc_def.h"
#include "proc_def_int.h"

#include "cm/err.h"
#include "cm/expr.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *proc_join_redis_hash(const char *table)
{
    return strncmp(table, "redis:", 6) == 0 ? table + 6 : NULL;
}

/* {"join": {"topic": T | "redis_hash": H, "key": EXPR, "as": FIELD, "type": "inner"|"left"}}: a
 * stream-table join against the table kept from topic T, or the Redis hash H (table name
 * "redis:H"). */
static int parse_join(struct proc_def *d, struct proc_step *s, const json_t *v, const char *field,
                      char *err, size_t errlen)
{
    static const char *const allowed[] = {"topic", "redis_hash", "key", "as", "type", NULL};
    s->kind = PROC_STEP_JOIN;
    if (!json_is_object(v)) {
        return proc_def_fail(
            err, errlen, "%s: must be {\"topic\": T, \"key\": \"expr\", \"as\": \"field\"}", field);
    }
    if (proc_def_only(v, field, allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    const char *topic = json_string_value(json_object_get(v, "topic"));
    const char *hash = json_string_value(json_object_get(v, "redis_hash"));
    const char *as = json_string_value(json_object_get(v, "as"));
    const char *type = json_string_value(json_object_get(v, "type"));
    if (json_object_get(v, "redis_hash")) {
        if (json_object_get(v, "topic")) {
            return proc_def_fail(err, errlen, "%s: either topic or redis_hash, not both", field);
        }
        if (!hash || !*hash || strlen(hash) > 200) {
            return proc_def_fail(err, errlen,
                                 "%s.redis_hash: must name the Redis hash (1 to 200 bytes)", field);
        }
    } else if (!topic || !cm_kafka_topic_name_ok(topic) || proc_def_is_repartition_topic(topic)) {
        return proc_def_fail(
            err, errlen, "%s.topic: must be the table's topic name (or redis_hash: a Redis hash)%s",
            field,
            topic && proc_def_is_repartition_topic(topic) ? "; not a repartition topic" : "");
    }
    if (!as || !cm_name_valid(as, 64)) {
        return proc_def_fail(err, errlen, "%s.as: must name the data field the row goes to", field);
    }
    if (json_object_get(v, "type") &&
        (!type || (strcmp(type, "inner") != 0 && strcmp(type, "left") != 0))) {
        return proc_def_fail(err, errlen, "%s.type: must be \"inner\" or \"left\"", field);
    }
    char sub[160];
    snprintf(sub, sizeof(sub), "%s.key", field);
    if (!json_object_get(v, "key")) {
        return proc_def_fail(err, errlen, "%s: required (an expression giving the row's key)", sub);
    }
    if (proc_def_compile(json_object_get(v, "key"), sub, &s->expr, err, errlen)) {
        return CM_E_INVAL;
    }
    s->as = cm_xstrdup(as);
    s->left = type && strcmp(type, "left") == 0;
    if (hash) { /* looked up in Redis when needed: no topic to follow */
        s->table = cm_xasprintf("redis:%s", hash);
        return 0;
    }
    s->table = cm_xstrdup(topic);
    for (size_t i = 0; i < d->ntables; i++) {
        if (strcmp(d->tables[i], topic) == 0) {
            return 0;
        }
    }
    d->tables = cm_xrealloc(d->tables, (d->ntables + 1) * sizeof(*d->tables));
    d->tables[d->ntables++] = cm_xstrdup(topic);
    return 0;
}

/* {"flatMap": {"expr": EXPR, "as": FIELD}}: each element of the list goes to data.FIELD of its own
 * copy of the event, the rest of data kept (as Spark's explode keeps a row's other columns). */
static int parse_flatmap(struct proc_step *s, const json_t *v, const char *field, char *err,
                         size_t errlen)
{
    static const char *const allowed[] = {"expr", "as", NULL};
    if (proc_def_only(v, field, allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    const char *as = json_string_value(json_object_get(v, "as"));
    if (!as || !cm_name_valid(as, 64)) {
        return proc_def_fail(err, errlen, "%s.as: must name the data field each element goes to",
                             field);
    }
    char sub[160];
    snprintf(sub, sizeof(sub), "%s.expr", field);
    if (!json_object_get(v, "expr")) {
        return proc_def_fail(err, errlen, "%s: required (an expression giving the list)", sub);
    }
    if (proc_def_compile(json_object_get(v, "expr"), sub, &s->expr, err, errlen)) {
        return CM_E_INVAL;
    }
    s->as = cm_xstrdup(as);
    return 0;
}

int proc_def_parse_steps(struct proc_def *d, const json_t *steps, char *err, size_t errlen)
{
    if (!json_is_array(steps)) {
        return proc_def_fail(err, errlen, "steps: must be an array");
    }
    if (json_array_size(steps) > PROC_STEPS_MAX) {
        return proc_def_fail(err, errlen, "steps: at most %d", PROC_STEPS_MAX);
    }
    d->steps = cm_xcalloc(json_array_size(steps) + 1, sizeof(*d->steps));
    size_t i;
    const json_t *st;
    json_array_foreach(steps, i, st)
    {
        struct proc_step *s = &d->steps[i];
        d->nsteps = i + 1;
        char field[64];
        if (!json_is_object(st) || json_object_size(st) != 1) {
            return proc_def_fail(err, errlen,
                                 "steps[%zu]: must be one of {\"map\": {...}}, "
                                 "{\"flatMap\": \"expr\" | {...}}, {\"filter\": \"expr\"}, "
                                 "{\"join\": {...}}",
                                 i);
        }
        const char *kind = json_object_iter_key(json_object_iter((json_t *)st));
        const json_t *v = json_object_iter_value(json_object_iter((json_t *)st));
        snprintf(field, sizeof(field), "steps[%zu].%s", i, kind);
        if (strcmp(kind, "flatMap") == 0 && json_is_object(v)) {
            s->kind = PROC_STEP_FLATMAP;
            if (parse_flatmap(s, v, field, err, errlen)) {
                return CM_E_INVAL;
            }
        } else if (strcmp(kind, "flatMap") == 0 && !json_is_string(v)) {
            return proc_def_fail(
                err, errlen,
                "%s: must be an expression (a string) or {\"expr\": \"expr\", \"as\": "
                "\"field\"}",
                field);
        } else if (strcmp(kind, "filter") == 0 || strcmp(kind, "flatMap") == 0) {
            s->kind = kind[0] == 'f' && kind[1] == 'i' ? PROC_STEP_FILTER : PROC_STEP_FLATMAP;
            if (proc_def_compile(v, field, &s->expr, err, errlen)) {
                return CM_E_INVAL;
            }
        } else if (strcmp(kind, "map") == 0) {
            s->kind = PROC_STEP_MAP;
            if (!json_is_object(v) || json_object_size(v) == 0) {
                return proc_def_fail(err, errlen, "%s: must be an object of field: expression",
                                     field);
            }
            s->names = cm_xcalloc(json_object_size(v), sizeof(char *));
            s->exprs = cm_xcalloc(json_object_size(v), sizeof(struct cm_expr *));
            const char *k;
            const json_t *e;
            json_object_foreach((json_t *)v, k, e)
            {
                char sub[160];
                snprintf(sub, sizeof(sub), "%s.%s", field, k);
                s->names[s->n] = cm_xstrdup(k);
                s->n++;
                if (proc_def_compile(e, sub, &s->exprs[s->n - 1], err, errlen)) {
                    return CM_E_INVAL;
                }
            }
        } else if (strcmp(kind, "join") == 0) {
            if (parse_join(d, s, v, field, err, errlen)) {
                return CM_E_INVAL;
            }
        } else {
            char buf[CM_SHOWN_LEN];
            return proc_def_fail(err, errlen,
                                 "steps[%zu]: unknown step '%s' (map, flatMap, filter, join)", i,
                                 cm_shown(kind, buf));
        }
    }
    return 0;
}
