/* Benchmark worker for `make bench`: the cost of one getppid(2) call, pinned to one CPU,
 * as the minimum over many timed batches (the minimum is the most repeatable estimate on
 * a shared machine). Prints "ready <pid>", waits for a byte on stdin, measures, prints
 * "ns_per_call <min> <median>". With --floor it first attaches an empty sys_enter/sys_exit
 * program pair (floor.bpf.c). Not a test: it never passes or fails on time. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long trials = 40, calls = 100000, cpu = -1;
	const char *name = NULL;
	struct floor_bpf *floor = NULL;
	double *per_call;
	cpu_set_t set;
	char c;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--floor"))
			floor = (struct floor_bpf *)1;
		else if (!strcmp(argv[i], "--comm") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--trials") && i + 1 < argc)
			trials = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: getppid [--floor] [--comm NAME] [--trials N] "
					"[--calls N] [--cpu N]\n");
			return 2;
		}
	}
	if (trials < 1 || calls < 1)
		return 2;
	if (name && prctl(PR_SET_NAME, name, 0, 0, 0))
		return 1;
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET((int)cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			perror("sched_setaffinity");
			return 1;
		}
	}
	if (floor) {
		floor = floor_bpf__open_and_load();
		if (!floor || floor_bpf__attach(floor)) {
			fprintf(stderr, "cannot attach the floor programs: %s\n", strerror(errno));
			return 1;
		}
	}
	per_call = calloc((size_t)trials, sizeof(*per_call));
	if (!per_call)
		return 1;
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;
	for (long t = 0; t < trials; t++) {
		double start = now_ns();

		for (long i = 0; i < calls; i++)
			syscall(SYS_getppid);
		per_call[t] = (now_ns() - start) / (double)calls;
	}
	qsort(per_call, (size_t)trials, sizeof(*per_call), cmp_double);
	printf("ns_per_call %.2f %.2f\n", per_call[0], per_call[trials / 2]);
	if (floor)
		floor_bpf__destroy(floor);
	free(per_call);
	return 0;
}
