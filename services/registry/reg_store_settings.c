/* reg_store_settings: the registry's compatibility levels and modes in PostgreSQL, per subject
 * with the global default (Confluent's config and mode resources). */
#include "reg_store_int.h"

#include "cm/log.h"
#include "cm/mem.h"
#include "cm/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- levels and modes ---- */

static enum reg_status get_setting(struct cm_pg *pg, const char *table, const char *column,
                                   const char *subject, char *value, size_t len, int *found)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE subject = $1", column, table);
    const char *p[] = {subject ? subject : ""};
    struct cm_pg_result *res;
    int rc = store_run(pg, sql, 1, p, &res);
    if (rc != 0) {
        return rc;
    }
    *found = cm_pg_ntuples(res) > 0;
    if (*found) {
        snprintf(value, len, "%s", cm_pg_value(res, 0, 0));
    }
    cm_pg_result_free(res);
    return REG_OK;
}

/* The level that applies to subject: its own, else the global one, else BACKWARD. */
enum reg_status store_effective_level(struct cm_pg *pg, const char *subject, enum reg_level *out)
{
    char value[32];
    int found = 0;
    enum reg_status s = REG_OK;
    *out = REG_BACKWARD;
    if (subject) {
        s = get_setting(pg, "registry_config", "compatibility", subject, value, sizeof(value),
                        &found);
    }
    if (s == REG_OK && !found) {
        s = get_setting(pg, "registry_config", "compatibility", NULL, value, sizeof(value), &found);
    }
    if (s == REG_OK && found) {
        reg_level_parse(value, out);
    }
    return s;
}

enum reg_status store_effective_mode(struct cm_pg *pg, const char *subject, char *mode, size_t len)
{
    int found = 0;
    enum reg_status s = REG_OK;
    snprintf(mode, len, "READWRITE");
    if (subject) {
        s = get_setting(pg, "registry_mode", "mode", subject, mode, len, &found);
    }
    if (s == REG_OK && !found) {
        s = get_setting(pg, "registry_mode", "mode", NULL, mode, len, &found);
    }
    if (!found) {
        snprintf(mode, len, "READWRITE");
    }
    return s;
}

enum reg_status reg_store_get_level(struct reg_store *st, const char *subject, enum reg_level *out,
                                    int *found)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    char value[32];
    enum reg_status s =
        get_setting(pg, "registry_config", "compatibility", subject, value, sizeof(value), found);
    store_give(st, pg);
    *out = REG_BACKWARD;
    if (s == REG_OK && *found) {
        reg_level_parse(value, out);
    }
    return s;
}

static enum reg_status set_setting(struct reg_store *st, const char *table, const char *column,
                                   const char *subject, const char *value)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (subject, %s) VALUES ($1, $2) ON CONFLICT (subject) DO UPDATE SET "
             "%s = EXCLUDED.%s",
             table, column, column, column);
    const char *p[] = {subject ? subject : "", value};
    int rc = store_run(pg, sql, 2, p, NULL);
    store_give(st, pg);
    return rc;
}

static enum reg_status delete_setting(struct reg_store *st, const char *table, const char *subject)
{
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE subject = $1", table);
    const char *p[] = {subject ? subject : ""};
    int rc = store_run(pg, sql, 1, p, NULL);
    store_give(st, pg);
    return rc;
}

enum reg_status reg_store_set_level(struct reg_store *st, const char *subject, enum reg_level l)
{
    return set_setting(st, "registry_config", "compatibility", subject, reg_level_name(l));
}

enum reg_status reg_store_delete_level(struct reg_store *st, const char *subject)
{
    return delete_setting(st, "registry_config", subject);
}

enum reg_status reg_store_get_mode(struct reg_store *st, const char *subject, const char **mode,
                                   int *found)
{
    static const char *modes[] = {"READWRITE", "READONLY", "IMPORT"};
    struct cm_pg *pg = store_take(st);
    if (!pg) {
        return REG_E_TIMEOUT;
    }
    char value[32];
    enum reg_status s =
        get_setting(pg, "registry_mode", "mode", subject, value, sizeof(value), found);
    store_give(st, pg);
    *mode = modes[0];
    for (size_t i = 0; *found && i < 3; i++) {
        if (strcmp(value, modes[i]) == 0) {
            *mode = modes[i];
        }
    }
    return s;
}

enum reg_status reg_store_set_mode(struct reg_store *st, const char *subject, const char *mode,
                                   int force)
{
    if (strcmp(mode, "READWRITE") != 0 && strcmp(mode, "READONLY") != 0 &&
        strcmp(mode, "IMPORT") != 0) {
        return REG_E_INVALID_MODE;
    }
    if (strcmp(mode, "IMPORT") == 0 && !force) {
        /* importing keeps ids from elsewhere: only into an empty registry or subject */
        struct cm_pg *pg = store_take(st);
        if (!pg) {
            return REG_E_TIMEOUT;
        }
        const char *p[] = {subject ? subject : ""};
        struct cm_pg_result *res;
        int rc =
            store_run(pg, "SELECT 1 FROM subject_versions WHERE ($1 = '' OR subject = $1) LIMIT 1",
                      1, p, &res);
        store_give(st, pg);
        if (rc != 0) {
            return rc;
        }
        int nonempty = cm_pg_ntuples(res) > 0;
        cm_pg_result_free(res);
        if (nonempty) {
            return REG_E_NOT_PERMITTED;
        }
    }
    return set_setting(st, "registry_mode", "mode", subject, mode);
}

enum reg_status reg_store_delete_mode(struct reg_store *st, const char *subject)
{
    return delete_setting(st, "registry_mode", subject);
}
