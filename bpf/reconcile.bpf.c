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

__u64 stats_full;	    /* rec_stats full: a controller's reconciles were not counted */
__u64 calls_full;	    /* rec_calls full: a reconcile was not followed */
__u64 queues_full;	    /* wq_stats full: a queue's adds were not counted */
__u64 times_full;	    /* wq_times full: an item's wait or work was not timed */
__u64 retries_unattributed; /* retries outside any reconcile of a known controller */

#if defined(__TARGET_ARCH_x86)
#define GO_G(r)	 ((r)->r14)
#define GO_R0(r) ((r)->ax)
#define GO_R1(r) ((r)->bx)
#define GO_R2(r) ((r)->cx)
#define GO_R3(r) ((r)->di)
#define GO_R4(r) ((r)->si)
#define GO_R5(r) ((r)->r8)
#elif defined(__TARGET_ARCH_arm64)
#define GO_G(r)	 ((r)->regs[28])
#define GO_R0(r) ((r)->regs[0])
#define GO_R1(r) ((r)->regs[1])
#define GO_R2(r) ((r)->regs[2])
#define GO_R3(r) ((r)->regs[3])
#define GO_R4(r) ((r)->regs[4])
#define GO_R5(r) ((r)->regs[5])
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

/* Written by user space only, pinned with the rest so that a restarted agent keeps them:
 * per (label set, controller), the reconciles of processes that died with them in flight
 * (they ended there), and the queues of processes that died. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space: as rec_stats */
	__type(key, struct cs_rec_key);
	__type(value, __u64);
} rec_abandoned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space: as rec_stats */
	__type(key, struct cs_rec_key);
	__type(value, struct cs_wq_stats);
} wq_folded SEC(".maps");

/* A scratch value too big for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_rec_call);
} rec_scratch SEC(".maps");

/* Work queues, by their metrics object; user space folds a dead process's into its
 * totals. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_wq_key);
	__type(value, struct cs_wq_stats);
} wq_stats SEC(".maps");

/* Which controller a queue serves: learnt when a worker of the controller marks an item
 * done. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space: as wq_stats */
	__type(key, struct cs_wq_key);
	__type(value, struct cs_rec_key);
} wq_names SEC(".maps");

/* When an item was added and when it was taken: allocated as used (a key is 340 bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_wq_item);
	__type(value, __u64);
} wq_times SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_wq_item);
} wq_scratch SEC(".maps");

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
	struct cs_rec_call *call, *old;
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
	 * from elsewhere) is replaced: it ends here. */
	old = bpf_map_lookup_elem(&rec_calls, &gk);
	if (old && !(old->flags & CS_REC_ENDED)) {
		s = bpf_map_lookup_elem(&rec_stats, &old->key);
		if (s)
			__sync_fetch_and_add(&s->ended, 1);
	}
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
	if (!call || (call->flags & CS_REC_ENDED))
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
	if (call && !(call->flags & CS_REC_ENDED))
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
	if (!call || (call->flags & CS_REC_ENDED))
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
	/* Kept: it names the worker's controller for the queue's done and retry. */
	call->flags = CS_REC_ENDED;
	return 0;
}

/* ---- work queues ---- */

static const __u64 wq_bounds_ns[CS_WQ_BOUNDS] = {
	10,	     100,	   1000,	  10000,	  100000,	   1000000,
	10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
};

static __always_inline __u32 wq_bucket_of(__u64 ns)
{
	__u32 i;

	for (i = 0; i < CS_WQ_BOUNDS; i++) {
		if (ns <= wq_bounds_ns[i])
			break;
	}
	return i;
}

/* The item in R2-R5 (reconcile.Request: Namespace, then Name, each pointer and length)
 * as the scratch key, for queue m of the current process. NULL if it cannot be read. */
static __always_inline struct cs_wq_item *item_key(struct pt_regs *ctx, __u64 m, __u32 since)
{
	struct cs_wq_item *k;
	__u32 zero = 0, n;

	k = bpf_map_lookup_elem(&wq_scratch, &zero);
	if (!k)
		return NULL;
	__builtin_memset(k, 0, sizeof(*k));
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->since = since;
	k->m = m;
	n = GO_R3(ctx) > CS_WQ_NS_LEN ? CS_WQ_NS_LEN : GO_R3(ctx);
	barrier_var(n);
	if (n > CS_WQ_NS_LEN)
		return NULL;
	k->ns_len = n;
	if (n && bpf_probe_read_user(k->ns, n, (void *)GO_R2(ctx)))
		return NULL;
	n = GO_R5(ctx) > CS_WQ_NAME_LEN ? CS_WQ_NAME_LEN : GO_R5(ctx);
	barrier_var(n);
	if (n > CS_WQ_NAME_LEN)
		return NULL;
	k->name_len = n;
	if (n && bpf_probe_read_user(k->name, n, (void *)GO_R4(ctx)))
		return NULL;
	return k;
}

static __always_inline struct cs_wq_stats *queue_of(__u64 m, bool create)
{
	struct cs_wq_key qk = { .tgid = bpf_get_current_pid_tgid() >> 32, .m = m };
	struct cs_wq_stats *q = bpf_map_lookup_elem(&wq_stats, &qk), zero = {};
	struct cs_task *ts;

	if (q || !create)
		return q;
	ts = cs_current_task_state();
	if (!ts)
		return NULL;
	zero.slot = ts->slot;
	return cs_lookup_or_init(&wq_stats, &qk, &zero, &queues_full);
}

/* (*defaultQueueMetrics[S]).add (client-go's, or the priority queue's), past its
 * prologue: the receiver in R0 (a nil one is no queue), the dictionary in R1, the item. */
SEC("uprobe")
int cs_wq_add(struct pt_regs *ctx)
{
	__u64 m = GO_R0(ctx), now;
	struct cs_wq_stats *q = m ? queue_of(m, true) : NULL;
	struct cs_wq_item *k;
	long err;

	if (!q)
		return 0;
	__sync_fetch_and_add(&q->adds, 1);
	k = item_key(ctx, m, 0);
	if (!k)
		return 0;
	/* The first add of an item waiting counts, as the queue's own addTimes does. */
	now = bpf_ktime_get_ns();
	err = bpf_map_update_elem(&wq_times, k, &now, BPF_NOEXIST);
	if (err && err != -EEXIST)
		__sync_fetch_and_add(&times_full, 1);
	return 0;
}

/* .get: the item leaves the queue for a worker. */
SEC("uprobe")
int cs_wq_get(struct pt_regs *ctx)
{
	__u64 m = GO_R0(ctx), now = bpf_ktime_get_ns(), *added;
	struct cs_wq_stats *q = m ? queue_of(m, false) : NULL;
	struct cs_wq_item *k;
	__u32 b;

	if (!q)
		return 0;
	__sync_fetch_and_add(&q->gets, 1);
	k = item_key(ctx, m, 0);
	if (!k)
		return 0;
	added = bpf_map_lookup_elem(&wq_times, k);
	if (added) {
		__u64 ns = now - *added;

		bpf_map_delete_elem(&wq_times, k);
		__sync_fetch_and_add(&q->queue_sum_ns, ns);
		b = wq_bucket_of(ns);
		if (b <= CS_WQ_BOUNDS)
			__sync_fetch_and_add(&q->queue_buckets[b], 1);
	}
	k->since = 1;
	if (bpf_map_update_elem(&wq_times, k, &now, BPF_ANY))
		__sync_fetch_and_add(&times_full, 1);
	return 0;
}

/* .done: a worker finished the item; the worker's goroutine names the queue's
 * controller. */
SEC("uprobe")
int cs_wq_done(struct pt_regs *ctx)
{
	__u64 m = GO_R0(ctx), now = bpf_ktime_get_ns(), *taken;
	struct cs_wq_stats *q = m ? queue_of(m, false) : NULL;
	struct cs_wq_key qk = { .tgid = bpf_get_current_pid_tgid() >> 32, .m = m };
	struct cs_rec_goroutine gk;
	struct cs_rec_call *call;
	struct cs_wq_item *k;
	__u32 b;

	if (!q)
		return 0;
	if (!bpf_map_lookup_elem(&wq_names, &qk)) {
		goroutine_of(ctx, &gk);
		call = bpf_map_lookup_elem(&rec_calls, &gk);
		if (call)
			bpf_map_update_elem(&wq_names, &qk, &call->key, BPF_NOEXIST);
	}
	k = item_key(ctx, m, 1);
	if (!k)
		return 0;
	taken = bpf_map_lookup_elem(&wq_times, k);
	if (taken) {
		__u64 ns = now - *taken;

		bpf_map_delete_elem(&wq_times, k);
		__sync_fetch_and_add(&q->work_sum_ns, ns);
		b = wq_bucket_of(ns);
		if (b <= CS_WQ_BOUNDS)
			__sync_fetch_and_add(&q->work_buckets[b], 1);
	}
	return 0;
}

/* A retry of the priority queue (an add with a delay, from its own goroutine, which
 * applies the adds reconciles buffer): counted for the queue, the receiver in R0. */
SEC("uprobe")
int cs_wq_retry_queue(struct pt_regs *ctx)
{
	__u64 m = GO_R0(ctx);
	struct cs_wq_stats *q = m ? queue_of(m, true) : NULL;

	if (q)
		__sync_fetch_and_add(&q->retries, 1);
	return 0;
}

/* A retry of client-go's queue (the delaying queue's AddAfter, whose receiver is not the
 * queue's metrics): counted for the controller whose reconcile runs on this goroutine. */
SEC("uprobe")
int cs_wq_retry(struct pt_regs *ctx)
{
	struct cs_rec_goroutine gk;
	struct cs_rec_call *call;
	struct cs_rec_stats *s;

	goroutine_of(ctx, &gk);
	call = bpf_map_lookup_elem(&rec_calls, &gk);
	s = call ? bpf_map_lookup_elem(&rec_stats, &call->key) : NULL;
	if (s)
		__sync_fetch_and_add(&s->retries, 1);
	else if (cs_current_task_state())
		__sync_fetch_and_add(&retries_unattributed, 1);
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
	rec.exec_id = BPF_CORE_READ(task, self_exec_id);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
