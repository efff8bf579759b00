// SPDX-License-Identifier: GPL-2.0
/* proc module: per target, process exits by reason and code, OOM kills, and the threads
 * alive at each scrape. Program starts are counted by the targets core at exec.
 *
 * Cost model: sched_process_exit runs once per exiting thread of the node and
 * oom:mark_victim once per OOM kill; a non-target leaves after testing its task's storage
 * pointer. Nothing runs per context switch or per system call. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include <ctrlscope/proc.h>

char LICENSE[] SEC("license") = "GPL";

#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */

__u64 exits_full; /* proc_exits full: the exit was not counted */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_exit_key);
	__type(value, __u64);
} proc_exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* label sets */
	__type(key, __u32);
	__type(value, struct cs_proc_stats);
} proc_stats SEC(".maps");

/* The status wait(2) reports for the process: the group's on exit_group() or a fatal
 * signal, else the leader's own exit code (its threads all left with exit()). */
static __always_inline __u32 exit_status(struct task_struct *task)
{
	if (BPF_CORE_READ(task, signal, flags) & SIGNAL_GROUP_EXIT)
		return BPF_CORE_READ(task, signal, group_exit_code);
	return BPF_CORE_READ(task, group_leader, exit_code);
}

static __always_inline int on_exit(struct task_struct *task)
{
	struct cs_exit_key key = {};
	struct cs_task *ts = cs_task_state(task);
	__u64 zero = 0, *n;
	__u32 status;

	/* A helper a process of the label set forked is not the label set's own exit. */
	if (!ts || !(ts->flags & CS_TASK_ROOT))
		return 0;
	/* Only the process's last thread: signal->live is already decremented for it. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	status = exit_status(task);
	key.slot = ts->slot;
	if (status & 0x7f) {
		key.reason = CS_EXIT_SIGNALED;
		key.code = status & 0x7f; /* 0x80 only says whether it dumped core */
	} else {
		key.reason = CS_EXIT_EXITED;
		key.code = (status >> 8) & 0xff;
	}
	n = cs_lookup_or_init(&proc_exits, &key, &zero, &exits_full);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

/* Two variants, chosen at load time like the targets core's (user/core/kfeatures.h). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(cs_proc_exit, struct task_struct *task)
{
	return on_exit(task);
}

SEC("tracepoint/sched/sched_process_exit")
int cs_proc_exit_tp(void *ctx)
{
	return on_exit(bpf_get_current_task_btf());
}

static __always_inline void count_oom(struct cs_task *ts)
{
	struct cs_proc_stats *st;
	__u32 slot;

	if (!ts)
		return;
	slot = ts->slot;
	st = bpf_map_lookup_elem(&proc_stats, &slot);
	if (st)
		st->oom_kills += 1; /* per-CPU value */
}

/* The OOM killer chose task (the global one, or a memory cgroup's). */
SEC("tp_btf/mark_victim")
int BPF_PROG(cs_proc_oom, struct task_struct *task)
{
	count_oom(cs_task_state(task));
	return 0;
}

/* Before Linux 6.8 the tracepoint names only the victim's pid: usable where task state is
 * keyed by thread id (cs_task_hash). */
SEC("tp_btf/mark_victim")
int BPF_PROG(cs_proc_oom_pid, int pid)
{
	count_oom(cs_task_hash ? bpf_map_lookup_elem(&task_state, &pid) : NULL);
	return 0;
}

/* Scrape time: one record (the slot) per live target thread. */
SEC("iter/task")
int cs_proc_walk(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct cs_task *ts;
	__u32 slot;

	/* A zombie (exited, not yet reaped by its parent) is no longer a live thread. */
	if (!task || task->exit_state)
		return 0;
	ts = cs_task_state(task);
	if (!ts)
		return 0;
	slot = ts->slot;
	bpf_seq_write(ctx->meta->seq, &slot, sizeof(slot));
	return 0;
}
