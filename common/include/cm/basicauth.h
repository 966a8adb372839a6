/* basicauth: HTTP Basic authentication (RFC 7617) against a credentials file of hashed
 * passwords, the way Confluent clients authenticate (`basic.auth.user.info=user:password`).
 * File: one user per line, `name:hash:tenant:scopes` (the tenant may be empty; the scopes,
 * space-separated, are the rest of the line); `#` starts a comment line. The hash is a
 * crypt(3) string that libxcrypt verifies: yescrypt (`$y$`, `mkpasswd -m yescrypt`), bcrypt
 * (`$2b$`/`$2y$`/`$2a$`, `htpasswd -B`, Helm's htpasswd) or SHA-512 crypt (`$6$`, `openssl passwd
 * -6`); methods libxcrypt calls legacy (MD5, SHA-256 crypt, DES) or does not know are refused at
 * load. A verified (user, password) pair is remembered by its SHA-256, so a client sending the same
 * credentials costs one hash per request after the first (a password hash is meant to be slow).
 * Immutable after loading except for that cache; thread-safe. */
#ifndef CM_BASICAUTH_H
#define CM_BASICAUTH_H

#include "cm/auth.h"

#include <stddef.h>

struct cm_basic_users;

/* Parses the file. NULL with "<path>:<line>: reason" in err when a line is malformed, a name
 * repeats, or a hash is not a supported crypt method. */
struct cm_basic_users *cm_basic_users_load(const char *path, char *err, size_t errlen);
/* The same from text (tests; `origin` names it in errors). */
struct cm_basic_users *cm_basic_users_parse(const char *text, const char *origin, char *err,
                                            size_t errlen);
void cm_basic_users_free(struct cm_basic_users *u);
size_t cm_basic_users_count(const struct cm_basic_users *u);

/* Verifies an Authorization header value "Basic <base64(name:password)>". CM_AUTH_OK fills *who
 * (subject = the name, scopes, tenant; expires_s 0); CM_AUTH_MISSING when the header is not
 * Basic; CM_AUTH_INVALID with the reason (safe to show) in why. An unknown name costs as much as
 * a wrong password. */
enum cm_auth_result cm_basic_verify(struct cm_basic_users *u, const char *authorization,
                                    struct cm_principal *who, char *why, size_t whylen);

#endif
