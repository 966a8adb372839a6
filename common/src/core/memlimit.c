/* memlimit: the container's memory limit from cgroups, and bounds sized to it (see memlimit.h). */
#include "cm/memlimit.h"

#include "cm/config.h"
#include "cm/log.h"
#include "cm/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNLIMITED_V1 ((int64_t)1 << 62) /* v1 writes "no limit" as the page-rounded maximum */

/* Reads a whole small file (at most 4 KiB) into buf; 0, or -1. */
static int read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

/* A limit file's value: the bytes, 0 for none ("max", or v1's near-2^63), -1 when unreadable. */
static int64_t limit_file(const char *path)
{
    char buf[64];
    if (read_small(path, buf, sizeof(buf)) != 0) {
        return -1;
    }
    if (strncmp(buf, "max", 3) == 0) {
        return 0;
    }
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (end == buf || v <= 0 || (*end && *end != '\n')) {
        return -1;
    }
    return v >= UNLIMITED_V1 ? 0 : (int64_t)v;
}

/* The process's cgroup path for v2 (controllers "") or for the v1 hierarchy holding "memory",
 * from /proc/self/cgroup ("id:controllers:path" lines); 0 when found. */
static int cgroup_path(const char *proc_cgroup, int v2, char *out, size_t cap)
{
    const char *line = proc_cgroup;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            size_t clen = (size_t)(c2 - c1 - 1);
            int match = v2 ? clen == 0 : 0;
            for (const char *p = c1 + 1; !v2 && p < c2;) { /* "memory" among "a,b,c" */
                const char *comma = memchr(p, ',', (size_t)(c2 - p));
                const char *stop = comma ? comma : c2;
                if ((size_t)(stop - p) == 6 && strncmp(p, "memory", 6) == 0) {
                    match = 1;
                }
                p = stop + 1;
            }
            size_t plen = len - (size_t)(c2 + 1 - line);
            if (match && plen > 0 && plen < cap && c2[1] == '/') {
                memcpy(out, c2 + 1, plen);
                out[plen] = '\0';
                return 0;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* The mount point and root of the cgroup hierarchy (v2: fstype cgroup2; v1: cgroup with the
 * memory option) from /proc/self/mountinfo; 0 when found. */
static int hierarchy_mount(const char *mountinfo, int v2, char *point, char *root, size_t cap)
{
    const char *line = mountinfo;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[1024];
        if (len < sizeof(buf)) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            char *f[5] = {0};
            char *save = NULL, *tok = strtok_r(buf, " ", &save);
            for (int i = 0; tok && i < 5; i++, tok = strtok_r(NULL, " ", &save)) {
                f[i] = tok; /* id parent dev root mountpoint */
            }
            char *dash = strstr(save ? save : "", "- ");
            char fstype[32] = "", opts[256] = "";
            if (f[4] && dash && sscanf(dash, "- %31s %*s %255s", fstype, opts) >= 1) {
                int match = v2 ? strcmp(fstype, "cgroup2") == 0
                               : strcmp(fstype, "cgroup") == 0 &&
                                     (strstr(opts, ",memory") || strncmp(opts, "memory", 6) == 0);
                if (match && strlen(f[3]) < cap && strlen(f[4]) < cap) {
                    strcpy(root, f[3]);
                    strcpy(point, f[4]);
                    return 0;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* The smallest limit from the cgroup at path up to the hierarchy's root; 0 for none. */
static int64_t walk_up(const char *root_dir, const char *point, const char *mroot, const char *path,
                       const char *file)
{
    size_t rl = strlen(mroot);
    const char *rel = path;
    if (rl > 1 && strncmp(path, mroot, rl) == 0 && (path[rl] == '/' || path[rl] == '\0')) {
        rel = path + rl; /* the mount shows the hierarchy from mroot down */
    } else if (rl > 1) {
        rel = ""; /* a namespaced cgroup: the mount's root is the process's own */
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", rel);
    int64_t best = 0;
    for (;;) {
        char file_path[1400];
        snprintf(file_path, sizeof(file_path), "%s%s%s/%s", root_dir, point,
                 strcmp(dir, "/") == 0 ? "" : dir, file);
        int64_t v = limit_file(file_path);
        if (v > 0 && (best == 0 || v < best)) {
            best = v;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || dir[0] == '\0' || strcmp(dir, "/") == 0) {
            break;
        }
        if (slash == dir) {
            strcpy(dir, "/");
        } else {
            *slash = '\0';
        }
    }
    return best;
}

int64_t cm_memory_limit_from(const char *proc_cgroup, const char *mountinfo, const char *root)
{
    char path[1024], point[1024], mroot[1024];
    if (cgroup_path(proc_cgroup, 1, path, sizeof(path)) == 0 &&
        hierarchy_mount(mountinfo, 1, point, mroot, sizeof(point)) == 0) {
        int64_t v = walk_up(root, point, mroot, path, "memory.max");
        if (v > 0) {
            return v;
        }
    }
    if (cgroup_path(proc_cgroup, 0, path, sizeof(path)) == 0 &&
        hierarchy_mount(mountinfo, 0, point, mroot, sizeof(point)) == 0) {
        return walk_up(root, point, mroot, path, "memory.limit_in_bytes");
    }
    return 0;
}

static int64_t limit_now;
static pthread_once_t limit_once = PTHREAD_ONCE_INIT;

static void read_limit(void)
{
    static char cg[4096], mi[65536];
    if (read_small("/proc/self/cgroup", cg, sizeof(cg)) == 0 &&
        read_small("/proc/self/mountinfo", mi, sizeof(mi)) == 0) {
        limit_now = cm_memory_limit_from(cg, mi, "");
    }
}

int64_t cm_memory_limit(void)
{
    pthread_once(&limit_once, read_limit);
    return limit_now;
}

int64_t cm_memory_bound(int64_t value, int set, int64_t limit, unsigned divisor, int64_t floor)
{
    if (set || limit <= 0 || divisor == 0) {
        return value;
    }
    int64_t share = limit / divisor;
    int64_t v = share < value ? share : value;
    return v < floor ? floor : v;
}

int64_t cm_config_memory(const struct cm_config *cfg, const char *name, unsigned divisor,
                         int64_t floor)
{
    int64_t value = cm_config_int(cfg, name), limit = cm_memory_limit();
    int64_t v = cm_memory_bound(value, cm_config_is_set(cfg, name), limit, divisor, floor);
    if (v != value) {
        CM_LOG_INFO("memory_bound_sized",
                    "%s: %lld bytes, 1/%u of the container's memory limit "
                    "(%lld bytes), below its default %lld; set it to choose",
                    name, (long long)v, divisor, (long long)limit, (long long)value);
    }
    return v;
}
