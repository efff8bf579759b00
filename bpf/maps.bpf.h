/* Maps every module shares with bpf/targets.bpf.c, and small map helpers. Each object
 * declares the shared maps; user space loads targets.bpf.c first and hands the same map
 * fds to every module (bpf_map__reuse_fd), so there is one map in the kernel. */
#ifndef CTRLSCOPE_MAPS_BPF_H
#define CTRLSCOPE_MAPS_BPF_H

#include <ctrlscope/targets.h>

#ifndef EEXIST
#define EEXIST 17 /* vmlinux.h has no errno values */
#endif

/* Present only on tasks of targets: a miss is the whole cost for everyone else. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cs_task);
} task_state SEC(".maps");

/* The calling task's state, or NULL for a non-target. The bpf_storage test skips the
 * helper call on the many tasks that carry no local storage at all. */
static __always_inline struct cs_task *cs_current_task_state(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!task->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&task_state, task, 0, 0);
}

/* Lookup, and insert a zeroed value on a miss: the hot path never updates an existing
 * element. A full map is counted in *full instead of being silently ignored. */
static __always_inline void *cs_lookup_or_init(void *map, const void *key, const void *zero,
					       __u64 *full)
{
	void *val = bpf_map_lookup_elem(map, key);
	long err;

	if (val)
		return val;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		__sync_fetch_and_add(full, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

#endif
