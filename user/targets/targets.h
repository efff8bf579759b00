/* Which processes are targets: evaluates the config's selectors against processes and
 * cgroups, keeps the kernel's filter maps (tgid_targets, cgroup_targets) and the task
 * state every module reads in step, and tells modules which labels a slot stands for.
 * Counts one thing on a module's behalf: program starts (the proc module reads them with
 * targets_read_starts), because only its exec program knows an exec's classification. */
#ifndef CTRLSCOPE_TARGETS_USER_H
#define CTRLSCOPE_TARGETS_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ctrlscope/targets.h>

#include "config.h"
#include "expo.h"
#include "slots.h"

struct targets;

struct bpf_object_open_opts;

/* Load the targets BPF object (maps and lifecycle programs), not yet attached. features:
 * what the kernel has, which chooses program variants (kfeatures.h); join: the node's pods
 * (podjoin.h), required with Kubernetes targets, else NULL; it outlives t. attach: where
 * the core's programs are recorded. */
struct features;
struct attach_group;
struct podjoin;
struct pin_group;
int targets_open(const struct config *cfg, const struct bpf_object_open_opts *opts,
		 const struct features *features, struct podjoin *join, struct attach_group *attach,
		 struct pin_group *pin, struct targets **out);
/* What the targets core's maps will take for cfg on a kernel with features, for ncpus
 * CPUs (load_estimate_maps), added to *bytes: nothing is loaded, no privilege needed. 0 or
 * -errno. */
int targets_estimate(const struct config *cfg, const struct bpf_object_open_opts *opts,
		     const struct features *features, unsigned int ncpus, uint64_t *bytes);
/* The targets of the state pinned in dir (pin.h) as the agent that pinned it knew them,
 * removed ones whose label sets remain included: refs has room for CS_MAX_TARGETS, free
 * the names with targets_refs_free. 0 or -errno. */
int targets_pinned_names(const char *dir, struct target_ref *refs, size_t *n);
void targets_refs_free(struct target_ref *refs, size_t n);
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
/* The configuration t was opened with changed in place (a reload: targets, their order
 * and selectors; the limits never change): decide every process and cgroup again. Label
 * sets of removed targets are released like idle ones. 0 or -errno. */
int targets_reconfigure(struct targets *t);
/* The target ids label sets still use (a bit per id): a reload gives none of them to a
 * new target. */
uint64_t targets_ids_in_use(const struct targets *t);
/* The node's pods changed: decide every cgroup again. */
void targets_reselect(struct targets *t);
/* Drop the containers of pods deleted longer than the grace period ago: their label sets
 * go; the slots they used are returned (free *slots) for the modules to reset before
 * targets_release_slots makes them available again. */
size_t targets_expire(struct targets *t, double now, uint32_t **slots);
void targets_release_slots(struct targets *t, const uint32_t *slots, size_t n);

/* Where task_state is a hash map, delete the entries of threads the kernel freed without
 * reporting it; called every second, sweeps every few. */
void targets_sweep(struct targets *t, double now);
int targets_read_slots(const struct targets *t, struct slot_table *table);
/* Programs started (exec) per label set in use: out has slots->n entries, by position. */
int targets_read_starts(const struct targets *t, const struct slot_table *slots, uint64_t *out);

/* Self-metrics: selected processes and cgroups per target, label sets, lost events (the
 * pod watch's are podjoin_collect's). */
void targets_collect(const struct targets *t, struct expo *e);
/* The fill level of the targets core's own maps with a capacity (task_state where it is a
 * hash map: kernels without task storage). */
struct scrape;
void targets_report_maps(const struct targets *t, struct scrape *s);

#endif
