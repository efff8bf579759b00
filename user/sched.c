/* sched module, user side: sizes the per-label-set counters, brings running threads' CPU
 * time up to date at every scrape (an iterator) and writes ctrlscope_cpu_seconds_total,
 * ctrlscope_context_switches_total and ctrlscope_runqueue_wait_seconds. The counting is in
 * bpf/sched.bpf.c. */
#include <ctrlscope/sched.h> /* before the skeleton, which uses its types */

#include "attach.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "sched.skel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "sched"

static const struct cfg_option options[] = {
	{ 0 },
};

static const char *const required_programs[] = { "cs_sched_switch", "cs_sched_wakeup", NULL };

struct state {
	struct sched_bpf *skel;
	uint32_t max_slots;
	struct bpf_link *walk;	   /* owned by the attach registry */
	struct expo_bounds bounds; /* of the histograms */
};

static int sched_open(const struct module_env *env, void **out)
{
	struct state *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	*out = st;
	expo_pow2_ns_bounds(&st->bounds, CS_HIST_MIN_EXP, CS_HIST_BUCKETS - 1);
	st->max_slots = env->max_slots;
	st->skel = sched_bpf__open_opts(env->open_opts);
	if (!st->skel)
		return -errno;
	bpf_map__set_max_entries(st->skel->maps.sched_stats, st->max_slots);
	bpf_program__set_autoattach(st->skel->progs.cs_sched_walk, false);
	err = bpf_map__reuse_fd(st->skel->maps.task_state, env->task_state_fd);
	if (!err)
		err = bpf_map__reuse_fd(st->skel->maps.target_gen, env->target_gen_fd);
	if (err)
		return err;
	return sched_bpf__load(st->skel);
}

static int sched_attach(void *state)
{
	struct state *st = state;
	bool ok;

	attach_object(MODULE_NAME, st->skel->obj, required_programs, &ok);
	st->walk = attach_iter(MODULE_NAME, st->skel->progs.cs_sched_walk);
	/* Without the walk, running threads' CPU time would only count when they exit. */
	return ok && st->walk ? 0 : -ENOTSUP;
}

static void add(struct cs_sched_stats *dst, const struct cs_sched_stats *src)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *s = (const uint64_t *)src;

	for (size_t k = 0; k < sizeof(*dst) / 8; k++)
		d[k] += s[k];
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

static void sched_collect(void *state, struct collector *c)
{
	struct state *st = state;
	struct label labels[SLOT_MAX_LABELS + 1];
	struct cs_sched_stats *rows;
	int err;

	err = attach_run_iter(st->walk);
	if (err)
		log_warn("sched: cannot bring running threads up to date: %s", strerror(-err));
	rows = calloc(st->max_slots, sizeof(*rows));
	if (!rows) {
		c->failed = true;
		return;
	}
	err = mapread_array(bpf_map__fd(st->skel->maps.sched_stats), 0, st->max_slots,
			    sizeof(*rows), 1, rows);
	if (err) {
		log_warn("sched: cannot read the maps: %s", strerror(-err));
		c->failed = true;
		free(rows);
		return;
	}
	/* Slots with the same labels become one series: fold them into the lowest. */
	for (uint32_t s = 0; s < st->max_slots; s++) {
		uint32_t a = slot_alias(c->slots, s);

		if (a != s && a < st->max_slots) {
			add(&rows[a], &rows[s]);
			memset(&rows[s], 0, sizeof(rows[s]));
		}
	}
	expo_family(c->e, "ctrlscope_cpu_seconds_total", "counter",
		    "CPU time a target's threads ran, user and system.");
	for (uint32_t s = 0; s < st->max_slots; s++) {
		size_t n = empty(&rows[s]) ? 0 : slot_labels(c->slots, s, labels);

		if (n)
			expo_f64(c->e, labels, n, (double)rows[s].cpu_ns / 1e9);
	}
	expo_family(c->e, "ctrlscope_context_switches_total", "counter",
		    "Context switches of a target's threads: voluntary (it blocked) or "
		    "involuntary (it was preempted).");
	for (uint32_t s = 0; s < st->max_slots; s++) {
		size_t n = empty(&rows[s]) ? 0 : slot_labels(c->slots, s, labels);

		if (!n)
			continue;
		labels[n] = (struct label){ "kind", "involuntary" };
		expo_u64(c->e, labels, n + 1, rows[s].involuntary);
		labels[n] = (struct label){ "kind", "voluntary" };
		expo_u64(c->e, labels, n + 1, rows[s].voluntary);
	}
	expo_family(c->e, "ctrlscope_runqueue_wait_seconds", "histogram",
		    "Time a target's threads waited for a CPU, from wakeup or preemption to "
		    "running.");
	for (uint32_t s = 0; s < st->max_slots; s++) {
		struct expo_hist h = { st->bounds.le, (const uint64_t *)rows[s].wait_buckets,
				       CS_HIST_BUCKETS, (double)rows[s].wait_sum_ns / 1e9 };
		size_t n = empty(&rows[s]) ? 0 : slot_labels(c->slots, s, labels);

		if (n)
			expo_histogram(c->e, labels, n, &h);
	}
	free(rows);
}

/* The slot's series are gone: zero its counters for the slot's next owner. */
static void sched_forget_slot(void *state, uint32_t slot)
{
	struct state *st = state;

	if (slot < st->max_slots)
		map_zero_percpu(bpf_map__fd(st->skel->maps.sched_stats), &slot,
				sizeof(struct cs_sched_stats));
}

static void sched_close(void *state)
{
	struct state *st = state;

	if (!st)
		return;
	attach_detach_module(MODULE_NAME); /* destroys the iterator link too */
	sched_bpf__destroy(st->skel);
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
