/* verrors: what validators report: a list of "pointer: message" strings, where the pointer is the
 * JSON pointer (RFC 6901) of the failing place in the instance, built segment by segment as a
 * validator walks down. A probe (errors NULL) only records that something failed. Used by the
 * JSON Schema and Avro validators. Not thread-safe: one per validation. */
#ifndef CM_VERRORS_H
#define CM_VERRORS_H

#include <jansson.h>
#include <stddef.h>

#define CM_VERRORS_PTR_MAX 1024

struct cm_verrors {
    json_t *errors; /* borrowed; NULL = probe */
    size_t max, count;
    int failed;
    const char *prefix; /* prepended to every pointer; may be NULL */
    char ptr[CM_VERRORS_PTR_MAX];
    size_t plen;
};

void cm_verrors_init(struct cm_verrors *v, json_t *errors, size_t max, const char *prefix);
/* Records a failure at the current pointer (appended while fewer than max were recorded). */
void cm_verrors_add(struct cm_verrors *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 when the walk can stop: something failed and nothing more will be recorded. */
int cm_verrors_done(const struct cm_verrors *v);
/* Descends into a member or element; returns what cm_verrors_pop restores. */
size_t cm_verrors_push(struct cm_verrors *v, const char *segment);
size_t cm_verrors_push_index(struct cm_verrors *v, size_t index);
void cm_verrors_pop(struct cm_verrors *v, size_t saved);

#endif
