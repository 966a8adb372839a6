/* fuzz_proc_stages: differential libFuzzer target for the processor's two stages. The daemon runs
 * a keyed windowed pipeline in two stages (prepare: filter, steps, key and the aggregates'
 * arguments; then, after the repartition topic, the windows), while pipeline-run and the dry run
 * run the same engine in one (proc_engine_process). Both must emit the same results and late
 * events for the same input, byte for byte, or a dry run would promise what the daemon does not
 * do. The input is lines of events (any JSON object; its `time`, or one that grows line by line,
 * or on every eleventh line one past year 9999),
 * read as one input partition. The two-stage path writes each prepared event into a repartition
 * frame and reads it back, as the daemon does, and carries the input partition's watermark with
 * it; at the end the first stage reports that partition's last watermark, as the daemon's
 * periodic report does. A last watermark flushes every window of both.
 * The second stage is also checkpointed halfway, as the daemon does (its windows, origin marks,
 * watermark and reports), and a fresh engine restored from that checkpoint reads the frames after
 * it: it must emit what the uninterrupted second stage emitted after that point, as an instance
 * that takes over a partition must, although it holds another partition whose watermark is far
 * ahead. At the checkpoint the second stage is told its input partitions again, as after a
 * rebalance, which must change nothing. The tumbling and the session pipeline deduplicate (the
 * session one by a value, keeping at most 4 a key), so a repeat is judged by the same watermark
 * in both: the events a record's flatMap made carry the watermark after it on the last only. A
 * pipeline takes its events' times from their data (source.time): the second stage must judge
 * them by that time, which the first wrote into each event. */
#include "../../services/processor/proc_def.h"
#include "../../services/processor/proc_engine.h"
#include "../../services/processor/proc_frame.h"
#include "../../services/processor/proc_window.h"

#include "fuzz_proc_out.h"

#include "cm/envelope.h"
#include "cm/event.h"
#include "cm/jsonw.h"
#include "cm/mem.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const defs[] = {
    "{\"name\": \"t\", \"source\": {\"filter\": \"type != 'skip'\"},"
    " \"steps\": [{\"flatMap\": {\"expr\": \"data.items\", \"as\": \"item\"}},"
    "  {\"map\": {\"k\": \"string(data.item.k)\", \"v\": \"double(data.item.v)\"}}],"
    " \"key\": \"data.k\", \"window\": {\"type\": \"tumbling\", \"size\": \"10ms\"},"
    " \"out_of_orderness\": \"5ms\", \"allowed_lateness\": \"20ms\", \"deduplicate\": true,"
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"a\": \"avg(data.v)\","
    "  \"lo\": \"min(data.v)\", \"hi\": \"max(data.v)\", \"d\": \"distinct(subject)\","
    "  \"p\": \"percentile(data.v, 0.9)\"}}",
    "{\"name\": \"h\", \"key\": \"subject\", \"window\": {\"type\": \"hopping\", \"size\": "
    "\"20ms\", \"slide\": \"5ms\", \"offset\": \"3ms\"}, \"emit\": \"update\", \"having\": \"n > "
    "1\","
    " \"aggregates\": {\"n\": \"count()\", \"s\": \"sum(data.v)\", \"v\": \"var_pop(data.v)\","
    "  \"f\": \"first(data)\", \"l\": \"last(data.v)\", \"t\": \"topk(data.v, 4)\","
    "  \"td\": \"topk_distinct(data.v, 3)\"}}",
    "{\"name\": \"s\", \"key\": \"string(data.k)\", \"window\": {\"type\": \"session\", \"gap\": "
    "\"7ms\"}, \"out_of_orderness\": \"3ms\", \"allowed_lateness\": \"5ms\", \"early\": \"2ms\","
    " \"deduplicate\": {\"by\": \"data.v\", \"max_ids_per_key\": 4},"
    " \"aggregates\": {\"n\": \"count()\", \"lo\": \"min(data.v)\","
    "  \"cl\": \"collect_list(data)\", \"cs\": \"collect_set(data.v, 2)\","
    "  \"ci\": \"count_if(data.v > 1)\"}}",
    "{\"name\": \"j\", \"key\": \"string(data.k)\", \"interval_join\": {"
    " \"left\": {\"filter\": \"type == 'l'\"}, \"right\": {\"filter\": \"type == 'r'\"},"
    " \"lower\": \"-5ms\", \"upper\": \"5ms\", \"type\": \"left\"}}",
    ("{\"name\": \"e\", \"source\": {\"time\": \"data.at\"}, \"key\": \"subject\","
     " \"window\": {\"type\": \"tumbling\", \"size\": \"6ms\"}, \"out_of_orderness\": \"2ms\","
     " \"allowed_lateness\": \"3ms\", \"aggregates\": {\"n\": \"count()\", \"l\": "
     "\"last(data)\"}}"),
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

/* The first stage's output for one input event, as the daemon's on_prepared writes it. */
struct first {
    struct proc_engine *e1;
    struct proc_frame frame;
    int64_t offset, time_ms, wm_before;
    int32_t seq;
    struct cm_jw argsw;
    const char *raw;
    size_t rawlen;
};

static void prepared(const json_t *ev, const char *tenant, const char *key, int unchanged,
                     const json_t *args, void *ud)
{
    struct first *f = ud;
    struct proc_frame_entry fe = {.origin = 0,
                                  .offset = f->offset,
                                  .seq = f->seq++,
                                  .wm = f->wm_before, /* the last one's: after it */
                                  .wm_before = f->wm_before,
                                  .time_ms = cm_envelope_time_ms(ev, f->time_ms),
                                  .tenant = tenant,
                                  .key = key,
                                  .traceparent =
                                      json_string_value(json_object_get(ev, "traceparent"))};
    /* as the daemon, and every fifth event without them, as one whose arguments are too large
     * to carry: the second stage evaluates them from the event alike */
    if (args && f->seq % 5 != 0) {
        cm_jw_reset(&f->argsw);
        cm_jw_value(&f->argsw, args);
        fe.args = cm_jw_text(&f->argsw, &fe.argslen);
        if (fe.argslen > PROC_FRAME_ARGS_MAX) {
            fe.args = NULL;
            fe.argslen = 0;
        }
    }
    char *text = unchanged ? NULL : cm_envelope_serialize(ev);
    fe.raw = text ? text : f->raw;
    fe.rawlen = text ? strlen(text) : f->rawlen;
    proc_frame_add(&f->frame, &fe);
    free(text);
}

/* The second stage's checkpoint of its partition: what the daemon's proc_ckpt writes to Redis. */
struct ckpt {
    int taken, has_source;
    int64_t max_time, resume, swm;
    json_t *keys; /* name -> state text */
    struct proc_origin marks[4];
    size_t nmarks;
    int32_t rorigin[4];
    int64_t rwm[4];
    int ridle[4];
    size_t nreports;
    size_t outputs; /* outputs the uninterrupted second stage had emitted when it was taken */
};

/* A key's state under "k:<name>", a block of its ids under "d<n>:<name>", as in Redis. */
static void ckpt_key(const char *name, int block, const char *state, size_t len, void *ud)
{
    if (state) {
        char *f = block == PROC_KEY_STATE ? cm_xasprintf("k:%s", name)
                                          : cm_xasprintf("d%d:%s", block, name);
        json_object_set_new(ud, f, json_stringn(state, len));
        free(f);
    }
}

static void ckpt_report(int32_t origin, int64_t wm, int idle, int64_t sent_ms, void *ud)
{
    (void)sent_ms;
    struct ckpt *c = ud;
    if (c->nreports < 4) {
        c->rorigin[c->nreports] = origin;
        c->rwm[c->nreports] = wm;
        c->ridle[c->nreports++] = idle;
    }
}

static void ckpt_source(int32_t source, int64_t max_time, int64_t resume, struct proc_windows *w,
                        void *ud)
{
    (void)source;
    (void)resume;
    struct ckpt *c = ud;
    c->has_source = 1;
    c->max_time = max_time;
    proc_windows_set_full(w, 1);
    proc_windows_changes(w, ckpt_key, c->keys);
}

static void take_ckpt(struct proc_engine *e2, int64_t position, size_t outputs, struct ckpt *c)
{
    c->taken = 1;
    c->keys = json_object();
    c->resume = position;
    c->outputs = outputs;
    proc_engine_each_source(e2, ckpt_source, c);
    const struct proc_origin *marks;
    size_t n = proc_engine_marks(e2, 0, &marks);
    for (size_t i = 0; i < n && i < 4; i++) {
        c->marks[c->nmarks++] = marks[i];
    }
    c->swm = proc_engine_source_watermark(e2, 0, ckpt_report, c);
}

/* A fresh second stage restored from c, as the daemon's proc_ckpt_load does. */
static void restore_ckpt(struct proc_engine *e3, const struct ckpt *c)
{
    if (!c->has_source) {
        return; /* nothing read from the partition yet: no checkpoint of it */
    }
    struct proc_windows *w = proc_engine_restore_source(e3, 0, c->max_time, c->resume, 0);
    if (c->swm > INT64_MIN) {
        proc_engine_restore_watermark(e3, 0, c->swm);
    }
    for (size_t i = 0; i < c->nreports; i++) {
        proc_engine_restore_report(e3, 0, c->rorigin[i], c->rwm[i], c->ridle[i], 0);
    }
    for (size_t i = 0; i < c->nmarks; i++) {
        proc_engine_restore_mark(e3, 0, &c->marks[i]);
    }
    const char *name;
    json_t *v;
    for (int pass = 0; pass < 2; pass++) { /* the keys, then the blocks of their ids */
        json_object_foreach(c->keys, name, v)
        {
            unsigned block;
            int at = 0;
            json_t *state = json_loads(json_string_value(v), 0, NULL);
            int rc = !state ? -1
                     : pass == 0 && strncmp(name, "k:", 2) == 0
                         ? proc_windows_restore(w, name + 2, state)
                     : pass == 1 && sscanf(name, "d%u:%n", &block, &at) == 1 && at > 0
                         ? proc_windows_restore_ids(w, name + at, block, state)
                         : 0;
            if (rc != 0) {
                abort(); /* a key's checkpoint form does not restore */
            }
            json_decref(state);
        }
    }
    if (proc_windows_restored(w) != 0) {
        abort(); /* a key lacks a block of its ids */
    }
    proc_windows_set_full(w, 0);
}

/* The second stage reads the frame back, with the daemon's own step for each entry. */
static void second(struct proc_engine *e2, const struct proc_frame *fr, int64_t offset, int64_t now)
{
    size_t pos = 0;
    struct proc_frame_entry fe;
    int rc;
    while ((rc = proc_frame_next(fr->buf, fr->len, &pos, &fe)) == 1) {
        const char *why;
        if (proc_engine_take_entry(e2, 0, &fe, offset, 0, now, &why) != 0) {
            abort(); /* the first stage wrote an event the second cannot read */
        }
    }
    if (rc < 0) {
        abort(); /* a frame the first stage wrote does not read back */
    }
}

/* The frames the first stage wrote, kept to be read again after the checkpoint. */
struct sent {
    char *buf;
    size_t len;
    int64_t line;
};

/* Returns how many outputs the uninterrupted second stage had emitted at the checkpoint
 * (SIZE_MAX when the input was too short for one). */
static size_t run(const struct proc_def *d, const char *in, size_t size, struct outs *one,
                  struct outs *two, struct outs *restored)
{
    struct proc_engine_out o1 = outs_sink(one), o2 = outs_sink(two), o3 = outs_sink(restored);
    struct proc_engine *e = proc_engine_new(d, &o1, NULL);
    /* emits nothing itself but the dead letters of the events it cannot process */
    struct proc_engine *e1 = proc_engine_new(d, &o2, NULL);
    struct proc_engine *e2 = proc_engine_new(d, &o2, NULL);
    const int32_t origins[] = {0};
    proc_engine_use_reports(e2, origins, 1);
    proc_engine_track_changes(e2);
    struct first f = {.e1 = e1};
    size_t pos = 0, nlines = 0, nsent = 0;
    for (size_t i = 0; i < size; i++) {
        nlines += in[i] == '\n';
    }
    struct sent *sent = cm_xcalloc(nlines + 1, sizeof(*sent));
    struct ckpt c = {0};
    int64_t line = 0, ckpt_line = (int64_t)(nlines / 2);
    while (pos < size) {
        const char *nl = memchr(in + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (in + pos)) : size - pos;
        struct cm_event ev;
        const char *why;
        if (cm_event_from_text(in + pos, len, outs_record_time(line), CM_EVENT_OBJECT, &ev, &why) ==
            0) {
            proc_engine_process(e, 0, ev.ev, ev.time_ms, line, line);
            f.offset = line;
            f.time_ms = ev.time_ms;
            f.seq = 0;
            f.wm_before = proc_engine_origin_wm(e1, 0);
            f.raw = in + pos;
            f.rawlen = len;
            proc_frame_reset(&f.frame);
            proc_engine_prepare(e1, 0, ev.ev, ev.time_ms, PROC_NO_RECORD_TIME, line, prepared, &f);
            proc_frame_set_last_wm(&f.frame, 0, f.offset, proc_engine_origin_wm(e1, 0));
            if (f.frame.count > 0) { /* the daemon sends no empty frame */
                second(e2, &f.frame, line, line);
                if (c.taken) {
                    char *copy = cm_xmalloc(f.frame.len);
                    memcpy(copy, f.frame.buf, f.frame.len);
                    sent[nsent++] = (struct sent){copy, f.frame.len, line};
                }
            }
            cm_event_clear(&ev);
        }
        if (line == ckpt_line) {
            take_ckpt(e2, line + 1, two->n, &c);
            /* a rebalance: the daemon tells the second stage its input partitions again */
            proc_engine_use_reports(e2, origins, 1);
        }
        line++;
        pos += len + 1;
    }
    /* the first stage's periodic report: the input partition's watermark after its last event
     * (which the one stage has reached; early firings there may come before the flush) */
    int64_t last_wm = proc_engine_origin_wm(e1, 0);
    if (last_wm > INT64_MIN) {
        proc_engine_report(e2, 0, 0, last_wm, 0, line);
    }
    proc_engine_watermark(e, PROC_WATERMARK_MAX);
    proc_engine_watermark(e2, PROC_WATERMARK_MAX);
    if (c.taken) { /* another instance takes the partition over from the checkpoint */
        struct proc_engine *e3 = proc_engine_new(d, &o3, NULL);
        proc_engine_use_reports(e3, origins, 1);
        /* it already holds another partition, whose reports are far ahead: they must not
         * bear on the partition taken over */
        proc_engine_report(e3, 1, 0, INT64_MAX / 4, 0, 0);
        restore_ckpt(e3, &c);
        for (size_t i = 0; i < nsent; i++) {
            struct proc_frame fr = {.buf = sent[i].buf, .len = sent[i].len};
            second(e3, &fr, sent[i].line, sent[i].line);
        }
        if (last_wm > INT64_MIN) {
            proc_engine_report(e3, 0, 0, last_wm, 0, line);
        }
        proc_engine_watermark(e3, PROC_WATERMARK_MAX);
        proc_engine_free(e3);
    }
    for (size_t i = 0; i < nsent; i++) {
        free(sent[i].buf);
    }
    free(sent);
    json_decref(c.keys);
    proc_frame_free(&f.frame);
    cm_jw_free(&f.argsw);
    proc_engine_free(e);
    proc_engine_free(e1);
    proc_engine_free(e2);
    return c.taken ? c.outputs : SIZE_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1); /* exactly size bytes, so reading past them is caught */
    memcpy(in, data, size);
    for (size_t i = 0; i < NDEFS; i++) {
        struct proc_def *d = outs_def(defs[i]);
        struct outs one = {0}, two = {0}, restored = {0}, after = {0};
        size_t at = run(d, in, size, &one, &two, &restored);
        if (at != SIZE_MAX) { /* what the uninterrupted one emitted after the checkpoint */
            outs_tail(&after, &two, at);
            /* but for the first stage's dead letters (it goes on where it was; the restored
             * instance takes over the second stage's partition only) */
            size_t kept = 0;
            for (size_t k = 0; k < after.n; k++) {
                if (strncmp(after.v[k].key, "(dead)", 6) == 0) {
                    free(after.v[k].key);
                    free(after.v[k].text);
                } else {
                    after.v[kept++] = after.v[k];
                }
            }
            after.n = kept;
        }
        if (at != SIZE_MAX && !outs_same(&after, &restored, 1)) {
            if (getenv("FUZZ_DUMP")) {
                fprintf(stderr, "== restored from the checkpoint: %s\n", defs[i]);
            }
            abort(); /* a second stage restored from its checkpoint emitted something else */
        }
        outs_free(&restored);
        outs_free(&after);
        if (!outs_same(&one, &two, 1)) {
            if (getenv("FUZZ_DUMP")) {
                fprintf(stderr, "== %s\n", defs[i]);
            }
            abort(); /* the two stages emitted something else than the one */
        }
        outs_free(&one);
        outs_free(&two);
        proc_def_free(d);
    }
    free(in);
    return 0;
}
