// SPDX-License-Identifier: GPL-2.0
/* syscalls module: per target and syscall, the number of calls, their latency histogram
 * and their errors by errno, aggregated in per-CPU maps. Nothing is sent per call.
 *
 * Cost model: every thread on the node runs these two programs on every syscall while
 * they are attached. A non-target leaves after a per-CPU memo hit (no helper call) or a
 * task-storage miss; a target pays two storage lookups, two clock reads and two inlined
 * array lookups. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include <ctrlscope/syscalls.h>

char LICENSE[] SEC("license") = "GPL";

__u32 next_row = 1; /* row 0 means "none" */
__u64 rows_full;
__u64 errors_full;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_nontarget_memo);
} sys_memo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* sized by user space: label sets * CS_SYSCALL_NR_MAX / 2 */
	__type(key, __u32);
	__type(value, struct cs_sys_rows);
} sys_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* rows: max_entries + 1, row 0 is none */
	__type(key, __u32);
	__type(value, struct cs_sys_key);
} sys_row_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* rows: max_entries + 1, row 0 is none */
	__type(key, __u32);
	__type(value, struct cs_sys_stats);
} sys_stats SEC(".maps");

/* Rows never used yet, 1 to max_entries in order, filled by user space: popping one
 * stands for an atomic fetch-and-add on next_row (maps.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1); /* rows: max_entries + 1, row 0 is none */
	__type(value, __u32);
} sys_row_tickets SEC(".maps");

/* (slot * CS_SYSCALL_NR_MAX + nr) -> its row: the BPF_NOEXIST insert publishes a row. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* rows: max_entries + 1, row 0 is none */
	__type(key, __u32);
	__type(value, __u32);
} sys_row_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1);
	__type(key, struct cs_sys_err_key);
	__type(value, __u64);
} sys_errors SEC(".maps");

/* memo_key: unique to the calling task while it lives (see cs_nontarget_memo). */
static __always_inline int on_enter(__u64 memo_key, long id)
{
	struct cs_task *state = cs_current_task_state_memo(&sys_memo, memo_key);

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

/* The row counting (slot, nr), allocated on first use; 0 when none is left. A ticket
 * stands for fetch-and-add on next_row, a BPF_NOEXIST insert for compare-and-swap on the
 * cell (maps.bpf.h): every CPU that finds the cell empty ends up writing the same
 * published row into it. */
static __always_inline __u32 row_of(__u32 slot, __u32 nr)
{
	__u32 index = CS_SYS_ROW_INDEX(slot, nr), owner = slot * CS_SYSCALL_NR_MAX + nr;
	struct cs_sys_rows *rows = bpf_map_lookup_elem(&sys_rows, &index);
	struct cs_sys_key key = { .slot = slot, .nr = nr };
	struct cs_sys_key *row_key;
	__u32 *cell, row, *found;

	if (!rows)
		return 0; /* slot beyond the label sets the map was sized for */
	cell = &rows->row[CS_SYS_ROW_HALF(nr)];
	row = *cell;
	if (row)
		return row;
	found = bpf_map_lookup_elem(&sys_row_owners, &owner);
	if (found)
		goto publish;
	if (bpf_map_pop_elem(&sys_row_tickets, &row)) {
		__sync_fetch_and_add(&rows_full, 1);
		return 0;
	}
	/* Tickets come in order, so next_row passes row. The key is in place before the row
	 * is published: user space reads rows below next_row and trusts their key. */
	__sync_fetch_and_add(&next_row, 1);
	row_key = bpf_map_lookup_elem(&sys_row_keys, &row);
	if (!row_key) {
		__sync_fetch_and_add(&rows_full, 1);
		return 0;
	}
	*row_key = key;
	if (!bpf_map_update_elem(&sys_row_owners, &owner, &row, BPF_NOEXIST)) {
		*cell = row;
		return row;
	}
	row_key->slot = CS_SLOT_NONE; /* another CPU published first: this row stays unused */
	found = bpf_map_lookup_elem(&sys_row_owners, &owner);
	if (!found)
		return 0;
publish:
	row = *found;
	*cell = row;
	return row;
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

static __always_inline int on_exit(__u64 memo_key, long ret)
{
	struct cs_task *state = cs_current_task_state_memo(&sys_memo, memo_key);
	struct cs_sys_stats *stats;
	__u64 start, delta;
	__u32 slot, nr, row, bucket;

	/* No start: the first return of a new thread, a syscall that seccomp refused
	 * before entry, or a task that became a target while in a syscall. */
	if (!state || !state->sys_start_ns)
		return 0;
	start = state->sys_start_ns;
	state->sys_start_ns = 0;
	delta = bpf_ktime_get_ns() - start;
	slot = state->slot;
	nr = state->sys_nr;

	row = row_of(slot, nr);
	stats = row ? bpf_map_lookup_elem(&sys_stats, &row) : NULL;
	if (stats) {
		bucket = cs_hist_bucket(delta);
		if (bucket < CS_HIST_BUCKETS)
			stats->buckets[bucket] += 1; /* per-CPU value: no other writer */
		stats->sum_ns += delta;
	}
	if (ret < 0 && ret >= -CS_MAX_ERRNO)
		count_error(slot, nr, ret);
	return 0;
}

/* Two ways in, one chosen at load time (user/core/kfeatures.h). BTF tracepoints are the
 * cheaper; where the kernel runs them preemptibly (Linux 7.0+) it skips a program on a
 * CPU while a task preempted inside it waits, and the classic (perf event) tracepoints,
 * which still run with preemption disabled, are used instead. */
SEC("tp_btf/sys_enter")
int BPF_PROG(cs_sys_enter, struct pt_regs *regs, long id)
{
	return on_enter((__u64)regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(cs_sys_exit, struct pt_regs *regs, long ret)
{
	return on_exit((__u64)regs, ret);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int cs_sys_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(bpf_get_current_task(), ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int cs_sys_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(bpf_get_current_task(), ctx->ret);
}
