/* reg_access: who may read and write the registry. A request authenticates with a bearer token
 * (the JWT_* keys, as the gateway's) or with HTTP Basic against REGISTRY_BASIC_AUTH_FILE (what
 * Confluent clients send with basic.auth.user.info). Reads need schema:read (or write, or admin)
 * unless reads are public; writes (register, delete, subject config and mode) need schema:write
 * and a subject the principal owns: one prefixed "<tenant>." or named in the token's "subjects"
 * claim (an entry ending in '*' is a prefix), unless it holds schema:admin; the global config
 * and mode need schema:admin. Refusals use Confluent's error shape: 401 with error_code 40101
 * and a WWW-Authenticate challenge per accepted scheme, 403 with 40301. Thread-safe. */
#ifndef REG_ACCESS_H
#define REG_ACCESS_H

#include <stddef.h>

struct cm_principal;
struct cm_swap;

enum reg_need {
    REG_READ,  /* schema:read, schema:write or schema:admin (nothing when reads are public) */
    REG_WRITE, /* schema:write on the subject (or schema:admin) */
    REG_ADMIN  /* schema:admin: the global config and mode */
};

struct reg_access {
    struct cm_swap *keys;  /* of cm_auth; borrowed; NULL: bearer tokens not accepted */
    struct cm_swap *users; /* of cm_basic_users; borrowed; NULL: Basic not accepted */
    int public_read;       /* reads need no credentials */
    int disabled;          /* REGISTRY_AUTH_DISABLED: everything allowed */
};

/* Decides for a request with this Authorization header (may be NULL) at now_s. Returns 0 when
 * allowed (*who filled, cleared when no credentials were needed), else the Confluent error code
 * (40101 or 40301) with the message in msg and, for 40101, the WWW-Authenticate values in
 * challenges[0..*nchallenges). subject: the subject written (NULL for reads and global writes). */
int reg_access_check(const struct reg_access *a, const char *authorization, enum reg_need need,
                     const char *subject, long long now_s, struct cm_principal *who, char *msg,
                     size_t msglen, char challenges[2][256], size_t *nchallenges);

/* 1 when the principal may write subject (tenant prefix, subjects claim or schema:admin). */
int reg_access_owns_subject(const struct cm_principal *who, const char *subject);

#endif
