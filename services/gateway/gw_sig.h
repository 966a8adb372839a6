/* gw_sig: producer signatures. Apps register public keys (Ed25519, ECDSA P-256) per tenant and
 * source as definitions of kind "keys" (cm_defs: PUT/GET/DELETE /keys/{keyid} with the admin
 * scope, stored and versioned in PostgreSQL, every instance notified within a moment; seeded from
 * GATEWAY_KEYS_DIR). Document: {"tenant", "source", "public_key": PEM SubjectPublicKeyInfo,
 * "require": bool, "revoked": bool}. Several keys may be active for one source (rotation); a
 * revoked key, or a deleted one, signs nothing any more.
 * An event carries `sigkeyid` and `signature` (base64url) attributes; the signed bytes are the
 * RFC 8785 form (cm_json_dumps_canonical) of the event as the client sent it without `signature`.
 * Ed25519 signatures are the 64 bytes of RFC 8032; P-256 ones are r||s (64 bytes, as JWS and
 * WebCrypto make them) or DER (as `openssl dgst -sign` makes them), over SHA-256. Policy per tenant
 * and source: required when an active key of that tenant and source has "require": true (or by
 * default with GATEWAY_SIGNATURES=required), else optional. Under either, a signature that is
 * present must verify: unknown, revoked or wrong ones are refused; a missing one is refused only
 * when required. A verified event is marked `sigverified: true`; a client cannot set that attribute
 * itself. Verified (key version, signature, canonical bytes) triples are cached, so a retried event
 * costs one hash. Thread-safe. */
#ifndef GW_SIG_H
#define GW_SIG_H

#include <jansson.h>
#include <stddef.h>

struct cm_http_server;
struct cm_metrics;
struct cm_swap;
struct gw_sigs;

struct gw_sigs_config {
    const char *database_url; /* NULL: keys only from keys_dir, the API read-only */
    const char *keys_dir;     /* NULL: none */
    int required;             /* GATEWAY_SIGNATURES=required */
    size_t cache_entries;     /* verified-signature cache slots; 0 = 4096 */
    struct cm_metrics *metrics;
};

/* NULL after logging (a bad key file). Caller frees with gw_sigs_free. */
struct gw_sigs *gw_sigs_new(const struct gw_sigs_config *cfg);
/* Reads the stored keys and follows their changes: 0, CM_E_UNAVAIL or CM_E_INVAL. */
int gw_sigs_start(struct gw_sigs *s);
/* Routes /keys and /keys/{keyid} (auth: a cm_swap of cm_auth or NULL; every route needs scope). */
void gw_sigs_routes(struct gw_sigs *s, struct cm_http_server *srv, struct cm_swap *auth,
                    const char *scope);
void gw_sigs_free(struct gw_sigs *s);

/* 1 when events of tenant may need a signature checked (signatures required by default, or some
 * key of the tenant requires them): such events cannot take the gateway's fast lane. */
int gw_sigs_strict(struct gw_sigs *s, const char *tenant);

enum gw_sig_result {
    GW_SIG_NONE,     /* no signature, none required */
    GW_SIG_VERIFIED, /* mark the event sigverified */
    GW_SIG_REFUSED   /* why says why (safe to show) */
};

/* Checks a validated event of tenant as the client sent it (before enrichment). Removes a
 * client-set `sigverified`. */
enum gw_sig_result gw_sigs_check(struct gw_sigs *s, const char *tenant, json_t *ev, char *why,
                                 size_t whylen);

#endif
