/* ctrlscope: flags, start-up order and the signal loop. What the agent measures lives in
 * agent.c and the modules; how it is served lives in server.c. */
#include "agent.h"
#include "auth.h"
#include "kube.h"
#include "kubeconfig.h"
#include "podjoin.h"
#include "tls.h"
#include "webconfig.h"
#include "caps.h"
#include "clock.h"
#include "config.h"
#include "yamlutil.h"
#include "log.h"
#include "pin.h"
#include "server.h"
#include "targets.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>

#include "gen/version.h"

struct options {
	const char *config_file;
	const char *listen;
	const char *web_config_file;
	const char *health_listen;
	const char *snapshot_min_age;
	double snapshot_min_age_s;
	const char *kubeconfig;
	const char *btf_path;
	const char *tracepoints;
	bool fallbacks;
	const char *pin_path;
	bool unpin;
	const char *log_level;
	const char *log_format;
	bool allow_unauthenticated;
	bool strict;
	bool check_config;
	bool probe;
	bool help;
	bool version;
};

enum flag_kind { FLAG_STRING, FLAG_BOOL };

/* One row per flag (bpftool's command tables): the parser, --help and the README all
 * follow this table. */
static const struct flag {
	const char *name;
	enum flag_kind kind;
	size_t offset;
	const char *def;
	const char *arg;
	const char *help;
} flags[] = {
	{ "config.file", FLAG_STRING, offsetof(struct options, config_file),
	  "/etc/ctrlscope/config.yaml", "PATH", "YAML file with targets, limits and modules." },
	{ "web.listen-address", FLAG_STRING, offsetof(struct options, listen), ":8443", "ADDR",
	  "Address to serve /metrics on: host:port, [ipv6]:port or :port." },
	{ "web.health-address", FLAG_STRING, offsetof(struct options, health_listen), NULL, "ADDR",
	  "Also answer /healthz and /readyz, alone, in plain HTTP on this address: probes "
	  "that no client of the endpoint can starve." },
	{ "web.snapshot-min-age", FLAG_STRING, offsetof(struct options, snapshot_min_age), "1s",
	  "DURATION",
	  "Answer scrapes in the same format from the last page while it is younger than this "
	  "(at most 1m), so that scrapers arriving together cost one collection; 0s: collect "
	  "for every scrape." },
	{ "web.config.file", FLAG_STRING, offsetof(struct options, web_config_file), NULL, "PATH",
	  "Web config (TLS, authentication, authorization); with it the endpoint is HTTPS." },
	{ "kubeconfig", FLAG_STRING, offsetof(struct options, kubeconfig), NULL, "PATH",
	  "kubeconfig for the API server (pods, TokenReview, SubjectAccessReview; its "
	  "server's addresses are peer=\"kube-apiserver\"); default: in-cluster." },
	{ "web.allow-unauthenticated", FLAG_BOOL, offsetof(struct options, allow_unauthenticated),
	  NULL, NULL,
	  "Serve /metrics without authentication on a non-loopback address (logs a warning)." },
	{ "btf.path", FLAG_STRING, offsetof(struct options, btf_path), NULL, "PATH",
	  "Kernel BTF to use instead of /sys/kernel/btf/vmlinux." },
	{ "bpf.tracepoints", FLAG_STRING, offsetof(struct options, tracepoints), "auto", "MODE",
	  "How system calls, exec and exit are traced: btf (BTF tracepoints), classic (perf "
	  "event tracepoints; need tracefs) or auto (classic where this kernel may preempt "
	  "BTF tracepoint programs and so skip them)." },
	{ "bpf.fallbacks", FLAG_BOOL, offsetof(struct options, fallbacks), NULL, NULL,
	  "Use the fallbacks for kernels before 5.12 (task state in a hash map, counters "
	  "allocated from queues) on any kernel: to test them." },
	{ "bpf.pin-path", FLAG_STRING, offsetof(struct options, pin_path), NULL, "DIR",
	  "Keep the counters, label sets and target state in maps pinned under DIR (on a BPF "
	  "filesystem), so that a restarted or upgraded agent continues them." },
	{ "bpf.unpin", FLAG_BOOL, offsetof(struct options, unpin), NULL, NULL,
	  "Remove the state pinned under --bpf.pin-path and exit: after the agent is "
	  "stopped for good." },
	{ "strict", FLAG_BOOL, offsetof(struct options, strict), NULL, NULL,
	  "Exit if any enabled module or program cannot be loaded or attached." },
	{ "log.level", FLAG_STRING, offsetof(struct options, log_level), "info", "LEVEL",
	  "Least severe level logged: debug, info, warn or error." },
	{ "log.format", FLAG_STRING, offsetof(struct options, log_format), "logfmt", "FORMAT",
	  "Log line format: logfmt or json." },
	{ "check-config", FLAG_BOOL, offsetof(struct options, check_config), NULL, NULL,
	  "Check --config.file and --web.config.file (files they name are not read) and "
	  "exit." },
	{ "probe", FLAG_BOOL, offsetof(struct options, probe), NULL, NULL,
	  "Load every enabled module into this kernel without attaching, print what runs "
	  "here and which variant each module uses, and exit: 0 when every enabled module "
	  "can run, 1 when one cannot. Without a --config.file that exists, probes every "
	  "module with its default options." },
	{ "help", FLAG_BOOL, offsetof(struct options, help), NULL, NULL,
	  "Show this help and exit." },
	{ "version", FLAG_BOOL, offsetof(struct options, version), NULL, NULL,
	  "Show the version and exit." },
};

#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

/* What --probe loads without a configuration: every module with its defaults, and a
 * target that selects nothing. */
static const char probe_config[] = "targets:\n"
				   "  - name: probe\n"
				   "    process:\n"
				   "      comm: [ctrlscope-probe]\n";

static volatile sig_atomic_t stop_signal;
/* Signals that by default would end the agent without a word: noted, logged, ignored. */
static volatile sig_atomic_t got_hup, got_usr1, got_usr2;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void on_other_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_usr2 = 1;
}

/* From the main loop: say which of the ignored signals came since the last time. */
static void log_other_signals(void)
{
	if (got_usr1) {
		got_usr1 = 0;
		log_info("received SIGUSR1: ignored");
	}
	if (got_usr2) {
		got_usr2 = 0;
		log_info("received SIGUSR2: ignored");
	}
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: ctrlscope [FLAGS]\n\n"
		     "Kernel-level Prometheus metrics for Kubernetes controllers.\n\nFlags:\n");
	for (size_t i = 0; i < N_FLAGS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", flags[i].name, flags[i].arg ? "=" : "",
			 flags[i].arg ? flags[i].arg : "");
		fprintf(out, "  %-34s %s", left, flags[i].help);
		if (flags[i].def)
			fprintf(out, " (default: %s)", flags[i].def);
		fputc('\n', out);
	}
}

static int parse_flags(int argc, char **argv, struct options *o)
{
	for (size_t i = 0; i < N_FLAGS; i++) {
		if (flags[i].kind == FLAG_STRING)
			*(const char **)((char *)o + flags[i].offset) = flags[i].def;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *value = NULL;
		const struct flag *f = NULL;
		size_t len;

		if (strncmp(arg, "--", 2)) {
			fprintf(stderr,
				"ctrlscope: unexpected argument \"%s\" (flags start with --; "
				"see --help)\n",
				arg);
			return -EINVAL;
		}
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		for (size_t k = 0; k < N_FLAGS; k++) {
			if (strlen(flags[k].name) == len && !strncmp(flags[k].name, arg, len))
				f = &flags[k];
		}
		if (!f) {
			fprintf(stderr, "ctrlscope: unknown flag --%.*s (see --help)\n", (int)len,
				arg);
			return -EINVAL;
		}
		if (f->kind == FLAG_BOOL) {
			if (eq && strcmp(eq + 1, "true") && strcmp(eq + 1, "false")) {
				fprintf(stderr,
					"ctrlscope: --%s: expected true or false, got \"%s\"\n",
					f->name, eq + 1);
				return -EINVAL;
			}
			*(bool *)((char *)o + f->offset) = !eq || !strcmp(eq + 1, "true");
			continue;
		}
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		if (!value || !*value) {
			fprintf(stderr, "ctrlscope: --%s: expected a value (%s)\n", f->name,
				f->arg);
			return -EINVAL;
		}
		*(const char **)((char *)o + f->offset) = value;
	}
	if (log_set_level(o->log_level)) {
		fprintf(stderr,
			"ctrlscope: --log.level: expected debug, info, warn or error, got "
			"\"%s\"\n",
			o->log_level);
		return -EINVAL;
	}
	{
		long long ms;

		if (parse_duration_ms(o->snapshot_min_age, &ms) || ms > 60000) {
			fprintf(stderr,
				"ctrlscope: --web.snapshot-min-age: expected a duration from 0s to "
				"1m, like 1s or 500ms, got \"%s\"\n",
				o->snapshot_min_age);
			return -EINVAL;
		}
		o->snapshot_min_age_s = (double)ms / 1000;
	}
	if (log_set_format(o->log_format)) {
		fprintf(stderr, "ctrlscope: --log.format: expected logfmt or json, got \"%s\"\n",
			o->log_format);
		return -EINVAL;
	}
	return 0;
}

/* The signals the main loop handles are blocked everywhere except in its ppoll, so every
 * thread started later (libmicrohttpd's) inherits the block and the loop wakes at once.
 * SIGINT and SIGTERM stop the agent; SIGHUP, SIGUSR1 and SIGUSR2, which would end it
 * silently by default, are logged and ignored; SIGPIPE is ignored. */
static void setup_signals(sigset_t *loop_mask)
{
	static const int handled[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };
	struct sigaction stop = { .sa_handler = on_signal };
	struct sigaction other = { .sa_handler = on_other_signal };
	sigset_t block;

	sigemptyset(&stop.sa_mask);
	sigemptyset(&other.sa_mask);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &other, NULL);
	sigaction(SIGUSR1, &other, NULL);
	sigaction(SIGUSR2, &other, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaddset(&block, handled[i]);
	pthread_sigmask(SIG_BLOCK, &block, loop_mask);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigdelset(loop_mask, handled[i]);
}

/* The API server client (for Kubernetes targets or authentication), then TLS and the
 * authenticator from --web.config.file. */
/* err holds the reason of any failure: the step's own message, or the error's. */
static int with_message(int ret, char *err, size_t err_size)
{
	if (ret && !err[0])
		snprintf(err, err_size, "%s", strerror(-ret));
	return ret;
}

static int setup_web_steps(struct agent *a, const struct options *o, char *err, size_t err_size)
{
	struct kube_conn conn;
	int ret;

	if (a->cfg.kubernetes_targets || o->web_config_file) {
		bool needed = a->cfg.kubernetes_targets;

		if (o->web_config_file) {
			a->web = calloc(1, sizeof(*a->web));
			if (!a->web)
				return -ENOMEM;
			ret = webconfig_load(o->web_config_file, a->web, err, err_size);
			if (ret)
				return ret;
			needed |= a->web->kube_authn || a->web->kube_authz;
		}
		if (needed) {
			ret = o->kubeconfig
				      ? kubeconfig_load(o->kubeconfig, &conn, err, err_size)
				      : kube_conn_in_cluster(NULL, &a->env, &conn, err, err_size);
			if (ret)
				return ret;
			ret = kube_open(&conn, &a->kube, err, err_size);
			kube_conn_free(&conn);
			if (ret)
				return ret;
			log_info("API server %s", kube_server(a->kube));
			a->apiserver = strdup(kube_server(a->kube));
			if (!a->apiserver)
				return -ENOMEM;
		}
	}
	/* The net module names the API server's addresses even when nothing else needs
	 * the API server: a kubeconfig given is read for its server. */
	if (!a->apiserver && o->kubeconfig) {
		ret = kubeconfig_load(o->kubeconfig, &conn, err, err_size);
		if (ret)
			return ret;
		a->apiserver = strdup(conn.server);
		kube_conn_free(&conn);
		if (!a->apiserver)
			return -ENOMEM;
	}
	if (!o->web_config_file)
		return 0;
	if (!a->web)
		return -ENOMEM;
	ret = tls_open(&a->web->tls, &a->env, &a->tls, err, err_size);
	if (ret)
		return ret;
	if (!webconfig_authenticates(a->web))
		log_warn("%s configures no authentication: anyone who can connect may read "
			 "/metrics",
			 o->web_config_file);
	return auth_open(a->web, a->kube, &a->auth, err, err_size);
}

static int setup_web(struct agent *a, const struct options *o, char *err, size_t err_size)
{
	err[0] = 0;
	return with_message(setup_web_steps(a, o, err, err_size), err, err_size);
}

static void teardown_web(struct agent *a)
{
	podjoin_close(a->join); /* before the API client its thread uses */
	a->join = NULL;
	auth_close(a->auth);
	kube_close(a->kube);
	tls_close(a->tls);
	if (a->web) {
		webconfig_free(a->web);
		free(a->web);
	}
	free(a->apiserver);
	a->auth = NULL;
	a->kube = NULL;
	a->tls = NULL;
	a->web = NULL;
	a->apiserver = NULL;
}

/* The page's series of the endpoint, TLS, authentication and the API client: added
 * before the server starts, so that no scrape runs while the list changes. */
static int collect_http(void *state, struct scrape *s)
{
	const struct agent *a = state;

	if (a->server)
		server_collect(a->server, s->e);
	return 0;
}

static int collect_tls(void *state, struct scrape *s)
{
	tls_collect(state, s->e);
	return 0;
}

static int collect_auth(void *state, struct scrape *s)
{
	auth_collect(state, s->e);
	return 0;
}

static int collect_kube(void *state, struct scrape *s)
{
	kube_collect(state, s->e);
	return 0;
}

static int collect_pods(void *state, struct scrape *s)
{
	podjoin_collect(state, s->e);
	return 0;
}

static int add_collectors(struct agent *a)
{
	int err = agent_add_collector(a, "http", collect_http, a);

	if (!err && a->web)
		err = agent_add_collector(a, "tls", collect_tls, a->tls);
	if (!err && a->auth)
		err = agent_add_collector(a, "auth", collect_auth, a->auth);
	if (!err && a->kube)
		err = agent_add_collector(a, "kube", collect_kube, a->kube);
	if (!err && a->join)
		err = agent_add_collector(a, "pods", collect_pods, a->join);
	return err;
}

/* With Kubernetes targets, the node's pods. Without them (no API server, no $NODE_NAME,
 * or the watch cannot start) the targets core refuses to load and says why, and the
 * agent serves its own metrics. */
static void open_podjoin(struct agent *a)
{
	int err;

	if (!a->cfg.kubernetes_targets || !a->kube || !a->env.node_name)
		return;
	err = podjoin_open(a->kube, a->env.node_name, &a->join);
	if (err)
		log_error("cannot start watching the pods: %s", strerror(-err));
}

/* Watch what a change of the configuration file shows in: its directory (an editor's
 * save, the kubelet's swap of a ConfigMap volume's ..data link) and, when the file is a
 * link, the directory of the file it leads to. -1 when inotify is not available (SIGHUP
 * still reloads). */
static int watch_config(const char *path)
{
	char copy[PATH_MAX], *real;
	uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0) {
		log_warn("cannot watch %s (%s): send SIGHUP to reload it", path, strerror(errno));
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	if (inotify_add_watch(fd, dirname(copy), mask) < 0) {
		log_warn("cannot watch %s (%s): send SIGHUP to reload it", path, strerror(errno));
		close(fd);
		return -1;
	}
	real = realpath(path, NULL);
	if (real) {
		inotify_add_watch(fd, dirname(real), mask);
		free(real);
	}
	return fd;
}

/* Read every pending inotify event; their content does not matter. */
static void drain(int fd)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(fd, events, sizeof(events)) > 0)
		;
}

/* After a change of the file is seen, wait this long for the writer to finish. */
#define RELOAD_SETTLE_S 0.2

static int run_loop(struct agent *a, const sigset_t *mask, const char *config_file)
{
	/* Without the targets core (it could not load), only signals, the watch and ticks. */
	struct pollfd pfd[3] = {
		{ .fd = watch_config(config_file), .events = POLLIN },
		{ .fd = a->targets ? targets_event_fd(a->targets) : -1, .events = POLLIN },
		{ .fd = a->targets && a->join ? podjoin_event_fd(a->join) : -1, .events = POLLIN }
	};
	double reload_at = 0;

	while (!stop_signal) {
		struct timespec tick = { .tv_sec = 1 };
		int n;

		if (reload_at) {
			double wait = reload_at - clock_seconds(CLOCK_MONOTONIC);

			tick = (struct timespec){ .tv_nsec = wait > 0 ? (long)(wait * 1e9) : 0 };
		}
		n = ppoll(pfd, 3, &tick, mask);
		if (n < 0 && errno != EINTR) {
			log_error("event loop: %s", strerror(errno));
			return -errno;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			drain(pfd[0].fd);
			reload_at = clock_seconds(CLOCK_MONOTONIC) + RELOAD_SETTLE_S;
		}
		if (got_hup) {
			got_hup = 0;
			log_info("received SIGHUP: reloading %s", config_file);
			agent_reload(a, config_file, true);
		}
		if (reload_at && clock_seconds(CLOCK_MONOTONIC) >= reload_at) {
			reload_at = 0;
			agent_reload(a, config_file, false);
		}
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			int err = targets_handle_events(a->targets);

			if (err)
				log_warn("handling lifecycle events: %s", strerror(-err));
		}
		if (n > 0 && (pfd[2].revents & POLLIN)) {
			podjoin_ack(a->join);
			agent_pods_changed(a);
		}
		log_other_signals();
		agent_tick(a, !a->join || podjoin_synced(a->join));
		server_tick(a->server);
	}
	log_info("received %s: shutting down", strsignal(stop_signal));
	if (pfd[0].fd >= 0)
		close(pfd[0].fd);
	return 0;
}

/* Above this, --check-config and the agent's start-up warn (agent.c's MAPS_MEMORY_WARN). */
#define MEMORY_WARN (256ULL << 20)

/* --check-config's estimate of the BPF maps, on a kernel with task storage and atomics
 * (5.12+) and on one without (5.10): 0, or 1 when it cannot be made. */
static int print_memory(struct agent *a, const char *btf_path)
{
	struct features modern = { .task_storage = true, .atomics = true }, old = { 0 };
	uint64_t now = 0, before = 0;
	int cpus = libbpf_num_possible_cpus(), err;

	a->btf_path = btf_path;
	log_set_level("warn"); /* the modules' notes as they open */
	err = agent_estimate(a, &modern, &now);
	if (!err)
		err = agent_estimate(a, &old, &before);
	if (err) {
		log_error("cannot estimate the BPF maps' memory: %s", strerror(-err));
		return 1;
	}
	printf("BPF maps: about %.1f MiB on this machine's %d CPUs (%.1f MiB on kernels before "
	       "5.11, with limits.threads)\n",
	       (double)now / (1 << 20), cpus, (double)before / (1 << 20));
	if (now > MEMORY_WARN || before > MEMORY_WARN)
		log_warn("the BPF maps would take over %llu MiB: lower limits.* or the modules' "
			 "max_entries to take less",
			 MEMORY_WARN >> 20);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct agent a = { 0 };
	struct cfg_module_desc *descs;
	struct server_config scfg;
	sigset_t loop_mask;
	char err[1024], caps[256];
	size_t n_descs = 0;
	int ret;

	/* One malloc arena for every thread: the server thread's pages of /metrics are then
	 * in the heap that malloc_trim gives back between scrapes (server_tick); a thread's
	 * own arena keeps the top of its heap resident. */
	mallopt(M_ARENA_MAX, 1);
	if (parse_flags(argc, argv, &o))
		return 2;
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (o.version) {
		printf("ctrlscope %s\n", CTRLSCOPE_VERSION);
		return 0;
	}
	if (o.unpin) {
		if (!o.pin_path || !*o.pin_path) {
			log_error("--bpf.unpin: needs --bpf.pin-path, the directory to clean");
			return 2;
		}
		err[0] = 0;
		return pin_remove_all(o.pin_path, err, sizeof(err)) ? (log_error("%s", err), 1) : 0;
	}
	log_hook_libbpf();
	descs = agent_module_descs(&n_descs);
	if (!descs)
		return 1;
	err[0] = 0;
	if (o.probe && access(o.config_file, F_OK))
		ret = config_parse("(probe)", probe_config, strlen(probe_config), descs, n_descs,
				   &a.cfg, err, sizeof(err));
	else
		ret = config_load(o.config_file, descs, n_descs, &a.cfg, err, sizeof(err));
	ret = with_message(ret, err, sizeof(err));
	free(descs);
	if (ret) {
		log_error("%s", err);
		return 1;
	}
	if (o.check_config) {
		struct web_config web = { 0 };

		err[0] = 0;
		ret = o.web_config_file ? webconfig_load(o.web_config_file, &web, err, sizeof(err))
					: 0;
		ret = with_message(ret, err, sizeof(err));
		if (o.web_config_file)
			webconfig_free(&web);
		if (ret) {
			config_free(&a.cfg);
			log_error("%s", err);
			return 1;
		}
		printf("%s%s%s: valid\n", o.config_file, o.web_config_file ? ", " : "",
		       o.web_config_file ? o.web_config_file : "");
		ret = print_memory(&a, o.btf_path);
		config_free(&a.cfg);
		return ret;
	}
	agent_env_read(&a.env);
	if (a.env.bad_port)
		log_warn("KUBERNETES_SERVICE_PORT=%s is not a port: the in-cluster API server "
			 "service is not used",
			 a.env.bad_port);
	if (kfeatures_parse_tracepoints(o.tracepoints, &a.tracepoints)) {
		log_error("--bpf.tracepoints: expected auto, btf or classic, got \"%s\"",
			  o.tracepoints);
		config_free(&a.cfg);
		return 2;
	}
	a.fallbacks = o.fallbacks;
	a.pin_path = o.pin_path && *o.pin_path ? o.pin_path : NULL;
	if (o.probe) {
		a.btf_path = o.btf_path;
		ret = agent_probe(&a, stdout);
		if (ret < 0)
			log_error("cannot probe: %s", strerror(-ret));
		free(a.mods);
		config_free(&a.cfg);
		return ret ? 1 : 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret = setup_web(&a, &o, err, sizeof(err));
	if (ret) {
		log_error("%s", err);
		teardown_web(&a);
		config_free(&a.cfg);
		curl_global_cleanup();
		return 1;
	}
	setup_signals(&loop_mask);
	a.btf_path = o.btf_path;
	a.strict = o.strict;
	open_podjoin(&a);

	a.started_at = clock_seconds(CLOCK_REALTIME);
	ret = agent_start(&a);
	if (!ret)
		ret = add_collectors(&a);
	if (ret) {
		log_error("cannot start: %s", strerror(-ret));
		goto out;
	}
	scfg = (struct server_config){ .listen = o.listen,
				       .health_listen = o.health_listen,
				       .snapshot_min_age = o.snapshot_min_age_s,
				       .allow_unauthenticated = o.allow_unauthenticated,
				       .web = a.web,
				       .tls = a.tls,
				       .auth = a.auth,
				       .render = agent_render,
				       .ctx = &a,
				       .ready = &a.ready };
	/* Listen before dropping capabilities: a port below 1024 needs one. */
	err[0] = 0;
	ret = with_message(server_start(&scfg, &a.server, err, sizeof(err)), err, sizeof(err));
	if (ret) {
		log_error("%s", err);
		goto out;
	}
	ret = caps_drop_after_attach();
	if (ret) {
		log_error("cannot drop capabilities: %s", strerror(-ret));
		goto out;
	}
	caps_describe(caps, sizeof(caps));
	/* With Kubernetes targets, ready once the node's pods are listed (agent_tick). */
	atomic_store(&a.ready, !a.targets || !a.join || podjoin_synced(a.join));
	log_info("ctrlscope %s ready: serving %s://%s/metrics, %zu targets, capabilities %s",
		 CTRLSCOPE_VERSION, server_scheme(a.server), server_address(a.server),
		 a.cfg.n_targets, caps);
	if (server_health_address(a.server))
		log_info("answering health probes on http://%s/healthz and /readyz",
			 server_health_address(a.server));
	a.loaded_at = clock_seconds(CLOCK_REALTIME);
	atomic_store(&a.reload_ok, true);
	ret = run_loop(&a, &loop_mask, o.config_file);
out:
	/* A hung API server must not hold the stop up: the reviews in flight end now. */
	kube_cancel(a.kube);
	server_stop(a.server);
	a.server = NULL;
	agent_stop(&a);
	teardown_web(&a);
	config_free(&a.cfg);
	curl_global_cleanup();
	return ret ? 1 : 0;
}
