/* reconcile module, user side: controller-runtime's reconcile metrics for every target
 * process that runs a controller-runtime binary, read from the outside with uprobes.
 *
 * Once a second an iterator lists the target processes; the executable of each new one is
 * inspected (reconcile_plan.c) unless a binary with the same device, inode, size and times
 * was, and probed: one uprobe per probe point, on the file for every process that runs
 * it, through a descriptor of the very file that was read, so that the offsets are those
 * of the file as it is now. A binary replaced at the same path is a new inode (or, written
 * in place, new times): it is inspected again and the old probes go. Binaries no target
 * ran for a minute lose their probes. The counting is in bpf/reconcile.bpf.c. */
#include <ctrlscope/reconcile.h> /* before the skeleton, which uses its types */

#include "attach.h"
#include "clock.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "reconcile.skel.h"
#include "reconcile_plan.h"
#include "rowset.h"
#include "uprobes.h"
#include "vec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "reconcile"

/* A binary no target ran for this long loses its probes (and is inspected again if one
 * runs it later). */
#define BINARY_IDLE_SECONDS 60.0
/* The longest the process walk waits without a change of the targets (rec_tick). */
#define WALK_BACKSTOP_SECONDS 10.0
/* Binaries remembered at most, probed or skipped: the oldest idle one goes first. */
#define MAX_BINARIES 256

enum {
	OPT_MAX_CONTROLLERS,
	OPT_MAX_IN_FLIGHT,
	OPT_WORKQUEUE,
	OPT_MAX_QUEUES,
	OPT_MAX_ITEMS,
	OPT_CR_NAMES
};

static const struct cfg_option options[] = {
	[OPT_MAX_CONTROLLERS] = { "max_controllers", 16, 1 << 20, 1024,
				  "(label set, controller) pairs counted" },
	[OPT_MAX_IN_FLIGHT] = { "max_in_flight", 64, 1 << 20, 16384,
				"reconciles in flight followed at once, over all processes" },
	[OPT_WORKQUEUE] = { "workqueue", 0, 1, 1,
			    "probe the work queues too (three more probe hits per reconcile)" },
	[OPT_MAX_QUEUES] = { "max_queues", 16, 1 << 20, 1024,
			     "work queues followed at once, over all processes" },
	[OPT_MAX_ITEMS] = { "max_queued_items", 64, 1 << 22, 16384,
			    "items waiting or being worked on, timed at once, over all queues" },
	[OPT_CR_NAMES] = { "controller_runtime_names", 0, 1, 0,
			   "1: publish under controller-runtime's own metric names" },
	{ 0 },
};

static const char *const required_programs[] = { "cs_rec_begin", "cs_rec_end", NULL };

struct binary {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int skip; /* enum rec_skip */
	struct rec_plan plan;
	struct bpf_link **links;
	size_t n_links;
	double last_used;
	int wd;	      /* its inotify watch while probed, else -1 */
	bool changed; /* written since it was read: its probes are gone */
};

struct proc {
	uint32_t tgid;
	uint64_t start_ns;
	uint64_t exec_id;
	struct binary *bin; /* NULL: not inspected (it could not be opened) */
};

/* Reconciles whose process died in flight, per key (rec_abandoned): they ended. */
struct abandoned {
	struct cs_rec_key key;
	uint64_t n;
};

struct state {
	struct attach_group *attach;
	struct reconcile_bpf *skel;
	const struct module_env *env; /* during open only */
	uint32_t max_controllers, max_in_flight, max_queues, max_items;
	bool cr_names, workqueue;
	struct bpf_link *walk; /* owned by the attach registry */
	struct uprobe_opener *uprobes;
	bool told_eacces; /* the helper's missing CAP_SYS_ADMIN was logged */
	/* Probed binaries are watched: one written in place loses its probes at once, from
	 * the watcher thread, not at the next tick (its old offsets may now fall inside
	 * instructions of the new contents). lock guards bins between it and the rest. */
	int inotify_fd, stop_fd;
	pthread_t watcher;
	bool watching;
	pthread_mutex_t lock;
	struct vec bins;     /* of struct binary * */
	struct vec procs;    /* of struct proc, by tgid */
	uint64_t walked_gen; /* target_gen at the last walk */
	double walked_at;
	uint64_t inspected;
	uint64_t skipped[REC_SKIPS];
	char le_text[CS_REC_BOUNDS][16];
	const char *le[CS_REC_BOUNDS];
};

struct stats_row {
	struct cs_rec_key key;
	struct cs_rec_stats v;
};

/* A controller's work queue(s) of a label set, as published. */
struct wq_counts {
	uint64_t adds;
	uint64_t depth;
	uint64_t retries;
	uint64_t queue_sum_ns;
	uint64_t work_sum_ns;
	uint64_t queue_buckets[CS_WQ_BOUNDS + 1];
	uint64_t work_buckets[CS_WQ_BOUNDS + 1];
};

struct wq_row {
	struct cs_rec_key key;
	struct wq_counts v;
};

static int open_skel(void *ctx, const struct load_refusals *refused,
		     struct bpf_object_skeleton **skel)
{
	struct state *st = ctx;
	struct bpf_program *p;

	(void)refused;
	st->skel = reconcile_bpf__open_opts(st->env->open_opts);
	if (!st->skel)
		return -errno;
	bpf_map__set_max_entries(st->skel->maps.rec_stats, st->max_controllers);
	bpf_map__set_max_entries(st->skel->maps.rec_calls, st->max_in_flight);
	bpf_map__set_max_entries(st->skel->maps.rec_abandoned, st->max_controllers);
	bpf_map__set_max_entries(st->skel->maps.wq_folded, st->max_controllers);
	bpf_map__set_max_entries(st->skel->maps.wq_stats, st->max_queues);
	bpf_map__set_max_entries(st->skel->maps.wq_names, st->max_queues);
	bpf_map__set_max_entries(st->skel->maps.wq_times, st->max_items);
	/* Tracing programs may use maps allocated at run time from Linux 6.1 (the BPF memory
	 * allocator, struct bpf_mem_alloc); before, the verifier warns in the kernel log. */
	if (load_kernel_has_struct(st->env->open_opts, "bpf_mem_alloc") != 1)
		bpf_map__set_map_flags(st->skel->maps.wq_times, 0);
	bpf_object__for_each_program(p, st->skel->obj) bpf_program__set_autoattach(p, false);
	*skel = st->skel->skeleton;
	return module_reuse_shared_maps(st->env, st->skel->obj);
}

static void destroy_skel(void *ctx)
{
	struct state *st = ctx;

	reconcile_bpf__destroy(st->skel);
	st->skel = NULL;
}

static const struct load_ops load_ops = { open_skel, destroy_skel };

static int start_watcher(struct state *st);

static int rec_open(const struct module_env *env, void **out)
{
	static const unsigned bounds_ms[CS_REC_BOUNDS] = { CS_REC_BOUNDS_MS };
	struct state *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	st->attach = env->attach;
	*out = st;
	st->bins = VEC_INIT(struct binary *);
	st->procs = VEC_INIT(struct proc);
	st->max_controllers = (uint32_t)env->options[OPT_MAX_CONTROLLERS];
	st->max_in_flight = (uint32_t)env->options[OPT_MAX_IN_FLIGHT];
	st->cr_names = env->options[OPT_CR_NAMES] != 0;
	st->workqueue = env->options[OPT_WORKQUEUE] != 0;
	st->max_queues = (uint32_t)env->options[OPT_MAX_QUEUES];
	st->max_items = (uint32_t)env->options[OPT_MAX_ITEMS];
	st->inotify_fd = st->stop_fd = -1;
	pthread_mutex_init(&st->lock, NULL);
	for (size_t i = 0; i < CS_REC_BOUNDS; i++) {
		unsigned ms = bounds_ms[i];

		if (ms % 1000)
			snprintf(st->le_text[i], sizeof(st->le_text[i]), "%u.%03u", ms / 1000,
				 ms % 1000);
		else
			snprintf(st->le_text[i], sizeof(st->le_text[i]), "%u", ms / 1000);
		/* 0.005, 0.25, 1.25: no trailing zeros, as client_golang prints them. */
		for (char *e = st->le_text[i] + strlen(st->le_text[i]) - 1;
		     strchr(st->le_text[i], '.') && *e == '0'; e--)
			*e = '\0';
		st->le[i] = st->le_text[i];
	}
	st->env = env;
	err = load_module(st->attach, &load_ops, st, required_programs);
	st->env = NULL;
	if (err)
		return err;
	err = start_watcher(st);
	if (err) {
		log_warn("reconcile: the binaries' watcher did not start (%s)", strerror(-err));
		return err;
	}
	/* Before the agent drops its capabilities: the helper keeps CAP_SYS_ADMIN. */
	err = uprobe_opener_start(&st->uprobes);
	if (err)
		log_warn("reconcile: the uprobe helper did not start (%s)", strerror(-err));
	return err;
}

static int rec_attach(void *state)
{
	struct state *st = state;

	st->walk = attach_iter(st->attach, st->skel->progs.cs_rec_walk);
	return st->walk ? 0 : -ENOTSUP;
}

/* The program of a probe, for a binary whose reconcile.Result is 24 bytes or not. */
static struct bpf_program *program_of(struct state *st, enum rec_probe_kind kind, bool result24)
{
	struct reconcile_bpf *s = st->skel;

	switch (kind) {
	case REC_PROBE_BEGIN:
		return s->progs.cs_rec_begin;
	case REC_PROBE_RETURN:
		return result24 ? s->progs.cs_rec_return24 : s->progs.cs_rec_return16;
	case REC_PROBE_PANIC:
		return result24 ? s->progs.cs_rec_panic24 : s->progs.cs_rec_panic16;
	case REC_PROBE_TERMINAL:
		return s->progs.cs_rec_terminal;
	case REC_PROBE_END:
		return s->progs.cs_rec_end;
	case REC_PROBE_WQ_ADD:
		return s->progs.cs_wq_add;
	case REC_PROBE_WQ_GET:
		return s->progs.cs_wq_get;
	case REC_PROBE_WQ_DONE:
		return s->progs.cs_wq_done;
	case REC_PROBE_WQ_RETRY:
		return s->progs.cs_wq_retry;
	case REC_PROBE_WQ_RETRY_QUEUE:
		return s->progs.cs_wq_retry_queue;
	}
	return NULL;
}

static void detach_binary(struct binary *b)
{
	for (size_t i = 0; i < b->n_links; i++)
		bpf_link__destroy(b->links[i]);
	free(b->links);
	b->links = NULL;
	b->n_links = 0;
}

static void free_binary(struct state *st, struct binary *b)
{
	if (!b)
		return;
	if (b->wd >= 0)
		inotify_rm_watch(st->inotify_fd, b->wd);
	detach_binary(b);
	rec_plan_free(&b->plan);
	free(b);
}

/* The watcher thread: a probed binary written in place loses its probes now. */
static void *watch(void *arg)
{
	struct state *st = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = { { st->inotify_fd, POLLIN, 0 }, { st->stop_fd, POLLIN, 0 } };

	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(st->inotify_fd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		pthread_mutex_lock(&st->lock);
		for (char *at = buf; at < buf + n;) {
			const struct inotify_event *ev = (const void *)at;

			for (size_t i = 0; i < st->bins.n; i++) {
				struct binary *b = *(struct binary **)vec_at(&st->bins, i);

				if (b->wd != ev->wd)
					continue;
				detach_binary(b);
				inotify_rm_watch(st->inotify_fd, b->wd);
				b->wd = -1;
				b->changed = true;
				log_info("reconcile: a probed binary (inode %llu) is being "
					 "written: its "
					 "probes are removed",
					 (unsigned long long)b->ino);
			}
			at += sizeof(*ev) + ev->len;
		}
		pthread_mutex_unlock(&st->lock);
	}
	return NULL;
}

static int start_watcher(struct state *st)
{
	int err;

	st->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	st->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (st->inotify_fd < 0 || st->stop_fd < 0)
		return -errno;
	err = pthread_create(&st->watcher, NULL, watch, st);
	if (err)
		return -err;
	st->watching = true;
	return 0;
}

static bool same_file(const struct binary *b, const struct stat *s)
{
	return b->dev == s->st_dev && b->ino == s->st_ino;
}

static bool unchanged(const struct binary *b, const struct stat *s)
{
	return same_file(b, s) && b->size == s->st_size && b->mtime.tv_sec == s->st_mtim.tv_sec &&
	       b->mtime.tv_nsec == s->st_mtim.tv_nsec && b->ctime.tv_sec == s->st_ctim.tv_sec &&
	       b->ctime.tv_nsec == s->st_ctim.tv_nsec;
}

/* Attach b's probes to the file open on fd, the body of Reconcile last, so that a
 * reconcile whose start is seen has its return and its end seen too. 0 or -errno. */
static int attach_binary(struct state *st, struct binary *b, int fd)
{
	static const enum rec_probe_kind order[] = {
		REC_PROBE_END,	   REC_PROBE_TERMINAL, REC_PROBE_PANIC,	   REC_PROBE_RETURN,
		REC_PROBE_WQ_DONE, REC_PROBE_WQ_GET,   REC_PROBE_WQ_RETRY, REC_PROBE_WQ_RETRY_QUEUE,
		REC_PROBE_WQ_ADD,  REC_PROBE_BEGIN,
	};
	b->links = calloc(b->plan.n_probes, sizeof(*b->links));
	if (!b->links)
		return -ENOMEM;
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		for (size_t i = 0; i < b->plan.n_probes; i++) {
			const struct rec_probe *p = &b->plan.probes[i];
			struct bpf_link *l;

			if (p->kind != order[k] || (p->kind >= REC_PROBE_WQ_ADD && !st->workqueue))
				continue;
			int pfd = uprobe_opener_open(st->uprobes, fd, p->offset);

			if (pfd < 0) {
				detach_binary(b);
				return pfd;
			}
			l = bpf_program__attach_perf_event(
				program_of(st, p->kind, b->plan.result24), pfd);
			if (!l) {
				int err = -errno;

				close(pfd);
				detach_binary(b);
				return err ? err : -EINVAL;
			}
			b->links[b->n_links++] = l;
		}
	}
	return 0;
}

static void describe_plan(const struct state *st, const struct binary *b, char *out, size_t size)
{
	snprintf(out, size, "controller-runtime %s, %s, %zu probes from its %s%s%s%s%s",
		 b->plan.cr_version, b->plan.go_version, b->n_links,
		 b->plan.pclntab ? "function table (stripped)" : "symbol table",
		 b->plan.terminal ? "" : "; terminal errors not told apart",
		 b->plan.panics ? "" : "; panics not told apart",
		 !st->workqueue || b->plan.workqueue ? "" : "; work queues not probed: ",
		 !st->workqueue || b->plan.workqueue ? "" : b->plan.workqueue_why);
}

/* Inspect and probe the executable open on fd (s: its stat), run by process tgid. */
static struct binary *inspect(struct state *st, int fd, const struct stat *s, uint32_t tgid)
{
	struct binary *b = calloc(1, sizeof(*b));
	char why[512], exe[PATH_MAX] = "", link[64];
	struct stat after;
	ssize_t n;
	int err;

	if (!b)
		return NULL;
	snprintf(link, sizeof(link), "/proc/%u/exe", tgid);
	n = readlink(link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	*b = (struct binary){ .dev = s->st_dev,
			      .ino = s->st_ino,
			      .size = s->st_size,
			      .mtime = s->st_mtim,
			      .ctime = s->st_ctim,
			      .wd = -1 };
	st->inspected++;
	err = rec_plan_binary(fd, &b->plan, why, sizeof(why));
	if (err < 0) {
		free(b);
		return NULL;
	}
	b->skip = err;
	if (b->skip) {
		st->skipped[b->skip]++;
		log_info("reconcile: %s (pid %u) is not probed (%s): %s", exe, tgid,
			 rec_skip_names[b->skip], why);
		return b;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	b->wd = inotify_add_watch(st->inotify_fd, link, IN_MODIFY);
	err = b->wd < 0 ? -errno : attach_binary(st, b, fd);
	/* Written in place while it was read: its offsets may be another file's. */
	if (!err && (fstat(fd, &after) || !unchanged(b, &after)))
		err = -ESTALE;
	if (err == -EACCES && !st->told_eacces) {
		st->told_eacces = true;
		log_error(
			"reconcile: this kernel lets only CAP_SYS_ADMIN create uprobes, which the "
			"agent's uprobe helper lacks: add SYS_ADMIN to the container's "
			"capabilities (the chart's `capabilities`), or disable the module");
	}
	if (err) {
		if (b->wd >= 0)
			inotify_rm_watch(st->inotify_fd, b->wd);
		b->wd = -1;
		detach_binary(b);
		log_warn("reconcile: %s (pid %u): attaching its probes failed (%s)%s", exe, tgid,
			 strerror(-err), err == -ESTALE ? ": the file changed while read" : "");
		if (err == -ESTALE || err == -ENOMEM) {
			rec_plan_free(&b->plan);
			free(b);
			return NULL; /* read it again at the next tick */
		}
		/* Kept without probes: not read again while it is in use (once a minute idle). */
		return b;
	}
	describe_plan(st, b, why, sizeof(why));
	log_info("reconcile: probing %s (pid %u): %s", exe, tgid, why);
	return b;
}

/* The binary process tgid runs, inspected if it is new; NULL when it cannot be read. */
static struct binary *binary_of(struct state *st, uint32_t tgid, double now)
{
	struct binary *found = NULL;
	char path[64];
	struct stat s;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL; /* gone already, or no executable (a kernel thread) */
	if (fstat(fd, &s)) {
		close(fd);
		return NULL;
	}
	for (size_t i = 0; i < st->bins.n; i++) {
		struct binary **b = vec_at(&st->bins, i);

		if (!same_file(*b, &s))
			continue;
		if (unchanged(*b, &s) && !(*b)->changed) {
			found = *b;
			break;
		}
		/* The same inode written again: its probes may sit inside instructions now. */
		log_info("reconcile: the binary of pid %u changed in place: inspecting it again",
			 tgid);
		free_binary(st, *b);
		vec_remove(&st->bins, i);
		break;
	}
	if (!found && st->bins.n >= MAX_BINARIES) {
		size_t oldest = 0;

		for (size_t i = 1; i < st->bins.n; i++) {
			if ((*(struct binary **)vec_at(&st->bins, i))->last_used <
			    (*(struct binary **)vec_at(&st->bins, oldest))->last_used)
				oldest = i;
		}
		free_binary(st, *(struct binary **)vec_at(&st->bins, oldest));
		vec_remove(&st->bins, oldest);
	}
	if (!found && (found = inspect(st, fd, &s, tgid))) {
		struct binary **slot = vec_push(&st->bins);

		if (!slot) {
			free_binary(st, found);
			found = NULL;
		} else {
			*slot = found;
		}
	}
	close(fd);
	if (found)
		found->last_used = now;
	return found;
}

static void add_proc(const void *rec, void *ctx)
{
	struct proc *p = vec_push(ctx);

	if (p) {
		struct cs_rec_proc r;

		memcpy(&r, rec, sizeof(r));
		*p = (struct proc){ .tgid = r.tgid, .start_ns = r.start_ns, .exec_id = r.exec_id };
	}
}

static int cmp_proc(const void *a, const void *b)
{
	uint32_t x = ((const struct proc *)a)->tgid, y = ((const struct proc *)b)->tgid;

	return x < y ? -1 : x > y;
}

static const struct proc *find_proc(const struct vec *procs, uint32_t tgid)
{
	struct proc key = { .tgid = tgid };

	return procs->n ? bsearch(&key, procs->items, procs->n, sizeof(key), cmp_proc) : NULL;
}

static void count_abandoned(struct state *st, const struct cs_rec_key *key)
{
	int fd = bpf_map__fd(st->skel->maps.rec_abandoned);
	uint64_t n = 0;

	bpf_map_lookup_elem(fd, key, &n);
	n++;
	if (bpf_map_update_elem(fd, key, &n, BPF_ANY))
		log_warn("reconcile: rec_abandoned is full: active workers may stay too high");
}

/* Free the reconciles in flight of processes that are no longer live targets (they died
 * in one): their workers are not active any more. */
static void sweep_calls(struct state *st, const struct vec *live)
{
	int fd = bpf_map__fd(st->skel->maps.rec_calls);
	struct cs_rec_goroutine key, next, *prev = NULL;
	struct cs_rec_call call;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (find_proc(live, key.tgid))
			continue;
		/* Only a delete that succeeded is ours: else updateMetrics ended it. */
		if (!bpf_map_lookup_elem(fd, &key, &call) && !bpf_map_delete_elem(fd, &key))
			count_abandoned(st, &call.key);
	}
}

/* ---- work queues ---- */

struct queue_entry {
	struct cs_wq_key k;
	struct cs_wq_stats v;
};

struct name_entry {
	struct cs_wq_key k;
	struct cs_rec_key name;
};

static void add_queue(const void *key, const void *value, void *ctx)
{
	struct queue_entry *e = vec_push(ctx);

	if (e) {
		memcpy(&e->k, key, sizeof(e->k));
		memcpy(&e->v, value, sizeof(e->v));
	}
}

static void add_name(const void *key, const void *value, void *ctx)
{
	struct name_entry *e = vec_push(ctx);

	if (e) {
		memcpy(&e->k, key, sizeof(e->k));
		memcpy(&e->name, value, sizeof(e->name));
	}
}

static const struct cs_rec_key *name_of(const struct vec *names, const struct cs_wq_key *k)
{
	for (size_t i = 0; i < names->n; i++) {
		const struct name_entry *e = vec_at(names, i);

		if (e->k.tgid == k->tgid && e->k.m == k->m)
			return &e->name;
	}
	return NULL;
}

/* What a queue counted, as a published row (depth: adds - gets). */
static void counts_of(const struct cs_wq_stats *v, struct wq_counts *c, bool live)
{
	c->adds = v->adds;
	c->depth = live && v->adds > v->gets ? v->adds - v->gets : 0;
	c->retries = v->retries;
	c->queue_sum_ns = v->queue_sum_ns;
	c->work_sum_ns = v->work_sum_ns;
	memcpy(c->queue_buckets, v->queue_buckets, sizeof(c->queue_buckets));
	memcpy(c->work_buckets, v->work_buckets, sizeof(c->work_buckets));
}

static int read_queues(struct state *st, struct vec *queues, struct vec *names)
{
	int n = mapread_raw(bpf_map__fd(st->skel->maps.wq_stats), sizeof(struct cs_wq_key),
			    sizeof(struct cs_wq_stats), add_queue, queues);

	if (n >= 0)
		n = mapread_raw(bpf_map__fd(st->skel->maps.wq_names), sizeof(struct cs_wq_key),
				sizeof(struct cs_rec_key), add_name, names);
	if (n < 0)
		return n;
	return queues->failed || names->failed ? -ENOMEM : 0;
}

/* Add a dead process's queue v into the totals of its controller (wq_folded). */
static void fold(struct state *st, const struct cs_rec_key *name, const struct cs_wq_stats *v)
{
	int fd = bpf_map__fd(st->skel->maps.wq_folded);
	struct cs_wq_stats t = { 0 };

	bpf_map_lookup_elem(fd, name, &t);
	t.adds += v->adds;
	t.retries += v->retries;
	t.queue_sum_ns += v->queue_sum_ns;
	t.work_sum_ns += v->work_sum_ns;
	for (size_t i = 0; i <= CS_WQ_BOUNDS; i++) {
		t.queue_buckets[i] += v->queue_buckets[i];
		t.work_buckets[i] += v->work_buckets[i];
	}
	if (bpf_map_update_elem(fd, name, &t, BPF_ANY))
		log_warn("reconcile: wq_folded is full: a dead process's queue is not counted");
}

/* The queues of processes that are no longer live targets: their counts go into the
 * totals (a counter never goes back when its process dies), their entries away. */
static void sweep_queues(struct state *st, const struct vec *live)
{
	struct vec queues = VEC_INIT(struct queue_entry), names = VEC_INIT(struct name_entry);
	int qfd = bpf_map__fd(st->skel->maps.wq_stats), nfd = bpf_map__fd(st->skel->maps.wq_names);
	int tfd = bpf_map__fd(st->skel->maps.wq_times);
	struct cs_wq_item key, next, *prev = NULL;

	if (read_queues(st, &queues, &names))
		goto out;
	for (size_t i = 0; i < queues.n; i++) {
		const struct queue_entry *q = vec_at(&queues, i);
		const struct cs_rec_key *name;

		if (find_proc(live, q->k.tgid))
			continue;
		name = name_of(&names, &q->k);
		if (name)
			fold(st, name, &q->v);
		bpf_map_delete_elem(qfd, &q->k);
	}
	for (size_t i = 0; i < names.n; i++) {
		const struct name_entry *e = vec_at(&names, i);

		if (!find_proc(live, e->k.tgid))
			bpf_map_delete_elem(nfd, &e->k);
	}
	while (!bpf_map_get_next_key(tfd, prev, &next)) {
		key = next;
		prev = &key;
		if (!find_proc(live, key.tgid))
			bpf_map_delete_elem(tfd, &key);
	}
out:
	vec_free(&queues);
	vec_free(&names);
}

static uint64_t target_gen(struct state *st)
{
	uint32_t zero = 0;
	uint64_t gen = 0;

	bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.target_gen), &zero, &gen);
	return gen;
}

static void rec_tick(void *state)
{
	struct state *st = state;
	struct vec live = VEC_INIT(struct proc);
	double now = clock_seconds(CLOCK_MONOTONIC);
	uint64_t gen = target_gen(st);

	/* The walk visits every task of the node: only when the targets changed (a target
	 * started, executed, exited, or one became or stopped being a target), and every
	 * WALK_BACKSTOP_SECONDS in case the kernel skipped reporting one of those. */
	if (gen == st->walked_gen && now - st->walked_at < WALK_BACKSTOP_SECONDS) {
		pthread_mutex_lock(&st->lock);
		for (size_t i = 0; i < st->procs.n; i++) {
			struct proc *p = vec_at(&st->procs, i);

			if (p->bin)
				p->bin->last_used = now;
		}
		pthread_mutex_unlock(&st->lock);
		return;
	}
	if (attach_read_iter(st->walk, sizeof(struct cs_rec_proc), add_proc, &live) ||
	    live.failed) {
		vec_free(&live);
		return;
	}
	st->walked_gen = gen;
	st->walked_at = now;
	qsort(live.items, live.n, sizeof(struct proc), cmp_proc);
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < live.n; i++) {
		struct proc *p = vec_at(&live, i);
		const struct proc *old = find_proc(&st->procs, p->tgid);

		/* The same process running the same program (an exec in place runs another). */
		if (old && old->start_ns == p->start_ns && old->exec_id == p->exec_id && old->bin) {
			p->bin = old->bin;
			p->bin->last_used = now;
		} else {
			p->bin = binary_of(st, p->tgid, now);
		}
	}
	vec_free(&st->procs);
	st->procs = live;
	sweep_calls(st, &st->procs);
	if (st->workqueue)
		sweep_queues(st, &st->procs);
	for (size_t i = 0; i < st->bins.n;) {
		struct binary *b = *(struct binary **)vec_at(&st->bins, i);

		if (now - b->last_used < BINARY_IDLE_SECONDS) {
			i++;
			continue;
		}
		/* Processes that still point at it are gone: none is live. */
		free_binary(st, b);
		vec_remove(&st->bins, i);
	}
	pthread_mutex_unlock(&st->lock);
}

static void add_stats(const void *key, const void *value, void *ctx)
{
	struct stats_row *row = vec_push(ctx);

	if (!row)
		return;
	memcpy(&row->key, key, sizeof(row->key));
	memcpy(&row->v, value, sizeof(row->v));
}

static int cmp_stats(const void *a, const void *b)
{
	const struct cs_rec_key *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return memcmp(x->name, y->name, sizeof(x->name));
}

static const struct row_shape stats_shape = { sizeof(struct cs_rec_key),
					      offsetof(struct stats_row, v), cmp_stats };

/* The series' names: ctrlscope's own, or controller-runtime's. */
enum family {
	F_TOTAL,
	F_ERRORS,
	F_TERMINAL,
	F_PANICS,
	F_TIME,
	F_ACTIVE,
	F_COUNT,
};

static const char *const family_names[2][F_COUNT] = {
	{ "ctrlscope_reconcile_total", "ctrlscope_reconcile_errors_total",
	  "ctrlscope_reconcile_terminal_errors_total", "ctrlscope_reconcile_panics_total",
	  "ctrlscope_reconcile_duration_seconds", "ctrlscope_reconcile_active_workers" },
	{ "controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total",
	  "controller_runtime_terminal_reconcile_errors_total",
	  "controller_runtime_reconcile_panics_total", "controller_runtime_reconcile_time_seconds",
	  "controller_runtime_active_workers" },
};

static const char *const family_help[F_COUNT] = {
	"Reconciles of a controller, by result (controller-runtime's precedence).",
	"Reconciles of a controller that returned an error (panics included).",
	"Reconciles of a controller that returned a reconcile.TerminalError.",
	"Panics in a controller's Reconcile that controller-runtime recovered.",
	"Time of a controller's reconciles (reconcileHandler, as controller-runtime times it).",
	"Reconciles of a controller running now.",
};

static const char *const result_names[CS_REC_RESULTS] = {
	[CS_REC_SUCCESS] = "success",
	[CS_REC_ERROR] = "error",
	[CS_REC_REQUEUE_AFTER] = "requeue_after",
	[CS_REC_REQUEUE] = "requeue",
};

static void write_family(struct state *st, struct scrape *c, const struct vec *rows, enum family f)
{
	const char *type = f == F_TIME ? "histogram" : f == F_ACTIVE ? "gauge" : "counter";
	struct label labels[SLOT_MAX_LABELS + 2];
	char name[CS_CTRL_NAME_LEN + 1];

	expo_family(c->e, family_names[st->cr_names][f], type, family_help[f]);
	for (size_t i = 0; i < rows->n; i++) {
		const struct stats_row *r = vec_at(rows, i);
		size_t n = slot_labels(c->slots, r->key.slot, labels);
		const struct cs_rec_stats *v = &r->v;

		if (!n)
			continue;
		memcpy(name, r->key.name, CS_CTRL_NAME_LEN);
		name[CS_CTRL_NAME_LEN] = '\0';
		labels[n++] = (struct label){ "controller", name };
		switch (f) {
		case F_TOTAL:
			for (int res = 0; res < CS_REC_RESULTS; res++) {
				labels[n] = (struct label){ "result", result_names[res] };
				expo_u64(c->e, labels, n + 1, v->results[res]);
			}
			break;
		case F_ERRORS:
			expo_u64(c->e, labels, n, v->results[CS_REC_ERROR]);
			break;
		case F_TERMINAL:
			expo_u64(c->e, labels, n, v->terminal);
			break;
		case F_PANICS:
			expo_u64(c->e, labels, n, v->panics);
			break;
		case F_TIME: {
			struct expo_hist h = { st->le, (const uint64_t *)v->buckets,
					       CS_REC_BOUNDS + 1, (double)v->sum_ns / 1e9 };

			expo_histogram(c->e, labels, n, &h);
			break;
		}
		case F_ACTIVE:
			expo_u64(c->e, labels, n, v->begun > v->ended ? v->begun - v->ended : 0);
			break;
		default:
			break;
		}
	}
}

static const struct row_shape wq_shape = { sizeof(struct cs_rec_key), offsetof(struct wq_row, v),
					   cmp_stats };

/* client_golang's formatting of ExponentialBuckets(10e-9, 10, 12). */
static const char *const wq_le[CS_WQ_BOUNDS] = {
	"1e-08",
	"1e-07",
	"1e-06",
	"9.999999999999999e-06",
	"9.999999999999999e-05",
	"0.001",
	"0.01",
	"0.1",
	"1",
	"10",
	"100",
	"1000",
};

enum wq_family { W_ADDS, W_DEPTH, W_QUEUE, W_WORK, W_RETRIES, W_COUNT };

static const char *const wq_names[2][W_COUNT] = {
	{ "ctrlscope_workqueue_adds_total", "ctrlscope_workqueue_depth",
	  "ctrlscope_workqueue_queue_duration_seconds", "ctrlscope_workqueue_work_duration_seconds",
	  "ctrlscope_workqueue_retries_total" },
	{ "workqueue_adds_total", "workqueue_depth", "workqueue_queue_duration_seconds",
	  "workqueue_work_duration_seconds", "workqueue_retries_total" },
};

static const char *const wq_help[W_COUNT] = {
	"Items added to a controller's work queue (not already waiting in it).",
	"Items waiting in a controller's work queue now.",
	"Time an item waited in a controller's work queue before a worker took it.",
	"Time a worker spent on an item of a controller's work queue.",
	"Items put back into a controller's work queue with a delay or a rate limit.",
};

/* The label set's labels, the controller, and with controller-runtime's names its queue's
 * name (the controller's): n labels in out. */
static size_t queue_labels(const struct state *st, const struct scrape *c,
			   const struct cs_rec_key *k, char *name, struct label *out)
{
	size_t n = slot_labels(c->slots, k->slot, out);

	if (!n)
		return 0;
	memcpy(name, k->name, CS_CTRL_NAME_LEN);
	name[CS_CTRL_NAME_LEN] = '\0';
	out[n++] = (struct label){ "controller", name };
	if (st->cr_names)
		out[n++] = (struct label){ "name", name };
	return n;
}

static void write_queues(struct state *st, struct scrape *c, const struct vec *rows)
{
	struct label labels[SLOT_MAX_LABELS + 2];
	char name[CS_CTRL_NAME_LEN + 1];

	for (int f = 0; f < W_COUNT; f++) {
		expo_family(c->e, wq_names[st->cr_names][f],
			    f == W_DEPTH		  ? "gauge"
			    : f == W_QUEUE || f == W_WORK ? "histogram"
							  : "counter",
			    wq_help[f]);
		for (size_t i = 0; i < rows->n; i++) {
			const struct wq_row *r = vec_at(rows, i);
			size_t n = queue_labels(st, c, &r->key, name, labels);
			struct expo_hist h = { wq_le, NULL, CS_WQ_BOUNDS + 1, 0 };

			if (!n)
				continue;
			switch (f) {
			case W_ADDS:
				expo_u64(c->e, labels, n, r->v.adds);
				break;
			case W_DEPTH:
				expo_u64(c->e, labels, n, r->v.depth);
				break;
			case W_RETRIES:
				expo_u64(c->e, labels, n, r->v.retries);
				break;
			case W_QUEUE:
			case W_WORK:
				h.counts = f == W_QUEUE ? r->v.queue_buckets : r->v.work_buckets;
				h.sum = (double)(f == W_QUEUE ? r->v.queue_sum_ns
							      : r->v.work_sum_ns) /
					1e9;
				expo_histogram(c->e, labels, n, &h);
				break;
			default:
				break;
			}
		}
	}
}

static void add_folded(const void *key, const void *value, void *ctx)
{
	struct wq_row *row = vec_push(ctx);

	if (row) {
		memcpy(&row->key, key, sizeof(row->key));
		counts_of(value, &row->v, false);
	}
}

/* Every queue whose controller is known, live ones and the totals of dead ones, with the
 * retries counted by goroutine (recs), one row per (label set, controller). */
static int queue_rows(struct state *st, struct scrape *c, const struct vec *recs, struct vec *rows)
{
	struct vec queues = VEC_INIT(struct queue_entry), names = VEC_INIT(struct name_entry);
	int err = read_queues(st, &queues, &names);

	for (size_t i = 0; !err && i < queues.n; i++) {
		const struct queue_entry *q = vec_at(&queues, i);
		const struct cs_rec_key *name = name_of(&names, &q->k);
		struct wq_row *row;

		if (!name)
			continue; /* no worker of it finished an item yet */
		row = vec_push(rows);
		if (!row)
			break;
		row->key = *name;
		counts_of(&q->v, &row->v, true);
	}
	if (!err)
		err = mapread_raw(bpf_map__fd(st->skel->maps.wq_folded), sizeof(struct cs_rec_key),
				  sizeof(struct cs_wq_stats), add_folded, rows);
	if (err > 0)
		err = 0;
	for (size_t i = 0; !err && i < recs->n; i++) {
		const struct stats_row *r = vec_at(recs, i);
		struct wq_row *row;

		if (!r->v.retries)
			continue;
		row = vec_push(rows);
		if (row) {
			row->key = r->key;
			row->v.retries = r->v.retries;
		}
	}
	if (!err && rows->failed)
		err = -ENOMEM;
	if (!err)
		rows_merge_aliases(rows, &wq_shape, c->slots);
	scrape_report_map(c, "wq_stats", queues.n, st->max_queues,
			  __atomic_load_n(&st->skel->bss->queues_full, __ATOMIC_RELAXED));
	{
		int fd = bpf_map__fd(st->skel->maps.wq_times);
		struct cs_wq_item k, next, *prev = NULL;
		uint64_t items = 0;
		double t0 = clock_seconds(CLOCK_MONOTONIC);

		while (!bpf_map_get_next_key(fd, prev, &next)) {
			k = next;
			prev = &k;
			items++;
		}
		mapread_clock_add(clock_seconds(CLOCK_MONOTONIC) - t0);
		scrape_report_map(c, "wq_times", items, st->max_items,
				  __atomic_load_n(&st->skel->bss->times_full, __ATOMIC_RELAXED));
	}
	vec_free(&queues);
	vec_free(&names);
	return err;
}

static void write_self(struct state *st, struct scrape *c)
{
	size_t probed = 0, probes = 0;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->bins.n; i++) {
		const struct binary *b = *(struct binary **)vec_at(&st->bins, i);

		probed += b->n_links > 0;
		probes += b->n_links;
	}
	pthread_mutex_unlock(&st->lock);
	expo_family(c->e, "ctrlscope_go_binaries_inspected_total", "counter",
		    "Executables of target processes the reconcile module read.");
	expo_u64(c->e, NULL, 0, st->inspected);
	expo_family(c->e, "ctrlscope_go_binaries_skipped_total", "counter",
		    "Executables of target processes given no reconcile probes, by reason.");
	for (int r = REC_SKIP_UNREADABLE; r < REC_SKIPS; r++) {
		struct label l = { "reason", rec_skip_names[r] };

		expo_u64(c->e, &l, 1, st->skipped[r]);
	}
	expo_family(c->e, "ctrlscope_reconcile_binaries_probed", "gauge",
		    "controller-runtime executables with reconcile probes now.");
	expo_u64(c->e, NULL, 0, probed);
	expo_family(c->e, "ctrlscope_reconcile_probes_attached", "gauge",
		    "Reconcile uprobes attached now, over every probed executable.");
	expo_u64(c->e, NULL, 0, probes);
}

static void add_abandoned(const void *key, const void *value, void *ctx)
{
	struct abandoned *a = vec_push(ctx);

	if (a) {
		memcpy(&a->key, key, sizeof(a->key));
		memcpy(&a->n, value, sizeof(a->n));
	}
}

static int rec_collect(void *state, struct scrape *c)
{
	struct state *st = state;
	struct vec rows = VEC_INIT(struct stats_row), abandoned = VEC_INIT(struct abandoned);
	int n = mapread_raw(bpf_map__fd(st->skel->maps.rec_stats), sizeof(struct cs_rec_key),
			    sizeof(struct cs_rec_stats), add_stats, &rows);
	int calls = 0;
	struct cs_rec_goroutine k, next, *prev = NULL;
	int fd = bpf_map__fd(st->skel->maps.rec_calls);
	double t0;

	if (n < 0 || rows.failed) {
		vec_free(&rows);
		return n < 0 ? n : -ENOMEM;
	}
	/* Reconciles abandoned by a dying process ended there. */
	if (mapread_raw(bpf_map__fd(st->skel->maps.rec_abandoned), sizeof(struct cs_rec_key),
			sizeof(uint64_t), add_abandoned, &abandoned) < 0 ||
	    abandoned.failed) {
		vec_free(&rows);
		vec_free(&abandoned);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rows.n; i++) {
		struct stats_row *r = vec_at(&rows, i);

		for (size_t j = 0; j < abandoned.n; j++) {
			const struct abandoned *a = vec_at(&abandoned, j);

			if (!memcmp(&a->key, &r->key, sizeof(a->key)))
				r->v.ended += a->n;
		}
	}
	vec_free(&abandoned);
	rows_merge_aliases(&rows, &stats_shape, c->slots);
	for (int f = 0; f < F_COUNT; f++)
		write_family(st, c, &rows, f);
	if (st->workqueue) {
		struct vec wq = VEC_INIT(struct wq_row);
		int err = queue_rows(st, c, &rows, &wq);

		if (!err)
			write_queues(st, c, &wq);
		vec_free(&wq);
		if (err) {
			vec_free(&rows);
			return err;
		}
	}
	write_self(st, c);
	t0 = clock_seconds(CLOCK_MONOTONIC);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		calls++;
	}
	mapread_clock_add(clock_seconds(CLOCK_MONOTONIC) - t0);
	scrape_report_map(c, "rec_stats", (uint64_t)n, st->max_controllers,
			  __atomic_load_n(&st->skel->bss->stats_full, __ATOMIC_RELAXED));
	scrape_report_map(c, "rec_calls", (uint64_t)calls, st->max_in_flight,
			  __atomic_load_n(&st->skel->bss->calls_full, __ATOMIC_RELAXED));
	vec_free(&rows);
	return 0;
}

static void rec_forget_slot(void *state, uint32_t slot)
{
	struct state *st = state;

	map_delete_slot_keys(bpf_map__fd(st->skel->maps.rec_stats), sizeof(struct cs_rec_key),
			     slot);
	map_delete_slot_keys(bpf_map__fd(st->skel->maps.rec_abandoned), sizeof(struct cs_rec_key),
			     slot);
	map_delete_slot_keys(bpf_map__fd(st->skel->maps.wq_folded), sizeof(struct cs_rec_key),
			     slot);
}

static void rec_close(void *state)
{
	struct state *st = state;

	if (!st)
		return;
	if (st->watching) {
		uint64_t one = 1;

		if (write(st->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(st->watcher, NULL);
	}
	for (size_t i = 0; i < st->bins.n; i++)
		free_binary(st, *(struct binary **)vec_at(&st->bins, i));
	vec_free(&st->bins);
	vec_free(&st->procs);
	attach_detach(st->attach);
	reconcile_bpf__destroy(st->skel);
	uprobe_opener_stop(st->uprobes);
	if (st->inotify_fd >= 0)
		close(st->inotify_fd);
	if (st->stop_fd >= 0)
		close(st->stop_fd);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

const struct module reconcile_module = {
	.name = MODULE_NAME,
	.options = options,
	.open = rec_open,
	.attach = rec_attach,
	.collect = rec_collect,
	.forget_slot = rec_forget_slot,
	.tick = rec_tick,
	.close = rec_close,
};
