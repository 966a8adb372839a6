/* verrors: pointer-addressed validation errors (see verrors.h). */
#include "cm/verrors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cm_verrors_init(struct cm_verrors *v, json_t *errors, size_t max, const char *prefix)
{
    memset(v, 0, sizeof(*v));
    v->errors = errors;
    v->max = max ? max : 1;
    v->prefix = prefix;
}

void cm_verrors_add(struct cm_verrors *v, const char *fmt, ...)
{
    v->failed = 1;
    if (!v->errors || v->count >= v->max) {
        return;
    }
    char msg[256], line[CM_VERRORS_PTR_MAX + 300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int has_prefix = v->prefix && *v->prefix;
    snprintf(line, sizeof(line), "%s%s: %s", has_prefix ? v->prefix : "",
             v->plen || has_prefix ? v->ptr : "/", msg);
    json_array_append_new(v->errors, json_string(line));
    v->count++;
}

int cm_verrors_done(const struct cm_verrors *v)
{
    return v->failed && (!v->errors || v->count >= v->max);
}

size_t cm_verrors_push(struct cm_verrors *v, const char *segment)
{
    size_t saved = v->plen;
    if (v->plen + 2 >= CM_VERRORS_PTR_MAX) {
        return saved;
    }
    v->ptr[v->plen++] = '/';
    for (const char *p = segment; *p && v->plen + 3 < CM_VERRORS_PTR_MAX; p++) {
        if (*p == '~' || *p == '/') {
            v->ptr[v->plen++] = '~';
            v->ptr[v->plen++] = *p == '~' ? '0' : '1';
        } else {
            v->ptr[v->plen++] = *p;
        }
    }
    v->ptr[v->plen] = '\0';
    return saved;
}

size_t cm_verrors_push_index(struct cm_verrors *v, size_t index)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%zu", index);
    return cm_verrors_push(v, buf);
}

void cm_verrors_pop(struct cm_verrors *v, size_t saved)
{
    v->plen = saved;
    v->ptr[saved] = '\0';
}
