/* /proc/<pid>/stat: see procstat.h. */
#include "procstat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int proc_stat_read(uint32_t pid, struct proc_stat *out)
{
	char path[64], line[1024], *p;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	/* Fields after the command (which may hold anything, ')' included): state(3) ...
	 * utime(14) stime(15) ... starttime(22) vsize(23) rss(24). */
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
			 "%*d %*d %*d %*d %llu %*u %llu",
			 &out->utime, &out->stime, &out->starttime, &out->rss) != 4)
		return -EIO;
	return 0;
}
