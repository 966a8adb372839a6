/* fuzz_gw_binary: libFuzzer target for the CloudEvents binary mode (gw_binary_event): the input
 * is lines "name: value" (headers, any bytes, up to 16 of them), a blank line, then the body;
 * the first header line whose name is "content-type" gives the Content-Type. Exercises header
 * names, percent-decoding and the ISO-8859-1 fallback, and the body as JSON, text or bytes. A
 * built event must be a JSON object whose string values are valid UTF-8 (jansson would refuse to
 * hold anything else). Crashes, sanitizer reports and leaks are findings. */
#include "../../services/gateway/gw_binary.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct gw_header h[16];
    size_t n = 0;
    const char *ct = NULL;
    char *p = copy, *end = copy + size;
    while (p < end && n < 16) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p) {
            p = nl ? nl + 1 : end; /* the blank line: the body follows */
            break;
        }
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            const char *value = colon + 1 + (colon[1] == ' ');
            if (strcasecmp(p, "content-type") == 0) {
                ct = value;
            } else {
                h[n++] = (struct gw_header){p, value};
            }
        }
        p = nl + 1;
    }
    char msg[300];
    (void)gw_binary_mode(h, n, ct);
    json_t *ev = gw_binary_event(h, n, ct, p, (size_t)(end - p), msg, sizeof(msg));
    if (ev && !json_is_object(ev)) {
        abort();
    }
    json_decref(ev);
    free(copy);
    return 0;
}
