/* The agent: the targets core plus every enabled module, and the /metrics page built
 * from them. main.c drives it; the HTTP server calls agent_render. */
#ifndef CTRLSCOPE_AGENT_H
#define CTRLSCOPE_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "env.h"
#include "expo.h"
#include "kfeatures.h"
#include "pin.h"
#include "registry.h"

struct attach_group;
struct attach_registry;
struct auth;
struct podjoin;
struct kube;
struct server;
struct targets;
struct tls;
struct web_config;

struct agent_module {
	const struct module *m;
	void *state;
	struct pin_group pin;	     /* its pinned maps */
	struct attach_group *attach; /* its programs and variants */
	bool enabled;
	bool up;
	double collect_seconds; /* the last scrape's: reading its maps */
	double render_seconds;	/* and writing its series */
};

struct agent {
	struct config cfg;
	const char *btf_path;
	enum tracepoint_mode tracepoints; /* --bpf.tracepoints */
	bool fallbacks;			  /* --bpf.fallbacks */
	struct features features;	  /* probed at start */
	struct agent_env env;		  /* read by main */
	bool strict;
	struct targets *targets;
	const char *pin_path;		 /* --bpf.pin-path, or NULL */
	struct pin_state pin;		 /* the state directory, with pin_path */
	struct pin_group core_pin;	 /* the targets core's maps */
	struct attach_registry *attach;	 /* every program and variant, for the self-metrics */
	struct attach_group *core;	 /* the kernel probe's variants */
	struct attach_group *core_progs; /* the targets core's programs */
	struct agent_module *mods;
	size_t n_mods;
	struct server *server;
	struct web_config *web; /* NULL without --web.config.file */
	struct tls *tls;	/* with web */
	struct kube *kube;	/* NULL unless the web config uses the API server */
	struct podjoin *join;	/* the node's pods, with Kubernetes targets */
	char *apiserver;	/* the API server's URL when known (peer="kube-apiserver") */
	struct auth *auth;
	struct registry collectors; /* what a scrape runs, in order */
	pthread_mutex_t lock;	    /* one render at a time */
	atomic_bool ready;
	char kernel[128];
	uint64_t maps_bytes; /* what the BPF maps take (maps_memory), at start-up */
	long long boot_time; /* Unix seconds, /proc/stat's btime; read at the first scrape */
	/* Reloads (reload.c): made by result (success, failure), whether the last one
	 * succeeded, whether the file asks for what only a restart applies, and when the
	 * running configuration was loaded (Unix seconds). */
	atomic_ullong reloads[2];
	atomic_bool reload_ok;
	atomic_bool restart_required;
	double loaded_at;
	double started_at; /* Unix seconds: when its own counters began */
};

/* The module descriptors for config_load. The caller frees the array. */
struct cfg_module_desc *agent_module_descs(size_t *n);
/* Load the targets core and every enabled module and attach them. Returns 0, or -errno
 * when the agent cannot run (or, with strict, when any module failed). */
int agent_start(struct agent *a);
/* Load the targets core and every enabled module into this kernel without attaching
 * anything, print to out what each can do here, and unload: 0 when every enabled module
 * can run, 1 when one cannot, -errno when the probe itself failed. */
int agent_probe(struct agent *a, FILE *out);
/* What the configuration's BPF maps will take on a kernel with features f, on this
 * machine's CPUs (load_estimate_maps): the targets core and every enabled module opened,
 * sized and estimated, nothing loaded, no privilege needed. 0 or -errno. */
int agent_estimate(struct agent *a, const struct features *f, uint64_t *bytes);
/* Add a collector to the page (registry.h), after the agent's own and its modules': for
 * main.c's subsystems (the endpoint, TLS, authentication, the API client). 0 or -ENOMEM. */
int agent_add_collector(struct agent *a, const char *name, collect_fn fn, void *state);
/* The /metrics page in format: every collector in order (the server calls it). Sets
 * *collect_seconds to the time it spent reading maps (the rest was writing the page). */
int agent_render(void *ctx, struct buf *out, enum expo_format format, double *collect_seconds);
/* From the main loop: the node's pods changed; once a second: readiness (once the
 * node's pods are listed, pods_synced) and expiry. */
void agent_pods_changed(struct agent *a);
void agent_tick(struct agent *a, bool pods_synced);
void agent_stop(struct agent *a);
/* Read the configuration file at path again and apply it (reload.c): 0 when applied or
 * unchanged, else -errno after one log line, the running configuration kept. asked: a
 * SIGHUP, which counts as a reload even when the file is unchanged. */
int agent_reload(struct agent *a, const char *path, bool asked);

#endif
