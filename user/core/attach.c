/* Program attachment and the program registry: see attach.h. */
#include "attach.h"
#include "clock.h"
#include "log.h"
#include "mapread.h"
#include "vec.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct attachment {
	char *program;
	char *why; /* a refused program's verifier reason, or NULL */
	struct bpf_link *link;
	int prog_fd;
	int err;
};

/* A kernel feature a module uses, and how (the variant chosen at load time). */
struct feature {
	char *feature;
	char *variant;
	char *note; /* why this variant, or NULL */
};

struct attach_group {
	struct attach_registry *registry;
	char *name;
	struct vec items;    /* struct attachment */
	struct vec features; /* struct feature */
};

/* The lock guards every group's lists: a scrape reads them while a module is opened or
 * closed. */
struct attach_registry {
	pthread_mutex_t lock;
	struct vec groups; /* struct attach_group *, in the order they were made */
};

struct attach_registry *attach_registry_new(void)
{
	struct attach_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->groups = VEC_INIT(struct attach_group *);
	return r;
}

void attach_registry_free(struct attach_registry *r)
{
	if (!r)
		return;
	while (r->groups.n)
		attach_group_free(*(struct attach_group **)vec_at(&r->groups, 0));
	vec_free(&r->groups);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct attach_group *attach_group_new(struct attach_registry *r, const char *name)
{
	struct attach_group *g = calloc(1, sizeof(*g)), **slot;

	if (!g)
		return NULL;
	g->registry = r;
	g->name = strdup(name);
	g->items = VEC_INIT(struct attachment);
	g->features = VEC_INIT(struct feature);
	pthread_mutex_lock(&r->lock);
	slot = g->name ? vec_push(&r->groups) : NULL;
	if (slot)
		*slot = g;
	pthread_mutex_unlock(&r->lock);
	if (!slot) {
		free(g->name);
		free(g);
		return NULL;
	}
	return g;
}

const char *attach_group_name(const struct attach_group *g)
{
	return g->name;
}

/* Destroy the group's links and forget its programs and features; with the lock held. */
static void detach_locked(struct attach_group *g)
{
	for (size_t i = 0; i < g->items.n; i++) {
		struct attachment *a = vec_at(&g->items, i);

		bpf_link__destroy(a->link);
		free(a->program);
		free(a->why);
	}
	vec_free(&g->items);
	for (size_t i = 0; i < g->features.n; i++) {
		struct feature *f = vec_at(&g->features, i);

		free(f->feature);
		free(f->variant);
		free(f->note);
	}
	vec_free(&g->features);
}

void attach_detach(struct attach_group *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->registry->lock);
	detach_locked(g);
	pthread_mutex_unlock(&g->registry->lock);
}

void attach_group_free(struct attach_group *g)
{
	struct attach_registry *r;
	size_t kept = 0;

	if (!g)
		return;
	r = g->registry;
	pthread_mutex_lock(&r->lock);
	detach_locked(g);
	for (size_t i = 0; i < r->groups.n; i++) {
		struct attach_group **it = vec_at(&r->groups, i);

		if (*it != g)
			*(struct attach_group **)vec_at(&r->groups, kept++) = *it;
	}
	r->groups.n = kept;
	pthread_mutex_unlock(&r->lock);
	free(g->name);
	free(g);
}

/* With the registry's lock held. */
static int record(struct attach_group *g, const char *program, int prog_fd, struct bpf_link *link,
		  int err)
{
	struct attachment *a = vec_push(&g->items);

	if (!a)
		return -ENOMEM;
	a->program = strdup(program);
	if (!a->program) {
		g->items.n--;
		return -ENOMEM;
	}
	a->why = NULL;
	a->link = link;
	a->prog_fd = prog_fd;
	a->err = err;
	return 0;
}

static bool listed(const char *const *names, const char *name)
{
	for (; names && *names; names++) {
		if (!strcmp(*names, name))
			return true;
	}
	return false;
}

int attach_object(struct attach_group *g, struct bpf_object *obj, const char *const *required,
		  bool *all_required_ok)
{
	struct bpf_program *prog;
	int first_err = 0;

	*all_required_ok = true;
	bpf_object__for_each_program(prog, obj)
	{
		struct bpf_link *link;
		int err = 0;

		if (!bpf_program__autoload(prog) || !bpf_program__autoattach(prog))
			continue;
		link = bpf_program__attach(prog);
		if (!link) {
			err = -errno;
			log_warn("module %s: cannot attach program %s: %s", g->name,
				 bpf_program__name(prog), strerror(-err));
			if (listed(required, bpf_program__name(prog)))
				*all_required_ok = false;
			if (!first_err)
				first_err = err;
		} else {
			log_debug("module %s: attached program %s", g->name,
				  bpf_program__name(prog));
		}
		pthread_mutex_lock(&g->registry->lock);
		if (record(g, bpf_program__name(prog), bpf_program__fd(prog), link, err)) {
			bpf_link__destroy(link);
			first_err = first_err ? first_err : -ENOMEM;
			*all_required_ok = false;
		}
		pthread_mutex_unlock(&g->registry->lock);
	}
	return first_err;
}

int attach_record(struct attach_group *g, struct bpf_program *prog, struct bpf_link *link, int err)
{
	int ret;

	pthread_mutex_lock(&g->registry->lock);
	ret = record(g, bpf_program__name(prog), bpf_program__fd(prog), link, err);
	pthread_mutex_unlock(&g->registry->lock);
	return ret;
}

int attach_record_refused(struct attach_group *g, const char *program, int err, const char *why)
{
	int ret;

	pthread_mutex_lock(&g->registry->lock);
	ret = record(g, program, -1, NULL, err);
	if (!ret && why) {
		struct attachment *a = vec_at(&g->items, g->items.n - 1);

		a->why = strdup(why);
	}
	pthread_mutex_unlock(&g->registry->lock);
	return ret;
}

int attach_feature(struct attach_group *g, const char *feature, const char *variant,
		   const char *note)
{
	struct feature *f;
	int ret = 0;

	pthread_mutex_lock(&g->registry->lock);
	f = vec_push(&g->features);
	if (!f) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	f->feature = strdup(feature);
	f->variant = strdup(variant);
	f->note = note ? strdup(note) : NULL;
	if (!f->feature || !f->variant || (note && !f->note)) {
		free(f->feature);
		free(f->variant);
		free(f->note);
		g->features.n--;
		ret = -ENOMEM;
		goto out_unlock;
	}
	log_info("module %s: %s: %s%s%s", g->name, feature, variant, note ? ": " : "",
		 note ? note : "");
out_unlock:
	pthread_mutex_unlock(&g->registry->lock);
	return ret;
}

struct bpf_link *attach_iter(struct attach_group *g, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	int err = link ? 0 : -errno;

	if (err)
		log_warn("module %s: cannot attach iterator %s: %s", g->name,
			 bpf_program__name(prog), strerror(-err));
	if (attach_record(g, prog, link, err)) {
		bpf_link__destroy(link);
		return NULL;
	}
	return link;
}

int attach_run_iter(struct bpf_link *link)
{
	char sink[64];
	ssize_t n;
	int fd;

	if (!link)
		return -ENOENT;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, sink, sizeof(sink))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

static int read_iter(struct bpf_link *link, size_t rec_size, void (*fn)(const void *rec, void *ctx),
		     void *ctx)
{
	size_t cap = rec_size > 4096 ? rec_size : 65536 / rec_size * rec_size, have = 0;
	char *buf;
	ssize_t n;
	int fd, err = 0;

	if (!link)
		return -ENOENT;
	if (!rec_size)
		return -EINVAL;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	while ((n = read(fd, buf + have, cap - have)) > 0) {
		size_t whole;

		have += (size_t)n;
		whole = have / rec_size * rec_size;
		for (size_t off = 0; off < whole; off += rec_size)
			fn(buf + off, ctx);
		/* A record split by read() waits at the start of the buffer for its rest. */
		memmove(buf, buf + whole, have - whole);
		have -= whole;
	}
	if (n < 0)
		err = -errno;
	close(fd);
	free(buf);
	return err;
}

/* Timed as a map read: a scrape's walks are collection, not rendering. */
int attach_read_iter(struct bpf_link *link, size_t rec_size, void (*fn)(const void *rec, void *ctx),
		     void *ctx)
{
	double t0 = clock_seconds(CLOCK_MONOTONIC);
	int err = read_iter(link, rec_size, fn, ctx);

	mapread_clock_add(clock_seconds(CLOCK_MONOTONIC) - t0);
	return err;
}

void attach_describe(const struct attach_group *g, struct buf *out)
{
	pthread_mutex_lock(&g->registry->lock);
	for (size_t i = 0; i < g->features.n; i++) {
		const struct feature *f = vec_at(&g->features, i);

		buf_printf(out, "%s%s=%s", out->len ? "; " : "", f->feature, f->variant);
		if (f->note)
			buf_printf(out, " (%s)", f->note);
	}
	for (size_t i = 0; i < g->items.n; i++) {
		const struct attachment *a = vec_at(&g->items, i);

		if (a->link)
			continue;
		buf_printf(out, "%s%s not %s: %s", out->len ? "; " : "", a->program,
			   a->prog_fd < 0 ? "loaded" : "attached",
			   a->why ? a->why : strerror(-a->err));
	}
	pthread_mutex_unlock(&g->registry->lock);
}

static void write_features(const struct attach_registry *r, struct expo *e)
{
	struct label labels[3] = { { "module", NULL }, { "feature", NULL }, { "variant", NULL } };

	expo_family(e, "ctrlscope_bpf_feature", "gauge",
		    "A kernel feature a module uses and the variant chosen for this kernel at "
		    "load time (always 1).");
	for (size_t k = 0; k < r->groups.n; k++) {
		const struct attach_group *g = *(struct attach_group **)vec_at(&r->groups, k);

		labels[0].value = g->name;
		for (size_t i = 0; i < g->features.n; i++) {
			const struct feature *f = vec_at(&g->features, i);

			labels[1].value = f->feature;
			labels[2].value = f->variant;
			expo_u64(e, labels, 3, 1);
		}
	}
}

/* One value per program of every group, in order. */
enum program_value { ATTACHED, RUNS, RUN_SECONDS, RECURSION_MISSES };

static void write_programs(const struct attach_registry *r, const struct bpf_prog_info *info,
			   enum program_value what, struct expo *e)
{
	struct label labels[2] = { { "module", NULL }, { "program", NULL } };
	size_t at = 0;

	for (size_t k = 0; k < r->groups.n; k++) {
		const struct attach_group *g = *(struct attach_group **)vec_at(&r->groups, k);

		labels[0].value = g->name;
		for (size_t i = 0; i < g->items.n; i++, at++) {
			const struct attachment *a = vec_at(&g->items, i);

			labels[1].value = a->program;
			if (what == ATTACHED)
				expo_u64(e, labels, 2, a->link ? 1 : 0);
			else if (what == RUNS)
				expo_u64(e, labels, 2, info[at].run_cnt);
			else if (what == RUN_SECONDS)
				expo_f64(e, labels, 2, (double)info[at].run_time_ns / 1e9);
			else
				expo_u64(e, labels, 2, info[at].recursion_misses);
		}
	}
}

void attach_collect(struct attach_registry *r, struct expo *e)
{
	struct bpf_prog_info *info;
	size_t n = 0, at = 0;

	pthread_mutex_lock(&r->lock);
	write_features(r, e);
	expo_family(e, "ctrlscope_program_attached", "gauge",
		    "Whether a BPF program is attached (1) or could not be attached on this kernel "
		    "(0).");
	write_programs(r, NULL, ATTACHED, e);
	for (size_t k = 0; k < r->groups.n; k++)
		n += (*(struct attach_group **)vec_at(&r->groups, k))->items.n;
	info = calloc(n ? n : 1, sizeof(*info));
	for (size_t k = 0; info && k < r->groups.n; k++) {
		const struct attach_group *g = *(struct attach_group **)vec_at(&r->groups, k);

		for (size_t i = 0; i < g->items.n; i++, at++) {
			const struct attachment *a = vec_at(&g->items, i);
			__u32 len = sizeof(info[at]);

			if (a->link && bpf_obj_get_info_by_fd(a->prog_fd, &info[at], &len))
				memset(&info[at], 0, sizeof(info[at]));
		}
	}
	if (info) {
		/* run_cnt and run_time_ns only advance while kernel.bpf_stats_enabled is 1. */
		expo_family(e, "ctrlscope_bpf_program_runs_total", "counter",
			    "Times a BPF program ran (counted only while "
			    "kernel.bpf_stats_enabled=1).");
		write_programs(r, info, RUNS, e);
		expo_family(e, "ctrlscope_bpf_program_run_seconds_total", "counter",
			    "Time spent in a BPF program (counted only while "
			    "kernel.bpf_stats_enabled=1).");
		write_programs(r, info, RUN_SECONDS, e);
		/* Runs the kernel skipped because another BPF program was running on the CPU
		 * (Linux 5.12+): every skip is an event not counted. */
		expo_family(e, "ctrlscope_bpf_program_recursion_misses_total", "counter",
			    "Times the kernel skipped a BPF program because a program was already "
			    "running on that CPU: events that were not counted.");
		write_programs(r, info, RECURSION_MISSES, e);
	}
	free(info);
	pthread_mutex_unlock(&r->lock);
}
