/* The syscalls module's maps, shared by bpf/syscalls.bpf.c and user/modules/syscalls.c.
 *
 * Counts and latency histograms live in rows of a per-CPU array; sys_rows maps
 * (slot, syscall) to a row, allocated on first use. Two array lookups (both inlined by
 * the verifier) cost a fraction of one hash lookup. Errors, rarer, are counted per
 * (slot, syscall, errno) in a per-CPU hash. */
#ifndef CTRLSCOPE_SYSCALLS_H
#define CTRLSCOPE_SYSCALLS_H

#include "types.h"
#include "hist.h"

/* Syscall numbers at or above this are not counted: x86_64 numbers its native syscalls
 * below 512 (x32 calls carry bit 30 and are not counted). */
#define CS_SYSCALL_NR_MAX 512
/* Errors are -1 .. -MAX_ERRNO (include/linux/err.h). */
#define CS_MAX_ERRNO 4095

/* sys_rows holds two row numbers per element: array elements take 8 bytes anyway. */
struct cs_sys_rows {
	__u32 row[2]; /* 0: no row yet */
};

/* Index into sys_rows and half of the element for (slot, nr). */
#define CS_SYS_ROW_INDEX(slot, nr) (((slot) * CS_SYSCALL_NR_MAX + (nr)) >> 1)
#define CS_SYS_ROW_HALF(nr)	   ((nr) & 1)

/* What a row counts; written once when the row is allocated. */
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
