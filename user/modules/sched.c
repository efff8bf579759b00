/* sched module, user side: sizes the per-label-set counters, brings running threads' CPU
 * time up to date at every scrape (an iterator) and writes ctrlscope_cpu_seconds_total,
 * ctrlscope_context_switches_total and ctrlscope_runqueue_wait_seconds; the counting is in
 * bpf/sched.bpf.c. Reads the CPU throttling of the targets' cgroups (cgroup v2, or the v1
 * cpu hierarchy where the node has it) for ctrlscope_cpu_throttled_seconds_total and
 * ctrlscope_cpu_throttled_periods_total. */
#include <ctrlscope/sched.h> /* before the skeleton, which uses its types */

#include "attach.h"
#include "cgroups.h"
#include "clock.h"
#include "sched_cpustat.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "rowset.h"
#include "sched.skel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "sched"

static const struct cfg_option options[] = {
	{ 0 },
};

static const char *const required_programs[] = { "cs_sched_switch", "cs_sched_switch_nostate",
						 "cs_sched_wakeup", "cs_sched_free", NULL };

/* Where the CPU controller, and so cpu.stat's throttling, lives on this node. */
enum cpu_source {
	CPU_NONE,
	CPU_V2, /* the cgroup v2 tree: a target's cgroup by its id */
	CPU_V1, /* a v1 hierarchy: a process's cgroup from /proc/<pid>/cgroup */
};

/* A cgroup read for the last time this long ago is forgotten. */
#define THROTTLE_KEEP_S 600.0

struct state {
	struct attach_group *attach; /* this module\'s programs, for the self-metrics */
	struct sched_bpf *skel;
	const struct module_env *env; /* during open only */
	uint32_t max_slots;
	struct bpf_link *walk;	   /* owned by the attach registry */
	struct expo_bounds bounds; /* of the histograms */
	enum cpu_source cpu;
	int v2_fd; /* the cgroup2 mount, for open_by_handle_at */
	char v1_mount[PATH_MAX];
	struct throttle_table *throttle;
};

/* Up to size - 1 bytes of a small file under dirfd, NUL-terminated; -errno. */
static int read_at(int dirfd, const char *name, char *out, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	out[n] = 0;
	return 0;
}

static void find_cpu_controller(struct state *st)
{
	char mount[PATH_MAX], text[512];
	int fd;

	if (!cgroups_self_mount(mount, sizeof(mount)) &&
	    (fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (!read_at(fd, "cgroup.controllers", text, sizeof(text))) {
			for (char *save = NULL, *w = strtok_r(text, " \n", &save); w;
			     w = strtok_r(NULL, " \n", &save)) {
				if (!strcmp(w, "cpu")) {
					st->v2_fd = fd;
					st->cpu = CPU_V2;
					return;
				}
			}
		}
		close(fd);
	}
	if (!cgroups_self_mount_v1("cpu", st->v1_mount, sizeof(st->v1_mount))) {
		st->cpu = CPU_V1;
		log_info("sched: CPU throttling from the cgroup v1 cpu hierarchy at %s",
			 st->v1_mount);
		return;
	}
	log_info("sched: no cgroup hierarchy has the cpu controller: no throttling metrics");
}

/* The directory of the process's cgroup in the v1 cpu hierarchy. */
static int open_v1(const struct state *st, uint32_t tgid)
{
	char file[64], text[4096], rel[PATH_MAX], path[2 * PATH_MAX];
	int fd, err;

	snprintf(file, sizeof(file), "/proc/%u/cgroup", tgid);
	err = read_at(AT_FDCWD, file, text, sizeof(text));
	if (err)
		return err;
	if (cpustat_v1_path(text, "cpu", rel, sizeof(rel)))
		return -ENOENT;
	snprintf(path, sizeof(path), "%s%s", st->v1_mount, rel);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The throttling of the process's cgroup when it has a CPU limit: 1 and *r, *cgroup (an
 * id unique for the cgroup's life); 0 without a limit, or when the process or its cgroup
 * is gone. */
static int read_throttling(const struct state *st, const struct cs_sched_proc *p, uint64_t *cgroup,
			   struct throttling *r)
{
	char text[1024];
	struct stat sb;
	int dirfd =
		st->cpu == CPU_V2 ? cgroups_open_id(st->v2_fd, p->cgroup_id) : open_v1(st, p->tgid);
	int limited = 0;

	if (dirfd < 0)
		return 0;
	if (st->cpu == CPU_V2 && !read_at(dirfd, "cpu.max", text, sizeof(text)))
		limited = cpustat_limited_v2(text);
	else if (st->cpu == CPU_V1 && !read_at(dirfd, "cpu.cfs_quota_us", text, sizeof(text)))
		limited = cpustat_limited_v1(text);
	if (limited == 1 && !fstat(dirfd, &sb) && !read_at(dirfd, "cpu.stat", text, sizeof(text)) &&
	    !cpustat_parse(text, r))
		*cgroup = (uint64_t)sb.st_ino;
	else
		limited = 0;
	close(dirfd);
	return limited;
}

static void add_proc(const void *rec, void *ctx)
{
	struct cs_sched_proc *p = vec_push(ctx);

	if (p)
		memcpy(p, rec, sizeof(*p));
}

static int cmp_proc(const void *a, const void *b)
{
	const struct cs_sched_proc *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->cgroup_id < y->cgroup_id ? -1 : x->cgroup_id > y->cgroup_id;
}

/* Read the throttling of every (label set, cgroup) the walk found, once each. */
static void update_throttling(struct state *st, struct vec *p)
{
	struct cs_sched_proc *procs = p->items;
	double now = clock_seconds(CLOCK_MONOTONIC);

	if (p->n)
		qsort(procs, p->n, sizeof(*procs), cmp_proc);
	for (size_t i = 0; i < p->n; i++) {
		struct throttling r;
		uint64_t cgroup;

		if (i && !cmp_proc(&procs[i - 1], &procs[i]))
			continue;
		if (read_throttling(st, &procs[i], &cgroup, &r) == 1 &&
		    throttle_observe(st->throttle, procs[i].slot, cgroup, &r, now) == -ENOMEM)
			log_warn("sched: out of memory for the cgroups' throttling");
	}
	throttle_expire(st->throttle, now - THROTTLE_KEEP_S);
}

/* load_ops.open: a fresh, configured skeleton. */
static int open_skel(void *ctx, const struct load_refusals *refused,
		     struct bpf_object_skeleton **skel)
{
	struct state *st = ctx;
	unsigned int pointers;
	bool nostate;

	(void)refused;
	st->skel = sched_bpf__open_opts(st->env->open_opts);
	if (!st->skel)
		return -errno;
	bpf_map__set_max_entries(st->skel->maps.sched_stats, st->max_slots);
	bpf_program__set_autoattach(st->skel->progs.cs_sched_walk, false);
	/* sched_switch's prev_state argument: Linux 5.18. */
	nostate = load_tracepoint_args(st->env->open_opts, "sched_switch", &pointers) < 4;
	bpf_program__set_autoload(st->skel->progs.cs_sched_switch, !nostate);
	bpf_program__set_autoload(st->skel->progs.cs_sched_switch_nostate, nostate);
	*skel = st->skel->skeleton;
	return module_reuse_shared_maps(st->env, st->skel->obj);
}

static void destroy_skel(void *ctx)
{
	struct state *st = ctx;

	sched_bpf__destroy(st->skel);
	st->skel = NULL;
}

static const struct load_ops load_ops = { open_skel, destroy_skel };

static int sched_open(const struct module_env *env, void **out)
{
	struct state *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	st->attach = env->attach;
	*out = st;
	st->v2_fd = -1;
	expo_pow2_ns_bounds(&st->bounds, CS_HIST_MIN_EXP, CS_HIST_BUCKETS - 1);
	st->max_slots = env->max_slots;
	st->throttle = throttle_new(st->max_slots);
	if (!st->throttle)
		return -ENOMEM;
	find_cpu_controller(st);
	st->env = env;
	err = load_module(st->attach, &load_ops, st, required_programs);
	st->env = NULL;
	return err;
}

static int sched_attach(void *state)
{
	struct state *st = state;
	bool ok;

	attach_object(st->attach, st->skel->obj, required_programs, &ok);
	st->walk = attach_iter(st->attach, st->skel->progs.cs_sched_walk);
	/* Without the walk, running threads' CPU time would only count when they exit. */
	return ok && st->walk ? 0 : -ENOTSUP;
}

static bool empty(const struct cs_sched_stats *s)
{
	const uint64_t *v = (const uint64_t *)s;

	for (size_t k = 0; k < sizeof(*s) / 8; k++) {
		if (v[k])
			return false;
	}
	return true;
}

static int write_throttling(struct state *st, struct scrape *c)
{
	const struct slot_table *t = c->slots;
	struct label labels[SLOT_MAX_LABELS];
	struct throttling *sum = calloc(t->n ? t->n : 1, sizeof(*sum));
	bool *limited = calloc(t->n ? t->n : 1, sizeof(*limited));
	int err = sum && limited ? 0 : -ENOMEM;

	if (err)
		goto out;
	for (size_t u = 0; u < t->n; u++) {
		size_t a = t->slots[u].alias_at;
		struct throttling th;

		if (throttle_total(st->throttle, t->slots[u].slot, &th)) {
			sum[a].periods += th.periods;
			sum[a].ns += th.ns;
			limited[a] = true;
		}
	}
	expo_family(c->e, "ctrlscope_cpu_throttled_seconds_total", "counter",
		    "Time a target's cgroups were held back by their CPU limit (cpu.stat).");
	for (size_t u = 0; u < t->n; u++) {
		size_t n = limited[u] ? slot_labels_at(t, u, labels) : 0;

		if (n)
			expo_f64(c->e, labels, n, (double)sum[u].ns / 1e9);
	}
	expo_family(c->e, "ctrlscope_cpu_throttled_periods_total", "counter",
		    "Scheduling periods in which a target's cgroups used up their CPU limit.");
	for (size_t u = 0; u < t->n; u++) {
		size_t n = limited[u] ? slot_labels_at(t, u, labels) : 0;

		if (n)
			expo_u64(c->e, labels, n, sum[u].periods);
	}
out:
	free(sum);
	free(limited);
	return err;
}

static int sched_collect(void *state, struct scrape *c)
{
	struct state *st = state;
	const struct slot_table *t = c->slots;
	struct label labels[SLOT_MAX_LABELS + 1];
	struct cs_sched_stats *rows;
	struct vec procs = VEC_INIT(struct cs_sched_proc);
	int err;

	err = attach_read_iter(st->walk, sizeof(struct cs_sched_proc), add_proc, &procs);
	if (err || procs.failed)
		log_warn("sched: cannot bring running threads up to date: %s",
			 strerror(err ? -err : ENOMEM));
	else if (st->cpu != CPU_NONE)
		update_throttling(st, &procs);
	vec_free(&procs);
	/* One row per label set in use, by its position in the slot table. */
	rows = calloc(t->n ? t->n : 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	err = slots_read_array(t, bpf_map__fd(st->skel->maps.sched_stats), sizeof(*rows), 1, rows);
	if (err) {
		free(rows);
		return err;
	}
	slots_fold_aliases(rows, sizeof(*rows), t);
	expo_family(c->e, "ctrlscope_cpu_seconds_total", "counter",
		    "CPU time a target's threads ran, user and system.");
	for (size_t u = 0; u < t->n; u++) {
		size_t n = empty(&rows[u]) ? 0 : slot_labels_at(t, u, labels);

		if (n)
			expo_f64(c->e, labels, n, (double)rows[u].cpu_ns / 1e9);
	}
	expo_family(c->e, "ctrlscope_context_switches_total", "counter",
		    "Context switches of a target's threads: voluntary (it blocked) or "
		    "involuntary (it was preempted).");
	for (size_t u = 0; u < t->n; u++) {
		size_t n = empty(&rows[u]) ? 0 : slot_labels_at(t, u, labels);

		if (!n)
			continue;
		labels[n] = (struct label){ "kind", "involuntary" };
		expo_u64(c->e, labels, n + 1, rows[u].involuntary);
		labels[n] = (struct label){ "kind", "voluntary" };
		expo_u64(c->e, labels, n + 1, rows[u].voluntary);
	}
	expo_family(c->e, "ctrlscope_runqueue_wait_seconds", "histogram",
		    "Time a target's threads waited for a CPU, from wakeup or preemption to "
		    "running.");
	for (size_t u = 0; u < t->n; u++) {
		struct expo_hist h = { st->bounds.le, (const uint64_t *)rows[u].wait_buckets,
				       CS_HIST_BUCKETS, (double)rows[u].wait_sum_ns / 1e9 };
		size_t n = empty(&rows[u]) ? 0 : slot_labels_at(t, u, labels);

		if (n)
			expo_histogram(c->e, labels, n, &h);
	}
	free(rows);
	return write_throttling(st, c);
}

/* The slot's series are gone: zero its counters for the slot's next owner. */
static void sched_forget_slot(void *state, uint32_t slot)
{
	struct state *st = state;

	if (slot < st->max_slots)
		map_zero_percpu(bpf_map__fd(st->skel->maps.sched_stats), &slot,
				sizeof(struct cs_sched_stats));
	throttle_forget_slot(st->throttle, slot);
}

static void sched_close(void *state)
{
	struct state *st = state;

	if (!st)
		return;
	attach_detach(st->attach); /* destroys the iterator link too */
	sched_bpf__destroy(st->skel);
	throttle_free(st->throttle);
	if (st->v2_fd >= 0)
		close(st->v2_fd);
	free(st);
}

const struct module sched_module = {
	.name = MODULE_NAME,
	.options = options,
	.open = sched_open,
	.attach = sched_attach,
	.collect = sched_collect,
	.forget_slot = sched_forget_slot,
	.close = sched_close,
};
