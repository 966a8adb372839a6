/* gw_auth: JWT verification on top of libjwt (see gw_auth.h). */
#include "gw_auth.h"

#include "cm/mem.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_kind { KEY_NONE, KEY_RSA, KEY_EC256, KEY_EC384 };

struct gw_auth {
    char *secret; /* NULL: HS256 not accepted */
    size_t secret_len;
    char *pem; /* NULL: no public key */
    size_t pem_len;
    enum key_kind kind;
    char *issuer;
    char *audience;
    int64_t leeway_s;
    char *tenant_claim;
};

/* The kind of a PEM public key, KEY_NONE when it is not one we accept. */
static enum key_kind key_kind_of(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    enum key_kind kind = KEY_NONE;
    if (key && EVP_PKEY_base_id(key) == EVP_PKEY_RSA) {
        kind = KEY_RSA;
    } else if (key && EVP_PKEY_base_id(key) == EVP_PKEY_EC) {
        int bits = EVP_PKEY_get_bits(key);
        kind = bits == 256 ? KEY_EC256 : bits == 384 ? KEY_EC384 : KEY_NONE;
    }
    EVP_PKEY_free(key);
    BIO_free(bio);
    return kind;
}

struct gw_auth *gw_auth_new(const struct gw_auth_config *cfg, char *err, size_t errlen)
{
    struct gw_auth *a = cm_xcalloc(1, sizeof(*a));
    if (cfg->hs256_secret && *cfg->hs256_secret) {
        a->secret = cm_xstrdup(cfg->hs256_secret);
        a->secret_len = strlen(a->secret);
    }
    if (cfg->public_key_pem && *cfg->public_key_pem) {
        a->kind = key_kind_of(cfg->public_key_pem);
        if (a->kind == KEY_NONE) {
            snprintf(err, errlen, "not an RSA or EC (P-256, P-384) public key in PEM form");
            gw_auth_free(a);
            return NULL;
        }
        a->pem = cm_xstrdup(cfg->public_key_pem);
        a->pem_len = strlen(a->pem);
    }
    if (!a->secret && !a->pem) {
        snprintf(err, errlen, "no key: set an HS256 secret or a public key");
        gw_auth_free(a);
        return NULL;
    }
    a->issuer = cfg->issuer ? cm_xstrdup(cfg->issuer) : NULL;
    a->audience = cfg->audience ? cm_xstrdup(cfg->audience) : NULL;
    a->leeway_s = cfg->leeway_s;
    a->tenant_claim = cm_xstrdup(cfg->tenant_claim ? cfg->tenant_claim : "tenant");
    return a;
}

void gw_auth_free(struct gw_auth *a)
{
    if (!a) {
        return;
    }
    free(a->secret);
    free(a->pem);
    free(a->issuer);
    free(a->audience);
    free(a->tenant_claim);
    free(a);
}

/* Decodes base64url (no padding) into a fresh NUL-terminated buffer; NULL when invalid. */
static char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
    if (len % 4 == 1) {
        return NULL;
    }
    size_t padded = (len + 3) / 4 * 4;
    unsigned char *tmp = cm_xmalloc(padded + 1);
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            free(tmp);
            return NULL;
        }
        tmp[i] = (unsigned char)c;
    }
    for (size_t i = len; i < padded; i++) {
        tmp[i] = '=';
    }
    unsigned char *out = cm_xmalloc(padded / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, tmp, (int)padded);
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

static enum gw_auth_result reject(char *why, size_t len, const char *msg)
{
    snprintf(why, len, "%s", msg);
    return GW_AUTH_INVALID;
}

/* Whether alg may be used with the configured keys: HS256 only with a secret, RS* only with an
 * RSA key, ES256/ES384 only with an EC key of that curve size. Sets *hmac for HS256. */
static int alg_allowed(const struct gw_auth *a, const char *alg, int *hmac)
{
    *hmac = 0;
    if (strcmp(alg, "HS256") == 0) {
        *hmac = 1;
        return a->secret != NULL;
    }
    if (strcmp(alg, "RS256") == 0 || strcmp(alg, "RS384") == 0 || strcmp(alg, "RS512") == 0) {
        return a->kind == KEY_RSA;
    }
    if (strcmp(alg, "ES256") == 0) {
        return a->kind == KEY_EC256;
    }
    if (strcmp(alg, "ES384") == 0) {
        return a->kind == KEY_EC384;
    }
    return 0;
}

/* Checks the header segment: a JSON object whose alg the configured keys allow (and typ JWT when
 * present). Sets *hmac when the token is HS256. */
static int header_ok(const struct gw_auth *a, const char *token, size_t seglen, int *hmac,
                     char *why, size_t whylen)
{
    size_t n;
    char *text = b64url_decode(token, seglen, &n);
    if (!text) {
        snprintf(why, whylen, "malformed token header");
        return 0;
    }
    json_t *h = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const json_t *typ = json_object_get(h, "typ");
    int ok = 0;
    if (!json_is_object(h)) {
        snprintf(why, whylen, "malformed token header");
    } else if (!alg || !alg_allowed(a, alg, hmac)) {
        snprintf(why, whylen, "algorithm %.32s is not allowed", alg ? alg : "(missing)");
    } else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) {
        snprintf(why, whylen, "token type is not JWT");
    } else {
        ok = 1;
    }
    json_decref(h);
    return ok;
}

static int aud_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), want) == 0;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) {
            return 1;
        }
    }
    return 0;
}

static enum gw_auth_result check_claims(const struct gw_auth *a, const json_t *c, int64_t now,
                                        struct gw_principal *out, char *why, size_t len)
{
    const json_t *exp = json_object_get(c, "exp");
    const json_t *nbf = json_object_get(c, "nbf");
    if (!json_is_number(exp)) {
        return reject(why, len, "token has no exp claim");
    }
    if ((double)now > json_number_value(exp) + (double)a->leeway_s) {
        return reject(why, len, "token expired");
    }
    if (nbf && (!json_is_number(nbf) || (double)now + (double)a->leeway_s < json_number_value(nbf))) {
        return reject(why, len, "token not yet valid");
    }
    if (a->issuer) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!iss || strcmp(iss, a->issuer) != 0) {
            return reject(why, len, "wrong issuer");
        }
    }
    if (a->audience && !aud_matches(json_object_get(c, "aud"), a->audience)) {
        return reject(why, len, "wrong audience");
    }
    const json_t *tenant = json_object_get(c, a->tenant_claim);
    const char *sub = json_string_value(json_object_get(c, "sub"));
    if (tenant && (!json_is_string(tenant) || json_string_length(tenant) >= sizeof(out->tenant))) {
        return reject(why, len, "tenant claim must be a string of at most 127 bytes");
    }
    snprintf(out->tenant, sizeof(out->tenant), "%s", tenant ? json_string_value(tenant) : "");
    snprintf(out->subject, sizeof(out->subject), "%s", sub ? sub : "");
    out->expires_s = (int64_t)json_number_value(exp) + a->leeway_s;
    const json_t *scope = json_object_get(c, "scope");
    const json_t *scp = json_object_get(c, "scp");
    if (json_is_string(scope)) {
        snprintf(out->scopes, sizeof(out->scopes), "%s", json_string_value(scope));
    } else if (json_is_array(scp)) {
        size_t i, pos = 0;
        const json_t *v;
        json_array_foreach(scp, i, v)
        {
            if (json_is_string(v) && pos < sizeof(out->scopes)) {
                int n = snprintf(out->scopes + pos, sizeof(out->scopes) - pos, "%s%s",
                                 pos ? " " : "", json_string_value(v));
                pos += n > 0 ? (size_t)n : 0;
            }
        }
    }
    return GW_AUTH_OK;
}

enum gw_auth_result gw_auth_verify(const struct gw_auth *a, const char *authorization,
                                   int64_t now_s, struct gw_principal *out, char *why,
                                   size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (!authorization || !*authorization) {
        snprintf(why, whylen, "missing bearer token");
        return GW_AUTH_MISSING;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        return reject(why, whylen, "authorization scheme must be Bearer");
    }
    const char *token = authorization + 7;
    while (*token == ' ') {
        token++;
    }
    size_t tlen = strlen(token);
    if (tlen == 0 || tlen > GW_AUTH_MAX_TOKEN) {
        return reject(why, whylen, "token is empty or too long");
    }
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0') {
        return reject(why, whylen, "malformed token");
    }
    int hmac = 0;
    if (!header_ok(a, token, (size_t)(dot1 - token), &hmac, why, whylen)) {
        return GW_AUTH_INVALID;
    }
    jwt_t *jwt = NULL;
    const char *key = hmac ? a->secret : a->pem;
    size_t keylen = hmac ? a->secret_len : a->pem_len;
    if (jwt_decode(&jwt, token, (const unsigned char *)key, (int)keylen) != 0 || !jwt) {
        jwt_free(jwt);
        return reject(why, whylen, "signature verification failed");
    }
    jwt_alg_t got = jwt_get_alg(jwt);
    if (hmac ? got != JWT_ALG_HS256
             : !(got == JWT_ALG_RS256 || got == JWT_ALG_RS384 || got == JWT_ALG_RS512 ||
                 got == JWT_ALG_ES256 || got == JWT_ALG_ES384)) {
        jwt_free(jwt);
        return reject(why, whylen, "algorithm is not allowed");
    }
    char *claims_text = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    json_t *claims = claims_text ? json_loads(claims_text, 0, NULL) : NULL;
    free(claims_text);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return reject(why, whylen, "malformed claims");
    }
    enum gw_auth_result r = check_claims(a, claims, now_s, out, why, whylen);
    json_decref(claims);
    return r;
}

char *gw_auth_sign_hs256(const char *secret, const char *claims_json)
{
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0) {
        return NULL;
    }
    char *out = NULL;
    if (jwt_add_grants_json(jwt, claims_json) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) == 0) {
        out = jwt_encode_str(jwt);
    }
    jwt_free(jwt);
    return out;
}

int gw_principal_has_scope(const struct gw_principal *p, const char *scope)
{
    size_t n = strlen(scope);
    const char *s = p->scopes;
    while (*s) {
        while (*s == ' ') {
            s++;
        }
        size_t len = strcspn(s, " ");
        if (len == n && n > 0 && strncmp(s, scope, n) == 0) {
            return 1;
        }
        s += len;
    }
    return 0;
}
