// SPDX-License-Identifier: GPL-2.0
/* The floor of the context-switch benchmark: empty programs on the scheduler tracepoints
 * the sched module attaches (BTF raw tracepoints, like the agent's). What the agent costs
 * above this is the price of its own work; this is the price of tracing switches at all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wakeup, struct task_struct *p)
{
	return 0;
}
