/* cm_auth: JWT verification on top of libjwt (see cm_auth.h): key set (PEM and JWKS), header
 * checks and key selection, claims, and the verified-token cache. */
#include "cm/auth.h"

#include "cm/envelope.h"
#include "cm/mem.h"
#include "cm/swap.h"
#include "cm/text.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_kind { KEY_NONE, KEY_RSA, KEY_EC256, KEY_EC384 };

/* A public key: PEM for libjwt, the JWK's kid and alg when it came from a JWKS. */
struct key {
    char *kid; /* NULL: matches any kid (a PEM key) */
    char *alg; /* NULL: any algorithm of its kind */
    enum key_kind kind;
    char *pem;
    size_t pem_len;
};

#define CACHE_STRIPES 16

/* A verified token: its SHA-256 and the principal it yielded. */
struct cache_slot {
    unsigned char digest[32];
    int used;
    struct cm_principal who;
};

struct cm_auth {
    char *secret; /* NULL: HS256 not accepted */
    size_t secret_len;
    struct key *keys;
    size_t nkeys;
    char *issuer;
    char *audience;
    int64_t leeway_s;
    char *tenant_claim;
    struct cache_slot *cache; /* direct-mapped by digest; NULL = no cache */
    size_t ncache;
    pthread_mutex_t stripes[CACHE_STRIPES];
};

static char *b64url_decode(const char *in, size_t len, size_t *outlen);

/* The kind of a public key, KEY_NONE when it is not one we accept. */
static enum key_kind kind_of(EVP_PKEY *key)
{
    if (key && EVP_PKEY_base_id(key) == EVP_PKEY_RSA) {
        return KEY_RSA;
    }
    if (key && EVP_PKEY_base_id(key) == EVP_PKEY_EC) {
        int bits = EVP_PKEY_get_bits(key);
        return bits == 256 ? KEY_EC256 : bits == 384 ? KEY_EC384 : KEY_NONE;
    }
    return KEY_NONE;
}

/* Adds a key given as PEM; 0, or -1 when it is not an accepted public key. */
static int add_pem(struct cm_auth *a, const char *pem, const char *kid, const char *alg)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    enum key_kind kind = kind_of(pkey);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (kind == KEY_NONE) {
        return -1;
    }
    a->keys = cm_xrealloc(a->keys, (a->nkeys + 1) * sizeof(*a->keys));
    struct key *k = &a->keys[a->nkeys++];
    k->kid = kid ? cm_xstrdup(kid) : NULL;
    k->alg = alg ? cm_xstrdup(alg) : NULL;
    k->kind = kind;
    k->pem = cm_xstrdup(pem);
    k->pem_len = strlen(k->pem);
    return 0;
}

/* A base64url member of a JWK decoded; NULL when missing or malformed. */
static unsigned char *jwk_bytes(const json_t *jwk, const char *name, size_t *len)
{
    const char *v = json_string_value(json_object_get(jwk, name));
    return v ? (unsigned char *)b64url_decode(v, strlen(v), len) : NULL;
}

/* The PEM form of an RSA or EC JWK; NULL with the reason in err. */
static char *jwk_to_pem(const json_t *jwk, const char *kty, char *err, size_t errlen)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    const char *type = NULL;
    unsigned char *p1 = NULL, *p2 = NULL, *point = NULL;
    BIGNUM *n = NULL, *e = NULL;
    size_t l1 = 0, l2 = 0;
    char *pem = NULL;
    if (strcmp(kty, "RSA") == 0) {
        type = "RSA";
        p1 = jwk_bytes(jwk, "n", &l1);
        p2 = jwk_bytes(jwk, "e", &l2);
        if (!p1 || !p2 || l1 == 0 || l2 == 0 || l2 > 8) {
            snprintf(err, errlen, "an RSA key needs base64url members n and e");
            goto out;
        }
        if (l1 < 256) {
            snprintf(err, errlen, "RSA keys shorter than 2048 bits are refused");
            goto out;
        }
        n = BN_bin2bn(p1, (int)l1, NULL);
        e = BN_bin2bn(p2, (int)l2, NULL);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    } else {
        type = "EC";
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        size_t size = crv && strcmp(crv, "P-256") == 0   ? 32
                      : crv && strcmp(crv, "P-384") == 0 ? 48
                                                         : 0;
        if (!size) {
            snprintf(err, errlen, "EC keys must be on curve P-256 or P-384");
            goto out;
        }
        p1 = jwk_bytes(jwk, "x", &l1);
        p2 = jwk_bytes(jwk, "y", &l2);
        if (!p1 || !p2 || l1 != size || l2 != size) {
            snprintf(err, errlen, "an EC key needs base64url members x and y of %zu bytes", size);
            goto out;
        }
        point = cm_xmalloc(1 + 2 * size);
        point[0] = 0x04; /* uncompressed point */
        memcpy(point + 1, p1, size);
        memcpy(point + 1 + size, p2, size);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        size == 32 ? "prime256v1" : "secp384r1", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size);
    }
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0 || !pkey) {
        snprintf(err, errlen, "not a valid %s public key", type);
    } else {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;
        if (bio && PEM_write_bio_PUBKEY(bio, pkey) && (len = BIO_get_mem_data(bio, &data)) > 0) {
            pem = cm_xstrndup(data, (size_t)len);
        } else {
            snprintf(err, errlen, "cannot encode the key");
        }
        BIO_free(bio);
    }
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(p1);
    free(p2);
    free(point);
    return pem;
}

static const char *const jwk_algs[] = {"RS256", "RS384", "RS512", "ES256", "ES384", NULL};

/* Adds the signing keys of a JWKS document; keys for encryption ("use": "enc") and of other
 * types (oct, OKP) are skipped. 0, or -1 with the reason in err. */
static int add_jwks(struct cm_auth *a, const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "JWKS: %s",
                 doc ? "a JSON object with a \"keys\" array is expected" : jerr.text);
        json_decref(doc);
        return -1;
    }
    size_t i;
    json_t *jwk;
    int rc = 0;
    json_array_foreach(keys, i, jwk)
    {
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        const char *use = json_string_value(json_object_get(jwk, "use"));
        const json_t *kid = json_object_get(jwk, "kid");
        const json_t *alg = json_object_get(jwk, "alg");
        char why[160];
        if (!json_is_object(jwk) || !kty) {
            snprintf(err, errlen, "JWKS keys[%zu]: an object with a kty is expected", i);
            rc = -1;
            break;
        }
        if ((use && strcmp(use, "sig") != 0) ||
            (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)) {
            continue; /* not a signing key of a type we verify */
        }
        if ((kid && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                     json_string_length(kid) > 256)) ||
            (alg && !json_is_string(alg))) {
            snprintf(err, errlen, "JWKS keys[%zu]: kid and alg must be short strings", i);
            rc = -1;
            break;
        }
        int known = !alg;
        for (size_t k = 0; alg && jwk_algs[k]; k++) {
            known |= strcmp(json_string_value(alg), jwk_algs[k]) == 0;
        }
        if (!known) {
            snprintf(err, errlen, "JWKS keys[%zu]: alg %.32s is not supported", i,
                     json_string_value(alg));
            rc = -1;
            break;
        }
        for (size_t k = 0; kid && k < a->nkeys; k++) {
            if (a->keys[k].kid && strcmp(a->keys[k].kid, json_string_value(kid)) == 0) {
                snprintf(err, errlen, "JWKS keys[%zu]: kid %.64s appears twice", i,
                         json_string_value(kid));
                rc = -1;
            }
        }
        char *pem = rc ? NULL : jwk_to_pem(jwk, kty, why, sizeof(why));
        if (rc == 0 && !pem) {
            snprintf(err, errlen, "JWKS keys[%zu]: %s", i, why);
            rc = -1;
        }
        if (rc != 0) {
            break;
        }
        add_pem(a, pem, kid ? json_string_value(kid) : NULL, alg ? json_string_value(alg) : NULL);
        free(pem);
    }
    json_decref(doc);
    return rc;
}

struct cm_auth *cm_auth_new(const struct cm_auth_config *cfg, char *err, size_t errlen)
{
    struct cm_auth *a = cm_xcalloc(1, sizeof(*a));
    for (int i = 0; i < CACHE_STRIPES; i++) {
        pthread_mutex_init(&a->stripes[i], NULL);
    }
    if (cfg->hs256_secret && *cfg->hs256_secret) {
        a->secret = cm_xstrdup(cfg->hs256_secret);
        a->secret_len = strlen(a->secret);
    }
    if (cfg->public_key_pem && *cfg->public_key_pem &&
        add_pem(a, cfg->public_key_pem, NULL, NULL) != 0) {
        snprintf(err, errlen, "not an RSA or EC (P-256, P-384) public key in PEM form");
        cm_auth_free(a);
        return NULL;
    }
    if (cfg->jwks && add_jwks(a, cfg->jwks, err, errlen) != 0) {
        cm_auth_free(a);
        return NULL;
    }
    if (!a->secret && a->nkeys == 0) {
        snprintf(err, errlen,
                 "no key: set an HS256 secret, a public key or a JWKS with signing keys");
        cm_auth_free(a);
        return NULL;
    }
    a->issuer = cfg->issuer ? cm_xstrdup(cfg->issuer) : NULL;
    a->audience = cfg->audience ? cm_xstrdup(cfg->audience) : NULL;
    a->leeway_s = cfg->leeway_s;
    a->tenant_claim = cm_xstrdup(cfg->tenant_claim ? cfg->tenant_claim : "tenant");
    if (cfg->cache_entries) {
        a->ncache = cfg->cache_entries;
        a->cache = cm_xcalloc(a->ncache, sizeof(*a->cache));
    }
    return a;
}

void cm_auth_free(struct cm_auth *a)
{
    if (!a) {
        return;
    }
    free(a->secret);
    for (size_t i = 0; i < a->nkeys; i++) {
        free(a->keys[i].kid);
        free(a->keys[i].alg);
        free(a->keys[i].pem);
    }
    free(a->keys);
    free(a->issuer);
    free(a->audience);
    free(a->tenant_claim);
    free(a->cache);
    for (int i = 0; i < CACHE_STRIPES; i++) {
        pthread_mutex_destroy(&a->stripes[i]);
    }
    free(a);
}

void cm_auth_release(void *a)
{
    cm_auth_free(a);
}

size_t cm_auth_key_count(const struct cm_auth *a)
{
    return a->nkeys;
}

/* Decodes base64url (no padding) into a fresh NUL-terminated buffer; NULL when invalid. */
static char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
    if (memchr(in, '=', len)) {
        return NULL; /* JWS and JWK members are unpadded */
    }
    return cm_base64_decode(in, len, 1, outlen);
}

static enum cm_auth_result reject(char *why, size_t len, const char *msg)
{
    snprintf(why, len, "%s", msg);
    return CM_AUTH_INVALID;
}

/* Whether key k may verify alg: RS* only with an RSA key, ES256/ES384 only with an EC key of that
 * curve size, and only the JWK's own alg when it names one. */
static int key_fits(const struct key *k, const char *alg)
{
    if (k->alg && strcmp(k->alg, alg) != 0) {
        return 0;
    }
    if (strcmp(alg, "RS256") == 0 || strcmp(alg, "RS384") == 0 || strcmp(alg, "RS512") == 0) {
        return k->kind == KEY_RSA;
    }
    if (strcmp(alg, "ES256") == 0) {
        return k->kind == KEY_EC256;
    }
    if (strcmp(alg, "ES384") == 0) {
        return k->kind == KEY_EC384;
    }
    return 0;
}

/* What the header segment says: alg (allowed by some configured key: HS256 only with a secret)
 * and kid. Checks typ JWT when present. */
struct token_header {
    char alg[8];
    char kid[257]; /* "" when absent */
    int hmac;
};

static int header_ok(const struct cm_auth *a, const char *token, size_t seglen,
                     struct token_header *th, char *why, size_t whylen)
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
    const json_t *kid = json_object_get(h, "kid");
    int allowed = 0;
    memset(th, 0, sizeof(*th));
    if (alg && strcmp(alg, "HS256") == 0) {
        th->hmac = 1;
        allowed = a->secret != NULL;
    }
    for (size_t i = 0; alg && !th->hmac && i < a->nkeys; i++) {
        allowed |= key_fits(&a->keys[i], alg);
    }
    int ok = 0;
    if (!json_is_object(h)) {
        snprintf(why, whylen, "malformed token header");
    } else if (!alg || !allowed) {
        snprintf(why, whylen, "algorithm %.32s is not allowed", alg ? alg : "(missing)");
    } else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) {
        snprintf(why, whylen, "token type is not JWT");
    } else if (kid && (!json_is_string(kid) || json_string_length(kid) >= sizeof(th->kid))) {
        snprintf(why, whylen, "malformed kid");
    } else {
        snprintf(th->alg, sizeof(th->alg), "%s", alg);
        snprintf(th->kid, sizeof(th->kid), "%s", kid ? json_string_value(kid) : "");
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

static enum cm_auth_result check_claims(const struct cm_auth *a, const json_t *c, int64_t now,
                                        struct cm_principal *out, char *why, size_t len)
{
    const json_t *exp = json_object_get(c, "exp");
    const json_t *nbf = json_object_get(c, "nbf");
    if (!json_is_number(exp)) {
        return reject(why, len, "token has no exp claim");
    }
    if ((double)now > json_number_value(exp) + (double)a->leeway_s) {
        return reject(why, len, "token expired");
    }
    if (nbf &&
        (!json_is_number(nbf) || (double)now + (double)a->leeway_s < json_number_value(nbf))) {
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
    if (tenant && (!json_is_string(tenant) ||
                   !cm_envelope_tenant_ok(json_string_value(tenant), json_string_length(tenant)))) {
        return reject(why, len,
                      "tenant claim must be a string of at most 127 bytes without control "
                      "characters");
    }
    snprintf(out->tenant, sizeof(out->tenant), "%s", tenant ? json_string_value(tenant) : "");
    snprintf(out->subject, sizeof(out->subject), "%s", sub ? sub : "");
    out->expires_s = (int64_t)json_number_value(exp) + a->leeway_s;
    const json_t *subjects = json_object_get(c, "subjects");
    if (subjects) {
        size_t i, pos = 0;
        const json_t *v;
        if (!json_is_array(subjects)) {
            return reject(why, len, "subjects claim must be an array of strings");
        }
        json_array_foreach(subjects, i, v)
        {
            const char *name = json_string_value(v);
            if (!name || !*name || strchr(name, ' ') ||
                pos + strlen(name) + 1 >= sizeof(out->subjects)) {
                return reject(why, len,
                              "subjects claim must hold names without spaces (511 bytes in all "
                              "at most)");
            }
            pos += (size_t)snprintf(out->subjects + pos, sizeof(out->subjects) - pos, "%s%s",
                                    pos ? " " : "", name);
        }
    }
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
    return CM_AUTH_OK;
}

/* Verifies the signature with the secret or with each key the header allows (only the kid's key
 * when the header names one); the claims of the first that verifies, as JSON text (caller frees).
 */
static char *verify_signature(const struct cm_auth *a, const char *token,
                              const struct token_header *th, char *why, size_t whylen)
{
    const char *candidates[64];
    size_t lens[64], n = 0;
    if (th->hmac) {
        candidates[n] = a->secret;
        lens[n++] = a->secret_len;
    } else {
        int kid_known = 0;
        for (size_t i = 0; th->kid[0] && i < a->nkeys; i++) {
            kid_known |= a->keys[i].kid && strcmp(a->keys[i].kid, th->kid) == 0;
        }
        for (size_t i = 0; i < a->nkeys && n < 64; i++) {
            const struct key *k = &a->keys[i];
            /* with a known kid only its key; else keys without a kid (a PEM key) and, for a
             * token without kid, every key that fits */
            int match = kid_known ? k->kid && strcmp(k->kid, th->kid) == 0 : !th->kid[0] || !k->kid;
            if (match && key_fits(k, th->alg)) {
                candidates[n] = k->pem;
                lens[n++] = k->pem_len;
            }
        }
        if (n == 0 && th->kid[0]) {
            if (kid_known) {
                snprintf(why, whylen, "algorithm %s is not allowed with key %.64s", th->alg,
                         th->kid);
            } else {
                snprintf(why, whylen, "unknown key id %.64s", th->kid);
            }
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        jwt_t *jwt = NULL;
        if (jwt_decode(&jwt, token, (const unsigned char *)candidates[i], (int)lens[i]) == 0 &&
            jwt) {
            jwt_alg_t got = jwt_get_alg(jwt);
            int same = th->hmac ? got == JWT_ALG_HS256
                                : strcmp(jwt_alg_str(got) ? jwt_alg_str(got) : "", th->alg) == 0;
            char *claims = same ? jwt_get_grants_json(jwt, NULL) : NULL;
            jwt_free(jwt);
            if (!same) {
                snprintf(why, whylen, "algorithm is not allowed");
                return NULL;
            }
            if (!claims) {
                snprintf(why, whylen, "malformed claims");
            }
            return claims;
        }
        jwt_free(jwt);
    }
    snprintf(why, whylen, "signature verification failed");
    return NULL;
}

/* The cache slot for a token digest and the stripe lock guarding it. */
static struct cache_slot *slot_for(const struct cm_auth *a, const unsigned char *digest,
                                   pthread_mutex_t **lock)
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    size_t i = (size_t)(h % a->ncache);
    *lock = (pthread_mutex_t *)&a->stripes[i % CACHE_STRIPES];
    return &a->cache[i];
}

/* A cached principal for this token still within its exp; 1 on a hit. */
static int cache_lookup(const struct cm_auth *a, const unsigned char *digest, int64_t now,
                        struct cm_principal *out)
{
    pthread_mutex_t *lock;
    struct cache_slot *slot = slot_for(a, digest, &lock);
    int hit = 0;
    pthread_mutex_lock(lock);
    if (slot->used && memcmp(slot->digest, digest, 32) == 0 && now <= slot->who.expires_s) {
        *out = slot->who;
        hit = 1;
    }
    pthread_mutex_unlock(lock);
    return hit;
}

static void cache_store(const struct cm_auth *a, const unsigned char *digest,
                        const struct cm_principal *who)
{
    pthread_mutex_t *lock;
    struct cache_slot *slot = slot_for(a, digest, &lock);
    pthread_mutex_lock(lock);
    memcpy(slot->digest, digest, 32);
    slot->who = *who;
    slot->used = 1;
    pthread_mutex_unlock(lock);
}

enum cm_auth_result cm_auth_verify(const struct cm_auth *a, const char *authorization,
                                   int64_t now_s, struct cm_principal *out, char *why,
                                   size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (!authorization || !*authorization) {
        snprintf(why, whylen, "missing bearer token");
        return CM_AUTH_MISSING;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        return reject(why, whylen, "authorization scheme must be Bearer");
    }
    const char *token = authorization + 7;
    while (*token == ' ') {
        token++;
    }
    size_t tlen = strlen(token);
    if (tlen == 0 || tlen > CM_AUTH_MAX_TOKEN) {
        return reject(why, whylen, "token is empty or too long");
    }
    unsigned char digest[32];
    unsigned int dlen = 0;
    int cacheable =
        a->cache && EVP_Digest(token, tlen, digest, &dlen, EVP_sha256(), NULL) && dlen == 32;
    if (cacheable && cache_lookup(a, digest, now_s, out)) {
        return CM_AUTH_OK;
    }
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0') {
        return reject(why, whylen, "malformed token");
    }
    struct token_header th;
    if (!header_ok(a, token, (size_t)(dot1 - token), &th, why, whylen)) {
        return CM_AUTH_INVALID;
    }
    char *claims_text = verify_signature(a, token, &th, why, whylen);
    if (!claims_text) {
        return CM_AUTH_INVALID;
    }
    json_t *claims = json_loads(claims_text, 0, NULL);
    free(claims_text);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return reject(why, whylen, "malformed claims");
    }
    enum cm_auth_result r = check_claims(a, claims, now_s, out, why, whylen);
    json_decref(claims);
    if (r == CM_AUTH_OK && cacheable) {
        cache_store(a, digest, out);
    }
    return r;
}

int cm_auth_authorize(struct cm_swap *keys, const char *authorization, const char *scope,
                      int64_t now_s, struct cm_principal *who, char *why, size_t whylen,
                      char *challenge, size_t challenge_len)
{
    struct cm_swap_hold hold = cm_swap_get(keys);
    enum cm_auth_result r = cm_auth_verify(hold.value, authorization, now_s, who, why, whylen);
    cm_swap_put(hold);
    if (r == CM_AUTH_OK && scope && *scope && !cm_principal_has_scope(who, scope)) {
        snprintf(challenge, challenge_len, "Bearer error=\"insufficient_scope\", scope=\"%s\"",
                 scope);
        snprintf(why, whylen, "the token lacks the scope %s", scope);
        return 403;
    }
    if (r == CM_AUTH_OK) {
        return 0;
    }
    if (r == CM_AUTH_MISSING) {
        snprintf(challenge, challenge_len, "Bearer");
    } else {
        snprintf(challenge, challenge_len,
                 "Bearer error=\"invalid_token\", error_description=\"%s\"", why);
    }
    return 401;
}

char *cm_auth_sign_hs256(const char *secret, const char *claims_json)
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

int cm_principal_has_scope(const struct cm_principal *p, const char *scope)
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
