/* uuid: UUIDv7 (RFC 9562) generation, monotonic within a process, and UUID text checks.
 * Thread-safe. */
#ifndef CM_UUID_H
#define CM_UUID_H

#include <stdint.h>

#define CM_UUID_STR_LEN 37 /* 36 characters and a NUL */

/* Writes a new UUIDv7 for the current time into out (CM_UUID_STR_LEN bytes), lower-case. */
void cm_uuid_v7(char *out);
/* The same for a given millisecond timestamp (tests). */
void cm_uuid_v7_at(int64_t ms, char *out);
/* 1 when s is a canonical 8-4-4-4-12 hex UUID string. */
int cm_uuid_valid(const char *s);
/* Deterministic UUID (version 8, RFC 9562) from the SHA-256 of the `n` strings in parts, each
 * length-prefixed so ("ab","c") and ("a","bc") differ. For derived events: a replay of the same
 * input yields the same id, so sinks can deduplicate. */
void cm_uuid_from_parts(const char *const *parts, unsigned n, char *out);
/* Fills buf with n cryptographically random bytes (the kernel's CSPRNG, drawn through a small
 * per-thread pool that a fork discards). */
void cm_random_bytes(void *buf, unsigned n);

#endif
