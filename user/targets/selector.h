/* Matching a process against the config's process selectors. Pure functions over what
 * user space learnt of the process; no I/O. */
#ifndef CTRLSCOPE_SELECTOR_H
#define CTRLSCOPE_SELECTOR_H

#include <stdbool.h>

#include "config.h"

/* What is known of a process. exe or cgroup may be NULL when unknown (the process exited,
 * or its cgroup is outside the agent's view); a selector that needs it does not match. */
struct process_facts {
	const char *comm;
	const char *exe;
	const char *cgroup; /* path below the cgroup v2 root, starting with '/' */
};

bool selector_match(const struct process_selector *sel, const struct process_facts *facts);
/* Whether the selector needs the executable path (a readlink per candidate). */
bool selector_needs_exe(const struct process_selector *sel);
/* Whether the selector is a cgroup glob alone: then whole cgroups are targets in the
 * kernel and a process is measured from its first instruction. */
bool selector_is_cgroup_only(const struct process_selector *sel);
bool selector_cgroup_match(const struct process_selector *sel, const char *cgroup);
/* Index of the first process target whose selector matches, or -1. */
int selector_first_target(const struct config *cfg, const struct process_facts *facts);

struct pod;
/* Whether a container of a pod matches a Kubernetes selector. */
bool kube_selector_match(const struct kube_selector *sel, const struct pod *pod,
			 const char *container);

#endif
