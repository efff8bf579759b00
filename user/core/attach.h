/* Attaching a BPF object's programs one by one, so that a program this kernel refuses is
 * reported (log line and ctrlscope_program_attached 0) instead of failing the object, and
 * a registry of every program for the self-metrics. */
#ifndef CTRLSCOPE_ATTACH_H
#define CTRLSCOPE_ATTACH_H

#include <stdbool.h>

#include "buf.h"
#include "expo.h"

struct bpf_object;
struct bpf_link;
struct bpf_program;

/* Every group of the agent, for the self-metrics. */
struct attach_registry;
/* The programs and kernel-feature variants of one module (or of the core), recorded for
 * the self-metrics under its name and detached together. */
struct attach_group;

struct attach_registry *attach_registry_new(void);
/* Frees the groups still in it too. */
void attach_registry_free(struct attach_registry *r);
/* A new, empty group called name (the module label); NULL when out of memory. */
struct attach_group *attach_group_new(struct attach_registry *r, const char *name);
const char *attach_group_name(const struct attach_group *g);
/* Destroy the links of g's programs (they detach) and forget them and its variants. */
void attach_detach(struct attach_group *g);
/* attach_detach, and take g out of its registry. */
void attach_group_free(struct attach_group *g);

/* Attach every auto-attachable program of obj into g. Returns 0 when all attached, else
 * the first error (the others are still attempted). required lists programs without
 * which the module cannot work (NULL-terminated, may be NULL). */
int attach_object(struct attach_group *g, struct bpf_object *obj, const char *const *required,
		  bool *all_required_ok);
/* Record a program the module attached itself (link NULL and err < 0 when that failed),
 * for the self-metrics and attach_detach. */
int attach_record(struct attach_group *g, struct bpf_program *prog, struct bpf_link *link, int err);
/* Record a program that the kernel refused to load (ctrlscope_program_attached 0). */
int attach_record_refused(struct attach_group *g, const char *program, int err, const char *why);
/* Record the variant of a kernel feature the module chose at load time, for
 * ctrlscope_bpf_feature (and the log). */
int attach_feature(struct attach_group *g, const char *feature, const char *variant,
		   const char *note);
/* Append to out what g knows of its programs that do not run and of its variants: one
 * line for `ctrlscope --probe`. */
void attach_describe(const struct attach_group *g, struct buf *out);
/* Attach an iterator program (no parameters) into g, logging a failure. The group owns
 * the link; NULL when it could not be attached. */
struct bpf_link *attach_iter(struct attach_group *g, struct bpf_program *prog);
/* Run an iterator once to its end (its programs act; their output is discarded). */
int attach_run_iter(struct bpf_link *link);
/* Run an iterator once to its end and call fn for every rec_size-byte record its programs
 * wrote (bpf_seq_write), however read() splits them. */
int attach_read_iter(struct bpf_link *link, size_t rec_size, void (*fn)(const void *rec, void *ctx),
		     void *ctx);
/* ctrlscope_bpf_feature, ctrlscope_program_attached, run counts and time (when
 * kernel.bpf_stats_enabled) and recursion misses, for every group of r. */
void attach_collect(struct attach_registry *r, struct expo *e);

#endif
