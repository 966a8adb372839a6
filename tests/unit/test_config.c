/* Unit tests for common/config: value parsers, table loading from the environment, secrets from
 * files, and the one-line errors for bad values. */
#include "cm/config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct cm_config_entry table[] = {
    {"TSVC_PORT", CM_CFG_INT, "8080", 0, 0, "port", 0, 65535, NULL},
    {"TSVC_NAME", CM_CFG_STRING, NULL, 1, 0, "a required name", 0, 0, NULL},
    {"TSVC_FLAG", CM_CFG_BOOL, "false", 0, 0, "a flag", 0, 0, NULL},
    {"TSVC_WAIT", CM_CFG_DURATION, "5s", 0, 0, "a duration", 0, 0, NULL},
    {"TSVC_MAX", CM_CFG_SIZE, "1MiB", 0, 0, "a size", 1024, 1073741824, NULL},
    {"TSVC_MODE", CM_CFG_ENUM, "fast", 0, 0, "a mode", 0, 0, "fast|safe"},
    {"TSVC_SECRET", CM_CFG_STRING, NULL, 0, 1, "a secret", 0, 0, NULL},
};
#define N (sizeof(table) / sizeof(table[0]))

static void clean_env(void)
{
    const char *vars[] = {"TSVC_PORT", "TSVC_NAME",   "TSVC_FLAG",        "TSVC_WAIT", "TSVC_MAX",
                          "TSVC_MODE", "TSVC_SECRET", "TSVC_SECRET_FILE", "TSVC_TYPO", "LOG_LEVEL"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        unsetenv(vars[i]);
    }
}

TestSuite(config, .init = clean_env);

Test(config, parse_int)
{
    int64_t v;
    cr_assert_eq(cm_parse_int("42", &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(cm_parse_int("-7", &v), 0);
    cr_assert_eq(v, -7);
    cr_assert_neq(cm_parse_int("", &v), 0);
    cr_assert_neq(cm_parse_int("12a", &v), 0);
    cr_assert_neq(cm_parse_int("99999999999999999999999", &v), 0);
}

Test(config, parse_bool)
{
    int b;
    const char *yes[] = {"1", "true", "yes", "on"};
    const char *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(cm_parse_bool(yes[i], &b), 0);
        cr_assert_eq(b, 1);
        cr_assert_eq(cm_parse_bool(no[i], &b), 0);
        cr_assert_eq(b, 0);
    }
    cr_assert_neq(cm_parse_bool("TRUEISH", &b), 0);
    cr_assert_neq(cm_parse_bool("", &b), 0);
}

Test(config, parse_duration)
{
    struct {
        const char *in;
        int64_t ms;
        int ok;
    } cases[] = {{"250ms", 250, 1},
                 {"5s", 5000, 1},
                 {"2m", 120000, 1},
                 {"1h", 3600000, 1},
                 {"1d", 86400000, 1},
                 {"100", 100, 1},
                 {"5x", 0, 0},
                 {"", 0, 0},
                 {"-5s", 0, 0},
                 {"s", 0, 0},
                 {"99999999999999999d", 0, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -1;
        int rc = cm_parse_duration_ms(cases[i].in, &v);
        cr_assert_eq(rc == 0, cases[i].ok, "case %s", cases[i].in);
        if (cases[i].ok) {
            cr_assert_eq(v, cases[i].ms, "case %s", cases[i].in);
        }
    }
}

Test(config, format_duration)
{
    struct {
        int64_t ms;
        const char *text;
    } cases[] = {{3600000, "1h"},        {86400000, "1d"}, {90000, "90s"}, {1500, "1500ms"},
                 {7 * 86400000LL, "7d"}, {0, "0ms"},       {1, "1ms"},     {-3600000, "-1h"},
                 {60000, "1m"},          {61000, "61s"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        cr_assert_str_eq(cm_format_duration_ms(cases[i].ms, buf, sizeof(buf)), cases[i].text);
        int64_t back = -1;
        if (cases[i].ms >= 0) { /* what it writes reads back */
            cr_assert_eq(cm_parse_duration_ms(buf, &back), 0, "%s", buf);
            cr_assert_eq(back, cases[i].ms, "%s", buf);
        }
    }
}

Test(config, parse_size)
{
    int64_t v;
    cr_assert_eq(cm_parse_size("1MiB", &v), 0);
    cr_assert_eq(v, 1048576);
    cr_assert_eq(cm_parse_size("512KiB", &v), 0);
    cr_assert_eq(v, 524288);
    cr_assert_eq(cm_parse_size("2MB", &v), 0);
    cr_assert_eq(v, 2000000);
    cr_assert_eq(cm_parse_size("4096", &v), 0);
    cr_assert_eq(v, 4096);
    cr_assert_neq(cm_parse_size("1 MiB", &v), 0);
    cr_assert_neq(cm_parse_size("1TiB", &v), 0);
}

Test(config, defaults_and_values)
{
    setenv("TSVC_NAME", "alpha", 1);
    setenv("TSVC_FLAG", "yes", 1);
    setenv("TSVC_WAIT", "250ms", 1);
    char err[256];
    struct cm_config *cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cm_config_str(cfg, "TSVC_NAME"), "alpha");
    cr_assert_eq(cm_config_int(cfg, "TSVC_PORT"), 8080);
    cr_assert_eq(cm_config_bool(cfg, "TSVC_FLAG"), 1);
    cr_assert_eq(cm_config_int(cfg, "TSVC_WAIT"), 250);
    cr_assert_eq(cm_config_int(cfg, "TSVC_MAX"), 1048576);
    cr_assert_str_eq(cm_config_str(cfg, "TSVC_MODE"), "fast");
    cr_assert_null(cm_config_str(cfg, "TSVC_SECRET"));
    cr_assert_str_eq(cm_config_str(cfg, "LOG_LEVEL"), "info");
    cr_assert_eq(cm_config_int(cfg, "SHUTDOWN_TIMEOUT"), 10000);
    /* given or defaulted: memory bounds size only the defaulted ones to a container */
    cr_assert(cm_config_is_set(cfg, "TSVC_WAIT"));
    cr_assert_not(cm_config_is_set(cfg, "TSVC_MAX"));
    cr_assert_not(cm_config_is_set(cfg, "TSVC_SECRET"));
    cm_config_free(cfg);
    setenv("TSVC_MAX", "", 1); /* empty is unset */
    cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not(cm_config_is_set(cfg, "TSVC_MAX"));
    cm_config_free(cfg);
    setenv("TSVC_MAX", "1MiB", 1); /* the default's value, but given */
    cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert(cm_config_is_set(cfg, "TSVC_MAX"));
    cm_config_free(cfg);
}

/* Loads with the given variable set and expects a failure naming `name`. */
static void expect_error(const char *var, const char *value, const char *must_contain)
{
    setenv("TSVC_NAME", "alpha", 1);
    if (var) {
        setenv(var, value, 1);
    }
    char err[256] = "";
    struct cm_config *cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_null(cfg, "%s=%s should be rejected", var, value);
    cr_assert(strstr(err, must_contain) != NULL, "error '%s' should mention '%s'", err,
              must_contain);
    cr_assert(strchr(err, '\n') == NULL, "error must be one line");
}

Test(config, bad_values_name_the_variable)
{
    expect_error("TSVC_PORT", "80x", "TSVC_PORT");
    clean_env();
    expect_error("TSVC_PORT", "70000", "out of range");
    clean_env();
    expect_error("TSVC_FLAG", "maybe", "TSVC_FLAG");
    clean_env();
    expect_error("TSVC_WAIT", "soon", "TSVC_WAIT");
    clean_env();
    expect_error("TSVC_MAX", "12", "out of range");
    clean_env();
    expect_error("TSVC_MODE", "reckless", "fast|safe");
    clean_env();
    expect_error("LOG_LEVEL", "chatty", "LOG_LEVEL");
    clean_env();
    expect_error("TSVC_TYPO", "1", "TSVC_TYPO: unknown variable");
}

Test(config, required_missing)
{
    char err[256];
    struct cm_config *cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_null(cfg);
    cr_assert(strstr(err, "TSVC_NAME: required") != NULL, "%s", err);
}

Test(config, secret_from_file)
{
    char path[] = "/tmp/cm_config_secretXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "s3cr3t\n", 7), 7);
    close(fd);
    setenv("TSVC_NAME", "alpha", 1);
    setenv("TSVC_SECRET_FILE", path, 1);
    char err[256];
    struct cm_config *cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cm_config_str(cfg, "TSVC_SECRET"), "s3cr3t");
    cr_assert(cm_config_is_set(cfg, "TSVC_SECRET"));
    cm_config_free(cfg);

    setenv("TSVC_SECRET", "inline", 1);
    cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_null(cfg, "both the variable and its _FILE is ambiguous");
    cr_assert(strstr(err, "choose one") != NULL, "%s", err);
    unsetenv("TSVC_SECRET");
    unlink(path);
    cfg = cm_config_load(table, N, "TSVC_", err, sizeof(err));
    cr_assert_null(cfg, "a missing secret file is an error");
    cr_assert(strstr(err, "TSVC_SECRET_FILE") != NULL, "%s", err);
}

Test(config, secret_never_printed)
{
    setenv("TSVC_NAME", "alpha", 1);
    const struct cm_config_entry t[] = {
        {"TSVC_PORT", CM_CFG_INT, NULL, 0, 1, "secret number", 0, 0, NULL},
    };
    setenv("TSVC_PORT", "hunter2", 1);
    char err[256];
    struct cm_config *cfg = cm_config_load(t, 1, NULL, err, sizeof(err));
    cr_assert_null(cfg);
    cr_assert(strstr(err, "hunter2") == NULL, "secret leaked into '%s'", err);
}
