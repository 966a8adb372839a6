/* proc_frame: repartition frames written and read (see proc_frame.h). */
#include "proc_frame.h"

#include "proc_time.h"

#include "cm/envelope.h"
#include "cm/mem.h"

#include <stdlib.h>
#include <string.h>

#define ABSENT 0xFFFFFFFFu

static void reserve(struct proc_frame *f, size_t more)
{
    if (f->len + more <= f->cap) {
        return;
    }
    size_t cap = f->cap ? f->cap : 4096;
    while (cap < f->len + more) {
        cap *= 2;
    }
    f->buf = cm_xrealloc(f->buf, cap);
    f->cap = cap;
}

static void put_u32(struct proc_frame *f, uint32_t v)
{
    unsigned char *p = (unsigned char *)f->buf + f->len;
    for (int i = 3; i >= 0; i--) {
        *p++ = (unsigned char)(v >> (8 * i));
    }
    f->len += 4;
}

static void put_u64(struct proc_frame *f, uint64_t v)
{
    unsigned char *p = (unsigned char *)f->buf + f->len;
    for (int i = 7; i >= 0; i--) {
        *p++ = (unsigned char)(v >> (8 * i));
    }
    f->len += 8;
}

static void put_bytes(struct proc_frame *f, const char *s, size_t n)
{
    put_u32(f, (uint32_t)n);
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len++] = '\0';
}

size_t proc_frame_route_key(const char *tenant, const char *key, char out[PROC_ROUTE_KEY_MAX])
{
    size_t len = 0;
    const char *pieces[] = {tenant, "/", key};
    for (size_t i = 0; i < 3; i++) { /* as snprintf would cut it, without its cost per event */
        size_t n = strlen(pieces[i]);
        n = n < PROC_ROUTE_KEY_MAX - 1 - len ? n : PROC_ROUTE_KEY_MAX - 1 - len;
        memcpy(out + len, pieces[i], n);
        len += n;
    }
    out[len] = '\0';
    return len;
}

size_t proc_frame_entry_size(const struct proc_frame_entry *e)
{
    /* 40 bytes of integers, then five strings of a length, their bytes and a NUL (an absent
     * one only its length) */
    return 40 + 5 * 4 + strlen(e->tenant) + 1 + strlen(e->key) + 1 +
           (e->traceparent ? strlen(e->traceparent) + 1 : 0) + (e->args ? e->argslen + 1 : 0) +
           e->rawlen + 1;
}

int proc_frame_fits(const struct proc_frame *f, const struct proc_frame_entry *e, size_t limit)
{
    return f->count == 0 || (f->len ? f->len : 1) + proc_frame_entry_size(e) <= limit;
}

void proc_frame_add(struct proc_frame *f, const struct proc_frame_entry *e)
{
    size_t tl = strlen(e->tenant), kl = strlen(e->key);
    size_t pl = e->traceparent ? strlen(e->traceparent) : 0;
    reserve(f, 1 + proc_frame_entry_size(e));
    if (f->len == 0) {
        f->buf[f->len++] = PROC_FRAME_VERSION;
    }
    f->last = f->len;
    put_u32(f, (uint32_t)e->origin);
    put_u64(f, (uint64_t)e->offset);
    put_u32(f, (uint32_t)e->seq);
    put_u64(f, (uint64_t)e->wm);
    put_u64(f, (uint64_t)e->wm_before);
    put_u64(f, (uint64_t)e->time_ms);
    put_bytes(f, e->tenant, tl);
    put_bytes(f, e->key, kl);
    if (e->traceparent) {
        put_bytes(f, e->traceparent, pl);
    } else {
        put_u32(f, ABSENT);
    }
    if (e->args) {
        put_bytes(f, e->args, e->argslen);
    } else {
        put_u32(f, ABSENT);
    }
    put_bytes(f, e->raw, e->rawlen);
    f->count++;
}

static uint64_t at_u64(const char *buf, size_t pos)
{
    const unsigned char *p = (const unsigned char *)buf + pos;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

void proc_frame_set_last_wm(struct proc_frame *f, int32_t origin, int64_t offset, int64_t wm)
{
    /* the entry: u32 origin, u64 offset, u32 seq, u64 watermark */
    if (f->count == 0 || (uint32_t)(at_u64(f->buf, f->last) >> 32) != (uint32_t)origin ||
        at_u64(f->buf, f->last + 4) != (uint64_t)offset) {
        return;
    }
    size_t len = f->len;
    f->len = f->last + 16;
    put_u64(f, (uint64_t)wm);
    f->len = len;
}

void proc_frame_reset(struct proc_frame *f)
{
    f->len = 0;
    f->count = 0;
}

void proc_frame_free(struct proc_frame *f)
{
    free(f->buf);
    *f = (struct proc_frame){0};
}

/* ---- reading ---- */

struct rd {
    const unsigned char *p;
    size_t len, pos;
};

static int get_u32(struct rd *r, uint32_t *v)
{
    if (r->len - r->pos < 4) {
        return -1;
    }
    const unsigned char *p = r->p + r->pos;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
    r->pos += 4;
    return 0;
}

static int get_u64(struct rd *r, uint64_t *v)
{
    uint32_t hi, lo;
    if (get_u32(r, &hi) != 0 || get_u32(r, &lo) != 0) {
        return -1;
    }
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

/* A string (text: no NUL inside); optional ones may be absent (*s = NULL). */
static int get_str(struct rd *r, int optional, int text, const char **s, size_t *n)
{
    uint32_t len;
    if (get_u32(r, &len) != 0) {
        return -1;
    }
    if (len == ABSENT) {
        *s = NULL;
        *n = 0;
        return optional ? 0 : -1;
    }
    if (r->len - r->pos < (size_t)len + 1 || r->p[r->pos + len] != '\0' ||
        (text && memchr(r->p + r->pos, '\0', len))) {
        return -1;
    }
    *s = (const char *)r->p + r->pos;
    *n = len;
    r->pos += (size_t)len + 1;
    return 0;
}

int proc_frame_next(const char *data, size_t len, size_t *pos, struct proc_frame_entry *e)
{
    if (len < 1 || (data[0] != PROC_FRAME_VERSION && data[0] != 1)) {
        return -1; /* version 1 (before wm_before) is still read: written by an older processor */
    }
    if (*pos == 0) {
        *pos = 1;
    }
    if (*pos >= len) {
        return *pos == len ? 0 : -1;
    }
    struct rd r = {(const unsigned char *)data, len, *pos};
    uint32_t origin, seq;
    uint64_t offset, wm, before = (uint64_t)INT64_MIN, time;
    size_t n;
    if (get_u32(&r, &origin) != 0 || get_u64(&r, &offset) != 0 || get_u32(&r, &seq) != 0 ||
        get_u64(&r, &wm) != 0 || (data[0] != 1 && get_u64(&r, &before) != 0) ||
        get_u64(&r, &time) != 0 || get_str(&r, 0, 1, &e->tenant, &n) != 0 ||
        !cm_envelope_tenant_ok(e->tenant, n) || get_str(&r, 0, 1, &e->key, &n) != 0 ||
        get_str(&r, 1, 1, &e->traceparent, &n) != 0 ||
        get_str(&r, 1, 0, &e->args, &e->argslen) != 0 ||
        get_str(&r, 0, 0, &e->raw, &e->rawlen) != 0 || (int64_t)offset < 0 ||
        !proc_watermark_ok((int64_t)wm) || !proc_watermark_ok((int64_t)before) ||
        !cm_time_in_range((int64_t)time)) {
        return -1; /* (the first stage sends no time, watermark or offset outside these) */
    }
    e->origin = (int32_t)origin;
    e->offset = (int64_t)offset;
    e->seq = (int32_t)seq;
    e->wm = (int64_t)wm;
    e->wm_before = (int64_t)before;
    e->time_ms = (int64_t)time;
    *pos = r.pos;
    return 1;
}
