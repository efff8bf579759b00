/* Maps every module shares with bpf/targets.bpf.c, and small map helpers. Each object
 * declares the shared maps; user space loads targets.bpf.c first and hands the same map
 * fds to every module (bpf_map__reuse_fd), so there is one map in the kernel. */
#ifndef CTRLSCOPE_MAPS_BPF_H
#define CTRLSCOPE_MAPS_BPF_H

#include <ctrlscope/targets.h>
#include <bpf/bpf_core_read.h>

#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EEXIST
#define EEXIST 17 /* vmlinux.h has no errno values */
#endif

/* A load-time choice for kernels without task-local storage (before Linux 5.11), set by
 * user space in every object (user/core/kfeatures.h): task_state is then a hash map keyed by
 * thread id, created by the targets core and deleted when the kernel frees the task
 * (cs_task_free). The verifier prunes the branch the constant rules out, so helpers and
 * fields an old kernel lacks may appear there.
 *
 * Objects that must load on such kernels use no atomic fetch-and-add, compare-and-swap
 * or exchange (Linux 5.12): the Linux 5.10 verifier refuses them even in pruned code.
 * Only the plain atomic add (__sync_fetch_and_add with its result unused) is allowed. */
const volatile bool cs_task_hash;

/* Present only on tasks of targets: a miss is the whole cost for everyone else. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cs_task);
} task_state SEC(".maps");

/* Bumped by targets.bpf.c after any task becomes a target or changes slot: a module may
 * remember "this task is not a target" only for as long as the generation is unchanged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} target_gen SEC(".maps");

static __always_inline __u64 cs_target_gen(void)
{
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&target_gen, &zero);

	return gen ? *(volatile __u64 *)gen : 0;
}

/* cs_task_hash only: state found under a thread id, or NULL when it is another task's, left
 * behind by a task whose free was never reported (see cs_task_free). */
static __always_inline struct cs_task *cs_task_hash_own(struct cs_task *state, __u64 start_ns)
{
	return state && state->start_ns == start_ns ? state : NULL;
}

/* A task's state, or NULL for a non-target. The bpf_storage test skips the storage lookup
 * on the many tasks that carry no local storage at all. */
static __always_inline struct cs_task *cs_task_state(struct task_struct *task)
{
	if (cs_task_hash) {
		int tid = task->pid;

		return cs_task_hash_own(bpf_map_lookup_elem(&task_state, &tid),
					BPF_CORE_READ(task, start_time));
	}
	if (!task->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&task_state, task, 0, 0);
}

/* The calling task's state, or NULL for a non-target. Only a thread that has state pays
 * for reading its start time. */
static __always_inline struct cs_task *cs_current_task_state(void)
{
	if (cs_task_hash) {
		int tid = (__u32)bpf_get_current_pid_tgid();
		struct cs_task *state = bpf_map_lookup_elem(&task_state, &tid);
		struct task_struct *task;

		if (!state)
			return NULL;
		task = (struct task_struct *)bpf_get_current_task();
		return cs_task_hash_own(state, BPF_CORE_READ(task, start_time));
	}
	return cs_task_state(bpf_get_current_task_btf());
}

/* A per-CPU memo of the last task found not to be a target, by a key unique to a live
 * task (the syscall tracepoints' pt_regs pointer, or a task pointer). Every helper call
 * costs tens of nanoseconds when return thunks are in use (SRSO, retbleed), and a thread
 * making syscalls back to back hits this memo without any call. */
struct cs_nontarget_memo {
	__u64 key;
	__u64 gen;
};

/* Like cs_current_task_state(), consulting and filling memo (a per-CPU array of one
 * struct cs_nontarget_memo). The generation is read before the storage so that a task
 * becoming a target concurrently can never be remembered as a non-target. A dead task's
 * key reused by a new task is harmless: a new target task always bumps the generation. */
static __always_inline struct cs_task *cs_current_task_state_memo(void *memo, __u64 key)
{
	struct cs_nontarget_memo *m;
	struct cs_task *state;
	__u32 zero = 0;
	__u64 gen = cs_target_gen();

	m = bpf_map_lookup_elem(memo, &zero);
	if (!m)
		return NULL;
	if (m->key == key && m->gen == gen)
		return NULL;
	state = cs_current_task_state();
	if (!state) {
		m->key = key;
		m->gen = gen;
	}
	return state;
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
