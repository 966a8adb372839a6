/* fuzz_proc_horizon: libFuzzer target for the event-time horizons the processor reads back from
 * Kafka's offset metadata (a group's committed offsets anyone with access to the group can
 * write). Whatever text comes, the reader stays inside it and either refuses it or finds the
 * entry asked for; an entry it finds, written again, reads back to the same numbers. The input's
 * first byte picks the version asked for; the name is "p". A difference aborts. */
#include "../../services/processor/proc_horizon.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    char key[PROC_HORIZON_KEY_MAX];
    proc_horizon_key(key, sizeof(key), "p", data[0] % 4, "d");
    char *text = malloc(size); /* the rest, NUL-terminated: exactly as long as it must be */
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    int64_t pos = -7, wm = -7;
    int rc = proc_horizon_find(text, key, &pos, &wm);
    if (rc < -1 || rc > 1 || (rc != 1 && (pos != -7 || wm != -7))) {
        abort();
    }
    if (rc == 1) {
        if (pos < 0) {
            abort();
        }
        struct proc_horizon_text t = {.len = 0};
        int64_t pos2, wm2;
        if (proc_horizon_add(&t, key, pos, wm) != 0 ||
            proc_horizon_find(t.text, key, &pos2, &wm2) != 1 || pos2 != pos || wm2 != wm) {
            abort();
        }
    }
    free(text);
    return 0;
}
