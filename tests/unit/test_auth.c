/* Unit tests for the gateway's token checks (services/gateway/cm_auth.c): valid tokens, and every
 * way a token must be refused: expired, not yet valid, wrong issuer or audience, forged signature,
 * alg "none", other algorithms, malformed tokens and headers. */
#include "cm/auth.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW 1795397331LL

static struct cm_auth *auth;

static void setup(void)
{
    struct cm_auth_config c = {
        SECRET, "https://issuer.example", "events-api", 30, "tenant", NULL, NULL, 0};
    char err[128];
    auth = cm_auth_new(&c, err, sizeof(err));
    cr_assert_not_null(auth, "%s", err);
}

static void teardown(void)
{
    cm_auth_free(auth);
}

TestSuite(cm_auth, .init = setup, .fini = teardown);

static char *sign(const char *claims)
{
    char *t = cm_auth_sign_hs256(SECRET, claims);
    cr_assert_not_null(t);
    return t;
}

static enum cm_auth_result verify_token(const char *token, struct cm_principal *p, char *why)
{
    char header[9000];
    snprintf(header, sizeof(header), "Bearer %s", token);
    return cm_auth_verify(auth, header, NOW, p, why, 128);
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
    "{\"sub\":\"u1\",\"tenant\":\"acme\",\"iss\":\"https://"                                       \
    "issuer.example\",\"aud\":\"events-api\","                                                     \
    "\"exp\":1795400000}"

Test(cm_auth, valid_token)
{
    char *t = sign(GOOD_CLAIMS);
    struct cm_principal p;
    char why[128] = "";
    cr_assert_eq(verify_token(t, &p, why), CM_AUTH_OK, "%s", why);
    cr_assert_str_eq(p.tenant, "acme");
    cr_assert_str_eq(p.subject, "u1");
    free(t);
}

Test(cm_auth, audience_array)
{
    char *t = sign("{\"iss\":\"https://issuer.example\",\"aud\":[\"other\",\"events-api\"],"
                   "\"exp\":1795400000}");
    struct cm_principal p;
    char why[128];
    cr_assert_eq(verify_token(t, &p, why), CM_AUTH_OK, "%s", why);
    cr_assert_str_eq(p.tenant, "");
    free(t);
}

static void expect_invalid(const char *token, const char *reason)
{
    struct cm_principal p;
    char why[128] = "";
    cr_assert_eq(verify_token(token, &p, why), CM_AUTH_INVALID, "accepted: %s", token);
    cr_assert(strstr(why, reason) != NULL, "reason '%s' should mention '%s'", why, reason);
}

Test(cm_auth, claim_checks)
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
        /* a control character (state joins tenant and key with \u001f), or past 127 bytes */
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
         "\"tenant\":\"a\\u001fb\"}",
         "tenant claim"},
        {"{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
         "\"tenant\":\"0123456789012345678901234567890123456789012345678901234567890123456789"
         "012345678901234567890123456789012345678901234567890123456789\"}",
         "tenant claim"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = sign(cases[i].claims);
        expect_invalid(t, cases[i].reason);
        free(t);
    }
}

Test(cm_auth, leeway_applies)
{
    /* expired 20 s ago, leeway 30 s: accepted; nbf 20 s ahead: accepted */
    char *t = sign("{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795397311,"
                   "\"nbf\":1795397351}");
    struct cm_principal p;
    char why[128];
    cr_assert_eq(verify_token(t, &p, why), CM_AUTH_OK, "%s", why);
    free(t);
}

Test(cm_auth, forged_signature)
{
    char token[4096];
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_CLAIMS, "not-the-secret-not-the-secret!!",
          token);
    expect_invalid(token, "signature");
    /* the right key signs: control case, so the forgery test can fail */
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_CLAIMS, SECRET, token);
    struct cm_principal p;
    char why[128];
    cr_assert_eq(verify_token(token, &p, why), CM_AUTH_OK, "%s", why);
}

Test(cm_auth, tampered_payload)
{
    char *t = sign(GOOD_CLAIMS);
    char *dot = strchr(t, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    expect_invalid(t, "");
    free(t);
}

Test(cm_auth, algorithm_allow_list)
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

Test(cm_auth, malformed)
{
    const char *bad[] = {"",
                         "abc",
                         "a.b",
                         "a.b.c.d",
                         "..",
                         "a..",
                         "!!!.???.***",
                         "eyJhbGciOiJIUzI1NiJ9.e30.",
                         "e30.e30.e30",
                         "W10.e30.AAAA" /* header is an array */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cm_principal p;
        char why[128];
        cr_assert_neq(verify_token(bad[i], &p, why), CM_AUTH_OK, "accepted '%s'", bad[i]);
    }
}

Test(cm_auth, header_forms)
{
    struct cm_principal p;
    char why[128];
    cr_assert_eq(cm_auth_verify(auth, NULL, NOW, &p, why, sizeof(why)), CM_AUTH_MISSING);
    cr_assert_eq(cm_auth_verify(auth, "", NOW, &p, why, sizeof(why)), CM_AUTH_MISSING);
    cr_assert_eq(cm_auth_verify(auth, "Basic dXNlcjpwYXNz", NOW, &p, why, sizeof(why)),
                 CM_AUTH_INVALID);
    cr_assert_eq(cm_auth_verify(auth, "Bearer ", NOW, &p, why, sizeof(why)), CM_AUTH_INVALID);
    static char huge[20000];
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'a', sizeof(huge) - 8);
    cr_assert_eq(cm_auth_verify(auth, huge, NOW, &p, why, sizeof(why)), CM_AUTH_INVALID);
    char *t = sign(GOOD_CLAIMS);
    char header[4096];
    snprintf(header, sizeof(header), "bearer %s", t);
    cr_assert_eq(cm_auth_verify(auth, header, NOW, &p, why, sizeof(why)), CM_AUTH_OK,
                 "scheme is case-insensitive: %s", why);
    free(t);
}

Test(cm_auth, scopes)
{
    char *t = sign("{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
                   "\"scope\":\"events:read events:write\"}");
    struct cm_principal p;
    char why[128];
    cr_assert_eq(verify_token(t, &p, why), CM_AUTH_OK, "%s", why);
    cr_assert(cm_principal_has_scope(&p, "events:write"));
    cr_assert(cm_principal_has_scope(&p, "events:read"));
    cr_assert_not(cm_principal_has_scope(&p, "events"));
    cr_assert_not(cm_principal_has_scope(&p, "events:writer"));
    free(t);
    t = sign("{\"iss\":\"https://issuer.example\",\"aud\":\"events-api\",\"exp\":1795400000,"
             "\"scp\":[\"a\",\"events:write\"]}");
    cr_assert_eq(verify_token(t, &p, why), CM_AUTH_OK, "%s", why);
    cr_assert(cm_principal_has_scope(&p, "events:write"), "scp arrays count too");
    free(t);
    t = sign(GOOD_CLAIMS);
    cr_assert_eq(verify_token(t, &p, why), CM_AUTH_OK, "%s", why);
    cr_assert_not(cm_principal_has_scope(&p, "events:write"));
    free(t);
}

/* ---- public keys ---- */

#include <jwt.h>
#include <openssl/pem.h>

struct keypair {
    char priv[8192];
    char pub[4096];
};

static EVP_PKEY *keygen(const char *type, const char *curve)
{
    EVP_PKEY *k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                           : EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    cr_assert_not_null(k);
    return k;
}

/* The PEM forms of k's private and public halves. */
static void write_pems(EVP_PKEY *k, struct keypair *kp)
{
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
}

static void make_key(const char *type, const char *curve, struct keypair *kp)
{
    EVP_PKEY *k = keygen(type, curve);
    write_pems(k, kp);
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

static enum cm_auth_result verify_with(struct cm_auth *a, const char *token, char *why)
{
    char header[9000];
    struct cm_principal p;
    snprintf(header, sizeof(header), "Bearer %s", token);
    return cm_auth_verify(a, header, NOW, &p, why, 128);
}

#define PK_CLAIMS "{\"sub\":\"u\",\"exp\":1795400000}"

Test(cm_auth_keys, rs256_and_es256_with_public_keys)
{
    struct keypair rsa, ec, other;
    make_key("RSA", NULL, &rsa);
    make_key("EC", "P-256", &ec);
    make_key("RSA", NULL, &other);
    char err[128], why[128];
    struct cm_auth_config rc = {NULL, NULL, NULL, 30, "tenant", rsa.pub, NULL, 0};
    struct cm_auth *ra = cm_auth_new(&rc, err, sizeof(err));
    cr_assert_not_null(ra, "%s", err);
    struct cm_auth_config ecc = {NULL, NULL, NULL, 30, "tenant", ec.pub, NULL, 0};
    struct cm_auth *ea = cm_auth_new(&ecc, err, sizeof(err));
    cr_assert_not_null(ea, "%s", err);

    char *t = sign_with(JWT_ALG_RS256, rsa.priv, PK_CLAIMS);
    cr_assert_eq(verify_with(ra, t, why), CM_AUTH_OK, "%s", why);
    cr_assert_eq(verify_with(ea, t, why), CM_AUTH_INVALID, "RS256 against an EC key");
    free(t);
    t = sign_with(JWT_ALG_ES256, ec.priv, PK_CLAIMS);
    cr_assert_eq(verify_with(ea, t, why), CM_AUTH_OK, "%s", why);
    cr_assert_eq(verify_with(ra, t, why), CM_AUTH_INVALID);
    cr_assert(strstr(why, "not allowed") != NULL, "%s", why);
    free(t);
    t = sign_with(JWT_ALG_RS256, other.priv, PK_CLAIMS);
    cr_assert_eq(verify_with(ra, t, why), CM_AUTH_INVALID, "signed by another key");
    free(t);
    /* the classic confusion: HS256 keyed with the public key's PEM text */
    t = sign_with(JWT_ALG_HS256, rsa.pub, PK_CLAIMS);
    cr_assert_eq(verify_with(ra, t, why), CM_AUTH_INVALID);
    cr_assert(strstr(why, "HS256 is not allowed") != NULL, "%s", why);
    free(t);
    cm_auth_free(ra);
    cm_auth_free(ea);

    struct cm_auth_config bad = {NULL, NULL, NULL, 30, "tenant", "-----BEGIN PUBLIC KEY-----\nxx\n",
                                 NULL, 0};
    cr_assert_null(cm_auth_new(&bad, err, sizeof(err)));
    struct cm_auth_config none = {NULL, NULL, NULL, 30, "tenant", NULL, NULL, 0};
    cr_assert_null(cm_auth_new(&none, err, sizeof(err)));
}

/* ---- JWKS ---- */

#include <openssl/core_names.h>

/* b64url of a big number parameter of k, left-padded to width bytes (0: natural length). */
static void bn_param_b64(EVP_PKEY *k, const char *name, size_t width, char *out)
{
    BIGNUM *bn = NULL;
    cr_assert(EVP_PKEY_get_bn_param(k, name, &bn));
    unsigned char buf[1024];
    int n = width ? BN_bn2binpad(bn, buf, (int)width) : BN_bn2bin(bn, buf);
    b64url(buf, (size_t)n, out);
    BN_free(bn);
}

struct jwk_key {
    struct keypair kp;
    char jwk[1024]; /* the public key as a JWK without kid or alg */
};

static void make_jwk(const char *type, const char *curve, struct jwk_key *out)
{
    EVP_PKEY *k = keygen(type, curve);
    write_pems(k, &out->kp);
    char p1[400], p2[400]; /* b64url of at most 256 bytes */
    if (strcmp(type, "RSA") == 0) {
        bn_param_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, p1);
        bn_param_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, p2);
        snprintf(out->jwk, sizeof(out->jwk), "\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", p1, p2);
    } else {
        size_t size = strcmp(curve, "P-256") == 0 ? 32 : 48;
        bn_param_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, size, p1);
        bn_param_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, size, p2);
        snprintf(out->jwk, sizeof(out->jwk),
                 "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"", curve, p1, p2);
    }
    EVP_PKEY_free(k);
}

static char *sign_kid(jwt_alg_t alg, const char *key, const char *kid, const char *claims)
{
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);
    if (kid) {
        jwt_add_header(jwt, "kid", kid);
    }
    cr_assert_eq(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    cr_assert_not_null(t);
    return t;
}

static struct cm_auth *with_jwks(const char *jwks, char *err)
{
    struct cm_auth_config c = {NULL, NULL, NULL, 30, "tenant", NULL, jwks, 0};
    return cm_auth_new(&c, err, 256);
}

Test(cm_auth_keys, jwks_keys_selected_by_kid)
{
    struct jwk_key r1, r2, e1;
    make_jwk("RSA", NULL, &r1);
    make_jwk("RSA", NULL, &r2);
    make_jwk("EC", "P-256", &e1);
    char jwks[16384], err[256], why[128];
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{%s,\"kid\":\"r1\",\"use\":\"sig\"},{%s,\"kid\":\"r2\",\"alg\":\"RS256\"},"
             "{%s,\"kid\":\"e1\"},{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"sym\"},"
             "{%s,\"kid\":\"enc\",\"use\":\"enc\"}]}",
             r1.jwk, r2.jwk, e1.jwk, r1.jwk);
    struct cm_auth *a = with_jwks(jwks, err);
    cr_assert_not_null(a, "%s", err);
    cr_assert_eq(cm_auth_key_count(a), 3, "oct and encryption keys are skipped");

    char *t = sign_kid(JWT_ALG_RS256, r2.kp.priv, "r2", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_OK, "%s", why);
    free(t);
    t = sign_kid(JWT_ALG_RS512, r1.kp.priv, "r1", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_OK, "r1 names no alg: any RS*: %s", why);
    free(t);
    t = sign_kid(JWT_ALG_ES256, e1.kp.priv, "e1", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_OK, "%s", why);
    free(t);
    t = sign_kid(JWT_ALG_RS256, r2.kp.priv, NULL, PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_OK, "no kid: every fitting key is tried: %s", why);
    free(t);

    t = sign_kid(JWT_ALG_RS256, r2.kp.priv, "r1", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_INVALID, "signed by r2, claims r1");
    cr_assert(strstr(why, "signature") != NULL, "%s", why);
    free(t);
    t = sign_kid(JWT_ALG_RS256, r1.kp.priv, "nope", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_INVALID);
    cr_assert(strstr(why, "unknown key id nope") != NULL, "%s", why);
    free(t);
    t = sign_kid(JWT_ALG_RS384, r2.kp.priv, "r2", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_INVALID, "r2 is RS256 only");
    cr_assert(strstr(why, "not allowed with key r2") != NULL, "%s", why);
    free(t);
    t = sign_kid(JWT_ALG_RS256, r1.kp.priv, "e1", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_INVALID, "RS256 with an EC key's kid");
    free(t);
    t = sign_kid(JWT_ALG_HS256, "c2VjcmV0-but-long-enough-0123456789", "sym", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_INVALID, "no HS256 without a secret");
    free(t);
    t = sign_kid(JWT_ALG_ES384, e1.kp.priv, "e1", PK_CLAIMS);
    cr_assert_eq(verify_with(a, t, why), CM_AUTH_INVALID);
    free(t);
    cm_auth_free(a);
}

Test(cm_auth_keys, hostile_jwks_documents_are_refused)
{
    struct jwk_key r;
    make_jwk("RSA", NULL, &r);
    char small_n[64];
    unsigned char raw[128];
    memset(raw, 0xAB, sizeof(raw));
    b64url(raw, 40, small_n);
    static char docs[3][8192];
    const char *cases[][2] = {
        {"not json", "JWKS"},
        {"[]", "keys"},
        {"{\"keys\":{}}", "keys"},
        {"{\"keys\":[42]}", "keys[0]"},
        {"{\"keys\":[{\"n\":\"AQAB\"}]}", "keys[0]"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}", "keys[0]: an RSA key needs"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!!!\",\"e\":\"AQAB\"}]}", "keys[0]"},
        {docs[0], "2048 bits"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}]}",
         "P-256 or P-384"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
         "32 bytes"},
        {docs[1], "appears twice"},
        {docs[2], "alg HS256 is not supported"},
    };
    snprintf(docs[0], sizeof(docs[0]), "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}]}",
             small_n);
    snprintf(docs[1], sizeof(docs[1]), "{\"keys\":[{%s,\"kid\":\"a\"},{%s,\"kid\":\"a\"}]}", r.jwk,
             r.jwk);
    snprintf(docs[2], sizeof(docs[2]), "{\"keys\":[{%s,\"alg\":\"HS256\"}]}", r.jwk);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        struct cm_auth *a = with_jwks(cases[i][0], err);
        cr_assert_null(a, "case %zu accepted", i);
        cr_assert(strstr(err, cases[i][1]) != NULL, "case %zu: %s", i, err);
    }
    char err[256];
    cr_assert_null(with_jwks("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}", err),
                   "no signing key left and no secret");
    cr_assert(strstr(err, "no key") != NULL, "%s", err);
    /* an EC point that is not on the curve */
    char bad_point[512], x[80];
    memset(raw, 0x01, sizeof(raw));
    b64url(raw, 32, x);
    snprintf(bad_point, sizeof(bad_point),
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, x);
    cr_assert_null(with_jwks(bad_point, err), "a point off the curve");
}

Test(cm_auth_keys, verified_tokens_are_cached_until_their_exp)
{
    struct cm_auth_config c = {SECRET, NULL, NULL, 0, "tenant", NULL, NULL, 16};
    char err[128], why[128];
    struct cm_auth *a = cm_auth_new(&c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    char *t = cm_auth_sign_hs256(SECRET, "{\"tenant\":\"acme\",\"exp\":1795400000}");
    char header[2048];
    snprintf(header, sizeof(header), "Bearer %s", t);
    struct cm_principal p;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cm_auth_verify(a, header, NOW, &p, why, sizeof(why)), CM_AUTH_OK, "%s", why);
        cr_assert_str_eq(p.tenant, "acme", "the cached principal is the verified one");
    }
    cr_assert_eq(cm_auth_verify(a, header, 1795400001LL, &p, why, sizeof(why)), CM_AUTH_INVALID,
                 "a cached token still expires");
    header[strlen(header) - 2] ^= 1; /* a different token (bad signature) never hits the cache */
    cr_assert_eq(cm_auth_verify(a, header, NOW, &p, why, sizeof(why)), CM_AUTH_INVALID);
    free(t);
    cm_auth_free(a);
}
