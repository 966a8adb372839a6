/* fuzz_jsonscan: differential libFuzzer target for common/jsonscan against jansson
 * (json_loadb with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY): a document the scanner accepts
 * without marking it unsure, jansson accepts; one the scanner calls invalid, jansson refuses;
 * (but for a NUL-byte quirk of jansson's, see below); and for an accepted object or array, every
 * member's and element's span reads (with jansson) to the value jansson found there, and an
 * unescaped string span is its value; members gathered while scanning an array are the ones a
 * second pass finds. A difference aborts. */
#include "cm/jsonscan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;

/* The span reads to want. */
static void check_span(const struct cm_jscan_span *s, const json_t *want)
{
    if (s->type == 's') {
        if (!json_is_string(want)) {
            abort();
        }
        if (!s->escaped && (json_string_length(want) != s->len ||
                            memcmp(json_string_value(want), s->text, s->len) != 0)) {
            abort();
        }
        return;
    }
    json_t *got = json_loadb(s->text, s->len, flags, NULL);
    if (!got || !json_equal(got, want)) {
        abort();
    }
    json_decref(got);
}

static int same_span(const struct cm_jscan_span *a, const struct cm_jscan_span *b)
{
    return a->text == b->text && a->len == b->len && a->type == b->type && a->escaped == b->escaped;
}

/* Members gathered during an array scan are the ones cm_jscan_members finds. */
static void same_members(const struct cm_jscan_span *el)
{
    if (!el->members) {
        return;
    }
    struct cm_jscan_member m[8];
    size_t n;
    if (cm_jscan_members(el, m, 8, &n) != 0 || n != el->nmembers) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (!same_span(&m[i].key, &el->members[i].key) ||
            !same_span(&m[i].value, &el->members[i].value)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *want = json_loadb(text, size, flags, NULL);
    struct cm_jscan_span v;
    int rc = cm_jscan_document(text, size, &v);
    /* jansson reads a NUL byte right after a top-level number as the end ("2\0" is 2): the
     * scanner refuses such text, leaving it to jansson, so NUL bytes skip that direction */
    int has_nul = memchr(text, '\0', size) != NULL;
    if ((rc == 0 && !v.unsure && !want) || (rc == CM_JSCAN_INVALID && want && !has_nul)) {
        abort();
    }
    if (rc == 0 && !v.unsure) {
        check_span(&v, want);
        struct cm_jscan_member m[8];
        size_t n = 0;
        if (v.type == 'o' && cm_jscan_members(&v, m, 8, &n) == 0) {
            if (n != json_object_size(want)) {
                abort();
            }
            for (size_t i = 0; i < n; i++) {
                if (!m[i].key.escaped) {
                    char key[256];
                    if (m[i].key.len >= sizeof(key)) {
                        continue;
                    }
                    memcpy(key, m[i].key.text, m[i].key.len);
                    key[m[i].key.len] = '\0';
                    const json_t *mv = json_object_get(want, key);
                    if (!mv) {
                        abort();
                    }
                    check_span(&m[i].value, mv);
                }
            }
        }
        struct cm_jscan_span e[8];
        struct cm_jscan_member pool[6];
        int arc = cm_jscan_array(text, size, e, 8, &n, pool, 6);
        if (v.type == 'a' && arc == 0) {
            if (n != json_array_size(want)) {
                abort();
            }
            for (size_t i = 0; i < n; i++) {
                if (!e[i].unsure) {
                    check_span(&e[i], json_array_get(want, i));
                }
                same_members(&e[i]);
            }
        } else if (v.type != 'a' && arc != CM_JSCAN_INVALID) {
            abort();
        }
    }
    json_decref(want);
    return 0;
}
