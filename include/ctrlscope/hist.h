/* Log2 histogram buckets shared by BPF programs and user space. Bucket i counts values
 * v <= 2^(CS_HIST_MIN_EXP + i) ns: the log2 is rounded up, so a bucket's upper bound is a
 * true Prometheus `le` (rounding down, as bcc's log2l does, would put 3 ns in `le=2`).
 * Values above 2^CS_HIST_MAX_EXP ns land in the last bucket, which only `+Inf` covers. */
#ifndef CTRLSCOPE_HIST_H
#define CTRLSCOPE_HIST_H

#include "types.h"

/* 256 ns is below the cost of the cheapest traced syscall; 2^34 ns is about 17 s. */
#define CS_HIST_MIN_EXP 8
#define CS_HIST_MAX_EXP 34
#define CS_HIST_BUCKETS (CS_HIST_MAX_EXP - CS_HIST_MIN_EXP + 2)

/* ceil(log2(v)) for v >= 1, and 0 for v == 0. */
static inline __u32 cs_log2_ceil(__u64 v)
{
	if (v <= 1)
		return 0;
	return 64 - __builtin_clzll(v - 1);
}

/* Always below CS_HIST_BUCKETS; BPF callers test it anyway before indexing, because the
 * verifier loses the bound through __builtin_clzll's subtraction on older kernels. */
static inline __u32 cs_hist_bucket(__u64 v)
{
	__u32 e = cs_log2_ceil(v);

	if (e <= CS_HIST_MIN_EXP)
		return 0;
	if (e > CS_HIST_MAX_EXP)
		return CS_HIST_BUCKETS - 1;
	return e - CS_HIST_MIN_EXP;
}

#endif
