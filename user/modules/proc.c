/* proc module, user side: program starts (counted by the targets core at exec), exits by
 * reason and code, OOM kills and the live thread count per label set:
 * ctrlscope_process_starts_total, ctrlscope_process_exits_total,
 * ctrlscope_oom_kills_total and ctrlscope_threads. The counting is in bpf/proc.bpf.c. */
#include <ctrlscope/proc.h> /* before the skeleton, which uses its types */

#include "attach.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "proc.skel.h"
#include "rowset.h"
#include "targets.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "proc"

enum { OPT_MAX_EXITS };

static const struct cfg_option options[] = {
	[OPT_MAX_EXITS] = { "max_exit_entries", 16, 1 << 20, 1024,
			    "(label set, reason, code) triples counted" },
	{ 0 },
};

static const char *const required_programs[] = { "cs_proc_exit", "cs_proc_exit_tp", NULL };

enum oom_variant { OOM_NONE, OOM_TASK, OOM_PID };

struct state {
	struct attach_group *attach; /* this module\'s programs, for the self-metrics */
	struct proc_bpf *skel;
	const struct module_env *env; /* during open only */
	enum oom_variant oom;	      /* how oom:mark_victim names the victim */
	uint32_t max_slots;
	uint32_t max_exits;
	struct bpf_link *walk; /* owned by the attach registry */
};

struct exit_row {
	struct cs_exit_key key;
	uint64_t count;
};

/* Per label set, everything but the exits. */
struct slot_row {
	uint64_t starts;
	uint64_t oom_kills;
	uint64_t threads;
};

/* Linux's signal numbers 1-31 (the same on x86 and arm64); real-time signals go by
 * number. */
static const char *const signal_names[32] = {
	NULL,	     "SIGHUP",	"SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
	"SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
	"SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
	"SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS",
};

/* How oom:mark_victim names the victim: its task (Linux 6.8 and later), else only its
 * pid, which cs_proc_oom_pid can look up where task state is keyed by thread id. */
static enum oom_variant oom_variant_of(const struct module_env *env)
{
	unsigned int pointers;
	int n = load_tracepoint_args(env->open_opts, "mark_victim", &pointers);

	if (n >= 1 && (pointers & 1))
		return OOM_TASK;
	if (n >= 1 && !env->features->task_storage)
		return OOM_PID;
	return OOM_NONE;
}

/* load_ops.open: a fresh, configured skeleton. */
static int open_skel(void *ctx, const struct load_refusals *refused,
		     struct bpf_object_skeleton **skel)
{
	struct state *st = ctx;

	(void)refused;
	st->skel = proc_bpf__open_opts(st->env->open_opts);
	if (!st->skel)
		return -errno;
	bpf_map__set_max_entries(st->skel->maps.proc_stats, st->max_slots);
	bpf_map__set_max_entries(st->skel->maps.proc_exits, st->max_exits);
	bpf_program__set_autoattach(st->skel->progs.cs_proc_walk, false);
	bpf_program__set_autoload(st->skel->progs.cs_proc_oom, st->oom == OOM_TASK);
	bpf_program__set_autoload(st->skel->progs.cs_proc_oom_pid, st->oom == OOM_PID);
	load_choose_tracepoint(st->skel->progs.cs_proc_exit, st->skel->progs.cs_proc_exit_tp,
			       st->env->classic_tracepoints);
	*skel = st->skel->skeleton;
	return module_reuse_shared_maps(st->env, st->skel->obj);
}

static void destroy_skel(void *ctx)
{
	struct state *st = ctx;

	proc_bpf__destroy(st->skel);
	st->skel = NULL;
}

static const struct load_ops load_ops = { open_skel, destroy_skel };

static int proc_open(const struct module_env *env, void **out)
{
	struct state *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	st->attach = env->attach;
	*out = st;
	st->max_slots = env->max_slots;
	st->max_exits = (uint32_t)env->options[OPT_MAX_EXITS];
	st->oom = oom_variant_of(env);
	if (st->oom == OOM_NONE)
		log_warn("proc: this kernel's oom:mark_victim does not name the victim's task: "
			 "OOM kills are not counted");
	st->env = env;
	err = load_module(st->attach, &load_ops, st, required_programs);
	st->env = NULL;
	if (err)
		return err;
	attach_feature(st->attach, "oom_kills",
		       st->oom == OOM_TASK  ? "mark_victim"
		       : st->oom == OOM_PID ? "mark_victim_pid"
					    : "none",
		       st->oom ? NULL : "oom:mark_victim has no task argument before Linux 6.8");
	return 0;
}

static int proc_attach(void *state)
{
	struct state *st = state;
	bool ok;

	attach_object(st->attach, st->skel->obj, required_programs, &ok);
	st->walk = attach_iter(st->attach, st->skel->progs.cs_proc_walk);
	return ok && st->walk ? 0 : -ENOTSUP;
}

static void add_exit(const void *key, const void *value, void *ctx)
{
	struct exit_row *row = vec_push(ctx);

	if (!row)
		return;
	memcpy(&row->key, key, sizeof(struct cs_exit_key));
	memcpy(&row->count, value, sizeof(uint64_t));
}

static int cmp_exit(const void *a, const void *b)
{
	const struct cs_exit_key *x = &((const struct exit_row *)a)->key;
	const struct cs_exit_key *y = &((const struct exit_row *)b)->key;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	if (x->reason != y->reason)
		return x->reason < y->reason ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code;
}

struct walk_ctx {
	struct slot_row *rows;
	const struct slot_table *slots;
};

static void count_thread(const void *rec, void *ctx)
{
	struct walk_ctx *w = ctx;
	uint32_t slot;
	long u;

	memcpy(&slot, rec, sizeof(slot));
	if ((u = slot_index(w->slots, slot)) >= 0)
		w->rows[u].threads++;
}

/* Everything per label set but the exits, by position in the slot table, aliased slots
 * folded into the lowest. */
static int read_slots(struct state *st, struct scrape *c, struct slot_row *rows)
{
	const struct slot_table *t = c->slots;
	struct walk_ctx w = { rows, t };
	uint64_t *vals = calloc(t->n ? t->n : 1, sizeof(*vals));
	int err;

	if (!vals)
		return -ENOMEM;
	err = targets_read_starts(c->targets, t, vals);
	for (size_t u = 0; !err && u < t->n; u++)
		rows[u].starts = vals[u];
	if (!err)
		err = slots_read_array(t, bpf_map__fd(st->skel->maps.proc_stats), sizeof(uint64_t),
				       1, vals);
	for (size_t u = 0; !err && u < t->n; u++)
		rows[u].oom_kills = vals[u];
	free(vals);
	if (!err)
		err = attach_read_iter(st->walk, sizeof(uint32_t), count_thread, &w);
	if (err)
		return err;
	slots_fold_aliases(rows, sizeof(*rows), t);
	return 0;
}

static const struct row_shape exit_shape = { sizeof(struct cs_exit_key),
					     offsetof(struct exit_row, count), cmp_exit };

static int read_exits(struct state *st, struct scrape *c, struct vec *x)
{
	int n = mapread_raw(bpf_map__fd(st->skel->maps.proc_exits), sizeof(struct cs_exit_key),
			    sizeof(uint64_t), add_exit, x);

	if (n < 0)
		return n;
	if (x->failed)
		return -ENOMEM;
	rows_merge_aliases(x, &exit_shape, c->slots);
	return 0;
}

static bool seen(const struct slot_row *r, const struct vec *x, uint32_t slot)
{
	if (r->starts || r->oom_kills || r->threads)
		return true;
	for (size_t i = 0; i < x->n; i++) {
		if (((const struct exit_row *)vec_at(x, i))->key.slot == slot)
			return true;
	}
	return false;
}

static void write_exits(struct scrape *c, const struct vec *x)
{
	struct label labels[SLOT_MAX_LABELS + 2];
	char code[16];

	expo_family(c->e, "ctrlscope_process_exits_total", "counter",
		    "Processes of a target that ended: reason=\"exited\" with code the exit "
		    "status, or reason=\"signaled\" with code the signal's name.");
	for (size_t i = 0; i < x->n; i++) {
		const struct exit_row *row = vec_at(x, i);
		const struct cs_exit_key *k = &row->key;
		size_t n = slot_labels(c->slots, k->slot, labels);

		if (!n)
			continue;
		if (k->reason == CS_EXIT_SIGNALED && k->code < 32 && signal_names[k->code])
			snprintf(code, sizeof(code), "%s", signal_names[k->code]);
		else
			snprintf(code, sizeof(code), "%u", k->code);
		labels[n] = (struct label){ "code", code };
		labels[n + 1] =
			(struct label){ "reason",
					k->reason == CS_EXIT_SIGNALED ? "signaled" : "exited" };
		expo_u64(c->e, labels, n + 2, row->count);
	}
}

static int proc_collect(void *state, struct scrape *c)
{
	struct state *st = state;
	const struct slot_table *t = c->slots;
	struct label labels[SLOT_MAX_LABELS];
	struct slot_row *rows = calloc(t->n ? t->n : 1, sizeof(*rows));
	struct vec x = VEC_INIT(struct exit_row);
	bool *show = calloc(t->n ? t->n : 1, sizeof(*show));
	int err = rows && show ? 0 : -ENOMEM;

	if (!err)
		err = read_slots(st, c, rows);
	if (!err)
		err = read_exits(st, c, &x);
	if (err)
		goto out;
	for (size_t u = 0; u < t->n; u++)
		show[u] = seen(&rows[u], &x, t->slots[u].slot) && t->slots[u].n_labels;
	expo_family(c->e, "ctrlscope_process_starts_total", "counter",
		    "Programs a target's processes started (exec).");
	for (size_t u = 0; u < t->n; u++) {
		if (show[u])
			expo_u64(c->e, labels, slot_labels_at(t, u, labels), rows[u].starts);
	}
	write_exits(c, &x);
	expo_family(c->e, "ctrlscope_oom_kills_total", "counter",
		    "Processes of a target the OOM killer chose as its victim.");
	for (size_t u = 0; u < t->n; u++) {
		if (show[u])
			expo_u64(c->e, labels, slot_labels_at(t, u, labels), rows[u].oom_kills);
	}
	expo_family(c->e, "ctrlscope_threads", "gauge", "Threads of a target alive now.");
	for (size_t u = 0; u < t->n; u++) {
		if (show[u])
			expo_u64(c->e, labels, slot_labels_at(t, u, labels), rows[u].threads);
	}
	scrape_report_map(c, "proc_exits", x.n, st->max_exits,
			  __atomic_load_n(&st->skel->bss->exits_full, __ATOMIC_RELAXED));
out:
	vec_free(&x);
	free(rows);
	free(show);
	return err;
}

/* The slot's series are gone: clear its counters for the slot's next owner. (Starts are
 * the targets core's, which clears them itself.) */
static void proc_forget_slot(void *state, uint32_t slot)
{
	struct state *st = state;

	if (slot >= st->max_slots)
		return;
	map_zero_percpu(bpf_map__fd(st->skel->maps.proc_stats), &slot,
			sizeof(struct cs_proc_stats));
	map_delete_slot_keys(bpf_map__fd(st->skel->maps.proc_exits), sizeof(struct cs_exit_key),
			     slot);
}

static void proc_close(void *state)
{
	struct state *st = state;

	if (!st)
		return;
	attach_detach(st->attach); /* destroys the iterator link too */
	proc_bpf__destroy(st->skel);
	free(st);
}

const struct module proc_module = {
	.name = MODULE_NAME,
	.options = options,
	.open = proc_open,
	.attach = proc_attach,
	.collect = proc_collect,
	.forget_slot = proc_forget_slot,
	.close = proc_close,
};
