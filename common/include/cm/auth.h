/* cm_auth: bearer-token authentication for every daemon's API (the gateway's ingest, the admin
 * APIs of routes and definitions). libjwt 1.10 verifies signatures (HS256
 * with a shared secret; RS256/RS384/RS512 or ES256/ES384 with a PEM public key or the keys of a
 * JWKS document, converted to PEM with OpenSSL); everything it does not check is enforced here:
 * the algorithm allow-list tied to each key's type (and the JWK's alg when given), read from the
 * token header before verification, so "none" and HS/RS confusion are refused; key selection by
 * the header's kid (an unknown kid is refused); exp (required) and nbf with a leeway, iss and aud
 * when configured. The tenant comes from a configurable claim. Verified tokens are cached by their
 * SHA-256 until their exp, so a client reusing its token costs one hash per request.
 * A cm_auth's keys and settings are fixed at creation (a reload builds a new one); it is safe to
 * share between threads. */
#ifndef CM_AUTH_H
#define CM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define CM_AUTH_MAX_TOKEN 8192

struct cm_auth;

struct cm_auth_config {
    const char *hs256_secret; /* HS256 key; NULL when only a public key is used */
    const char *issuer;       /* NULL: not checked */
    const char *audience;     /* NULL: not checked */
    int64_t leeway_s;
    const char *tenant_claim;   /* e.g. "tenant" */
    const char *public_key_pem; /* RSA or EC public key (PEM); NULL = none */
    const char *jwks;           /* JWKS document (JSON text); NULL = none */
    size_t cache_entries;       /* verified-token cache slots; 0 = no cache */
};

struct cm_principal {
    char tenant[128]; /* "" when the token carries none */
    char subject[128];
    char scopes[512];   /* space-separated, from the "scope" string or the "scp" array */
    char subjects[512]; /* space-separated, from the "subjects" array claim (the schema
                         * registry's subjects the token may write; "" when absent) */
    int64_t expires_s;  /* the exp claim plus the leeway: the token is refused after it */
};

/* 1 when the principal holds `scope` (an exact, whole word of its scopes). */
int cm_principal_has_scope(const struct cm_principal *p, const char *scope);

enum cm_auth_result { CM_AUTH_OK, CM_AUTH_MISSING, CM_AUTH_INVALID };

/* Strings are copied. Returns NULL with the reason in err when the public key is not an RSA or
 * EC (P-256/P-384) public key, the JWKS document or one of its keys is malformed ("keys[2]: ..."),
 * or no key at all is configured. Caller frees with cm_auth_free. */
struct cm_auth *cm_auth_new(const struct cm_auth_config *cfg, char *err, size_t errlen);
void cm_auth_free(struct cm_auth *a);
/* cm_auth_free with the signature cm_swap takes. */
void cm_auth_release(void *a);
/* Number of usable public keys (PEM and JWKS). */
size_t cm_auth_key_count(const struct cm_auth *a);

/* Verifies an Authorization header value at time now_s (seconds). On CM_AUTH_OK fills *out; else
 * writes the reason (safe to show the client) into why. */
enum cm_auth_result cm_auth_verify(const struct cm_auth *a, const char *authorization,
                                   int64_t now_s, struct cm_principal *out, char *why,
                                   size_t whylen);

struct cm_swap;

/* Verifies an Authorization header against the keys in force (a cm_swap of cm_auth) at now_s and
 * requires scope (NULL or "": any valid token). Returns 0 with *who filled, or the HTTP status
 * to answer (401, 403) with the reason in why and the WWW-Authenticate challenge in challenge. */
int cm_auth_authorize(struct cm_swap *keys, const char *authorization, const char *scope,
                      int64_t now_s, struct cm_principal *who, char *why, size_t whylen,
                      char *challenge, size_t challenge_len);

/* Signs an HS256 token with the given claims JSON object text (for `make run`'s development token
 * and tests). Caller frees the result with free(); NULL when claims are not a JSON object. */
char *cm_auth_sign_hs256(const char *secret, const char *claims_json);

/* ---- shared set-up (auth_load.c) ----
 * The JWT_* variables every daemon that checks tokens reads, for its config table. */
#define CM_AUTH_CONFIG_ENTRIES                                                                     \
    {"JWT_HS256_SECRET",                                                                           \
     CM_CFG_STRING,                                                                                \
     NULL,                                                                                         \
     0,                                                                                            \
     1,                                                                                            \
     "HS256 key for bearer tokens (>= 32 bytes)",                                                  \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
        {"JWT_PUBLIC_KEY_FILE",                                                                    \
         CM_CFG_STRING,                                                                            \
         NULL,                                                                                     \
         0,                                                                                        \
         0,                                                                                        \
         "PEM public key (RSA: RS256/384/512; EC P-256/P-384: ES256/ES384) for bearer tokens; "    \
         "reloaded on SIGHUP or change",                                                           \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"JWT_JWKS_FILE",                                                                          \
         CM_CFG_STRING,                                                                            \
         NULL,                                                                                     \
         0,                                                                                        \
         0,                                                                                        \
         "JWKS document (RSA and EC P-256/P-384 keys; a token's kid selects its key); reloaded "   \
         "on SIGHUP or change",                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"JWT_ISSUER", CM_CFG_STRING, NULL, 0, 0, "required `iss` claim, when set", 0, 0, NULL},   \
        {"JWT_AUDIENCE", CM_CFG_STRING, NULL, 0, 0, "required `aud` claim, when set", 0, 0, NULL}, \
        {"JWT_LEEWAY",                                                                             \
         CM_CFG_DURATION,                                                                          \
         "30s",                                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         "clock skew allowed on exp and nbf",                                                      \
         0,                                                                                        \
         3600000,                                                                                  \
         NULL},                                                                                    \
    {                                                                                              \
        "JWT_TENANT_CLAIM", CM_CFG_STRING, "tenant", 0, 0, "claim that names the tenant", 0, 0,    \
            NULL                                                                                   \
    }

struct cm_config;
struct cm_http_req;

/* Builds the verifier from the JWT_* variables of cfg (secret, PEM file, JWKS file); NULL after
 * logging what is wrong. `disabled_var` names the variable that turns authentication off, for
 * the message when no key is set. */
struct cm_auth *cm_auth_load(const struct cm_config *cfg, size_t cache_entries,
                             const char *disabled_var);

/* Keys hot-reloaded from their files: cm_auth_keys_poll reloads when JWT_PUBLIC_KEY_FILE or
 * JWT_JWKS_FILE changed (or hup is set), keeping the keys in force when the new ones are bad. */
struct cm_auth_keys;
/* NULL after logging when the keys cannot be loaded. Caller frees with cm_auth_keys_free. */
struct cm_auth_keys *cm_auth_keys_new(const struct cm_config *cfg, size_t cache_entries,
                                      const char *disabled_var);
/* The cm_swap of cm_auth that request handlers authorize against (borrowed). */
struct cm_swap *cm_auth_keys_swap(struct cm_auth_keys *k);
void cm_auth_keys_poll(struct cm_auth_keys *k, int hup);
void cm_auth_keys_free(struct cm_auth_keys *k);

/* For HTTP handlers: 1 when the request's bearer token is valid and holds scope (*who filled
 * when not NULL); else answers 401/403 with a WWW-Authenticate challenge and returns 0. keys
 * NULL means authentication is disabled: always 1 (who cleared). */
int cm_auth_require(struct cm_swap *keys, struct cm_http_req *req, const char *scope,
                    struct cm_principal *who);

#endif
