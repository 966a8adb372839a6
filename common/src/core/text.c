/* text: UTF-8, hex, base64 and whole-file helpers (see text.h). */
#include "cm/text.h"

#include "cm/mem.h"

#include <openssl/evp.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

size_t cm_utf8_seq_len(const unsigned char *s, size_t avail)
{
    if (avail == 0) {
        return 0;
    }
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

size_t cm_fmt_dec(long long v, char *buf)
{
    char digits[CM_DEC_LEN];
    char *end = digits + sizeof(digits), *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    /* two digits per division: a timestamp in ms takes 7 instead of 13 */
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                   "31323334353637383940414243444546474849505152535455565758596061"
                                   "62636465666768697071727374757677787980818283848586878889909192"
                                   "93949596979899";
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0) {
        *--p = '-';
    }
    size_t len = (size_t)(end - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}

size_t cm_fmt_real(double v, char *buf)
{
    if (isnan(v)) {
        return cm_strlcpy(buf, "NaN", CM_REAL_LEN);
    }
    if (isinf(v)) {
        return cm_strlcpy(buf, v > 0 ? "+Inf" : "-Inf", CM_REAL_LEN);
    }
    /* a normal double whose shortest form has at most 15 significant digits gets exactly that
     * form from "%.15g" (its half ulp is below half the gap between 15-digit decimals, so none
     * lies nearer), and 16 and 17 are the precisions left; a subnormal one has fewer bits, and
     * its shortest form may be shorter (5e-324) */
    int n = 0;
    for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        n = snprintf(buf, CM_REAL_LEN, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) {
            break;
        }
    }
    return (size_t)n;
}

size_t cm_utf8_encode(uint32_t cp, char *out)
{
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        return 0;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

char *cm_file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = cm_xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "cannot read %s", path);
        free(buf);
        return NULL;
    }
    if (n > max) {
        snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

long cm_read_line(FILE *f, char **line, size_t *cap)
{
    ssize_t n;
    while ((n = getline(line, cap, f)) >= 0) {
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) {
            (*line)[--n] = '\0';
        }
        if (n > 0) {
            return (long)n;
        }
    }
    return -1;
}

int cm_hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *cm_url_redacted(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *from = scheme ? scheme + 3 : url;
    size_t end = strcspn(from, "?#"); /* the authority, and a path in case a '/' is a password's */
    const char *at = NULL;
    for (size_t i = 0; i < end; i++) {
        at = from[i] == '@' ? from + i : at;
    }
    if (!at) {
        snprintf(out, len, "%s", url);
    } else {
        snprintf(out, len, "%.*s***%s", (int)(from - url), url, at);
    }
    return out;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

size_t cm_pct_decode(char *s)
{
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) {
        int hi = s[r] == '%' ? hex_digit(s[r + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(s[r + 2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            s[w++] = (char)(hi * 16 + lo);
            r += 2;
        } else {
            s[w++] = s[r];
        }
    }
    s[w] = '\0';
    return w;
}

size_t cm_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = 0;
    while (n + 1 < size && src[n]) {
        n++;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

const char *cm_shown(const char *s, char *buf)
{
    size_t n = strlen(s);
    if (n <= 64) {
        return s;
    }
    memcpy(buf, s, 64);
    memcpy(buf + 64, "...", 4);
    return buf;
}

void cm_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

int cm_file_changed(const char *path, struct timespec *seen)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        return 0;
    }
    if (st.st_mtim.tv_sec == seen->tv_sec && st.st_mtim.tv_nsec == seen->tv_nsec) {
        return 0;
    }
    *seen = st.st_mtim;
    return 1;
}

int cm_name_valid(const char *s, size_t max)
{
    size_t n = 0;
    if (!s || !*s || *s == '.') {
        return 0;
    }
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok || n >= max) {
            return 0;
        }
    }
    return 1;
}

char *cm_base64_decode(const char *in, size_t len, int url, size_t *outlen)
{
    for (int i = 0; i < 2 && len > 0 && in[len - 1] == '='; i++) {
        len--; /* padding is optional: strip what is there, pad again below */
    }
    if (len % 4 == 1) {
        return NULL;
    }
    size_t padded = (len + 3) / 4 * 4;
    unsigned char *tmp = cm_xmalloc(padded + 1);
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (url && (c == '+' || c == '/')) {
            free(tmp);
            return NULL;
        }
        if (c == '-' && url) {
            c = '+';
        } else if (c == '_' && url) {
            c = '/';
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     (!url && (c == '+' || c == '/')))) {
            free(tmp);
            return NULL;
        }
        tmp[i] = (unsigned char)c;
    }
    for (size_t i = len; i < padded; i++) {
        tmp[i] = '=';
    }
    unsigned char *out = cm_xmalloc(padded / 4 * 3 + 1);
    int n = padded ? EVP_DecodeBlock(out, tmp, (int)padded) : 0;
    free(tmp);
    if (n < 0) {
        free(out);
        return NULL;
    }
    n -= (int)(padded - len); /* EVP_DecodeBlock counts padding bytes as zeros */
    out[n] = '\0';
    *outlen = (size_t)n;
    return (char *)out;
}

char *cm_base64_encode(const unsigned char *in, size_t n, int url)
{
    char *out = cm_xmalloc((n + 2) / 3 * 4 + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    if (url) {
        while (len > 0 && out[len - 1] == '=') {
            out[--len] = '\0';
        }
        for (int i = 0; i < len; i++) {
            out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
        }
    }
    return out;
}

const char *cm_memmem(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0) {
        return hay;
    }
    for (const char *p = hay; n >= m;) {
        const char *c = memchr(p, needle[0], n - m + 1);
        if (!c) {
            return NULL;
        }
        if (memcmp(c, needle, m) == 0) {
            return c;
        }
        n -= (size_t)(c - p) + 1;
        p = c + 1;
    }
    return NULL;
}
