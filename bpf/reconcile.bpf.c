// SPDX-License-Identifier: GPL-2.0
/* reconcile module: controller-runtime's reconcile metrics, read from an unmodified Go
 * binary by uprobes on its own functions (include/ctrlscope/reconcile.h says which, and
 * docs/reconcile-probes.md why they tell the truth).
 *
 * Every program reads Go's register ABI: integer arguments and results in RAX, RBX, RCX,
 * RDI, RSI, R8-R11 on amd64 (R0-R15 on arm64), the running goroutine's g in R14 (R28).
 * Programs are attached to a binary's file for every process that runs it; a process
 * that is not a target leaves after its task-storage miss.
 *
 * Cost model: three probe hits per reconcile (the start of Reconcile, one of its
 * returns, the start of updateMetrics), four when it failed (the errors.Is return). Each
 * is a breakpoint trap, a few microseconds, which is why nothing else is probed per
 * reconcile. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include <ctrlscope/reconcile.h>

char LICENSE[] SEC("license") = "GPL";

__u64 stats_full; /* rec_stats full: a controller's reconciles were not counted */
__u64 calls_full; /* rec_calls full: a reconcile was not followed */

#if defined(__TARGET_ARCH_x86)
#define GO_G(r)	 ((r)->r14)
#define GO_R0(r) ((r)->ax)
#define GO_R1(r) ((r)->bx)
#define GO_R2(r) ((r)->cx)
#define GO_R3(r) ((r)->di)
#define GO_R4(r) ((r)->si)
#elif defined(__TARGET_ARCH_arm64)
#define GO_G(r)	 ((r)->regs[28])
#define GO_R0(r) ((r)->regs[0])
#define GO_R1(r) ((r)->regs[1])
#define GO_R2(r) ((r)->regs[2])
#define GO_R3(r) ((r)->regs[3])
#define GO_R4(r) ((r)->regs[4])
#else
#error "the reconcile module reads Go's register ABI of amd64 or arm64"
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_rec_key);
	__type(value, struct cs_rec_stats);
} rec_stats SEC(".maps");

/* One entry per reconcile in flight; user space deletes those of processes that died
 * with one in flight. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_rec_goroutine);
	__type(value, struct cs_rec_call);
} rec_calls SEC(".maps");

/* A scratch value too big for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_rec_call);
} rec_scratch SEC(".maps");

static const __u64 bounds_ms[CS_REC_BOUNDS] = { CS_REC_BOUNDS_MS };

static __always_inline void goroutine_of(struct pt_regs *ctx, struct cs_rec_goroutine *k)
{
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->pad = 0;
	k->g = GO_G(ctx);
}

/* The body of the shaped Controller.Reconcile (past the stack-check prologue, so once per
 * call): the receiver *Controller in R0, its Name (a Go string) at offset 0. */
SEC("uprobe")
int cs_rec_begin(struct pt_regs *ctx)
{
	struct cs_rec_goroutine gk;
	struct cs_rec_stats zero = {}, *s;
	struct cs_rec_call *call;
	struct cs_task *ts = cs_current_task_state();
	__u64 name[2] = {};
	__u32 i = 0, n;

	if (!ts)
		return 0;
	call = bpf_map_lookup_elem(&rec_scratch, &i);
	if (!call)
		return 0;
	__builtin_memset(call, 0, sizeof(*call));
	if (bpf_probe_read_user(name, sizeof(name), (void *)GO_R0(ctx)))
		return 0;
	call->key.slot = ts->slot;
	call->key.len = name[1] > 0xffffffffu ? 0xffffffffu : name[1];
	n = name[1] > CS_CTRL_NAME_LEN ? CS_CTRL_NAME_LEN : name[1];
	barrier_var(n);
	if (n > CS_CTRL_NAME_LEN)
		return 0;
	if (n && bpf_probe_read_user(call->key.name, n, (void *)name[0]))
		return 0;
	goroutine_of(ctx, &gk);
	/* A goroutine's previous reconcile whose updateMetrics never ran (a Reconcile called
	 * from elsewhere) is replaced: its worker is not active any more. */
	if (bpf_map_update_elem(&rec_calls, &gk, call, BPF_ANY)) {
		__sync_fetch_and_add(&calls_full, 1);
		return 0;
	}
	s = cs_lookup_or_init(&rec_stats, &call->key, &zero, &stats_full);
	if (s)
		__sync_fetch_and_add(&s->begun, 1);
	return 0;
}

/* What controller-runtime's reconcileHandler makes of Reconcile's results, in its order. */
static __always_inline __u32 classify(bool requeue, __s64 requeue_after, __u64 err_type)
{
	if (err_type)
		return CS_REC_ERROR;
	if (requeue_after > 0)
		return CS_REC_REQUEUE_AFTER;
	if (requeue)
		return CS_REC_REQUEUE;
	return CS_REC_SUCCESS;
}

static __always_inline int on_return(struct pt_regs *ctx, __u64 err_type, __u32 flags)
{
	struct cs_rec_goroutine gk;
	struct cs_rec_call *call;

	goroutine_of(ctx, &gk);
	call = bpf_map_lookup_elem(&rec_calls, &gk);
	if (!call)
		return 0;
	/* reconcile.Result: Requeue (a bool: only its byte counts) in R0, RequeueAfter in R1. */
	call->result = classify(GO_R0(ctx) & 0xff, (__s64)GO_R1(ctx), err_type);
	call->flags |= CS_REC_HAVE_RESULT | flags;
	return 0;
}

/* A return of Reconcile, reconcile.Result{Requeue, RequeueAfter} (before v0.23): the
 * error's type word in R2. */
SEC("uprobe")
int cs_rec_return16(struct pt_regs *ctx)
{
	return on_return(ctx, GO_R2(ctx), 0);
}

/* The same with reconcile.Result{Requeue, RequeueAfter, Priority} (v0.23 and later): the
 * error's type word in R3. */
SEC("uprobe")
int cs_rec_return24(struct pt_regs *ctx)
{
	return on_return(ctx, GO_R3(ctx), 0);
}

/* Reconcile's return after runtime.deferreturn: only a recovered panic gets there. */
SEC("uprobe")
int cs_rec_panic16(struct pt_regs *ctx)
{
	return on_return(ctx, GO_R2(ctx), CS_REC_PANICKED);
}

SEC("uprobe")
int cs_rec_panic24(struct pt_regs *ctx)
{
	return on_return(ctx, GO_R3(ctx), CS_REC_PANICKED);
}

/* Right after reconcileHandler's call of errors.Is(err, reconcile.TerminalError(nil)):
 * its bool in R0. */
SEC("uprobe")
int cs_rec_terminal(struct pt_regs *ctx)
{
	struct cs_rec_goroutine gk;
	struct cs_rec_call *call;

	if (!(GO_R0(ctx) & 0xff))
		return 0;
	goroutine_of(ctx, &gk);
	call = bpf_map_lookup_elem(&rec_calls, &gk);
	if (call)
		call->flags |= CS_REC_TERMINAL;
	return 0;
}

static __always_inline __u32 bucket_of(__u64 ns)
{
	__u32 i;

	for (i = 0; i < CS_REC_BOUNDS; i++) {
		if (ns <= bounds_ms[i] * 1000000)
			break;
	}
	return i;
}

/* The body of updateMetrics (deferred by reconcileHandler): the reconcile's duration in
 * nanoseconds in R2, exactly what controller-runtime observes. Counts the reconcile the
 * goroutine has in flight. */
SEC("uprobe")
int cs_rec_end(struct pt_regs *ctx)
{
	struct cs_rec_goroutine gk;
	struct cs_rec_call *call;
	struct cs_rec_stats *s;
	__u64 ns = GO_R2(ctx);
	__u32 b;

	goroutine_of(ctx, &gk);
	call = bpf_map_lookup_elem(&rec_calls, &gk);
	if (!call)
		return 0;
	s = bpf_map_lookup_elem(&rec_stats, &call->key);
	if (s) {
		__sync_fetch_and_add(&s->ended, 1);
		if (call->flags & CS_REC_HAVE_RESULT) {
			if (call->result < CS_REC_RESULTS)
				__sync_fetch_and_add(&s->results[call->result], 1);
			if (call->result == CS_REC_ERROR && (call->flags & CS_REC_TERMINAL))
				__sync_fetch_and_add(&s->terminal, 1);
			if (call->flags & CS_REC_PANICKED)
				__sync_fetch_and_add(&s->panics, 1);
			__sync_fetch_and_add(&s->sum_ns, ns);
			b = bucket_of(ns);
			if (b <= CS_REC_BOUNDS)
				__sync_fetch_and_add(&s->buckets[b], 1);
		}
	}
	bpf_map_delete_elem(&rec_calls, &gk);
	return 0;
}

/* Once a second: the target processes alive, for user space to inspect the binaries they
 * run and to free the reconciles in flight of processes that died. */
SEC("iter/task")
int cs_rec_walk(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct cs_rec_proc rec;
	struct cs_task *ts;

	if (!task || task->exit_state || task->pid != task->tgid)
		return 0;
	ts = cs_task_state(task);
	if (!ts)
		return 0;
	rec.tgid = task->tgid;
	rec.slot = ts->slot;
	rec.start_ns = task->start_time;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
