/* The containers of Kubernetes targets: a stable id per (target, pod UID, container name),
 * which the kernel uses to key their series, so that a restarted container (a new cgroup)
 * continues the same series; and the labels each id stands for. Thread-safe: the main
 * loop assigns ids, scrapes read labels. */
#ifndef CTRLSCOPE_CONTAINERS_H
#define CTRLSCOPE_CONTAINERS_H

#include <stddef.h>
#include <stdint.h>

#include "slots.h" /* struct container_labels */

struct containers;
struct pod;

int containers_open(struct containers **out);
void containers_close(struct containers *c);
/* The id of (target, pod, container): the same in every run of the agent (a hash of the
 * three), never 0; 0 when out of memory. */
uint64_t containers_id(struct containers *c, uint32_t target, const struct pod *pod,
		       const char *container);
/* A copy of the labels of id (free with container_labels_free); -ENOENT if unknown. A
 * container_labels_fn (slots.h) with c as its ctx. */
int containers_labels(void *c, uint64_t id, struct container_labels *out);
/* Forget the ids of a pod; fn sees each (with its target) before it goes. */
void containers_forget_pod(struct containers *c, const char *pod_uid,
			   void (*fn)(uint32_t target, uint64_t id, void *ctx), void *ctx);
size_t containers_count(struct containers *c);

#endif
