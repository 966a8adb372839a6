/* Unit tests of the processor's repartition frames: entries read back exactly as written (with
 * and without traceparent and arguments, extreme integers, empty strings, bytes with NULs in the
 * event), a version-1 frame (an older processor's) still read, an entry's size is what it takes, a
 * frame takes entries up to its limit or a single larger one, a reused frame starts over, and
 * hostile bytes (every truncation, an unknown version byte, lengths past the end or absent where
 * required, a missing terminator, a NUL inside a key) are refused without reading outside the
 * record (the sanitizer build checks); route keys are "<tenant>/<key>" cut as snprintf would cut
 * them; the last entry of a record takes the watermark after it, and only that one. */
#include "../../services/processor/proc_frame.h"
#include "../../services/processor/proc_time.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char RAW2[] = "{\"id\":\"b\"}\0tail";

static void fill(struct proc_frame *f)
{
    struct proc_frame_entry a = {.origin = 65537,
                                 .offset = 123456789012LL,
                                 .seq = 3,
                                 .wm = INT64_MIN,
                                 .wm_before = INT64_MIN,
                                 .time_ms = -5,
                                 .tenant = "acme",
                                 .key = "m42",
                                 .traceparent =
                                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                 .args = "[12,\"x\"]",
                                 .argslen = 8,
                                 .raw = "{\"id\":\"a\"}",
                                 .rawlen = 10};
    struct proc_frame_entry b = {.origin = 0,
                                 .offset = INT64_MAX,
                                 .seq = 0,
                                 .wm = 1767225600000LL,
                                 .wm_before = 1767225599990LL,
                                 .time_ms = 1767225600001LL,
                                 .tenant = "",
                                 .key = "",
                                 .raw = RAW2,
                                 .rawlen = sizeof(RAW2) - 1};
    proc_frame_add(f, &a);
    proc_frame_add(f, &b);
}

static void check_entries(const struct proc_frame *f)
{
    size_t pos = 0;
    struct proc_frame_entry e;
    cr_assert_eq(proc_frame_next(f->buf, f->len, &pos, &e), 1);
    cr_assert_eq(e.origin, 65537);
    cr_assert_eq(e.offset, 123456789012LL);
    cr_assert_eq(e.seq, 3);
    cr_assert_eq(e.wm, INT64_MIN);
    cr_assert_eq(e.wm_before, INT64_MIN);
    cr_assert_eq(e.time_ms, -5);
    cr_assert_str_eq(e.tenant, "acme");
    cr_assert_str_eq(e.key, "m42");
    cr_assert_str_eq(e.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_assert_eq(e.argslen, 8);
    cr_assert_eq(memcmp(e.args, "[12,\"x\"]", 8), 0);
    cr_assert_eq(e.rawlen, 10);
    cr_assert_eq(memcmp(e.raw, "{\"id\":\"a\"}", 10), 0);

    cr_assert_eq(proc_frame_next(f->buf, f->len, &pos, &e), 1);
    cr_assert_eq(e.origin, 0);
    cr_assert_eq(e.offset, INT64_MAX);
    cr_assert_eq(e.wm, 1767225600000LL);
    cr_assert_eq(e.wm_before, 1767225599990LL);
    cr_assert_eq(e.time_ms, 1767225600001LL);
    cr_assert_str_eq(e.tenant, "");
    cr_assert_str_eq(e.key, "");
    cr_assert_null(e.traceparent);
    cr_assert_null(e.args);
    cr_assert_eq(e.rawlen, sizeof(RAW2) - 1, "bytes after a NUL in the event are kept");
    cr_assert_eq(memcmp(e.raw, RAW2, sizeof(RAW2) - 1), 0);

    cr_assert_eq(proc_frame_next(f->buf, f->len, &pos, &e), 0, "the end");
    cr_assert_eq(pos, f->len);
}

Test(proc_frame, entries_read_back_as_written)
{
    struct proc_frame f = {0};
    fill(&f);
    cr_assert_eq(f.count, 2);
    cr_assert_eq((unsigned char)f.buf[0], PROC_FRAME_VERSION);
    check_entries(&f);
    proc_frame_reset(&f);
    cr_assert_eq(f.count, 0);
    fill(&f); /* a reused frame starts over with its version byte */
    check_entries(&f);
    proc_frame_free(&f);
}

Test(proc_frame, entry_size_is_what_an_entry_takes)
{
    struct proc_frame f = {0};
    fill(&f);
    size_t pos = 0, before = 1;
    struct proc_frame_entry e;
    size_t n = 0;
    while (proc_frame_next(f.buf, f.len, &pos, &e) == 1) {
        cr_assert_eq(proc_frame_entry_size(&e), pos - before, "entry %zu", n);
        before = pos;
        n++;
    }
    cr_assert_eq(n, 2);
    proc_frame_free(&f);
}

Test(proc_frame, a_frame_takes_entries_up_to_its_limit_or_one_large_entry)
{
    const size_t limit = 256 * 1024;
    char *raw = malloc(900 * 1024);
    memset(raw, 'x', 900 * 1024);
    struct proc_frame_entry small = {.tenant = "t", .key = "k", .raw = raw, .rawlen = 4000};
    struct proc_frame_entry big = {.tenant = "t", .key = "k", .raw = raw, .rawlen = 900 * 1024};
    struct proc_frame f = {0};
    cr_assert(proc_frame_fits(&f, &big, limit), "an empty frame takes an entry past the limit");
    size_t n = 0;
    while (proc_frame_fits(&f, &small, limit)) {
        proc_frame_add(&f, &small);
        n++;
    }
    cr_assert_eq(n, (limit - 1) / proc_frame_entry_size(&small), "as many as fit: %zu", n);
    cr_assert_leq(f.len, limit);
    cr_assert_gt(f.len + proc_frame_entry_size(&small), limit);
    cr_assert_not(proc_frame_fits(&f, &big, limit), "a large entry goes into a frame of its own");
    proc_frame_reset(&f);
    cr_assert(proc_frame_fits(&f, &big, limit));
    proc_frame_add(&f, &big);
    cr_assert_not(proc_frame_fits(&f, &small, limit), "nothing joins a frame past its limit");
    cr_assert_eq(f.len, 1 + proc_frame_entry_size(&big));
    proc_frame_free(&f);
    free(raw);
}

Test(proc_frame, a_large_frame_grows)
{
    struct proc_frame f = {0};
    char *raw = malloc(100000);
    memset(raw, 'x', 100000);
    for (int i = 0; i < 50; i++) {
        struct proc_frame_entry e = {
            .seq = i, .tenant = "t", .key = "k", .raw = raw, .rawlen = 100000};
        proc_frame_add(&f, &e);
    }
    size_t pos = 0, n = 0;
    struct proc_frame_entry e;
    int rc;
    while ((rc = proc_frame_next(f.buf, f.len, &pos, &e)) == 1) {
        cr_assert_eq(e.seq, (int32_t)n);
        cr_assert_eq(e.rawlen, 100000);
        n++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, 50);
    free(raw);
    proc_frame_free(&f);
}

/* Reads every entry; returns the last result (0 end, -1 malformed) and counts the entries. */
static int read_all(const char *data, size_t len, size_t *n)
{
    size_t pos = 0;
    struct proc_frame_entry e;
    int rc;
    *n = 0;
    while ((rc = proc_frame_next(data, len, &pos, &e)) == 1) {
        (*n)++;
        cr_assert_leq(pos, len);
    }
    return rc;
}

Test(proc_frame, every_truncation_is_refused)
{
    struct proc_frame f = {0};
    fill(&f);
    size_t first_end = 0;
    {
        struct proc_frame_entry e;
        cr_assert_eq(proc_frame_next(f.buf, f.len, &first_end, &e), 1);
    }
    for (size_t len = 0; len < f.len; len++) {
        /* a copy of exactly len bytes, so the sanitizer sees any read past it */
        char *cut = malloc(len ? len : 1);
        memcpy(cut, f.buf, len);
        size_t n;
        int rc = read_all(cut, len, &n);
        if (len == 1 || len == first_end) {
            cr_assert_eq(rc, 0, "a whole number of entries (%zu bytes)", len);
        } else {
            cr_assert_eq(rc, -1, "truncated at %zu bytes", len);
        }
        cr_assert_eq(n, len >= first_end ? 1u : 0u);
        free(cut);
    }
    proc_frame_free(&f);
}

/* The offset of an entry's tenant length field (after the version byte and 40 bytes of ints). */
#define TENANT_AT (1 + 40)

Test(proc_frame, hostile_bytes_are_refused)
{
    struct proc_frame f = {0};
    fill(&f);
    size_t n;
    char *b = malloc(f.len);

    memcpy(b, f.buf, f.len);
    b[0] = 3; /* an unknown version */
    cr_assert_eq(read_all(b, f.len, &n), -1);
    cr_assert_eq(n, 0);

    memcpy(b, f.buf, f.len); /* a tenant length past the end */
    b[TENANT_AT] = 0x7f;
    cr_assert_eq(read_all(b, f.len, &n), -1);

    memcpy(b, f.buf, f.len); /* a required string absent */
    memset(b + TENANT_AT, 0xff, 4);
    cr_assert_eq(read_all(b, f.len, &n), -1);

    memcpy(b, f.buf, f.len); /* the tenant's terminator overwritten */
    b[TENANT_AT + 4 + 4] = 'x';
    cr_assert_eq(read_all(b, f.len, &n), -1);

    memcpy(b, f.buf, f.len); /* a NUL inside the tenant */
    b[TENANT_AT + 4 + 1] = '\0';
    cr_assert_eq(read_all(b, f.len, &n), -1);

    memcpy(b, f.buf, f.len); /* a control character inside the tenant (state joins tenant and
                                key with one: another tenant could come back from a checkpoint) */
    b[TENANT_AT + 4 + 1] = '\x1f';
    cr_assert_eq(read_all(b, f.len, &n), -1);

    memcpy(b, f.buf, f.len); /* the tenant length one short: the terminator check fails */
    b[TENANT_AT + 3] = 3;
    cr_assert_eq(read_all(b, f.len, &n), -1);

    memcpy(b, f.buf, f.len); /* unchanged: both entries */
    cr_assert_eq(read_all(b, f.len, &n), 0);
    cr_assert_eq(n, 2);
    free(b);

    cr_assert_eq(read_all("", 0, &n), -1, "an empty record is not a frame");
    proc_frame_free(&f);
}

/* A frame's times come from outside the process (anyone with access writes the topic): an entry
 * whose time no event can state, a watermark no state holds or a negative offset is refused, as
 * the first stage never writes one (window arithmetic on them would overflow). */
Test(proc_frame, times_and_offsets_out_of_range_are_refused)
{
    const struct {
        int64_t offset, wm, wm_before, time_ms;
    } bad[] = {
        {0, INT64_MIN, INT64_MIN, INT64_MAX}, {0, INT64_MIN, INT64_MIN, CM_TIME_MIN_MS - 1},
        {0, INT64_MAX, INT64_MIN, 0},         {0, INT64_MIN, INT64_MIN + 1, 0},
        {-1, INT64_MIN, INT64_MIN, 0},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proc_frame f = {0};
        struct proc_frame_entry e = {.offset = bad[i].offset,
                                     .wm = bad[i].wm,
                                     .wm_before = bad[i].wm_before,
                                     .time_ms = bad[i].time_ms,
                                     .tenant = "",
                                     .key = "k",
                                     .raw = "{}",
                                     .rawlen = 2};
        proc_frame_add(&f, &e);
        size_t n;
        cr_assert_eq(read_all(f.buf, f.len, &n), -1, "row %zu", i);
        e = (struct proc_frame_entry){.offset = 0,
                                      .wm = PROC_WATERMARK_MAX,
                                      .wm_before = CM_TIME_MAX_MS,
                                      .time_ms = CM_TIME_MIN_MS,
                                      .tenant = "",
                                      .key = "k",
                                      .raw = "{}",
                                      .rawlen = 2};
        proc_frame_reset(&f);
        proc_frame_add(&f, &e);
        cr_assert_eq(read_all(f.buf, f.len, &n), 0, "the ends of the ranges are read");
        cr_assert_eq(n, 1);
        proc_frame_free(&f);
    }
}

/* A frame an older processor wrote (version 1: no watermark before the event) is still read,
 * during an upgrade, with no watermark before. */
Test(proc_frame, version_1_frames_are_read)
{
    static const unsigned char v1[] = {1,                                       /* version */
                                       0,    0,    0,    7,                     /* origin */
                                       0,    0,    0,    0,    0,   0,   0, 42, /* offset */
                                       0,    0,    0,    1,                     /* seq */
                                       0,    0,    0,    0,    0,   0,   0, 9,  /* watermark */
                                       0,    0,    0,    0,    0,   0,   0, 10, /* time */
                                       0,    0,    0,    1,    't', 0,          /* tenant */
                                       0,    0,    0,    2,    'k', '1', 0,     /* key */
                                       0xff, 0xff, 0xff, 0xff,                  /* no traceparent */
                                       0xff, 0xff, 0xff, 0xff,                  /* no args */
                                       0,    0,    0,    2,    '{', '}', 0};    /* the event */
    size_t pos = 0;
    struct proc_frame_entry e;
    cr_assert_eq(proc_frame_next((const char *)v1, sizeof(v1), &pos, &e), 1);
    cr_assert_eq(e.origin, 7);
    cr_assert_eq(e.offset, 42);
    cr_assert_eq(e.seq, 1);
    cr_assert_eq(e.wm, 9);
    cr_assert_eq(e.wm_before, INT64_MIN);
    cr_assert_eq(e.time_ms, 10);
    cr_assert_str_eq(e.tenant, "t");
    cr_assert_str_eq(e.key, "k1");
    cr_assert_null(e.traceparent);
    cr_assert_null(e.args);
    cr_assert_eq(e.rawlen, 2);
    cr_assert_eq(proc_frame_next((const char *)v1, sizeof(v1), &pos, &e), 0, "the end");
}

Test(proc_frame, route_keys_are_tenant_slash_key_cut_to_fit)
{
    static char tenant[2100], key[2100];
    static const size_t lens[] = {0, 1, 7, 1021, 1022, 1023, 1024, 2000};
    size_t checked = 0;
    for (size_t a = 0; a < sizeof(lens) / sizeof(lens[0]); a++) {
        for (size_t b = 0; b < sizeof(lens) / sizeof(lens[0]); b++) {
            memset(tenant, 't', lens[a]);
            tenant[lens[a]] = '\0';
            memset(key, 'k', lens[b]);
            key[lens[b]] = '\0';
            char want[PROC_ROUTE_KEY_MAX], got[PROC_ROUTE_KEY_MAX];
            int full = snprintf(want, sizeof(want), "%s/%s", tenant, key);
            size_t wl = (size_t)full < sizeof(want) ? (size_t)full : sizeof(want) - 1;
            cr_assert_eq(proc_frame_route_key(tenant, key, got), wl, "%zu, %zu", lens[a], lens[b]);
            cr_assert_str_eq(got, want);
            checked++;
        }
    }
    cr_assert_eq(checked, 64);
}

Test(proc_frame, the_last_entry_of_a_record_takes_the_watermark_after_it)
{
    struct proc_frame f = {0};
    proc_frame_set_last_wm(&f, 0, 0, 1); /* an empty frame: nothing to set */
    cr_assert_eq(f.len, 0);
    struct proc_frame_entry e = {.origin = 65537,
                                 .offset = 7,
                                 .wm = 100,
                                 .wm_before = 100,
                                 .time_ms = 110,
                                 .tenant = "t",
                                 .key = "k",
                                 .raw = "{}",
                                 .rawlen = 2};
    proc_frame_add(&f, &e); /* a record's two events, then another record's */
    e.seq = 1;
    proc_frame_add(&f, &e);
    proc_frame_set_last_wm(&f, 65537, 7, 105);
    size_t len = f.len;
    proc_frame_set_last_wm(&f, 65536, 7, 999); /* another origin's, */
    proc_frame_set_last_wm(&f, 1, 7, 999);
    proc_frame_set_last_wm(&f, 65537, 8, 999); /* another record's: unchanged */
    cr_assert_eq(f.len, len);
    e.offset = 8;
    e.seq = 0;
    proc_frame_add(&f, &e);
    int64_t want[][2] = {{7, 100}, {7, 105}, {8, 100}};
    size_t pos = 0, n = 0;
    struct proc_frame_entry r;
    while (proc_frame_next(f.buf, f.len, &pos, &r) == 1) {
        cr_assert_lt(n, 3);
        cr_assert_eq(r.offset, want[n][0]);
        cr_assert_eq(r.wm, want[n][1], "entry %zu: %lld", n, (long long)r.wm);
        cr_assert_eq(r.wm_before, 100);
        cr_assert_eq(r.time_ms, 110);
        cr_assert_eq(r.seq, n == 1);
        n++;
    }
    cr_assert_eq(n, 3);
    proc_frame_free(&f);
}
