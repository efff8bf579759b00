/* The label sets of series ("slots"), read from the kernel's label_sets map at one
 * moment: which labels each slot stands for, and which slots stand for the same labels
 * (a pod recreated under its old name, during the old one's grace period), whose series
 * are summed rather than written twice. */
#ifndef CTRLSCOPE_SLOTS_H
#define CTRLSCOPE_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ctrlscope/targets.h>

#include "config.h"
#include "expo.h"

/* Most labels a slot carries: target, then comm, or namespace, pod, container, workload. */
#define SLOT_MAX_LABELS 6

/* The labels of a Kubernetes container a slot stands for (owned copies). */
struct container_labels {
	char *namespace;
	char *pod;
	char *container;
	char *workload;
};

void container_labels_free(struct container_labels *l);

/* Fill *out with owned copies of the labels of container id: 0, or -errno (-ENOENT: the
 * container is forgotten). Provided by the Kubernetes layer (containers.h). */
typedef int (*container_labels_fn)(void *ctx, uint64_t id, struct container_labels *out);

struct slot_info {
	bool valid;
	struct cs_slot_key key;
	uint32_t alias; /* the lowest slot with the same labels (itself if none) */
	size_t n_labels;
	struct label labels[SLOT_MAX_LABELS];
	char comm[CS_COMM_LEN + 1];
	struct container_labels kube; /* owned copies for CS_KEY_BY_CONTAINER */
};

struct slot_table {
	struct slot_info *slots;
	size_t n;
};

/* Read label_sets (max slots) and resolve labels; containers (with its ctx) names the
 * containers of Kubernetes targets, NULL without any. */
int slots_read(int label_sets_fd, uint32_t max, const struct config *cfg,
	       container_labels_fn containers, void *ctx, struct slot_table *table);
void slot_table_free(struct slot_table *table);
/* Copy the labels of slot into labels; 0 when the slot is unknown. */
size_t slot_labels(const struct slot_table *table, uint32_t slot, struct label *labels);
/* The slot whose series this slot's are summed into. */
uint32_t slot_alias(const struct slot_table *table, uint32_t slot);

#endif
