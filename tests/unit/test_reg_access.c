/* Unit tests for the registry's access rules (services/registry/reg_access.c): which subjects a
 * principal owns (tenant prefix, the token's subjects claim, schema:admin), and the decision
 * for reads, subject writes and global writes with bearer tokens, Basic users, no credentials,
 * public reads and the disabled switch, with Confluent's error codes. */
#include "../../services/registry/reg_access.h"

#include "cm/auth.h"
#include "cm/basicauth.h"
#include "cm/swap.h"
#include "cm/text.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "registry-unit-test-secret-0123456789abcdef"
/* openssl passwd -6 -salt Qx7Lp2aZ 'ci-secret' */
#define CI_HASH                                                                                    \
    "$6$Qx7Lp2aZ$xT0LDMBrGhJwqPff.mCdhYU9AG9tQaPlIH11dsfJjETb9QrIAbUL/WgGwcvkkeewfD.WXRHt/"        \
    "pZHJfgzw8l/T1"

static struct cm_swap *keys, *users;

static void release_users(void *u)
{
    cm_basic_users_free(u);
}

static void setup(void)
{
    char err[256];
    struct cm_auth_config c = {.hs256_secret = SECRET, .tenant_claim = "tenant", .leeway_s = 0};
    keys = cm_swap_new(cm_auth_new(&c, err, sizeof(err)), cm_auth_release);
    struct cm_basic_users *u = cm_basic_users_parse("reader:" CI_HASH "::schema:read\n"
                                                    "ci:" CI_HASH ":acme:schema:write\n",
                                                    "users", err, sizeof(err));
    cr_assert_not_null(u, "%s", err);
    users = cm_swap_new(u, release_users);
}

static void teardown(void)
{
    cm_swap_free(keys);
    cm_swap_free(users);
}

TestSuite(reg_access, .init = setup, .fini = teardown);

/* A token for tenant acme with scope, and extra claims (",\"subjects\":[...]" or ""). */
static char *bearer(const char *extra, const char *scope)
{
    char claims[512];
    snprintf(claims, sizeof(claims),
             "{\"tenant\":\"acme\",\"sub\":\"svc\",\"scope\":\"%s\",\"exp\":%lld%s}", scope,
             (long long)time(NULL) + 600, extra);
    char *t = cm_auth_sign_hs256(SECRET, claims);
    char *h = malloc(strlen(t) + 8);
    sprintf(h, "Bearer %s", t);
    free(t);
    return h;
}

static char *basic(const char *pair)
{
    char *b64 = cm_base64_encode((const unsigned char *)pair, strlen(pair), 0);
    char *h = malloc(strlen(b64) + 8);
    sprintf(h, "Basic %s", b64);
    free(b64);
    return h;
}

static int check(const struct reg_access *a, const char *authz, enum reg_need need,
                 const char *subject, char *msg)
{
    struct cm_principal who;
    char ch[2][256];
    size_t n;
    return reg_access_check(a, authz, need, subject, (long long)time(NULL), &who, msg, 512, ch, &n);
}

Test(reg_access, subjects_a_principal_owns)
{
    struct cm_principal p = {.tenant = "acme", .scopes = "schema:write"};
    cr_assert(reg_access_owns_subject(&p, "acme.orders-value"));
    cr_assert_not(reg_access_owns_subject(&p, "acme"));
    cr_assert_not(reg_access_owns_subject(&p, "acme."));
    cr_assert_not(reg_access_owns_subject(&p, "acmex.orders"));
    cr_assert_not(reg_access_owns_subject(&p, "globex.orders"));
    snprintf(p.subjects, sizeof(p.subjects), "payments-value shared.*");
    cr_assert(reg_access_owns_subject(&p, "payments-value"));
    cr_assert_not(reg_access_owns_subject(&p, "payments-value2"), "exact unless it ends in *");
    cr_assert(reg_access_owns_subject(&p, "shared.anything"));
    cr_assert_not(reg_access_owns_subject(&p, "sharedx"));
    struct cm_principal none = {.scopes = "schema:write"};
    cr_assert_not(reg_access_owns_subject(&none, ".orders"), "no tenant owns nothing");
    struct cm_principal admin = {.scopes = "schema:admin"};
    cr_assert(reg_access_owns_subject(&admin, "globex.orders"));
}

Test(reg_access, decisions)
{
    struct reg_access a = {.keys = keys, .users = users};
    char msg[512];
    const char *tenant_claims = "";
    char *w = bearer(tenant_claims, "schema:write");
    char *r = bearer(tenant_claims, "schema:read");
    char *adm = bearer(tenant_claims, "schema:admin");
    char *none = bearer(tenant_claims, "events:write");
    char *claim = bearer(",\"subjects\":[\"payments-value\"]", "schema:write");
    cr_assert_eq(check(&a, NULL, REG_READ, NULL, msg), 40101);
    cr_assert_eq(check(&a, "Bearer not.a.token", REG_READ, NULL, msg), 40101);
    cr_assert_eq(check(&a, r, REG_READ, NULL, msg), 0, "%s", msg);
    cr_assert_eq(check(&a, w, REG_READ, NULL, msg), 0, "write implies read: %s", msg);
    cr_assert_eq(check(&a, none, REG_READ, NULL, msg), 40301);
    cr_assert(strstr(msg, "schema:read"), "%s", msg);
    cr_assert_eq(check(&a, r, REG_WRITE, "acme.orders", msg), 40301);
    cr_assert_eq(check(&a, w, REG_WRITE, "acme.orders", msg), 0, "%s", msg);
    cr_assert_eq(check(&a, w, REG_WRITE, "globex.orders", msg), 40301);
    cr_assert(strstr(msg, "User is denied operation Write on Subject: globex.orders"), "%s", msg);
    cr_assert_eq(check(&a, claim, REG_WRITE, "payments-value", msg), 0, "%s", msg);
    cr_assert_eq(check(&a, w, REG_ADMIN, NULL, msg), 40301, "global config needs schema:admin");
    cr_assert_eq(check(&a, adm, REG_ADMIN, NULL, msg), 0, "%s", msg);
    cr_assert_eq(check(&a, adm, REG_WRITE, "globex.orders", msg), 0, "%s", msg);
    char *ci = basic("ci:ci-secret"), *reader = basic("reader:ci-secret"),
         *wrong = basic("ci:nope");
    cr_assert_eq(check(&a, reader, REG_READ, NULL, msg), 0, "%s", msg);
    cr_assert_eq(check(&a, reader, REG_WRITE, "acme.orders", msg), 40301);
    cr_assert_eq(check(&a, ci, REG_WRITE, "acme.orders", msg), 0, "%s", msg);
    cr_assert_eq(check(&a, ci, REG_WRITE, "orders", msg), 40301, "the user's tenant applies");
    cr_assert_eq(check(&a, wrong, REG_READ, NULL, msg), 40101);
    /* the challenges name the schemes accepted */
    struct cm_principal who;
    char ch[2][256];
    size_t n;
    cr_assert_eq(reg_access_check(&a, NULL, REG_READ, NULL, (long long)time(NULL), &who, msg,
                                  sizeof(msg), ch, &n),
                 40101);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ch[0], "Basic realm=\"schema-registry\"");
    cr_assert_str_eq(ch[1], "Bearer realm=\"schema-registry\"");
    /* an expired token */
    cr_assert_eq(reg_access_check(&a, w, REG_READ, NULL, (long long)time(NULL) + 3600, &who, msg,
                                  sizeof(msg), ch, &n),
                 40101);
    /* only tokens, or only users */
    struct reg_access tokens_only = {.keys = keys};
    cr_assert_eq(check(&tokens_only, ci, REG_READ, NULL, msg), 40101);
    cr_assert(strstr(msg, "Basic credentials are not accepted"), "%s", msg);
    struct reg_access users_only = {.users = users};
    cr_assert_eq(check(&users_only, r, REG_READ, NULL, msg), 40101);
    /* public reads and the switch */
    struct reg_access pub = {.keys = keys, .users = users, .public_read = 1};
    cr_assert_eq(check(&pub, NULL, REG_READ, NULL, msg), 0);
    cr_assert_eq(check(&pub, NULL, REG_WRITE, "acme.orders", msg), 40101);
    struct reg_access off = {.disabled = 1};
    cr_assert_eq(check(&off, NULL, REG_ADMIN, NULL, msg), 0);
    free(w);
    free(r);
    free(adm);
    free(none);
    free(claim);
    free(ci);
    free(reader);
    free(wrong);
}
