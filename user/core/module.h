/* The contract between the agent and a module. A module is one row: the agent opens,
 * attaches, collects and detaches every enabled module through these functions and knows
 * nothing else about it. */
#ifndef CTRLSCOPE_MODULE_H
#define CTRLSCOPE_MODULE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "env.h"
#include "expo.h"
#include "kfeatures.h"
#include "registry.h"

struct bpf_object_open_opts;

/* What a module gets to open itself. */
struct module_env {
	const struct bpf_object_open_opts *open_opts; /* BTF path and the like */
	int task_state_fd;			      /* reuse for the shared task_state map */
	int target_gen_fd;			      /* reuse for the shared target_gen map */
	uint32_t max_slots;			      /* limits.label_sets */
	const long long *options;		      /* values of the module's options */
	const struct config *cfg;		      /* targets' names and the like */
	const char *apiserver;		 /* the API server's URL (https://host:port), or NULL */
	bool classic_tracepoints;	 /* kfeatures.h: which variant of a program to load */
	const struct features *features; /* kfeatures.h: what this kernel has */
	const struct agent_env *env;	 /* env.h: the node's name, the in-cluster service */
	struct attach_group *attach;	 /* attach.h: where the module records its programs */
	/* pin.h: where its maps are pinned (pinning off: a group with no state). Whether
	 * they were adopted is known once module_reuse_shared_maps ran: pin_adopted. */
	struct pin_group *pin;
};

/* Whether the module's maps are a previous agent's, adopted from their pins: then the
 * state user space put in them at start (free-row queues, tickets) is there already. */
struct pin_group;
bool module_adopted(const struct module_env *env);

/* Point obj's task_state and target_gen maps at the targets core's (before loading), so
 * that every module reads the one filter, set the kernel's load-time choices
 * (kfeatures_configure), and pin the maps that hold state (pin_maps). 0 or -errno. */
struct bpf_object;
int module_reuse_shared_maps(const struct module_env *env, struct bpf_object *obj);

struct module {
	const char *name;
	const struct cfg_option *options; /* NULL-name terminated */
	/* Open and load the BPF object; *state is the module's private state. */
	int (*open)(const struct module_env *env, void **state);
	/* Attach its programs; 0 when the module works (some optional program may be out). */
	int (*attach)(void *state);
	/* Append the module's metric families (registry.h): 0 or -errno. */
	int (*collect)(void *state, struct scrape *s);
	/* A slot's label set was dropped: reset its counters before the slot is reused. */
	void (*forget_slot)(void *state, uint32_t slot);
	/* Once a second from the main loop (may be NULL). */
	void (*tick)(void *state);
	/* Detach and free everything; state may be partly initialised. */
	void (*close)(void *state);
};

extern const struct module *const modules[];
extern const size_t n_modules;

#endif
