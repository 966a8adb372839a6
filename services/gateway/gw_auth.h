/* gw_auth: bearer-token authentication for the gateway. libjwt 1.10 verifies signatures (HS256
 * with a shared secret; RS256/RS384/RS512 or ES256/ES384 with a PEM public key or the keys of a
 * JWKS document, converted to PEM with OpenSSL); everything it does not check is enforced here:
 * the algorithm allow-list tied to each key's type (and the JWK's alg when given), read from the
 * token header before verification, so "none" and HS/RS confusion are refused; key selection by
 * the header's kid (an unknown kid is refused); exp (required) and nbf with a leeway, iss and aud
 * when configured. The tenant comes from a configurable claim. Verified tokens are cached by their
 * SHA-256 until their exp, so a client reusing its token costs one hash per request.
 * A gw_auth's keys and settings are fixed at creation (a reload builds a new one); it is safe to
 * share between threads. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define GW_AUTH_MAX_TOKEN 8192

struct gw_auth;

struct gw_auth_config {
    const char *hs256_secret; /* HS256 key; NULL when only a public key is used */
    const char *issuer;       /* NULL: not checked */
    const char *audience;     /* NULL: not checked */
    int64_t leeway_s;
    const char *tenant_claim;   /* e.g. "tenant" */
    const char *public_key_pem; /* RSA or EC public key (PEM); NULL = none */
    const char *jwks;           /* JWKS document (JSON text); NULL = none */
    size_t cache_entries;       /* verified-token cache slots; 0 = no cache */
};

struct gw_principal {
    char tenant[128]; /* "" when the token carries none */
    char subject[128];
    char scopes[512];  /* space-separated, from the "scope" string or the "scp" array */
    int64_t expires_s; /* the exp claim plus the leeway: the token is refused after it */
};

/* 1 when the principal holds `scope` (an exact, whole word of its scopes). */
int gw_principal_has_scope(const struct gw_principal *p, const char *scope);

enum gw_auth_result { GW_AUTH_OK, GW_AUTH_MISSING, GW_AUTH_INVALID };

/* Strings are copied. Returns NULL with the reason in err when the public key is not an RSA or
 * EC (P-256/P-384) public key, the JWKS document or one of its keys is malformed ("keys[2]: ..."),
 * or no key at all is configured. Caller frees with gw_auth_free. */
struct gw_auth *gw_auth_new(const struct gw_auth_config *cfg, char *err, size_t errlen);
void gw_auth_free(struct gw_auth *a);
/* gw_auth_free with the signature cm_swap takes. */
void gw_auth_release(void *a);
/* Number of usable public keys (PEM and JWKS). */
size_t gw_auth_key_count(const struct gw_auth *a);

/* Verifies an Authorization header value at time now_s (seconds). On GW_AUTH_OK fills *out; else
 * writes the reason (safe to show the client) into why. */
enum gw_auth_result gw_auth_verify(const struct gw_auth *a, const char *authorization,
                                   int64_t now_s, struct gw_principal *out, char *why,
                                   size_t whylen);

struct cm_swap;

/* Verifies an Authorization header against the keys in force (a cm_swap of gw_auth) at now_s and
 * requires scope (NULL or "": any valid token). Returns 0 with *who filled, or the HTTP status
 * to answer (401, 403) with the reason in why and the WWW-Authenticate challenge in challenge. */
int gw_auth_authorize(struct cm_swap *keys, const char *authorization, const char *scope,
                      int64_t now_s, struct gw_principal *who, char *why, size_t whylen,
                      char *challenge, size_t challenge_len);

/* Signs an HS256 token with the given claims JSON object text (for `make run`'s development token
 * and tests). Caller frees the result with free(); NULL when claims are not a JSON object. */
char *gw_auth_sign_hs256(const char *secret, const char *claims_json);

#endif
