/* The Kubernetes join: see podjoin.h. */
#include "podjoin.h"
#include "containers.h"
#include "log.h"
#include "podpath.h"
#include "pods.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct podjoin {
	struct pods *pods;
	struct containers *containers;
};

int podjoin_open(struct kube *kube, const char *node, struct podjoin **out)
{
	struct podjoin *j = calloc(1, sizeof(*j));
	int err;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	if ((err = containers_open(&j->containers)) || (err = pods_open(kube, node, &j->pods))) {
		podjoin_close(j);
		return err;
	}
	log_info("watching the pods of node %s", node);
	*out = j;
	return 0;
}

void podjoin_close(struct podjoin *j)
{
	if (!j)
		return;
	pods_close(j->pods); /* first: stop its thread */
	containers_close(j->containers);
	free(j);
}

int podjoin_event_fd(const struct podjoin *j)
{
	return pods_event_fd(j->pods);
}

void podjoin_ack(struct podjoin *j)
{
	pods_ack(j->pods);
}

bool podjoin_synced(struct podjoin *j)
{
	return pods_synced(j->pods);
}

bool podjoin_decide(struct podjoin *j, const char *path,
		    int (*choose)(const struct pod *pod, const char *container, void *ctx),
		    void *ctx, uint32_t *target, uint64_t *id)
{
	const struct pod_container *c;
	const struct pod *pod;
	struct pod_ref ref;
	int chosen = -1;

	if (cgroup_path_parse_pod(path, &ref) || !ref.container_id[0])
		return false;
	pods_lock(j->pods);
	pod = pods_find(j->pods, ref.pod_uid);
	c = pod && !pod->deleted ? pod_container_by_id(pod, ref.container_id) : NULL;
	if (c)
		chosen = choose(pod, c->name, ctx);
	if (chosen >= 0) {
		*target = (uint32_t)chosen;
		*id = containers_id(j->containers, (uint32_t)chosen, pod, c->name);
	}
	pods_unlock(j->pods);
	return chosen >= 0 && *id != 0;
}

int podjoin_labels(void *j, uint64_t id, struct container_labels *out)
{
	return containers_labels(((struct podjoin *)j)->containers, id, out);
}

struct expiry {
	struct podjoin *j;
	void (*forget)(uint32_t target, uint64_t id, void *ctx);
	void *ctx;
};

static void forget_pod(const struct pod *pod, void *ctx)
{
	struct expiry *x = ctx;

	log_debug("pod %s/%s: deleted for longer than the grace period, dropping its series",
		  pod->namespace, pod->name);
	containers_forget_pod(x->j->containers, pod->uid, x->forget, x->ctx);
}

void podjoin_expire(struct podjoin *j, double now, double grace,
		    void (*forget)(uint32_t target, uint64_t id, void *ctx), void *ctx)
{
	struct expiry x = { j, forget, ctx };

	pods_lock(j->pods);
	pods_expire(j->pods, now, grace, forget_pod, &x);
	pods_unlock(j->pods);
}

void podjoin_collect(struct podjoin *j, struct expo *e)
{
	pods_collect(j->pods, e);
	expo_family(e, "ctrlscope_kube_containers", "gauge",
		    "Containers of Kubernetes targets with series (deleted pods' included until "
		    "kubernetes.deleted_pod_grace).");
	expo_u64(e, NULL, 0, containers_count(j->containers));
}
