/* fuzz_gw_body: libFuzzer target for the gateway's request-body decoder (gw_body_parse): the
 * first input byte picks the Content-Type and Content-Encoding (JSON, CloudEvents, batch,
 * NDJSON, unknown; identity, gzip, unknown), the rest is the body. Exercises JSON parsing of
 * single events and batches, NDJSON lines, gzip decoding under the size cap (bombs), and the
 * event-count cap. Crashes, sanitizer reports and leaks are findings. */
#include "../../services/gateway/gw_body.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "application/json",
        "application/cloudevents+json; charset=utf-8",
        "application/cloudevents-batch+json",
        "application/x-ndjson",
        "text/plain",
        NULL,
        "application/json; charset=latin1",
        "APPLICATION/JSON",
    };
    static const char *const encodings[] = {NULL, "gzip", "identity", "br"};
    if (size == 0) {
        return 0;
    }
    const char *type = types[data[0] & 7];
    const char *encoding = encodings[(data[0] >> 3) & 3];
    struct gw_body body;
    char msg[300];
    if (gw_body_parse(type, encoding, (const char *)data + 1, size - 1, 65536, 50, &body, msg,
                      sizeof(msg)) == 0) {
        gw_body_clear(&body);
    }
    return 0;
}
