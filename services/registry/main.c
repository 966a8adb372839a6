/* registry: the schema registry with Confluent's REST API, stored in PostgreSQL. Wiring only;
 * see reg_api.c and reg_store.c. */
#include "reg_api.h"
#include "reg_cache.h"
#include "reg_store.h"

#include "cm/err.h"
#include "cm/lifecycle.h"
#include "cm/pg.h"
#include "cm/service.h"

static const struct cm_config_entry config_table[] = {
    {"REGISTRY_PORT", CM_CFG_INT, "8081", 0, 0, "HTTP port (Confluent's default)", 0, 65535, NULL},
    {"DATABASE_URL", CM_CFG_STRING, NULL, 1, 1, "PostgreSQL URI of the registry tables", 0, 0,
     NULL},
    {"REGISTRY_DB_POOL", CM_CFG_INT, "8", 0, 0, "database connections", 1, 256, NULL},
    {"REGISTRY_CACHE_TTL", CM_CFG_DURATION, "30s", 0, 0,
     "how long schema-by-id and lookup answers are served from memory (0 disables); another "
     "instance's deletes show after at most this long",
     0, 86400000, NULL},
    {"REGISTRY_JSON_LENIENT", CM_CFG_BOOL, "false", 0, 0,
     "JSON Schema compatibility allows adding optional properties to open content models", 0, 0,
     NULL},
};

int main(int argc, char **argv)
{
    struct cm_service svc;
    cm_service_init(&svc, "registry", "REGISTRY_", config_table,
                    sizeof(config_table) / sizeof(config_table[0]), "REGISTRY_PORT", NULL, argc,
                    argv);
    const struct cm_config *cfg = svc.cfg;
    int status = 1;
    struct cm_pg_pool *pool = cm_pg_pool_new(cm_config_str(cfg, "DATABASE_URL"),
                                             (unsigned)cm_config_int(cfg, "REGISTRY_DB_POOL"));
    struct reg_cache *cache = NULL;
    struct reg_store *st = reg_store_new(pool, cm_config_bool(cfg, "REGISTRY_JSON_LENIENT"));
    int rc;
    while ((rc = reg_store_migrate(st)) == CM_E_UNAVAIL && !cm_lifecycle_wait(1000)) {
    }
    if (rc != 0) {
        status = cm_lifecycle_stopping() ? 0 : 1;
        goto out;
    }
    cache = reg_cache_new(100000, cm_config_int(cfg, "REGISTRY_CACHE_TTL"));
    struct reg_api api = {st, cache};
    reg_api_register(svc.http, &api);
    cm_http_add_check(svc.http, "postgres", reg_store_check, st);
    if (cm_service_start(&svc) != 0) {
        goto out;
    }
    while (!cm_lifecycle_wait(1000)) {
    }
    status = 0;
out:
    cm_service_begin_shutdown(&svc);
    cm_http_stop(svc.http, 5000);
    reg_store_free(st);
    reg_cache_free(cache);
    cm_pg_pool_free(pool);
    cm_service_free(&svc);
    return status;
}
