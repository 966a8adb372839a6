/* jcs: `jcs [--without NAME]...` reads JSON documents, one per line, on standard input and prints
 * each in the JSON Canonicalization Scheme (RFC 8785) form, one per line: the bytes a producer
 * signs (`jcs --without signature < event.json | openssl pkeyutl -sign -rawin ...`). --without
 * drops a top-level member first. Exit status: 0, 1 when a line is not JSON (reported on
 * standard error, the line skipped), 2 for bad usage. */
#include "cm/jsonw.h"
#include "cm/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WITHOUT 16

int main(int argc, char **argv)
{
    const char *without[MAX_WITHOUT];
    size_t nwithout = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--without") == 0 && i + 1 < argc && nwithout < MAX_WITHOUT) {
            without[nwithout++] = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--without NAME]... < documents.ndjson\n", argv[0]);
            return 2;
        }
    }
    int status = 0;
    char *line = NULL;
    size_t cap = 0;
    long n;
    unsigned long lineno = 0;
    while ((n = cm_read_line(stdin, &line, &cap)) >= 0) {
        lineno++;
        if (n == 0) {
            continue;
        }
        json_error_t err;
        /* numbers are IEEE 754 doubles in I-JSON: read them so, whatever their size */
        json_t *doc = json_loadb(line, (size_t)n,
                                 JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
                                     JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                                 &err);
        if (!doc) {
            fprintf(stderr, "line %lu: %s\n", lineno, err.text);
            status = 1;
            continue;
        }
        for (size_t i = 0; i < nwithout; i++) {
            json_object_del(doc, without[i]);
        }
        size_t len;
        char *canon = cm_json_dumps_canonical(doc, &len);
        if (!canon) {
            fprintf(stderr, "line %lu: a number is not finite or the document nests too deep\n",
                    lineno);
            status = 1;
        } else {
            fwrite(canon, 1, len, stdout);
            fputc('\n', stdout);
            free(canon);
        }
        json_decref(doc);
    }
    free(line);
    return status;
}
