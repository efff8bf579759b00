/* A process's /proc/<pid>/stat fields the agent uses (proc(5)): CPU time, start time and
 * resident pages. */
#ifndef CTRLSCOPE_PROCSTAT_H
#define CTRLSCOPE_PROCSTAT_H

#include <stdint.h>

struct proc_stat {
	unsigned long long utime, stime; /* clock ticks */
	unsigned long long starttime;	 /* clock ticks since boot */
	unsigned long long rss;		 /* pages */
};

/* Read /proc/<pid>/stat (pid 0: this process). 0, or -errno (-ENOENT: no such process;
 * -EIO: not the expected format). */
int proc_stat_read(uint32_t pid, struct proc_stat *out);

#endif
