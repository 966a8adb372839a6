/* jsonschema: JSON Schema validation (see jsonschema.h); schemas are compiled in
 * jsonschema_compile.c. Validate: walk schema and instance together; errors are built only when
 * a keyword fails, and probes (anyOf, oneOf, not, if, contains) stop at the first failure without
 * building messages. A walk that gets long remembers each (subschema, value) pair's outcome, so
 * schemas whose definitions name each other several times ($ref under anyOf, allOf...) cost time
 * polynomial, not exponential, in their size; and a walk has a budget of steps. */
#include "jsonschema_internal.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/text.h"
#include "cm/timeutil.h"
#include "cm/verrors.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation ---- */

/* Steps of a walk before it remembers outcomes (most values never get there), and at most. */
#define LAZY_STEPS 1024
#define MAX_STEPS 1000000

enum { PAIR_VALID = 1, PAIR_INVALID, PAIR_REPORTED };

/* A (subschema, value) pair's outcome in one walk: valid or not (probes), or reported (the walk
 * that records errors). Open addressing; the pointers are the walk's own, alive throughout. */
struct pair {
    const void *sch, *inst;
    unsigned char reporting, state;
};

struct pairs {
    struct pair *slots;
    size_t cap, used;
};

static size_t pair_hash(const void *sch, const void *inst, int reporting, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)sch * 0x9E3779B97F4A7C15u;
    h ^= (uint64_t)(uintptr_t)inst * 0xC2B2AE3D27D4EB4Fu + (uint64_t)reporting;
    h ^= h >> 29;
    return (size_t)h & (cap - 1);
}

static struct pair *pair_slot(struct pairs *m, const void *sch, const void *inst, int reporting)
{
    if (m->cap == 0) {
        m->cap = 256;
        m->slots = cm_xcalloc(m->cap, sizeof(*m->slots));
    }
    for (size_t i = pair_hash(sch, inst, reporting, m->cap);; i = (i + 1) & (m->cap - 1)) {
        struct pair *p = &m->slots[i];
        if (!p->state || (p->sch == sch && p->inst == inst && p->reporting == reporting)) {
            return p;
        }
    }
}

static void pair_put(struct pairs *m, const void *sch, const void *inst, int reporting, int state)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct pairs grown = {cm_xcalloc(cap, sizeof(struct pair)), cap, 0};
        for (size_t i = 0; i < m->cap; i++) {
            if (m->slots[i].state) {
                *pair_slot(&grown, m->slots[i].sch, m->slots[i].inst, m->slots[i].reporting) =
                    m->slots[i];
                grown.used++;
            }
        }
        free(m->slots);
        *m = grown;
    }
    struct pair *p = pair_slot(m, sch, inst, reporting);
    m->used += !p->state;
    *p = (struct pair){sch, inst, (unsigned char)reporting, (unsigned char)state};
}

/* What a walk shares with its probes. A walk that goes too deep or out of steps stops as a
 * whole, and the value is invalid: a probe cut short is not an answer (under `not` it would
 * turn into a pass). */
struct walk {
    size_t steps, limit; /* limit: MAX_STEPS, or less when a shared budget has less left */
    enum { GOING, TOO_DEEP, TOO_LONG, UNDECIDED } stopped;
    char undecided[300];            /* the pattern a string could not be checked against, and why */
    char where[CM_VERRORS_PTR_MAX]; /* that string's pointer when known (not in a probe) */
    size_t wherelen;
    struct pairs pairs;
};

struct vctx {
    const struct cm_jsonschema *s;
    struct cm_verrors e;
    struct walk *w;
    int ephemeral; /* the value is built for the probe (a property name): not remembered */
};

static void validate(struct vctx *c, const json_t *schema, const json_t *inst, int depth);

/* Runs a subschema as a probe: 1 when inst is valid, without recording errors. */
static int probe(struct vctx *c, const json_t *schema, const json_t *inst, int depth)
{
    struct vctx p = {c->s, {0}, c->w, c->ephemeral};
    cm_verrors_init(&p.e, NULL, 0, NULL);
    validate(&p, schema, inst, depth + 1);
    return !p.e.failed;
}

static int type_matches(const char *t, const json_t *inst)
{
    switch (json_typeof(inst)) {
    case JSON_OBJECT:
        return strcmp(t, "object") == 0;
    case JSON_ARRAY:
        return strcmp(t, "array") == 0;
    case JSON_STRING:
        return strcmp(t, "string") == 0;
    case JSON_INTEGER:
        return strcmp(t, "integer") == 0 || strcmp(t, "number") == 0;
    case JSON_REAL:
        return strcmp(t, "number") == 0 || (strcmp(t, "integer") == 0 &&
                                            json_real_value(inst) == floor(json_real_value(inst)) &&
                                            isfinite(json_real_value(inst)));
    case JSON_TRUE:
    case JSON_FALSE:
        return strcmp(t, "boolean") == 0;
    case JSON_NULL:
        return strcmp(t, "null") == 0;
    }
    return 0;
}

static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return count;
}

/* Backtracks (PCRE2 JIT's match limit) a search of `len` bytes may take for the cost of its scan:
 * typical patterns decide within a few whatever the length (1 to 13 measured), "^.*(a|b).*(c|d).*$"
 * took 903 on 601 characters. */
#define REGEX_FREE_BACKTRACKS(len) (64 + 4 * (unsigned long)(len))
/* A walk's step costs about as much as 50 backtracks (150 and 3 ns). */
#define REGEX_BACKTRACKS_PER_STEP 50
/* Each run of a search past its free backtracks is given this many times the backtracks of the
 * run before. */
#define REGEX_ESCALATION 4
/* ...and as 4 values compared or hashed (jsonschema_values.c's nodes). */
#define NODES_PER_STEP 4

/* 1 when pattern matches somewhere in subject, 0 when not, -1 when the walk stops (in
 * c->w->stopped). A search costs the walk a step and its scan, and when it takes more than its
 * free backtracks, it runs again with REGEX_ESCALATION times as many, and again, each run paid
 * from the walk's steps at its limit (PCRE2 tells no count of the backtracks a search took), until
 * it decides, reaches CM_REGEX_MATCH_LIMIT or needs more than the walk's steps left: those left
 * then pay for a last run, and the walk stops if that one does not decide either. So a search is
 * charged less than 5.4 times the backtracks it needs (the last run's limit under 4 times those,
 * the runs before it a third of that), and a pattern that backtracks at length costs an event at
 * most the walk's budget, not that per string. A match still undecided stops the walk, and the
 * value is invalid: under `not` or `if` an undecided probe would turn into an answer. */
static int pattern_search(struct vctx *c, const char *pattern, const char *subject, size_t len,
                          const char *what)
{
    struct walk *w = c->w;
    const json_t *idx = json_object_get(c->s->patterns, pattern);
    if (w->stopped) {
        c->e.failed = 1;
        return -1;
    }
    if (!idx) {
        return 0;
    }
    const struct cm_regex *re = c->s->codes[json_integer_value(idx)];
    char why[120];
    unsigned long limit = REGEX_FREE_BACKTRACKS(len);
    limit = limit < CM_REGEX_MATCH_LIMIT ? limit : CM_REGEX_MATCH_LIMIT;
    w->steps += 1 + len / 16;
    int r = cm_regex_search_limit(re, subject, len, limit, why, sizeof(why));
    while (r == CM_REGEX_LIMIT_HIT && limit < CM_REGEX_MATCH_LIMIT) {
        size_t left = w->steps < w->limit ? w->limit - w->steps : 0;
        unsigned long next = limit * REGEX_ESCALATION;
        next = next < CM_REGEX_MATCH_LIMIT ? next : CM_REGEX_MATCH_LIMIT;
        size_t cost = (next + REGEX_BACKTRACKS_PER_STEP - 1) / REGEX_BACKTRACKS_PER_STEP;
        if (cost > left) { /* what the walk has left pays for a last run */
            cost = left;
            next = (unsigned long)left * REGEX_BACKTRACKS_PER_STEP;
        }
        w->steps += cost;
        if (next > limit) {
            r = cm_regex_search_limit(re, subject, len, next, why, sizeof(why));
        }
        if (cost == left && r == CM_REGEX_LIMIT_HIT && next < CM_REGEX_MATCH_LIMIT) {
            w->stopped = TOO_LONG; /* the walk's steps ran out first */
            break;
        }
        limit = next;
    }
    if (r < 0 && !w->stopped) {
        w->stopped = UNDECIDED;
        snprintf(w->undecided, sizeof(w->undecided),
                 "%s could not be checked against pattern '%.80s' (%s)", what, pattern, why);
        if (c->e.errors) {
            memcpy(w->where, c->e.ptr, c->e.plen + 1);
            w->wherelen = c->e.plen;
        }
    }
    if (r < 0) {
        c->e.failed = 1;
    }
    return r < 0 ? -1 : r;
}

/* ---- keywords ---- */

/* minLength/maxLength, minItems/maxItems, minProperties/maxProperties: `count` against the
 * schema's lower and upper bounds named min_key and max_key, described by `what`. */
static void check_counts(struct vctx *c, const json_t *sch, const char *min_key,
                         const char *max_key, size_t count, const char *what)
{
    const json_t *lo = json_object_get(sch, min_key);
    const json_t *hi = json_object_get(sch, max_key);
    if (json_is_integer(lo) && (json_int_t)count < json_integer_value(lo)) {
        cm_verrors_add(&c->e, "must have at least %lld %s", (long long)json_integer_value(lo),
                       what);
    }
    if (json_is_integer(hi) && (json_int_t)count > json_integer_value(hi)) {
        cm_verrors_add(&c->e, "must have at most %lld %s", (long long)json_integer_value(hi), what);
    }
}

static void check_number(struct vctx *c, const json_t *sch, const json_t *inst)
{
    double x = json_number_value(inst);
    const json_t *k;
    if ((k = json_object_get(sch, "minimum")) && json_is_number(k) && x < json_number_value(k)) {
        cm_verrors_add(&c->e, "must be >= %g", json_number_value(k));
    }
    if ((k = json_object_get(sch, "maximum")) && json_is_number(k) && x > json_number_value(k)) {
        cm_verrors_add(&c->e, "must be <= %g", json_number_value(k));
    }
    if ((k = json_object_get(sch, "exclusiveMinimum")) && json_is_number(k) &&
        x <= json_number_value(k)) {
        cm_verrors_add(&c->e, "must be > %g", json_number_value(k));
    }
    if ((k = json_object_get(sch, "exclusiveMaximum")) && json_is_number(k) &&
        x >= json_number_value(k)) {
        cm_verrors_add(&c->e, "must be < %g", json_number_value(k));
    }
    if ((k = json_object_get(sch, "multipleOf")) && json_is_number(k) && json_number_value(k) > 0) {
        double m = json_number_value(k);
        int ok;
        if (json_is_integer(inst) && json_is_integer(k)) {
            ok = json_integer_value(inst) % json_integer_value(k) == 0;
        } else {
            double q = x / m;
            ok = isfinite(q) && fabs(q - nearbyint(q)) < 1e-9 * fmax(1.0, fabs(q));
        }
        if (!ok) {
            cm_verrors_add(&c->e, "must be a multiple of %g", m);
        }
    }
}

/* 1 when inst equals one of the enum's values: by their hashes when the schema has many (set at
 * compile), else one by one. */
static int in_enum(struct vctx *c, const json_t *sch, const json_t *en, const json_t *inst)
{
    size_t nodes = 0;
    int ok = 0;
    const struct slot *sl = jsonschema_slot_find(c->s, sch);
    if (sl && sl->enum_set) {
        uint64_t h = jsonschema_value_hash(inst, &nodes);
        ok = jsonschema_vset_find(&sl->enum_set->v, inst, h, &nodes) >= 0;
    } else {
        for (size_t i = 0; i < json_array_size(en) && !ok; i++) {
            ok = jsonschema_equal_counted(json_array_get(en, i), inst, &nodes);
        }
    }
    c->w->steps += nodes / NODES_PER_STEP;
    return ok;
}

/* uniqueItems by the items' hashes: each item is compared only with the earlier ones of its
 * hash, and the walk stops when what that costs passes its steps (values can be made to share a
 * hash). */
static void check_unique(struct vctx *c, const json_t *inst, size_t n)
{
    struct jsonschema_vset set;
    jsonschema_vset_init(&set, inst);
    size_t nodes = 0;
    for (size_t j = 0; j < n && !cm_verrors_done(&c->e); j++) {
        const json_t *v = json_array_get(inst, j);
        uint64_t h = jsonschema_value_hash(v, &nodes);
        long i = jsonschema_vset_find(&set, v, h, &nodes);
        if (i >= 0) {
            cm_verrors_add(&c->e, "items %ld and %zu are equal; items must be unique", i, j);
        }
        jsonschema_vset_add(&set, j, h);
        if (c->w->steps + nodes / NODES_PER_STEP >= c->w->limit) {
            c->w->stopped = TOO_LONG;
            c->e.failed = 1;
            break;
        }
    }
    c->w->steps += nodes / NODES_PER_STEP;
    jsonschema_vset_free(&set);
}

static void check_string(struct vctx *c, const json_t *sch, const json_t *inst)
{
    const char *v = json_string_value(inst);
    size_t n = json_string_length(inst);
    c->w->steps += n / 32; /* its length and format are scans */
    size_t len = utf8_length(v, n);
    check_counts(c, sch, "minLength", "maxLength", len, "characters");
    const char *pattern = json_string_value(json_object_get(sch, "pattern"));
    int found = pattern ? pattern_search(c, pattern, v, n, "the string") : 1;
    if (found < 0) {
        return; /* the walk stops */
    }
    if (found == 0) {
        cm_verrors_add(&c->e, "must match pattern '%.80s'", pattern);
    }
    const char *fmt = json_string_value(json_object_get(sch, "format"));
    if (fmt && !memchr(v, '\0', n) && !jsonschema_format_ok(fmt, v)) {
        cm_verrors_add(&c->e, "must be a valid %s", fmt);
    }
}

static void check_array(struct vctx *c, const json_t *sch, const json_t *inst, int depth)
{
    size_t n = json_array_size(inst);
    check_counts(c, sch, "minItems", "maxItems", n, "items");
    if (json_is_true(json_object_get(sch, "uniqueItems")) && n > 1) {
        check_unique(c, inst, n);
    }
    const json_t *items = json_object_get(sch, "items");
    if (json_is_array(items)) {
        size_t ni = json_array_size(items);
        const json_t *extra = json_object_get(sch, "additionalItems");
        for (size_t i = 0; i < n && !cm_verrors_done(&c->e); i++) {
            const json_t *sub = i < ni ? json_array_get(items, i) : extra;
            if (sub) {
                size_t saved = cm_verrors_push_index(&c->e, i);
                validate(c, sub, json_array_get(inst, i), depth + 1);
                cm_verrors_pop(&c->e, saved);
            }
        }
    } else if (items) {
        for (size_t i = 0; i < n && !cm_verrors_done(&c->e); i++) {
            size_t saved = cm_verrors_push_index(&c->e, i);
            validate(c, items, json_array_get(inst, i), depth + 1);
            cm_verrors_pop(&c->e, saved);
        }
    }
    const json_t *contains = json_object_get(sch, "contains");
    if (contains) {
        size_t matches = 0;
        for (size_t i = 0; i < n; i++) {
            matches += (size_t)probe(c, contains, json_array_get(inst, i), depth);
        }
        const json_t *minc = json_object_get(sch, "minContains");
        const json_t *maxc = json_object_get(sch, "maxContains");
        json_int_t min = json_is_integer(minc) ? json_integer_value(minc) : 1;
        if ((json_int_t)matches < min) {
            cm_verrors_add(&c->e, "must contain at least %lld matching items", (long long)min);
        }
        if (json_is_integer(maxc) && (json_int_t)matches > json_integer_value(maxc)) {
            cm_verrors_add(&c->e, "must contain at most %lld matching items",
                           (long long)json_integer_value(maxc));
        }
    }
}

static void check_object(struct vctx *c, const json_t *sch, const json_t *inst, int depth)
{
    size_t n = json_object_size(inst);
    const json_t *required = json_object_get(sch, "required");
    /* its members and required names are looked up: paid as values compared */
    c->w->steps += (n + json_array_size(required)) / NODES_PER_STEP;
    check_counts(c, sch, "minProperties", "maxProperties", n, "properties");
    size_t i;
    const json_t *r;
    json_array_foreach(required, i, r)
    {
        if (json_is_string(r) && !json_object_get(inst, json_string_value(r))) {
            cm_verrors_add(&c->e, "'%.80s' is required", json_string_value(r));
        }
    }
    const json_t *props = json_object_get(sch, "properties");
    const json_t *pprops = json_object_get(sch, "patternProperties");
    const json_t *addl = json_object_get(sch, "additionalProperties");
    const json_t *pnames = json_object_get(sch, "propertyNames");
    const json_t *deps = json_object_get(sch, "dependencies");
    const json_t *dreq = json_object_get(sch, "dependentRequired");
    const json_t *dsch = json_object_get(sch, "dependentSchemas");
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)inst, name, val)
    {
        if (cm_verrors_done(&c->e) || c->w->stopped) {
            break;
        }
        size_t saved = cm_verrors_push(&c->e, name);
        int matched = 0;
        const json_t *ps = json_object_get(props, name);
        if (ps) {
            matched = 1;
            validate(c, ps, val, depth + 1);
        }
        const char *pat;
        json_t *psch;
        json_object_foreach((json_t *)pprops, pat, psch)
        {
            int found = pattern_search(c, pat, name, strlen(name), "a property name");
            if (found < 0) {
                break; /* the walk stops */
            }
            if (found > 0) {
                matched = 1;
                validate(c, psch, val, depth + 1);
            }
        }
        if (c->w->stopped) {
            cm_verrors_pop(&c->e, saved);
            break;
        }
        if (!matched && addl) {
            if (json_is_false(addl)) {
                cm_verrors_add(&c->e, "additional property '%.80s' is not allowed", name);
            } else {
                validate(c, addl, val, depth + 1);
            }
        }
        cm_verrors_pop(&c->e, saved);
        if (pnames) {
            json_t *key = json_string(name);
            int ephemeral = c->ephemeral;
            c->ephemeral = 1;
            if (!probe(c, pnames, key, depth)) {
                cm_verrors_add(&c->e, "property name '%.80s' is not allowed", name);
            }
            c->ephemeral = ephemeral;
            json_decref(key);
        }
        const json_t *dep = json_object_get(deps, name);
        const json_t *dr = json_object_get(dreq, name);
        const json_t *ds = json_object_get(dsch, name);
        const json_t *reqs = json_is_array(dep) ? dep : dr;
        c->w->steps += json_array_size(reqs) / NODES_PER_STEP;
        size_t j;
        const json_t *req;
        json_array_foreach(reqs, j, req)
        {
            if (json_is_string(req) && !json_object_get(inst, json_string_value(req))) {
                cm_verrors_add(&c->e, "'%.80s' is required when '%.80s' is present",
                               json_string_value(req), name);
            }
        }
        if (dep && !json_is_array(dep)) {
            validate(c, dep, inst, depth + 1);
        }
        if (ds) {
            validate(c, ds, inst, depth + 1);
        }
    }
}

static void validate_pair(struct vctx *c, const json_t *sch, const json_t *inst, int depth);

/* Validates inst against sch: past LAZY_STEPS, a pair met again gives the outcome it had (a
 * reported one reports nothing more: its errors are where it was first met). */
static void validate(struct vctx *c, const json_t *sch, const json_t *inst, int depth)
{
    if (cm_verrors_done(&c->e)) {
        return;
    }
    if (!c->w->stopped && c->w->steps >= c->w->limit) {
        c->w->stopped = TOO_LONG;
    }
    if (c->w->stopped) {
        c->e.failed = 1;
        return;
    }
    c->w->steps++;
    int reporting = c->e.errors != NULL;
    int remember = c->w->steps > LAZY_STEPS && !c->ephemeral && json_is_object(sch);
    if (remember) {
        const struct pair *p = pair_slot(&c->w->pairs, sch, inst, reporting);
        if (p->state == PAIR_INVALID) {
            cm_verrors_add(&c->e, "does not match its schema");
            return;
        }
        if (p->state) {
            return;
        }
    }
    validate_pair(c, sch, inst, depth);
    if (remember && !c->w->stopped) {
        pair_put(&c->w->pairs, sch, inst, reporting,
                 reporting     ? PAIR_REPORTED
                 : c->e.failed ? PAIR_INVALID
                               : PAIR_VALID);
    }
}

static void validate_pair(struct vctx *c, const json_t *sch, const json_t *inst, int depth)
{
    if (depth > MAX_DEPTH) {
        c->w->stopped = TOO_DEEP;
        c->e.failed = 1;
        return;
    }
    if (json_is_true(sch)) {
        return;
    }
    if (json_is_false(sch)) {
        cm_verrors_add(&c->e, "no value is allowed here");
        return;
    }
    if (!json_is_object(sch)) {
        return;
    }
    if (json_object_get(sch, "$ref")) {
        const struct slot *sl = jsonschema_slot_find(c->s, sch);
        if (sl && sl->target) {
            validate(c, sl->target, inst, depth + 1);
        }
        return; /* draft-07: siblings of $ref are ignored */
    }
    if (json_object_get(sch, "$recursiveRef")) {
        /* 2019-09, as its meta-schema uses it: "#" is the outermost schema of the validation
         * when both it and the reference's own resource say $recursiveAnchor: true (a
         * vocabulary's recursion comes back to the whole meta-schema), else the resource */
        const struct slot *sl = jsonschema_slot_find(c->s, sch);
        const json_t *target = sl ? sl->target : NULL;
        if (target && json_is_true(json_object_get(target, "$recursiveAnchor")) &&
            json_is_true(json_object_get(c->s->root, "$recursiveAnchor"))) {
            target = c->s->root;
        }
        if (target) {
            validate(c, target, inst, depth + 1);
        }
    }
    const json_t *type = json_object_get(sch, "type");
    if (json_is_string(type) && !type_matches(json_string_value(type), inst)) {
        cm_verrors_add(&c->e, "must be of type %s", json_string_value(type));
        return;
    }
    if (json_is_array(type)) {
        int ok = 0;
        size_t i;
        const json_t *t;
        json_array_foreach(type, i, t)
        {
            ok |= json_is_string(t) && type_matches(json_string_value(t), inst);
        }
        if (!ok) {
            cm_verrors_add(&c->e, "has the wrong type");
            return;
        }
    }
    const json_t *en = json_object_get(sch, "enum");
    if (json_is_array(en) && !in_enum(c, sch, en, inst)) {
        cm_verrors_add(&c->e, "must be one of the enumerated values");
    }
    const json_t *cst = json_object_get(sch, "const");
    if (cst) {
        size_t nodes = 0;
        int equal = jsonschema_equal_counted(cst, inst, &nodes);
        c->w->steps += nodes / NODES_PER_STEP;
        if (!equal) {
            cm_verrors_add(&c->e, "must equal the constant");
        }
    }
    if (json_is_number(inst)) {
        check_number(c, sch, inst);
    } else if (json_is_string(inst)) {
        check_string(c, sch, inst);
    } else if (json_is_array(inst)) {
        check_array(c, sch, inst, depth);
    } else if (json_is_object(inst)) {
        check_object(c, sch, inst, depth);
    }
    size_t i;
    const json_t *sub;
    json_array_foreach(json_object_get(sch, "allOf"), i, sub)
    {
        validate(c, sub, inst, depth + 1);
    }
    const json_t *any = json_object_get(sch, "anyOf");
    if (json_is_array(any)) {
        int ok = 0;
        json_array_foreach(any, i, sub)
        {
            if (probe(c, sub, inst, depth)) {
                ok = 1;
                break;
            }
        }
        if (!ok) {
            cm_verrors_add(&c->e, "must match at least one schema of anyOf");
        }
    }
    const json_t *one = json_object_get(sch, "oneOf");
    if (json_is_array(one)) {
        size_t matches = 0;
        json_array_foreach(one, i, sub)
        {
            matches += (size_t)probe(c, sub, inst, depth);
        }
        if (matches != 1) {
            cm_verrors_add(&c->e, "must match exactly one schema of oneOf (matched %zu)", matches);
        }
    }
    const json_t *nt = json_object_get(sch, "not");
    if (nt && probe(c, nt, inst, depth)) {
        cm_verrors_add(&c->e, "must not match the schema in not");
    }
    const json_t *cond = json_object_get(sch, "if");
    if (cond) {
        const json_t *branch = probe(c, cond, inst, depth) ? json_object_get(sch, "then")
                                                           : json_object_get(sch, "else");
        if (branch) {
            validate(c, branch, inst, depth + 1);
        }
    }
}

int cm_jsonschema_validate_budget(const struct cm_jsonschema *s, const json_t *instance,
                                  const char *prefix, json_t *errors, size_t max_errors,
                                  size_t *budget)
{
    struct walk w = {0};
    w.limit = budget && *budget < MAX_STEPS ? *budget : MAX_STEPS;
    struct vctx c = {s, {0}, &w, 0};
    size_t before = errors ? json_array_size(errors) : 0;
    cm_verrors_init(&c.e, errors, max_errors, prefix);
    validate(&c, s->root, instance, 0);
    free(w.pairs.slots);
    if (budget) { /* a search may have been charged a little past the walk's limit */
        *budget -= w.steps < w.limit ? w.steps : w.limit;
    }
    if (w.stopped && errors) { /* what failed on the way is no answer either: only why */
        while (json_array_size(errors) > before) {
            json_array_remove(errors, json_array_size(errors) - 1);
        }
        c.e.count = 0;
    }
    if (w.stopped == TOO_DEEP) {
        cm_verrors_add(&c.e, "not validated: schema recursion too deep");
    } else if (w.stopped == UNDECIDED) {
        memcpy(c.e.ptr, w.where, w.wherelen + 1);
        c.e.plen = w.wherelen;
        cm_verrors_add(&c.e, "not validated: %s", w.undecided);
    } else if (w.stopped == TOO_LONG && w.limit < MAX_STEPS) {
        cm_verrors_add(&c.e,
                       "not validated: the budget of steps shared with other values is spent");
        return CM_E_TOOBIG;
    } else if (w.stopped == TOO_LONG) {
        cm_verrors_add(&c.e, "not validated: its schema took more than %d steps", MAX_STEPS);
    }
    return !c.e.failed;
}

int cm_jsonschema_validate(const struct cm_jsonschema *s, const json_t *instance,
                           const char *prefix, json_t *errors, size_t max_errors)
{
    return cm_jsonschema_validate_budget(s, instance, prefix, errors, max_errors, NULL);
}

const char *cm_jsonschema_dialect(const json_t *schema)
{
    const char *d = json_string_value(json_object_get(schema, "$schema"));
    if (!json_is_object(schema) || !json_object_get(schema, "$schema")) {
        return "http://json-schema.org/draft-07/schema";
    }
    if (!d) {
        return NULL;
    }
    size_t n = strcspn(d, "#");
    static const char *const known[] = {"http://json-schema.org/draft-07/schema",
                                        "https://json-schema.org/draft/2019-09/schema"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strlen(known[i]) == n && strncmp(d, known[i], n) == 0) {
            return known[i];
        }
    }
    return NULL;
}
