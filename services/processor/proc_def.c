/* proc_def: parsing and validating pipeline definitions (see proc_def.h). Unknown members are
 * refused (a typo must not pass silently); every error names its field as a dotted path
 * ("window.size", "steps[1].map.amount", "aggregates.p99"). */
#include "proc_def.h"
#include "proc_def_int.h"

#include "cm/config.h"
#include "cm/err.h"
#include "cm/expr.h"
#include "cm/kafka.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/uuid.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_FILE_MAX (1024 * 1024)

int proc_def_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return CM_E_INVAL;
}

int proc_def_is_repartition_topic(const char *topic)
{
    size_t n = strlen(topic);
    return n >= 12 && strcmp(topic + n - 12, ".repartition") == 0;
}

int proc_def_only(const json_t *obj, const char *path, const char *const *allowed, char *err,
                  size_t errlen)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) {
            ok |= strcmp(k, allowed[i]) == 0;
        }
        if (!ok) {
            char buf[CM_SHOWN_LEN];
            return proc_def_fail(err, errlen, "%s%s%s: unknown member", path, *path ? "." : "",
                                 cm_shown(k, buf));
        }
    }
    return 0;
}

int proc_def_compile(const json_t *v, const char *field, struct cm_expr **out, char *err,
                     size_t errlen)
{
    if (!json_is_string(v)) {
        return proc_def_fail(err, errlen, "%s: must be an expression (a string)", field);
    }
    struct cm_expr_error e;
    *out = cm_expr_compile(json_string_value(v), &e);
    if (!*out) {
        char pos[200];
        return proc_def_fail(err, errlen, "%s: %s", field,
                             cm_expr_error_format(&e, pos, sizeof(pos)));
    }
    return 0;
}

int proc_def_duration(const json_t *obj, const char *name, const char *field, int64_t def,
                      int64_t min, int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v) || cm_parse_duration_ms(json_string_value(v), out) != 0) {
        return proc_def_fail(
            err, errlen, "%s: must be a duration such as \"500ms\", \"5s\", \"1m\", \"2h\", \"1d\"",
            field);
    }
    if (*out < min || *out > 366LL * 86400000) {
        return proc_def_fail(err, errlen, "%s: must be between %lldms and 366d", field,
                             (long long)min);
    }
    return 0;
}

int proc_def_signed_duration(const json_t *obj, const char *name, const char *field, int64_t *out,
                             char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, name);
    const char *s = json_string_value(v);
    int neg = s && s[0] == '-';
    *out = 0;
    if (!v) {
        return 0;
    }
    if (!s || cm_parse_duration_ms(s + neg, out) != 0 || *out > 366LL * 86400000) {
        return proc_def_fail(err, errlen,
                             "%s: must be a duration up to 366d, negative with a leading "
                             "'-', such as \"-5m\" or \"10m\"",
                             field);
    }
    *out = neg ? -*out : *out;
    return 0;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int parse_window(struct proc_def *d, const json_t *w, char *err, size_t errlen)
{
    static const char *const allowed[] = {"type",   "size",    "slide", "gap",
                                          "offset", "retract", NULL};
    if (!json_is_object(w)) {
        return proc_def_fail(err, errlen, "window: must be an object");
    }
    if (proc_def_only(w, "window", allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    const char *type = json_string_value(json_object_get(w, "type"));
    if (!type) {
        return proc_def_fail(err, errlen,
                             "window.type: must be \"tumbling\", \"hopping\" or \"session\"");
    }
    if (strcmp(type, "tumbling") == 0 || strcmp(type, "hopping") == 0) {
        d->window = type[0] == 't' ? PROC_WIN_TUMBLING : PROC_WIN_HOPPING;
        if (!json_object_get(w, "size")) {
            return proc_def_fail(err, errlen, "window.size: required for a %s window", type);
        }
        if (proc_def_duration(w, "size", "window.size", 0, 1, &d->size_ms, err, errlen)) {
            return CM_E_INVAL;
        }
        d->slide_ms = d->size_ms;
        if (d->window == PROC_WIN_HOPPING) {
            if (!json_object_get(w, "slide")) {
                return proc_def_fail(err, errlen, "window.slide: required for a hopping window");
            }
            if (proc_def_duration(w, "slide", "window.slide", 0, 1, &d->slide_ms, err, errlen)) {
                return CM_E_INVAL;
            }
            if (d->slide_ms > d->size_ms) {
                return proc_def_fail(err, errlen, "window.slide: must not exceed window.size");
            }
        } else if (json_object_get(w, "slide")) {
            return proc_def_fail(err, errlen, "window.slide: only for hopping windows");
        }
        if (json_object_get(w, "gap") || json_object_get(w, "retract")) {
            return proc_def_fail(err, errlen, "window.%s: only for session windows",
                                 json_object_get(w, "gap") ? "gap" : "retract");
        }
        d->pane_ms = gcd64(d->size_ms, d->slide_ms);
        if (d->size_ms / d->pane_ms > 100000) {
            return proc_def_fail(err, errlen,
                                 "window.slide: size / gcd(size, slide) must be at most 100000");
        }
        /* As Flink's: windows start at offset + k * slide, |offset| < slide ("-8h" with a size of
         * "1d": days from midnight at UTC+8); kept as the equal offset in [0, slide). */
        if (proc_def_signed_duration(w, "offset", "window.offset", &d->offset_ms, err, errlen)) {
            return CM_E_INVAL;
        }
        if (d->offset_ms <= -d->slide_ms || d->offset_ms >= d->slide_ms) {
            return proc_def_fail(err, errlen, "window.offset: must be shorter than window.%s",
                                 d->window == PROC_WIN_HOPPING ? "slide" : "size");
        }
        d->offset_ms = d->offset_ms < 0 ? d->offset_ms + d->slide_ms : d->offset_ms;
        return 0;
    }
    if (strcmp(type, "session") == 0) {
        d->window = PROC_WIN_SESSION;
        if (!json_object_get(w, "gap")) {
            return proc_def_fail(err, errlen, "window.gap: required for a session window");
        }
        static const char *const not_session[] = {"size", "slide", "offset"};
        for (size_t i = 0; i < sizeof(not_session) / sizeof(*not_session); i++) {
            if (json_object_get(w, not_session[i])) {
                return proc_def_fail(err, errlen, "window.%s: not for session windows",
                                     not_session[i]);
            }
        }
        /* As Kafka Streams' tombstone for each session a merge removes */
        const json_t *retract = json_object_get(w, "retract");
        if (retract && !json_is_boolean(retract)) {
            return proc_def_fail(err, errlen, "window.retract: must be true or false");
        }
        d->retract = json_is_true(retract);
        return proc_def_duration(w, "gap", "window.gap", 0, 1, &d->gap_ms, err, errlen);
    }
    return proc_def_fail(
        err, errlen, "window.type: must be \"tumbling\", \"hopping\" or \"session\", not \"%s\"",
        type);
}

/* The last comma of an aggregate's arguments outside (), [], {} and string literals; NULL when
 * none. */
static char *last_top_comma(char *args)
{
    int depth = 0;
    char *comma = NULL, quote = 0;
    for (char *p = args; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1]) {
                p++;
            } else if (*p == quote) {
                quote = 0;
            }
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else {
            depth += (*p == '(' || *p == '[' || *p == '{') - (*p == ')' || *p == ']' || *p == '}');
            if (*p == ',' && depth == 0) {
                comma = p;
            }
        }
    }
    return comma;
}

/* "fn(args)" → kind and argument text; percentile's quantile, topk's k and collect's limit after
 * the last top-level comma. */
/* The fields a window's result holds besides its aggregates, and `open`, which the windows
 * query adds to each (proc_query.c): an aggregate of one of these names would be overwritten. */
static const char *const RESULT_FIELDS[] = {"pipeline",   "version",  "key", "window_start",
                                            "window_end", "revision", "open"};
#define RESULT_FIELDS_SHOWN "pipeline, version, key, window_start, window_end, revision and open"

static int result_field(const char *name)
{
    for (size_t i = 0; i < sizeof(RESULT_FIELDS) / sizeof(RESULT_FIELDS[0]); i++) {
        if (strcmp(name, RESULT_FIELDS[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* `having` reads the result: a name that is neither an aggregate nor a field of every result
 * (a typo) would hold back every window without a word, so it is refused here. */
static int having_fields_known(const struct proc_def *d, char *err, size_t errlen)
{
    const char *names[32];
    size_t n = cm_expr_root_fields(d->having, names, 32);
    for (size_t i = 0; i < n && i < 32; i++) {
        int known = result_field(names[i]) && strcmp(names[i], "open") != 0;
        for (size_t a = 0; !known && a < d->naggs; a++) {
            known = strcmp(names[i], d->aggs[a].name) == 0;
        }
        if (!known) {
            char buf[CM_SHOWN_LEN];
            return proc_def_fail(err, errlen,
                                 "having: '%s' is not a field of the result (its aggregates' "
                                 "names, pipeline, version, key, window_start, window_end or "
                                 "revision)",
                                 cm_shown(names[i], buf));
        }
    }
    return 0;
}

static int parse_agg(struct proc_agg_def *a, const char *name, const json_t *v, char *err,
                     size_t errlen)
{
    static const struct {
        const char *fn;
        enum proc_agg_kind kind;
    } fns[] = {{"count", PROC_AGG_COUNT},
               {"count_if", PROC_AGG_COUNT_IF},
               {"sum", PROC_AGG_SUM},
               {"avg", PROC_AGG_AVG},
               {"min", PROC_AGG_MIN},
               {"max", PROC_AGG_MAX},
               {"distinct", PROC_AGG_DISTINCT},
               {"percentile", PROC_AGG_PERCENTILE},
               {"variance", PROC_AGG_VAR_SAMP},
               {"var_samp", PROC_AGG_VAR_SAMP},
               {"var_pop", PROC_AGG_VAR_POP},
               {"stddev", PROC_AGG_STDDEV_SAMP},
               {"stddev_samp", PROC_AGG_STDDEV_SAMP},
               {"stddev_pop", PROC_AGG_STDDEV_POP},
               {"first", PROC_AGG_FIRST},
               {"first_value", PROC_AGG_FIRST},
               {"last", PROC_AGG_LAST},
               {"last_value", PROC_AGG_LAST},
               {"topk", PROC_AGG_TOPK},
               {"topk_distinct", PROC_AGG_TOPK_DISTINCT},
               {"topkdistinct", PROC_AGG_TOPK_DISTINCT},
               {"collect_list", PROC_AGG_COLLECT_LIST},
               {"collect_set", PROC_AGG_COLLECT_SET}};
    a->name = cm_xstrdup(name);
    const char *s = json_string_value(v);
    if (!s) {
        return proc_def_fail(err, errlen,
                             "aggregates.%s: must be a string such as \"sum(data.amount)\"", name);
    }
    while (isspace((unsigned char)*s)) {
        s++;
    }
    const char *open = strchr(s, '(');
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    if (!open || len == 0 || s[len - 1] != ')') {
        return proc_def_fail(
            err, errlen,
            "aggregates.%s: must be count(), count_if(cond), sum(x), avg(x), min(x), max(x), "
            "distinct(x), "
            "percentile(x, q), stddev(x), stddev_pop(x), variance(x), var_pop(x), first(x), "
            "last(x), topk(x, k), topk_distinct(x, k), collect_list(x) or collect_set(x)",
            name);
    }
    size_t fnlen = (size_t)(open - s);
    while (fnlen > 0 && isspace((unsigned char)s[fnlen - 1])) {
        fnlen--;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        if (strlen(fns[i].fn) == fnlen && strncmp(s, fns[i].fn, fnlen) == 0) {
            a->kind = fns[i].kind;
            found = 1;
        }
    }
    if (!found) {
        return proc_def_fail(err, errlen, "aggregates.%s: unknown function '%.*s%s'", name,
                             (int)(fnlen > 64 ? 64 : fnlen), s, fnlen > 64 ? "..." : "");
    }
    char *args = cm_xstrndup(open + 1, (size_t)(s + len - 1 - (open + 1)));
    int rc = 0;
    char field[160];
    snprintf(field, sizeof(field), "aggregates.%s", name);
    if (a->kind == PROC_AGG_COUNT) {
        for (char *p = args; *p; p++) {
            if (!isspace((unsigned char)*p)) {
                rc = proc_def_fail(err, errlen, "%s: count() takes no argument", field);
                break;
            }
        }
    } else {
        int topk = PROC_AGG_IS_TOPK(a->kind), collect = PROC_AGG_IS_COLLECT(a->kind);
        if (a->kind == PROC_AGG_PERCENTILE || topk || collect) {
            /* the number after the last comma outside brackets and strings (optional for
             * collect_list and collect_set: without one, the whole is the expression) */
            char *comma = last_top_comma(args);
            char *end = NULL;
            double num = 0;
            int ok = 0;
            if (comma) {
                num = strtod(comma + 1, &end);
                ok = end != comma + 1; /* a number was read */
                while (isspace((unsigned char)*end)) {
                    end++;
                }
                ok = ok && !*end;
            }
            if (collect && !ok) {
                comma = NULL; /* no limit given: the default */
                ok = 1;
                num = PROC_COLLECT_MAX;
            }
            if (comma) {
                *comma = '\0';
            }
            if (a->kind == PROC_AGG_PERCENTILE && !(ok && num >= 0 && num <= 1)) {
                rc = proc_def_fail(
                    err, errlen, "%s: percentile(x, q) needs a quantile q between 0 and 1", field);
            } else if (topk && !(ok && num >= 1 && num <= PROC_TOPK_MAX && num == floor(num))) {
                rc =
                    proc_def_fail(err, errlen, "%s: %.*s(x, k) needs a whole number k from 1 to %d",
                                  field, (int)fnlen, s, PROC_TOPK_MAX);
            } else if (collect && !(num >= 1 && num <= PROC_COLLECT_MAX && num == floor(num))) {
                rc = proc_def_fail(err, errlen,
                                   "%s: %.*s(x, n) takes a whole number n from 1 to %d (default)",
                                   field, (int)fnlen, s, PROC_COLLECT_MAX);
            }
            a->q = a->kind == PROC_AGG_PERCENTILE ? num : 0;
            a->k = (topk || collect) && rc == 0 ? (int)num : 0;
        }
        const char *p = args;
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (rc == 0 && !*p) {
            rc = proc_def_fail(err, errlen, "%s: %.*s(x%s) needs the expression x", field,
                               (int)fnlen, s,
                               a->kind == PROC_AGG_PERCENTILE ? ", q"
                               : topk                         ? ", k"
                                                              : "");
        }
        if (rc == 0) {
            json_t *text = json_string(args);
            rc = proc_def_compile(text, field, &a->arg, err, errlen);
            json_decref(text);
        }
    }
    free(args);
    return rc;
}

/* "max_keys" (or "max_keys_per_tenant", name) of doc into *out: how many keys the state of a
 * window or an interval join may hold per input partition (of one tenant), dflt when absent (0:
 * no bound). Only with one: a stateless pipeline holds no keys. */
static int parse_max_keys(struct proc_def *d, const json_t *doc, const char *name, long long dflt,
                          long long *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(doc, name);
    *out = d->window == PROC_WIN_NONE ? 0 : dflt;
    if (!v) {
        return 0;
    }
    if (d->window == PROC_WIN_NONE) {
        return proc_def_fail(err, errlen,
                             "%s: only with a window or an interval join (a pipeline without "
                             "one keeps no state)",
                             name);
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > PROC_MAX_KEYS_LIMIT) {
        return proc_def_fail(err, errlen, "%s: must be an integer from 0 (no bound) to %lld", name,
                             PROC_MAX_KEYS_LIMIT);
    }
    *out = (long long)json_integer_value(v);
    return 0;
}

/* "deduplicate": true (by the event's source and id, which CloudEvents makes unique), false, or
 * {"by": "<expression>", "max_ids_per_key": N} (as Flink SQL's deduplication keeping the first
 * row, for as long as the first one's windows are live). */
static int parse_dedup(struct proc_def *d, const json_t *v, char *err, size_t errlen)
{
    static const char *const allowed[] = {"by", "max_ids_per_key", NULL};
    if (json_is_false(v)) {
        return 0;
    }
    if (!json_is_true(v) && !json_is_object(v)) {
        return proc_def_fail(err, errlen,
                             "deduplicate: must be true, false or {\"by\": \"<expression>\"}");
    }
    if (d->window == PROC_WIN_NONE) {
        return proc_def_fail(err, errlen,
                             "deduplicate: only with a window (a pipeline without one forwards "
                             "each event with its id, which sinks deduplicate by)");
    }
    if (d->window == PROC_WIN_JOIN) {
        return proc_def_fail(err, errlen,
                             "deduplicate: not with an interval join (a pair's id is made of both "
                             "events' ids, so a repeated pair has the same id, which sinks "
                             "deduplicate by)");
    }
    if (json_is_object(v) && proc_def_only(v, "deduplicate", allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    d->dedup_max_ids = PROC_DEDUP_MAX_IDS_DEFAULT;
    const json_t *max = json_is_object(v) ? json_object_get(v, "max_ids_per_key") : NULL;
    if (max && (!json_is_integer(max) || json_integer_value(max) < 1 ||
                json_integer_value(max) > PROC_MAX_KEYS_LIMIT)) {
        return proc_def_fail(err, errlen,
                             "deduplicate.max_ids_per_key: must be an integer from 1 to %lld",
                             PROC_MAX_KEYS_LIMIT);
    }
    d->dedup_max_ids = max ? (long long)json_integer_value(max) : d->dedup_max_ids;
    const json_t *by = json_is_object(v) ? json_object_get(v, "by") : NULL;
    json_t *byid = by ? NULL : json_string("[source, id]");
    d->dedup_default = !by;
    int rc = proc_def_compile(by ? by : byid, "deduplicate.by", &d->dedup, err, errlen);
    json_decref(byid);
    return rc;
}

static int parse_body(struct proc_def *d, const json_t *doc, const char *default_topics,
                      const char *default_sink, char *err, size_t errlen)
{
    static const char *const allowed[] = {"name",
                                          "description",
                                          "source",
                                          "steps",
                                          "key",
                                          "window",
                                          "out_of_orderness",
                                          "allowed_lateness",
                                          "idle_timeout",
                                          "aggregates",
                                          "having",
                                          "emit",
                                          "sink",
                                          "version",
                                          "repartition",
                                          "batch",
                                          "interval_join",
                                          "early",
                                          "dead_letter",
                                          "max_time_ahead",
                                          "max_keys",
                                          "max_keys_per_tenant",
                                          "deduplicate",
                                          NULL};
    if (!json_is_object(doc)) {
        return proc_def_fail(err, errlen, "a pipeline is a JSON object");
    }
    if (proc_def_only(doc, "", allowed, err, errlen)) {
        return CM_E_INVAL;
    }
    const char *name = json_string_value(json_object_get(doc, "name"));
    if (!name || !cm_name_valid(name, PROC_NAME_MAX)) {
        return proc_def_fail(err, errlen, "name: must be 1 to %d letters, digits, '.', '_' or '-'",
                             PROC_NAME_MAX);
    }
    d->name = cm_xstrdup(name);
    const json_t *version = json_object_get(doc, "version");
    if (version && (!json_is_integer(version) || json_integer_value(version) < 1)) {
        return proc_def_fail(err, errlen, "version: must be a positive integer");
    }
    d->version = version ? (long long)json_integer_value(version) : 1;
    if (proc_def_parse_source(d, json_object_get(doc, "source"), default_topics, err, errlen)) {
        return CM_E_INVAL;
    }
    const json_t *steps = json_object_get(doc, "steps");
    if (steps && proc_def_parse_steps(d, steps, err, errlen)) {
        return CM_E_INVAL;
    }
    const json_t *key = json_object_get(doc, "key");
    if (key && proc_def_compile(key, "key", &d->key, err, errlen)) {
        return CM_E_INVAL;
    }
    const json_t *w = json_object_get(doc, "window");
    if (w && parse_window(d, w, err, errlen)) {
        return CM_E_INVAL;
    }
    const json_t *ij = json_object_get(doc, "interval_join");
    if (ij && w) {
        return proc_def_fail(err, errlen,
                             "interval_join: not with a window (a join pairs events instead)");
    }
    if (ij && proc_def_parse_interval_join(d, ij, err, errlen)) {
        return CM_E_INVAL;
    }
    if (proc_def_duration(doc, "out_of_orderness", "out_of_orderness", 0, 0, &d->ooo_ms, err,
                          errlen) ||
        proc_def_duration(doc, "allowed_lateness", "allowed_lateness", 0, 0, &d->lateness_ms, err,
                          errlen) ||
        proc_def_duration(doc, "idle_timeout", "idle_timeout", 30000, 1, &d->idle_ms, err,
                          errlen) ||
        proc_def_duration(doc, "max_time_ahead", "max_time_ahead", PROC_MAX_AHEAD_DEFAULT_MS, 0,
                          &d->max_ahead_ms, err, errlen)) {
        return CM_E_INVAL;
    }
    if (parse_max_keys(d, doc, "max_keys", PROC_MAX_KEYS_DEFAULT, &d->max_keys, err, errlen) ||
        parse_max_keys(d, doc, "max_keys_per_tenant", 0, &d->max_keys_per_tenant, err, errlen)) {
        return CM_E_INVAL;
    }
    if (d->time && d->window == PROC_WIN_NONE) {
        return proc_def_fail(err, errlen,
                             "source.time: only with a window or an interval_join (a transform "
                             "keeps each event's time)");
    }
    const json_t *aggs = json_object_get(doc, "aggregates");
    if (d->window == PROC_WIN_JOIN) {
        if (aggs || json_object_get(doc, "having") || json_object_get(doc, "emit")) {
            return proc_def_fail(err, errlen, "%s: not with an interval join",
                                 aggs ? "aggregates"
                                      : (json_object_get(doc, "having") ? "having" : "emit"));
        }
    } else if (d->window != PROC_WIN_NONE) {
        if (!json_is_object(aggs) || json_object_size(aggs) == 0) {
            return proc_def_fail(err, errlen,
                                 "aggregates: a windowed pipeline needs an object of "
                                 "name: function, e.g. {\"n\": \"count()\"}");
        }
        d->aggs = cm_xcalloc(json_object_size(aggs), sizeof(*d->aggs));
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)aggs, k, v)
        {
            if (!cm_name_valid(k, 64) || result_field(k)) {
                char buf[CM_SHOWN_LEN];
                return proc_def_fail(err, errlen,
                                     "aggregates.%s: not a usable result field name (a name of "
                                     "letters, digits, '_', '.' or '-', other than %s)",
                                     cm_shown(k, buf), RESULT_FIELDS_SHOWN);
            }
            if (parse_agg(&d->aggs[d->naggs++], k, v, err, errlen)) {
                return CM_E_INVAL;
            }
        }
    } else if (aggs || json_object_get(doc, "having")) {
        return proc_def_fail(err, errlen, "%s: only with a window", aggs ? "aggregates" : "having");
    }
    const json_t *having = json_object_get(doc, "having");
    if (having && (proc_def_compile(having, "having", &d->having, err, errlen) ||
                   having_fields_known(d, err, errlen))) {
        return CM_E_INVAL;
    }
    const json_t *emit = json_object_get(doc, "emit");
    if (emit) {
        const char *e = json_string_value(emit);
        if (!e || (strcmp(e, "final") != 0 && strcmp(e, "update") != 0)) {
            return proc_def_fail(err, errlen, "emit: must be \"final\" or \"update\"");
        }
        d->emit_update = e[0] == 'u';
    }
    if (json_object_get(doc, "early")) {
        /* As Flink's ContinuousEventTimeTrigger: early results at a grid of event time */
        if (d->window == PROC_WIN_NONE || d->window == PROC_WIN_JOIN) {
            return proc_def_fail(err, errlen, "early: only with a window");
        }
        if (d->emit_update) {
            return proc_def_fail(err, errlen,
                                 "early: only with \"emit\": \"final\" (with \"update\" every "
                                 "change goes out already)");
        }
        if (proc_def_duration(doc, "early", "early", 0, 1, &d->early_ms, err, errlen)) {
            return CM_E_INVAL;
        }
        if (d->window != PROC_WIN_SESSION && d->early_ms >= d->size_ms) {
            return proc_def_fail(err, errlen, "early: must be shorter than window.size");
        }
    }
    const json_t *dedup = json_object_get(doc, "deduplicate");
    if (dedup && parse_dedup(d, dedup, err, errlen)) {
        return CM_E_INVAL;
    }
    const json_t *rep = json_object_get(doc, "repartition");
    if (rep && !json_is_boolean(rep)) {
        return proc_def_fail(err, errlen, "repartition: must be true or false");
    }
    d->repartition = d->window != PROC_WIN_NONE && (!rep || json_is_true(rep));
    d->repartition_topic = cm_xasprintf("%s.repartition", d->name);
    return proc_def_parse_outputs(d, doc, default_sink, err, errlen);
}

struct proc_def *proc_def_parse(const json_t *doc, const char *default_topics,
                                const char *default_sink, char *err, size_t errlen)
{
    struct proc_def *d = cm_xcalloc(1, sizeof(*d));
    d->doc = json_deep_copy(doc);
    if (parse_body(d, doc, default_topics, default_sink, err, errlen) != 0) {
        proc_def_free(d);
        return NULL;
    }
    /* the digest of what it computes: the document without its version, members sorted */
    json_t *body = json_deep_copy(doc);
    json_object_del(body, "version");
    char *text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
    const char *parts[] = {"pipeline-definition", text ? text : ""};
    cm_uuid_from_parts(parts, 2, d->digest);
    free(text);
    json_decref(body);
    return d;
}

struct proc_def *proc_def_load_file(const char *path, const char *default_topics,
                                    const char *default_sink, char *err, size_t errlen)
{
    size_t len;
    char *text = cm_file_read(path, DEF_FILE_MAX, &len, err, errlen);
    if (!text) {
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!doc) {
        snprintf(err, errlen, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct proc_def *d = proc_def_parse(doc, default_topics, default_sink, err, errlen);
    json_decref(doc);
    return d;
}

void proc_def_free(struct proc_def *d)
{
    if (!d) {
        return;
    }
    free(d->name);
    json_decref(d->doc);
    for (size_t i = 0; i < d->ntopics; i++) {
        free(d->topics[i]);
    }
    free(d->topics);
    cm_expr_free(d->filter);
    cm_expr_free(d->time);
    for (size_t i = 0; i < d->nsteps; i++) {
        cm_expr_free(d->steps[i].expr);
        for (size_t k = 0; k < d->steps[i].n; k++) {
            free(d->steps[i].names[k]);
            cm_expr_free(d->steps[i].exprs[k]);
        }
        free(d->steps[i].names);
        free(d->steps[i].exprs);
        free(d->steps[i].table);
        free(d->steps[i].as);
    }
    free(d->steps);
    for (size_t i = 0; i < d->ntables; i++) {
        free(d->tables[i]);
    }
    free(d->tables);
    cm_expr_free(d->key);
    for (size_t i = 0; i < d->naggs; i++) {
        free(d->aggs[i].name);
        cm_expr_free(d->aggs[i].arg);
    }
    free(d->aggs);
    cm_expr_free(d->having);
    cm_expr_free(d->dedup);
    for (int side = 0; side < 2; side++) {
        cm_expr_free(d->ijoin.filter[side]);
        cm_expr_free(d->ijoin.key[side]);
        free(d->ijoin.as[side]);
    }
    free(d->sink_topic);
    free(d->dead_letter_topic);
    free(d->repartition_topic);
    free(d);
}
