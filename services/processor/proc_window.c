/* proc_window: per-partition arrays of open windows (see proc_window.h). Open windows per
 * partition are few (keys x windows in flight), so lookups are linear scans. */
#include "proc_window.h"

#include "cm/mem.h"

#include <stdlib.h>
#include <string.h>

struct open_window {
    char *key;
    int64_t start_ms;
    uint64_t count;
    int64_t min_offset;
};

struct part_state {
    int used;
    int64_t max_event_ms; /* INT64_MIN until the first record */
    int64_t forced_wm;    /* watermark forced by proc_windows_advance */
    struct open_window *wins;
    size_t n, cap;
};

struct proc_windows {
    int64_t size_ms;
    int64_t ooo_ms;
    struct part_state *parts;
    size_t nparts;
};

struct proc_windows *proc_windows_new(int64_t size_ms, int64_t out_of_orderness_ms)
{
    struct proc_windows *w = cm_xcalloc(1, sizeof(*w));
    w->size_ms = size_ms > 0 ? size_ms : 1;
    w->ooo_ms = out_of_orderness_ms > 0 ? out_of_orderness_ms : 0;
    return w;
}

static void clear_part(struct part_state *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->wins[i].key);
    }
    free(p->wins);
    memset(p, 0, sizeof(*p));
}

void proc_windows_free(struct proc_windows *w)
{
    if (!w) {
        return;
    }
    for (size_t i = 0; i < w->nparts; i++) {
        clear_part(&w->parts[i]);
    }
    free(w->parts);
    free(w);
}

static struct part_state *part(struct proc_windows *w, int32_t partition)
{
    if (partition < 0) {
        partition = 0;
    }
    if ((size_t)partition >= w->nparts) {
        size_t n = (size_t)partition + 1;
        w->parts = cm_xrealloc(w->parts, n * sizeof(*w->parts));
        memset(w->parts + w->nparts, 0, (n - w->nparts) * sizeof(*w->parts));
        w->nparts = n;
    }
    struct part_state *p = &w->parts[partition];
    if (!p->used) {
        p->used = 1;
        p->max_event_ms = INT64_MIN;
        p->forced_wm = INT64_MIN;
    }
    return p;
}

static const struct part_state *cpart(const struct proc_windows *w, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= w->nparts || !w->parts[partition].used) {
        return NULL;
    }
    return &w->parts[partition];
}

static int64_t watermark_of(const struct proc_windows *w, const struct part_state *p)
{
    int64_t wm = p->max_event_ms == INT64_MIN ? INT64_MIN : p->max_event_ms - w->ooo_ms;
    return wm > p->forced_wm ? wm : p->forced_wm;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

enum proc_add proc_windows_add(struct proc_windows *w, int32_t partition, const char *key,
                               int64_t event_ms, int64_t offset)
{
    struct part_state *p = part(w, partition);
    int64_t start = floor_div(event_ms, w->size_ms) * w->size_ms;
    int64_t end = start + w->size_ms;
    if (end <= watermark_of(w, p)) {
        return PROC_LATE;
    }
    if (event_ms > p->max_event_ms) {
        p->max_event_ms = event_ms;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct open_window *ow = &p->wins[i];
        if (ow->start_ms == start && strcmp(ow->key, key) == 0) {
            ow->count++;
            if (offset < ow->min_offset) {
                ow->min_offset = offset;
            }
            return PROC_ADDED;
        }
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->wins = cm_xrealloc(p->wins, p->cap * sizeof(*p->wins));
    }
    p->wins[p->n++] = (struct open_window){cm_xstrdup(key), start, 1, offset};
    return PROC_ADDED;
}

size_t proc_windows_fire(struct proc_windows *w, int32_t partition, proc_window_emit_fn emit,
                         void *ud)
{
    struct part_state *p = part(w, partition);
    int64_t wm = watermark_of(w, p);
    size_t fired = 0, keep = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct open_window *ow = &p->wins[i];
        int64_t end = ow->start_ms + w->size_ms;
        if (end <= wm) {
            struct proc_window_result r = {partition, ow->key, ow->start_ms, end, ow->count};
            emit(&r, ud);
            free(ow->key);
            fired++;
        } else {
            p->wins[keep++] = *ow;
        }
    }
    p->n = keep;
    return fired;
}

size_t proc_windows_advance(struct proc_windows *w, int32_t partition, int64_t watermark_ms,
                            proc_window_emit_fn emit, void *ud)
{
    struct part_state *p = part(w, partition);
    if (watermark_ms > p->forced_wm) {
        p->forced_wm = watermark_ms;
    }
    return proc_windows_fire(w, partition, emit, ud);
}

int64_t proc_windows_max_open_end(const struct proc_windows *w, int32_t partition)
{
    const struct part_state *p = cpart(w, partition);
    int64_t max = INT64_MIN;
    for (size_t i = 0; p && i < p->n; i++) {
        if (p->wins[i].start_ms + w->size_ms > max) {
            max = p->wins[i].start_ms + w->size_ms;
        }
    }
    return max;
}

int64_t proc_windows_min_open_offset(const struct proc_windows *w, int32_t partition)
{
    const struct part_state *p = cpart(w, partition);
    int64_t min = -1;
    for (size_t i = 0; p && i < p->n; i++) {
        if (min < 0 || p->wins[i].min_offset < min) {
            min = p->wins[i].min_offset;
        }
    }
    return min;
}

int64_t proc_windows_watermark(const struct proc_windows *w, int32_t partition)
{
    const struct part_state *p = cpart(w, partition);
    return p ? watermark_of(w, p) : INT64_MIN;
}

size_t proc_windows_open_count(const struct proc_windows *w, int32_t partition)
{
    const struct part_state *p = cpart(w, partition);
    return p ? p->n : 0;
}

void proc_windows_drop_partition(struct proc_windows *w, int32_t partition)
{
    if (partition >= 0 && (size_t)partition < w->nparts) {
        clear_part(&w->parts[partition]);
    }
}
