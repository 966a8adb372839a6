/* auth_load: the set-up every daemon that checks tokens shares (see cm/auth.h): the verifier
 * built from the JWT_* variables, its keys reloaded when their files change, and the check an
 * HTTP handler makes before serving an admin request. */
#include "cm/auth.h"

#include "cm/config.h"
#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/swap.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cm_auth *cm_auth_load(const struct cm_config *cfg, size_t cache_entries,
                             const char *disabled_var)
{
    const char *secret = cm_config_str(cfg, "JWT_HS256_SECRET");
    const char *pem_path = cm_config_str(cfg, "JWT_PUBLIC_KEY_FILE");
    const char *jwks_path = cm_config_str(cfg, "JWT_JWKS_FILE");
    char *pem = NULL, *jwks = NULL;
    char err[300];
    size_t len = 0;
    struct cm_auth *a = NULL;
    if (secret && strlen(secret) < 32) {
        CM_LOG_ERROR("config_invalid", "JWT_HS256_SECRET: at least 32 bytes");
    } else if (!secret && !pem_path && !jwks_path) {
        CM_LOG_ERROR("config_invalid",
                     "JWT_HS256_SECRET, JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE must be set (or "
                     "%s=true for development)",
                     disabled_var);
    } else if (pem_path && !(pem = cm_file_read(pem_path, 65536, &len, err, sizeof(err)))) {
        CM_LOG_ERROR("config_invalid", "JWT_PUBLIC_KEY_FILE: %s", err);
    } else if (jwks_path &&
               !(jwks = cm_file_read(jwks_path, 1024 * 1024, &len, err, sizeof(err)))) {
        CM_LOG_ERROR("config_invalid", "JWT_JWKS_FILE: %s", err);
    } else {
        struct cm_auth_config ac = {secret,
                                    cm_config_str(cfg, "JWT_ISSUER"),
                                    cm_config_str(cfg, "JWT_AUDIENCE"),
                                    cm_config_int(cfg, "JWT_LEEWAY") / 1000,
                                    cm_config_str(cfg, "JWT_TENANT_CLAIM"),
                                    pem,
                                    jwks,
                                    cache_entries};
        a = cm_auth_new(&ac, err, sizeof(err));
        if (!a) {
            CM_LOG_ERROR("config_invalid", "token keys: %s", err);
        }
    }
    free(pem);
    free(jwks);
    return a;
}

struct cm_auth_keys {
    const struct cm_config *cfg;
    size_t cache_entries;
    char *disabled_var;
    struct cm_swap *swap;
    struct timespec pem_seen, jwks_seen;
};

struct cm_auth_keys *cm_auth_keys_new(const struct cm_config *cfg, size_t cache_entries,
                                      const char *disabled_var)
{
    struct cm_auth *first = cm_auth_load(cfg, cache_entries, disabled_var);
    if (!first) {
        return NULL;
    }
    struct cm_auth_keys *k = cm_xcalloc(1, sizeof(*k));
    k->cfg = cfg;
    k->cache_entries = cache_entries;
    k->disabled_var = cm_xstrdup(disabled_var);
    k->swap = cm_swap_new(first, cm_auth_release);
    cm_file_changed(cm_config_str(cfg, "JWT_PUBLIC_KEY_FILE"), &k->pem_seen);
    cm_file_changed(cm_config_str(cfg, "JWT_JWKS_FILE"), &k->jwks_seen);
    return k;
}

struct cm_swap *cm_auth_keys_swap(struct cm_auth_keys *k)
{
    return k ? k->swap : NULL;
}

void cm_auth_keys_poll(struct cm_auth_keys *k, int hup)
{
    if (!k) {
        return;
    }
    int changed = cm_file_changed(cm_config_str(k->cfg, "JWT_PUBLIC_KEY_FILE"), &k->pem_seen) |
                  cm_file_changed(cm_config_str(k->cfg, "JWT_JWKS_FILE"), &k->jwks_seen);
    if (!changed && !hup) {
        return;
    }
    struct cm_auth *next = cm_auth_load(k->cfg, k->cache_entries, k->disabled_var);
    if (next) {
        CM_LOG_INFO("keys_reloaded", "token keys reloaded (%zu public keys)",
                    cm_auth_key_count(next));
        cm_swap_replace(k->swap, next);
    } else {
        CM_LOG_ERROR("keys_reload_failed", "keeping the previous keys");
    }
}

void cm_auth_keys_free(struct cm_auth_keys *k)
{
    if (!k) {
        return;
    }
    cm_swap_free(k->swap);
    free(k->disabled_var);
    free(k);
}

int cm_auth_require(struct cm_swap *keys, struct cm_http_req *req, const char *scope,
                    struct cm_principal *who)
{
    struct cm_principal local;
    if (!who) {
        who = &local;
    }
    if (!keys) {
        memset(who, 0, sizeof(*who));
        return 1;
    }
    char why[160], challenge[320];
    int status =
        cm_auth_authorize(keys, cm_http_header(req, "Authorization"), scope, cm_now_ms() / 1000,
                          who, why, sizeof(why), challenge, sizeof(challenge));
    if (status) {
        cm_http_add_header(req, "WWW-Authenticate", challenge);
        cm_http_respond_error(req, status, 0, "%s", why);
        return 0;
    }
    return 1;
}
