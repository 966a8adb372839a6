/* basicauth: HTTP Basic users from a file of crypt(3) hashes, verified with libxcrypt (see
 * cm/basicauth.h). */
#include "cm/basicauth.h"

#include "cm/mem.h"
#include "cm/text.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CACHE_SLOTS 256
#define MAX_FIELD 512

struct user {
    char *name, *hash, *scopes, *tenant;
};

struct slot {
    unsigned char key[SHA256_DIGEST_LENGTH]; /* SHA-256 of "name:password" */
    size_t user;
    int used;
};

struct cm_basic_users {
    struct user *users;
    size_t n;
    pthread_mutex_t lock;
    struct slot cache[CACHE_SLOTS];
    size_t next_slot;
};

/* Methods accepted (libxcrypt must also not call them legacy): slow, salted, and what current
 * tools produce. */
static const char *const methods[] = {"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$2a$", "$6$"};

/* A valid SHA-512 crypt hash of a random password: unknown names are checked against it, so
 * they cost what a wrong password costs. */
static const char dummy_hash[] = "$6$n0tAuser$alEGM7NJyKQFE0PSyKlvYQKAMCVT"
                                 "P.eJVh6p9EKJDzpsXT81i9GmYILPT8JcB3Sj4IOO2KQUCRebfB4CDk9aA/";

static void fail(char *err, size_t errlen, const char *origin, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void fail(char *err, size_t errlen, const char *origin, size_t line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%zu: %s", origin, line, msg);
}

static int method_ok(const char *hash)
{
    if (crypt_checksalt(hash) != CRYPT_SALT_OK) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strncmp(hash, methods[i], strlen(methods[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static int scopes_ok(const char *s)
{
    if (!*s || strlen(s) >= MAX_FIELD) {
        return 0;
    }
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20) {
            return 0;
        }
    }
    return 1;
}

void cm_basic_users_free(struct cm_basic_users *u)
{
    if (!u) {
        return;
    }
    for (size_t i = 0; i < u->n; i++) {
        free(u->users[i].name);
        free(u->users[i].hash);
        free(u->users[i].scopes);
        free(u->users[i].tenant);
    }
    free(u->users);
    pthread_mutex_destroy(&u->lock);
    OPENSSL_cleanse(u->cache, sizeof(u->cache));
    free(u);
}

/* Parses one non-comment line into u; 0 or -1 with err set. */
static int parse_line(struct cm_basic_users *u, char *line, const char *origin, size_t lineno,
                      char *err, size_t errlen)
{
    /* name:hash:tenant:scopes, the scopes being the rest of the line (they hold colons) */
    char *fields[4] = {NULL, NULL, NULL, NULL};
    char *p = line;
    for (size_t i = 0; i < 3; i++) {
        char *colon = strchr(p, ':');
        if (!colon) {
            fail(err, errlen, origin, lineno, "expected name:hash:tenant:scopes");
            return -1;
        }
        *colon = '\0';
        fields[i] = p;
        p = colon + 1;
    }
    fields[3] = p;
    const char *name = fields[0], *hash = fields[1], *tenant = fields[2], *scopes = fields[3];
    if (!*name || strlen(name) >= 128 || strchr(name, ' ')) {
        fail(err, errlen, origin, lineno, "the name must be 1 to 127 bytes without spaces");
        return -1;
    }
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->users[i].name, name) == 0) {
            fail(err, errlen, origin, lineno, "user '%s' appears twice", name);
            return -1;
        }
    }
    if (!method_ok(hash)) {
        fail(err, errlen, origin, lineno,
             "user '%s': the password hash is not a supported crypt(3) hash (yescrypt $y$, "
             "bcrypt $2b$/$2y$ or SHA-512 crypt $6$; e.g. openssl passwd -6)",
             name);
        return -1;
    }
    if (!scopes_ok(scopes)) {
        fail(err, errlen, origin, lineno, "user '%s': scopes must be a non-empty list", name);
        return -1;
    }
    if (strlen(tenant) >= 128 || strchr(tenant, ' ')) {
        fail(err, errlen, origin, lineno, "user '%s': the tenant must be at most 127 bytes", name);
        return -1;
    }
    u->users = cm_xrealloc(u->users, (u->n + 1) * sizeof(*u->users));
    u->users[u->n++] =
        (struct user){cm_xstrdup(name), cm_xstrdup(hash), cm_xstrdup(scopes), cm_xstrdup(tenant)};
    return 0;
}

struct cm_basic_users *cm_basic_users_parse(const char *text, const char *origin, char *err,
                                            size_t errlen)
{
    struct cm_basic_users *u = cm_xcalloc(1, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    char *copy = cm_xstrdup(text);
    size_t lineno = 0;
    char *save = NULL;
    int ok = 1;
    for (char *line = copy; ok && line; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) {
            *nl = '\0';
        }
        lineno++;
        size_t len = strlen(line);
        while (len > 0 &&
               (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) {
            line[--len] = '\0';
        }
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (!*line || *line == '#') {
            continue;
        }
        ok = parse_line(u, line, origin, lineno, err, errlen) == 0;
    }
    OPENSSL_cleanse(copy, strlen(text));
    free(copy);
    if (!ok) {
        cm_basic_users_free(u);
        return NULL;
    }
    return u;
}

struct cm_basic_users *cm_basic_users_load(const char *path, char *err, size_t errlen)
{
    size_t len;
    char ferr[256];
    char *text = cm_file_read(path, 1 << 20, &len, ferr, sizeof(ferr));
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, ferr);
        return NULL;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: not a text file", path);
        free(text);
        return NULL;
    }
    struct cm_basic_users *u = cm_basic_users_parse(text, path, err, errlen);
    free(text);
    return u;
}

size_t cm_basic_users_count(const struct cm_basic_users *u)
{
    return u ? u->n : 0;
}

static enum cm_auth_result reject(char *why, size_t len, const char *msg)
{
    snprintf(why, len, "%s", msg);
    return CM_AUTH_INVALID;
}

static void fill(const struct user *usr, struct cm_principal *who)
{
    memset(who, 0, sizeof(*who));
    snprintf(who->subject, sizeof(who->subject), "%s", usr->name);
    snprintf(who->scopes, sizeof(who->scopes), "%s", usr->scopes);
    snprintf(who->tenant, sizeof(who->tenant), "%s", usr->tenant);
}

/* Checks password against hash with crypt_rn; 1 when it matches. */
static int matches(const char *password, const char *hash)
{
    struct crypt_data *cd = cm_xcalloc(1, sizeof(*cd));
    const char *out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
    size_t hl = strlen(hash);
    int ok = out && out[0] != '*' && strlen(out) == hl && CRYPTO_memcmp(out, hash, hl) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok;
}

enum cm_auth_result cm_basic_verify(struct cm_basic_users *u, const char *authorization,
                                    struct cm_principal *who, char *why, size_t whylen)
{
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0) {
        snprintf(why, whylen, "missing credentials");
        return CM_AUTH_MISSING;
    }
    const char *b64 = authorization + 6;
    while (*b64 == ' ') {
        b64++;
    }
    size_t b64len = strlen(b64);
    if (b64len == 0 || b64len > 1024) {
        return reject(why, whylen, "malformed Basic credentials");
    }
    size_t len;
    char *pair = cm_base64_decode(b64, b64len, 0, &len);
    if (!pair) {
        return reject(why, whylen, "malformed Basic credentials (not base64)");
    }
    char *colon = memchr(pair, ':', len);
    if (!colon || memchr(pair, '\0', len)) {
        OPENSSL_cleanse(pair, len);
        free(pair);
        return reject(why, whylen, "malformed Basic credentials (expected user:password)");
    }
    *colon = '\0';
    const char *name = pair, *password = colon + 1;
    unsigned char key[SHA256_DIGEST_LENGTH];
    colon[0] = ':'; /* the digest covers "name:password" */
    SHA256((const unsigned char *)pair, len, key);
    colon[0] = '\0';
    size_t found = u->n;
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->users[i].name, name) == 0) {
            found = i;
            break;
        }
    }
    int ok = 0;
    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; i < CACHE_SLOTS && found < u->n; i++) {
        if (u->cache[i].used && u->cache[i].user == found &&
            CRYPTO_memcmp(u->cache[i].key, key, sizeof(key)) == 0) {
            ok = 1;
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
    if (!ok) {
        ok = matches(password, found < u->n ? u->users[found].hash : dummy_hash) && found < u->n;
        if (ok) {
            pthread_mutex_lock(&u->lock);
            struct slot *s = &u->cache[u->next_slot++ % CACHE_SLOTS];
            memcpy(s->key, key, sizeof(key));
            s->user = found;
            s->used = 1;
            pthread_mutex_unlock(&u->lock);
        }
    }
    OPENSSL_cleanse(pair, len);
    free(pair);
    OPENSSL_cleanse(key, sizeof(key));
    if (!ok) {
        return reject(why, whylen, "wrong user name or password");
    }
    fill(&u->users[found], who);
    return CM_AUTH_OK;
}
