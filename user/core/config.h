/* The agent's YAML configuration (--config.file): targets, limits and modules. Parsing
 * validates everything; a bad file yields one line naming the file, the position, the key
 * and what was expected. Nothing outside this file knows YAML. */
#ifndef CTRLSCOPE_CONFIG_H
#define CTRLSCOPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labelsel.h"
#include "yamlutil.h"

#define CFG_MAX_OPTIONS 8
#define CFG_COMM_MAX	15 /* TASK_COMM_LEN - 1: the kernel truncates longer names */
#define CFG_NAME_MAX	128
#define CFG_MAX_TARGETS 64 /* CS_MAX_TARGETS in include/ctrlscope/targets.h */

/* One row per integer option: name, bounds, default (redis's config table, in small). */
struct cfg_option {
	const char *name;
	long long min;
	long long max;
	long long def;
	const char *help;
};

/* What the parser needs to know of a module: its name and its options (NULL-terminated). */
struct cfg_module_desc {
	const char *name;
	const struct cfg_option *options;
};

/* A process matches when every list given has an entry that matches it. */
struct process_selector {
	struct string_list comm;   /* exact comm */
	struct string_list exe;	   /* fnmatch(FNM_PATHNAME) glob on /proc/<pid>/exe */
	struct string_list cgroup; /* fnmatch(FNM_PATHNAME) glob on the cgroup v2 path */
};

/* A container matches when its pod is in one of the namespaces (any when empty), the pod's
 * labels match the selector, and its name is one of containers (any when empty). */
struct kube_selector {
	struct string_list namespaces;
	char *pod_selector_text;
	struct label_selector pod_selector;
	struct string_list containers;
};

enum target_kind {
	TARGET_PROCESS,
	TARGET_KUBERNETES,
};

struct target_config {
	char *name;
	/* What the kernel's maps and the label sets know the target by: its index in the
	 * file as parsed, kept for the same name across reloads (agent.c), so that a label set
	 * never changes target when the file's order does. Below CFG_MAX_TARGETS. */
	uint32_t id;
	enum target_kind kind;
	struct process_selector process;
	struct kube_selector kubernetes;
};

struct module_config {
	bool enabled;
	long long values[CFG_MAX_OPTIONS]; /* in the order of the module's options */
};

enum cfg_limit {
	CFG_LIMIT_LABEL_SETS,
	CFG_LIMIT_PROCESSES,
	CFG_LIMIT_CGROUPS,
	CFG_LIMIT_THREADS,
	CFG_LIMIT_COUNT,
};

struct config {
	struct target_config *targets;
	bool kubernetes_targets;	/* any target of kind TARGET_KUBERNETES */
	long long deleted_pod_grace_ms; /* kubernetes.deleted_pod_grace */
	long long label_set_grace_ms;	/* label_set_grace */
	size_t n_targets;
	struct module_config *modules; /* same order as the descriptors passed to the parser */
	size_t n_modules;
	long long limits[CFG_LIMIT_COUNT];
	unsigned char sha256[32]; /* of the file's bytes (config_load) */
};

extern const struct cfg_option cfg_limit_options[];

/* Parse text (named name in messages). On error returns -EINVAL and writes one line to
 * err; cfg is then empty and needs no config_free. */
int config_parse(const char *name, const char *text, size_t len, const struct cfg_module_desc *mods,
		 size_t n_mods, struct config *cfg, char *err, size_t err_size);
int config_load(const char *path, const struct cfg_module_desc *mods, size_t n_mods,
		struct config *cfg, char *err, size_t err_size);
void config_free(struct config *cfg);
/* A target as the running agent, or the state it adopts, knows it. */
struct target_ref {
	const char *name;
	enum target_kind kind;
	uint32_t id;
};

/* Give each target of cfg an id: one of old with the same name and kind keeps its id, the
 * others take the lowest id neither old nor taken (a bit per id) holds. 0, or -ENOSPC with
 * one line in err when no id is left. */
int config_assign_ids(struct config *cfg, const struct target_ref *old, size_t n_old,
		      uint64_t taken, char *err, size_t err_size);
/* The target with this id, or NULL when no target has it (any more). */
const struct target_config *config_target(const struct config *cfg, uint32_t id);

#endif
