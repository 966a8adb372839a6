/* avro: JSON values checked against an Avro schema and encoded to Avro binary (see avro.h); the
 * schema is parsed and indexed in avro_schema.c. One walk both validates and, when encoding,
 * fills avro-c generic values. */
#include "avro_internal.h"

#include "cm/err.h"
#include "cm/mem.h"
#include "cm/verrors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the walk ---- */

struct walk {
    const struct cm_avro_schema *s;
    struct cm_verrors e;
};

/* Bytes of a string of code points 0..255 (Avro's JSON form of bytes); -1 when a code point is
 * larger. *out is malloc'd. */
static long latin1_bytes(const json_t *v, unsigned char **out)
{
    const unsigned char *p = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    unsigned char *buf = cm_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            buf[k++] = p[i];
        } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < n) {
            buf[k++] = (unsigned char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F));
            i++;
        } else {
            free(buf);
            return -1;
        }
    }
    *out = buf;
    return (long)k;
}

static void walk_value(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                       int depth);

static void walk_record(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                        int depth)
{
    if (!json_is_object(v)) {
        cm_verrors_add(&w->e, "must be an object (record %s)", avro_schema_name(t));
        return;
    }
    char full[256];
    avro_branch_name(t, full, sizeof(full));
    size_t n = avro_schema_record_size(t);
    for (size_t i = 0; i < n; i++) {
        const char *fname = avro_schema_record_field_name(t, (int)i);
        avro_schema_t ft = avro_schema_record_field_get_by_index(t, (int)i);
        const json_t *fv = json_object_get(v, fname);
        if (!fv) {
            char key[512];
            snprintf(key, sizeof(key), "%s\n%s", full, fname);
            fv = json_object_get(w->s->defaults, key);
            if (!fv) {
                size_t saved = cm_verrors_push(&w->e, fname);
                cm_verrors_add(&w->e, "required field is missing");
                cm_verrors_pop(&w->e, saved);
                continue;
            }
        }
        avro_value_t field, *fout = NULL;
        if (out && avro_value_get_by_index(out, i, &field, NULL) == 0) {
            fout = &field;
        }
        size_t saved = cm_verrors_push(&w->e, fname);
        walk_value(w, ft, fv, fout, depth + 1);
        cm_verrors_pop(&w->e, saved);
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (cm_verrors_done(&w->e)) {
            break;
        }
        if (avro_schema_record_field_get_index(t, k) < 0) {
            size_t saved = cm_verrors_push(&w->e, k);
            cm_verrors_add(&w->e, "is not a field of record %s", avro_schema_name(t));
            cm_verrors_pop(&w->e, saved);
        }
    }
}

static void walk_union(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                       int depth)
{
    if (json_is_null(v)) {
        int i = avro_union_branch(w->s, t, "null");
        if (i < 0) {
            cm_verrors_add(&w->e, "null is not a branch of this union");
        } else if (out) {
            avro_value_t b;
            avro_value_set_branch(out, i, &b);
        }
        return;
    }
    if (!json_is_object(v) || json_object_size(v) != 1) {
        cm_verrors_add(&w->e, "a union value is null or {\"<type>\": value}");
        return;
    }
    const char *name = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *inner = json_object_iter_value(json_object_iter((json_t *)v));
    int i = avro_union_branch(w->s, t, name); /* by full or short name */
    if (i >= 0) {
        avro_value_t bv, *bout = NULL;
        if (out && avro_value_set_branch(out, i, &bv) == 0) {
            bout = &bv;
        }
        size_t saved = cm_verrors_push(&w->e, name);
        walk_value(w, avro_schema_union_branch(t, i), inner, bout, depth + 1);
        cm_verrors_pop(&w->e, saved);
        return;
    }
    cm_verrors_add(&w->e, "'%.80s' is not a branch of this union", name);
}

static void walk_value(struct walk *w, avro_schema_t t, const json_t *v, avro_value_t *out,
                       int depth)
{
    if (depth > MAX_DEPTH) {
        cm_verrors_add(&w->e, "value nested too deeply");
        return;
    }
    t = avro_deref(t);
    switch (avro_typeof(t)) {
    case AVRO_NULL:
        if (!json_is_null(v)) {
            cm_verrors_add(&w->e, "must be null");
        } else if (out) {
            avro_value_set_null(out);
        }
        return;
    case AVRO_BOOLEAN:
        if (!json_is_boolean(v)) {
            cm_verrors_add(&w->e, "must be a boolean");
        } else if (out) {
            avro_value_set_boolean(out, json_is_true(v));
        }
        return;
    case AVRO_INT32:
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX) {
            cm_verrors_add(&w->e, "must be a 32-bit integer");
        } else if (out) {
            avro_value_set_int(out, (int32_t)json_integer_value(v));
        }
        return;
    case AVRO_INT64:
        if (!json_is_integer(v)) {
            cm_verrors_add(&w->e, "must be an integer");
        } else if (out) {
            avro_value_set_long(out, json_integer_value(v));
        }
        return;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (!json_is_number(v)) {
            cm_verrors_add(&w->e, "must be a number");
        } else if (out && avro_typeof(t) == AVRO_FLOAT) {
            avro_value_set_float(out, (float)json_number_value(v));
        } else if (out) {
            avro_value_set_double(out, json_number_value(v));
        }
        return;
    case AVRO_STRING:
        if (!json_is_string(v)) {
            cm_verrors_add(&w->e, "must be a string");
        } else if (out) {
            avro_value_set_string_len(out, json_string_value(v), json_string_length(v) + 1);
        }
        return;
    case AVRO_BYTES:
    case AVRO_FIXED: {
        unsigned char *bytes = NULL;
        long n = json_is_string(v) ? latin1_bytes(v, &bytes) : -1;
        if (n < 0) {
            cm_verrors_add(&w->e,
                           "must be a string of code points 0 to 255 (Avro's JSON form of bytes)");
        } else if (avro_typeof(t) == AVRO_FIXED && n != avro_schema_fixed_size(t)) {
            cm_verrors_add(&w->e, "must be exactly %lld bytes",
                           (long long)avro_schema_fixed_size(t));
        } else if (out && avro_typeof(t) == AVRO_FIXED) {
            avro_value_set_fixed(out, bytes, (size_t)n);
        } else if (out) {
            avro_value_set_bytes(out, bytes, (size_t)n);
        }
        free(bytes);
        return;
    }
    case AVRO_ENUM: {
        int idx = json_is_string(v) ? avro_schema_enum_get_by_name(t, json_string_value(v)) : -1;
        if (idx < 0) {
            cm_verrors_add(&w->e, "must be a symbol of enum %s", avro_schema_name(t));
        } else if (out) {
            avro_value_set_enum(out, idx);
        }
        return;
    }
    case AVRO_ARRAY: {
        if (!json_is_array(v)) {
            cm_verrors_add(&w->e, "must be an array");
            return;
        }
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            avro_value_t item, *iout = NULL;
            if (out && avro_value_append(out, &item, NULL) == 0) {
                iout = &item;
            }
            char idx[24];
            snprintf(idx, sizeof(idx), "%zu", i);
            size_t saved = cm_verrors_push(&w->e, idx);
            walk_value(w, avro_schema_array_items(t), x, iout, depth + 1);
            cm_verrors_pop(&w->e, saved);
        }
        return;
    }
    case AVRO_MAP: {
        if (!json_is_object(v)) {
            cm_verrors_add(&w->e, "must be an object (map)");
            return;
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            avro_value_t item, *iout = NULL;
            if (out && avro_value_add(out, k, &item, NULL, NULL) == 0) {
                iout = &item;
            }
            size_t saved = cm_verrors_push(&w->e, k);
            walk_value(w, avro_schema_map_values(t), x, iout, depth + 1);
            cm_verrors_pop(&w->e, saved);
        }
        return;
    }
    case AVRO_RECORD:
        walk_record(w, t, v, out, depth);
        return;
    case AVRO_UNION:
        walk_union(w, t, v, out, depth);
        return;
    default:
        cm_verrors_add(&w->e, "unsupported Avro type");
        return;
    }
}

int cm_avro_validate(const struct cm_avro_schema *s, const json_t *value, const char *prefix,
                     json_t *errors, size_t max_errors)
{
    struct walk w = {s, {0}};
    cm_verrors_init(&w.e, errors, max_errors, prefix);
    walk_value(&w, s->schema, value, NULL, 0);
    return !w.e.failed;
}

unsigned char *cm_avro_encode(const struct cm_avro_schema *s, const json_t *value, int schema_id,
                              size_t *len, char *err, size_t errlen)
{
    avro_value_t v;
    if (avro_generic_value_new(s->iface, &v) != 0) {
        snprintf(err, errlen, "%s", avro_strerror());
        return NULL;
    }
    json_t *errors = json_array();
    struct walk w = {s, {0}};
    cm_verrors_init(&w.e, errors, 1, NULL);
    walk_value(&w, s->schema, value, &v, 0);
    unsigned char *buf = NULL;
    size_t size = 0;
    if (w.e.failed) {
        snprintf(err, errlen, "%s", json_string_value(json_array_get(errors, 0)));
    } else if (avro_value_sizeof(&v, &size) != 0) {
        snprintf(err, errlen, "%s", avro_strerror());
    } else {
        size_t header = schema_id >= 0 ? 5 : 0;
        buf = cm_xmalloc(size + header + 1);
        if (header) {
            buf[0] = 0;
            buf[1] = (unsigned char)(schema_id >> 24);
            buf[2] = (unsigned char)(schema_id >> 16);
            buf[3] = (unsigned char)(schema_id >> 8);
            buf[4] = (unsigned char)schema_id;
        }
        avro_writer_t wr = avro_writer_memory((char *)buf + header, (int64_t)size);
        if (avro_value_write(wr, &v) != 0) {
            snprintf(err, errlen, "%s", avro_strerror());
            free(buf);
            buf = NULL;
        } else {
            *len = size + header;
        }
        avro_writer_free(wr);
    }
    json_decref(errors);
    avro_value_decref(&v);
    return buf;
}
