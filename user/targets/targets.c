/* Target selection in user space: see targets.h. The kernel side (bpf/targets.bpf.c)
 * classifies tasks on exec, fork, rename and cgroup moves from the maps filled here; this
 * file evaluates process selectors, which need what only user space can read (the
 * executable path, the cgroup path), and reruns the kernel's classification for the
 * threads of a process whose verdict changed. */
#include "targets.h"
#include "attach.h"
#include "cgroups.h"
#include "kfeatures.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "pin.h"
#include "podjoin.h"
#include "procstat.h"
#include "selector.h"
#include "targets.skel.h"
#include "vec.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct targets {
	const struct config *cfg;
	struct targets_bpf *skel;
	struct attach_group *attach; /* the core's programs, for the self-metrics */
	struct ring_buffer *rb;
	struct cgroups *cgroups;
	struct podjoin *join; /* the agent's, with Kubernetes targets; else NULL */
	bool any_exe;
	bool process_selectors;
	bool whole_iterations; /* the kernel cannot iterate one process (before Linux 6.1) */
	uint32_t self;
	uint64_t lost_seen;
	atomic_ullong evaluations;
	atomic_ullong rescans;
	atomic_ullong map_full;
	bool task_hash; /* task_state is a hash map keyed by thread id */
	/* targets_sweep: task_state entries of threads found gone at the last sweep, and when
	 * that was. */
	struct vec gone;
	double swept_at;
	/* release_idle: the use census's epoch, when each slot was last seen held by a task
	 * (0: not observed yet), slots whose label set was released while a task took the
	 * slot (orphans, released once no task holds them), and releases made. */
	uint64_t epoch;
	double *used_at;
	struct vec orphans;
	double idle_checked_at;
	atomic_ullong released;
	/* cgroups created while the agent runs and not selected yet: a container's cgroup
	 * usually gets selected only after its program started (the pod's status names the
	 * container after that), so its start is counted when it is selected. */
	uint64_t *new_cgroups;
	size_t n_new_cgroups;
};

/* Record which id each target has (target_names), for an agent that adopts this state:
 * every current target, and the removed ones whose label sets remain. */
static void write_target_names(struct targets *t)
{
	int fd = bpf_map__fd(t->skel->maps.target_names);
	uint64_t in_use = targets_ids_in_use(t);

	for (uint32_t id = 0; id < CS_MAX_TARGETS; id++) {
		const struct target_config *tc = config_target(t->cfg, id);
		struct cs_target_name v = { 0 };

		if (!tc && (in_use & (1ULL << id)))
			continue; /* a removed target's, while its label sets stay */
		if (tc) {
			snprintf(v.name, sizeof(v.name), "%s", tc->name);
			v.kind = tc->kind;
			v.used = 1;
		}
		bpf_map_update_elem(fd, &id, &v, BPF_ANY);
	}
}

int targets_pinned_names(const char *dir, struct target_ref *refs, size_t *n)
{
	char path[4200];
	int fd;

	*n = 0;
	snprintf(path, sizeof(path), "%s/targets_target_names", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	for (uint32_t id = 0; id < CS_MAX_TARGETS; id++) {
		struct cs_target_name v;

		if (bpf_map_lookup_elem(fd, &id, &v) || !v.used)
			continue;
		v.name[sizeof(v.name) - 1] = 0;
		refs[*n] = (struct target_ref){ strdup(v.name), (enum target_kind)v.kind, id };
		if (!refs[*n].name) {
			close(fd);
			targets_refs_free(refs, *n);
			*n = 0;
			return -ENOMEM;
		}
		(*n)++;
	}
	close(fd);
	return 0;
}

void targets_refs_free(struct target_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)refs[i].name);
}

/* Room in comm_targets for names a reload adds (about 60 bytes each). */
#define COMM_TARGETS_MAX 1024

/* At most this many unselected new cgroups are remembered (oldest forgotten first). */
#define NEW_CGROUPS_MAX 4096

/* The lifecycle programs without which no target would ever be found. */
static const char *const required_programs[] = {
	"cs_fork", "cs_exec", "cs_exit", "cs_fork_wakeup", "cs_exec_tp", "cs_exit_tp", NULL
};

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

/* Run a task iterator program over tgid's threads (all tasks when tgid is 0, or when the
 * kernel cannot iterate one process). */
static int run_task_iter(struct targets *t, struct bpf_program *prog, uint32_t tgid)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info = {};
	struct bpf_link *link;
	int err;

	if (tgid && !t->whole_iterations) {
		info.task.pid = tgid;
		opts.link_info = &info;
		opts.link_info_len = sizeof(info);
	}
	link = bpf_program__attach_iter(prog, &opts);
	if (!link && tgid && !t->whole_iterations && (errno == EINVAL || errno == E2BIG)) {
		/* Task iterator parameters arrived in Linux 6.1 (before 5.11 the kernel
		 * refuses any unknown attribute with E2BIG): walk every task instead. */
		log_info("this kernel cannot iterate the tasks of one process: "
			 "every target change walks all tasks");
		t->whole_iterations = true;
		return run_task_iter(t, prog, 0);
	}
	if (!link)
		return -errno; /* ESRCH: the process is gone */
	err = attach_run_iter(link);
	bpf_link__destroy(link);
	return err;
}

/* Rerun the kernel's classification for tgid's threads (all tasks when tgid is 0). */
static int resync(struct targets *t, uint32_t tgid)
{
	return run_task_iter(t, t->skel->progs.cs_classify_iter, tgid);
}

/* Only user space's decision made process tgid a target after its program started:
 * count that start, unless the kernel counted it at the exec (cs_start_iter). */
static void count_start(struct targets *t, uint32_t tgid)
{
	t->skel->bss->start_tgid = tgid;
	run_task_iter(t, t->skel->progs.cs_start_iter, tgid);
	t->skel->bss->start_tgid = 0;
}

/* When process tgid started, in clock ticks since boot; 0 when it is gone. */
static uint64_t proc_start_ticks(uint32_t tgid)
{
	struct proc_stat st;

	return proc_stat_read(tgid, &st) ? 0 : st.starttime;
}

/* Select process tgid for the target at position target of the file, or unselect it (-1). */
static void set_tgid(struct targets *t, uint32_t tgid, int target)
{
	int fd = bpf_map__fd(t->skel->maps.tgid_targets);
	struct cs_match want = { .key_by = CS_KEY_BY_COMM };

	if (target < 0) {
		bpf_map_delete_elem(fd, &tgid);
		return;
	}
	want.target = t->cfg->targets[target].id;
	want.order = (uint32_t)target;
	/* A process gone since its event is not selected; one that exits from now on leaves
	 * an entry its start time keeps to itself, until targets_sweep. */
	want.start = proc_start_ticks(tgid);
	if (!want.start)
		return;
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
	if (target < 0 ? !had
		       : had && cur.target == t->cfg->targets[target].id &&
				 cur.order == (uint32_t)target)
		return false;
	set_tgid(t, tgid, target);
	log_debug("process %u (%s): %s%s", tgid, comm_z,
		  target < 0 ? "no longer a target" : "target ",
		  target < 0 ? "" : t->cfg->targets[target].name);
	return true;
}

/* The first Kubernetes target (config order) whose selector matches the container: its
 * id, which the join records with the container. */
static int choose_kube_target(const struct pod *pod, const char *container, void *ctx)
{
	const struct targets *t = ctx;

	for (size_t i = 0; i < t->cfg->n_targets; i++) {
		const struct target_config *tc = &t->cfg->targets[i];

		if (tc->kind == TARGET_KUBERNETES &&
		    kube_selector_match(&tc->kubernetes, pod, container))
			return (int)tc->id;
	}
	return -1;
}

/* The target a whole cgroup belongs to, in config order: a process selector that is a
 * cgroup glob alone, or a Kubernetes selector matching the container the cgroup runs. */
static bool cgroup_decide(struct targets *t, const char *path, struct cs_match *m)
{
	uint32_t kube_target = UINT32_MAX;
	uint64_t container = 0;

	if (!t->join ||
	    !podjoin_decide(t->join, path, choose_kube_target, t, &kube_target, &container))
		kube_target = UINT32_MAX;
	for (size_t i = 0; i < t->cfg->n_targets; i++) {
		const struct target_config *tc = &t->cfg->targets[i];

		if (tc->kind == TARGET_KUBERNETES && tc->id == kube_target) {
			*m = (struct cs_match){ .target = tc->id,
						.key_by = CS_KEY_BY_CONTAINER,
						.container = container,
						.order = (uint32_t)i };
			return true;
		}
		if (tc->kind == TARGET_PROCESS && selector_is_cgroup_only(&tc->process) &&
		    selector_cgroup_match(&tc->process, path)) {
			*m = (struct cs_match){ .target = tc->id,
						.key_by = CS_KEY_BY_COMM,
						.order = (uint32_t)i };
			return true;
		}
	}
	return false;
}

static void resync_proc(uint32_t tgid, void *ctx);

/* Whether id is a cgroup created while the agent runs and not selected yet; forgets it. */
static bool take_new_cgroup(struct targets *t, uint64_t id)
{
	for (size_t i = 0; i < t->n_new_cgroups; i++) {
		if (t->new_cgroups[i] == id) {
			memmove(&t->new_cgroups[i], &t->new_cgroups[i + 1],
				(t->n_new_cgroups - i - 1) * sizeof(*t->new_cgroups));
			t->n_new_cgroups--;
			return true;
		}
	}
	return false;
}

static void remember_new_cgroup(struct targets *t, uint64_t id)
{
	if (!t->new_cgroups)
		t->new_cgroups = calloc(NEW_CGROUPS_MAX, sizeof(*t->new_cgroups));
	if (!t->new_cgroups)
		return;
	if (t->n_new_cgroups == NEW_CGROUPS_MAX)
		take_new_cgroup(t, t->new_cgroups[0]);
	t->new_cgroups[t->n_new_cgroups++] = id;
}

/* A new cgroup's process, selected after its program started: classify, count its
 * start. */
static void resync_started_proc(uint32_t tgid, void *ctx)
{
	struct targets *t = ctx;

	if (!resync(t, tgid))
		count_start(t, tgid);
}

/* Put the cgroup's verdict in the kernel's map; a newly selected cgroup's processes are
 * reclassified (they may have started before). */
static void select_cgroup(uint64_t id, const char *path, void *ctx)
{
	struct targets *t = ctx;
	int fd = bpf_map__fd(t->skel->maps.cgroup_targets);
	struct cs_match want, cur;
	bool had = !bpf_map_lookup_elem(fd, &id, &cur);

	if (!cgroup_decide(t, path, &want)) {
		if (had) {
			bpf_map_delete_elem(fd, &id);
			cgroups_foreach_proc(t->cgroups, id, resync_proc, t);
		}
		return;
	}
	if (had && !memcmp(&cur, &want, sizeof(cur)))
		return;
	if (bpf_map_update_elem(fd, &id, &want, BPF_ANY)) {
		if (atomic_fetch_add(&t->map_full, 1) == 0)
			log_warn("cannot select cgroup %s: the cgroup map is full "
				 "(limits.cgroups = %lld)",
				 path, t->cfg->limits[CFG_LIMIT_CGROUPS]);
		return;
	}
	if (want.key_by == CS_KEY_BY_CONTAINER)
		log_debug("cgroup %s: container of target %s", path,
			  t->cfg->targets[want.order].name);
	cgroups_foreach_proc(t->cgroups, id,
			     !had && take_new_cgroup(t, id) ? resync_started_proc : resync_proc, t);
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
	/* Processes may have moved in before this event was read: select_cgroup
	 * reclassifies them (and counts their starts). */
	remember_new_cgroup(t, ev->cgroup_id);
	select_cgroup(ev->cgroup_id, path, t);
}

static void cgroup_removed(struct targets *t, uint64_t id)
{
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.cgroup_targets), &id);
	take_new_cgroup(t, id);
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
		if (t->process_selectors && evaluate(t, ev->tgid, ev->comm, ev->cgroup_id) &&
		    !resync(t, ev->tgid))
			count_start(t, ev->tgid);
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

static void census_record(const void *data, void *ctx)
{
	const struct cs_census *rec = data;
	struct targets *t = ctx;

	if (t->process_selectors)
		evaluate(t, rec->tgid, rec->comm, rec->cgroup_id);
}

/* Evaluate every existing process, from the census iterator's records. */
static int census(struct targets *t)
{
	struct bpf_link *link = bpf_program__attach_iter(t->skel->progs.cs_census_iter, NULL);
	int err;

	if (!link)
		return -errno;
	err = attach_read_iter(link, sizeof(struct cs_census), census_record, t);
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

/* The process names the kernel can decide alone (comm_targets): those of selectors of
 * only `comm`, up to the first selector whose decision needs user space (an exe glob, or
 * comm with a cgroup glob), which could take a process from a later target. Selectors of
 * cgroups alone and Kubernetes targets are known to the kernel by cgroup, which it weighs
 * in the config's order. fn (may be NULL) sees each (name, target) in order; returns the
 * count. */
static size_t kernel_comms(const struct config *cfg,
			   void (*fn)(const char *comm, uint32_t order, void *ctx), void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct process_selector *sel = &cfg->targets[i].process;

		if (cfg->targets[i].kind != TARGET_PROCESS || selector_is_cgroup_only(sel))
			continue;
		if (sel->exe.n || sel->cgroup.n)
			break;
		for (size_t k = 0; k < sel->comm.n; k++, n++) {
			if (fn)
				fn(sel->comm.items[k], (uint32_t)i, ctx);
		}
	}
	return n;
}

struct comm_fill {
	struct targets *t;
	struct vec done; /* of struct cs_comm_key: names written */
};

static bool comm_listed(const struct vec *names, const struct cs_comm_key *key)
{
	for (size_t i = 0; i < names->n; i++) {
		if (!memcmp(vec_at(names, i), key, sizeof(*key)))
			return true;
	}
	return false;
}

static void add_kernel_comm(const char *comm, uint32_t order, void *ctx)
{
	struct comm_fill *f = ctx;
	struct cs_comm_key key = { 0 }, *done;
	struct cs_match m = { .target = f->t->cfg->targets[order].id,
			      .key_by = CS_KEY_BY_COMM,
			      .order = order };

	strncpy(key.comm, comm, sizeof(key.comm) - 1);
	/* A name listed by two targets belongs to the first. One past the map's room (after
	 * a reload) is decided in user space like any other. */
	if (comm_listed(&f->done, &key))
		return;
	done = vec_push(&f->done);
	if (done)
		*done = key;
	bpf_map_update_elem(bpf_map__fd(f->t->skel->maps.comm_targets), &key, &m, BPF_ANY);
}

static void list_kernel_comm(const char *comm, uint32_t order, void *ctx)
{
	struct cs_comm_key key = { 0 }, *slot;

	(void)order;
	strncpy(key.comm, comm, sizeof(key.comm) - 1);
	slot = vec_push(ctx);
	if (slot)
		*slot = key;
}

/* Make comm_targets hold the names the kernel decides: names no longer listed go first,
 * then each name is written in place, so that a name listed before and after a reload
 * never goes missing in between. */
static void fill_kernel_comms(struct targets *t)
{
	int fd = bpf_map__fd(t->skel->maps.comm_targets);
	struct comm_fill f = { .t = t, .done = VEC_INIT(struct cs_comm_key) };
	struct vec wanted = VEC_INIT(struct cs_comm_key), stale = VEC_INIT(struct cs_comm_key);
	struct cs_comm_key key, next, *prev = NULL, *s;

	kernel_comms(t->cfg, list_kernel_comm, &wanted);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!comm_listed(&wanted, &key) && (s = vec_push(&stale)))
			*s = key;
	}
	for (size_t i = 0; i < stale.n; i++)
		bpf_map_delete_elem(fd, vec_at(&stale, i));
	kernel_comms(t->cfg, add_kernel_comm, &f);
	vec_free(&f.done);
	vec_free(&wanted);
	vec_free(&stale);
}

/* Size the maps from the limits, and choose the task state's map for this kernel. */
static void size_maps(struct targets_bpf *skel, const struct config *cfg,
		      const struct features *features)
{
	uint32_t label_sets = (uint32_t)cfg->limits[CFG_LIMIT_LABEL_SETS];
	size_t comms = kernel_comms(cfg, NULL, NULL);

	bpf_map__set_max_entries(skel->maps.label_sets, label_sets);
	bpf_map__set_max_entries(skel->maps.tgid_targets,
				 (uint32_t)cfg->limits[CFG_LIMIT_PROCESSES]);
	bpf_map__set_max_entries(skel->maps.cgroup_targets,
				 (uint32_t)cfg->limits[CFG_LIMIT_CGROUPS]);
	bpf_map__set_max_entries(skel->maps.comm_targets,
				 (uint32_t)(comms > COMM_TARGETS_MAX ? comms : COMM_TARGETS_MAX));
	bpf_map__set_max_entries(skel->maps.free_slots, label_sets);
	bpf_map__set_max_entries(skel->maps.starts, label_sets);
	bpf_map__set_max_entries(skel->maps.slot_seen, label_sets);
	bpf_map__set_max_entries(skel->maps.slot_tickets, label_sets);
	if (!features->task_storage) {
		/* A hash map keyed by thread id, preallocated: allocating in tracing
		 * programs is unsafe on these kernels. */
		bpf_map__set_type(skel->maps.task_state, BPF_MAP_TYPE_HASH);
		bpf_map__set_map_flags(skel->maps.task_state, 0);
		bpf_map__set_max_entries(skel->maps.task_state,
					 (uint32_t)cfg->limits[CFG_LIMIT_THREADS]);
	}
	bpf_program__set_autoload(skel->progs.cs_task_free, !features->task_storage);
}

int targets_estimate(const struct config *cfg, const struct bpf_object_open_opts *opts,
		     const struct features *features, unsigned int ncpus, uint64_t *bytes)
{
	struct targets_bpf *skel = targets_bpf__open_opts(opts);

	if (!skel)
		return -errno;
	size_maps(skel, cfg, features);
	*bytes += load_estimate_maps(skel->obj, ncpus);
	targets_bpf__destroy(skel);
	return 0;
}

int targets_open(const struct config *cfg, const struct bpf_object_open_opts *opts,
		 const struct features *features, struct podjoin *join, struct attach_group *attach,
		 struct pin_group *pin, struct targets **out)
{
	bool classic = features->classic_tracepoints;
	struct targets *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->attach = attach;
	t->join = join;
	t->orphans = VEC_INIT(uint32_t);
	t->used_at = calloc((size_t)cfg->limits[CFG_LIMIT_LABEL_SETS], sizeof(*t->used_at));
	if (!t->used_at) {
		err = -ENOMEM;
		goto fail;
	}
	if (cfg->kubernetes_targets && !join) {
		log_error("Kubernetes targets need the API server (--kubeconfig, or in-cluster) "
			  "and the node's name in $NODE_NAME");
		err = -EINVAL;
		goto fail;
	}
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
	t->skel->rodata->ns_per_tick = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);
	t->skel->rodata->exec_events = t->process_selectors;
	size_maps(t->skel, cfg, features);
	t->task_hash = !features->task_storage;
	err = kfeatures_configure(features, t->skel->obj);
	if (err) {
		log_error("cannot configure the targets BPF object: %s", strerror(-err));
		goto fail;
	}
	if ((err = pin_maps(pin, t->skel->obj))) {
		log_error("cannot pin the targets core's maps: %s", strerror(-err));
		goto fail;
	}
	bpf_program__set_autoattach(t->skel->progs.cs_classify_iter, false);
	bpf_program__set_autoattach(t->skel->progs.cs_census_iter, false);
	bpf_program__set_autoattach(t->skel->progs.cs_start_iter, false);
	bpf_program__set_autoattach(t->skel->progs.cs_seen_iter, false);
	load_choose_tracepoint(t->skel->progs.cs_fork, t->skel->progs.cs_fork_wakeup, classic);
	load_choose_tracepoint(t->skel->progs.cs_exec, t->skel->progs.cs_exec_tp, classic);
	load_choose_tracepoint(t->skel->progs.cs_exit, t->skel->progs.cs_exit_tp, classic);
	err = targets_bpf__load(t->skel);
	if (err) {
		log_error("cannot load the targets BPF object: %s", strerror(-err));
		goto fail;
	}
	/* Adopted maps hold the label sets, and the slots never used yet, already. */
	if ((!pin || !pin->adopted) &&
	    (err = load_fill_tickets(bpf_map__fd(t->skel->maps.slot_tickets), 0,
				     (uint32_t)cfg->limits[CFG_LIMIT_LABEL_SETS]))) {
		log_error("cannot fill the label set queue: %s", strerror(-err));
		goto fail;
	}
	write_target_names(t);
	fill_kernel_comms(t);
	/* Adopted slot stamps carry the epochs of the agent that made them. */
	t->epoch = t->skel->bss->slot_epoch;
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

	attach_object(t->attach, t->skel->obj, required_programs, &required_ok);
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
	attach_detach(t->attach);
	ring_buffer__free(t->rb);
	targets_bpf__destroy(t->skel);
	cgroups_close(t->cgroups);
	free(t->new_cgroups);
	vec_free(&t->gone);
	vec_free(&t->orphans);
	free(t->used_at);
	free(t);
}

static void note_id(const void *key, const void *value, void *ctx)
{
	const struct cs_slot_key *k = key;

	(void)value;
	if (k->target < CS_MAX_TARGETS)
		*(uint64_t *)ctx |= 1ULL << k->target;
}

uint64_t targets_ids_in_use(const struct targets *t)
{
	uint64_t ids = 0;

	mapread_raw(bpf_map__fd(t->skel->maps.label_sets), sizeof(struct cs_slot_key),
		    sizeof(uint32_t), note_id, &ids);
	return ids;
}

int targets_reconfigure(struct targets *t)
{
	write_target_names(t);
	t->any_exe = false;
	for (size_t i = 0; i < t->cfg->n_targets; i++)
		t->any_exe |= selector_needs_exe(&t->cfg->targets[i].process);
	t->process_selectors = t->cfg->n_targets > 0;
	fill_kernel_comms(t);
	/* Every cgroup and process decided again, every task classified again. */
	return full_sync(t);
}

void targets_reselect(struct targets *t)
{
	/* A pod came, went or changed: every cgroup's verdict may have changed with it. */
	cgroups_foreach(t->cgroups, select_cgroup, t);
}

struct expiry {
	struct targets *t;
	struct vec slots; /* of uint32_t */
};

static void forget_container(uint32_t target, uint64_t id, void *ctx)
{
	struct cs_slot_key key = { .target = target,
				   .key_by = CS_KEY_BY_CONTAINER,
				   .container = id };
	struct expiry *x = ctx;
	int fd = bpf_map__fd(x->t->skel->maps.label_sets);
	uint32_t slot, *freed;

	if (bpf_map_lookup_elem(fd, &key, &slot))
		return; /* never measured */
	bpf_map_delete_elem(fd, &key);
	freed = vec_push(&x->slots);
	if (freed) /* else the slot is lost for reuse, nothing worse */
		*freed = slot;
}

/* A new epoch: from now on, a task given a slot stamps it with it. */
static void new_epoch(struct targets *t)
{
	__atomic_store_n(&t->skel->bss->slot_epoch, ++t->epoch, __ATOMIC_SEQ_CST);
}

/* The use census: stamps every slot a live task holds with the current epoch. */
static int census_of_use(struct targets *t)
{
	return run_task_iter(t, t->skel->progs.cs_seen_iter, 0);
}

/* Whether slot was stamped with epoch since or later. */
static bool seen_since(const struct targets *t, uint32_t slot, uint64_t epoch)
{
	uint64_t seen;

	return !bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.slot_seen), &slot, &seen) &&
	       seen >= epoch;
}

struct idle_set {
	struct cs_slot_key key;
	uint32_t slot;
};

struct idle_scan {
	struct targets *t;
	double now, grace;
	uint64_t since;	 /* the previous look's epoch: a stamp since means used meanwhile */
	struct vec idle; /* of struct idle_set */
};

static void consider_idle(const void *key, const void *value, void *ctx)
{
	const struct cs_slot_key *k = key;
	uint32_t slot = *(const uint32_t *)value;
	struct idle_scan *x = ctx;
	double *used_at = &x->t->used_at[slot];
	struct idle_set *set;

	/* Containers' label sets go with their pods (targets_expire), unless a reload
	 * removed their target. */
	if ((k->key_by != CS_KEY_BY_COMM && config_target(x->t->cfg, k->target)) ||
	    slot >= x->t->cfg->limits[CFG_LIMIT_LABEL_SETS])
		return;
	if (seen_since(x->t, slot, x->since) || !*used_at) {
		*used_at = x->now;
		return;
	}
	if (x->now - *used_at < x->grace)
		return;
	set = vec_push(&x->idle);
	if (set)
		*set = (struct idle_set){ .key = *k, .slot = slot };
}

static void slot_released(struct targets *t, struct vec *slots, uint32_t slot)
{
	uint32_t *s = vec_push(slots);

	t->used_at[slot] = 0;
	if (s) { /* else the slot is lost for reuse, nothing worse */
		*s = slot;
		atomic_fetch_add(&t->released, 1);
	}
}

/* Seconds between looks for idle label sets, at most: a look runs the use census, an
 * iteration over every task of the node. */
#define IDLE_CHECK_MAX_S 10.0

/* Release the label sets of process targets that no task held for label_set_grace. Every
 * slot given to a task is stamped with the epoch current then (bpf/targets.bpf.c), and
 * each look's census stamps the slots live tasks hold: a slot stamped since the previous
 * look was in use meanwhile. An idle label set is deleted after a new epoch begins, then
 * the census runs again: a task that was given the slot from then on (it looked the label
 * set up just before the deletion) shows, and the label set is put back (or, when another
 * task has made it anew meanwhile, its slot is kept out of use until no task holds it: its
 * counts are missing then, never added to another label set). */
static void release_idle(struct targets *t, double now, struct vec *slots)
{
	int fd = bpf_map__fd(t->skel->maps.label_sets);
	struct idle_scan x = { .t = t,
			       .now = now,
			       .grace = (double)t->cfg->label_set_grace_ms / 1000.0,
			       .idle = VEC_INIT(struct idle_set) };
	double period = x.grace / 2 < IDLE_CHECK_MAX_S ? x.grace / 2 : IDLE_CHECK_MAX_S;
	size_t kept = 0;

	if (now - t->idle_checked_at < period)
		return;
	t->idle_checked_at = now;
	x.since = t->epoch;
	new_epoch(t);
	if (census_of_use(t))
		return;
	for (size_t i = 0; i < t->orphans.n;) {
		uint32_t slot = *(uint32_t *)vec_at(&t->orphans, i);

		if (seen_since(t, slot, x.since)) {
			i++;
			continue;
		}
		slot_released(t, slots, slot);
		*(uint32_t *)vec_at(&t->orphans, i) =
			*(uint32_t *)vec_at(&t->orphans, t->orphans.n - 1);
		t->orphans.n--;
	}
	mapread_raw(fd, sizeof(struct cs_slot_key), sizeof(uint32_t), consider_idle, &x);
	if (!x.idle.n)
		goto out;
	new_epoch(t);
	for (size_t i = 0; i < x.idle.n; i++)
		bpf_map_delete_elem(fd, &((struct idle_set *)vec_at(&x.idle, i))->key);
	if (census_of_use(t)) {
		/* Cannot tell whether a task took one: put them all back. */
		for (size_t i = 0; i < x.idle.n; i++) {
			struct idle_set *set = vec_at(&x.idle, i);

			bpf_map_update_elem(fd, &set->key, &set->slot, BPF_NOEXIST);
		}
		goto out;
	}
	for (size_t i = 0; i < x.idle.n; i++) {
		struct idle_set *set = vec_at(&x.idle, i);
		uint32_t *orphan;

		if (!seen_since(t, set->slot, t->epoch)) {
			slot_released(t, slots, set->slot);
			continue;
		}
		kept++;
		t->used_at[set->slot] = now;
		if (!bpf_map_update_elem(fd, &set->key, &set->slot, BPF_NOEXIST))
			continue;
		orphan = vec_push(&t->orphans);
		if (orphan)
			*orphan = set->slot;
	}
	log_debug("released %zu label sets of process targets idle for label_set_grace "
		  "(%zu taken again meanwhile)",
		  x.idle.n - kept, kept);
out:
	vec_free(&x.idle);
}

size_t targets_expire(struct targets *t, double now, uint32_t **slots)
{
	struct expiry x = { .t = t, .slots = VEC_INIT(uint32_t) };

	*slots = NULL;
	if (t->join) {
		size_t before = x.slots.n;

		podjoin_expire(t->join, now, (double)t->cfg->deleted_pod_grace_ms / 1000.0,
			       forget_container, &x);
		atomic_fetch_add(&t->released, x.slots.n - before);
	}
	release_idle(t, now, &x.slots);
	*slots = x.slots.items; /* the caller frees it */
	return x.slots.n;
}

void targets_release_slots(struct targets *t, const uint32_t *slots, size_t n)
{
	int fd = bpf_map__fd(t->skel->maps.free_slots);
	uint32_t max = (uint32_t)t->cfg->limits[CFG_LIMIT_LABEL_SETS];

	for (size_t i = 0; i < n; i++) {
		if (slots[i] < max)
			map_zero_percpu(bpf_map__fd(t->skel->maps.starts), &slots[i],
					sizeof(uint64_t));
		bpf_map_update_elem(fd, NULL, &slots[i], BPF_ANY);
	}
}

int targets_read_starts(const struct targets *t, const struct slot_table *slots, uint64_t *out)
{
	return slots_read_array(slots, bpf_map__fd(t->skel->maps.starts), sizeof(uint64_t), 1, out);
}

int targets_read_slots(const struct targets *t, struct slot_table *table)
{
	return slots_read(bpf_map__fd(t->skel->maps.label_sets),
			  (uint32_t)t->cfg->limits[CFG_LIMIT_LABEL_SETS], t->cfg,
			  t->join ? podjoin_labels : NULL, t->join, table);
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
		expo_u64(e, &l, 1, c.per_target[t->cfg->targets[i].id]);
	}
}

/* An entry of task_state whose thread was gone at a sweep. */
struct gone_task {
	int32_t tid;
	uint64_t start_ns;
};

/* Seconds between sweeps: an entry is deleted at the second sweep that finds its thread
 * gone, long after any pending free of the thread (an RCU callback, delayed by at most a
 * few seconds even where callbacks are lazy) would have deleted it. */
#define SWEEP_INTERVAL_S 10.0

static bool was_gone(const struct vec *gone, int32_t tid, uint64_t start_ns)
{
	for (size_t i = 0; i < gone->n; i++) {
		const struct gone_task *g = vec_at(gone, i);

		if (g->tid == tid && g->start_ns == start_ns)
			return true;
	}
	return false;
}

static bool thread_exists(int32_t tid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", tid);
	return access(path, F_OK) == 0 || errno != ENOENT;
}

/* Delete the entries of selected processes that are gone: one that exited while user
 * space selected it leaves an entry that its start time keeps from any later process. */
static void sweep_tgids(struct targets *t)
{
	int fd = bpf_map__fd(t->skel->maps.tgid_targets);
	uint32_t key, next, *prev = NULL;
	struct vec gone = VEC_INIT(uint32_t);

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct cs_match m;
		uint32_t *g;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &m) || !m.start ||
		    proc_start_ticks(key) == m.start)
			continue;
		g = vec_push(&gone);
		if (g)
			*g = key;
	}
	/* Deleted after the walk: deleting during it would restart the iteration. */
	for (size_t i = 0; i < gone.n; i++) {
		struct cs_match m;
		uint32_t tgid = *(uint32_t *)vec_at(&gone, i);

		/* Still the same stale entry (the process may have been selected again). */
		if (!bpf_map_lookup_elem(fd, &tgid, &m) && m.start &&
		    proc_start_ticks(tgid) != m.start)
			bpf_map_delete_elem(fd, &tgid);
	}
	if (gone.n)
		log_debug("tgid_targets: deleted %zu entries of processes that are gone", gone.n);
	vec_free(&gone);
}

/* Where task_state is keyed by thread id, the kernel's report of a task's free (which
 * deletes its entry) can be missed; delete the entries of threads gone since the last
 * sweep. The entry is compared with what the last sweep saw: a thread id reused since
 * then carries another start time. */
void targets_sweep(struct targets *t, double now)
{
	struct vec gone = VEC_INIT(struct gone_task);
	int fd = bpf_map__fd(t->skel->maps.task_state);
	int32_t key, next, *prev = NULL;
	size_t deleted = 0;

	if (now - t->swept_at < SWEEP_INTERVAL_S)
		return;
	t->swept_at = now;
	sweep_tgids(t);
	if (!t->task_hash)
		return;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct cs_task state;
		struct gone_task *g;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &state) || thread_exists(key))
			continue;
		if (!was_gone(&t->gone, key, state.start_ns)) {
			g = vec_push(&gone);
			if (g)
				*g = (struct gone_task){ .tid = key, .start_ns = state.start_ns };
		} else if (!bpf_map_delete_elem(fd, &key)) {
			__atomic_fetch_sub(&t->skel->bss->task_states, 1, __ATOMIC_RELAXED);
			deleted++;
		}
	}
	vec_free(&t->gone);
	t->gone = gone;
	if (deleted)
		log_debug("task_state: deleted %zu entries of threads whose free the kernel did "
			  "not report",
			  deleted);
}

void targets_report_maps(const struct targets *t, struct scrape *c)
{
	int64_t n = __atomic_load_n(&t->skel->bss->task_states, __ATOMIC_RELAXED);

	if (!t->task_hash)
		return;
	scrape_report_map(c, "task_state", n > 0 ? (uint64_t)n : 0,
			  (uint64_t)t->cfg->limits[CFG_LIMIT_THREADS],
			  __atomic_load_n(&t->skel->bss->threads_full, __ATOMIC_RELAXED));
}

static void count_one(const void *key, const void *value, void *ctx)
{
	(void)key;
	(void)value;
	(*(uint64_t *)ctx)++;
}

static uint64_t count_label_sets(const struct targets *t)
{
	uint64_t n = 0;

	mapread_raw(bpf_map__fd(t->skel->maps.label_sets), sizeof(struct cs_slot_key),
		    sizeof(uint32_t), count_one, &n);
	return n;
}

void targets_collect(const struct targets *t, struct expo *e)
{
	const struct targets_bpf__bss *bss = t->skel->bss;
	uint32_t max = (uint32_t)t->cfg->limits[CFG_LIMIT_LABEL_SETS];

	collect_per_target(t, e, "ctrlscope_target_processes",
			   "Processes currently selected by a target.",
			   bpf_map__fd(t->skel->maps.tgid_targets), sizeof(uint32_t));
	collect_per_target(t, e, "ctrlscope_target_cgroups",
			   "cgroups currently selected as a whole by a target's cgroup selector.",
			   bpf_map__fd(t->skel->maps.cgroup_targets), sizeof(uint64_t));
	expo_family(e, "ctrlscope_label_sets", "gauge",
		    "Label sets (target and comm, or target and container) in use.");
	expo_u64(e, NULL, 0, count_label_sets(t));
	expo_family(e, "ctrlscope_label_sets_max", "gauge",
		    "Most label sets the agent can allocate (limits.label_sets).");
	expo_u64(e, NULL, 0, max);
	expo_family(e, "ctrlscope_label_sets_released_total", "counter",
		    "Label sets released for reuse: a deleted pod's after "
		    "kubernetes.deleted_pod_grace, a process target's held by no process for "
		    "label_set_grace.");
	expo_u64(e, NULL, 0, atomic_load(&t->released));
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
