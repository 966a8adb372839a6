/* reg_access: authentication and authorization of registry requests (see reg_access.h). */
#include "reg_access.h"

#include "cm/auth.h"
#include "cm/basicauth.h"
#include "cm/swap.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int reg_access_owns_subject(const struct cm_principal *who, const char *subject)
{
    if (cm_principal_has_scope(who, "schema:admin")) {
        return 1;
    }
    size_t tl = strlen(who->tenant);
    if (tl > 0 && strncmp(subject, who->tenant, tl) == 0 && subject[tl] == '.' &&
        subject[tl + 1] != '\0') {
        return 1;
    }
    const char *s = who->subjects;
    while (*s) {
        size_t len = strcspn(s, " ");
        if (len > 0 && s[len - 1] == '*') {
            if (strncmp(subject, s, len - 1) == 0) {
                return 1;
            }
        } else if (len == strlen(subject) && strncmp(subject, s, len) == 0) {
            return 1;
        }
        s += len;
        while (*s == ' ') {
            s++;
        }
    }
    return 0;
}

static int has_any(const struct cm_principal *who, enum reg_need need)
{
    int admin = cm_principal_has_scope(who, "schema:admin");
    int write = cm_principal_has_scope(who, "schema:write");
    switch (need) {
    case REG_READ:
        return admin || write || cm_principal_has_scope(who, "schema:read");
    case REG_WRITE:
        return admin || write;
    case REG_ADMIN:
        return admin;
    }
    return 0;
}

static const char *scope_of(enum reg_need need)
{
    return need == REG_READ ? "schema:read" : need == REG_WRITE ? "schema:write" : "schema:admin";
}

static int unauthorized(const struct reg_access *a, const char *why, char *msg, size_t msglen,
                        char challenges[2][256], size_t *n)
{
    snprintf(msg, msglen, "Unauthorized: %s", why);
    *n = 0;
    if (a->users) {
        snprintf(challenges[(*n)++], 256, "Basic realm=\"schema-registry\"");
    }
    if (a->keys) {
        snprintf(challenges[(*n)++], 256, "Bearer realm=\"schema-registry\"");
    }
    return 40101;
}

int reg_access_check(const struct reg_access *a, const char *authorization, enum reg_need need,
                     const char *subject, long long now_s, struct cm_principal *who, char *msg,
                     size_t msglen, char challenges[2][256], size_t *nchallenges)
{
    memset(who, 0, sizeof(*who));
    *nchallenges = 0;
    if (a->disabled || (need == REG_READ && a->public_read)) {
        return 0;
    }
    char why[256] = "missing credentials";
    enum cm_auth_result r = CM_AUTH_MISSING;
    if (authorization && strncasecmp(authorization, "Basic ", 6) == 0) {
        if (!a->users) {
            return unauthorized(a, "Basic credentials are not accepted here", msg, msglen,
                                challenges, nchallenges);
        }
        struct cm_swap_hold hold = cm_swap_get(a->users);
        /* the users' verification cache is theirs to update (under its own lock) */
        r = cm_basic_verify((struct cm_basic_users *)hold.value, authorization, who, why,
                            sizeof(why));
        cm_swap_put(hold);
    } else if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        if (!a->keys) {
            return unauthorized(a, "bearer tokens are not accepted here", msg, msglen, challenges,
                                nchallenges);
        }
        struct cm_swap_hold hold = cm_swap_get(a->keys);
        r = cm_auth_verify(hold.value, authorization, (int64_t)now_s, who, why, sizeof(why));
        cm_swap_put(hold);
    }
    if (r != CM_AUTH_OK) {
        return unauthorized(a, why, msg, msglen, challenges, nchallenges);
    }
    if (!has_any(who, need)) {
        snprintf(msg, msglen, "User is denied operation %s: %s lacks the scope %s",
                 need == REG_READ ? "Read" : "Write", who->subject[0] ? who->subject : "the caller",
                 scope_of(need));
        return 40301;
    }
    if (need == REG_WRITE && subject && !reg_access_owns_subject(who, subject)) {
        snprintf(msg, msglen,
                 "User is denied operation Write on Subject: %s (tenant '%s' may write subjects "
                 "prefixed '%s.' or named in its token's subjects claim)",
                 subject, who->tenant, who->tenant);
        return 40301;
    }
    return 0;
}
