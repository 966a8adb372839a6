/* fuzz_envelope_text: differential libFuzzer target for the envelope's fast lane
 * (cm_envelope_enrich_text) against the jansson lane (json_loadb, cm_envelope_validate,
 * cm_envelope_enrich): whatever the fast lane enriches, jansson must find valid, and the fast
 * lane's text must read to the jansson lane's event, members in the same order, with the same
 * Kafka key, headers and data; generated ids and traceparents are random, so they are compared
 * by format and then taken from the fast lane; an event whose time is too far ahead is left to
 * the jansson lane. The first input byte picks the enrichment (and the bound on time) and
 * whether the event is scanned alone or as the element of a batch (members gathered). */
#include "cm/envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
    if (!ok) {
        abort();
    }
}

/* Same keys in the same order, equal values. */
static void same_event(const json_t *a, const json_t *b)
{
    must(json_equal(a, b));
    void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
    while (ia && ib) {
        must(strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) == 0);
        ia = json_object_iter_next((json_t *)a, ia);
        ib = json_object_iter_next((json_t *)b, ib);
    }
    must(!ia && !ib);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const char *tenants[] = {NULL, "acme", "t\"q", "\xc3\xa9t\xc3\xa9"};
    /* the receive time formatted by the caller (once per request) or per event */
    struct cm_envelope_enrichment e = {
        tenants[data[0] & 3], (data[0] & 4) ? "10.1.2.3" : NULL, 1700000000123,
        (data[0] & 16) ? "2023-11-14T22:13:20.123Z" : NULL, (data[0] & 32) ? 3600000 : 0};
    const char *text = (const char *)data + 1;
    size--;
    struct cm_envelope_text t;
    struct cm_jscan_span ev;
    static char scratch[2048]; /* odd sizes write into it, even ones allocate */
    char *batch = NULL;
    struct cm_jscan_member pool[40];
    int scanned;
    if (data[0] & 8) { /* as the element of a batch: its members gathered by the array scan */
        size_t n;
        batch = malloc(size + 2);
        batch[0] = '[';
        memcpy(batch + 1, text, size);
        batch[size + 1] = ']';
        scanned = cm_jscan_array(batch, size + 2, &ev, 1, &n, pool, 40) == 0 && n == 1;
    } else {
        scanned = cm_jscan_document(text, size, &ev) == 0;
    }
    if (!scanned ||
        cm_envelope_enrich_text(&ev, &e, size % 2 ? scratch : NULL, sizeof(scratch), &t) != 0) {
        free(batch);
        return 0; /* the jansson lane takes it: always allowed */
    }
    json_t *want = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    must(want && cm_envelope_validate(want, NULL) == 0 &&
         cm_envelope_check_time(want, &e, NULL) == 0);
    int had_id = json_object_get(want, "id") != NULL;
    const char *tp0 = json_string_value(json_object_get(want, "traceparent"));
    int had_tp = tp0 && cm_traceparent_valid(tp0);
    cm_envelope_enrich(want, &e);
    json_t *got = json_loadb(t.json, t.len, JSON_REJECT_DUPLICATES, NULL);
    must(got != NULL);
    /* random parts: well formed, then the fast lane's */
    const char *gid = json_string_value(json_object_get(got, "id"));
    const char *gtp = json_string_value(json_object_get(got, "traceparent"));
    must(gid && gtp && cm_traceparent_valid(gtp) && strcmp(gid, t.id) == 0);
    if (!had_id) {
        must(strlen(gid) == 36);
        json_object_set_new(want, "id", json_string(gid));
    }
    if (!had_tp) {
        json_object_set_new(want, "traceparent", json_string(gtp));
    }
    same_event(got, want);
    /* what expressions see: all members named, the event; all but data, the event without it */
    const char *fields[48];
    size_t nn = 0;
    const char *k;
    json_t *mv;
    json_object_foreach(got, k, mv)
    {
        fields[nn++] = k;
    }
    json_t *members = cm_envelope_text_members(&t, fields, nn);
    must(json_equal(members, got));
    json_decref(members);
    size_t nd = 0;
    for (size_t i = 0; i < nn; i++) {
        if (strcmp(fields[i], "data") != 0) {
            fields[nd++] = fields[i];
        }
    }
    members = cm_envelope_text_members(&t, fields, nd);
    json_t *no_data = json_copy(got);
    json_object_del(no_data, "data");
    must(json_equal(members, no_data));
    json_decref(no_data);
    json_decref(members);
    /* key, headers and data, as the jansson lane derives them from the same event */
    const char *key = cm_envelope_key(got);
    must(key && strlen(key) == t.keylen && memcmp(key, t.key, t.keylen) == 0);
    const char *names[CM_ENVELOPE_MAX_HEADERS], *values[CM_ENVELOPE_MAX_HEADERS];
    size_t nh = cm_envelope_headers(got, names, values);
    must(nh == t.nheaders);
    for (size_t i = 0; i < nh; i++) {
        must(strcmp(names[i], t.header_names[i]) == 0 &&
             strcmp(values[i], t.header_values[i]) == 0);
    }
    must(strcmp(t.type, json_string_value(json_object_get(got, "type"))) == 0);
    const json_t *gdata = json_object_get(got, "data");
    must(!gdata == !t.data);
    if (t.data) {
        json_t *d = json_loadb(t.data, t.datalen, JSON_DECODE_ANY, NULL);
        must(d && json_equal(d, gdata));
        json_decref(d);
    }
    /* schemaid goes last */
    cm_envelope_text_set_schemaid(&t, 42);
    json_object_set_new(want, "schemaid", json_integer(42));
    json_decref(got);
    got = json_loadb(t.json, t.len, JSON_REJECT_DUPLICATES, NULL);
    must(got && strlen(t.json) == t.len);
    same_event(got, want);
    json_decref(got);
    json_decref(want);
    cm_envelope_text_free(&t);
    free(batch);
    return 0;
}
