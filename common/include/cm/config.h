/* config: one typed table per service, read from environment variables.
 * Each entry names a variable (ARCHITECTURE.md's names), its type, default and meaning. Secrets may
 * come from `<VAR>_FILE` instead (the file's content, one trailing newline dropped) and are never
 * printed. Variables starting with the service's prefix (e.g. GATEWAY_) that are not in the table
 * are rejected, so typos do not pass silently. LOG_LEVEL, BIND_ADDR, SHUTDOWN_TIMEOUT,
 * TLS_CERT_FILE, TLS_KEY_FILE and CORS_ALLOWED_ORIGINS are part of every table implicitly.
 * Lifetime: strings returned by getters are borrowed until cm_config_free(). */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CM_CONFIG_EXIT_BAD 78 /* EX_CONFIG */

enum cm_config_type {
    CM_CFG_STRING,
    CM_CFG_INT,      /* decimal integer within [min, max] */
    CM_CFG_BOOL,     /* true/false/1/0/yes/no/on/off */
    CM_CFG_DURATION, /* milliseconds: 250ms, 5s, 2m, 1h or a bare number of ms */
    CM_CFG_SIZE,     /* bytes: 1048576, 512KiB, 1MiB, 1GiB (also KB/MB/GB as powers of 1000) */
    CM_CFG_ENUM      /* one of `choices`, "a|b|c" */
};

struct cm_config_entry {
    const char *name;
    enum cm_config_type type;
    const char *def; /* default as text; NULL = unset unless given */
    int required;    /* must be set (by env, file or default) */
    int secret;      /* may come from <name>_FILE; value never printed */
    const char *description;
    int64_t min, max;    /* bounds for INT/DURATION/SIZE; min == max == 0 means unbounded */
    const char *choices; /* for ENUM */
};

struct cm_config;

/* Reads and validates every entry. On success returns the config (caller frees with
 * cm_config_free). On failure returns NULL and writes one line naming the variable and the reason
 * into err[0..errlen). `prefix` is the service's own variable prefix ("GATEWAY_"), or NULL. */
struct cm_config *cm_config_load(const struct cm_config_entry *table, size_t n, const char *prefix,
                                 char *err, size_t errlen);

/* For main(): handles --help (prints the table, exits 0), loads, and on failure prints the error
 * line to stderr and exits CM_CONFIG_EXIT_BAD. Also applies LOG_LEVEL to the logger. */
struct cm_config *cm_config_load_or_exit(const char *svc, const struct cm_config_entry *table,
                                         size_t n, const char *prefix, int argc, char **argv);

void cm_config_free(struct cm_config *cfg);

/* Getters abort on a name not in the table (a programming error). String is NULL when unset. */
const char *cm_config_str(const struct cm_config *cfg, const char *name);
int64_t cm_config_int(const struct cm_config *cfg, const char *name);
/* 1 when name was given (environment or file), 0 when it holds its default or nothing. */
int cm_config_is_set(const struct cm_config *cfg, const char *name);
int cm_config_bool(const struct cm_config *cfg, const char *name);

/* Prints the table (name, type, default, description) as aligned text. */
void cm_config_print_help(FILE *out, const char *svc, const struct cm_config_entry *table,
                          size_t n);

/* Parsers, exposed for tests and for other modules. Return 0 or CM_E_INVAL. */
int cm_parse_int(const char *s, int64_t *out);
int cm_parse_bool(const char *s, int *out);
int cm_parse_duration_ms(const char *s, int64_t *out);
/* A duration as cm_parse_duration_ms reads it, in the largest unit that states it exactly
 * ("1h", "90s", "1500ms"). Returns buf. */
char *cm_format_duration_ms(int64_t ms, char *buf, size_t len);
int cm_parse_size(const char *s, int64_t *out);

#endif
