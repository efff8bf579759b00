/* Target selection in user space: see targets.h. The kernel side (bpf/targets.bpf.c)
 * classifies tasks on exec, fork, rename and cgroup moves from the maps filled here; this
 * file evaluates process selectors, which need what only user space can read (the
 * executable path, the cgroup path), and reruns the kernel's classification for the
 * threads of a process whose verdict changed. */
#include "targets.h"
#include "attach.h"
#include "cgroups.h"
#include "log.h"
#include "mapread.h"
#include "selector.h"
#include "targets.skel.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "targets"

struct targets {
	const struct config *cfg;
	struct targets_bpf *skel;
	struct ring_buffer *rb;
	struct cgroups *cgroups;
	bool any_exe;
	bool process_selectors;
	bool whole_iterations; /* the kernel cannot iterate one process (before Linux 6.1) */
	uint32_t self;
	uint64_t lost_seen;
	atomic_ullong evaluations;
	atomic_ullong resyncs;
	atomic_ullong rescans;
	atomic_ullong map_full;
};

/* The lifecycle programs without which no target would ever be found. */
static const char *const required_programs[] = { "cs_fork", "cs_exec", "cs_exit", NULL };

static int read_exe(uint32_t tgid, char *out, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%u/exe", tgid);
	n = readlink(link, out, size - 1);
	if (n < 0)
		return -errno;
	out[n] = 0;
	return 0;
}

/* Rerun the kernel's classification for tgid's threads (all tasks when tgid is 0). */
static int resync(struct targets *t, uint32_t tgid)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info = {};
	struct bpf_link *link;
	char sink[64];
	int fd, err = 0;

	if (tgid && !t->whole_iterations) {
		info.task.pid = tgid;
		opts.link_info = &info;
		opts.link_info_len = sizeof(info);
	}
	link = bpf_program__attach_iter(t->skel->progs.cs_classify_iter, &opts);
	if (!link && tgid && !t->whole_iterations && errno == EINVAL) {
		/* Task iterator parameters arrived in Linux 6.1: walk every task instead. */
		log_info("this kernel cannot iterate the tasks of one process: "
			 "every target change walks all tasks");
		t->whole_iterations = true;
		return resync(t, 0);
	}
	if (!link)
		return -errno; /* ESRCH: the process is gone */
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		goto out_link;
	}
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	atomic_fetch_add(&t->resyncs, 1);
out_link:
	bpf_link__destroy(link);
	return err;
}

static void set_tgid(struct targets *t, uint32_t tgid, int target)
{
	int fd = bpf_map__fd(t->skel->maps.tgid_targets);
	struct cs_match want = { .target = (uint32_t)target, .key_by = CS_KEY_BY_COMM };

	if (target < 0) {
		bpf_map_delete_elem(fd, &tgid);
		return;
	}
	if (bpf_map_update_elem(fd, &tgid, &want, BPF_ANY)) {
		if (atomic_fetch_add(&t->map_full, 1) == 0)
			log_warn("cannot select process %u: the process map is full "
				 "(limits.processes = %lld)",
				 tgid, t->cfg->limits[CFG_LIMIT_PROCESSES]);
	}
}

/* Evaluate the process selectors for one process; returns whether its target changed. */
static bool evaluate(struct targets *t, uint32_t tgid, const char *comm, uint64_t cgroup_id)
{
	char exe[PATH_MAX], comm_z[CS_COMM_LEN + 1];
	struct process_facts facts = { .comm = comm_z };
	struct cs_match cur;
	bool had;
	int target;

	if (tgid == t->self || !tgid)
		return false;
	atomic_fetch_add(&t->evaluations, 1);
	snprintf(comm_z, sizeof(comm_z), "%.*s", CS_COMM_LEN, comm);
	facts.cgroup = cgroups_path(t->cgroups, cgroup_id);
	if (t->any_exe && !read_exe(tgid, exe, sizeof(exe)))
		facts.exe = exe;
	target = selector_first_target(t->cfg, &facts);
	had = !bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.tgid_targets), &tgid, &cur);
	if (target < 0 ? !had : had && cur.target == (uint32_t)target)
		return false;
	set_tgid(t, tgid, target);
	log_debug("process %u (%s): %s%s", tgid, comm_z,
		  target < 0 ? "no longer a target" : "target ",
		  target < 0 ? "" : t->cfg->targets[target].name);
	return true;
}

/* The first target whose selector is a cgroup glob alone and matches path, or -1. */
static int cgroup_target(const struct targets *t, const char *path)
{
	for (size_t i = 0; i < t->cfg->n_targets; i++) {
		const struct process_selector *sel = &t->cfg->targets[i].process;

		if (selector_is_cgroup_only(sel) && selector_cgroup_match(sel, path))
			return (int)i;
	}
	return -1;
}

static void select_cgroup(uint64_t id, const char *path, void *ctx)
{
	struct targets *t = ctx;
	int target = cgroup_target(t, path);
	struct cs_match m = { .target = (uint32_t)target, .key_by = CS_KEY_BY_COMM };
	int fd = bpf_map__fd(t->skel->maps.cgroup_targets);

	if (target < 0) {
		bpf_map_delete_elem(fd, &id);
		return;
	}
	if (bpf_map_update_elem(fd, &id, &m, BPF_ANY) && atomic_fetch_add(&t->map_full, 1) == 0)
		log_warn("cannot select cgroup %s: the cgroup map is full (limits.cgroups = %lld)",
			 path, t->cfg->limits[CFG_LIMIT_CGROUPS]);
}

static void resync_proc(uint32_t tgid, void *ctx)
{
	resync(ctx, tgid);
}

static void cgroup_created(struct targets *t, const struct cs_event *ev)
{
	char name[CS_NAME_LEN + 1];
	const char *path;

	snprintf(name, sizeof(name), "%.*s", CS_NAME_LEN, ev->name);
	path = cgroups_add(t->cgroups, ev->cgroup_id, ev->parent_id, name);
	if (!path)
		return; /* outside this agent's view of the tree */
	if (cgroup_target(t, path) < 0)
		return;
	select_cgroup(ev->cgroup_id, path, t);
	/* Processes may have moved in before this event was read. */
	cgroups_foreach_proc(t->cgroups, ev->cgroup_id, resync_proc, t);
}

static void cgroup_removed(struct targets *t, uint64_t id)
{
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.cgroup_targets), &id);
	cgroups_remove(t->cgroups, id);
}

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct cs_event *ev = data;
	struct targets *t = ctx;

	if (size < sizeof(*ev))
		return 0;
	switch (ev->type) {
	case CS_EV_EXEC:
		/* The kernel already classified the (single-threaded) new program. */
		if (t->process_selectors && evaluate(t, ev->tgid, ev->comm, ev->cgroup_id))
			resync(t, ev->tgid);
		break;
	case CS_EV_RENAME:
	case CS_EV_ATTACH:
		/* Other threads follow the leader's new comm or cgroup. */
		if (t->process_selectors)
			evaluate(t, ev->tgid, ev->comm, ev->cgroup_id);
		resync(t, ev->tgid);
		break;
	case CS_EV_MKDIR:
		cgroup_created(t, ev);
		break;
	case CS_EV_RMDIR:
		cgroup_removed(t, ev->cgroup_id);
		break;
	}
	return 0;
}

/* Evaluate every existing process, from the census iterator's records. */
static int census(struct targets *t)
{
	struct bpf_link *link = bpf_program__attach_iter(t->skel->progs.cs_census_iter, NULL);
	struct cs_census rec;
	size_t have = 0;
	ssize_t n;
	int fd, err = 0;

	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		goto out_link;
	}
	/* Records may straddle read() boundaries: collect whole records. */
	while ((n = read(fd, (char *)&rec + have, sizeof(rec) - have)) > 0) {
		have += (size_t)n;
		if (have < sizeof(rec))
			continue;
		have = 0;
		if (t->process_selectors)
			evaluate(t, rec.tgid, rec.comm, rec.cgroup_id);
	}
	if (n < 0)
		err = -errno;
	close(fd);
out_link:
	bpf_link__destroy(link);
	return err;
}

/* Evaluate everything from scratch: at start, and after lost events. */
static int full_sync(struct targets *t)
{
	int err;

	if ((err = cgroups_rescan(t->cgroups)))
		return err;
	cgroups_foreach(t->cgroups, select_cgroup, t);
	if ((err = census(t)))
		return err;
	atomic_fetch_add(&t->rescans, 1);
	return resync(t, 0);
}

int targets_open(const struct config *cfg, const struct bpf_object_open_opts *opts,
		 struct targets **out)
{
	struct targets *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->self = (uint32_t)getpid();
	for (size_t i = 0; i < cfg->n_targets; i++)
		t->any_exe |= selector_needs_exe(&cfg->targets[i].process);
	/* Every exec is evaluated, cgroup-only selectors included: the first matching target
	 * wins, and tgid_targets then lists every selected process. */
	t->process_selectors = cfg->n_targets > 0;

	err = cgroups_open(NULL, &t->cgroups);
	if (err) {
		log_error("cannot read the cgroup v2 tree (is cgroup2 mounted?): %s",
			  strerror(-err));
		goto fail;
	}
	t->skel = targets_bpf__open_opts(opts);
	if (!t->skel) {
		err = -errno;
		log_error("cannot open the targets BPF object: %s", strerror(-err));
		goto fail;
	}
	t->skel->rodata->self_tgid = t->self;
	t->skel->rodata->max_slots = (uint32_t)cfg->limits[CFG_LIMIT_LABEL_SETS];
	t->skel->rodata->exec_events = t->process_selectors;
	bpf_map__set_max_entries(t->skel->maps.label_sets,
				 (uint32_t)cfg->limits[CFG_LIMIT_LABEL_SETS]);
	bpf_map__set_max_entries(t->skel->maps.tgid_targets,
				 (uint32_t)cfg->limits[CFG_LIMIT_PROCESSES]);
	bpf_map__set_max_entries(t->skel->maps.cgroup_targets,
				 (uint32_t)cfg->limits[CFG_LIMIT_CGROUPS]);
	bpf_program__set_autoattach(t->skel->progs.cs_classify_iter, false);
	bpf_program__set_autoattach(t->skel->progs.cs_census_iter, false);
	err = targets_bpf__load(t->skel);
	if (err) {
		log_error("cannot load the targets BPF object: %s", strerror(-err));
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), handle_event, t, NULL);
	if (!t->rb) {
		err = -errno;
		log_error("cannot open the lifecycle event ring buffer: %s", strerror(-err));
		goto fail;
	}
	*out = t;
	return 0;
fail:
	targets_close(t);
	return err;
}

int targets_task_state_fd(const struct targets *t)
{
	return bpf_map__fd(t->skel->maps.task_state);
}

int targets_target_gen_fd(const struct targets *t)
{
	return bpf_map__fd(t->skel->maps.target_gen);
}

int targets_start(struct targets *t)
{
	bool required_ok;
	int err;

	attach_object(MODULE_NAME, t->skel->obj, required_programs, &required_ok);
	if (!required_ok) {
		log_error("cannot attach the process lifecycle programs: no target could be found");
		return -ENOTSUP;
	}
	err = full_sync(t);
	if (err)
		log_error("cannot evaluate the existing processes: %s", strerror(-err));
	t->lost_seen = __atomic_load_n(&t->skel->bss->events_lost, __ATOMIC_RELAXED);
	return err;
}

int targets_event_fd(const struct targets *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

int targets_handle_events(struct targets *t)
{
	uint64_t lost;
	int n = ring_buffer__consume(t->rb);

	if (n < 0)
		return n;
	lost = __atomic_load_n(&t->skel->bss->events_lost, __ATOMIC_RELAXED);
	if (lost != t->lost_seen) {
		log_warn("lifecycle events were lost (%llu in all): evaluating every process again",
			 (unsigned long long)lost);
		t->lost_seen = lost;
		return full_sync(t);
	}
	return 0;
}

void targets_close(struct targets *t)
{
	if (!t)
		return;
	attach_detach_module(MODULE_NAME);
	ring_buffer__free(t->rb);
	targets_bpf__destroy(t->skel);
	cgroups_close(t->cgroups);
	free(t);
}

struct slot_reader {
	struct slot_table *table;
	uint32_t max;
};

static void read_slot(const void *key, const void *value, void *ctx)
{
	struct slot_reader *r = ctx;
	uint32_t slot = *(const uint32_t *)value;
	struct slot_info *s;

	if (slot >= r->max)
		return;
	s = &r->table->slots[slot];
	s->valid = true;
	memcpy(&s->key, key, sizeof(s->key));
	memcpy(s->comm, s->key.comm, CS_COMM_LEN);
	s->comm[CS_COMM_LEN] = 0;
}

int targets_read_slots(const struct targets *t, struct slot_table *table)
{
	struct slot_reader r = { table, (uint32_t)t->cfg->limits[CFG_LIMIT_LABEL_SETS] };
	int n;

	table->n = r.max;
	table->slots = calloc(r.max, sizeof(*table->slots));
	if (!table->slots)
		return -ENOMEM;
	n = mapread_raw(bpf_map__fd(t->skel->maps.label_sets), sizeof(struct cs_slot_key),
			sizeof(uint32_t), read_slot, &r);
	if (n < 0) {
		slot_table_free(table);
		return n;
	}
	return 0;
}

void slot_table_free(struct slot_table *table)
{
	free(table->slots);
	table->slots = NULL;
	table->n = 0;
}

size_t slot_labels(const struct targets *t, const struct slot_table *table, uint32_t slot,
		   struct label *labels)
{
	const struct slot_info *s;

	if (slot >= table->n || !table->slots[slot].valid)
		return 0;
	s = &table->slots[slot];
	if (s->key.target >= t->cfg->n_targets)
		return 0;
	labels[0] = (struct label){ "target", t->cfg->targets[s->key.target].name };
	labels[1] = (struct label){ "comm", s->comm };
	return 2;
}

struct count_ctx {
	uint64_t per_target[CS_MAX_TARGETS];
};

static void count_match(const void *key, const void *value, void *ctx)
{
	const struct cs_match *m = value;
	struct count_ctx *c = ctx;

	(void)key;
	if (m->target < CS_MAX_TARGETS)
		c->per_target[m->target]++;
}

static void collect_per_target(const struct targets *t, struct expo *e, const char *name,
			       const char *help, int fd, size_t key_size)
{
	struct count_ctx c = {};
	struct label l = { "target", NULL };

	mapread_raw(fd, key_size, sizeof(struct cs_match), count_match, &c);
	expo_family(e, name, "gauge", help);
	for (size_t i = 0; i < t->cfg->n_targets; i++) {
		l.value = t->cfg->targets[i].name;
		expo_u64(e, &l, 1, c.per_target[i]);
	}
}

void targets_collect(const struct targets *t, struct expo *e)
{
	const struct targets_bpf__bss *bss = t->skel->bss;
	uint32_t used = __atomic_load_n(&bss->next_slot, __ATOMIC_RELAXED);
	uint32_t max = (uint32_t)t->cfg->limits[CFG_LIMIT_LABEL_SETS];

	collect_per_target(t, e, "ctrlscope_target_processes",
			   "Processes currently selected by a target.",
			   bpf_map__fd(t->skel->maps.tgid_targets), sizeof(uint32_t));
	collect_per_target(t, e, "ctrlscope_target_cgroups",
			   "cgroups currently selected as a whole by a target's cgroup selector.",
			   bpf_map__fd(t->skel->maps.cgroup_targets), sizeof(uint64_t));
	expo_family(e, "ctrlscope_label_sets", "gauge",
		    "Distinct label sets (target and comm) allocated so far.");
	expo_u64(e, NULL, 0, used < max ? used : max);
	expo_family(e, "ctrlscope_label_sets_max", "gauge",
		    "Most label sets the agent can allocate (limits.label_sets).");
	expo_u64(e, NULL, 0, max);
	expo_family(e, "ctrlscope_label_sets_exhausted_total", "counter",
		    "Processes left unmeasured because every label set was taken.");
	expo_u64(e, NULL, 0, __atomic_load_n(&bss->slots_exhausted, __ATOMIC_RELAXED));
	expo_family(e, "ctrlscope_lifecycle_events_lost_total", "counter",
		    "Process and cgroup events the kernel could not queue; each loss triggers a "
		    "full re-evaluation.");
	expo_u64(e, NULL, 0, __atomic_load_n(&bss->events_lost, __ATOMIC_RELAXED));
	expo_family(e, "ctrlscope_target_evaluations_total", "counter",
		    "Processes evaluated against the process selectors.");
	expo_u64(e, NULL, 0, atomic_load(&t->evaluations));
	expo_family(
		e, "ctrlscope_target_map_full_total", "counter",
		"Processes or cgroups left unselected because their map was full (see limits).");
	expo_u64(e, NULL, 0,
		 atomic_load(&t->map_full) + __atomic_load_n(&bss->tgid_full, __ATOMIC_RELAXED));
}
