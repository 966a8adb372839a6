/* proc_horizon: event-time horizons in Kafka's offset metadata (proc_horizon.h). */
#include "proc_horizon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "h1;"

int proc_horizon_add(struct proc_horizon_text *t, const char *name, long long version,
                     int64_t position, int64_t wm)
{
    char entry[256];
    int n = snprintf(entry, sizeof(entry), "%s/%lld=%lld,%lld;", name, version, (long long)position,
                     (long long)wm);
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

int proc_horizon_find(const char *metadata, const char *name, long long version, int64_t *position,
                      int64_t *wm)
{
    if (!metadata || strncmp(metadata, MAGIC, strlen(MAGIC)) != 0) {
        return -1;
    }
    size_t nlen = strlen(name);
    int found = 0;
    long long fpos = 0, fwm = 0;
    for (const char *p = metadata + strlen(MAGIC); *p;) {
        const char *slash = strchr(p, '/');
        if (!slash || slash == p) {
            return -1;
        }
        for (const char *c = p; c < slash; c++) {
            if (*c == ';' || *c == '=' || *c == ',') {
                return -1;
            }
        }
        const char *q = slash + 1;
        long long v, pos, w;
        if (number(&q, '=', &v) != 0 || number(&q, ',', &pos) != 0 || number(&q, ';', &w) != 0 ||
            pos < 0) {
            return -1;
        }
        if (!found && (size_t)(slash - p) == nlen && memcmp(p, name, nlen) == 0 && v == version) {
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
