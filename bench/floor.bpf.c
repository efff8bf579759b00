// SPDX-License-Identifier: GPL-2.0
/* The floor for `make bench`: an empty program on each syscall tracepoint, attached the
 * same way (BTF raw tracepoints) as the agent's. Whatever the agent costs above this is
 * the price of its own work; this pair's cost is the price of tracing syscalls at all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_enter, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_exit, struct pt_regs *regs, long ret)
{
	return 0;
}
