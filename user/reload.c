/* Live configuration: agent_reload re-reads --config.file (on SIGHUP, or when main.c's
 * watch sees the file or its directory change) and applies what can change while the
 * agent runs: the targets, their order and selectors, and the grace periods. The limits
 * and the modules size the kernel's maps, so they take effect at the next start; a file
 * that changes them is applied otherwise and says so (a log line and
 * ctrlscope_config_restart_required). A file that cannot be read or parsed changes
 * nothing. */
#include "agent.h"
#include "clock.h"
#include "log.h"
#include "module.h"
#include "targets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Give each target of next an id: a target of the running configuration with the same
 * name and kind keeps its own, so its label sets (which record the id) keep their series;
 * a new one takes an id no running target has and no label set still records (a removed
 * target's label sets stay until they are released). */
static int assign_ids(const struct agent *a, struct config *next, char *err, size_t err_size)
{
	struct target_ref old[CFG_MAX_TARGETS];

	for (size_t i = 0; i < a->cfg.n_targets; i++)
		old[i] = (struct target_ref){ a->cfg.targets[i].name, a->cfg.targets[i].kind,
					      a->cfg.targets[i].id };
	return config_assign_ids(next, old, a->cfg.n_targets,
				 a->targets ? targets_ids_in_use(a->targets) : 0, err, err_size);
}

/* Log each setting of next that only a restart applies; returns how many differ. */
static int restart_only_changes(const struct agent *a, const struct config *next)
{
	int n = 0;

	for (size_t i = 0; i < CFG_LIMIT_COUNT; i++) {
		if (next->limits[i] == a->cfg.limits[i])
			continue;
		log_warn("configuration: limits.%s changed from %lld to %lld: it takes effect "
			 "when the agent restarts",
			 cfg_limit_options[i].name, a->cfg.limits[i], next->limits[i]);
		n++;
	}
	for (size_t m = 0; m < a->n_mods && m < next->n_modules; m++) {
		const struct module_config *now = &a->cfg.modules[m], *then = &next->modules[m];

		if (now->enabled == then->enabled &&
		    !memcmp(now->values, then->values, sizeof(now->values)))
			continue;
		log_warn("configuration: modules.%s changed: it takes effect when the agent "
			 "restarts",
			 a->mods[m].m->name);
		n++;
	}
	return n;
}

static void count(struct agent *a, bool ok)
{
	atomic_fetch_add(&a->reloads[ok ? 0 : 1], 1);
	atomic_store(&a->reload_ok, ok);
}

int agent_reload(struct agent *a, const char *path, bool asked)
{
	struct cfg_module_desc *descs;
	struct config next = { 0 };
	char err[1024] = "";
	size_t n_descs = 0;
	int ret, restart;

	descs = agent_module_descs(&n_descs);
	if (!descs)
		return -ENOMEM;
	ret = config_load(path, descs, n_descs, &next, err, sizeof(err));
	free(descs);
	if (!ret && !memcmp(next.sha256, a->cfg.sha256, sizeof(next.sha256))) {
		/* The same bytes: nothing to apply; a change seen by the watch that left the
		 * file as it was (a touch, a rewrite) is not a reload. */
		config_free(&next);
		if (asked) {
			log_info("configuration reloaded from %s: unchanged", path);
			count(a, true);
		}
		return 0;
	}
	if (!ret && next.kubernetes_targets && !a->join) {
		snprintf(err, sizeof(err),
			 "%s: Kubernetes targets were added, and the agent started without "
			 "them: restart it to watch the node's pods",
			 path);
		ret = -EINVAL;
	}
	if (!ret && (ret = assign_ids(a, &next, err, sizeof(err))))
		config_free(&next);
	if (ret) {
		log_error("configuration not reloaded, the running one stays: %s",
			  err[0] ? err : strerror(-ret));
		count(a, false);
		return ret;
	}
	restart = restart_only_changes(a, &next);
	/* The limits and modules stay as the maps were sized. */
	memcpy(next.limits, a->cfg.limits, sizeof(next.limits));
	free(next.modules);
	next.modules = a->cfg.modules;
	next.n_modules = a->cfg.n_modules;
	a->cfg.modules = NULL;

	pthread_mutex_lock(&a->lock);
	config_free(&a->cfg);
	a->cfg = next;
	ret = a->targets ? targets_reconfigure(a->targets) : 0;
	pthread_mutex_unlock(&a->lock);
	if (ret)
		log_warn("configuration reloaded, but the processes could not all be evaluated "
			 "again: %s",
			 strerror(-ret));
	atomic_store(&a->restart_required, restart > 0);
	a->loaded_at = clock_seconds(CLOCK_REALTIME);
	count(a, true);
	log_info("configuration reloaded from %s: %zu targets%s", path, a->cfg.n_targets,
		 restart ? "; some settings wait for a restart" : "");
	return 0;
}
