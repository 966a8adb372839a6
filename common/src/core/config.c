/* config: typed environment-variable tables (see config.h).
 * Load reads every entry once at start-up; the result is immutable and safe to share. */
#include "cm/config.h"

#include "cm/err.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define FILE_SECRET_MAX (64 * 1024)

struct cm_config_value {
    const struct cm_config_entry *entry;
    char *text; /* NULL when unset */
    int64_t num;
    int set; /* from the environment or a file, not the default */
};

struct cm_config {
    size_t n;
    struct cm_config_value *values;
};

/* Entries every daemon has, prepended to each service's table. */
static const struct cm_config_entry common_entries[] = {
    {"LOG_LEVEL", CM_CFG_ENUM, "info", 0, 0, "log verbosity", 0, 0, "debug|info|warn|error"},
    {"BIND_ADDR", CM_CFG_STRING, "0.0.0.0", 0, 0, "IPv4 address the HTTP port listens on", 0, 0,
     NULL},
    {"SHUTDOWN_TIMEOUT", CM_CFG_DURATION, "10s", 0, 0,
     "bound on graceful shutdown; the process exits 1 when it is exceeded", 100, 600000, NULL},
    {"TLS_CERT_FILE", CM_CFG_STRING, NULL, 0, 0,
     "PEM certificate (chain) of the HTTP port; with TLS_KEY_FILE it serves HTTPS only", 0, 0,
     NULL},
    {"TLS_KEY_FILE", CM_CFG_STRING, NULL, 0, 0, "PEM private key for TLS_CERT_FILE", 0, 0, NULL},
    {"CORS_ALLOWED_ORIGINS", CM_CFG_STRING, NULL, 0, 0,
     "origins whose browser pages may call this daemon (CORS), comma-separated "
     "(https://app.example.com), or *; unset: none",
     0, 0, NULL},
};
#define NCOMMON (sizeof(common_entries) / sizeof(common_entries[0]))

int cm_parse_int(const char *s, int64_t *out)
{
    if (!s || !*s) {
        return CM_E_INVAL;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || end == s) {
        return CM_E_INVAL;
    }
    *out = v;
    return 0;
}

int cm_parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return CM_E_INVAL;
}

/* Parses "<digits><suffix>" where suffix is looked up in units[]; bare numbers use unit 1. */
struct unit {
    const char *suffix;
    int64_t mult;
};

static int parse_with_units(const char *s, const struct unit *units, size_t nunits, int64_t *out)
{
    if (!s || *s < '0' || *s > '9') {
        return CM_E_INVAL;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno) {
        return CM_E_INVAL;
    }
    int64_t mult = 1;
    if (*end) {
        size_t i;
        for (i = 0; i < nunits; i++) {
            if (strcmp(end, units[i].suffix) == 0) {
                mult = units[i].mult;
                break;
            }
        }
        if (i == nunits) {
            return CM_E_INVAL;
        }
    }
    if (v > INT64_MAX / mult) {
        return CM_E_INVAL;
    }
    *out = v * mult;
    return 0;
}

int cm_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct unit units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), out);
}

char *cm_format_duration_ms(int64_t ms, char *buf, size_t len)
{
    static const struct unit units[] = {
        {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t u = ms == 0 ? 4 : 0;
    while (ms % units[u].mult != 0) {
        u++;
    }
    snprintf(buf, len, "%lld%s", (long long)(ms / units[u].mult), units[u].suffix);
    return buf;
}

int cm_parse_size(const char *s, int64_t *out)
{
    static const struct unit units[] = {
        {"B", 1},     {"KiB", 1024},   {"MiB", 1048576},   {"GiB", 1073741824},
        {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"k", 1024},
        {"K", 1024},  {"M", 1048576},  {"G", 1073741824}};
    return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), out);
}

static int choice_ok(const char *choices, const char *v)
{
    size_t vlen = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, v, len) == 0) {
            return 1;
        }
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Reads a secret file; returns a fresh string or NULL with err set. */
static char *read_secret_file(const char *name, const char *path, char *err, size_t errlen)
{
    char why[300];
    size_t len;
    char *buf = cm_file_read(path, FILE_SECRET_MAX, &len, why, sizeof(why));
    if (!buf) {
        fail(err, errlen, "%s_FILE: %s", name, why);
        return NULL;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r') {
            buf[--len] = '\0';
        }
    }
    return buf;
}

/* Platform-wide names of ARCHITECTURE.md: every daemon may see them even when it has no use for
 * them (REGISTRY_URL in the registry's own environment, say), so they are never "unknown". */
static int is_platform_name(const char *name, size_t len)
{
    static const char *names[] = {"REGISTRY_URL", "GATEWAY_URL", "REGISTRY_USER_INFO",
                                  "REGISTRY_USER_INFO_FILE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

static int in_table(const struct cm_config_entry *table, size_t n, const char *name, size_t len)
{
    if (is_platform_name(name, len)) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0) {
            return 1;
        }
        if (table[i].secret && strlen(table[i].name) + 5 == len &&
            strncmp(table[i].name, name, len - 5) == 0 &&
            strncmp(name + len - 5, "_FILE", 5) == 0) {
            return 1;
        }
    }
    return 0;
}

static int validate(struct cm_config_value *v, char *err, size_t errlen)
{
    const struct cm_config_entry *e = v->entry;
    const char *shown = e->secret ? "(secret)" : v->text;
    int rc = 0;
    switch (e->type) {
    case CM_CFG_STRING:
        return 0;
    case CM_CFG_INT:
        rc = cm_parse_int(v->text, &v->num);
        if (rc) {
            fail(err, errlen, "%s: '%s' is not an integer", e->name, shown);
        }
        break;
    case CM_CFG_BOOL: {
        int b = 0;
        rc = cm_parse_bool(v->text, &b);
        v->num = b;
        if (rc) {
            fail(err, errlen, "%s: '%s' is not a boolean (true/false)", e->name, shown);
        }
        return rc;
    }
    case CM_CFG_DURATION:
        rc = cm_parse_duration_ms(v->text, &v->num);
        if (rc) {
            fail(err, errlen, "%s: '%s' is not a duration (e.g. 500ms, 5s, 2m)", e->name, shown);
        }
        break;
    case CM_CFG_SIZE:
        rc = cm_parse_size(v->text, &v->num);
        if (rc) {
            fail(err, errlen, "%s: '%s' is not a size (e.g. 1048576, 512KiB, 1MiB)", e->name,
                 shown);
        }
        break;
    case CM_CFG_ENUM:
        if (!choice_ok(e->choices, v->text)) {
            fail(err, errlen, "%s: '%s' is not one of %s", e->name, shown, e->choices);
            return CM_E_INVAL;
        }
        return 0;
    }
    if (rc == 0 && (e->min != 0 || e->max != 0) && (v->num < e->min || v->num > e->max)) {
        fail(err, errlen, "%s: %lld is out of range [%lld, %lld]", e->name, (long long)v->num,
             (long long)e->min, (long long)e->max);
        rc = CM_E_INVAL;
    }
    return rc;
}

static int load_one(struct cm_config_value *v, char *err, size_t errlen)
{
    const struct cm_config_entry *e = v->entry;
    const char *env = getenv(e->name);
    if (env && *env == '\0') {
        env = NULL; /* empty means unset, as shells and compose files commonly pass it */
    }
    if (e->secret) {
        char fname[256];
        snprintf(fname, sizeof(fname), "%s_FILE", e->name);
        const char *path = getenv(fname);
        if (path && *path) {
            if (env) {
                fail(err, errlen, "%s: set both %s and %s; choose one", e->name, e->name, fname);
                return CM_E_INVAL;
            }
            v->text = read_secret_file(e->name, path, err, errlen);
            if (!v->text) {
                return CM_E_INVAL;
            }
        }
    }
    if (!v->text && env) {
        v->text = cm_xstrdup(env);
    }
    v->set = v->text != NULL;
    if (!v->text && e->def) {
        v->text = cm_xstrdup(e->def);
    }
    if (!v->text) {
        if (e->required) {
            fail(err, errlen, "%s: required but not set (%s)", e->name, e->description);
            return CM_E_INVAL;
        }
        return 0;
    }
    return validate(v, err, errlen);
}

struct cm_config *cm_config_load(const struct cm_config_entry *table, size_t n, const char *prefix,
                                 char *err, size_t errlen)
{
    struct cm_config *cfg = cm_xcalloc(1, sizeof(*cfg));
    cfg->n = n + NCOMMON;
    cfg->values = cm_xcalloc(cfg->n, sizeof(*cfg->values));
    for (size_t i = 0; i < NCOMMON; i++) {
        cfg->values[i].entry = &common_entries[i];
    }
    for (size_t i = 0; i < n; i++) {
        cfg->values[i + NCOMMON].entry = &table[i];
    }
    for (size_t i = 0; i < cfg->n; i++) {
        if (load_one(&cfg->values[i], err, errlen) != 0) {
            cm_config_free(cfg);
            return NULL;
        }
    }
    if (prefix && *prefix) {
        size_t plen = strlen(prefix);
        for (char **envp = environ; envp && *envp; envp++) {
            const char *eq = strchr(*envp, '=');
            if (!eq || strncmp(*envp, prefix, plen) != 0) {
                continue;
            }
            size_t len = (size_t)(eq - *envp);
            if (!in_table(table, n, *envp, len)) {
                fail(err, errlen, "%.*s: unknown variable for this service (see --help)", (int)len,
                     *envp);
                cm_config_free(cfg);
                return NULL;
            }
        }
    }
    return cfg;
}

void cm_config_free(struct cm_config *cfg)
{
    if (!cfg) {
        return;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->values[i].text);
    }
    free(cfg->values);
    free(cfg);
}

static const struct cm_config_value *find(const struct cm_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->values[i].entry->name, name) == 0) {
            return &cfg->values[i];
        }
    }
    CM_LOG_ERROR("config_unknown_name", "no config entry named %s", name);
    abort();
}

const char *cm_config_str(const struct cm_config *cfg, const char *name)
{
    return find(cfg, name)->text;
}

int64_t cm_config_int(const struct cm_config *cfg, const char *name)
{
    return find(cfg, name)->num;
}

int cm_config_is_set(const struct cm_config *cfg, const char *name)
{
    return find(cfg, name)->set;
}

int cm_config_bool(const struct cm_config *cfg, const char *name)
{
    return find(cfg, name)->num != 0;
}

static const char *type_name(enum cm_config_type t)
{
    switch (t) {
    case CM_CFG_STRING:
        return "string";
    case CM_CFG_INT:
        return "int";
    case CM_CFG_BOOL:
        return "bool";
    case CM_CFG_DURATION:
        return "duration";
    case CM_CFG_SIZE:
        return "size";
    case CM_CFG_ENUM:
        return "enum";
    }
    return "?";
}

static void print_entry(FILE *out, const struct cm_config_entry *e)
{
    fprintf(out, "  %-28s %-9s %-24s %s%s%s%s\n", e->name, type_name(e->type),
            e->def ? e->def : (e->required ? "(required)" : "(unset)"), e->description,
            e->choices ? " [" : "", e->choices ? e->choices : "", e->choices ? "]" : "");
    if (e->secret) {
        fprintf(out, "  %-28s %-9s %-24s %s\n", "", "", "", "(secret; may be read from _FILE)");
    }
}

void cm_config_print_help(FILE *out, const char *svc, const struct cm_config_entry *table, size_t n)
{
    fprintf(out, "%s: configured by environment variables\n\n", svc);
    fprintf(out, "  %-28s %-9s %-24s %s\n", "VARIABLE", "TYPE", "DEFAULT", "MEANING");
    for (size_t i = 0; i < NCOMMON; i++) {
        print_entry(out, &common_entries[i]);
    }
    for (size_t i = 0; i < n; i++) {
        print_entry(out, &table[i]);
    }
    fprintf(out, "\n  KAFKA_<PROP> variables are passed to librdkafka (KAFKA_LINGER_MS -> "
                 "linger.ms).\n");
}

struct cm_config *cm_config_load_or_exit(const char *svc, const struct cm_config_entry *table,
                                         size_t n, const char *prefix, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cm_config_print_help(stdout, svc, table, n);
            exit(0);
        }
        CM_LOG_ERROR("config_invalid",
                     "unknown argument '%s': %s is configured by environment "
                     "variables (see --help)",
                     argv[i], svc);
        exit(CM_CONFIG_EXIT_BAD);
    }
    char err[512];
    struct cm_config *cfg = cm_config_load(table, n, prefix, err, sizeof(err));
    if (!cfg) {
        CM_LOG_ERROR("config_invalid", "%s", err);
        exit(CM_CONFIG_EXIT_BAD);
    }
    enum cm_log_level level;
    if (cm_log_level_parse(cm_config_str(cfg, "LOG_LEVEL"), &level) == 0) {
        cm_log_set_level(level);
    }
    return cfg;
}
