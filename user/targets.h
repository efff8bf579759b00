/* Which processes are targets: evaluates the config's selectors against processes and
 * cgroups, keeps the kernel's filter maps (tgid_targets, cgroup_targets) in step, and
 * tells modules which labels a slot stands for. Counts nothing itself. */
#ifndef CTRLSCOPE_TARGETS_USER_H
#define CTRLSCOPE_TARGETS_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ctrlscope/targets.h>

#include "config.h"
#include "expo.h"

struct targets;

/* The labels of every slot, read from the kernel's label_sets map at one moment. */
struct slot_info {
	bool valid;
	struct cs_slot_key key;
	char comm[CS_COMM_LEN + 1]; /* NUL-terminated copy of key.comm */
};

struct slot_table {
	struct slot_info *slots;
	size_t n;
};

/* Most labels a slot carries (target, comm; later namespace, pod, container, workload). */
#define SLOT_MAX_LABELS 6

struct bpf_object_open_opts;

/* Load the targets BPF object (maps and lifecycle programs), not yet attached. */
int targets_open(const struct config *cfg, const struct bpf_object_open_opts *opts,
		 struct targets **out);
/* The task storage map every module's hot path reads. */
int targets_task_state_fd(const struct targets *t);
/* The generation every module's non-target memo checks. */
int targets_target_gen_fd(const struct targets *t);
/* Attach the lifecycle programs, then evaluate every existing process and cgroup. After
 * this returns, tasks of targets carry their slot. */
int targets_start(struct targets *t);
/* Fd to poll for lifecycle events, and the handler to call when it is readable. */
int targets_event_fd(const struct targets *t);
int targets_handle_events(struct targets *t);
void targets_close(struct targets *t);

int targets_read_slots(const struct targets *t, struct slot_table *table);
void slot_table_free(struct slot_table *table);
/* Fill labels for slot; returns how many, 0 when the slot is unknown. */
size_t slot_labels(const struct targets *t, const struct slot_table *table, uint32_t slot,
		   struct label *labels);

/* Self-metrics: selected processes and cgroups per target, label sets, lost events. */
void targets_collect(const struct targets *t, struct expo *e);

#endif
