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
	uint32_t slot;
	uint32_t alias;	 /* the lowest slot with the same labels (itself if none) */
	size_t alias_at; /* that slot's position in the table */
	struct cs_slot_key key;
	size_t n_labels;
	struct label labels[SLOT_MAX_LABELS];
	char comm[CS_COMM_LEN + 1];
	struct container_labels kube; /* owned copies for CS_KEY_BY_CONTAINER */
};

/* The label sets in use, ascending by slot number: a scrape costs what is in use, never
 * limits.label_sets. Modules keep per-scrape rows by position in this table. */
struct slot_table {
	struct slot_info *slots;
	size_t n;
};

/* Read label_sets (slots below max) and resolve labels; containers (with its ctx) names
 * the containers of Kubernetes targets, NULL without any. */
int slots_read(int label_sets_fd, uint32_t max, const struct config *cfg,
	       container_labels_fn containers, void *ctx, struct slot_table *table);
void slot_table_free(struct slot_table *table);
/* The position of slot in the table, or -1 when it is not in use. */
long slot_index(const struct slot_table *table, uint32_t slot);
/* Copy the labels of slot into labels; 0 when the slot is unknown. */
size_t slot_labels(const struct slot_table *table, uint32_t slot, struct label *labels);
/* Copy the labels of the slot at position u into labels (u < table->n). */
size_t slot_labels_at(const struct slot_table *table, size_t u, struct label *labels);
/* The slot whose series this slot's are summed into (slot itself when unknown). */
uint32_t slot_alias(const struct slot_table *table, uint32_t slot);
/* Read the rows of the slots in use from an array map indexed by slot (value_size bytes a
 * row, summed over CPUs when percpu) into out, table->n rows by position. Returns 0 or
 * -errno. */
int slots_read_array(const struct slot_table *table, int fd, size_t value_size, int percpu,
		     void *out);

#endif
