/* proc_horizon: event-time horizons in Kafka's offset metadata (proc_horizon.h). */
#include "proc_horizon.h"

#include "proc_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "h1;"

void proc_horizon_key(char *key, size_t len, const char *name, long long version,
                      const char *digest)
{
    snprintf(key, len, "%s/%lld/%.8s", name, version, digest);
}

int proc_horizon_add(struct proc_horizon_text *t, const char *key, int64_t position, int64_t wm)
{
    char entry[PROC_HORIZON_KEY_MAX + 48];
    int n =
        snprintf(entry, sizeof(entry), "%s=%lld,%lld;", key, (long long)position, (long long)wm);
    size_t start = t->len ? t->len : strlen(MAGIC);
    if (n < 0 || (size_t)n >= sizeof(entry) || start + (size_t)n > CM_KAFKA_METADATA_MAX) {
        return -1;
    }
    if (t->len == 0) {
        memcpy(t->text, MAGIC, strlen(MAGIC));
    }
    memcpy(t->text + start, entry, (size_t)n + 1);
    t->len = start + (size_t)n;
    return 0;
}

/* A decimal integer (a leading '-' allowed) ending at `stop`; 0, or -1. */
static int number(const char **p, char stop, long long *v)
{
    const char *s = *p;
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) {
        return -1;
    }
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != stop || (s[0] == '-' && end == s + 1)) {
        return -1;
    }
    *p = end + 1;
    return 0;
}

/* A key: <name>/<version>/<tag>, name and tag of [A-Za-z0-9._-], version digits. */
static int key_ok(const char *k, size_t n)
{
    int slashes = 0;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (c == '/') {
            if (run == 0) {
                return 0;
            }
            slashes++;
            run = 0;
            continue;
        }
        int name_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!name_char || (slashes == 1 && !(c >= '0' && c <= '9'))) {
            return 0;
        }
        run++;
    }
    return slashes == 2 && run > 0;
}

int proc_horizon_find(const char *metadata, const char *key, int64_t *position, int64_t *wm)
{
    if (!metadata || strncmp(metadata, MAGIC, strlen(MAGIC)) != 0) {
        return -1;
    }
    size_t klen = strlen(key);
    int found = 0;
    long long fpos = 0, fwm = 0;
    for (const char *p = metadata + strlen(MAGIC); *p;) {
        const char *eq = strchr(p, '=');
        if (!eq || !key_ok(p, (size_t)(eq - p))) {
            return -1;
        }
        const char *q = eq + 1;
        long long pos, w;
        if (number(&q, ',', &pos) != 0 || number(&q, ';', &w) != 0 || pos < 0 ||
            !proc_watermark_ok(w)) {
            return -1;
        }
        if (!found && (size_t)(eq - p) == klen && memcmp(p, key, klen) == 0) {
            found = 1;
            fpos = pos;
            fwm = w;
        }
        p = q;
    }
    if (found) {
        *position = fpos;
        *wm = fwm;
    }
    return found;
}
