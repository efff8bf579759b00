// SPDX-License-Identifier: GPL-2.0
/* Two programs for tests/bpf/test_load.c: one every kernel accepts, one every verifier
 * refuses (a map value used without the NULL check). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 pid;	/* the test's own: other processes' calls do not count */
const volatile long syscall_nr; /* the one counted */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("raw_tp/sys_enter")
int BPF_PROG(accepted, struct pt_regs *regs, long id)
{
	__u32 zero = 0;
	__u64 *n;

	if (id != syscall_nr || bpf_get_current_pid_tgid() >> 32 != pid)
		return 0;
	n = bpf_map_lookup_elem(&counts, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

/* A hash map, not an array: newer verifiers know an array lookup with a constant key in
 * range cannot fail. */
SEC("raw_tp/sys_enter")
int refused(void *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&seen, &zero);

	return *n != 0; /* no NULL check: refused */
}
