/* proc_def_join: a pipeline definition's "interval_join" member (proc_def_int.h): its two sides
 * (filter, key, as), the bounds of right.time - left.time, inner or left outer, and how many
 * events one key may keep; and which side an event is of. */
#include "proc_def_int.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <stdio.h>
#include <string.h>

/* An interval join's bound: a signed duration. */
static int bound(const json_t *j, const char *name, int64_t *out, char *err, size_t errlen)
{
    char field[64];
    snprintf(field, sizeof(field), "interval_join.%s", name);
    if (!json_object_get(j, name)) {
        return proc_def_fail(err, errlen, "%s: required, a duration such as \"-5m\" or \"10m\"",
                             field);
    }
    return proc_def_signed_duration(j, name, field, out, err, errlen);
}

static int parse_join_side(struct proc_def *d, const json_t *j, int side, char *err, size_t errlen)
{
    static const char *const allowed[] = {"filter", "key", "as", NULL};
    const char *name = side == PROC_LEFT ? "left" : "right";
    char field[64];
    snprintf(field, sizeof(field), "interval_join.%s", name);
    const json_t *v = json_object_get(j, name);
    if (!json_is_object(v)) {
        return proc_def_fail(
            err, errlen, "%s: must be {\"filter\": \"expr\", \"key\": \"expr\", \"as\": \"field\"}",
            field);
    }
    if (proc_def_only(v, field, allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    char sub[96];
    snprintf(sub, sizeof(sub), "%s.filter", field);
    if (!json_object_get(v, "filter")) {
        return proc_def_fail(err, errlen, "%s: required (which events are of this side)", sub);
    }
    if (proc_def_compile(json_object_get(v, "filter"), sub, &d->ijoin.filter[side], err, errlen)) {
        return CM_E_INVAL;
    }
    snprintf(sub, sizeof(sub), "%s.key", field);
    if (json_object_get(v, "key") &&
        proc_def_compile(json_object_get(v, "key"), sub, &d->ijoin.key[side], err, errlen)) {
        return CM_E_INVAL;
    }
    if (!d->ijoin.key[side] && !d->key) {
        return proc_def_fail(err, errlen, "%s: required when the pipeline has no key", sub);
    }
    const json_t *as = json_object_get(v, "as");
    if (as &&
        (!json_is_string(as) || !cm_name_valid(json_string_value(as), 64) ||
         strcmp(json_string_value(as), "pipeline") == 0 ||
         strcmp(json_string_value(as), "version") == 0 ||
         strcmp(json_string_value(as), "key") == 0 || strcmp(json_string_value(as), "ids") == 0)) {
        return proc_def_fail(
            err, errlen,
            "%s.as: must name a result field other than pipeline, version, key and ids", field);
    }
    d->ijoin.as[side] = cm_xstrdup(as ? json_string_value(as) : name);
    return 0;
}

int proc_def_parse_interval_join(struct proc_def *d, const json_t *j, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        "left", "right", "lower", "upper", "type", "max_events_per_key", NULL};
    if (!json_is_object(j)) {
        return proc_def_fail(err, errlen, "interval_join: must be an object");
    }
    if (proc_def_only(j, "interval_join", allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    d->window = PROC_WIN_JOIN;
    if (parse_join_side(d, j, PROC_LEFT, err, errlen) ||
        parse_join_side(d, j, PROC_RIGHT, err, errlen) ||
        bound(j, "lower", &d->ijoin.lower, err, errlen) ||
        bound(j, "upper", &d->ijoin.upper, err, errlen)) {
        return CM_E_INVAL;
    }
    if (strcmp(d->ijoin.as[PROC_LEFT], d->ijoin.as[PROC_RIGHT]) == 0) {
        return proc_def_fail(err, errlen,
                             "interval_join.right.as: must differ from interval_join.left.as");
    }
    if (d->ijoin.lower > d->ijoin.upper) {
        return proc_def_fail(err, errlen,
                             "interval_join.lower: must not exceed interval_join.upper");
    }
    const json_t *type = json_object_get(j, "type");
    const char *t = json_string_value(type);
    if (type && (!t || (strcmp(t, "inner") != 0 && strcmp(t, "left") != 0))) {
        return proc_def_fail(err, errlen, "interval_join.type: must be \"inner\" or \"left\"");
    }
    d->ijoin.outer = t && strcmp(t, "left") == 0;
    const json_t *most = json_object_get(j, "max_events_per_key");
    d->ijoin.max_events = PROC_JOIN_MAX_EVENTS_DEFAULT;
    if (most && (!json_is_integer(most) || json_integer_value(most) < 0 ||
                 json_integer_value(most) > PROC_MAX_KEYS_LIMIT)) {
        return proc_def_fail(err, errlen,
                             "interval_join.max_events_per_key: must be an integer from 0 (no "
                             "bound) to %lld",
                             PROC_MAX_KEYS_LIMIT);
    }
    d->ijoin.max_events = most ? (long long)json_integer_value(most) : d->ijoin.max_events;
    return 0;
}

int proc_def_join_side(const struct proc_def *d, const json_t *ev)
{
    for (int side = PROC_LEFT; side <= PROC_RIGHT; side++) {
        enum cm_expr_outcome o = cm_expr_eval_bool(d->ijoin.filter[side], ev, NULL, 0);
        if (o == CM_EXPR_ERROR) {
            return -2;
        }
        if (o == CM_EXPR_TRUE) {
            return side;
        }
    }
    return -1;
}
