/* Kernel-side tests: load bpf/targets.bpf.c and every module's object into the running
 * kernel, select fixture processes by filling the filter maps directly, and assert the
 * exact contents of the maps after the fixtures made a known number of calls. User-space
 * selection logic is not involved here (tests/e2e covers it). Every test runs in up to
 * three rounds: with the BTF tracepoint programs, with their classic tracepoint variants
 * (kfeatures.h), and with the fallbacks for kernels before 5.12 (task state in a hash map,
 * rows from queues), which run on any kernel. Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <ctrlscope/net.h>
#include <ctrlscope/proc.h>
#include <ctrlscope/sched.h>
#include <ctrlscope/syscalls.h>
#include <ctrlscope/targets.h>

#include "cgroups.h"
#include "attach.h"
#include "kfeatures.h"
#include "load.h"
#include "mapread.h"
#include "net.skel.h"
#include "proc.skel.h"
#include "sched.skel.h"
#include "syscalls.skel.h"
#include "targets.skel.h"

#define MAX_SLOTS 64
#define MAX_ROWS  512
#define TARGET	  3 /* any target index: the maps do not care about the config */

struct env {
	struct targets_bpf *t;
	struct syscalls_bpf *s;
	struct sched_bpf *sc;
	struct proc_bpf *p;
	struct net_bpf *n;
	char mount[1024];
	char base[256]; /* our cgroup subtree, below the mount */
};

struct fixture {
	pid_t pid;
	int port;  /* netload: the port it listens on or connects to */
	int to;	   /* its stdin */
	FILE *out; /* its stdout */
};

static char sysload[PATH_MAX], netload[PATH_MAX];
static bool classic;   /* this round loads the classic tracepoint variants */
static bool fallbacks; /* this round keeps task state in a hash map (cs_task_hash) */

/* --- cgroups ----------------------------------------------------------------------- */

static uint64_t cgroup_make(struct env *env, const char *name)
{
	char path[2048];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s/%s", env->mount, env->base, name);
	if (mkdir(path, 0755) && errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void cgroup_remove_all(struct env *env)
{
	const char *names[] = { "target", "other", "" };
	char path[2048];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s%s/%s", env->mount, env->base, names[i]);
		for (int tries = 0; tries < 100 && rmdir(path) && errno == EBUSY; tries++)
			usleep(10000);
	}
}

/* --- fixtures ---------------------------------------------------------------------- */

static void fixture_startv(struct fixture *f, struct env *env, const char *binary,
			   const char *cgroup, va_list ap)
{
	const char *argv[32] = { binary };
	int in[2], out[2], n = 1;
	char line[64], procs[2048];

	while (n < 31 && (argv[n] = va_arg(ap, const char *)))
		n++;
	argv[n] = NULL;
	snprintf(procs, sizeof(procs), "%s%s/%s/cgroup.procs", env->mount, env->base,
		 cgroup ? cgroup : "");
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		int fd;

		dup2(in[0], 0);
		dup2(out[1], 1);
		/* Nothing between joining the cgroup and exec: the fd closes on exec, so no
		 * call is made under this test program's own name. */
		if (cgroup) {
			fd = open(procs, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0\n", 2) != 2)
				_exit(126);
		}
		execv(binary, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f->to = in[1];
	f->out = fdopen(out[0], "r");
	assert_non_null(f->out);
	assert_non_null(fgets(line, sizeof(line), f->out));
	f->port = 0;
	assert_true(sscanf(line, "ready %d %d", &n, &f->port) >= 1);
	assert_int_equal(n, f->pid);
}

/* sysload with the arguments (NULL-terminated), in cgroup (NULL: none of ours). */
static void fixture_start(struct fixture *f, struct env *env, const char *cgroup, ...)
{
	va_list ap;

	va_start(ap, cgroup);
	fixture_startv(f, env, sysload, cgroup, ap);
	va_end(ap);
}

static void netload_start(struct fixture *f, struct env *env, const char *cgroup, ...)
{
	va_list ap;

	va_start(ap, cgroup);
	fixture_startv(f, env, netload, cgroup, ap);
	va_end(ap);
}

static void fixture_round(struct fixture *f)
{
	char line[64];

	assert_int_equal(write(f->to, "g", 1), 1);
	assert_non_null(fgets(line, sizeof(line), f->out));
	assert_string_equal(line, "done\n");
}

/* Go, and the words after "done" (netload: a result per connection). */
static void fixture_round_said(struct fixture *f, const char *said)
{
	char line[64], want[64];

	assert_int_equal(write(f->to, "g", 1), 1);
	assert_non_null(fgets(line, sizeof(line), f->out));
	snprintf(want, sizeof(want), "done %s\n", said);
	assert_string_equal(line, want);
}

static void fixture_finish(struct fixture *f)
{
	int status;

	close(f->to);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fclose(f->out);
}

/* A non-target process that only burns CPU, to make the fixtures' threads migrate. */
static pid_t hog_start(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			__asm__ volatile("" ::: "memory");
	}
	return pid;
}

static void hog_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* --- maps -------------------------------------------------------------------------- */

static void select_tgid(struct env *env, uint32_t tgid)
{
	struct cs_match m = { .target = TARGET, .key_by = CS_KEY_BY_COMM };

	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env->t->maps.tgid_targets), &tgid, &m, BPF_ANY), 0);
}

static void select_cgroup(struct env *env, uint64_t cgid)
{
	struct cs_match m = { .target = TARGET, .key_by = CS_KEY_BY_COMM };

	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env->t->maps.cgroup_targets), &cgid, &m, BPF_ANY),
		0);
}

static bool tgid_selected(struct env *env, uint32_t tgid)
{
	struct cs_match m;

	return !bpf_map_lookup_elem(bpf_map__fd(env->t->maps.tgid_targets), &tgid, &m);
}

/* Rerun the kernel's classification for one process's threads (for every task where the
 * kernel cannot iterate one process: before Linux 6.1). */
static void classify(struct env *env, uint32_t pid)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info = { .task.pid = pid };
	struct bpf_link *link;
	char sink[16];
	int fd;

	opts.link_info = &info;
	opts.link_info_len = sizeof(info);
	link = bpf_program__attach_iter(env->t->progs.cs_classify_iter, &opts);
	if (!link && (errno == EINVAL || errno == E2BIG))
		link = bpf_program__attach_iter(env->t->progs.cs_classify_iter, NULL);
	assert_non_null(link);
	fd = bpf_iter_create(bpf_link__fd(link));
	assert_true(fd >= 0);
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	bpf_link__destroy(link);
}

/* The task storage of a process's main thread, through a pidfd; false when it has none.
 * (A pidfd of any other thread needs PIDFD_THREAD, Linux 6.9: the kernel tier runs on
 * older kernels too.) */
static bool task_state_of(struct env *env, pid_t pid, struct cs_task *out)
{
	int fd, err;

	if (fallbacks) /* keyed by thread id */
		return !bpf_map_lookup_elem(bpf_map__fd(env->t->maps.task_state), &pid, out);
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	assert_true(fd >= 0);
	err = bpf_map_lookup_elem(bpf_map__fd(env->t->maps.task_state), &fd, out);
	close(fd);
	return !err;
}

/* Fallbacks: the entries of the task state hash map, once no more are being freed (up to
 * 20 s: grace periods are slow under TCG, and lazy RCU callbacks wait about 10 s). */
static int task_states_settled(struct env *env)
{
	int fd = bpf_map__fd(env->t->maps.task_state), n = -1;

	for (int round = 0; round < 200; round++) {
		int key, next, count = 0;
		int *prev = NULL;

		while (!bpf_map_get_next_key(fd, prev, &next)) {
			key = next;
			prev = &key;
			count++;
		}
		if (count == 0)
			return 0;
		n = count;
		usleep(100 * 1000);
	}
	return n;
}

static uint32_t slot_of(struct env *env, const char *comm)
{
	struct cs_slot_key key = { .target = TARGET, .key_by = CS_KEY_BY_COMM };
	uint32_t slot;

	memcpy(key.comm, comm, strnlen(comm, sizeof(key.comm) - 1));
	if (bpf_map_lookup_elem(bpf_map__fd(env->t->maps.label_sets), &key, &slot))
		return CS_SLOT_NONE;
	return slot;
}

/* Summed statistics of (slot, nr); zeroes when no row was allocated. */
static struct cs_sys_stats stats_of(struct env *env, uint32_t slot, uint32_t nr)
{
	uint32_t index = CS_SYS_ROW_INDEX(slot, nr);
	struct cs_sys_stats stats = { 0 };
	struct cs_sys_rows rows;
	uint32_t row;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(env->s->maps.sys_rows), &index, &rows), 0);
	row = rows.row[CS_SYS_ROW_HALF(nr)];
	if (row)
		assert_int_equal(mapread_array(bpf_map__fd(env->s->maps.sys_stats), row, 1,
					       sizeof(stats), 1, &stats),
				 0);
	return stats;
}

static uint64_t calls_of(const struct cs_sys_stats *s)
{
	uint64_t n = 0;

	for (int b = 0; b < CS_HIST_BUCKETS; b++)
		n += s->buckets[b];
	return n;
}

struct err_sum {
	struct cs_sys_err_key want;
	uint64_t count;
	uint64_t any_for_slot;
};

static void sum_error(const void *key, const uint64_t *sum, void *ctx)
{
	const struct cs_sys_err_key *k = key;
	struct err_sum *e = ctx;

	if (k->slot == e->want.slot)
		e->any_for_slot += sum[0];
	if (k->slot == e->want.slot && k->nr == e->want.nr && k->err == e->want.err)
		e->count += sum[0];
}

static uint64_t errors_of(struct env *env, uint32_t slot, uint32_t nr, uint32_t err)
{
	struct err_sum e = { .want = { .slot = slot, .nr = nr, .err = err } };

	assert_true(mapread_u64s(bpf_map__fd(env->s->maps.sys_errors),
				 sizeof(struct cs_sys_err_key), 1, 1, sum_error, &e) >= 0);
	return e.count;
}

/* Calls counted for every slot but keep: must stay 0 when only keep is a target. */
static uint64_t calls_outside(struct env *env, uint32_t keep)
{
	uint32_t used = env->s->data->next_row;
	struct cs_sys_stats *stats = calloc(MAX_ROWS, sizeof(*stats));
	struct cs_sys_key *keys = calloc(MAX_ROWS, sizeof(*keys));
	uint64_t n = 0;

	assert_non_null(stats);
	assert_non_null(keys);
	if (used > 1) {
		assert_int_equal(mapread_array(bpf_map__fd(env->s->maps.sys_stats), 1, used - 1,
					       sizeof(*stats), 1, stats),
				 0);
		assert_int_equal(mapread_array(bpf_map__fd(env->s->maps.sys_row_keys), 1, used - 1,
					       sizeof(*keys), 0, keys),
				 0);
	}
	for (uint32_t i = 0; i + 1 < used; i++) {
		if (keys[i].slot != keep && keys[i].slot != CS_SLOT_NONE)
			n += calls_of(&stats[i]);
	}
	free(stats);
	free(keys);
	return n;
}

/* --- setup ------------------------------------------------------------------------- */

/* Point a module's shared maps at the core's before it loads. */
static int reuse_shared(struct env *env, struct bpf_map *task_state, struct bpf_map *target_gen)
{
	return bpf_map__reuse_fd(task_state, bpf_map__fd(env->t->maps.task_state)) ||
	       bpf_map__reuse_fd(target_gen, bpf_map__fd(env->t->maps.target_gen));
}

static int load_sched(struct env *env)
{
	unsigned int pointers;
	bool nostate = load_tracepoint_args(NULL, "sched_switch", &pointers) < 4;

	env->sc = sched_bpf__open();
	if (!env->sc)
		return -1;
	env->sc->rodata->cs_task_hash = fallbacks;
	bpf_map__set_max_entries(env->sc->maps.sched_stats, MAX_SLOTS);
	bpf_program__set_autoattach(env->sc->progs.cs_sched_walk, false);
	bpf_program__set_autoload(env->sc->progs.cs_sched_switch, !nostate);
	bpf_program__set_autoload(env->sc->progs.cs_sched_switch_nostate, nostate);
	if (reuse_shared(env, env->sc->maps.task_state, env->sc->maps.target_gen))
		return -1;
	return sched_bpf__load(env->sc);
}

static int load_proc(struct env *env)
{
	env->p = proc_bpf__open();
	if (!env->p)
		return -1;
	env->p->rodata->cs_task_hash = fallbacks;
	bpf_map__set_max_entries(env->p->maps.proc_stats, MAX_SLOTS);
	bpf_map__set_max_entries(env->p->maps.proc_exits, 64);
	bpf_program__set_autoattach(env->p->progs.cs_proc_walk, false);
	bpf_program__set_autoload(env->p->progs.cs_proc_oom, false);
	bpf_program__set_autoload(env->p->progs.cs_proc_oom_pid, false);
	load_choose_tracepoint(env->p->progs.cs_proc_exit, env->p->progs.cs_proc_exit_tp, classic);
	if (reuse_shared(env, env->p->maps.task_state, env->p->maps.target_gen))
		return -1;
	return proc_bpf__load(env->p);
}

/* The net module's programs of this round: the socket-storage set, or with the
 * fallbacks the hash set (bpf/net.bpf.c). No walk: these tests count at close. */
static int load_net(struct env *env)
{
	const uint32_t max_ids = 256;
	struct bpf_program *prog = NULL;
	int err;

	env->n = net_bpf__open();
	if (!env->n)
		return -1;
	env->n->rodata->cs_task_hash = fallbacks;
	env->n->rodata->max_peers = 16;
	env->n->rodata->max_peer_ids = max_ids;
	bpf_map__set_max_entries(env->n->maps.net_stats, 256);
	bpf_map__set_max_entries(env->n->maps.net_peer_ids, max_ids);
	bpf_map__set_max_entries(env->n->maps.net_peer_keys, max_ids);
	if (fallbacks) {
		bpf_map__set_max_entries(env->n->maps.net_sock_hash, 1024);
		bpf_map__set_max_entries(env->n->maps.net_listeners, 64);
		bpf_map__set_max_entries(env->n->maps.net_peer_tickets, max_ids);
	}
	while ((prog = bpf_object__next_program(env->n->obj, prog))) {
		const char *name = bpf_program__name(prog);
		size_t len = strlen(name);
		bool hash = len > 5 && !strcmp(name + len - 5, "_hash");
		/* The sock_ops program (RTT samples), the walks and their sync requests are
		 * attached to cgroups and iterators by the agent, not here. */
		bool by_hand =
			!strncmp(name, "cs_net_sockops", 14) || !strncmp(name, "cs_net_walk", 11) ||
			!strncmp(name, "cs_net_list", 11) || !strncmp(name, "cs_net_sync", 11);

		bpf_program__set_autoload(prog, hash == fallbacks && !by_hand);
	}
	if (reuse_shared(env, env->n->maps.task_state, env->n->maps.target_gen))
		return -1;
	err = net_bpf__load(env->n);
	if (!err && fallbacks)
		err = load_fill_tickets(bpf_map__fd(env->n->maps.net_peer_tickets), CS_PEER_FIRST,
					max_ids);
	return err;
}

static int setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));
	char mountinfo[1 << 16];
	FILE *f;
	size_t n;

	if (!env)
		return -1;
	f = fopen("/proc/self/mountinfo", "r");
	n = f ? fread(mountinfo, 1, sizeof(mountinfo) - 1, f) : 0;
	if (f)
		fclose(f);
	mountinfo[n] = 0;
	if (cgroups_find_mount(mountinfo, env->mount, sizeof(env->mount)))
		return -1;
	snprintf(env->base, sizeof(env->base), "/ctrlscope-bpftest-%d", getpid());
	{
		char path[2048];

		snprintf(path, sizeof(path), "%s%s", env->mount, env->base);
		mkdir(path, 0755);
	}

	env->t = targets_bpf__open();
	if (!env->t)
		return -1;
	env->t->rodata->self_tgid = (uint32_t)getpid();
	bpf_map__set_max_entries(env->t->maps.label_sets, MAX_SLOTS);
	bpf_map__set_max_entries(env->t->maps.tgid_targets, 1024);
	bpf_map__set_max_entries(env->t->maps.cgroup_targets, 64);
	bpf_program__set_autoattach(env->t->progs.cs_classify_iter, false);
	bpf_program__set_autoattach(env->t->progs.cs_census_iter, false);
	load_choose_tracepoint(env->t->progs.cs_fork, env->t->progs.cs_fork_wakeup, classic);
	load_choose_tracepoint(env->t->progs.cs_exec, env->t->progs.cs_exec_tp, classic);
	load_choose_tracepoint(env->t->progs.cs_exit, env->t->progs.cs_exit_tp, classic);
	env->t->rodata->cs_task_hash = fallbacks;
	bpf_program__set_autoload(env->t->progs.cs_task_free, fallbacks);
	if (fallbacks) {
		bpf_map__set_type(env->t->maps.task_state, BPF_MAP_TYPE_HASH);
		bpf_map__set_map_flags(env->t->maps.task_state, 0);
		bpf_map__set_max_entries(env->t->maps.task_state, 4096);
	}
	bpf_map__set_max_entries(env->t->maps.slot_tickets, MAX_SLOTS);
	if (targets_bpf__load(env->t) ||
	    load_fill_tickets(bpf_map__fd(env->t->maps.slot_tickets), 0, MAX_SLOTS))
		return -1;

	env->s = syscalls_bpf__open();
	if (!env->s)
		return -1;
	bpf_map__set_max_entries(env->s->maps.sys_stats, MAX_ROWS);
	bpf_map__set_max_entries(env->s->maps.sys_row_keys, MAX_ROWS);
	bpf_map__set_max_entries(env->s->maps.sys_rows, MAX_SLOTS * CS_SYSCALL_NR_MAX / 2);
	bpf_map__set_max_entries(env->s->maps.sys_errors, 256);
	load_choose_tracepoint(env->s->progs.cs_sys_enter, env->s->progs.cs_sys_enter_tp, classic);
	load_choose_tracepoint(env->s->progs.cs_sys_exit, env->s->progs.cs_sys_exit_tp, classic);
	env->s->rodata->cs_task_hash = fallbacks;
	bpf_map__set_max_entries(env->s->maps.sys_row_tickets, MAX_ROWS);
	bpf_map__set_max_entries(env->s->maps.sys_row_owners, MAX_ROWS);
	if (bpf_map__reuse_fd(env->s->maps.task_state, bpf_map__fd(env->t->maps.task_state)) ||
	    bpf_map__reuse_fd(env->s->maps.target_gen, bpf_map__fd(env->t->maps.target_gen)) ||
	    syscalls_bpf__load(env->s))
		return -1;
	if (load_fill_tickets(bpf_map__fd(env->s->maps.sys_row_tickets), 1, MAX_ROWS))
		return -1;
	if (load_sched(env) || load_proc(env) || load_net(env))
		return -1;
	/* Modules first, the core last, as the agent does: with task state in a hash map
	 * the core's cs_task_free deletes a freed task's state after cs_sched_free read it. */
	if (sched_bpf__attach(env->sc) || proc_bpf__attach(env->p) ||
	    syscalls_bpf__attach(env->s) || net_bpf__attach(env->n) || targets_bpf__attach(env->t))
		return -1;
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	net_bpf__destroy(env->n);
	proc_bpf__destroy(env->p);
	sched_bpf__destroy(env->sc);
	syscalls_bpf__destroy(env->s);
	targets_bpf__destroy(env->t);
	cgroup_remove_all(env);
	free(env);
	return 0;
}

/* --- frees the kernel does not report ---------------------------------------------- */

/* A kernel may skip BPF programs for an event without counting a miss: this machine's
 * sandbox kernel runs none while `current` is a thread of its PID 1 (its supervisor), so
 * a task freed by an RCU callback in softirq on top of such a thread is never shown to
 * cs_sched_free or cs_task_free, and a wakeup from an interrupt there never to
 * cs_sched_wakeup (measured: about one free in 400 under churn, every one on such a
 * thread). tracefs still records the event, with the task it interrupted: a test missing
 * a free asks tracefs whether it came there, and fails unless it did. */
struct free_trace {
	char dir[128];
};

static void tracefs_write(const char *dir, const char *file, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Record the frees of tasks named comm from now on. */
static void free_trace_start(struct free_trace *ft, const char *comm)
{
	char filter[64];

	assert_int_equal(kfeatures_mount_tracefs(), 0);
	snprintf(ft->dir, sizeof(ft->dir), "/sys/kernel/tracing/instances/ctrlscope-bpftest-%d",
		 (int)getpid());
	rmdir(ft->dir);
	assert_int_equal(mkdir(ft->dir, 0700), 0);
	snprintf(filter, sizeof(filter), "comm == \"%s\"", comm);
	tracefs_write(ft->dir, "events/sched/sched_process_free/filter", filter);
	tracefs_write(ft->dir, "events/sched/sched_process_free/enable", "1");
}

static void free_trace_stop(struct free_trace *ft)
{
	tracefs_write(ft->dir, "events/sched/sched_process_free/enable", "0");
	assert_int_equal(rmdir(ft->dir), 0);
}

/* A number of /proc/<pid>/status ("Tgid", "voluntary_ctxt_switches", ...; a zombie's
 * too), or -1 when the task or the field is not there. */
static int64_t status_field(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t len = strlen(name);
	int64_t v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ':') {
			v = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Whether tracefs saw the free of thread pid come on top of a thread of PID 1: a free
 * this kernel reports to no BPF program. Lines read "<comm>-<pid> [cpu] flags time:
 * sched_process_free: comm=... pid=N prio=P". */
static bool free_came_unreported(struct free_trace *ft, pid_t pid)
{
	char path[256], line[512], want[32];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", ft->dir);
	snprintf(want, sizeof(want), " pid=%d ", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		char *open = strstr(line, " ["), *dash;

		if (line[0] == '#' || !strstr(line, "sched_process_free:") || !strstr(line, want) ||
		    !open)
			continue;
		*open = 0;
		dash = strrchr(line, '-');
		if (dash && status_field((pid_t)atoi(dash + 1), "Tgid") == 1) {
			print_message("# the free of %d came on %s, a thread of PID 1: no BPF "
				      "program ran for it\n",
				      (int)pid, line + strspn(line, " "));
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* --- tests ------------------------------------------------------------------------- */

static void test_non_target_leaves_no_trace(void **state)
{
	struct env *env = *state;
	struct fixture f;
	struct cs_task ts;

	fixture_start(&f, env, NULL, "--getppid", "1000", "--openat-missing", "5", NULL);
	fixture_round(&f);
	assert_false(task_state_of(env, f.pid, &ts));
	fixture_finish(&f);
	assert_int_equal(env->s->data->next_row, 1); /* no row was ever allocated */
	{
		/* and no label set */
		struct cs_slot_key key;

		assert_int_equal(
			bpf_map_get_next_key(bpf_map__fd(env->t->maps.label_sets), NULL, &key),
			-ENOENT);
	}
}

static void test_tgid_target_exact_counts(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f, other;
	struct cs_task ts;
	uint32_t slot;
	uint64_t slow = 0;

	fixture_start(&f, env, NULL, "--getppid", "1000", "--openat-missing", "7", "--nanosleep",
		      "5", "--sleep-ns", "20000000", NULL);
	fixture_start(&other, env, NULL, "--getppid", "1000", "--openat-missing", "7", NULL);
	select_tgid(env, (uint32_t)f.pid);
	classify(env, (uint32_t)f.pid);
	assert_true(task_state_of(env, f.pid, &ts));
	slot = slot_of(env, "sysload");
	assert_int_equal(ts.slot, slot);
	fixture_round(&f);
	fixture_round(&other);
	fixture_finish(&f);
	fixture_finish(&other);

	st = stats_of(env, slot, SYS_getppid);
	assert_int_equal(calls_of(&st), 1000);
	st = stats_of(env, slot, SYS_openat);
	assert_int_equal(calls_of(&st), 7);
	assert_int_equal(errors_of(env, slot, SYS_openat, ENOENT), 7);
	st = stats_of(env, slot, SYS_nanosleep);
	assert_int_equal(calls_of(&st), 5);
	assert_true(st.sum_ns >= 5ULL * 20000000);
	/* A 20 ms sleep cannot end early: every call is above le=2^24 ns (16.8 ms). */
	for (int b = 24 - CS_HIST_MIN_EXP + 1; b < CS_HIST_BUCKETS; b++)
		slow += st.buckets[b];
	assert_int_equal(slow, 5);
	assert_int_equal(calls_outside(env, slot), 0);
}

static void test_cgroup_target_measured_from_exec(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f;
	struct cs_task ts;

	select_cgroup(env, cgroup_make(env, "target"));
	cgroup_make(env, "other");
	/* No classification pass: the exec in the selected cgroup is enough. */
	fixture_start(&f, env, "target", "--threads", "4", "--getppid", "250", NULL);
	assert_true(task_state_of(env, f.pid, &ts));
	fixture_round(&f);
	fixture_finish(&f);
	st = stats_of(env, slot_of(env, "sysload"), SYS_getppid);
	assert_int_equal(calls_of(&st), 1000);
}

static void test_rename_moves_to_new_label_set(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f;
	uint32_t renamed;

	select_cgroup(env, cgroup_make(env, "target"));
	fixture_start(&f, env, "target", "--name", "renamed-ctl", "--getppid", "300", NULL);
	renamed = slot_of(env, "renamed-ctl");
	assert_int_not_equal(renamed, CS_SLOT_NONE);
	assert_int_not_equal(slot_of(env, "sysload"), CS_SLOT_NONE); /* before the rename */
	fixture_round(&f);
	fixture_finish(&f);
	st = stats_of(env, renamed, SYS_getppid);
	assert_int_equal(calls_of(&st), 300);
	st = stats_of(env, slot_of(env, "sysload"), SYS_getppid);
	assert_int_equal(calls_of(&st), 0);
}

static void test_forked_child_inherits_and_exit_deselects(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f;

	fixture_start(&f, env, NULL, "--fork", "--getppid", "400", "--hold", NULL);
	select_tgid(env, (uint32_t)f.pid);
	classify(env, (uint32_t)f.pid);
	fixture_round(&f);
	st = stats_of(env, slot_of(env, "sysload"), SYS_getppid);
	assert_int_equal(calls_of(&st), 400); /* all made by the forked child */
	assert_true(tgid_selected(env, (uint32_t)f.pid));
	fixture_finish(&f);
	assert_false(tgid_selected(env, (uint32_t)f.pid));
}

static void test_seccomp_refused_calls_not_counted(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f;
	uint32_t slot;

	select_cgroup(env, cgroup_make(env, "target"));
	fixture_start(&f, env, "target", "--deny-getpid", "--getppid", "500", NULL);
	fixture_round(&f);
	fixture_finish(&f);
	slot = slot_of(env, "sysload");
	st = stats_of(env, slot, SYS_getppid);
	assert_int_equal(calls_of(&st), 500);
	st = stats_of(env, slot, SYS_getpid);
	assert_int_equal(calls_of(&st), 0);
	assert_int_equal(errors_of(env, slot, SYS_getpid, EPERM), 0);
}

static void test_sleeps_exact_while_threads_migrate(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f;
	pid_t hogs[2];

	select_cgroup(env, cgroup_make(env, "target"));
	fixture_start(&f, env, "target", "--threads", "4", "--nanosleep", "200", "--sleep-ns",
		      "100000", NULL);
	hogs[0] = hog_start();
	hogs[1] = hog_start();
	fixture_round(&f);
	hog_stop(hogs[0]);
	hog_stop(hogs[1]);
	fixture_finish(&f);
	st = stats_of(env, slot_of(env, "sysload"), SYS_nanosleep);
	assert_int_equal(calls_of(&st), 800);
	assert_true(st.sum_ns >= 800ULL * 100000);
}

static void test_short_lived_threads_next_to_non_target(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f, other;
	uint32_t slot;

	struct free_trace ft;

	select_cgroup(env, cgroup_make(env, "target"));
	cgroup_make(env, "other");
	free_trace_start(&ft, "sysload");
	/* Thread stacks (and so pt_regs addresses) are recycled between the two processes:
	 * the non-target memo must never carry a decision over to a new thread. */
	fixture_start(&f, env, "target", "--serial-threads", "50", "--getppid", "100", "--cpu", "0",
		      NULL);
	fixture_start(&other, env, "other", "--serial-threads", "50", "--getppid", "100", "--cpu",
		      "0", NULL);
	assert_int_equal(write(other.to, "g", 1), 1);
	fixture_round(&f);
	{
		char line[64];

		assert_non_null(fgets(line, sizeof(line), other.out));
	}
	fixture_finish(&f);
	fixture_finish(&other);
	slot = slot_of(env, "sysload");
	st = stats_of(env, slot, SYS_getppid);
	assert_int_equal(calls_of(&st), 5000);
	assert_int_equal(calls_outside(env, slot), 0);
	/* Task storage goes with its task; the fallback's hash entries are deleted when the
	 * kernel frees the task, an RCU grace period after it was reaped. */
	if (fallbacks && task_states_settled(env)) {
		int fd = bpf_map__fd(env->t->maps.task_state), key, next, *prev = NULL;

		while (!bpf_map_get_next_key(fd, prev, &next)) {
			key = next;
			prev = &key;
			assert_true(free_came_unreported(&ft, key));
		}
	}
	free_trace_stop(&ft);
}

static void test_becomes_target_midway(void **state)
{
	struct env *env = *state;
	struct cs_sys_stats st;
	struct fixture f;

	/* The first round runs as a non-target, so the memo remembers the thread; selecting
	 * it must take effect for the second round's very first call. */
	fixture_start(&f, env, NULL, "--phases", "2", "--getppid", "600", NULL);
	fixture_round(&f);
	select_tgid(env, (uint32_t)f.pid);
	classify(env, (uint32_t)f.pid);
	fixture_round(&f);
	fixture_finish(&f);
	st = stats_of(env, slot_of(env, "sysload"), SYS_getppid);
	assert_int_equal(calls_of(&st), 600);
}

static void test_label_sets_exhausted_are_counted(void **state)
{
	struct env *env = *state;
	char name[16];

	select_cgroup(env, cgroup_make(env, "target"));
	/* MAX_SLOTS distinct names fill every label set; the next one is refused. */
	for (int i = 0; i <= MAX_SLOTS; i++) {
		struct fixture f;

		snprintf(name, sizeof(name), "ctl-%d", i);
		fixture_start(&f, env, "target", "--name", name, NULL);
		fixture_round(&f);
		fixture_finish(&f);
	}
	assert_int_equal(slot_of(env, "ctl-0") != CS_SLOT_NONE, 1);
	assert_int_equal(slot_of(env, name), CS_SLOT_NONE);
	assert_true(env->t->bss->slots_exhausted >= 1);
}

/* --- proc and sched --------------------------------------------------------------- */

/* Close stdin, reap the fixture; its wait status. */
static int fixture_status(struct fixture *f)
{
	int status;

	close(f->to);
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	fclose(f->out);
	return status;
}

static uint64_t exits_of(struct env *env, uint32_t slot, uint16_t reason, uint16_t code)
{
	struct cs_exit_key key = { .slot = slot, .reason = reason, .code = code };
	uint64_t n = 0;

	bpf_map_lookup_elem(bpf_map__fd(env->p->maps.proc_exits), &key, &n);
	return n;
}

/* Every exit recorded for slot, whatever its reason and code. */
static uint64_t all_exits_of(struct env *env, uint32_t slot)
{
	int fd = bpf_map__fd(env->p->maps.proc_exits);
	struct cs_exit_key key, *prev = NULL;
	uint64_t total = 0, n;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (key.slot == slot && !bpf_map_lookup_elem(fd, &key, &n))
			total += n;
		prev = &key;
	}
	return total;
}

static struct cs_sched_stats sched_of(struct env *env, uint32_t slot)
{
	struct cs_sched_stats st;

	assert_int_equal(
		mapread_array(bpf_map__fd(env->sc->maps.sched_stats), slot, 1, sizeof(st), 1, &st),
		0);
	return st;
}

/* Run an iterator program of a module once, discarding what it writes; the number of
 * bytes it wrote. */
static size_t run_iter(struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	int fd;

	assert_non_null(link);
	fd = bpf_iter_create(bpf_link__fd(link));
	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	close(fd);
	bpf_link__destroy(link);
	return total;
}

static void test_proc_counts_each_exit_of_its_own_processes_once(void **state)
{
	struct env *env = *state;
	struct fixture exits3, killed, helper;
	uint32_t slot;
	int status;

	fixture_start(&exits3, env, NULL, "--getppid", "10", "--exit", "3", NULL);
	fixture_start(&killed, env, NULL, "--hold", NULL);
	fixture_start(&helper, env, NULL, "--fork", "--getppid", "10", NULL);
	select_tgid(env, (uint32_t)exits3.pid);
	select_tgid(env, (uint32_t)killed.pid);
	select_tgid(env, (uint32_t)helper.pid);
	classify(env, (uint32_t)exits3.pid);
	classify(env, (uint32_t)killed.pid);
	classify(env, (uint32_t)helper.pid);
	fixture_round(&exits3);
	fixture_round(&killed);
	fixture_round(&helper); /* its forked child made the calls and exited */
	status = fixture_status(&exits3);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	assert_int_equal(kill(killed.pid, SIGKILL), 0);
	status = fixture_status(&killed);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	fixture_finish(&helper);
	slot = slot_of(env, "sysload");
	assert_int_equal(exits_of(env, slot, CS_EXIT_EXITED, 3), 1);
	assert_int_equal(exits_of(env, slot, CS_EXIT_SIGNALED, SIGKILL), 1);
	assert_int_equal(exits_of(env, slot, CS_EXIT_EXITED, 0), 1); /* helper's, not its child's */
	assert_int_equal(all_exits_of(env, slot), 3);
}

static void test_proc_walk_lists_live_threads(void **state)
{
	struct env *env = *state;
	struct fixture f;

	fixture_start(&f, env, NULL, "--threads", "3", "--getppid", "5", NULL);
	select_tgid(env, (uint32_t)f.pid);
	classify(env, (uint32_t)f.pid);
	/* The main thread and three more, one slot number each. */
	assert_int_equal(run_iter(env->p->progs.cs_proc_walk), 4 * sizeof(uint32_t));
	fixture_round(&f);
	fixture_finish(&f);
	assert_int_equal(run_iter(env->p->progs.cs_proc_walk), 0);
}

/* The kernel's own count of a task's voluntary context switches (also a zombie's). */
static uint64_t voluntary_switches(pid_t pid)
{
	int64_t n = status_field(pid, "voluntary_ctxt_switches");

	assert_true(n >= 0);
	return (uint64_t)n;
}

static void test_sched_sleeps_are_voluntary_switches_counted_once(void **state)
{
	struct env *env = *state;
	struct cs_sched_stats st;
	uint64_t lo, hi, before, after, end, waits = 0;
	siginfo_t info = { 0 };
	struct free_trace ft;
	struct fixture f;
	uint32_t slot;

	/* Exact against the kernel's own count, whatever the load: a sleep whose timer
	 * expires before the thread gets to switch out (a busy host) is no switch at all.
	 * Counting starts at the classification, between two readings. */
	fixture_start(&f, env, NULL, "--phases", "2", "--nanosleep", "10", "--sleep-ns", "1000000",
		      NULL);
	lo = voluntary_switches(f.pid);
	select_tgid(env, (uint32_t)f.pid);
	classify(env, (uint32_t)f.pid);
	hi = voluntary_switches(f.pid);
	slot = slot_of(env, "sysload");
	fixture_round(&f);
	/* Scrapes claim a live task's counts; claiming again adds nothing. */
	before = voluntary_switches(f.pid);
	for (int i = 0; i < 20; i++)
		run_iter(env->sc->progs.cs_sched_walk);
	after = voluntary_switches(f.pid);
	st = sched_of(env, slot);
	assert_in_range(st.voluntary, before - hi, after - lo);
	assert_true(st.voluntary >= 10);
	/* The sleeps after the last scrape count only through the free's claim: the exit's
	 * own switch comes after the zombie's count read here. */
	free_trace_start(&ft, "sysload");
	fixture_round(&f);
	close(f.to);
	assert_int_equal(waitid(P_PID, (id_t)f.pid, &info, WEXITED | WNOWAIT), 0);
	end = voluntary_switches(f.pid);
	assert_int_equal(waitpid(f.pid, NULL, 0), f.pid);
	fclose(f.out);
	/* The kernel frees the task a grace period after the reaping: up to 5 s under TCG,
	 * and about 10 s where RCU callbacks are lazy (the claims of a whole run then come
	 * at once, late). */
	for (int tries = 0; tries < 200; tries++) {
		st = sched_of(env, slot);
		if (st.voluntary >= end - hi)
			break;
		usleep(100 * 1000);
	}
	for (int b = 0; b < CS_HIST_BUCKETS; b++)
		waits += st.wait_buckets[b];
	print_message("# switches: kernel %" PRIu64 "-%" PRIu64 " at classification, %" PRIu64
		      " at exit; counted %" PRIu64 " voluntary, %" PRIu64 " involuntary, %" PRIu64
		      " waits\n",
		      lo, hi, end, (uint64_t)st.voluntary, (uint64_t)st.involuntary, waits);
	if (st.voluntary < end - hi && free_came_unreported(&ft, f.pid)) {
		free_trace_stop(&ft);
		return; /* what the free would claim is known to be lost: nothing to check */
	}
	free_trace_stop(&ft);
	assert_in_range(st.voluntary, end - hi, end - lo + 1);
	assert_true(st.voluntary >= 20);
	assert_true(st.cpu_ns > 0);
	/* Every voluntary switch but the exit's was a sleep, and its wakeup waited for a
	 * CPU, if only briefly: at least as many waits, but for wakeups this kernel did not
	 * report (see free_came_unreported): here, at least half. */
	assert_true(waits >= (st.voluntary - 1) / 2);
}

/* Sums of net_stats over every row: only targets' sockets have rows. */
static struct cs_net_stats net_totals(struct env *env)
{
	int fd = bpf_map__fd(env->n->maps.net_stats);
	struct cs_net_stats total = { 0 }, *per_cpu;
	struct cs_net_key key, next, *prev = NULL;
	int ncpu = libbpf_num_possible_cpus();

	assert_true(ncpu > 0);
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	assert_non_null(per_cpu);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, per_cpu))
			continue;
		for (int c = 0; c < ncpu; c++) {
			for (int r = 0; r < CS_NET_RESULTS; r++)
				total.connects[r] += per_cpu[c].connects[r];
			total.sent += per_cpu[c].sent;
			total.received += per_cpu[c].received;
			total.resets_sent += per_cpu[c].resets_sent;
			total.resets_received += per_cpu[c].resets_received;
			total.open += per_cpu[c].open;
		}
	}
	free(per_cpu);
	return total;
}

/* A target client and a non-target server over loopback: the client's connection is
 * counted once, with its exact payload both ways, and nothing of the server's. */
static void test_net_target_client_exact_bytes_server_not_counted(void **state)
{
	struct env *env = *state;
	struct fixture srv, cli;
	struct cs_net_stats t = { 0 };
	char port[16];

	select_cgroup(env, cgroup_make(env, "target"));
	netload_start(&srv, env, NULL, "--name", "netsrv", "server", "127.0.0.1", "0", "--recv",
		      "1000", "--send", "3000", NULL);
	snprintf(port, sizeof(port), "%d", srv.port);
	netload_start(&cli, env, "target", "--name", "netcli", "client", "127.0.0.1", port,
		      "--send", "1000", "--recv", "3000", NULL);
	assert_int_not_equal(slot_of(env, "netcli"), CS_SLOT_NONE);
	assert_int_equal(write(srv.to, "g", 1), 1);
	fixture_round_said(&cli, "ok");
	{
		char line[64];

		assert_non_null(fgets(line, sizeof(line), srv.out));
		assert_string_equal(line, "done ok\n");
	}
	fixture_finish(&cli);
	fixture_finish(&srv);
	/* The client's socket reaches TCP_CLOSE (final counts) when it enters time-wait,
	 * right after the server's FIN: wait for it, up to 5 s. */
	for (int i = 0; i < 50; i++) {
		t = net_totals(env);
		if (t.connects[CS_NET_OK] == 1 && t.received == 3000 && t.open == 0)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(t.connects[CS_NET_OK], 1);
	for (int r = 1; r < CS_NET_RESULTS; r++)
		assert_int_equal(t.connects[r], 0);
	assert_int_equal(t.sent, 1000);
	assert_int_equal(t.received, 3000);
	assert_int_equal(t.resets_sent + t.resets_received, 0);
	assert_int_equal(t.open, 0);
}

/* A refused connection of a target: one connect with result refused, no bytes. */
static void test_net_refused_connect_counted_once(void **state)
{
	struct env *env = *state;
	struct fixture srv, cli;
	struct cs_net_stats t = { 0 };
	char port[16];

	/* A port nobody listens on: a server's, closed again. */
	netload_start(&srv, env, NULL, "server", "127.0.0.1", "0", NULL);
	snprintf(port, sizeof(port), "%d", srv.port);
	close(srv.to);
	kill(srv.pid, SIGKILL);
	waitpid(srv.pid, NULL, 0);
	fclose(srv.out);
	select_cgroup(env, cgroup_make(env, "target"));
	netload_start(&cli, env, "target", "--name", "netcli", "client", "127.0.0.1", port, NULL);
	fixture_round_said(&cli, "ECONNREFUSED");
	fixture_finish(&cli);
	for (int i = 0; i < 50 && !t.connects[CS_NET_REFUSED]; i++) {
		t = net_totals(env);
		usleep(20 * 1000);
	}
	assert_int_equal(t.connects[CS_NET_REFUSED], 1);
	assert_int_equal(t.connects[CS_NET_OK], 0);
	assert_int_equal(t.sent + t.received, 0);
	assert_int_equal(t.open, 0);
}

int main(void)
{
	struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_non_target_leaves_no_trace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tgid_target_exact_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_target_measured_from_exec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rename_moves_to_new_label_set, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forked_child_inherits_and_exit_deselects,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_seccomp_refused_calls_not_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sleeps_exact_while_threads_migrate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_lived_threads_next_to_non_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_becomes_target_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_sets_exhausted_are_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_proc_counts_each_exit_of_its_own_processes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proc_walk_lists_live_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_net_target_client_exact_bytes_server_not_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_refused_connect_counted_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_sched_sleeps_are_voluntary_switches_counted_once, setup, teardown),
	};
	const size_t n_tests = sizeof(tests) / sizeof(tests[0]);
	char self[PATH_MAX - 64], names[sizeof(tests) / sizeof(tests[0])][96];
	const char *base[sizeof(tests) / sizeof(tests[0])];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct attach_registry *attach;
	struct attach_group *core;
	struct features features;
	int failed = 0;

	if (n < 0)
		return 1;
	/* TEST_FILTER=<glob> runs the tests whose names match (cmocka: * and ? only). */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	self[n] = 0;
	/* build/tests/bpf/test_kernel -> build/fixtures/sysload */
	*strrchr(self, '/') = 0;
	*strrchr(self, '/') = 0;
	*strrchr(self, '/') = 0;
	snprintf(sysload, sizeof(sysload), "%s/fixtures/sysload", self);
	snprintf(netload, sizeof(netload), "%s/fixtures/netload", self);
	/* Where the kernel runs BTF tracepoint programs preemptibly it skips them on a CPU
	 * while a task preempted inside one waits: counts are lost by design, the agent
	 * uses the classic variants there, and only those are tested. */
	for (size_t i = 0; i < n_tests; i++)
		base[i] = tests[i].name;
	attach = attach_registry_new();
	core = attach ? attach_group_new(attach, "core") : NULL;
	if (!core || kfeatures_probe(&open_opts, TRACEPOINTS_AUTO, false, core, &features))
		return 1;
	if (features.tracepoints_preemptible)
		printf("# btf tracepoints: not run: this kernel preempts BTF tracepoint programs "
		       "(the agent uses classic tracepoints here)\n");
	else if (!features.task_storage || !features.atomics)
		printf("# btf tracepoints: not run: this kernel needs the fallbacks\n");
	else
		failed = cmocka_run_group_tests_name("btf tracepoints", tests, NULL, NULL);

	/* The same tests again, named apart, with the classic variants (which take the
	 * current task from bpf_get_current_task_btf(), Linux 5.11). */
	if (features.task_storage) {
		for (size_t i = 0; i < n_tests; i++) {
			snprintf(names[i], sizeof(names[i]), "classic: %s", base[i]);
			tests[i].name = names[i];
		}
		classic = true;
		if (kfeatures_mount_tracefs()) {
			fprintf(stderr, "no tracefs: cannot run the classic tracepoint round\n");
			return 1;
		}
		failed += cmocka_run_group_tests_name("classic tracepoints", tests, NULL, NULL);
	}

	/* And with the fallbacks, through the tracepoints the agent would use here. */
	for (size_t i = 0; i < n_tests; i++) {
		snprintf(names[i], sizeof(names[i]), "fallbacks: %s", base[i]);
		tests[i].name = names[i];
	}
	classic = features.tracepoints_preemptible;
	fallbacks = true;
	failed += cmocka_run_group_tests_name("fallbacks", tests, NULL, NULL);
	attach_registry_free(attach);
	return failed;
}
