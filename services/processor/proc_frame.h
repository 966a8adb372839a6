/* proc_frame: repartition frames. A frame is one Kafka record that carries many events a first
 * stage prepared, bound for one partition of the pipeline's repartition topic (header
 * kind=frame, with the pipeline's version). The first stage appends every event of a batch to
 * the frame of its key's partition and sends one record per partition instead of one per event;
 * the second stage reads the entries back. Each entry holds the origin mark, the input
 * partition's watermark, the event time, tenant, key, traceparent, the aggregates' arguments
 * (JSON) and the event's text.
 *
 * Layout: a version byte (2), then entries. Integers are big-endian; a string is a u32 length,
 * its bytes and a NUL; an absent optional string has the length 0xFFFFFFFF. Entry: u32 origin,
 * u64 offset, u32 seq, u64 watermark, u64 watermark before the event, u64 time, tenant, key,
 * traceparent (optional), args (optional), the event. Frames of version 1 (no watermark before
 * the event) are still read. The reader checks every length against the record and that tenant,
 * key and traceparent hold no NUL. */
#ifndef PROC_FRAME_H
#define PROC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PROC_FRAME_VERSION 2

/* The largest aggregates' arguments an entry carries: an event whose arguments take more (a
 * `last(data)` of a large event) goes without them, and the second stage evaluates them from the
 * event's text, as it does for a frame that has none; so an entry stays near the size of its
 * event, which fitted a record. */
#define PROC_FRAME_ARGS_MAX (16 * 1024)

/* Room for a route key and its NUL. */
#define PROC_ROUTE_KEY_MAX 1024
/* The key that picks an event's repartition partition: the first PROC_ROUTE_KEY_MAX - 1 bytes
 * of "<tenant>/<key>", written with a NUL into out; returns its length. */
size_t proc_frame_route_key(const char *tenant, const char *key, char out[PROC_ROUTE_KEY_MAX]);

/* One entry; strings borrowed (from the caller when adding, from the record when reading). */
struct proc_frame_entry {
    int32_t origin;    /* the input partition's source id */
    int64_t offset;    /* the input record's offset */
    int32_t seq;       /* the event's index among those its record gave */
    int64_t wm;        /* the input partition's watermark when the event was prepared */
    int64_t wm_before; /* and before its own time counted (every event before it read on that
                        * partition, also those the steps dropped), which the second stage
                        * applies before windowing it, as one stage would; INT64_MIN: none */
    int64_t time_ms;
    const char *tenant, *key;
    const char *traceparent; /* NULL: none */
    const char *args;        /* the aggregates' arguments as a JSON array; NULL: none */
    size_t argslen;
    const char *raw; /* the event's text */
    size_t rawlen;
};

/* A frame being written. Zero-initialised is empty. */
struct proc_frame {
    char *buf;
    size_t len, cap;
    size_t count; /* entries */
    size_t last;  /* where the last entry starts */
};

void proc_frame_add(struct proc_frame *f, const struct proc_frame_entry *e);
/* The bytes an entry takes in a frame. */
size_t proc_frame_entry_size(const struct proc_frame_entry *e);
/* Whether e may join f without taking it past limit bytes. An empty frame takes any entry, so a
 * frame holds at most limit bytes or a single entry: an event that fits a record alone still
 * fits once packed. */
int proc_frame_fits(const struct proc_frame *f, const struct proc_frame_entry *e, size_t limit);
/* When the frame's last entry is of the input record (origin, offset), sets its watermark to
 * wm. The first stage gives every entry of a record the watermark before it and the last one
 * in each frame the watermark after it, so that the second stage judges all the events a record
 * made (a flatMap's) by one watermark, as one stage does, and then moves on. */
void proc_frame_set_last_wm(struct proc_frame *f, int32_t origin, int64_t offset, int64_t wm);
/* Empties the frame, keeping its buffer. */
void proc_frame_reset(struct proc_frame *f);
void proc_frame_free(struct proc_frame *f);

/* Reads the entry at *pos of a frame's bytes (start with *pos = 0). Returns 1 with *e filled
 * (borrowed from data) and *pos past it, 0 at the end, or -1 when the bytes are not a frame or
 * the entry is malformed (nothing after it can be read). */
int proc_frame_next(const char *data, size_t len, size_t *pos, struct proc_frame_entry *e);

#endif
