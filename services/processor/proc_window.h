/* proc_window: event-time tumbling windows that count records per key, kept per Kafka partition
 * (state moves with its partition). Watermark per partition = highest event time seen minus the
 * allowed out-of-orderness; a window fires once the watermark reaches its end. A record whose
 * window has already fired is late. Each open window remembers the lowest Kafka offset that
 * contributed to it, so the consumer commits no further than what is safely emitted.
 * Pure in-memory logic, single-threaded (the consumer thread). */
#ifndef PROC_WINDOW_H
#define PROC_WINDOW_H

#include <stddef.h>
#include <stdint.h>

struct proc_windows;

struct proc_window_result {
    int32_t partition;
    const char *key; /* borrowed for the callback */
    int64_t start_ms, end_ms;
    uint64_t count;
};

typedef void (*proc_window_emit_fn)(const struct proc_window_result *w, void *ud);

enum proc_add { PROC_ADDED, PROC_LATE };

/* size_ms > 0, out_of_orderness_ms >= 0. Caller frees with proc_windows_free. */
struct proc_windows *proc_windows_new(int64_t size_ms, int64_t out_of_orderness_ms);
void proc_windows_free(struct proc_windows *w);

/* Counts one record (key copied) at event time `event_ms`, read at Kafka `offset`. */
enum proc_add proc_windows_add(struct proc_windows *w, int32_t partition, const char *key,
                               int64_t event_ms, int64_t offset);
/* Fires (emits and forgets) every window of the partition whose end <= its watermark; returns the
 * number fired. */
size_t proc_windows_fire(struct proc_windows *w, int32_t partition, proc_window_emit_fn emit,
                         void *ud);
/* Moves the partition's watermark to at least `watermark_ms`, then fires (idle partitions). */
size_t proc_windows_advance(struct proc_windows *w, int32_t partition, int64_t watermark_ms,
                            proc_window_emit_fn emit, void *ud);
/* End of the latest open window of the partition, or INT64_MIN when none is open. */
int64_t proc_windows_max_open_end(const struct proc_windows *w, int32_t partition);
/* Lowest offset still needed by an open window of the partition, or -1 when none is open. */
int64_t proc_windows_min_open_offset(const struct proc_windows *w, int32_t partition);
int64_t proc_windows_watermark(const struct proc_windows *w, int32_t partition);
size_t proc_windows_open_count(const struct proc_windows *w, int32_t partition);
/* Forgets the partition's state without emitting (revoked: the next owner recomputes). */
void proc_windows_drop_partition(struct proc_windows *w, int32_t partition);

#endif
