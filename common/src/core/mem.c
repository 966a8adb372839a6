/* mem: aborting allocators (see mem.h). No custom allocator: ASan must see every block; release
 * builds' jemalloc gets its options here. */
#include "cm/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read by jemalloc, which release builds link (the Makefile says why); MALLOC_CONF still
 * overrides it. "thp:always" asks for transparent huge pages on its mappings, and with them
 * jemalloc zeroes a recycled block for calloc by memset instead of madvise(MADV_DONTNEED).
 * librdkafka callocs LZ4 contexts for every batch it compresses; each madvise flushed the other
 * core's TLB and the next touch faulted the pages in again. Measured in bench/processor: the
 * producer's thread used about a third of the CPU time and the pipeline ran 1.3-1.4x faster, for
 * about 60 MB more resident memory at its peak. Ignored by the sanitizer builds' allocator.
 * Weak: a daemon may define its own (the processor does, services/processor/main.c). */
__attribute__((weak)) const char *malloc_conf = "thp:always";

static void oom(size_t n)
{
    char msg[128];
    int len = snprintf(msg, sizeof(msg),
                       "{\"level\":\"fatal\",\"event\":\"out_of_memory\",\"bytes\":%zu}\n", n);
    if (len > 0) {
        ssize_t ignored = write(STDERR_FILENO, msg, (size_t)len);
        (void)ignored;
    }
    abort();
}

void *cm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        oom(n);
    }
    return p;
}

void *cm_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        oom(count * size);
    }
    return p;
}

void *cm_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        oom(n);
    }
    return q;
}

char *cm_xstrdup(const char *s)
{
    return cm_xstrndup(s, strlen(s));
}

char *cm_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = cm_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *cm_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        oom(0);
    }
    char *buf = cm_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return buf;
}
