/* Process selector matching: see selector.h. Within a selector every field given must
 * match (AND); within a field any entry may match (OR). Globs are fnmatch(3) patterns with
 * FNM_PATHNAME, so '*' never crosses a '/'. */
#include "selector.h"
#include "pods.h"

#include <fnmatch.h>
#include <string.h>

static bool any_exact(const struct string_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->items[i], s))
			return true;
	}
	return false;
}

static bool any_glob(const struct string_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!fnmatch(l->items[i], s, FNM_PATHNAME))
			return true;
	}
	return false;
}

bool selector_match(const struct process_selector *sel, const struct process_facts *facts)
{
	if (sel->comm.n && (!facts->comm || !any_exact(&sel->comm, facts->comm)))
		return false;
	if (sel->exe.n && (!facts->exe || !any_glob(&sel->exe, facts->exe)))
		return false;
	if (sel->cgroup.n && (!facts->cgroup || !any_glob(&sel->cgroup, facts->cgroup)))
		return false;
	return sel->comm.n || sel->exe.n || sel->cgroup.n;
}

bool selector_needs_exe(const struct process_selector *sel)
{
	return sel->exe.n > 0;
}

bool selector_is_cgroup_only(const struct process_selector *sel)
{
	return sel->cgroup.n && !sel->comm.n && !sel->exe.n;
}

bool selector_cgroup_match(const struct process_selector *sel, const char *cgroup)
{
	return any_glob(&sel->cgroup, cgroup);
}

int selector_first_target(const struct config *cfg, const struct process_facts *facts)
{
	for (size_t i = 0; i < cfg->n_targets; i++) {
		if (cfg->targets[i].kind == TARGET_PROCESS &&
		    selector_match(&cfg->targets[i].process, facts))
			return (int)i;
	}
	return -1;
}

bool kube_selector_match(const struct kube_selector *sel, const struct pod *pod,
			 const char *container)
{
	if (sel->namespaces.n && !any_exact(&sel->namespaces, pod->namespace))
		return false;
	if (sel->containers.n && !any_exact(&sel->containers, container))
		return false;
	return label_selector_match(&sel->pod_selector, (const char *const *)pod->label_keys,
				    (const char *const *)pod->label_values, pod->n_labels);
}
