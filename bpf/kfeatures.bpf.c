// SPDX-License-Identifier: GPL-2.0
/* Load-time probes of how this kernel runs BPF programs, for choosing program variants.
 * Not a module: loaded, run once and unloaded before the targets core.
 *
 * cs_probe_preempt: whether a program on a process-context tracepoint can be preempted.
 * Since Linux 7.0 tracepoint callbacks run under SRCU with only migration disabled
 * (commits "tracing: Guard __DECLARE_TRACE() use of __DO_TRACE_CALL() with SRCU-fast" and
 * "bpf: Have __bpf_trace_run() use rcu_read_lock_dont_migrate()"): a task preempted
 * inside a program leaves the program marked active on its CPU, and the kernel skips
 * that program for every other task on that CPU until it resumes (recursion_misses).
 * Perf-event ("classic") tracepoint programs still run with preemption disabled
 * ("tracing: perf: Have perf tracepoint callbacks always disable preemption"). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 probe_tid; /* the probing thread */

/* 0: not run; 1: migration_disabled read; 2: the kernel has no such field. */
__u32 probe_state;
__u32 migration_disabled;

/* Where tracepoint callbacks run preemptibly, __bpf_trace_run() holds off migration
 * (rcu_read_lock_dont_migrate(), with CONFIG_PREEMPT_RCU) instead of relying on
 * preemption being disabled: a program that finds its task's migration_disabled raised
 * runs preemptibly. Kernels that cannot preempt there never raise it around programs.
 * A field of the task, so no kernel symbol is needed (__preempt_count would need
 * CONFIG_KALLSYMS_ALL). */
SEC("tp_btf/sys_enter")
int BPF_PROG(cs_probe_preempt, struct pt_regs *regs, long id)
{
	struct task_struct *task;

	if ((__u32)bpf_get_current_pid_tgid() != probe_tid)
		return 0;
	/* Before Linux 5.11 neither the field nor the helper exists (nor preemptible
	 * tracepoints): the verifier prunes what follows. */
	if (!bpf_core_field_exists(((struct task_struct *)0)->migration_disabled) ||
	    !bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		probe_state = 2;
		return 0;
	}
	task = bpf_get_current_task_btf();
	migration_disabled = BPF_CORE_READ(task, migration_disabled);
	probe_state = 1;
	return 0;
}
