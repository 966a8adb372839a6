/* Unit tests for HTTP Basic users (common/src/net/basicauth.c) with password hashes made by
 * OpenSSL's command line (`openssl passwd -6`), not by the project: right and wrong passwords,
 * unknown users, the verification cache, hostile Authorization headers, and files refused at
 * load (weak or unknown hash methods, duplicates, malformed lines). */
#include "cm/basicauth.h"
#include "cm/text.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* openssl passwd -6 -salt Qx7Lp2aZ 'ci-secret' */
#define CI_HASH                                                                                    \
    "$6$Qx7Lp2aZ$xT0LDMBrGhJwqPff.mCdhYU9AG9tQaPlIH11dsfJjETb9QrIAbUL/WgGwcvkkeewfD.WXRHt/"        \
    "pZHJfgzw8l/T1"
/* openssl passwd -6 -salt Rm3Tt8Ww 'reader pw:with colon' */
#define READER_HASH                                                                                \
    "$6$Rm3Tt8Ww$QZfxXIgJvniuzKlHnn4b6tKeUiOnKOIsr66jmmZ.Lo5Q9IXg"                                 \
    "TQCKbUF3VQugAQYoxERcBgmR1T3OoEEE8aGwi/"

static const char *file = "# registry users\n"
                          "\n"
                          "ci:" CI_HASH ":acme:schema:read schema:write\n"
                          "  reader:" READER_HASH "::schema:read\r\n";

static char *header(const char *pair)
{
    char *b64 = cm_base64_encode((const unsigned char *)pair, strlen(pair), 0);
    char *h = malloc(strlen(b64) + 8);
    sprintf(h, "Basic %s", b64);
    free(b64);
    return h;
}

static enum cm_auth_result verify(struct cm_basic_users *u, const char *pair,
                                  struct cm_principal *who, char *why)
{
    char *h = header(pair);
    enum cm_auth_result r = cm_basic_verify(u, h, who, why, 200);
    free(h);
    return r;
}

Test(basicauth, right_and_wrong_passwords)
{
    char err[256];
    struct cm_basic_users *u = cm_basic_users_parse(file, "users", err, sizeof(err));
    cr_assert_not_null(u, "%s", err);
    cr_assert_eq(cm_basic_users_count(u), 2);
    struct cm_principal who;
    char why[200];
    for (int round = 0; round < 2; round++) { /* the second from the cache */
        cr_assert_eq(verify(u, "ci:ci-secret", &who, why), CM_AUTH_OK, "%s", why);
        cr_assert_str_eq(who.subject, "ci");
        cr_assert_str_eq(who.tenant, "acme");
        cr_assert(cm_principal_has_scope(&who, "schema:write"));
    }
    cr_assert_eq(verify(u, "reader:reader pw:with colon", &who, why), CM_AUTH_OK, "%s", why);
    cr_assert_str_eq(who.tenant, "");
    cr_assert(cm_principal_has_scope(&who, "schema:read"));
    cr_assert_not(cm_principal_has_scope(&who, "schema:write"));
    cr_assert_eq(verify(u, "ci:ci-secreT", &who, why), CM_AUTH_INVALID);
    cr_assert_str_eq(why, "wrong user name or password");
    cr_assert_eq(verify(u, "ci:", &who, why), CM_AUTH_INVALID);
    cr_assert_eq(verify(u, "nobody:ci-secret", &who, why), CM_AUTH_INVALID);
    cr_assert_str_eq(why, "wrong user name or password", "an unknown name is not told apart");
    cr_assert_eq(verify(u, "reader:ci-secret", &who, why), CM_AUTH_INVALID,
                 "another user's password");
    cm_basic_users_free(u);
}

Test(basicauth, hostile_headers)
{
    char err[256];
    struct cm_basic_users *u = cm_basic_users_parse(file, "users", err, sizeof(err));
    cr_assert_not_null(u, "%s", err);
    struct cm_principal who;
    char why[200];
    cr_assert_eq(cm_basic_verify(u, NULL, &who, why, sizeof(why)), CM_AUTH_MISSING);
    cr_assert_eq(cm_basic_verify(u, "Bearer abc", &who, why, sizeof(why)), CM_AUTH_MISSING);
    const char *bad[] = {"Basic ",
                         "Basic !!!!",
                         "Basic Y2k=", /* "ci" without a colon */
                         "Basic Y2k6Y2ktc2VjcmV0=====",
                         "Basic Y2k6\xff\xfe",
                         "Basic a",
                         "Basic Y2kAOmNpLXNlY3JldA==" /* NUL inside */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(cm_basic_verify(u, bad[i], &who, why, sizeof(why)), CM_AUTH_INVALID,
                     "header %zu accepted", i);
    }
    char *huge = malloc(5000);
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'A', 4990);
    huge[4996] = '\0';
    cr_assert_eq(cm_basic_verify(u, huge, &who, why, sizeof(why)), CM_AUTH_INVALID);
    free(huge);
    /* "basic" in any case is the scheme */
    char *h = header("ci:ci-secret");
    memcpy(h, "bASIC", 5);
    cr_assert_eq(cm_basic_verify(u, h, &who, why, sizeof(why)), CM_AUTH_OK, "%s", why);
    free(h);
    cm_basic_users_free(u);
}

Test(basicauth, files_refused_at_load)
{
    const char *bad[] = {
        "ci:" CI_HASH "\n",                                /* no tenant, no scopes */
        "ci:" CI_HASH "::\n",                              /* empty scopes */
        ":" CI_HASH "::schema:read\n",                     /* no name */
        "ci:plaintext::schema:read\n",                     /* not a hash */
        "ci:$1$abc$OGyl6dDvZCDiGmIVbeuCq/::schema:read\n", /* MD5 crypt: too weak */
        "ci:$apr1$abc$51YrpNiEtKAQp4coykJmu.::schema:read\n",
        "ci:$5$Rm3Tt8Ww$AChO09SmXhvum75JfyREHOg9pu5Zzpwr4s0qVMzh.82::schema:read\n", /* legacy */
        "ci:abJnggxhB/yWI::schema:read\n",                                           /* DES crypt */
        "ci:" CI_HASH "::schema:read\nci:" READER_HASH "::schema:read\n",            /* twice */
        "ci:" CI_HASH ":two words:schema:read\n",
        "c i:" CI_HASH "::schema:read\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        cr_assert_null(cm_basic_users_parse(bad[i], "users", err, sizeof(err)), "file %zu loaded",
                       i);
        cr_assert(strncmp(err, "users:", 6) == 0, "error names the file and line: %s", err);
    }
    char err[256];
    cr_assert_null(cm_basic_users_load("/nonexistent/users", err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/users"), "%s", err);
    struct cm_basic_users *empty =
        cm_basic_users_parse("# nobody yet\n", "users", err, sizeof(err));
    cr_assert_not_null(empty);
    cr_assert_eq(cm_basic_users_count(empty), 0);
    struct cm_principal who;
    char why[200];
    cr_assert_eq(verify(empty, "ci:ci-secret", &who, why), CM_AUTH_INVALID);
    cm_basic_users_free(empty);
}
