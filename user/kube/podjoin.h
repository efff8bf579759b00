/* The Kubernetes join: which pod and container of this node a cgroup runs, from the pods
 * of one list-and-watch (pods.h), and a stable id per (target, pod, container) to key their
 * series (containers.h). The agent opens it when the configuration has Kubernetes targets
 * and polls its event fd; the targets core asks it about cgroups and for the labels of an
 * id. It knows nothing of BPF or of how a target selects. */
#ifndef CTRLSCOPE_PODJOIN_H
#define CTRLSCOPE_PODJOIN_H

#include <stdbool.h>
#include <stdint.h>

#include "expo.h"
#include "slots.h" /* struct container_labels */

struct kube;
struct pod;
struct podjoin;

/* Start watching the pods of node; returns at once (the first list runs on a thread).
 * 0 or -errno. */
int podjoin_open(struct kube *kube, const char *node, struct podjoin **out);
void podjoin_close(struct podjoin *j);
/* Readable when pods changed; podjoin_ack clears it. */
int podjoin_event_fd(const struct podjoin *j);
void podjoin_ack(struct podjoin *j);
/* Whether the first list has completed. */
bool podjoin_synced(struct podjoin *j);

/* Which target the container the cgroup at path runs belongs to: choose sees the pod and
 * the container's name (the table locked) and returns a target index or -1. Then *target
 * and *id (the container's id for that target) are set and true returned; false when the
 * cgroup is no container of a live pod of this node, choose said -1, or memory ran out. */
bool podjoin_decide(struct podjoin *j, const char *path,
		    int (*choose)(const struct pod *pod, const char *container, void *ctx),
		    void *ctx, uint32_t *target, uint64_t *id);
/* The labels of a container id (a container_labels_fn, slots.h, with j as its ctx). */
int podjoin_labels(void *j, uint64_t id, struct container_labels *out);
/* Forget pods deleted more than grace seconds ago: forget sees each of their container
 * ids, with its target, before it goes. */
void podjoin_expire(struct podjoin *j, double now, double grace,
		    void (*forget)(uint32_t target, uint64_t id, void *ctx), void *ctx);
/* The pod watch's metrics and ctrlscope_kube_containers. */
void podjoin_collect(struct podjoin *j, struct expo *e);

#endif
