/* The proc module's maps, shared by bpf/proc.bpf.c and user/modules/proc.c.
 *
 * Program starts are counted by the targets core at exec (bpf/targets.bpf.c), where the
 * new program's classification is known. Exits are counted when a target process's last
 * thread exits; OOM kills when the OOM killer marks a target's task as its victim. The
 * thread count is taken by an iterator at every scrape. */
#ifndef CTRLSCOPE_PROC_H
#define CTRLSCOPE_PROC_H

#include "types.h"

enum cs_exit_reason {
	CS_EXIT_EXITED = 1,   /* code: the exit status, 0-255 */
	CS_EXIT_SIGNALED = 2, /* code: the signal number that killed it */
};

/* Key of the proc_exits hash: one (label set, reason, code). */
struct cs_exit_key {
	__u32 slot;
	__u16 reason;
	__u16 code;
};

/* Per label set (array index = slot), per CPU. */
struct cs_proc_stats {
	__u64 oom_kills;
};

#endif
