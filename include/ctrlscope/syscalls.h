/* The syscalls module's maps: per (slot, syscall) counts and latency histogram, and
 * per (slot, syscall, errno) error counts. Shared by bpf/syscalls.bpf.c and user/syscalls.c. */
#ifndef CTRLSCOPE_SYSCALLS_H
#define CTRLSCOPE_SYSCALLS_H

#include "types.h"
#include "hist.h"

/* Syscall numbers at or above this are not counted (x86_64 uses < 512 natively). */
#define CS_SYSCALL_NR_MAX 1024
/* Errors are -1 .. -MAX_ERRNO (include/linux/err.h). */
#define CS_MAX_ERRNO 4095

struct cs_sys_key {
	__u32 slot;
	__u32 nr;
};

/* The count is the sum of the buckets: keeping it separately would cost a store per call. */
struct cs_sys_stats {
	__u64 sum_ns;
	__u64 buckets[CS_HIST_BUCKETS];
};

struct cs_sys_err_key {
	__u32 slot;
	__u32 nr;
	__u32 err; /* positive errno */
	__u32 pad;
};

#endif
