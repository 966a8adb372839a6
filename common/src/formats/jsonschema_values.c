/* jsonschema_values: JSON values as JSON Schema compares them (see jsonschema_internal.h):
 * equality (1 equals 1.0, members in any order), a hash that equal values share, and a set of an
 * array's items by that hash, so uniqueItems and a long enum cost time linear in the values, not
 * their product. */
#include "jsonschema_internal.h"

#include "cm/hash.h"
#include "cm/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int jsonschema_equal_counted(const json_t *a, const json_t *b, size_t *nodes)
{
    (*nodes)++;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) {
            return json_integer_value(a) == json_integer_value(b);
        }
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) {
        return 0;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) {
            return 0;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (!jsonschema_equal_counted(json_array_get(a, i), json_array_get(b, i), nodes)) {
                return 0;
            }
        }
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) {
            return 0;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            const json_t *w = json_object_get(b, k);
            if (!w || !jsonschema_equal_counted(v, w, nodes)) {
                return 0;
            }
        }
        return 1;
    }
    if (json_is_string(a)) {
        *nodes += json_string_length(a) / 64;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

int cm_json_equal_values(const json_t *a, const json_t *b)
{
    size_t nodes = 0;
    return jsonschema_equal_counted(a, b, &nodes);
}

/* Strings and numbers are hashed under the process's key (cm_hash64_table): values come from
 * events, and an unkeyed hash would let them be built to share one; their combinations mix.
 * Numbers hash by their double value: integers that compare equal have the same one, and an
 * integer equals a real exactly when their doubles are equal. */
uint64_t jsonschema_value_hash(const json_t *v, size_t *nodes)
{
    (*nodes)++;
    switch (json_typeof(v)) {
    case JSON_OBJECT: { /* members in any order: a sum of each member's hash */
        uint64_t h = 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            h += cm_mix64(cm_hash64_table(k, strlen(k)) * 31 + jsonschema_value_hash(x, nodes));
        }
        return cm_mix64(h ^ 0x6F626A) + json_object_size(v);
    }
    case JSON_ARRAY: {
        uint64_t h = 0x617272;
        for (size_t i = 0; i < json_array_size(v); i++) {
            h = cm_mix64(h * 31 + jsonschema_value_hash(json_array_get(v, i), nodes));
        }
        return h;
    }
    case JSON_STRING:
        *nodes += json_string_length(v) / 64;
        return cm_hash64_table(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(v);
        uint64_t bits;
        d = d == 0 ? 0.0 : d; /* -0.0 equals 0 */
        memcpy(&bits, &d, sizeof(bits));
        return cm_hash64_table(&bits, sizeof(bits));
    }
    case JSON_TRUE:
        return 0x74727565;
    case JSON_FALSE:
        return 0x66616C73;
    default:
        return 0x6E756C6C;
    }
}

void jsonschema_vset_init(struct jsonschema_vset *set, const json_t *arr)
{
    set->arr = arr;
    for (set->cap = 16; set->cap < json_array_size(arr) * 2; set->cap *= 2) {
    }
    set->slots = cm_xcalloc(set->cap, sizeof(*set->slots));
}

void jsonschema_vset_free(struct jsonschema_vset *set)
{
    free(set->slots);
    set->slots = NULL;
}

/* Linear probing, no deletion, room for every item from the start: the items of one hash lie on
 * its probe path in the order they were added. */
long jsonschema_vset_find(const struct jsonschema_vset *set, const json_t *v, uint64_t h,
                          size_t *nodes)
{
    for (size_t i = (size_t)h & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        const struct jsonschema_vslot *sl = &set->slots[i];
        if (!sl->used) {
            return -1;
        }
        if (sl->hash == h) {
            if (jsonschema_equal_counted(json_array_get(set->arr, sl->index), v, nodes)) {
                return (long)sl->index;
            }
        }
    }
}

void jsonschema_vset_add(struct jsonschema_vset *set, size_t index, uint64_t h)
{
    size_t i = (size_t)h & (set->cap - 1);
    while (set->slots[i].used) {
        i = (i + 1) & (set->cap - 1);
    }
    set->slots[i] = (struct jsonschema_vslot){h, index, 1};
}

struct cm_json_set *cm_json_set_new(const json_t *array)
{
    struct cm_json_set *set = cm_xmalloc(sizeof(*set));
    jsonschema_vset_init(&set->v, array);
    size_t nodes = 0;
    for (size_t i = 0; i < json_array_size(array); i++) {
        jsonschema_vset_add(&set->v, i, jsonschema_value_hash(json_array_get(array, i), &nodes));
    }
    return set;
}

int cm_json_set_has(const struct cm_json_set *set, const json_t *v)
{
    size_t nodes = 0;
    return jsonschema_vset_find(&set->v, v, jsonschema_value_hash(v, &nodes), &nodes) >= 0;
}

void cm_json_set_free(struct cm_json_set *set)
{
    if (set) {
        jsonschema_vset_free(&set->v);
        free(set);
    }
}
