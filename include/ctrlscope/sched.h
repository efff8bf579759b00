/* The sched module's maps, shared by bpf/sched.bpf.c and user/modules/sched.c.
 *
 * On-CPU time and context switches are the kernel's own per-task counters
 * (se.sum_exec_runtime, nvcsw, nivcsw, as /proc/<pid>/sched and /proc/<pid>/status show
 * them), claimed into the task's label set when a thread exits and, for running ones, by
 * an iterator at every scrape: nothing is counted per switch. The run-queue wait is timed
 * from wakeup (or preemption) to running, per switch of a target's thread. */
#ifndef CTRLSCOPE_SCHED_H
#define CTRLSCOPE_SCHED_H

#include "types.h"
#include "hist.h"

/* Per label set (array index = slot), per CPU. */
struct cs_sched_stats {
	__u64 cpu_ns;
	__u64 voluntary;
	__u64 involuntary;
	__u64 wait_sum_ns;
	__u64 wait_buckets[CS_HIST_BUCKETS];
};

/* One record of the scrape-time walk per target process (its thread-group leader): the
 * cgroup whose CPU throttling user space reads for the label set. */
struct cs_sched_proc {
	__u32 slot;
	__u32 tgid;
	__u64 cgroup_id; /* cgroup v2 id (the hierarchy's directory inode) */
};

#endif
