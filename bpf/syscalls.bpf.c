// SPDX-License-Identifier: GPL-2.0
/* syscalls module: per target and syscall, the number of calls, their latency histogram
 * and their errors by errno, aggregated in per-CPU maps. Nothing is sent per call. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include <ctrlscope/syscalls.h>

char LICENSE[] SEC("license") = "GPL";

__u64 stats_full;
__u64 errors_full;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_sys_key);
	__type(value, struct cs_sys_stats);
} sys_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1);
	__type(key, struct cs_sys_err_key);
	__type(value, __u64);
} sys_errors SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(cs_sys_enter, struct pt_regs *regs, long id)
{
	struct cs_task *state = cs_current_task_state();

	if (!state)
		return 0;
	if ((unsigned long)id >= CS_SYSCALL_NR_MAX) {
		state->sys_start_ns = 0;
		return 0;
	}
	state->sys_nr = id;
	state->sys_start_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline void count_error(__u32 slot, __u32 nr, long ret)
{
	struct cs_sys_err_key key = {};
	__u64 zero = 0, *count;

	key.slot = slot;
	key.nr = nr;
	key.err = -ret;
	count = cs_lookup_or_init(&sys_errors, &key, &zero, &errors_full);
	if (count)
		*count += 1; /* per-CPU value: no other writer */
}

SEC("tp_btf/sys_exit")
int BPF_PROG(cs_sys_exit, struct pt_regs *regs, long ret)
{
	struct cs_task *state = cs_current_task_state();
	struct cs_sys_stats zero = {}, *stats;
	struct cs_sys_key key = {};
	__u64 start, delta;
	__u32 bucket;

	/* No start: the first return of a new thread, or a task that became a target
	 * while in a syscall. */
	if (!state || !state->sys_start_ns)
		return 0;
	start = state->sys_start_ns;
	state->sys_start_ns = 0;
	delta = bpf_ktime_get_ns() - start;

	key.slot = state->slot;
	key.nr = state->sys_nr;
	stats = cs_lookup_or_init(&sys_stats, &key, &zero, &stats_full);
	if (stats) {
		bucket = cs_hist_bucket(delta);
		if (bucket < CS_HIST_BUCKETS)
			stats->buckets[bucket] += 1;
		stats->sum_ns += delta;
	}
	if (ret < 0 && ret >= -CS_MAX_ERRNO)
		count_error(key.slot, key.nr, ret);
	return 0;
}
