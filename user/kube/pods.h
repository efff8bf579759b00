/* The pods of this node, kept current by one list and one watch on the API server
 * (fieldSelector=spec.nodeName=<node>, never the whole cluster), on a thread of their own.
 * Who is where: pod UID -> namespace, name, labels, workload and containers. Deciding
 * which of them are targets is targets.c's job. */
#ifndef CTRLSCOPE_PODS_H
#define CTRLSCOPE_PODS_H

#include <stdbool.h>
#include <stddef.h>

#include "expo.h"
#include "podpath.h"

struct kube;
struct pods;

struct pod_container {
	char *name;
	char id[CONTAINER_ID_LEN + 1]; /* "" until the runtime reported it */
};

struct pod {
	char uid[POD_UID_LEN + 1];
	char *namespace;
	char *name;
	char *workload; /* the owning Deployment, StatefulSet, DaemonSet, Job...; "" if none */
	char **label_keys;
	char **label_values;
	size_t n_labels;
	struct pod_container *containers; /* containers, then init containers */
	size_t n_containers;
	bool deleted;
	double deleted_at; /* CLOCK_MONOTONIC seconds */
};

/* Start listing and watching; returns at once (the first list runs on the thread). */
int pods_open(struct kube *kube, const char *node, struct pods **out);
void pods_close(struct pods *p);
/* Readable when pods changed; pods_ack clears it. */
int pods_event_fd(const struct pods *p);
void pods_ack(struct pods *p);
/* Whether the first list has completed. */
bool pods_synced(struct pods *p);

/* Access to the table, with the lock held between lock and unlock. */
void pods_lock(struct pods *p);
void pods_unlock(struct pods *p);
const struct pod *pods_find(struct pods *p, const char *uid);
/* Forget pods deleted more than grace seconds ago; fn sees each before it goes. */
void pods_expire(struct pods *p, double now, double grace,
		 void (*fn)(const struct pod *pod, void *ctx), void *ctx);
/* The container of a pod by runtime id, or NULL. */
const struct pod_container *pod_container_by_id(const struct pod *pod, const char *id);

void pods_collect(struct pods *p, struct expo *e);

/* Exposed for tests: fill pod from a Pod object's JSON text; -EINVAL if it is not one. */
int pod_parse(const char *json, size_t len, struct pod *pod);
void pod_free(struct pod *pod);
/* The workload of a pod from its controller owner reference: a ReplicaSet named
 * <deployment>-<pod-template-hash> stands for the Deployment (the pod-template-hash label
 * convention: no ReplicaSet lookup, no extra permission). */
const char *pod_workload(const char *owner_kind, const char *owner_name, const char *template_hash,
			 char *out, size_t size);

#endif
