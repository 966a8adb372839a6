/* Unit tests for the gateway's token checks (services/gateway/gw_auth.c): valid tokens, and every
 * way a token must be refused: expired, not yet valid, wrong issuer or audience, forged signature,
 * alg "none", other algorithms, malformed tokens and headers. */
#include "../../services/gateway/gw_auth.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW 1795397331LL

static struct gw_auth *auth;

static void setup(void)
{
    struct gw_auth_config c = {SECRET, "https://issuer.example", "events-api", 30, "tenant", NULL};
    char err[128];
    auth = gw_auth_new(&c, err, sizeof(err));
    cr_assert_not_null(auth, "%s", err);
}

static void teardown(void)
{
    gw_auth_free(auth);
}

TestSuite(gw_auth, .init = setup, .fini = teardown);

static char *sign(const char *claims)
{
    char *t = gw_auth_sign_hs256(SECRET, claims);
    cr_assert_not_null(t);
    return t;
}

static enum gw_auth_result verify_token(const char *token, struct gw_principal *p, char *why)
{
    char header[9000];
    snprintf(header, sizeof(header), "Bearer %s", token);
    return gw_auth_verify(auth, header, NOW, p, why, 128);
}

static void b64url(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    for (int i = 0; i < n; i++) {
        if (out[i] == '+') {
            out[i] = '-';
        } else if (out[i] == '/') {
            out[i] = '_';
        } else if (out[i] == '=') {
            out[i] = '\0';
            break;
        }
    }
}

/* Builds header.payload.signature by hand (any alg name) signed with HMAC-SHA256 over key. */
static void forge(const char *header, const char *payload, const char *key, char *out)
{
    char h[512], p[1024], sig[128];
    b64url((const unsigned char *)header, strlen(header), h);
    b64url((const unsigned char *)payload, strlen(payload), p);
    char input[2048];
    snprintf(input, sizeof(input), "%s.%s", h, p);
    unsigned char mac[32];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)input, strlen(input), mac,
         &maclen);
    b64url(mac, maclen, sig);
    sprintf(out, "%s.%s", input, sig);
}

#define GOOD_CLAIMS                                                                                \
    "{\"sub\":\"u1\",\"tenant\":\"acme\",\"iss\":\"https://issuer.example\",\"aud\":\"events-api\"," \
    "\"exp\":1795400000}"

Test(gw_auth, valid_token)
{
    char *t = sign(GOOD_CLAIMS);
    struct gw_principal p;
    char why[128] = "";
    cr_assert_eq(verify_token(t, &p, why), GW_AUTH_OK, "%s", why);
    cr_assert_str_eq(p.tenant, "acme");
    cr_assert_str_eq(p.subject, "u1");
    free(t);
}

Test(gw_auth, audience_array)
{
    char *t = sign("{\"iss\":\"https://issuer.example\",\"aud\":[\"other\",\"events-api\"],"
                   "\"exp\":1795400000}");
    struct gw_principal p;
    char why[128];
    cr_assert_eq(verify_token(t, &p, why), GW_AUTH_OK, "%s", why);
    cr_assert_str_eq(p.tenant, "");
    free(t);
}

static void expect_invalid(const char *token, const char *reason)
{
    struct gw_principal p;
    char why[128] = "";
    cr_assert_eq(verify_token(token, &p, why), GW_AUTH_INVALID, "accepted: %s", token);
    cr_assert(strstr(why, reason) != NULL, "reason '%s' should mention '%s'", why, reason);
}

Test(gw_auth, claim_checks)
{
    struct {
        const char *claims;
        const char *reason;
    } cases[] = {
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795397000}",
         "expired"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\"}", "no exp"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":\"soon\"}", "no exp"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
         "\"nbf\":1795398000}",
         "not yet valid"},
        {"{\"iss\":\"https://evil.example\",\"aud\":\"events-api\",\"exp\":1795400000}",
         "wrong issuer"},
        {"{\"aud\":\"events-api\",\"exp\":1795400000}", "wrong issuer"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"other\",\"exp\":1795400000}",
         "wrong audience"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":[],\"exp\":1795400000}", "wrong audience"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
         "\"tenant\":42}",
         "tenant claim"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = sign(cases[i].claims);
        expect_invalid(t, cases[i].reason);
        free(t);
    }
}

Test(gw_auth, leeway_applies)
{
    /* expired 20 s ago, leeway 30 s: accepted; nbf 20 s ahead: accepted */
    char *t = sign("{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795397311,"
                   "\"nbf\":1795397351}");
    struct gw_principal p;
    char why[128];
    cr_assert_eq(verify_token(t, &p, why), GW_AUTH_OK, "%s", why);
    free(t);
}

Test(gw_auth, forged_signature)
{
    char token[4096];
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_CLAIMS, "not-the-secret-not-the-secret!!", token);
    expect_invalid(token, "signature");
    /* the right key signs: control case, so the forgery test can fail */
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_CLAIMS, SECRET, token);
    struct gw_principal p;
    char why[128];
    cr_assert_eq(verify_token(token, &p, why), GW_AUTH_OK, "%s", why);
}

Test(gw_auth, tampered_payload)
{
    char *t = sign(GOOD_CLAIMS);
    char *dot = strchr(t, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    expect_invalid(t, "");
    free(t);
}

Test(gw_auth, algorithm_allow_list)
{
    char token[4096];
    forge("{\"alg\":\"none\"}", GOOD_CLAIMS, SECRET, token);
    expect_invalid(token, "not allowed");
    /* alg none with an empty signature, the classic attack */
    char h[64], p[1024], t2[2048];
    b64url((const unsigned char *)"{\"alg\":\"none\"}", 14, h);
    b64url((const unsigned char *)GOOD_CLAIMS, strlen(GOOD_CLAIMS), p);
    snprintf(t2, sizeof(t2), "%s.%s.", h, p);
    expect_invalid(t2, "");
    forge("{\"alg\":\"RS256\"}", GOOD_CLAIMS, SECRET, token);
    expect_invalid(token, "not allowed");
    forge("{\"alg\":\"HS512\"}", GOOD_CLAIMS, SECRET, token);
    expect_invalid(token, "not allowed");
    forge("{\"typ\":\"JWT\"}", GOOD_CLAIMS, SECRET, token);
    expect_invalid(token, "not allowed");
    forge("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", GOOD_CLAIMS, SECRET, token);
    expect_invalid(token, "type");
}

Test(gw_auth, malformed)
{
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "..", "a..", "!!!.???.***",
                         "eyJhbGciOiJIUzI1NiJ9.e30.", "e30.e30.e30",
                         "W10.e30.AAAA" /* header is an array */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_principal p;
        char why[128];
        cr_assert_neq(verify_token(bad[i], &p, why), GW_AUTH_OK, "accepted '%s'", bad[i]);
    }
}

Test(gw_auth, header_forms)
{
    struct gw_principal p;
    char why[128];
    cr_assert_eq(gw_auth_verify(auth, NULL, NOW, &p, why, sizeof(why)), GW_AUTH_MISSING);
    cr_assert_eq(gw_auth_verify(auth, "", NOW, &p, why, sizeof(why)), GW_AUTH_MISSING);
    cr_assert_eq(gw_auth_verify(auth, "Basic dXNlcjpwYXNz", NOW, &p, why, sizeof(why)),
                 GW_AUTH_INVALID);
    cr_assert_eq(gw_auth_verify(auth, "Bearer ", NOW, &p, why, sizeof(why)), GW_AUTH_INVALID);
    static char huge[20000];
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'a', sizeof(huge) - 8);
    cr_assert_eq(gw_auth_verify(auth, huge, NOW, &p, why, sizeof(why)), GW_AUTH_INVALID);
    char *t = sign(GOOD_CLAIMS);
    char header[4096];
    snprintf(header, sizeof(header), "bearer %s", t);
    cr_assert_eq(gw_auth_verify(auth, header, NOW, &p, why, sizeof(why)), GW_AUTH_OK,
                 "scheme is case-insensitive: %s", why);
    free(t);
}

Test(gw_auth, scopes)
{
    char *t = sign("{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
                   "\"scope\":\"events:read events:write\"}");
    struct gw_principal p;
    char why[128];
    cr_assert_eq(verify_token(t, &p, why), GW_AUTH_OK, "%s", why);
    cr_assert(gw_principal_has_scope(&p, "events:write"));
    cr_assert(gw_principal_has_scope(&p, "events:read"));
    cr_assert_not(gw_principal_has_scope(&p, "events"));
    cr_assert_not(gw_principal_has_scope(&p, "events:writer"));
    free(t);
    t = sign("{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
             "\"scp\":[\"a\",\"events:write\"]}");
    cr_assert_eq(verify_token(t, &p, why), GW_AUTH_OK, "%s", why);
    cr_assert(gw_principal_has_scope(&p, "events:write"), "scp arrays count too");
    free(t);
    t = sign(GOOD_CLAIMS);
    cr_assert_eq(verify_token(t, &p, why), GW_AUTH_OK, "%s", why);
    cr_assert_not(gw_principal_has_scope(&p, "events:write"));
    free(t);
}

/* ---- public keys ---- */

#include <jwt.h>
#include <openssl/pem.h>

struct keypair {
    char priv[8192];
    char pub[4096];
};

static void make_key(const char *type, const char *curve_or_bits, struct keypair *kp)
{
    EVP_PKEY *k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                           : EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve_or_bits);
    cr_assert_not_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    int n = BIO_read(b, kp->priv, sizeof(kp->priv) - 1);
    kp->priv[n > 0 ? n : 0] = '\0';
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    n = BIO_read(b, kp->pub, sizeof(kp->pub) - 1);
    kp->pub[n > 0 ? n : 0] = '\0';
    BIO_free(b);
    EVP_PKEY_free(k);
}

static char *sign_with(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);
    cr_assert_eq(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    cr_assert_not_null(t);
    return t;
}

static enum gw_auth_result verify_with(struct gw_auth *a, const char *token, char *why)
{
    char header[9000];
    struct gw_principal p;
    snprintf(header, sizeof(header), "Bearer %s", token);
    return gw_auth_verify(a, header, NOW, &p, why, 128);
}

#define PK_CLAIMS "{\"sub\":\"u\",\"exp\":1795400000}"

Test(gw_auth_keys, rs256_and_es256_with_public_keys)
{
    struct keypair rsa, ec, other;
    make_key("RSA", NULL, &rsa);
    make_key("EC", "P-256", &ec);
    make_key("RSA", NULL, &other);
    char err[128], why[128];
    struct gw_auth_config rc = {NULL, NULL, NULL, 30, "tenant", rsa.pub};
    struct gw_auth *ra = gw_auth_new(&rc, err, sizeof(err));
    cr_assert_not_null(ra, "%s", err);
    struct gw_auth_config ecc = {NULL, NULL, NULL, 30, "tenant", ec.pub};
    struct gw_auth *ea = gw_auth_new(&ecc, err, sizeof(err));
    cr_assert_not_null(ea, "%s", err);

    char *t = sign_with(JWT_ALG_RS256, rsa.priv, PK_CLAIMS);
    cr_assert_eq(verify_with(ra, t, why), GW_AUTH_OK, "%s", why);
    cr_assert_eq(verify_with(ea, t, why), GW_AUTH_INVALID, "RS256 against an EC key");
    free(t);
    t = sign_with(JWT_ALG_ES256, ec.priv, PK_CLAIMS);
    cr_assert_eq(verify_with(ea, t, why), GW_AUTH_OK, "%s", why);
    cr_assert_eq(verify_with(ra, t, why), GW_AUTH_INVALID);
    cr_assert(strstr(why, "not allowed") != NULL, "%s", why);
    free(t);
    t = sign_with(JWT_ALG_RS256, other.priv, PK_CLAIMS);
    cr_assert_eq(verify_with(ra, t, why), GW_AUTH_INVALID, "signed by another key");
    free(t);
    /* the classic confusion: HS256 keyed with the public key's PEM text */
    t = sign_with(JWT_ALG_HS256, rsa.pub, PK_CLAIMS);
    cr_assert_eq(verify_with(ra, t, why), GW_AUTH_INVALID);
    cr_assert(strstr(why, "HS256 is not allowed") != NULL, "%s", why);
    free(t);
    gw_auth_free(ra);
    gw_auth_free(ea);

    struct gw_auth_config bad = {NULL, NULL, NULL, 30, "tenant", "-----BEGIN PUBLIC KEY-----\nxx\n"};
    cr_assert_null(gw_auth_new(&bad, err, sizeof(err)));
    struct gw_auth_config none = {NULL, NULL, NULL, 30, "tenant", NULL};
    cr_assert_null(gw_auth_new(&none, err, sizeof(err)));
}
