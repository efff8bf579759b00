/* Loading with refused programs left out: see load.h. */
#include "load.h"
#include "attach.h"
#include "buf.h"
#include "log.h"
#include "vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

/* Per program. A verifier log is seldom longer than the tail we show needs, and kernels
 * from 6.4 on keep the end of a log that does not fit; older ones keep its start. The
 * pages are only touched for a program that fails. */
#define LOG_SIZE (1u << 20)
/* Objects have a handful of programs: more attempts than that means a loop. */
#define MAX_ATTEMPTS 32

static bool listed(const char *const *names, const char *name)
{
	for (; names && *names; names++) {
		if (!strcmp(*names, name))
			return true;
	}
	return false;
}

const struct load_refusal *load_refusal_of(const struct load_refusals *refused, const char *program)
{
	for (size_t i = 0; i < refused->n; i++) {
		if (!strcmp(refused->items[i].program, program))
			return &refused->items[i];
	}
	return NULL;
}

void load_apply(const struct load_refusals *refused, struct bpf_object_skeleton *skel)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, *skel->obj)
	{
		if (load_refusal_of(refused, bpf_program__name(prog)))
			bpf_program__set_autoload(prog, false);
	}
}

void load_refusals_free(struct load_refusals *refused)
{
	free(refused->items);
	refused->items = NULL;
	refused->n = 0;
}

/* The start of the first line of log that begins with prefix, or NULL. */
static const char *find_line(const char *log, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = log; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, prefix, n))
			return p;
	}
	return NULL;
}

static void append(char *out, size_t size, size_t *used, const char *sep, const char *text,
		   size_t len)
{
	int w;

	if (*used + 1 >= size)
		return;
	w = snprintf(out + *used, size - *used, "%s%.*s", *used ? sep : "", (int)len, text);
	if (w > 0)
		*used += (size_t)w < size - *used ? (size_t)w : size - *used - 1;
}

/* The verifier's reason: the last two lines of its trace (the failing instruction and
 * the error), without the statistics a log ends with nor the report that 7.x verifiers
 * print after the trace ("Verification failed:" ...), then that report's suggestion in
 * parentheses when it gives one. */
void load_log_reason(const char *log, char *out, size_t size)
{
	const char *report = find_line(log, "Verification failed:");
	const char *hint = find_line(report ? report : log, "Suggestion:");
	const char *end = report ? report : hint ? hint : log + strlen(log);
	const char *lines[2];
	size_t lens[2], n = 0, used = 0;

	if (!size)
		return;
	out[0] = '\0';
	while (end > log && n < 2) {
		const char *line_end, *start;

		while (end > log && end[-1] == '\n')
			end--;
		line_end = end;
		start = line_end;
		while (start > log && start[-1] != '\n')
			start--;
		end = start;
		if (line_end == start || !strncmp(start, "processed ", 10) ||
		    !strncmp(start, "verification time", 17) || !strncmp(start, "stack depth", 11))
			continue;
		lines[n] = start;
		lens[n] = (size_t)(line_end - start);
		n++;
	}
	while (n-- > 0)
		append(out, size, &used, " | ", lines[n], lens[n]);
	if (hint && (hint = strchr(hint, '\n'))) {
		size_t len;

		hint += strspn(hint, "\n \t");
		len = strcspn(hint, "\n");
		if (len) {
			append(out, size, &used, " (hint: ", hint, len);
			append(out, size, &used, "", ")", 1);
		}
	}
}

static int add_refusal(struct load_refusals *r, const char *program, int err, const char *log)
{
	struct load_refusal *f = ARRAY_PUSH(r->items, r->n);

	if (!f)
		return -ENOMEM;
	r->n++;
	snprintf(f->program, sizeof(f->program), "%s", program);
	f->err = err;
	load_log_reason(log, f->why, sizeof(f->why));
	return 0;
}

/* One attempt: 0, or -errno with *refused_one naming the program the kernel refused
 * (NULL when the failure was not a program's). */
static int attempt(const char *module, struct bpf_object_skeleton *skel, char *logs,
		   struct load_refusals *refused, const char **refused_one)
{
	struct bpf_program *prog;
	size_t i = 0;
	int err;

	*refused_one = NULL;
	bpf_object__for_each_program(prog, *skel->obj)
	{
		if (!bpf_program__autoload(prog))
			continue;
		logs[i * LOG_SIZE] = '\0';
		/* With log level 0 libbpf asks for the log only when a load fails, then
		 * loads again at level 1 into this buffer. */
		bpf_program__set_log_buf(prog, logs + i * LOG_SIZE, LOG_SIZE);
		i++;
	}
	err = bpf_object__load_skeleton(skel);
	if (!err)
		return 0;
	err = err < 0 ? err : -EINVAL;
	i = 0;
	bpf_object__for_each_program(prog, *skel->obj)
	{
		const char *log;

		if (!bpf_program__autoload(prog))
			continue;
		log = logs + i++ * LOG_SIZE;
		if (!log[0])
			continue;
		if (add_refusal(refused, bpf_program__name(prog), err, log))
			return -ENOMEM;
		*refused_one = refused->items[refused->n - 1].program;
		log_warn("module %s: the kernel refused program %s (%s): %s", module, *refused_one,
			 strerror(-err), refused->items[refused->n - 1].why);
		break;
	}
	return err;
}

static uint64_t *estimate_only;

void load_estimate_only(uint64_t *bytes)
{
	estimate_only = bytes;
}

static uint64_t round8(uint64_t n)
{
	return (n + 7) & ~7ULL;
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

uint64_t load_estimate_maps(struct bpf_object *obj, unsigned int ncpus)
{
	struct bpf_map *map;
	uint64_t total = 0;

	bpf_object__for_each_map(map, obj)
	{
		uint64_t n = bpf_map__max_entries(map), key = round8(bpf_map__key_size(map)),
			 value = round8(bpf_map__value_size(map));
		bool prealloc = !(bpf_map__map_flags(map) & BPF_F_NO_PREALLOC);

		if (!bpf_map__autocreate(map))
			continue; /* another object's, reused */
		/* The kernel's own accounting (its map_mem_usage), to within its small
		 * fixed overheads: an element header of 48 bytes in hash maps, a bucket of
		 * 16 per power of two. */
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_ARRAY:
			total += n * value;
			break;
		case BPF_MAP_TYPE_PERCPU_ARRAY:
			total += n * (value * ncpus + 8);
			break;
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_LRU_HASH:
			total += pow2_at_least(n) * 16 + (prealloc ? n * (48 + key + value) : 0);
			break;
		case BPF_MAP_TYPE_PERCPU_HASH:
		case BPF_MAP_TYPE_LRU_PERCPU_HASH:
			total += pow2_at_least(n) * 16 +
				 (prealloc ? n * (48 + key + 8 + value * ncpus) : 0);
			break;
		case BPF_MAP_TYPE_QUEUE:
		case BPF_MAP_TYPE_STACK:
			total += (n + 1) * value;
			break;
		case BPF_MAP_TYPE_RINGBUF:
			total += n;
			break;
		default: /* storage maps: per task or socket, as they come */
			break;
		}
	}
	return total;
}

int load_skeleton(struct attach_group *g, const struct load_ops *ops, void *ctx,
		  const char *const *required, struct load_refusals *refused)
{
	const char *module = attach_group_name(g);
	struct bpf_object_skeleton *skel;
	size_t n_progs = 0;
	char *logs = NULL;
	struct buf held;
	int err = 0;

	buf_init(&held);
	*refused = (struct load_refusals){ 0 };
	for (int tries = 0; tries < MAX_ATTEMPTS; tries++) {
		struct bpf_program *prog;
		const char *one;

		err = ops->open(ctx, refused, &skel);
		if (err)
			goto out_free;
		if (estimate_only) {
			int cpus = libbpf_num_possible_cpus();

			*estimate_only +=
				load_estimate_maps(*skel->obj, cpus > 0 ? (unsigned)cpus : 1);
			err = -ECANCELED;
			goto out_destroy;
		}
		load_apply(refused, skel);
		if (!logs) {
			bpf_object__for_each_program(prog, *skel->obj) n_progs++;
			logs = mmap(NULL, (n_progs ? n_progs : 1) * (size_t)LOG_SIZE,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (logs == MAP_FAILED) {
				logs = NULL;
				err = -ENOMEM;
				goto out_destroy;
			}
		}
		buf_reset(&held);
		log_hold_libbpf_warnings(&held);
		err = attempt(module, skel, logs, refused, &one);
		log_hold_libbpf_warnings(NULL);
		if (err && !one && buf_cstr(&held))
			log_warn("module %s: %s", module, held.data);
		else if (buf_cstr(&held))
			log_debug("module %s: %s", module, held.data);
		if (!err)
			goto out_unmap;
		if (!one)
			goto out_destroy;
		if (listed(required, one)) {
			/* Still named, with the verifier's words, where the module's state is
			 * shown: --probe and ctrlscope_program_attached. */
			const struct load_refusal *f = &refused->items[refused->n - 1];

			attach_record_refused(g, f->program, f->err, f->why);
			goto out_destroy;
		}
		ops->destroy(ctx);
	}
	err = -ELOOP;
	goto out_unmap;

out_destroy:
	ops->destroy(ctx);
out_unmap:
	if (logs)
		munmap(logs, (n_progs ? n_progs : 1) * (size_t)LOG_SIZE);
out_free:
	buf_free(&held);
	if (err)
		load_refusals_free(refused);
	return err;
}

int load_module(struct attach_group *g, const struct load_ops *ops, void *ctx,
		const char *const *required)
{
	struct load_refusals refused;
	int err = load_skeleton(g, ops, ctx, required, &refused);

	if (err)
		return err;
	for (size_t i = 0; i < refused.n; i++)
		attach_record_refused(g, refused.items[i].program, refused.items[i].err,
				      refused.items[i].why);
	load_refusals_free(&refused);
	return 0;
}

void load_choose_tracepoint(struct bpf_program *btf, struct bpf_program *classic, bool use_classic)
{
	bpf_program__set_autoload(btf, !use_classic);
	bpf_program__set_autoload(classic, use_classic);
}

int load_kernel_has_struct(const struct bpf_object_open_opts *opts, const char *name)
{
	const char *path = opts ? opts->btf_custom_path : NULL;
	struct btf *btf = path ? btf__parse(path, NULL) : btf__load_vmlinux_btf();
	int found;

	if (!btf)
		return -errno;
	found = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT) > 0;
	btf__free(btf);
	return found;
}

int load_tracepoint_args(const struct bpf_object_open_opts *opts, const char *name,
			 unsigned int *pointers)
{
	const char *path = opts ? opts->btf_custom_path : NULL;
	struct btf *btf = path ? btf__parse(path, NULL) : btf__load_vmlinux_btf();
	const struct btf_param *params;
	const struct btf_type *t;
	char typedef_name[128];
	int id, n = -ENOENT;

	if (!btf)
		return -errno;
	*pointers = 0;
	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	id = btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, btf__resolve_type(btf, (uint32_t)id)) : NULL;
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	/* void (*)(void *, args...): the first parameter is the probe's data. */
	if (t && btf_is_func_proto(t) && btf_vlen(t) >= 1) {
		params = btf_params(t);
		n = btf_vlen(t) - 1;
		for (int i = 0; i < n && i < 32; i++) {
			const struct btf_type *a =
				btf__type_by_id(btf, btf__resolve_type(btf, params[i + 1].type));

			if (a && btf_is_ptr(a))
				*pointers |= 1u << i;
		}
	}
	btf__free(btf);
	return n;
}

int load_fill_tickets(int fd, uint32_t first, uint32_t end)
{
	for (uint32_t i = first; i < end; i++) {
		if (bpf_map_update_elem(fd, NULL, &i, BPF_ANY))
			return -errno;
	}
	return 0;
}
