/* The agent: see agent.h. Runs modules through their table rows and writes the
 * self-metrics; knows nothing module-specific. */
#include "agent.h"
#include "attach.h"
#include "clock.h"
#include "expo.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "procstat.h"
#include "module.h"
#include "targets.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "gen/layout.h"
#include "gen/version.h"

struct cfg_module_desc *agent_module_descs(size_t *n)
{
	struct cfg_module_desc *d = calloc(n_modules ? n_modules : 1, sizeof(*d));

	if (!d)
		return NULL;
	for (size_t i = 0; i < n_modules; i++) {
		d[i].name = modules[i]->name;
		d[i].options = modules[i]->options;
	}
	*n = n_modules;
	return d;
}

int module_reuse_shared_maps(const struct module_env *env, struct bpf_object *obj)
{
	struct bpf_map *state = bpf_object__find_map_by_name(obj, "task_state");
	struct bpf_map *gen = bpf_object__find_map_by_name(obj, "target_gen");
	int err;

	if (!state || !gen)
		return -ENOENT;
	if (env->task_state_fd < 0) {
		/* Estimating (agent_estimate): the targets core's maps are counted there. */
		bpf_map__set_autocreate(state, false);
		bpf_map__set_autocreate(gen, false);
		return kfeatures_configure(env->features, obj);
	}
	err = bpf_map__reuse_fd(state, env->task_state_fd);
	if (!err)
		err = bpf_map__reuse_fd(gen, env->target_gen_fd);
	if (!err)
		err = kfeatures_configure(env->features, obj);
	return err ? err : pin_maps(env->pin, obj);
}

bool module_adopted(const struct module_env *env)
{
	return env->pin && env->pin->adopted;
}

static struct module_env module_env_of(struct agent *a, struct agent_module *am,
				       const struct bpf_object_open_opts *opts)
{
	return (struct module_env){
		.open_opts = opts,
		.task_state_fd = targets_task_state_fd(a->targets),
		.target_gen_fd = targets_target_gen_fd(a->targets),
		.max_slots = (uint32_t)a->cfg.limits[CFG_LIMIT_LABEL_SETS],
		.options = a->cfg.modules[am - a->mods].values,
		.cfg = &a->cfg,
		.apiserver = a->apiserver,
		.classic_tracepoints = a->features.classic_tracepoints,
		.features = &a->features,
		.env = &a->env,
		.attach = am->attach,
		.pin = &am->pin,
	};
}

static int module_start(struct agent *a, struct agent_module *am)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = a->btf_path);
	struct module_env env;
	int err;

	am->attach = attach_group_new(a->attach, am->m->name);
	if (!am->attach)
		return -ENOMEM;
	am->pin = (struct pin_group){ .state = &a->pin };
	snprintf(am->pin.prefix, sizeof(am->pin.prefix), "%s", am->m->name);
	env = module_env_of(a, am, &opts);
	err = am->m->open(&env, &am->state);
	if (err && am->pin.adopted) {
		/* Pinned maps this load could not take: the module starts afresh (its
		 * counters from zero; the label sets stay the targets core's). */
		log_warn("module %s: cannot adopt its pinned maps (%s): starting afresh",
			 am->m->name, strerror(-err));
		am->m->close(am->state);
		am->state = NULL;
		pin_forget(&am->pin);
		am->pin.decided = false;
		err = am->m->open(&env, &am->state);
	}
	if (err) {
		log_error("module %s: cannot load its BPF programs: %s", am->m->name,
			  strerror(-err));
		return err;
	}
	err = am->m->attach(am->state);
	if (err) {
		log_error("module %s: cannot attach its BPF programs: %s", am->m->name,
			  strerror(-err));
		return err;
	}
	am->up = true;
	log_info("module %s: up", am->m->name);
	return 0;
}

/* Why the targets core could not load (the log has the kernel's own reason). */
static const char *core_failure(int err, char *buf, size_t size)
{
	libbpf_strerror(err, buf, size);
	return buf;
}

static int register_collectors(struct agent *a);

/* Above this, the start-up log warns: every limit at its maximum takes over a GiB. */
#define MAPS_MEMORY_WARN (256ULL << 20)

/* What the loaded maps take, said once at start-up (and ctrlscope_bpf_maps_memory_bytes). */
static void report_maps_memory(struct agent *a)
{
	size_t n = 0;

	if (maps_memory(&a->maps_bytes, &n))
		return;
	if (a->maps_bytes > MAPS_MEMORY_WARN)
		log_warn("the BPF maps take %.1f MiB (%zu maps): lower limits.* or the modules' "
			 "max_entries to take less",
			 (double)a->maps_bytes / (1 << 20), n);
	else
		log_info("the BPF maps take %.1f MiB (%zu maps)", (double)a->maps_bytes / (1 << 20),
			 n);
}

/* The pinned state directory (--bpf.pin-path), and the targets' ids of the state found
 * there: a target keeps the id its label sets were made with, whatever its place in the
 * file now. */
static int prepare_pins(struct agent *a)
{
	struct target_ref refs[CS_MAX_TARGETS];
	char err[512] = "";
	size_t n = 0;
	int ret;

	a->core_pin = (struct pin_group){ .state = &a->pin, .prefix = "targets" };
	if (!a->pin_path)
		return 0;
	ret = pin_prepare(a->pin_path, CTRLSCOPE_LAYOUT, &a->cfg, &a->features, &a->pin, err,
			  sizeof(err));
	if (ret) {
		log_error("%s", err);
		return ret;
	}
	if (!a->pin.found) {
		log_info("pinning the kernel state under %s", a->pin.dir);
		return 0;
	}
	ret = targets_pinned_names(a->pin.dir, refs, &n);
	if (!ret)
		ret = config_assign_ids(&a->cfg, refs, n, 0, err, sizeof(err));
	targets_refs_free(refs, n);
	if (ret) {
		log_error("cannot adopt the kernel state pinned at %s: %s", a->pin.dir,
			  err[0] ? err : strerror(-ret));
		return ret;
	}
	log_info("adopting the kernel state pinned at %s: counters continue", a->pin.dir);
	return 0;
}

/* The registry, with the groups of the kernel probe and of the targets core. */
static int open_attach(struct agent *a)
{
	a->attach = attach_registry_new();
	if (!a->attach)
		return -ENOMEM;
	a->core = attach_group_new(a->attach, "core");
	a->core_progs = attach_group_new(a->attach, "targets");
	return a->core && a->core_progs ? 0 : -ENOMEM;
}

int agent_start(struct agent *a)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = a->btf_path);
	struct utsname uts;
	int err;

	pthread_mutex_init(&a->lock, NULL);
	registry_init(&a->collectors);
	snprintf(a->kernel, sizeof(a->kernel), "%s", uname(&uts) ? "unknown" : uts.release);
	a->mods = calloc(n_modules ? n_modules : 1, sizeof(*a->mods));
	if (!a->mods)
		return -ENOMEM;
	a->n_mods = n_modules;
	err = open_attach(a);
	if (err)
		return err;
	err = kfeatures_probe(&opts, a->tracepoints, a->fallbacks, a->core, &a->features);
	if (err) {
		log_error("cannot probe how this kernel runs BPF programs: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n_modules; i++) {
		a->mods[i].m = modules[i];
		a->mods[i].enabled = a->cfg.modules[i].enabled;
	}
	if ((err = prepare_pins(a)))
		return err;
	err = targets_open(&a->cfg, &opts, &a->features, a->join, a->core_progs, &a->core_pin,
			   &a->targets);
	if (err && a->core_pin.adopted) {
		log_warn("cannot adopt the kernel state pinned at %s (%s): discarding it, the "
			 "counters start from zero",
			 a->pin.dir, strerror(-err));
		pin_discard(&a->pin);
		a->core_pin = (struct pin_group){ .state = &a->pin, .prefix = "targets" };
		err = targets_open(&a->cfg, &opts, &a->features, a->join, a->core_progs,
				   &a->core_pin, &a->targets);
	}
	if (err) {
		char why[128];

		/* Degrade, do not die: the endpoint still says what is wrong. */
		libbpf_strerror(err, why, sizeof(why));
		log_error("the targets core cannot load on this kernel: %s; no module can run%s",
			  why, a->strict ? "" : ", serving the agent's own metrics only");
		a->targets = NULL;
		if (a->strict)
			return err;
		return register_collectors(a);
	}
	for (size_t i = 0; i < n_modules; i++) {
		struct agent_module *am = &a->mods[i];

		if (!am->enabled) {
			log_info("module %s: disabled in the configuration", am->m->name);
			continue;
		}
		err = module_start(a, am);
		if (err && a->strict) {
			log_error("module %s failed and --strict is set: exiting", am->m->name);
			return err;
		}
	}
	/* Modules are attached first so that their hot paths see tasks from the moment
	 * the targets core seeds the task storage. */
	err = targets_start(a->targets);
	if (!err)
		report_maps_memory(a);
	return err ? err : register_collectors(a);
}

int agent_estimate(struct agent *a, const struct features *f, uint64_t *bytes)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = a->btf_path);
	struct attach_registry *reg = attach_registry_new();
	int cpus = libbpf_num_possible_cpus();
	unsigned int ncpus = cpus > 0 ? (unsigned int)cpus : 1;
	int err;

	*bytes = 0;
	if (!reg)
		return -ENOMEM;
	err = targets_estimate(&a->cfg, &opts, f, ncpus, bytes);
	load_estimate_only(bytes);
	for (size_t i = 0; !err && i < n_modules; i++) {
		struct agent_module am = { .m = modules[i] };
		struct module_env env;

		if (!a->cfg.modules[i].enabled)
			continue;
		am.attach = attach_group_new(reg, am.m->name);
		if (!am.attach) {
			err = -ENOMEM;
			break;
		}
		env = (struct module_env){ .open_opts = &opts,
					   .task_state_fd = -1,
					   .target_gen_fd = -1,
					   .max_slots =
						   (uint32_t)a->cfg.limits[CFG_LIMIT_LABEL_SETS],
					   .options = a->cfg.modules[i].values,
					   .cfg = &a->cfg,
					   .classic_tracepoints = f->classic_tracepoints,
					   .features = f,
					   .env = &a->env,
					   .attach = am.attach };
		err = am.m->open(&env, &am.state);
		if (err == -ECANCELED)
			err = 0; /* estimated, not loaded: as asked */
		am.m->close(am.state);
		attach_group_free(am.attach);
	}
	load_estimate_only(NULL);
	attach_registry_free(reg);
	return err;
}

/* One module's line of the probe: load (no attach), describe, unload. 0 when it can run. */
static int probe_module(struct agent *a, struct agent_module *am, FILE *out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = a->btf_path);
	struct module_env env;
	struct buf notes;
	int err;

	if (!am->enabled) {
		fprintf(out, "%-10s %-9s\n", am->m->name, "disabled");
		return 0;
	}
	am->attach = attach_group_new(a->attach, am->m->name);
	if (!am->attach)
		return -ENOMEM;
	env = module_env_of(a, am, &opts);
	buf_init(&notes);
	err = am->m->open(&env, &am->state);
	attach_describe(am->attach, &notes);
	fprintf(out, "%-10s %-9s %s%s%s\n", am->m->name, err ? "CANNOT" : "ok",
		err ? strerror(-err) : "", err && notes.len ? "; " : "",
		buf_cstr(&notes) ? notes.data : "");
	am->m->close(am->state);
	am->state = NULL;
	attach_group_free(am->attach);
	am->attach = NULL;
	buf_free(&notes);
	return err;
}

int agent_probe(struct agent *a, FILE *out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = a->btf_path);
	struct utsname uts;
	struct buf core;
	char why[128];
	int failed = 0, err;

	if (uname(&uts))
		snprintf(uts.release, sizeof(uts.release), "unknown");
	fprintf(out, "kernel %s (%s), BTF %s, libbpf %u.%u\n", uts.release, uts.machine,
		a->btf_path ? a->btf_path : "/sys/kernel/btf/vmlinux", libbpf_major_version(),
		libbpf_minor_version());
	a->mods = calloc(n_modules ? n_modules : 1, sizeof(*a->mods));
	if (!a->mods)
		return -ENOMEM;
	a->n_mods = n_modules;
	fprintf(out, "%-10s %-9s %s\n", "module", "state",
		"variants, and programs that do not run");
	err = open_attach(a);
	if (!err)
		err = kfeatures_probe(&opts, a->tracepoints, a->fallbacks, a->core, &a->features);
	if (!err)
		err = targets_open(&a->cfg, &opts, &a->features, NULL, a->core_progs, NULL,
				   &a->targets);
	buf_init(&core);
	if (a->core)
		attach_describe(a->core, &core);
	fprintf(out, "%-10s %-9s %s%s%s\n", "(core)", err ? "CANNOT" : "ok",
		err ? core_failure(err, why, sizeof(why)) : "", err && core.len ? "; " : "",
		buf_cstr(&core) ? core.data : "");
	buf_free(&core);
	for (size_t i = 0; !err && i < n_modules; i++) {
		a->mods[i].m = modules[i];
		a->mods[i].enabled = a->cfg.modules[i].enabled;
		if (probe_module(a, &a->mods[i], out))
			failed++;
	}
	targets_close(a->targets);
	a->targets = NULL;
	attach_registry_free(a->attach);
	a->attach = NULL;
	a->core = a->core_progs = NULL;
	return err || failed ? 1 : 0;
}

static int write_build_info(void *state, struct scrape *s)
{
	struct agent *a = state;
	struct expo *e = s->e;
	char libbpf[16];
	struct label labels[] = {
		{ "version", CTRLSCOPE_VERSION },
		{ "revision", CTRLSCOPE_REVISION },
		{ "libbpf", libbpf },
		{ "kernel", a->kernel },
	};

	snprintf(libbpf, sizeof(libbpf), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	expo_family(e, "ctrlscope_build_info", "gauge",
		    "Always 1; labels name the agent's version, libbpf and the running kernel.");
	expo_u64(e, labels, sizeof(labels) / sizeof(labels[0]), 1);
	return 0;
}

/* The label sets of this scrape, for every collector after this one. */
static int read_label_sets(void *state, struct scrape *s)
{
	struct agent *a = state;

	return targets_read_slots(a->targets, s->slots);
}

/* A module's collect, timed for ctrlscope_collect_duration_seconds (its map reads) and
 * ctrlscope_render_duration_seconds (the rest: writing its series). */
static int collect_module(void *state, struct scrape *s)
{
	struct agent_module *am = state;
	double t0 = clock_seconds(CLOCK_MONOTONIC), r0 = mapread_seconds();
	int err = am->m->collect(am->state, s);

	am->collect_seconds = mapread_seconds() - r0;
	am->render_seconds = clock_seconds(CLOCK_MONOTONIC) - t0 - am->collect_seconds;
	if (am->render_seconds < 0)
		am->render_seconds = 0;
	return err;
}

/* A gauge of each module that is up: the double at offset in its struct agent_module. */
static void module_seconds(const struct agent *a, struct expo *e, const char *name,
			   const char *help, size_t offset)
{
	struct label l = { "module", NULL };

	expo_family(e, name, "gauge", help);
	for (size_t i = 0; i < a->n_mods; i++) {
		if (!a->mods[i].up)
			continue;
		l.value = a->mods[i].m->name;
		expo_f64(e, &l, 1, *(const double *)((const char *)&a->mods[i] + offset));
	}
}

static int write_modules(void *state, struct scrape *s)
{
	struct agent *a = state;
	struct expo *e = s->e;
	struct label l = { "module", NULL };

	expo_family(e, "ctrlscope_module_up", "gauge",
		    "Whether an enabled module is loaded and attached (1) or failed (0).");
	for (size_t i = 0; i < a->n_mods; i++) {
		if (!a->mods[i].enabled)
			continue;
		l.value = a->mods[i].m->name;
		expo_u64(e, &l, 1, a->mods[i].up);
	}
	module_seconds(a, e, "ctrlscope_collect_duration_seconds",
		       "Time the last collection spent reading a module's maps.",
		       offsetof(struct agent_module, collect_seconds));
	module_seconds(a, e, "ctrlscope_render_duration_seconds",
		       "Time the last collection spent writing a module's series (the rest of "
		       "its time after reading its maps).",
		       offsetof(struct agent_module, render_seconds));
	return 0;
}

/* The fill levels the collectors before this one reported, and the core's own. */
static int write_maps(void *state, struct scrape *s)
{
	struct agent *a = state;
	struct expo *e = s->e;
	struct label l = { "map", NULL };
	const struct map_report *maps;

	if (a->targets)
		targets_report_maps(a->targets, s);
	maps = s->maps.items;
	expo_family(e, "ctrlscope_bpf_maps_memory_bytes", "gauge",
		    "Memory the kernel charges for the agent's BPF maps, as loaded at start-up.");
	expo_u64(e, NULL, 0, a->maps_bytes);
	expo_family(e, "ctrlscope_bpf_map_entries", "gauge", "Entries in a BPF map.");
	for (size_t i = 0; i < s->maps.n; i++) {
		l.value = maps[i].name;
		expo_u64(e, &l, 1, maps[i].entries);
	}
	expo_family(e, "ctrlscope_bpf_map_max_entries", "gauge", "Capacity of a BPF map.");
	for (size_t i = 0; i < s->maps.n; i++) {
		l.value = maps[i].name;
		expo_u64(e, &l, 1, maps[i].max_entries);
	}
	expo_family(e, "ctrlscope_bpf_map_full_total", "counter",
		    "Inserts a full BPF map refused: series that are not being measured.");
	for (size_t i = 0; i < s->maps.n; i++) {
		l.value = maps[i].name;
		expo_u64(e, &l, 1, maps[i].full);
	}
	return s->maps.failed ? -ENOMEM : 0;
}

static int write_targets(void *state, struct scrape *s)
{
	targets_collect(state, s->e);
	return 0;
}

static int write_programs(void *state, struct scrape *s)
{
	attach_collect(state, s->e);
	return 0;
}

/* When the system booted (Unix seconds), from /proc/stat's btime, as Prometheus client
 * libraries read it: a fixed number, where the difference of two clocks read at each
 * scrape would move the process's start time by a few microseconds every time. 0 when
 * unknown. */
static long long boot_time(void)
{
	char line[256];
	long long btime = 0;
	FILE *f = fopen("/proc/stat", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	}
	if (f)
		fclose(f);
	return btime;
}

/* The standard process metrics of Prometheus client libraries, from /proc/self. */
static int write_process(void *state, struct scrape *s)
{
	struct agent *a = state;
	struct expo *e = s->e;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct proc_stat st;
	int err = proc_stat_read(0, &st);
	double start;

	if (err)
		return err;
	if (!a->boot_time)
		a->boot_time = boot_time();
	if (!a->boot_time)
		return -EIO;
	start = (double)a->boot_time + (double)st.starttime / (double)ticks;
	expo_family(e, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.");
	expo_created(e, start);
	expo_f64(e, NULL, 0, (double)(st.utime + st.stime) / (double)ticks);
	expo_family(e, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	expo_u64(e, NULL, 0, st.rss * (unsigned long long)page);
	expo_family(e, "process_start_time_seconds", "gauge",
		    "Start time of the process since unix epoch in seconds.");
	expo_f64(e, NULL, 0, start);
	return 0;
}

static int write_config(void *state, struct scrape *s)
{
	struct agent *a = state;
	struct expo *e = s->e;
	char hex[2 * sizeof(a->cfg.sha256) + 1];
	struct label l;

	for (size_t i = 0; i < sizeof(a->cfg.sha256); i++)
		snprintf(hex + 2 * i, 3, "%02x", a->cfg.sha256[i]);
	expo_family(e, "ctrlscope_config_info", "gauge",
		    "The running configuration: the SHA-256 of its file.");
	l = (struct label){ "sha256", hex };
	expo_u64(e, &l, 1, 1);
	expo_family(e, "ctrlscope_config_loaded_timestamp_seconds", "gauge",
		    "When the running configuration was loaded: at start or by the last "
		    "successful reload.");
	expo_f64(e, NULL, 0, a->loaded_at);
	expo_family(e, "ctrlscope_config_reloads_total", "counter",
		    "Reloads of the configuration file (SIGHUP, or a change of the file), by "
		    "result; a failed one keeps the running configuration.");
	expo_created(e, a->started_at);
	l = (struct label){ "result", "success" };
	expo_u64(e, &l, 1, atomic_load(&a->reloads[0]));
	l.value = "failure";
	expo_u64(e, &l, 1, atomic_load(&a->reloads[1]));
	expo_family(e, "ctrlscope_config_last_reload_successful", "gauge",
		    "Whether the last reload succeeded (1 before any).");
	expo_u64(e, NULL, 0, atomic_load(&a->reload_ok));
	expo_family(e, "ctrlscope_config_restart_required", "gauge",
		    "1 when the file changes settings only a restart applies (limits, modules).");
	expo_u64(e, NULL, 0, atomic_load(&a->restart_required));
	return 0;
}

static int write_state(void *state, struct scrape *s)
{
	struct agent *a = state;
	struct label l = { "reason", NULL };
	static const char *const reasons[] = { "layout", "sizing", "partial", "unusable" };

	expo_family(s->e, "ctrlscope_state_adopted", "gauge",
		    "1 when the agent continued the kernel state a previous agent pinned "
		    "(--bpf.pin-path), 0 when it started afresh.");
	expo_u64(s->e, NULL, 0, a->pin.found);
	expo_family(s->e, "ctrlscope_state_discarded", "gauge",
		    "1 for the reason this agent discarded a pinned state at start: another "
		    "layout (binary), another sizing (limits, modules, kernel), a partial one, or "
		    "one its maps could not take (unusable).");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		l.value = reasons[i];
		expo_u64(s->e, &l, 1, a->pin.discarded && !strcmp(a->pin.discarded, reasons[i]));
	}
	return 0;
}

void agent_pods_changed(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	if (a->targets)
		targets_reselect(a->targets);
	pthread_mutex_unlock(&a->lock);
}

void agent_tick(struct agent *a, bool pods_synced)
{
	uint32_t *slots;
	size_t n;

	if (!a->targets)
		return; /* nothing loaded: nothing to expire or tick */
	if (!atomic_load(&a->ready) && pods_synced) {
		atomic_store(&a->ready, true);
		log_info("ready: the node's pods are listed");
	}
	/* Under the render lock: a scrape never sees a slot half reset. */
	pthread_mutex_lock(&a->lock);
	n = targets_expire(a->targets, clock_seconds(CLOCK_MONOTONIC), &slots);
	for (size_t i = 0; i < n; i++) {
		for (size_t m = 0; m < a->n_mods; m++) {
			if (a->mods[m].up && a->mods[m].m->forget_slot)
				a->mods[m].m->forget_slot(a->mods[m].state, slots[i]);
		}
	}
	targets_release_slots(a->targets, slots, n);
	targets_sweep(a->targets, clock_seconds(CLOCK_MONOTONIC));
	for (size_t m = 0; m < a->n_mods; m++) {
		if (a->mods[m].up && a->mods[m].m->tick)
			a->mods[m].m->tick(a->mods[m].state);
	}
	pthread_mutex_unlock(&a->lock);
	free(slots);
}

int agent_add_collector(struct agent *a, const char *name, collect_fn fn, void *state)
{
	return registry_add(&a->collectors, name, fn, state);
}

/* The agent's own collectors, and each module that is up, in the page's order. */
static int register_collectors(struct agent *a)
{
	int err = registry_add(&a->collectors, "build_info", write_build_info, a);

	if (!err && a->targets)
		err = registry_add(&a->collectors, "label_sets", read_label_sets, a);
	for (size_t i = 0; !err && i < a->n_mods; i++) {
		if (a->mods[i].up)
			err = registry_add(&a->collectors, a->mods[i].m->name, collect_module,
					   &a->mods[i]);
	}
	if (!err)
		err = registry_add(&a->collectors, "modules", write_modules, a);
	if (!err)
		err = registry_add(&a->collectors, "maps", write_maps, a);
	if (!err && a->targets)
		err = registry_add(&a->collectors, "targets", write_targets, a->targets);
	if (!err)
		err = registry_add(&a->collectors, "programs", write_programs, a->attach);
	if (!err)
		err = registry_add(&a->collectors, "config", write_config, a);
	if (!err && a->pin_path)
		err = registry_add(&a->collectors, "state", write_state, a);
	if (!err)
		err = registry_add(&a->collectors, "process", write_process, a);
	return err;
}

int agent_render(void *ctx, struct buf *out, enum expo_format format, double *collect_seconds)
{
	struct agent *a = ctx;
	struct slot_table slots = { 0 };
	struct expo e;
	struct scrape s = { .e = &e, .slots = &slots, .maps = VEC_INIT(struct map_report) };
	double r0 = mapread_seconds();

	expo_init_format(&e, out, format);
	pthread_mutex_lock(&a->lock);
	s.targets = a->targets;
	registry_collect(&a->collectors, &s);
	pthread_mutex_unlock(&a->lock);
	expo_finish(&e);
	*collect_seconds = mapread_seconds() - r0;
	slot_table_free(&slots);
	vec_free(&s.maps);
	return out->failed ? -ENOMEM : 0;
}

void agent_stop(struct agent *a)
{
	for (size_t i = 0; i < a->n_mods; i++) {
		if (a->mods[i].m && a->mods[i].enabled)
			a->mods[i].m->close(a->mods[i].state);
		attach_group_free(a->mods[i].attach);
	}
	free(a->mods);
	a->mods = NULL;
	a->n_mods = 0;
	targets_close(a->targets);
	a->targets = NULL;
	attach_registry_free(a->attach); /* the core's groups */
	a->attach = NULL;
	a->core = a->core_progs = NULL;
	registry_free(&a->collectors);
	pthread_mutex_destroy(&a->lock);
}
