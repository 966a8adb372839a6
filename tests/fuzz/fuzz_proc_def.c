/* fuzz_proc_def: libFuzzer target for pipeline definitions (PUT /pipelines/{name} takes them from
 * any admin client, and PROCESSOR_PIPELINES_DIR from files). Whatever JSON comes, the parser either
 * returns a definition or an error that names a field ("field: reason", or the whole document),
 * never both or neither;
 * an accepted definition is parsed again from its own document to the same name and steps, and
 * its warnings (proc_def_warnings) are NULL or messages naming a field. */
#include "../../services/processor/proc_def.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!doc) {
        return 0;
    }
    char err[512] = "";
    struct proc_def *d = proc_def_parse(doc, "events", "derived", err, sizeof(err));
    /* an error names its field ("window.size: ..."), or the document ("a pipeline is ...") */
    if (d ? err[0] != '\0'
          : err[0] == '\0' || (!strchr(err, ':') && strncmp(err, "a pipeline ", 11) != 0)) {
        abort(); /* an answer and an error, or neither, or an error naming nothing */
    }
    if (d) {
        char err2[512] = "";
        struct proc_def *again = proc_def_parse(d->doc, "events", "derived", err2, sizeof(err2));
        if (!again || strcmp(again->name, d->name) != 0 || again->nsteps != d->nsteps) {
            abort();
        }
        proc_def_free(again);
        /* its warnings, when any, are a non-empty list of messages each naming a field */
        json_t *w = proc_def_warnings(d);
        if (w && (json_array_size(w) == 0 ||
                  !strstr(json_string_value(json_array_get(w, 0)), ": reads data."))) {
            abort();
        }
        json_decref(w);
    }
    proc_def_free(d);
    json_decref(doc);
    return 0;
}
