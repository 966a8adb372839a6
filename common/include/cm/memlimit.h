/* memlimit: the memory a container gives this process, from its cgroup (v2 memory.max, v1
 * memory.limit_in_bytes; the smallest limit on the way from the process's cgroup up to the root
 * of the mounted hierarchy), and the defaults of memory bounds sized to it: a daemon in a
 * container of 512 MiB must not default to bounds that add up past it, as the JVM sizes its heap
 * from the same limit. */
#ifndef CM_MEMLIMIT_H
#define CM_MEMLIMIT_H

#include <stdint.h>

struct cm_config;

/* The memory limit in bytes, or 0 when there is none (or no cgroup is found). Read once. */
int64_t cm_memory_limit(void);
/* The same, read from the texts of /proc/self/cgroup and /proc/self/mountinfo, the cgroup files
 * looked up under root ("" for the real ones; a directory in tests). */
int64_t cm_memory_limit_from(const char *proc_cgroup, const char *mountinfo, const char *root);

/* A memory bound's value: `value` when it was set explicitly or there is no limit, else the
 * smaller of `value` and limit / divisor, but at least `floor`. */
int64_t cm_memory_bound(int64_t value, int set, int64_t limit, unsigned divisor, int64_t floor);
/* The bound configured as `name` (a CM_CFG_SIZE entry), its default sized to the container by
 * cm_memory_bound (logged when it is). */
int64_t cm_config_memory(const struct cm_config *cfg, const char *name, unsigned divisor,
                         int64_t floor);

#endif
