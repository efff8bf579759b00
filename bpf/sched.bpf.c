// SPDX-License-Identifier: GPL-2.0
/* sched module: per target, on-CPU time, context switches by kind and the run-queue wait
 * histogram.
 *
 * Cost model: sched_switch runs on every context switch of the node, sched_wakeup on
 * every wakeup. A non-target leaves after testing its task's storage pointer (no helper
 * call for tasks that carry no local storage at all). On-CPU time and switch counts cost
 * nothing per switch: they are the kernel's own per-task counters, claimed when a thread
 * exits and by the cs_sched_walk iterator at every scrape. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include <ctrlscope/sched.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0x0000
#define TASK_DEAD    0x0080
#define EXIT_DEAD    0x0010

/* task_struct.state before Linux 5.14 renamed it __state. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* label sets */
	__type(key, __u32);
	__type(value, struct cs_sched_stats);
} sched_stats SEC(".maps");

/* How much of now, a reading of one of the task's monotonic counters, is not counted
 * yet; *done moves to now. The callers never claim the same task at once (cs_sched_free),
 * so no compare-and-swap is needed. */
static __always_inline __u64 claim(__u64 *done, __u64 now)
{
	__u64 old = *done;

	if (now <= old)
		return 0;
	*done = now;
	return now - old;
}

/* Add the task's CPU time and switches not counted yet to its label set. */
static __always_inline void account(struct task_struct *task, struct cs_task *ts)
{
	__u32 slot = ts->slot;
	struct cs_sched_stats *st = bpf_map_lookup_elem(&sched_stats, &slot);
	__u64 cpu, vol, invol;

	cpu = claim(&ts->cpu_done_ns, task->se.sum_exec_runtime);
	vol = claim(&ts->nvcsw_done, task->nvcsw);
	invol = claim(&ts->nivcsw_done, task->nivcsw);
	if (!st)
		return;	   /* a slot beyond the label sets the map was sized for */
	st->cpu_ns += cpu; /* per-CPU value */
	st->voluntary += vol;
	st->involuntary += invol;
}

static __always_inline void queued(struct task_struct *p)
{
	struct cs_task *ts = cs_task_state(p);

	if (ts)
		ts->queued_ns = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(cs_sched_wakeup, struct task_struct *p)
{
	queued(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(cs_sched_wakeup_new, struct task_struct *p)
{
	queued(p);
	return 0;
}

static __always_inline int on_switch(bool preempt, struct task_struct *prev,
				     struct task_struct *next, unsigned int prev_state)
{
	struct cs_sched_stats *st;
	struct cs_task *ts;
	__u64 now = 0, wait;
	__u32 slot, b;

	ts = cs_task_state(prev);
	if (ts) {
		if (prev_state & TASK_DEAD) {
			/* Its last switch: cs_sched_free counts what remains. */
		} else if (preempt || prev_state == TASK_RUNNING) {
			/* Still runnable: it waits on the run queue from now. */
			now = bpf_ktime_get_ns();
			ts->queued_ns = now;
		} else {
			ts->queued_ns = 0; /* sleeping: its wakeup starts the wait */
		}
	}
	ts = cs_task_state(next);
	if (!ts || !ts->queued_ns)
		return 0;
	if (!now)
		now = bpf_ktime_get_ns();
	wait = now - ts->queued_ns;
	ts->queued_ns = 0;
	slot = ts->slot;
	st = bpf_map_lookup_elem(&sched_stats, &slot);
	if (!st)
		return 0;
	b = cs_hist_bucket(wait);
	if (b < CS_HIST_BUCKETS)
		st->wait_buckets[b] += 1;
	st->wait_sum_ns += wait;
	return 0;
}

/* Two variants: the switch's prev_state argument arrived in Linux 5.18; before, the
 * task's state is read (a wakeup racing the switch then shows the task runnable, which
 * times its wait from the switch instead of from the wakeup). */
SEC("tp_btf/sched_switch")
int BPF_PROG(cs_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch(preempt, prev, next, prev_state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(cs_sched_switch_nostate, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	unsigned int state;

	if (bpf_core_field_exists(prev->__state))
		state = BPF_CORE_READ(prev, __state);
	else
		state = BPF_CORE_READ((struct task_struct___pre514 *)prev, state);
	return on_switch(preempt, prev, next, state);
}

/* The task's last claim, once its counters are final: the kernel frees a task an RCU
 * grace period after both its release (exit_state EXIT_DEAD) and its last switch. A
 * cs_sched_walk run that found the task not yet EXIT_DEAD began before that grace period,
 * so it has finished: the two never claim the same task at once. (A claim at the last
 * switch would race the walk, and compare-and-swap needs Linux 5.12.) */
SEC("tp_btf/sched_process_free")
int BPF_PROG(cs_sched_free, struct task_struct *task)
{
	struct cs_task *ts = cs_task_state(task);

	if (ts)
		account(task, ts);
	return 0;
}

/* Scrape time: every target thread's CPU time and switches up to now; and per target
 * process, its label set and cgroup, for user space to read the cgroup's throttling. */
SEC("iter/task")
int cs_sched_walk(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct cs_sched_proc rec;
	struct cs_task *ts;

	ts = task ? cs_task_state(task) : NULL;
	if (!ts)
		return 0;
	/* Released tasks are cs_sched_free's (the walk may still hold one). */
	if (!(task->exit_state & EXIT_DEAD))
		account(task, ts);
	if (task->pid != task->tgid)
		return 0;
	rec.slot = ts->slot;
	rec.tgid = task->tgid;
	rec.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
