/* CPU throttling of cgroups, for the sched module: parsing cpu.stat and the CPU limit
 * files of cgroup v2 and v1 and the lines of /proc/<pid>/cgroup; and folding the counters
 * of cgroups that come and go into per-label-set totals that only grow. */
#ifndef CTRLSCOPE_CPUSTAT_H
#define CTRLSCOPE_CPUSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct throttling {
	uint64_t periods; /* nr_throttled: CFS periods in which the cgroup hit its quota */
	uint64_t ns;	  /* time its threads were held back */
};

/* cpu.stat text: v2's nr_throttled and throttled_usec, or v1's nr_throttled and
 * throttled_time (ns). -ENOENT when the counters are absent (no CPU controller), -EINVAL
 * for a malformed number. */
int cpustat_parse(const char *text, struct throttling *out);
/* Whether a CPU limit is set: v2 cpu.max ("max <period>" or "<quota> <period>"),
 * v1 cpu.cfs_quota_us ("-1" or the quota). 1, 0, or -EINVAL. */
int cpustat_limited_v2(const char *cpu_max);
int cpustat_limited_v1(const char *cfs_quota_us);
/* The path, in /proc/<pid>/cgroup text, of the v1 hierarchy that lists controller;
 * -ENOENT when none does, -ENAMETOOLONG when it does not fit. */
int cpustat_v1_path(const char *text, const char *controller, char *out, size_t size);

struct throttle_table;

struct throttle_table *throttle_new(uint32_t max_slots);
void throttle_free(struct throttle_table *t);
/* A reading of cgroup (an id unique for the cgroup's life) for label set slot, at time
 * now: what grew since the last reading is added to the slot's totals. A cgroup read for
 * the first time adds all it has counted since it was created; counters that went back
 * (a recycled inode) count from zero. */
int throttle_observe(struct throttle_table *t, uint32_t slot, uint64_t cgroup,
		     const struct throttling *r, double now);
/* Forget cgroups not read since before cutoff (gone, or no longer a target's). */
void throttle_expire(struct throttle_table *t, double cutoff);
/* The slot's label set was dropped. */
void throttle_forget_slot(struct throttle_table *t, uint32_t slot);
/* The slot's totals; false when no cgroup with a CPU limit was ever read for it. */
bool throttle_total(const struct throttle_table *t, uint32_t slot, struct throttling *out);

#endif
