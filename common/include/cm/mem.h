/* mem: allocation that aborts on failure, so callers never check for NULL.
 * cm_xmalloc/cm_xcalloc/cm_xrealloc/cm_xstrdup/cm_xstrndup log and abort when memory runs out;
 * results are freed with free(). */
#ifndef CM_MEM_H
#define CM_MEM_H

#include <stddef.h>

void *cm_xmalloc(size_t n);
void *cm_xcalloc(size_t count, size_t size);
void *cm_xrealloc(void *p, size_t n);
char *cm_xstrdup(const char *s);
char *cm_xstrndup(const char *s, size_t n);
/* printf into a fresh buffer; caller frees. */
char *cm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
