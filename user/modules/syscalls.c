/* syscalls module, user side: sizes the maps, reads them per scrape and writes
 * ctrlscope_syscalls_total, ctrlscope_syscall_errors_total and
 * ctrlscope_syscall_duration_seconds. The counting is in bpf/syscalls.bpf.c. */
#include "attach.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "syscalls_names.h"
#include "rowset.h"
#include "syscalls.skel.h"

#include <ctrlscope/syscalls.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "syscalls"

enum { OPT_MAX_ENTRIES, OPT_MAX_ERROR_ENTRIES };

static const struct cfg_option options[] = {
	[OPT_MAX_ENTRIES] = { "max_entries", 16, 1 << 20, 1024,
			      "(label set, syscall) pairs measured" },
	[OPT_MAX_ERROR_ENTRIES] = { "max_error_entries", 16, 1 << 20, 4096,
				    "(label set, syscall, errno) triples counted" },
	{ 0 },
};

/* One of each pair is loaded (load_choose_tracepoint). */
static const char *const required_programs[] = { "cs_sys_enter", "cs_sys_exit", "cs_sys_enter_tp",
						 "cs_sys_exit_tp", NULL };

struct state {
	struct attach_group *attach; /* this module\'s programs, for the self-metrics */
	struct syscalls_bpf *skel;
	const struct module_env *env; /* during open only */
	uint32_t max_entries;
	uint32_t max_error_entries;
	struct expo_bounds bounds; /* of the histograms */
};

struct stat_row {
	struct cs_sys_key key;
	struct cs_sys_stats stats;
};

struct err_row {
	struct cs_sys_err_key key;
	uint64_t count;
};

static void add_error(const void *key, const uint64_t *sum, void *ctx)
{
	struct err_row *row = vec_push(ctx);

	if (!row)
		return;
	memcpy(&row->key, key, sizeof(row->key));
	row->count = sum[0];
}

static int cmp_stat(const void *a, const void *b)
{
	const struct cs_sys_key *x = &((const struct stat_row *)a)->key;
	const struct cs_sys_key *y = &((const struct stat_row *)b)->key;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

static int cmp_error(const void *a, const void *b)
{
	const struct cs_sys_err_key *x = &((const struct err_row *)a)->key;
	const struct cs_sys_err_key *y = &((const struct err_row *)b)->key;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	if (x->nr != y->nr)
		return x->nr < y->nr ? -1 : 1;
	return x->err < y->err ? -1 : x->err > y->err;
}

static const struct row_shape stat_shape = { sizeof(struct cs_sys_key),
					     offsetof(struct stat_row, stats), cmp_stat };
static const struct row_shape error_shape = { sizeof(struct cs_sys_err_key),
					      offsetof(struct err_row, count), cmp_error };

/* load_ops.open: a fresh, configured skeleton. */
static int open_skel(void *ctx, const struct load_refusals *refused,
		     struct bpf_object_skeleton **skel)
{
	struct state *st = ctx;

	(void)refused;
	st->skel = syscalls_bpf__open_opts(st->env->open_opts);
	if (!st->skel)
		return -errno;
	/* Row 0 means "no row": one more than the rows asked for. */
	bpf_map__set_max_entries(st->skel->maps.sys_stats, st->max_entries + 1);
	bpf_map__set_max_entries(st->skel->maps.sys_row_keys, st->max_entries + 1);
	bpf_map__set_max_entries(st->skel->maps.sys_rows,
				 (st->env->max_slots * CS_SYSCALL_NR_MAX + 1) / 2);
	bpf_map__set_max_entries(st->skel->maps.sys_errors, st->max_error_entries);
	bpf_map__set_max_entries(st->skel->maps.sys_row_tickets, st->max_entries + 1);
	bpf_map__set_max_entries(st->skel->maps.sys_row_owners, st->max_entries + 1);
	load_choose_tracepoint(st->skel->progs.cs_sys_enter, st->skel->progs.cs_sys_enter_tp,
			       st->env->classic_tracepoints);
	load_choose_tracepoint(st->skel->progs.cs_sys_exit, st->skel->progs.cs_sys_exit_tp,
			       st->env->classic_tracepoints);
	*skel = st->skel->skeleton;
	return module_reuse_shared_maps(st->env, st->skel->obj);
}

static void destroy_skel(void *ctx)
{
	struct state *st = ctx;

	syscalls_bpf__destroy(st->skel);
	st->skel = NULL;
}

static const struct load_ops load_ops = { open_skel, destroy_skel };

static int syscalls_open(const struct module_env *env, void **out)
{
	struct state *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	st->attach = env->attach;
	*out = st;
	expo_pow2_ns_bounds(&st->bounds, CS_HIST_MIN_EXP, CS_HIST_BUCKETS - 1);
	st->max_entries = (uint32_t)env->options[OPT_MAX_ENTRIES];
	st->max_error_entries = (uint32_t)env->options[OPT_MAX_ERROR_ENTRIES];
	st->env = env;
	err = load_module(st->attach, &load_ops, st, required_programs);
	st->env = NULL;
	if (err || module_adopted(env))
		return err; /* adopted: the rows not handed out yet are in the queue */
	/* Rows 1 to max_entries, handed out in order. */
	return load_fill_tickets(bpf_map__fd(st->skel->maps.sys_row_tickets), 1,
				 st->max_entries + 1);
}

static int syscalls_attach(void *state)
{
	struct state *st = state;
	bool ok;

	attach_object(st->attach, st->skel->obj, required_programs, &ok);
	return ok ? 0 : -ENOTSUP;
}

static void write_counts(struct scrape *c, const struct vec *stats)
{
	struct label labels[SLOT_MAX_LABELS + 1];
	char buf[32];

	expo_family(c->e, "ctrlscope_syscalls_total", "counter",
		    "System calls completed by a target's processes.");
	for (size_t i = 0; i < stats->n; i++) {
		const struct stat_row *row = (const struct stat_row *)stats->items + i;
		size_t n = slot_labels(c->slots, row->key.slot, labels);
		uint64_t count = 0;

		if (!n)
			continue;
		for (int b = 0; b < CS_HIST_BUCKETS; b++)
			count += row->stats.buckets[b];
		labels[n++] =
			(struct label){ "syscall", syscall_name(row->key.nr, buf, sizeof(buf)) };
		expo_u64(c->e, labels, n, count);
	}
}

static void write_durations(struct scrape *c, const struct state *st, const struct vec *stats)
{
	struct label labels[SLOT_MAX_LABELS + 1];
	char buf[32];

	expo_family(c->e, "ctrlscope_syscall_duration_seconds", "histogram",
		    "Time from entry to exit of a target's system calls.");
	for (size_t i = 0; i < stats->n; i++) {
		const struct stat_row *row = (const struct stat_row *)stats->items + i;
		struct expo_hist h = { st->bounds.le, (const uint64_t *)row->stats.buckets,
				       CS_HIST_BUCKETS, (double)row->stats.sum_ns / 1e9 };
		size_t n = slot_labels(c->slots, row->key.slot, labels);

		if (!n)
			continue;
		labels[n++] =
			(struct label){ "syscall", syscall_name(row->key.nr, buf, sizeof(buf)) };
		expo_histogram(c->e, labels, n, &h);
	}
}

static void write_errors(struct scrape *c, const struct vec *errors)
{
	struct label labels[SLOT_MAX_LABELS + 2];
	char sbuf[32], ebuf[32];

	expo_family(c->e, "ctrlscope_syscall_errors_total", "counter",
		    "System calls of a target's processes that returned an error, by errno.");
	for (size_t i = 0; i < errors->n; i++) {
		const struct err_row *row = (const struct err_row *)errors->items + i;
		size_t n = slot_labels(c->slots, row->key.slot, labels);

		if (!n)
			continue;
		labels[n++] =
			(struct label){ "syscall", syscall_name(row->key.nr, sbuf, sizeof(sbuf)) };
		labels[n++] =
			(struct label){ "errno", errno_name(row->key.err, ebuf, sizeof(ebuf)) };
		expo_u64(c->e, labels, n, row->count);
	}
}

/* Rows in use, with their keys. Stats are read before keys: a row with counts had its
 * key written before it was published, so a key read afterwards is the right one. */
static int read_rows(struct state *st, struct vec *out)
{
	uint32_t used = __atomic_load_n(&st->skel->data->next_row, __ATOMIC_ACQUIRE);
	uint32_t n = used > 1 ? used - 1 : 0;
	struct cs_sys_stats *stats;
	struct cs_sys_key *keys;
	int err;

	if (n > st->max_entries)
		n = st->max_entries;
	stats = calloc(n ? n : 1, sizeof(*stats));
	keys = calloc(n ? n : 1, sizeof(*keys));
	err = stats && keys ? 0 : -ENOMEM;
	if (!err && n)
		err = mapread_array(bpf_map__fd(st->skel->maps.sys_stats), 1, n, sizeof(*stats), 1,
				    stats);
	if (!err && n)
		err = mapread_array(bpf_map__fd(st->skel->maps.sys_row_keys), 1, n, sizeof(*keys),
				    0, keys);
	for (uint32_t i = 0; !err && i < n; i++) {
		struct stat_row *row;
		uint64_t count = 0;

		for (int b = 0; b < CS_HIST_BUCKETS; b++)
			count += stats[i].buckets[b];
		/* Unused rows (lost allocation races) and rows not yet counted. */
		if (keys[i].slot == CS_SLOT_NONE || !count)
			continue;
		row = vec_push(out);
		if (!row) {
			err = -ENOMEM;
			break;
		}
		row->key = keys[i];
		row->stats = stats[i];
	}
	free(stats);
	free(keys);
	return err;
}

static int syscalls_collect(void *state, struct scrape *c)
{
	struct state *st = state;
	struct vec stats = VEC_INIT(struct stat_row);
	struct vec errors = VEC_INIT(struct err_row);
	int err, n_errors;

	err = read_rows(st, &stats);
	n_errors = mapread_u64s(bpf_map__fd(st->skel->maps.sys_errors),
				sizeof(struct cs_sys_err_key), 1, 1, add_error, &errors);
	if (!err)
		err = n_errors < 0 ? n_errors : errors.failed ? -ENOMEM : 0;
	if (err)
		goto out;
	rows_merge_aliases(&stats, &stat_shape, c->slots);
	rows_merge_aliases(&errors, &error_shape, c->slots);
	write_counts(c, &stats);
	write_errors(c, &errors);
	write_durations(c, st, &stats);
	scrape_report_map(c, "sys_stats", stats.n, st->max_entries,
			  __atomic_load_n(&st->skel->bss->rows_full, __ATOMIC_RELAXED));
	scrape_report_map(c, "sys_errors", errors.n, st->max_error_entries,
			  __atomic_load_n(&st->skel->bss->errors_full, __ATOMIC_RELAXED));
out:
	vec_free(&stats);
	vec_free(&errors);
	return err;
}

/* The slot's series are gone (its pod was deleted): zero its rows, which stay attached
 * to the slot for its next owner, and drop its errors. No task uses the slot any more. */
static void syscalls_forget_slot(void *state, uint32_t slot)
{
	struct state *st = state;
	uint32_t used = __atomic_load_n(&st->skel->data->next_row, __ATOMIC_ACQUIRE);
	int keys_fd = bpf_map__fd(st->skel->maps.sys_row_keys);
	int stats_fd = bpf_map__fd(st->skel->maps.sys_stats);

	for (uint32_t row = 1; row < used; row++) {
		struct cs_sys_key k;

		if (!bpf_map_lookup_elem(keys_fd, &row, &k) && k.slot == slot)
			map_zero_percpu(stats_fd, &row, sizeof(struct cs_sys_stats));
	}
	map_delete_slot_keys(bpf_map__fd(st->skel->maps.sys_errors), sizeof(struct cs_sys_err_key),
			     slot);
}

static void syscalls_close(void *state)
{
	struct state *st = state;

	if (!st)
		return;
	attach_detach(st->attach);
	syscalls_bpf__destroy(st->skel);
	free(st);
}

const struct module syscalls_module = {
	.name = MODULE_NAME,
	.options = options,
	.open = syscalls_open,
	.attach = syscalls_attach,
	.collect = syscalls_collect,
	.forget_slot = syscalls_forget_slot,
	.close = syscalls_close,
};
