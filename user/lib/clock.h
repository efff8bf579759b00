/* Reading a clock in seconds: the one way the agent takes the time for durations,
 * deadlines and timestamps of its own metrics. Not for the kernel's counters (they are in
 * nanoseconds and stay integers). */
#ifndef CTRLSCOPE_CLOCK_H
#define CTRLSCOPE_CLOCK_H

#include <time.h>

/* clock (CLOCK_MONOTONIC, CLOCK_REALTIME, ...) now, in seconds. */
static inline double clock_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
