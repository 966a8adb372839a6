/* fuzz_proc_frame: libFuzzer target for the processor's repartition frames (the second stage
 * reads them from a Kafka topic anyone with access can write). Whatever bytes come, the reader
 * stays inside them; every entry it accepts is written again into a new frame, which must read
 * back to the same fields, entry for entry. A difference aborts. */
#include "../../services/processor/proc_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    return (!a && !b) || (a && b && an == bn && memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so reading past them is caught */
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    struct proc_frame out = {0};
    size_t pos = 0, n = 0;
    struct proc_frame_entry e;
    while (proc_frame_next(in, size, &pos, &e) == 1) {
        if (pos > size) {
            abort();
        }
        proc_frame_add(&out, &e);
        n++;
    }
    size_t p1 = 0, p2 = 0;
    struct proc_frame_entry a, b;
    for (size_t i = 0; i < n; i++) {
        if (proc_frame_next(in, size, &p1, &a) != 1 ||
            proc_frame_next(out.buf, out.len, &p2, &b) != 1 || a.origin != b.origin ||
            a.offset != b.offset || a.seq != b.seq || a.wm != b.wm || a.wm_before != b.wm_before ||
            a.time_ms != b.time_ms || !same_str(a.tenant, b.tenant) || !same_str(a.key, b.key) ||
            !same_str(a.traceparent, b.traceparent) ||
            !same_bytes(a.args, a.argslen, b.args, b.argslen) ||
            !same_bytes(a.raw, a.rawlen, b.raw, b.rawlen)) {
            abort();
        }
    }
    if (n > 0 && (out.count != n || proc_frame_next(out.buf, out.len, &p2, &b) != 0)) {
        abort();
    }
    proc_frame_free(&out);
    free(in);
    return 0;
}
