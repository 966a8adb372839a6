/* Unit tests for common/text: UTF-8 validation of hostile byte sequences, encoding, integers'
 * decimal text against printf's at the limits and every power of ten, reals' shortest text, and
 * bounded whole-file reads. */
#include "cm/text.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(text, decimal_text_is_printfs)
{
    long long values[80] = {
        0, -1, 1, 9, -9, 10, -10, LLONG_MAX, LLONG_MIN, LLONG_MAX - 1, LLONG_MIN + 1};
    size_t n = 11;
    for (long long p = 10; p <= LLONG_MAX / 10; p *= 10) { /* each power of ten and its neighbour */
        values[n++] = p;
        values[n++] = -(p - 1);
    }
    cr_assert_gt(n, 40);
    for (size_t i = 0; i < n; i++) {
        char want[32], got[CM_DEC_LEN + 8];
        memset(got, 'x', sizeof(got));
        int wl = snprintf(want, sizeof(want), "%lld", values[i]);
        size_t gl = cm_fmt_dec(values[i], got);
        cr_assert_eq(gl, (size_t)wl, "%s", want);
        cr_assert_str_eq(got, want);
        cr_assert_leq(gl + 1, CM_DEC_LEN);
        cr_assert_eq(got[CM_DEC_LEN], 'x', "nothing written past CM_DEC_LEN bytes");
    }
}

Test(text, fmt_real_shortest)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {0.1 + 0.7, "0.7999999999999999"}, /* 16 digits: %.17g writes 0.79999999999999993 */
        {0.1 + 0.2, "0.30000000000000004"},
        {1.5, "1.5"},
        {-2.0, "-2"},
        {0.0, "0"},
        {-0.0, "-0"},
        {1e-7, "1e-07"},
        {1e21, "1e+21"},
        {1796402183.354, "1796402183.354"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-2.2250738585072014e-308, "-2.2250738585072014e-308"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[CM_REAL_LEN + 4];
        memset(got, 'x', sizeof(got));
        size_t n = cm_fmt_real(cases[i].v, got);
        cr_assert_str_eq(got, cases[i].want);
        cr_assert_eq(n, strlen(got));
        cr_assert_eq(strtod(got, NULL), cases[i].v, "%s reads back", got);
        cr_assert_eq(got[CM_REAL_LEN], 'x', "nothing written past CM_REAL_LEN bytes");
    }
    char buf[CM_REAL_LEN];
    cm_fmt_real(NAN, buf);
    cr_assert_str_eq(buf, "NaN");
    cm_fmt_real(INFINITY, buf);
    cr_assert_str_eq(buf, "+Inf");
    cm_fmt_real(-INFINITY, buf);
    cr_assert_str_eq(buf, "-Inf");
}

Test(text, strlcpy_is_snprintfs)
{
    static const char *srcs[] = {"", "a", "abc", "abcd", "abcdefgh", "tenant\x1fkey"};
    static const size_t sizes[] = {1, 2, 4, 5, 8, 64};
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
            char got[64], want[64];
            memset(got, '#', sizeof(got));
            memset(want, '#', sizeof(want));
            size_t n = cm_strlcpy(got, srcs[i], sizes[j]);
            snprintf(want, sizes[j], "%s", srcs[i]);
            cr_assert_eq(memcmp(got, want, sizeof(got)), 0, "\"%s\" in %zu", srcs[i], sizes[j]);
            cr_assert_eq(n, strlen(want));
        }
    }
}

Test(text, utf8_sequences)
{
    struct {
        const char *bytes;
        size_t avail, want;
    } cases[] = {
        {"A", 1, 1},
        {"\xC3\xA9", 2, 2},         /* é */
        {"\xE2\x82\xAC", 3, 3},     /* € */
        {"\xF0\x9F\x98\x80", 4, 4}, /* 😀 */
        {"\xC3", 1, 0},             /* truncated */
        {"\xE2\x82", 2, 0},         /* truncated */
        {"\xC0\xAF", 2, 0},         /* overlong '/' */
        {"\xE0\x80\xAF", 3, 0},     /* overlong */
        {"\xED\xA0\x80", 3, 0},     /* surrogate */
        {"\xF4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\xFF", 1, 0},
        {"\x80", 1, 0},     /* lone continuation */
        {"\xC3\x28", 2, 0}, /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(cm_utf8_seq_len((const unsigned char *)cases[i].bytes, cases[i].avail),
                     cases[i].want, "case %zu", i);
    }
    cr_assert_eq(cm_utf8_seq_len((const unsigned char *)"", 0), 0);
}

Test(text, utf8_encode_round_trip)
{
    uint32_t cps[] = {0x41, 0xE9, 0x20AC, 0x1F600, 0x10FFFF, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        char buf[4];
        size_t n = cm_utf8_encode(cps[i], buf);
        cr_assert_gt(n, 0);
        cr_assert_eq(cm_utf8_seq_len((const unsigned char *)buf, n), n, "cp %x", cps[i]);
    }
    char buf[4];
    cr_assert_eq(cm_utf8_encode(0xD800, buf), 0);
    cr_assert_eq(cm_utf8_encode(0x110000, buf), 0);
}

Test(text, file_read)
{
    char path[] = "/tmp/cm_text_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "hello", 5), 5);
    close(fd);
    size_t len;
    char err[256];
    char *buf = cm_file_read(path, 5, &len, err, sizeof(err));
    cr_assert_not_null(buf, "%s", err);
    cr_assert_eq(len, 5);
    cr_assert_str_eq(buf, "hello");
    free(buf);
    cr_assert_null(cm_file_read(path, 4, &len, err, sizeof(err)));
    cr_assert(strstr(err, "larger than 4 bytes") != NULL, "%s", err);
    unlink(path);
    cr_assert_null(cm_file_read(path, 4, &len, err, sizeof(err)));
    cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
}

Test(text, hex_encode)
{
    char out[16];
    cm_hex_encode((const unsigned char *)"\x00\x0f\xa5\xff", 4, out);
    cr_assert_str_eq(out, "000fa5ff");
    cm_hex_encode((const unsigned char *)"", 0, out);
    cr_assert_str_eq(out, "");
}

Test(text, name_valid)
{
    const char *good[] = {"a", "payments-per-merchant", "v1.2_x", "A-Z.09"};
    const char *bad[] = {"", ".hidden", "has space", "slash/no", "tab\t", "\xc3\xa9", "x;y", NULL};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_assert(cm_name_valid(good[i], 100), "%s", good[i]);
    }
    for (size_t i = 0; bad[i]; i++) {
        cr_assert_not(cm_name_valid(bad[i], 100), "%s", bad[i]);
    }
    cr_assert_not(cm_name_valid(NULL, 10));
    cr_assert(cm_name_valid("abcde", 5));
    cr_assert_not(cm_name_valid("abcdef", 5), "longer than max");
}

Test(text, base64_both_alphabets_and_hostile_input)
{
    /* RFC 4648 section 10 test vectors, padded and not */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        size_t n;
        char *enc = cm_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), 0);
        cr_assert_str_eq(enc, std[i]);
        free(enc);
        char *dec = cm_base64_decode(std[i], strlen(std[i]), 0, &n);
        cr_assert_not_null(dec, "%s", std[i]);
        cr_assert_eq(n, strlen(plain[i]));
        cr_assert_str_eq(dec, plain[i]);
        free(dec);
        size_t unpadded = strcspn(std[i], "=");
        dec = cm_base64_decode(std[i], unpadded, 1, &n);
        cr_assert_not_null(dec, "unpadded %s", std[i]);
        cr_assert_eq(n, strlen(plain[i]));
        free(dec);
    }
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *url = cm_base64_encode(bytes, 3, 1);
    cr_assert_str_eq(url, "-_-_");
    size_t n;
    char *back = cm_base64_decode(url, 4, 1, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(back, bytes, 3), 0);
    free(back);
    free(url);
    const char *bad_std[] = {"Zg=a", "Z", "Zm9v\n", "Zm-v", "Zm9v===", "Zm 9"};
    for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
        char *d = cm_base64_decode(bad_std[i], strlen(bad_std[i]), 0, &n);
        cr_assert_null(d, "accepted %s", bad_std[i]);
    }
    cr_assert_null(cm_base64_decode("Zm+v", 4, 1, &n), "+ is not base64url");
    cr_assert_null(cm_base64_decode("Zm/v", 4, 1, &n), "/ is not base64url");
}

/* A name from input as an error shows it: at most 64 bytes of it, and "..." when cut. */
Test(text, shown_cuts_long_names)
{
    char buf[CM_SHOWN_LEN], name[200];
    cr_assert_str_eq(cm_shown("", buf), "");
    cr_assert_str_eq(cm_shown("amount", buf), "amount");
    memset(name, 'a', 64);
    name[64] = '\0';
    cr_assert_eq(cm_shown(name, buf), name, "64 bytes are shown whole");
    memset(name, 'b', 199);
    name[199] = '\0';
    const char *got = cm_shown(name, buf);
    cr_assert_eq(got, buf);
    cr_assert_eq(strlen(got), 67);
    cr_assert_eq(strncmp(got, name, 64), 0);
    cr_assert_str_eq(got + 64, "...");
}

Test(text, percent_escapes_are_decoded_and_bad_ones_kept)
{
    static const char *const cases[][2] = {
        {"p%2Fw%40x%3A%25", "p/w@x:%"},
        {"%41%62", "Ab"},
        {"%e2%82%ac", "\xe2\x82\xac"},
        {"plain", "plain"},
        {"", ""},
        {"%", "%"},
        {"%4", "%4"},
        {"%4g", "%4g"},
        {"%g4", "%g4"},
        {"100%", "100%"},
        {"%%41", "%A"},
        {"%00x", "%00x"}, /* never a NUL */
        {"a%2", "a%2"},
        {"+", "+"}, /* not form encoding */
        {"%2525", "%25"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        size_t n = cm_pct_decode(buf);
        cr_assert_str_eq(buf, cases[i][1], "%s", cases[i][0]);
        cr_assert_eq(n, strlen(cases[i][1]), "%s", cases[i][0]);
    }
}

Test(text, url_credentials_are_never_shown)
{
    static const char *const cases[][2] = {
        {"redis://:secret@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"},
        {"redis://user:secret@h:1", "redis://***@h:1"},
        {"rediss://secret@h", "rediss://***@h"},
        {"postgresql://u:p%40ss@db:5432/events?sslmode=require",
         "postgresql://***@db:5432/events?sslmode=require"},
        {"redis://u:a@b@h:1", "redis://***@h:1"}, /* an '@' in the password: the last one */
        {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
        {"redis://:ab/cd@h:1/0", "redis://***@h:1/0"}, /* a '/' in the password */
        {"redis://:ab/cd@h:1/x", "redis://***@h:1/x"},
        {"http://h/path@x", "http://***@x"}, /* (more hidden than needed: never less) */
        {"http://h?q=a@b", "http://h?q=a@b"},
        {"user:secret@h:1", "***@h:1"}, /* no scheme */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        cr_assert_str_eq(cm_url_redacted(cases[i][0], out, sizeof(out)), cases[i][1], "%s",
                         cases[i][0]);
        cr_assert_null(strstr(out, "secret"));
    }
    char small[12];
    cm_url_redacted("redis://:secret@h:1", small, sizeof(small));
    cr_assert_str_eq(small, "redis://***", "cut to fit, never past the mask");
}
