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

/* Attach every auto-attachable program of obj under module's name. Returns 0 when all
 * attached, else the first error (the others are still attempted). required lists
 * programs without which the module cannot work (NULL-terminated, may be NULL). */
int attach_object(const char *module, struct bpf_object *obj, const char *const *required,
		  bool *all_required_ok);
/* Record a program the module attached itself (link NULL and err < 0 when that failed),
 * for the self-metrics and attach_detach_module. */
int attach_record(const char *module, struct bpf_program *prog, struct bpf_link *link, int err);
/* Record a program that the kernel refused to load (ctrlscope_program_attached 0). */
int attach_record_refused(const char *module, const char *program, int err, const char *why);
/* Record the variant of a kernel feature the module chose at load time, for
 * ctrlscope_bpf_feature (and the log). */
int attach_feature(const char *module, const char *feature, const char *variant, const char *note);
/* Append to out what the registry knows of module's programs that do not run and of its
 * variants: one line for `ctrlscope --probe`. */
void attach_describe(const char *module, struct buf *out);
/* Attach an iterator program (no parameters) under module's name, logging a failure.
 * The registry owns the link; NULL when it could not be attached. */
struct bpf_link *attach_iter(const char *module, struct bpf_program *prog);
/* Run an iterator once to its end (its programs act; their output is discarded). */
int attach_run_iter(struct bpf_link *link);
/* Run an iterator once to its end and call fn for every rec_size-byte record its programs
 * wrote (bpf_seq_write), however read() splits them. */
int attach_read_iter(struct bpf_link *link, size_t rec_size, void (*fn)(const void *rec, void *ctx),
		     void *ctx);
/* Destroy the links of module's programs (they detach) and forget them. */
void attach_detach_module(const char *module);
/* ctrlscope_bpf_feature, ctrlscope_program_attached, run counts and time (when
 * kernel.bpf_stats_enabled) and recursion misses. */
void attach_collect(struct expo *e);

#endif
