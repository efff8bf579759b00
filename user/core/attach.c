/* Program attachment and the program registry: see attach.h. */
#include "attach.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct attachment {
	char *module;
	char *program;
	char *why; /* a refused program's verifier reason, or NULL */
	struct bpf_link *link;
	int prog_fd;
	int err;
};

/* A kernel feature a module uses, and how (the variant chosen at load time). */
struct feature {
	char *module;
	char *feature;
	char *variant;
	char *note; /* why this variant, or NULL */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct attachment *items;
static size_t n_items;
static struct feature *features;
static size_t n_features;

static int record(const char *module, const char *program, int prog_fd, struct bpf_link *link,
		  int err)
{
	struct attachment *grown = realloc(items, (n_items + 1) * sizeof(*items));
	struct attachment *a;

	if (!grown)
		return -ENOMEM;
	items = grown;
	a = &items[n_items];
	a->module = strdup(module);
	a->program = strdup(program);
	if (!a->module || !a->program) {
		free(a->module);
		free(a->program);
		return -ENOMEM;
	}
	a->why = NULL;
	a->link = link;
	a->prog_fd = prog_fd;
	a->err = err;
	n_items++;
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

int attach_object(const char *module, struct bpf_object *obj, const char *const *required,
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
			log_warn("module %s: cannot attach program %s: %s", module,
				 bpf_program__name(prog), strerror(-err));
			if (listed(required, bpf_program__name(prog)))
				*all_required_ok = false;
			if (!first_err)
				first_err = err;
		} else {
			log_debug("module %s: attached program %s", module,
				  bpf_program__name(prog));
		}
		pthread_mutex_lock(&lock);
		if (record(module, bpf_program__name(prog), bpf_program__fd(prog), link, err)) {
			bpf_link__destroy(link);
			first_err = first_err ? first_err : -ENOMEM;
			*all_required_ok = false;
		}
		pthread_mutex_unlock(&lock);
	}
	return first_err;
}

int attach_record(const char *module, struct bpf_program *prog, struct bpf_link *link, int err)
{
	int ret;

	pthread_mutex_lock(&lock);
	ret = record(module, bpf_program__name(prog), bpf_program__fd(prog), link, err);
	pthread_mutex_unlock(&lock);
	return ret;
}

int attach_record_refused(const char *module, const char *program, int err, const char *why)
{
	int ret;

	pthread_mutex_lock(&lock);
	ret = record(module, program, -1, NULL, err);
	if (!ret && why)
		items[n_items - 1].why = strdup(why);
	pthread_mutex_unlock(&lock);
	return ret;
}

int attach_feature(const char *module, const char *feature, const char *variant, const char *note)
{
	struct feature *grown, *f;
	int ret = 0;

	pthread_mutex_lock(&lock);
	grown = realloc(features, (n_features + 1) * sizeof(*features));
	if (!grown) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	features = grown;
	f = &features[n_features];
	f->module = strdup(module);
	f->feature = strdup(feature);
	f->variant = strdup(variant);
	f->note = note ? strdup(note) : NULL;
	if (!f->module || !f->feature || !f->variant || (note && !f->note)) {
		free(f->module);
		free(f->feature);
		free(f->variant);
		free(f->note);
		ret = -ENOMEM;
		goto out_unlock;
	}
	n_features++;
	log_info("module %s: %s: %s%s%s", module, feature, variant, note ? ": " : "",
		 note ? note : "");
out_unlock:
	pthread_mutex_unlock(&lock);
	return ret;
}

struct bpf_link *attach_iter(const char *module, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	int err = link ? 0 : -errno;

	if (err)
		log_warn("module %s: cannot attach iterator %s: %s", module,
			 bpf_program__name(prog), strerror(-err));
	if (attach_record(module, prog, link, err)) {
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

int attach_read_iter(struct bpf_link *link, size_t rec_size, void (*fn)(const void *rec, void *ctx),
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

void attach_detach_module(const char *module)
{
	size_t kept = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_items; i++) {
		if (strcmp(items[i].module, module)) {
			items[kept++] = items[i];
			continue;
		}
		bpf_link__destroy(items[i].link);
		free(items[i].module);
		free(items[i].program);
		free(items[i].why);
	}
	n_items = kept;
	if (!n_items) {
		free(items);
		items = NULL;
	}
	kept = 0;
	for (size_t i = 0; i < n_features; i++) {
		if (strcmp(features[i].module, module)) {
			features[kept++] = features[i];
			continue;
		}
		free(features[i].module);
		free(features[i].feature);
		free(features[i].variant);
		free(features[i].note);
	}
	n_features = kept;
	if (!n_features) {
		free(features);
		features = NULL;
	}
	pthread_mutex_unlock(&lock);
}

void attach_describe(const char *module, struct buf *out)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_features; i++) {
		if (strcmp(features[i].module, module))
			continue;
		buf_printf(out, "%s%s=%s", out->len ? "; " : "", features[i].feature,
			   features[i].variant);
		if (features[i].note)
			buf_printf(out, " (%s)", features[i].note);
	}
	for (size_t i = 0; i < n_items; i++) {
		if (strcmp(items[i].module, module) || items[i].link)
			continue;
		buf_printf(out, "%s%s not %s: %s", out->len ? "; " : "", items[i].program,
			   items[i].prog_fd < 0 ? "loaded" : "attached",
			   items[i].why ? items[i].why : strerror(-items[i].err));
	}
	pthread_mutex_unlock(&lock);
}

static void write_features(struct expo *e)
{
	struct label labels[3] = { { "module", NULL }, { "feature", NULL }, { "variant", NULL } };

	expo_family(e, "ctrlscope_bpf_feature", "gauge",
		    "A kernel feature a module uses and the variant chosen for this kernel at "
		    "load time (always 1).");
	for (size_t i = 0; i < n_features; i++) {
		labels[0].value = features[i].module;
		labels[1].value = features[i].feature;
		labels[2].value = features[i].variant;
		expo_u64(e, labels, 3, 1);
	}
}

void attach_collect(struct expo *e)
{
	struct label labels[2] = { { "module", NULL }, { "program", NULL } };
	struct bpf_prog_info *info;

	pthread_mutex_lock(&lock);
	write_features(e);
	expo_family(e, "ctrlscope_program_attached", "gauge",
		    "Whether a BPF program is attached (1) or could not be attached on this kernel "
		    "(0).");
	for (size_t i = 0; i < n_items; i++) {
		labels[0].value = items[i].module;
		labels[1].value = items[i].program;
		expo_u64(e, labels, 2, items[i].link ? 1 : 0);
	}
	info = calloc(n_items ? n_items : 1, sizeof(*info));
	for (size_t i = 0; info && i < n_items; i++) {
		__u32 len = sizeof(info[i]);

		if (items[i].link && bpf_obj_get_info_by_fd(items[i].prog_fd, &info[i], &len))
			memset(&info[i], 0, sizeof(info[i]));
	}
	/* run_cnt and run_time_ns only advance while kernel.bpf_stats_enabled is 1. */
	expo_family(e, "ctrlscope_bpf_program_runs_total", "counter",
		    "Times a BPF program ran (counted only while kernel.bpf_stats_enabled=1).");
	for (size_t i = 0; info && i < n_items; i++) {
		labels[0].value = items[i].module;
		labels[1].value = items[i].program;
		expo_u64(e, labels, 2, info[i].run_cnt);
	}
	expo_family(e, "ctrlscope_bpf_program_run_seconds_total", "counter",
		    "Time spent in a BPF program (counted only while kernel.bpf_stats_enabled=1).");
	for (size_t i = 0; info && i < n_items; i++) {
		labels[0].value = items[i].module;
		labels[1].value = items[i].program;
		expo_f64(e, labels, 2, (double)info[i].run_time_ns / 1e9);
	}
	/* Runs the kernel skipped because another BPF program was running on the CPU
	 * (Linux 5.12+): every skip is an event not counted. */
	expo_family(e, "ctrlscope_bpf_program_recursion_misses_total", "counter",
		    "Times the kernel skipped a BPF program because a program was already "
		    "running on that CPU: events that were not counted.");
	for (size_t i = 0; info && i < n_items; i++) {
		labels[0].value = items[i].module;
		labels[1].value = items[i].program;
		expo_u64(e, labels, 2, info[i].recursion_misses);
	}
	free(info);
	pthread_mutex_unlock(&lock);
}
