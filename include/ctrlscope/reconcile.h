/* The reconcile module's maps, shared by bpf/reconcile.bpf.c and user/modules/reconcile.c.
 *
 * Uprobes on a controller-runtime binary's own functions (docs/reconcile-probes.md): the
 * body of the shaped Controller.Reconcile (past its stack-check prologue, which a stack
 * growth re-runs), its returns, the return of the errors.Is call in reconcileHandler that
 * tells terminal errors apart, and the body of updateMetrics, which receives the
 * reconcile's duration. One goroutine runs them in that order for every reconcile; what
 * one reconcile learnt waits in rec_calls, keyed by goroutine, until updateMetrics counts
 * it. */
#ifndef CTRLSCOPE_RECONCILE_H
#define CTRLSCOPE_RECONCILE_H

#include "types.h"

/* A controller's name as the key holds it: longer names are cut (user space says so). */
#define CS_CTRL_NAME_LEN 64

/* controller-runtime's reconcile_time_seconds buckets (v0.15 and later), in milliseconds:
 * every bound is a whole number of them, so comparing the duration in nanoseconds with
 * the bound in nanoseconds puts an observation where Prometheus's client puts it. */
#define CS_REC_BOUNDS 40
#define CS_REC_BOUNDS_MS                                                                           \
	5, 10, 25, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000,      \
		1250, 1500, 1750, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000, 7000, 8000,      \
		9000, 10000, 15000, 20000, 25000, 30000, 40000, 50000, 60000

/* controller-runtime's reconcile result labels, in its own precedence. */
enum cs_rec_result {
	CS_REC_SUCCESS,
	CS_REC_ERROR,
	CS_REC_REQUEUE_AFTER,
	CS_REC_REQUEUE,
	CS_REC_RESULTS,
};

/* Key of rec_stats: one controller of one label set. */
struct cs_rec_key {
	__u32 slot;
	__u32 len; /* the name's length in the process (may exceed CS_CTRL_NAME_LEN) */
	char name[CS_CTRL_NAME_LEN];
};

/* Value of rec_stats, updated with atomic adds from every CPU. */
struct cs_rec_stats {
	__u64 results[CS_REC_RESULTS];
	__u64 terminal; /* errors that were reconcile.TerminalError (also in results) */
	__u64 panics;	/* panics recovered by controller-runtime (also errors) */
	__u64 begun;	/* reconciles that started (active workers: begun - ended) */
	__u64 ended;	/* of those, the ones whose updateMetrics ran */
	__u64 sum_ns;
	__u64 buckets[CS_REC_BOUNDS + 1]; /* per bucket; the last is above 60 s */
	__u64 retries; /* client-go's work queue's, during this controller's reconciles */
};

/* Key of rec_calls: a goroutine of a process. */
struct cs_rec_goroutine {
	__u32 tgid;
	__u32 pad;
	__u64 g; /* its runtime.g, in R14 (amd64) or R28 (arm64) in Go code */
};

/* cs_rec_call.flags */
enum {
	CS_REC_ENDED = 8, /* updateMetrics ran: the entry only names the goroutine's controller */
	CS_REC_HAVE_RESULT = 1, /* Reconcile returned */
	CS_REC_PANICKED = 2, /* through the return after runtime.deferreturn: a recovered panic */
	CS_REC_TERMINAL = 4, /* errors.Is(err, TerminalError) was true */
};

/* Value of rec_calls: a worker goroutine's reconcile in flight, or its last one (ENDED):
 * a worker serves one controller all its life, so the entry names it for the work-queue
 * probes that run on it. */
struct cs_rec_call {
	struct cs_rec_key key; /* its controller, read at Reconcile's start */
	__u32 flags;
	__u32 result; /* enum cs_rec_result */
};

/* client-go's workqueue histograms' bounds (ExponentialBuckets(10e-9, 10, 12)), in ns. */
#define CS_WQ_BOUNDS 12

/* Key of wq_stats and wq_names: a work queue's metrics object in a process. */
struct cs_wq_key {
	__u32 tgid;
	__u32 pad;
	__u64 m; /* the *defaultQueueMetrics */
};

/* Value of wq_stats: one queue of one process, updated with atomic adds. */
struct cs_wq_stats {
	__u32 slot; /* the label set of the process when the queue was first seen */
	__u32 pad;
	__u64 adds;
	__u64 gets;    /* depth: adds - gets */
	__u64 retries; /* the priority queue's (client-go's are counted by goroutine) */
	__u64 queue_sum_ns;
	__u64 work_sum_ns;
	__u64 queue_buckets[CS_WQ_BOUNDS + 1];
	__u64 work_buckets[CS_WQ_BOUNDS + 1];
};

/* Key of wq_times: an item of a queue by its content (reconcile.Request's namespace and
 * name: the queue hands equal items, not always the same strings, to add, get and done),
 * and which time it holds. */
#define CS_WQ_NS_LEN   64  /* a namespace: 63 bytes at most */
#define CS_WQ_NAME_LEN 256 /* an object's name: 253 bytes at most */
struct cs_wq_item {
	__u32 tgid;
	__u32 since; /* 0: added at, 1: taken at */
	__u64 m;
	__u32 ns_len;
	__u32 name_len;
	char ns[CS_WQ_NS_LEN];
	char name[CS_WQ_NAME_LEN];
};

/* One record of the walk of target processes (thread-group leaders). */
struct cs_rec_proc {
	__u32 tgid;
	__u32 slot;
	__u64 start_ns; /* task->start_time: tells a reused process id apart */
	__u64 exec_id;	/* task->self_exec_id: tells a later exec of the process apart */
};

#endif
