/* The cgroup v2 tree as this agent sees it: the mount point, and cgroup id <-> path below
 * it. A cgroup's id is its directory's inode number (what bpf_get_current_cgroup_id()
 * returns). Kept current from the kernel's mkdir/rmdir events, so no polling. */
#ifndef CTRLSCOPE_CGROUPS_H
#define CTRLSCOPE_CGROUPS_H

#include <stddef.h>
#include <stdint.h>

struct cgroups;

/* Find the cgroup2 mount in /proc/self/mountinfo (hybrid hosts mount it anywhere) and
 * read the tree. mountinfo is a parameter for tests; NULL means /proc/self/mountinfo. */
int cgroups_open(const char *mountinfo, struct cgroups **out);
void cgroups_close(struct cgroups *cg);
const char *cgroups_mount(const struct cgroups *cg);
/* Re-read the whole tree (after lost events). */
int cgroups_rescan(struct cgroups *cg);
/* The path below the mount ("/" for the root), or NULL when unknown. */
const char *cgroups_path(const struct cgroups *cg, uint64_t id);
/* Record a new cgroup named name under parent; returns its path or NULL if the parent is
 * unknown (outside this agent's view). */
const char *cgroups_add(struct cgroups *cg, uint64_t id, uint64_t parent, const char *name);
void cgroups_remove(struct cgroups *cg, uint64_t id);
size_t cgroups_count(const struct cgroups *cg);
void cgroups_foreach(const struct cgroups *cg, void (*fn)(uint64_t id, const char *path, void *ctx),
		     void *ctx);
/* Call fn for every process listed in the cgroup's cgroup.procs. */
int cgroups_foreach_proc(const struct cgroups *cg, uint64_t id,
			 void (*fn)(uint32_t tgid, void *ctx), void *ctx);

/* The directory of the cgroup v2 cgroup with this id, opened through mount_fd (any fd
 * on the cgroup2 mount) by file handle: no path needed. Needs CAP_DAC_READ_SEARCH; the fd,
 * or -errno (-ESTALE: no such cgroup). */
int cgroups_open_id(int mount_fd, uint64_t id);

/* The cgroup2 mount point of this process (from /proc/self/mountinfo), or -errno. */
int cgroups_self_mount(char *out, size_t size);

/* The mount point of the cgroup v1 hierarchy that has controller (hybrid and v1 hosts),
 * or -errno. */
int cgroups_self_mount_v1(const char *controller, char *out, size_t size);

/* Exposed for tests: the cgroup2 mount point in mountinfo text, or -ENOENT. */
int cgroups_find_mount(const char *mountinfo_text, char *out, size_t size);
/* The same for the v1 hierarchy with controller (NULL: the cgroup2 mount). */
int cgroups_find_mount_of(const char *mountinfo_text, const char *controller, char *out,
			  size_t size);

#endif
