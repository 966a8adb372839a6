/* pipeline-run: the processor's engine offline. `pipeline-run DEF.json < in.ndjson` reads one
 * JSON value per line: a CloudEvent (its `time` is the event time) or {"watermark": "<RFC 3339>"}
 * / {"watermark": "max"}, and prints each result as one JSON line (the result CloudEvent) and
 * each late event as {"late": <event>}; a pipeline with "batch" prints batch events instead (closed
 * when full and at the end of the input). Watermark lines raise the watermark as they come (the
 * automatic one still applies; the larger wins); at the end of the input nothing more is
 * emitted unless a {"watermark": "max"} line flushed every window. Input lines are the events of
 * one partition, in order. Lines {"table": "<topic>", "key": "<key>", "value": <JSON>} fill the
 * tables of join steps (a null value deletes the key). Exit status: 0; 2 usage; 65 when a line was
 * not an event or a watermark (each reported on stderr with its line number, the rest still
 * processed); 78 when the definition is invalid. */
#include "../proc_batch.h"
#include "../proc_def.h"
#include "../proc_engine.h"
#include "../proc_table.h"

#include "cm/config.h"
#include "cm/event.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json(const json_t *v)
{
    char *text = cm_json_dumps(v, NULL);
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
}

static void on_batch(const struct proc_def *d, const json_t *batch, void *ud)
{
    (void)d;
    (void)ud;
    print_json(batch);
}

struct run {
    struct proc_batcher *batch; /* NULL: no "batch" */
    json_t *tables;             /* the input's table entries */
};

static void on_emit(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    struct run *r = ud;
    if (r->batch) {
        proc_batcher_add(r->batch, ev, 0); /* offline: batches close when full and at the end */
    } else {
        print_json(ev);
    }
}

static json_t *lookup(const char *topic, const char *key, void *ud)
{
    struct run *r = ud;
    return proc_tables_fixed_lookup(topic, key, r->tables);
}

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ud;
    json_t *wrap = json_pack("{s:O}", "late", (json_t *)ev);
    print_json(wrap);
    json_decref(wrap);
}

int main(int argc, char **argv)
{
    cm_log_init("pipeline-run");
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: pipeline-run DEF.json < events.ndjson\n");
        return argc == 2 ? 0 : 2;
    }
    char err[512];
    struct proc_def *d = proc_def_load_file(argv[1], "events", "derived", err, sizeof(err));
    if (!d) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return CM_CONFIG_EXIT_BAD;
    }
    struct run run = {d->batch_max > 0 ? proc_batcher_new(d, on_batch, NULL) : NULL, json_object()};
    struct proc_engine_out out = {.emit = on_emit, .late = on_late, .lookup = lookup, .ud = &run};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    char *line = NULL;
    size_t cap = 0;
    long len, lineno = 0;
    int status = 0;
    while ((len = cm_read_line(stdin, &line, &cap)) >= 0) {
        lineno++;
        int64_t wm;
        const char *why = NULL;
        json_t *v = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
        int kind = json_is_object(v) ? proc_engine_watermark_input(v, &wm, &why) : -1;
        int table = kind == 0 ? proc_tables_fixed_entry(run.tables, v, &why) : 0;
        kind = table < 0 ? -1 : kind;
        if (kind < 0 && !why) {
            why = v ? "not a JSON object" : "not JSON";
        }
        json_decref(v);
        if (table == 1) {
            continue;
        }
        if (kind == 1) {
            proc_engine_watermark(e, wm);
            continue;
        }
        struct cm_event ev;
        if (kind == 0 &&
            cm_event_from_text(line, (size_t)len, INT64_MIN, CM_EVENT_ENVELOPE, &ev, &why) == 0) {
            if (ev.time_ms == INT64_MIN) {
                why = "an event needs a `time`";
            } else {
                proc_engine_process(e, 0, ev.ev, ev.time_ms, lineno, 0);
            }
            cm_event_clear(&ev);
        }
        if (why || kind < 0) {
            fprintf(stderr, "line %ld: %s\n", lineno, why);
            status = 65;
        }
    }
    free(line);
    if (run.batch) {
        proc_batcher_flush(run.batch);
        proc_batcher_free(run.batch);
    }
    json_decref(run.tables);
    fflush(stdout);
    proc_engine_free(e);
    proc_def_free(d);
    return status;
}
