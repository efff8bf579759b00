/* Benchmark worker for `make bench`: the cost of a context switch, as a pipe ping-pong
 * between two processes pinned to one CPU (each round trip is two switches and two
 * wakeups), the minimum over many timed batches. Prints "ready <pid> <child pid>", waits
 * for a byte on stdin, measures, prints "ns_per_switch <min> <median> [floor_bpf_ns <ns>]
 * switches <n>". With --floor it first attaches empty sched_switch and sched_wakeup
 * programs (schedfloor.bpf.c) and reports the time they ran (kernel.bpf_stats_enabled).
 * Not a test: it never passes or fails on time. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "schedfloor.skel.h"

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

/* The child: answers every byte until the pipe closes. */
static void echo(int in, int out, const char *name)
{
	char c;

	/* Its own rename: the agent evaluates each process by its own event. */
	if (name)
		prctl(PR_SET_NAME, name, 0, 0, 0);
	while (read(in, &c, 1) == 1) {
		if (write(out, &c, 1) != 1)
			break;
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	long trials = 30, trips = 20000, cpu = 0;
	const char *name = NULL;
	struct schedfloor_bpf *floor = NULL;
	int ping[2], pong[2], status;
	double *per_switch;
	cpu_set_t set;
	pid_t child;
	char c = 'x';

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--floor"))
			floor = (struct schedfloor_bpf *)1;
		else if (!strcmp(argv[i], "--comm") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--trials") && i + 1 < argc)
			trials = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--trips") && i + 1 < argc)
			trips = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: pingpong [--floor] [--comm NAME] [--trials N] "
					"[--trips N] [--cpu N]\n");
			return 2;
		}
	}
	if (trials < 1 || trips < 1)
		return 2;
	if (name && prctl(PR_SET_NAME, name, 0, 0, 0))
		return 1;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return 1;
	}
	if (floor) {
		floor = schedfloor_bpf__open_and_load();
		if (!floor || schedfloor_bpf__attach(floor)) {
			fprintf(stderr, "cannot attach the floor programs: %s\n", strerror(errno));
			return 1;
		}
	}
	if (pipe(ping) || pipe(pong))
		return 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(ping[1]);
		close(pong[0]);
		echo(ping[0], pong[1], name);
	}
	close(ping[0]);
	close(pong[1]);
	per_switch = calloc((size_t)trials, sizeof(*per_switch));
	if (!per_switch)
		return 1;
	printf("ready %d %d\n", getpid(), child);
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;
	for (long t = 0; t < trials; t++) {
		double start = now_ns();

		for (long i = 0; i < trips; i++) {
			if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
				kill(child, SIGKILL);
				return 1;
			}
		}
		per_switch[t] = (now_ns() - start) / (double)(2 * trips);
	}
	close(ping[1]);
	waitpid(child, &status, 0);
	qsort(per_switch, (size_t)trials, sizeof(*per_switch), cmp_double);
	printf("ns_per_switch %.2f %.2f", per_switch[0], per_switch[trials / 2]);
	if (floor) {
		/* Time the floor programs ran (kernel.bpf_stats_enabled=1), and the switches
		 * measured, for the CPU-time comparison with the agent's programs. */
		struct bpf_program *prog;
		unsigned long long bpf_ns = 0;

		bpf_object__for_each_program(prog, floor->obj)
		{
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);

			if (!bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				bpf_ns += info.run_time_ns;
		}
		printf(" floor_bpf_ns %llu", bpf_ns);
		schedfloor_bpf__destroy(floor);
	}
	printf(" switches %ld\n", 2 * trials * trips);
	free(per_switch);
	return 0;
}
