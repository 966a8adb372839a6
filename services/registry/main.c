/* registry: the schema registry with Confluent's REST API, stored in PostgreSQL. Wiring only;
 * see reg_api.c and reg_store.c. */
#include "reg_access.h"
#include "reg_api.h"
#include "reg_cache.h"
#include "reg_store.h"

#include "cm/auth.h"
#include "cm/basicauth.h"
#include "cm/err.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/memlimit.h"
#include "cm/pg.h"
#include "cm/service.h"
#include "cm/swap.h"
#include "cm/text.h"

#include <time.h>

static const struct cm_config_entry config_table[] = {
    CM_SERVICE_HTTP_ENTRIES("REGISTRY_"),
    {"REGISTRY_PORT", CM_CFG_INT, "8081", 0, 0, "HTTP port (Confluent's default)", 0, 65535, NULL},
    {"DATABASE_URL", CM_CFG_STRING, NULL, 1, 1, "PostgreSQL URI of the registry tables", 0, 0,
     NULL},
    {"REGISTRY_DB_POOL", CM_CFG_INT, "8", 0, 0, "database connections", 1, 256, NULL},
    {"REGISTRY_STORE_TIMEOUT", CM_CFG_DURATION, "10s", 0, 0,
     "each database statement, and the wait for a free connection, must end within this, else "
     "the request fails with error code 50002 (Confluent's kafkastore.timeout.ms)",
     100, 600000, NULL},
    {"REGISTRY_CACHE_TTL", CM_CFG_DURATION, "30s", 0, 0,
     "how long schema-by-id and lookup answers are served from memory (0 disables); another "
     "instance's deletes show after at most this long",
     0, 86400000, NULL},
    {"REGISTRY_CACHE_SIZE", CM_CFG_SIZE, "64MiB", 0, 0,
     "memory the answers cached under REGISTRY_CACHE_TTL may hold, their keys counted (a "
     "lookup's key is its request body); an answer over a sixteenth of it is not cached",
     0, 68719476736LL, NULL},
    {"REGISTRY_JSON_LENIENT", CM_CFG_BOOL, "false", 0, 0,
     "JSON Schema compatibility allows adding optional properties to open content models", 0, 0,
     NULL},
    {"REGISTRY_BASIC_AUTH_FILE", CM_CFG_STRING, NULL, 0, 0,
     "HTTP Basic users, one `name:crypt-hash:tenant:scopes` per line (reloaded on change or "
     "SIGHUP); Confluent clients send them with basic.auth.user.info",
     0, 0, NULL},
    {"REGISTRY_PUBLIC_READ", CM_CFG_BOOL, "false", 0, 0,
     "reads need no credentials (writes still need schema:write)", 0, 0, NULL},
    {"REGISTRY_AUTH_DISABLED", CM_CFG_BOOL, "false", 0, 0,
     "serve every request without credentials (development only; logged loudly)", 0, 0, NULL},
    CM_AUTH_CONFIG_ENTRIES,
};

/* Basic users from the file, replaced when it changes (the users in force stay when the new
 * file is bad). */
static void reload_users(struct cm_swap *users, const char *path, struct timespec *seen, int hup)
{
    if (!users || !(cm_file_changed(path, seen) || hup)) {
        return;
    }
    char err[512];
    struct cm_basic_users *u = cm_basic_users_load(path, err, sizeof(err));
    if (!u) {
        CM_LOG_ERROR("users_reload_failed",
                     "REGISTRY_BASIC_AUTH_FILE: %s; keeping the users in "
                     "force",
                     err);
        return;
    }
    CM_LOG_INFO("users_reloaded", "%zu Basic users from %s", cm_basic_users_count(u), path);
    cm_swap_replace(users, u);
}

static void release_users(void *u)
{
    cm_basic_users_free(u);
}

int main(int argc, char **argv)
{
    struct cm_service svc;
    cm_service_init(&svc, "registry", "REGISTRY_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "REGISTRY_PORT", NULL, argc,
                    argv);
    const struct cm_config *cfg = svc.cfg;
    int status = 1;
    struct cm_auth_keys *keys = NULL;
    struct cm_swap *users = NULL;
    struct timespec users_seen = {0, 0};
    const char *users_path = cm_config_str(cfg, "REGISTRY_BASIC_AUTH_FILE");
    int disabled = cm_config_bool(cfg, "REGISTRY_AUTH_DISABLED");
    int jwt = cm_config_str(cfg, "JWT_HS256_SECRET") || cm_config_str(cfg, "JWT_PUBLIC_KEY_FILE") ||
              cm_config_str(cfg, "JWT_JWKS_FILE");
    if (disabled) {
        CM_LOG_WARN("auth_disabled", "REGISTRY_AUTH_DISABLED=true: anyone who can reach this port "
                                     "may read, register and delete schemas");
    } else {
        if (!jwt && !users_path) {
            CM_LOG_ERROR("config_invalid", "REGISTRY_BASIC_AUTH_FILE or one of JWT_HS256_SECRET, "
                                           "JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE must be set (or "
                                           "REGISTRY_AUTH_DISABLED=true for development)");
            cm_service_free(&svc);
            return CM_CONFIG_EXIT_BAD;
        }
        if (jwt && !(keys = cm_auth_keys_new(cfg, 1024, "REGISTRY_AUTH_DISABLED"))) {
            cm_service_free(&svc);
            return CM_CONFIG_EXIT_BAD;
        }
        if (users_path) {
            char err[512];
            struct cm_basic_users *u = cm_basic_users_load(users_path, err, sizeof(err));
            if (!u) {
                CM_LOG_ERROR("config_invalid", "REGISTRY_BASIC_AUTH_FILE: %s", err);
                cm_auth_keys_free(keys);
                cm_service_free(&svc);
                return CM_CONFIG_EXIT_BAD;
            }
            cm_file_changed(users_path, &users_seen);
            users = cm_swap_new(u, release_users);
        }
    }
    struct reg_access access = {.keys = keys ? cm_auth_keys_swap(keys) : NULL,
                                .users = users,
                                .public_read = cm_config_bool(cfg, "REGISTRY_PUBLIC_READ"),
                                .disabled = disabled};
    int store_timeout = cm_config_int(cfg, "REGISTRY_STORE_TIMEOUT");
    struct cm_pg_pool *pool =
        cm_pg_pool_new_timeout(cm_config_str(cfg, "DATABASE_URL"),
                               (unsigned)cm_config_int(cfg, "REGISTRY_DB_POOL"), store_timeout);
    struct reg_cache *cache = NULL;
    struct cm_pg_follower *deletes = NULL;
    struct reg_store *st =
        reg_store_new(pool, store_timeout, cm_config_bool(cfg, "REGISTRY_JSON_LENIENT"));
    struct cm_pg_probe *ready =
        cm_pg_probe_new(cm_config_str(cfg, "DATABASE_URL"), CM_PG_READY_TIMEOUT_MS);
    int rc;
    while ((rc = reg_store_migrate(st)) == CM_E_UNAVAIL && !cm_lifecycle_wait(1000)) {
    }
    if (rc != 0) {
        status = cm_service_exit_status(rc);
        goto out;
    }
    cache = reg_cache_new(100000, (size_t)cm_config_memory(cfg, "REGISTRY_CACHE_SIZE", 8, 1 << 20),
                          cm_config_int(cfg, "REGISTRY_CACHE_TTL"));
    /* another instance's deletes (the trigger of reg_store.c) clear this one's cache */
    deletes = cm_pg_follow(cm_config_str(cfg, "DATABASE_URL"), "registry_deletes", 0, svc.metrics,
                           reg_cache_clear_announced, cache);
    static struct reg_api api; /* its routes are the handlers' user data */
    api.store = st;
    api.cache = cache;
    api.access = &access;
    reg_api_register(svc.http, &api);
    cm_http_add_check(svc.http, "postgres", cm_pg_probe_check, ready);
    if (cm_service_start(&svc) != 0) {
        goto out;
    }
    while (!cm_lifecycle_wait(1000)) {
        int hup = cm_lifecycle_reload_requested();
        if (keys) {
            cm_auth_keys_poll(keys, hup);
        }
        reload_users(users, users_path, &users_seen, hup);
    }
    status = 0;
out:
    cm_service_begin_shutdown(&svc);
    cm_http_stop(svc.http, 5000);
    reg_store_free(st);
    cm_pg_probe_free(ready);
    cm_pg_follower_free(deletes); /* before the cache it clears */
    reg_cache_free(cache);
    cm_pg_pool_free(pool);
    cm_service_free(&svc);
    cm_auth_keys_free(keys); /* after the server that reads them */
    cm_swap_free(users);
    return status;
}
