/* pipeline-run: the processor's engine offline. `pipeline-run DEF.json < in.ndjson` reads one
 * JSON value per line: a CloudEvent (its `time` is the event time), {"watermark": "<RFC 3339>"}
 * / {"watermark": "max"}, a join table's row or {"partition": N} (proc_offline.h), and prints
 * each result as one JSON line (the result CloudEvent), each late event as {"late": <event>} and
 * each event the pipeline cannot process (an expression fails on it) as
 * {"dead_letter": <event>, "error": "<field>: <reason>"};
 * a pipeline with "batch" prints batch events instead (closed when full and at the end of the
 * input). Watermark lines raise the watermark as they come (the automatic one still applies; the
 * larger wins); at the end of the input nothing more is emitted unless a {"watermark": "max"}
 * line flushed every window. What looks wrong about a valid definition (an expression reading a
 * field of data that the steps before it never make) is printed on stderr as a warning, and the
 * run goes on. Exit status: 0; 2 usage; 65 when a line was none of these (each
 * reported on stderr with its line number, the rest still processed); 78 when the definition is
 * invalid. */
#include "../proc_batch.h"
#include "../proc_def.h"
#include "../proc_engine.h"
#include "../proc_offline.h"

#include "cm/config.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/text.h"

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
    struct proc_offline in;     /* first: the engine's lookup reads its tables */
    struct proc_batcher *batch; /* NULL: no "batch" */
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

static void on_late(const struct proc_def *d, const json_t *ev, void *ud)
{
    (void)d;
    (void)ud;
    json_t *wrap = json_pack("{s:O}", "late", (json_t *)ev);
    print_json(wrap);
    json_decref(wrap);
}

static void on_dead_letter(const struct proc_def *d, const json_t *ev, const char *why, void *ud)
{
    (void)d;
    (void)ud;
    json_t *wrap = json_pack("{s:O, s:s}", "dead_letter", (json_t *)ev, "error", why);
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
    json_t *warnings = proc_def_warnings(d);
    for (size_t i = 0; i < json_array_size(warnings); i++) {
        fprintf(stderr, "%s: warning: %s\n", argv[1],
                json_string_value(json_array_get(warnings, i)));
    }
    json_decref(warnings);
    struct run run = {.batch = d->batch_max > 0 ? proc_batcher_new(d, on_batch, NULL) : NULL};
    struct proc_engine_out out = {.emit = on_emit,
                                  .late = on_late,
                                  .lookup = proc_offline_lookup,
                                  .dead_letter = on_dead_letter,
                                  .refused = on_dead_letter,
                                  .ud = &run};
    struct proc_engine *e = proc_engine_new(d, &out, NULL);
    proc_offline_init(&run.in, e);
    char *line = NULL;
    size_t cap = 0;
    long len, lineno = 0;
    int status = 0;
    while ((len = cm_read_line(stdin, &line, &cap)) >= 0) {
        const char *why;
        if (proc_offline_take(&run.in, line, (size_t)len, ++lineno, &why) != 0) {
            fprintf(stderr, "line %ld: %s\n", lineno, why);
            status = 65;
        }
    }
    free(line);
    if (run.batch) {
        proc_batcher_flush(run.batch);
        proc_batcher_free(run.batch);
    }
    proc_offline_clear(&run.in);
    fflush(stdout);
    proc_engine_free(e);
    proc_def_free(d);
    return status;
}
