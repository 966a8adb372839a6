/* Integration tests for common/pg against a real PostgreSQL: statements with parameters, SQL
 * errors with SQLSTATE, migrations applied exactly once, JSON batch rows isolating a poisonous
 * row and refused whole for errors that are not a row's, the pool, and an unreachable server. */
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

/* A BEFORE INSERT trigger `name` on table running `body` (PL/pgSQL) for each row. */
static void add_trigger(const char *table, const char *name, const char *body)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "CREATE FUNCTION \"%s_%s\"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN %s "
             "RETURN NEW; END $$",
             table, name, body);
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, NULL, NULL), 0);
    snprintf(sql, sizeof(sql),
             "CREATE TRIGGER %s BEFORE INSERT ON \"%s\" FOR EACH ROW EXECUTE FUNCTION "
             "\"%s_%s\"()",
             name, table, table, name);
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, NULL, NULL), 0);
}

/* An error that is not the rows' doing never skips a row: the batch is refused whole
 * (CM_E_UNAVAIL, to be tried again) and goes in once the cause is gone. Before, a missing table
 * (a database restored without it, a PostgreSQL started afresh) made every row "rejected". */
Test(pg, json_rows_refused_whole_when_not_their_fault)
{
    char table[64], sql[1024];
    it_unique(table, sizeof(table), "whole");
    for (char *c = table; *c; c++) {
        if (*c == '-') {
            *c = '_';
        }
    }
    char insert[512];
    snprintf(insert, sizeof(insert),
             "INSERT INTO \"%s\" SELECT (r->>'id')::int FROM jsonb_array_elements($1::jsonb) r "
             "ON CONFLICT DO NOTHING",
             table);
    json_t *rows = json_loads("[{\"id\":1},{\"id\":2},{\"id\":-3},{\"id\":4}]", 0, NULL);
    long affected = -1;
    size_t rejected = 99;
    /* 42P01: no such table */
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, rows, &affected, &rejected), CM_E_UNAVAIL);
    cr_assert_eq(rejected, 0);
    cr_assert_eq(affected, 0);
    snprintf(sql, sizeof(sql), "CREATE TABLE \"%s\" (id int PRIMARY KEY CHECK (id > 0))", table);
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, NULL, NULL), 0);
    /* 25006: a read-only session (as a replica, or a database set read-only) */
    cr_assert_eq(cm_pg_exec(pg, "SET default_transaction_read_only = on", 0, NULL, NULL, NULL), 0);
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, rows, &affected, &rejected), CM_E_UNAVAIL);
    cr_assert_eq(rejected, 0);
    cr_assert_eq(cm_pg_exec(pg, "SET default_transaction_read_only = off", 0, NULL, NULL, NULL), 0);
    /* the CHECK fails the batch for -3's content; then, row by row, 4 meets a full disk (53100,
     * raised by a trigger): the batch is refused whole, -3 not reported as skipped yet */
    add_trigger(table, "full_disk",
                "IF NEW.id = 4 THEN RAISE EXCEPTION 'no room' USING ERRCODE = '53100'; END IF;");
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, rows, &affected, &rejected), CM_E_UNAVAIL);
    cr_assert_eq(rejected, 0);
    /* the disk has room again: every row goes in but the poisonous one */
    snprintf(sql, sizeof(sql), "DROP TRIGGER full_disk ON \"%s\"", table);
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, NULL, NULL), 0);
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, rows, &affected, &rejected), 0);
    cr_assert_eq(rejected, 1, "-3 violates the CHECK");
    snprintf(sql, sizeof(sql), "SELECT string_agg(id::text, ',' ORDER BY id) FROM \"%s\"", table);
    struct cm_pg_result *res = NULL;
    cr_assert_eq(cm_pg_exec(pg, sql, 0, NULL, &res, NULL), 0);
    cr_assert_str_eq(cm_pg_value(res, 0, 0), "1,2,4");
    cm_pg_result_free(res);
    /* a trigger refusing a row for its content (P0001) is the row's fault */
    add_trigger(table, "odd",
                "IF NEW.id % 2 = 1 THEN RAISE EXCEPTION 'odd ids are refused'; END IF;");
    json_t *more = json_loads("[{\"id\":5},{\"id\":6},{\"id\":7}]", 0, NULL);
    cr_assert_eq(cm_pg_exec_json_rows(pg, insert, more, &affected, &rejected), 0);
    cr_assert_eq(rejected, 2);
    cr_assert_eq(affected, 1);
    json_decref(more);
    json_decref(rows);
    cr_assert(cm_pg_blames_row("22P02") && cm_pg_blames_row("23505") && cm_pg_blames_row("54000") &&
              cm_pg_blames_row("P0001"));
    cr_assert(!cm_pg_blames_row("42P01") && !cm_pg_blames_row("42501") &&
              !cm_pg_blames_row("25006") && !cm_pg_blames_row("53100") &&
              !cm_pg_blames_row("40P01") && !cm_pg_blames_row("57014") && !cm_pg_blames_row(""));
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
