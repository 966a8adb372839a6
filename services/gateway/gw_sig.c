/* gw_sig: producer signing keys as definitions, and the signature check of an event (see
 * gw_sig.h). */
#include "gw_sig.h"

#include "cm/defs.h"
#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/swap.h"
#include "cm/text.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEM 8192
#define DEFAULT_CACHE 4096

enum alg { ALG_ED25519, ALG_ES256 };

struct key {
    atomic_int refs;
    char *keyid, *tenant, *source;
    long long version;
    EVP_PKEY *pkey;
    enum alg alg;
    int require, revoked;
};

/* An immutable snapshot of the keys in force, sorted by keyid, with the tenants that have a key
 * requiring signatures (sorted). */
struct keyset {
    struct key **keys;
    size_t n;
    char **strict; /* borrowed from the keys */
    size_t nstrict;
};

struct gw_sigs {
    struct cm_defs *defs;
    struct cm_swap *keys;  /* of struct keyset */
    atomic_size_t nstrict; /* the snapshot's tenants with a requiring key: 0 skips the lookup */
    pthread_mutex_t change_lock;
    int required;
    pthread_mutex_t cache_lock;
    unsigned char (*cache)[SHA256_DIGEST_LENGTH];
    size_t ncache;
    struct cm_metric *m_checks;
};

/* ---- keys ---- */

static void key_unref(struct key *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
        EVP_PKEY_free(k->pkey);
        free(k->keyid);
        free(k->tenant);
        free(k->source);
        free(k);
    }
}

static void release_key(void *k)
{
    key_unref(k);
}

static void *fail_parse(struct key *k, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    key_unref(k);
    return NULL;
}

/* The key of a PEM SubjectPublicKeyInfo: Ed25519 or EC P-256; NULL otherwise. */
static EVP_PKEY *read_public_key(const char *pem, enum alg *alg)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        return NULL;
    }
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
        *alg = ALG_ED25519;
        return pkey;
    }
    char group[64] = "";
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) == 1 &&
        strcmp(group, "prime256v1") == 0) {
        *alg = ALG_ES256;
        return pkey;
    }
    EVP_PKEY_free(pkey);
    return NULL;
}

static void *parse_key(const json_t *doc, const char *name, long long version, char *err,
                       size_t errlen, void *ud)
{
    (void)ud;
    struct key *k = cm_xcalloc(1, sizeof(*k));
    atomic_init(&k->refs, 1);
    k->keyid = cm_xstrdup(name);
    k->version = version;
    const char *member;
    json_t *v;
    json_object_foreach((json_t *)doc, member, v)
    {
        if (strcmp(member, "tenant") != 0 && strcmp(member, "source") != 0 &&
            strcmp(member, "public_key") != 0 && strcmp(member, "require") != 0 &&
            strcmp(member, "revoked") != 0 && strcmp(member, "name") != 0) {
            char buf[CM_SHOWN_LEN];
            snprintf(err, errlen,
                     "%s: unknown member (tenant, source, public_key, require, "
                     "revoked)",
                     cm_shown(member, buf));
            key_unref(k);
            return NULL;
        }
    }
    const char *tenant = json_string_value(json_object_get(doc, "tenant"));
    const char *source = json_string_value(json_object_get(doc, "source"));
    const char *pem = json_string_value(json_object_get(doc, "public_key"));
    const json_t *require = json_object_get(doc, "require");
    const json_t *revoked = json_object_get(doc, "revoked");
    if (!tenant || !*tenant || strlen(tenant) > 127) {
        return fail_parse(k, err, errlen, "tenant: required, a string of 1 to 127 bytes");
    }
    if (!source || !*source || strlen(source) > 1024) {
        return fail_parse(k, err, errlen, "source: required, the events' source (1 to 1024 bytes)");
    }
    if (!pem || strlen(pem) > MAX_PEM || !(k->pkey = read_public_key(pem, &k->alg))) {
        return fail_parse(k, err, errlen,
                          "public_key: required, an Ed25519 or ECDSA P-256 public key as PEM "
                          "(SubjectPublicKeyInfo, -----BEGIN PUBLIC KEY-----)");
    }
    if ((require && !json_is_boolean(require)) || (revoked && !json_is_boolean(revoked))) {
        return fail_parse(k, err, errlen,
                          require && !json_is_boolean(require) ? "require: must be true or false"
                                                               : "revoked: must be true or false");
    }
    k->tenant = cm_xstrdup(tenant);
    k->source = cm_xstrdup(source);
    k->require = require && json_is_true(require);
    k->revoked = revoked && json_is_true(revoked);
    return k;
}

/* ---- the snapshot in force ---- */

static void keyset_free(void *p)
{
    struct keyset *ks = p;
    if (!ks) {
        return;
    }
    for (size_t i = 0; i < ks->n; i++) {
        key_unref(ks->keys[i]);
    }
    free(ks->keys);
    free(ks->strict);
    free(ks);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp((*(struct key *const *)a)->keyid, (*(struct key *const *)b)->keyid);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A new snapshot: old's keys with name replaced by k (NULL: removed). Takes k's reference. */
static struct keyset *keyset_with(const struct keyset *old, const char *name, struct key *k)
{
    struct keyset *ks = cm_xcalloc(1, sizeof(*ks));
    ks->keys = cm_xcalloc(old->n + 1, sizeof(*ks->keys));
    for (size_t i = 0; i < old->n; i++) {
        if (strcmp(old->keys[i]->keyid, name) != 0) {
            atomic_fetch_add(&old->keys[i]->refs, 1);
            ks->keys[ks->n++] = old->keys[i];
        }
    }
    if (k) {
        ks->keys[ks->n++] = k;
    }
    qsort(ks->keys, ks->n, sizeof(*ks->keys), cmp_key);
    ks->strict = cm_xcalloc(ks->n + 1, sizeof(*ks->strict));
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->keys[i]->require && !ks->keys[i]->revoked) {
            ks->strict[ks->nstrict++] = ks->keys[i]->tenant;
        }
    }
    qsort(ks->strict, ks->nstrict, sizeof(*ks->strict), cmp_str);
    return ks;
}

static void changed(const struct cm_defs_change *c, void *ud)
{
    struct gw_sigs *s = ud;
    key_unref(c->prev_compiled); /* keys have no old version still at work */
    pthread_mutex_lock(&s->change_lock);
    struct cm_swap_hold h = cm_swap_get(s->keys);
    struct keyset *next = keyset_with(h.value, c->name, c->compiled);
    cm_swap_put(h);
    atomic_store(&s->nstrict, next->nstrict);
    cm_swap_replace(s->keys, next);
    pthread_mutex_unlock(&s->change_lock);
    CM_LOG_INFO("signing_key_changed", "signing key %s %s (version %lld)", c->name,
                c->compiled ? "in force" : "deleted", c->version);
}

static const struct key *find_key(const struct keyset *ks, const char *keyid)
{
    size_t lo = 0, hi = ks->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(keyid, ks->keys[mid]->keyid);
        if (c == 0) {
            return ks->keys[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

static int tenant_strict(const struct keyset *ks, const char *tenant)
{
    return bsearch(&tenant, ks->strict, ks->nstrict, sizeof(*ks->strict), cmp_str) != NULL;
}

/* Whether signatures are required for (tenant, source): an active key of both requires them. */
static int source_requires(const struct keyset *ks, const char *tenant, const char *source)
{
    if (!tenant_strict(ks, tenant)) {
        return 0;
    }
    for (size_t i = 0; i < ks->n; i++) {
        const struct key *k = ks->keys[i];
        if (k->require && !k->revoked && strcmp(k->tenant, tenant) == 0 &&
            strcmp(k->source, source) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- set-up ---- */

struct gw_sigs *gw_sigs_new(const struct gw_sigs_config *cfg)
{
    struct gw_sigs *s = cm_xcalloc(1, sizeof(*s));
    s->required = cfg->required;
    pthread_mutex_init(&s->change_lock, NULL);
    pthread_mutex_init(&s->cache_lock, NULL);
    s->ncache = cfg->cache_entries ? cfg->cache_entries : DEFAULT_CACHE;
    s->cache = cm_xcalloc(s->ncache, sizeof(*s->cache));
    struct keyset empty = {0};
    s->keys = cm_swap_new(keyset_with(&empty, "", NULL), keyset_free);
    if (cfg->metrics) {
        s->m_checks = cm_metrics_counter(
            cfg->metrics, "signatures_total",
            "event signature checks by outcome (verified, cached, missing, unknown_key, revoked, "
            "not_for_source, malformed, wrong)",
            "outcome");
    }
    struct cm_defs_kind kind = {.kind = "keys",
                                .singular = "signing key",
                                .parse = parse_key,
                                .release = release_key,
                                .changed = changed,
                                .ud = s};
    s->defs = cm_defs_new(cfg->database_url, &kind, cfg->metrics);
    if (cfg->keys_dir && *cfg->keys_dir &&
        cm_defs_seed_dir(s->defs, cfg->keys_dir, "GATEWAY_KEYS_DIR") != 0) {
        gw_sigs_free(s);
        return NULL;
    }
    return s;
}

int gw_sigs_start(struct gw_sigs *s)
{
    return cm_defs_start(s->defs);
}

void gw_sigs_routes(struct gw_sigs *s, struct cm_http_server *srv, struct cm_swap *auth,
                    const char *scope)
{
    cm_defs_routes(s->defs, srv, auth, scope);
}

void gw_sigs_free(struct gw_sigs *s)
{
    if (!s) {
        return;
    }
    cm_defs_free(s->defs); /* stops the listener before the snapshot goes */
    cm_swap_free(s->keys);
    free(s->cache);
    pthread_mutex_destroy(&s->change_lock);
    pthread_mutex_destroy(&s->cache_lock);
    free(s);
}

/* ---- checking ---- */

static void count(struct gw_sigs *s, const char *outcome)
{
    if (s->m_checks) {
        cm_counter_inc(cm_metric_with(s->m_checks, outcome, NULL));
    }
}

/* An r||s signature as DER, for OpenSSL; NULL when it is not 64 bytes. */
static unsigned char *p1363_to_der(const unsigned char *sig, size_t len, size_t *derlen)
{
    if (len != 64) {
        return NULL;
    }
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    if (es && r && sv && ECDSA_SIG_set0(es, r, sv) == 1) {
        r = sv = NULL; /* owned by es now */
        int n = i2d_ECDSA_SIG(es, &der);
        *derlen = n > 0 ? (size_t)n : 0;
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    return der;
}

static int verify(const struct key *k, const unsigned char *sig, size_t siglen, const char *msg,
                  size_t msglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = 0;
    if (k->alg == ALG_ED25519) {
        ok = siglen == 64 && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg, msglen) == 1;
    } else {
        size_t derlen = 0;
        unsigned char *der = p1363_to_der(sig, siglen, &derlen);
        ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
             EVP_DigestVerify(ctx, der ? der : sig, der ? derlen : siglen,
                              (const unsigned char *)msg, msglen) == 1;
        OPENSSL_free(der);
    }
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The cache slot digest of (key version, signature, canonical bytes). */
static void cache_digest(const struct key *k, const char *sig, const char *canon, size_t len,
                         unsigned char out[SHA256_DIGEST_LENGTH])
{
    char version[32];
    int vlen = snprintf(version, sizeof(version), "%lld", k->version);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, k->keyid, strlen(k->keyid) + 1);
    EVP_DigestUpdate(c, version, (size_t)vlen + 1);
    EVP_DigestUpdate(c, sig, strlen(sig) + 1);
    EVP_DigestUpdate(c, canon, len);
    EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
}

static int cache_has(struct gw_sigs *s, const unsigned char d[SHA256_DIGEST_LENGTH])
{
    size_t slot;
    memcpy(&slot, d, sizeof(slot));
    slot %= s->ncache;
    pthread_mutex_lock(&s->cache_lock);
    int hit = memcmp(s->cache[slot], d, SHA256_DIGEST_LENGTH) == 0;
    pthread_mutex_unlock(&s->cache_lock);
    return hit;
}

static void cache_put(struct gw_sigs *s, const unsigned char d[SHA256_DIGEST_LENGTH])
{
    size_t slot;
    memcpy(&slot, d, sizeof(slot));
    slot %= s->ncache;
    pthread_mutex_lock(&s->cache_lock);
    memcpy(s->cache[slot], d, SHA256_DIGEST_LENGTH);
    pthread_mutex_unlock(&s->cache_lock);
}

int gw_sigs_strict(struct gw_sigs *s, const char *tenant)
{
    if (s->required) {
        return 1;
    }
    if (atomic_load(&s->nstrict) == 0) {
        return 0; /* the common case, per event: no lock */
    }
    struct cm_swap_hold h = cm_swap_get(s->keys);
    int strict = tenant_strict(h.value, tenant ? tenant : "");
    cm_swap_put(h);
    return strict;
}

/* Counts a refusal whose reason is in why already. */
static enum gw_sig_result refuse(struct gw_sigs *s, const char *outcome)
{
    count(s, outcome);
    return GW_SIG_REFUSED;
}

/* Verifies the signature of ev with k (canonical bytes of ev without `signature`). */
static enum gw_sig_result check_with(struct gw_sigs *s, const struct key *k, json_t *ev,
                                     const char *sig_text, char *why, size_t whylen)
{
    size_t siglen;
    unsigned char *sig = (unsigned char *)cm_base64_decode(sig_text, strlen(sig_text), 1, &siglen);
    if (!sig || siglen == 0 || siglen > 256) {
        free(sig);
        snprintf(why, whylen, "signature: not a base64url signature");
        return refuse(s, "malformed");
    }
    json_t *sigval = json_incref(json_object_get(ev, "signature"));
    json_object_del(ev, "signature");
    size_t len;
    char *canon = cm_json_dumps_canonical(ev, &len);
    json_object_set_new(ev, "signature", sigval);
    enum gw_sig_result r = GW_SIG_VERIFIED;
    unsigned char d[SHA256_DIGEST_LENGTH];
    if (!canon) {
        snprintf(why, whylen, "the event cannot be canonicalized");
        r = refuse(s, "malformed");
    } else {
        cache_digest(k, sig_text, canon, len, d);
        if (cache_has(s, d)) {
            count(s, "cached");
        } else if (verify(k, sig, siglen, canon, len)) {
            cache_put(s, d);
            count(s, "verified");
        } else {
            snprintf(why, whylen,
                     "signature: does not verify with key '%s' over the event's RFC 8785 form",
                     k->keyid);
            r = refuse(s, "wrong");
        }
    }
    free(canon);
    free(sig);
    return r;
}

enum gw_sig_result gw_sigs_check(struct gw_sigs *s, const char *tenant, json_t *ev, char *why,
                                 size_t whylen)
{
    json_object_del(ev, "sigverified"); /* only the gateway says so */
    tenant = tenant ? tenant : "";
    const char *source = json_string_value(json_object_get(ev, "source"));
    const json_t *kid = json_object_get(ev, "sigkeyid"), *sig = json_object_get(ev, "signature");
    struct cm_swap_hold h = cm_swap_get(s->keys);
    const struct keyset *ks = h.value;
    enum gw_sig_result r;
    if (!kid && !sig) {
        r = GW_SIG_NONE;
        if (s->required || source_requires(ks, tenant, source ? source : "")) {
            snprintf(why, whylen,
                     "signature: required for source '%s' of this tenant (sigkeyid and signature)",
                     source ? source : "");
            r = refuse(s, "missing");
        }
    } else if (!json_is_string(kid) || !json_is_string(sig)) {
        snprintf(why, whylen, "sigkeyid and signature: both strings, or neither");
        r = refuse(s, "malformed");
    } else {
        const struct key *k = find_key(ks, json_string_value(kid));
        if (!k) {
            snprintf(why, whylen, "sigkeyid: unknown signing key '%.200s'", json_string_value(kid));
            r = refuse(s, "unknown_key");
        } else if (k->revoked) {
            snprintf(why, whylen, "sigkeyid: signing key '%s' is revoked", k->keyid);
            r = refuse(s, "revoked");
        } else if (strcmp(k->tenant, tenant) != 0 || !source || strcmp(k->source, source) != 0) {
            snprintf(why, whylen,
                     "sigkeyid: signing key '%s' is not registered for this tenant and source "
                     "'%.200s'",
                     k->keyid, source ? source : "");
            r = refuse(s, "not_for_source");
        } else {
            r = check_with(s, k, ev, json_string_value(sig), why, whylen);
        }
    }
    cm_swap_put(h);
    return r;
}
