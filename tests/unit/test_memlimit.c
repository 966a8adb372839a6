/* Unit tests for common/memlimit: the container's memory limit read from cgroup v2 and v1 trees
 * laid out in a scratch directory (as Docker, Kubernetes and systemd lay them out, nested and
 * namespaced, with hostile and missing files), and memory bounds sized to it. */
#include "cm/config.h"
#include "cm/memlimit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/test_memlimit.%d.XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

/* Writes text to root/rel, making its directories. */
static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static const char v2_mounts[] =
    "22 1 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "23 1 0:22 / /proc rw - proc proc rw\n";

static const char v1_mounts[] =
    "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "32 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TestSuite(memlimit, .init = setup, .fini = teardown);

Test(memlimit, v2_the_process_cgroup_and_the_smallest_limit_above_it)
{
    put("sys/fs/cgroup/kubepods.slice/memory.max", "2147483648\n");
    put("sys/fs/cgroup/kubepods.slice/pod1/memory.max", "max\n");
    put("sys/fs/cgroup/kubepods.slice/pod1/c1/memory.max", "536870912\n");
    cr_assert_eq(cm_memory_limit_from("0::/kubepods.slice/pod1/c1\n", v2_mounts, root), 536870912);
    /* a pod limit below the container's own */
    put("sys/fs/cgroup/kubepods.slice/pod1/memory.max", "268435456\n");
    cr_assert_eq(cm_memory_limit_from("0::/kubepods.slice/pod1/c1\n", v2_mounts, root), 268435456);
    /* no limit anywhere */
    put("sys/fs/cgroup/kubepods.slice/memory.max", "max\n");
    put("sys/fs/cgroup/kubepods.slice/pod1/memory.max", "max\n");
    put("sys/fs/cgroup/kubepods.slice/pod1/c1/memory.max", "max\n");
    cr_assert_eq(cm_memory_limit_from("0::/kubepods.slice/pod1/c1\n", v2_mounts, root), 0);
}

Test(memlimit, v2_in_a_cgroup_namespace_reads_the_mount_root)
{
    put("sys/fs/cgroup/memory.max", "1073741824\n"); /* Docker with cgroupns=private */
    cr_assert_eq(cm_memory_limit_from("0::/\n", v2_mounts, root), 1073741824);
}

Test(memlimit, v1_memory_hierarchy_with_its_mount_root)
{
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "805306368\n");
    const char cg[] = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n";
    cr_assert_eq(cm_memory_limit_from(cg, v1_mounts, root), 805306368);
    /* the mount shows the hierarchy from the container's cgroup down (Docker without cgroupns) */
    const char mounted_at_own[] =
        "31 25 0:27 /docker/abc /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory\n";
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "805306368\n");
    cr_assert_eq(cm_memory_limit_from(cg, mounted_at_own, root), 805306368);
    /* unlimited: v1 writes the page-rounded maximum */
    put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    cr_assert_eq(cm_memory_limit_from(cg, v1_mounts, root), 0);
    /* memory shared with other controllers on one hierarchy */
    const char joint[] = "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,cpu,memory\n";
    put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "805306368\n");
    cr_assert_eq(cm_memory_limit_from("4:cpu,memory:/docker/abc\n", joint, root), 805306368);
}

Test(memlimit, hostile_or_missing_files_mean_no_limit)
{
    const char *bad[] = {"", "-5\n", "abc\n", "12abc\n", "0\n", "99999999999999999999999\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put("sys/fs/cgroup/memory.max", bad[i]);
        cr_assert_eq(cm_memory_limit_from("0::/\n", v2_mounts, root), 0, "'%s'", bad[i]);
    }
    cr_assert_eq(cm_memory_limit_from("", v2_mounts, root), 0);
    cr_assert_eq(cm_memory_limit_from("0::/\n", "", root), 0);
    cr_assert_eq(cm_memory_limit_from("garbage without colons\n", v2_mounts, root), 0);
    cr_assert_eq(cm_memory_limit_from("0::relative\n", v2_mounts, root), 0);
    cr_assert_eq(cm_memory_limit_from("0::/a/b\n", "1 2 3\n- - -\n", root), 0);
    cr_assert_eq(cm_memory_limit_from("0::/does/not/exist\n", v2_mounts, root), 0);
}

Test(memlimit, bounds_take_a_share_of_the_limit_unless_set)
{
    int64_t mib = 1024 * 1024;
    cr_assert_eq(cm_memory_bound(256 * mib, 0, 512 * mib, 8, 0), 64 * mib);
    cr_assert_eq(cm_memory_bound(256 * mib, 0, 4096 * mib, 8, 0), 256 * mib);  /* the default */
    cr_assert_eq(cm_memory_bound(256 * mib, 1, 512 * mib, 8, 0), 256 * mib);   /* set: as set */
    cr_assert_eq(cm_memory_bound(256 * mib, 0, 0, 8, 0), 256 * mib);           /* no limit */
    cr_assert_eq(cm_memory_bound(256 * mib, 0, 8 * mib, 8, mib + 1), mib + 1); /* the floor */
}

Test(memlimit, the_machine_running_the_tests_answers)
{
    int64_t limit = cm_memory_limit();
    cr_assert_geq(limit, 0);
    cr_assert_eq(cm_memory_limit(), limit); /* read once */
}
