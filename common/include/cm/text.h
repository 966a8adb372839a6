/* text: small helpers over bytes every parser needs: UTF-8 sequence checks and encoding, hex and
 * base64, integers' decimal text, and reading a whole (bounded) file. Pure functions,
 * thread-safe. */
#ifndef CM_TEXT_H
#define CM_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length (1..4) of the valid UTF-8 sequence at s, given `avail` readable bytes; 0 when the bytes
 * are not valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF included). */
size_t cm_utf8_seq_len(const unsigned char *s, size_t avail);
/* Writes the UTF-8 form of code point cp into out (4 bytes of room); returns its length, or 0
 * for surrogates and values above U+10FFFF. */
size_t cm_utf8_encode(uint32_t cp, char *out);

/* Room for the decimal text of any long long and its NUL. */
#define CM_DEC_LEN 21
/* Writes v's decimal text and a NUL into buf (CM_DEC_LEN bytes); returns its length. Without
 * printf: this runs for every record of the stream's hot paths. */
size_t cm_fmt_dec(long long v, char *buf);

/* Room for the text cm_fmt_real writes and its NUL. */
#define CM_REAL_LEN 32
/* Writes the fewest significant digits of v, as "%g" writes them, that read back to the same
 * double (0.1, 0.7999999999999999, 1e-07, 1e+21), and a NUL, into buf (CM_REAL_LEN bytes);
 * "NaN", "+Inf" and "-Inf" for the others, as Prometheus and Go write them. Returns the length. */
size_t cm_fmt_real(double v, char *buf);

/* Copies src into dst (size > 0 bytes of room) as snprintf(dst, size, "%s", src) does: at
 * most size - 1 bytes, then a NUL; returns the bytes copied. Without printf, for hot paths. */
size_t cm_strlcpy(char *dst, const char *src, size_t size);
/* url for a log line or an error, its credentials written as three asterisks:
 * "redis://:secret@h:1/0" becomes "redis://" "***" "@h:1/0". What comes before the last '@' ahead
 * of any '?' or '#' is taken for credentials, '/' included, since a password may hold one
 * unescaped (an '@' in a path hides the host and path before it too: more hidden, never less).
 * Into out (len bytes, cut to fit); returns out. */
char *cm_url_redacted(const char *url, char *out, size_t len);
/* Decodes a URL's percent-escapes (%2F, %40, ...) in s in place and returns its new length. A
 * '%' not followed by two hex digits stays as it is, and so does "%00" (a NUL would cut the text
 * short unseen). */
size_t cm_pct_decode(char *s);

/* A name taken from input, as an error message shows it: whole when at most 64 bytes, else its
 * first 64 bytes and "..." in buf (CM_SHOWN_LEN bytes), so that a hostile name cannot push the
 * reason out of a bounded message. Returns s or buf. */
#define CM_SHOWN_LEN 68
const char *cm_shown(const char *s, char *buf);

/* Writes the lowercase hex form of n bytes into out (2n characters and a NUL). */
void cm_hex_encode(const unsigned char *in, size_t n, char *out);
/* The value of a hexadecimal digit (either case), or -1. */
int cm_hex_digit(int c);
/* The first occurrence of needle[0..m) in hay[0..n), or NULL (memmem without _GNU_SOURCE). */
const char *cm_memmem(const char *hay, size_t n, const char *needle, size_t m);
/* Base64 (RFC 4648 section 4) or, with url set, base64url (section 5) decoded into a fresh
 * NUL-terminated buffer (OpenSSL's decoder). Padding is optional in both (a lone final
 * character is not). NULL when any character is outside the alphabet. Caller frees. */
char *cm_base64_decode(const char *in, size_t len, int url, size_t *outlen);
/* Encodes n bytes: padded base64, or unpadded base64url with url set. Caller frees. */
char *cm_base64_encode(const unsigned char *in, size_t n, int url);

/* 1 when s is a definition or resource name: 1 to max characters, each an ASCII letter, digit,
 * '.', '_' or '-', not starting with '.' (pipelines, rules, sinks, aggregate fields). */
int cm_name_valid(const char *s, size_t max);

struct timespec;
/* 1 when the modification time of the file at path differs from *seen (then *seen is updated):
 * the hot-reload check of configuration files. 0 when it is the same or the file is missing. */
int cm_file_changed(const char *path, struct timespec *seen);

/* Reads the file at path, at most max bytes. Returns a NUL-terminated buffer (caller frees) and
 * its length in *len, or NULL with one line in err ("cannot open X: reason", "X is larger than N
 * bytes"). */
char *cm_file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* Reads the next non-blank line of f into *line (growing it; caller frees), without its line
 * ending. Returns its length, or -1 at end of input. */
long cm_read_line(FILE *f, char **line, size_t *cap);

#endif
