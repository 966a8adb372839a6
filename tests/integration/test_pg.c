/* Integration tests for common/pg against a real PostgreSQL: statements with parameters, SQL
 * errors with SQLSTATE, migrations applied exactly once, JSON batch rows isolating a poisonous
 * row, the pool, and an unreachable server. */
#include "harness.h"

#include "cm/err.h"
#include "cm/pg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct cm_pg *pg;

static void setup(void)
{
    pg = cm_pg_new(it_env("DATABASE_URL"));
}

static void teardown(void)
{
    cm_pg_free(pg);
}

TestSuite(pg, .init = setup, .fini = teardown);

Test(pg, exec_with_params_and_errors)
{
    const char *params[] = {"21", NULL};
    struct cm_pg_result *res;
    cr_assert_eq(cm_pg_exec(pg, "SELECT $1::int * 2, $2::text IS NULL", 2, params, &res, NULL), 0);
    cr_assert_eq(cm_pg_ntuples(res), 1);
    cr_assert_str_eq(cm_pg_value(res, 0, 0), "42");
    cr_assert_str_eq(cm_pg_value(res, 0, 1), "t");
    cr_assert_null(cm_pg_value(res, 5, 0));
    cm_pg_result_free(res);
    struct cm_pg_error err;
    cr_assert_eq(cm_pg_exec(pg, "SELECT * FROM no_such_table", 0, NULL, NULL, &err), CM_E_INVAL);
    cr_assert_str_eq(err.sqlstate, "42P01");
    cr_assert(strstr(err.message, "no_such_table") != NULL);
    char why[128];
    cr_assert_eq(cm_pg_ping(pg, why, sizeof(why)), 0, "%s", why);
}

Test(pg, migrations_apply_once)
{
    char comp[64], sql[256];
    it_unique(comp, sizeof(comp), "comp");
    char table[64];
    snprintf(table, sizeof(table), "t_%08x",
             (unsigned)(strlen(comp) * 2654435761u) ^ (unsigned)getpid());
    snprintf(sql, sizeof(sql), "CREATE TABLE %s (id int PRIMARY KEY)", table);
    char sql2[256];
    snprintf(sql2, sizeof(sql2), "INSERT INTO %s VALUES (1)", table);
    const char *steps[] = {sql, sql2};
    cr_assert_eq(cm_pg_migrate(pg, comp, steps, 2), 0);
    cr_assert_eq(cm_pg_migrate(pg, comp, steps, 2), 0, "second run applies nothing (would fail)");
    const char *bad[] = {sql, sql2, "THIS IS NOT SQL"};
    cr_assert_eq(cm_pg_migrate(pg, comp, bad, 3), CM_E_INVAL);
    struct cm_pg_result *res;
    const char *p[] = {comp};
    cr_assert_eq(cm_pg_exec(pg, "SELECT max(version) FROM schema_migrations WHERE component = $1",
                            1, p, &res, NULL),
                 0);
    cr_assert_str_eq(cm_pg_value(res, 0, 0), "2", "the failed step was rolled back");
    cm_pg_result_free(res);
}

Test(pg, json_rows_isolate_poison)
{
    char table[64], create[256], insert[512];
    it_unique(table, sizeof(table), "rows");
    for (char *c = table; *c; c++) {
        if (*c == '-') {
            *c = '_';
        }
    }
    snprintf(create, sizeof(create), "CREATE TABLE \"%s\" (id int PRIMARY KEY CHECK (id > 0))",
             table);
    cr_assert_eq(cm_pg_exec(pg, create, 0, NULL, NULL, NULL), 0);
    snprintf(insert, sizeof(insert),
             "INSERT INTO \"%s\" SELECT (r->>'id')::int FROM jsonb_array_elements($1::jsonb) r "
             "ON CONFLICT DO NOTHING",
             table);
    json_t *rows = json_loads("[{\"id\":1},{\"id\":2},{\"id\":-3},{\"id\":4},{\"id\":2}]", 0, NULL);
    long affected;
    size_t rejected;
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, rows, &affected, &rejected), 0);
    cr_assert_eq(affected, 3, "1, 2, 4 inserted; the duplicate 2 is a no-op");
    cr_assert_eq(rejected, 1, "-3 violates the CHECK");
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, rows, &affected, &rejected), 0);
    cr_assert_eq(affected, 0, "idempotent");
    json_decref(rows);
    json_t *empty = json_array();
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, empty, &affected, &rejected), 0);
    json_decref(empty);
}

Test(pg, pool)
{
    struct cm_pg_pool *pool = cm_pg_pool_new(it_env("DATABASE_URL"), 2);
    struct cm_pg *a = cm_pg_pool_acquire(pool, 100);
    struct cm_pg *b = cm_pg_pool_acquire(pool, 100);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b);
    cr_assert_null(cm_pg_pool_acquire(pool, 50), "pool exhausted");
    cm_pg_pool_release(pool, a);
    struct cm_pg *c = cm_pg_pool_acquire(pool, 50);
    cr_assert_eq(c, a);
    cm_pg_pool_release(pool, b);
    cm_pg_pool_release(pool, c);
    cm_pg_pool_free(pool);
}

Test(pg, unreachable_server)
{
    struct cm_pg *dead = cm_pg_new("postgresql://postgres@127.0.0.1:1/events?connect_timeout=2");
    struct cm_pg_error err;
    cr_assert_eq(cm_pg_exec(dead, "SELECT 1", 0, NULL, NULL, &err), CM_E_UNAVAIL);
    char why[256];
    cr_assert_neq(cm_pg_ping(dead, why, sizeof(why)), 0);
    cr_assert_gt(strlen(why), 0);
    cm_pg_free(dead);
}
