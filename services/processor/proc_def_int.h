/* proc_def_int: what the files parsing a pipeline definition share (proc_def.c, the document;
 * proc_def_steps.c, its steps; proc_def_out.c, its outputs; proc_def_source.c, its source;
 * proc_def_join.c, its interval join). Not for other modules. */
#ifndef PROC_DEF_INT_H
#define PROC_DEF_INT_H

#include "proc_def.h"

#include "cm/expr.h"

#include <jansson.h>
#include <stddef.h>

/* Writes the message to err and returns CM_E_INVAL. */
int proc_def_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Refuses members of obj not in allowed (NULL-terminated), naming them under path. */
int proc_def_only(const json_t *obj, const char *path, const char *const *allowed, char *err,
                  size_t errlen);
/* Compiles the expression v (a string) into *out, or fails naming field. */
int proc_def_compile(const json_t *v, const char *field, struct cm_expr **out, char *err,
                     size_t errlen);
/* obj's duration member name (a string such as "5m") into *out in ms, at least min; def when
 * absent; fails naming field. */
int proc_def_duration(const json_t *obj, const char *name, const char *field, int64_t def,
                      int64_t min, int64_t *out, char *err, size_t errlen);
/* A signed duration ("-5m", "10s") of at most 366 days either way; absent: 0. */
int proc_def_signed_duration(const json_t *obj, const char *name, const char *field, int64_t *out,
                             char *err, size_t errlen);
/* "interval_join": {...} (proc_def_join.c); sets d->window to PROC_WIN_JOIN. */
int proc_def_parse_interval_join(struct proc_def *d, const json_t *j, char *err, size_t errlen);
/* "sink", "dead_letter" and "batch": where the pipeline's outputs go (proc_def_out.c). */
int proc_def_parse_outputs(struct proc_def *d, const json_t *doc, const char *default_sink,
                           char *err, size_t errlen);
/* "source" (src, NULL when absent; proc_def_source.c): its topics (default_topics, comma
 * separated, when it names none), filter, time and start. */
int proc_def_parse_source(struct proc_def *d, const json_t *src, const char *default_topics,
                          char *err, size_t errlen);
/* "steps": [...] into d->steps (and d->tables for joins against topics). */
int proc_def_parse_steps(struct proc_def *d, const json_t *steps, char *err, size_t errlen);

#endif
