/* Loading a module's BPF object so that a program this kernel's verifier refuses costs
 * that program, not the module: the program is left out, named in the log with the
 * verifier's own last lines, and the object is loaded again without it. Not for
 * attaching (attach.h). */
#ifndef CTRLSCOPE_LOAD_H
#define CTRLSCOPE_LOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct bpf_object_skeleton;

#define LOAD_WHY_MAX 512

/* A program the kernel refused. */
struct load_refusal {
	char program[64];
	int err;		/* -errno of the load */
	char why[LOAD_WHY_MAX]; /* the verifier's last lines, joined by " | " */
};

struct load_refusals {
	struct load_refusal *items;
	size_t n;
};

struct load_ops {
	/* Make a fresh skeleton in ctx, opened and configured (map sizes, knobs, shared
	 * maps) but not loaded. refused lists what the kernel refused so far: open leaves
	 * those programs out (load_apply does) and may choose other variants in their
	 * place. 0 or -errno. */
	int (*open)(void *ctx, const struct load_refusals *refused,
		    struct bpf_object_skeleton **skel);
	/* Free what open made. */
	void (*destroy)(void *ctx);
};

/* What obj's maps will take once created, in bytes, as the kernel accounts them (about):
 * from their types and sizes as configured, for ncpus possible CPUs. Maps whose memory
 * grows with use (task and socket storage, hash maps without preallocation) count their
 * fixed part only. */
struct bpf_object;
uint64_t load_estimate_maps(struct bpf_object *obj, unsigned int ncpus);
/* From now on (until called with NULL), load_skeleton loads nothing: it opens the object
 * through ops, adds load_estimate_maps to *bytes, destroys it and returns -ECANCELED. For
 * --check-config, which sizes the maps without privileges. Not thread-safe. */
void load_estimate_only(uint64_t *bytes);

/* Open and load through ops until the kernel accepts the object, leaving out every
 * program it refuses; *refused says which (free with load_refusals_free). A refusal of a
 * program listed in required, or a failure that is not one program's (a map the kernel
 * cannot create, a missing BTF), fails the load: -errno, with the skeleton destroyed. */
struct attach_group;
int load_skeleton(struct attach_group *g, const struct load_ops *ops, void *ctx,
		  const char *const *required, struct load_refusals *refused);
/* load_skeleton, then record every refused program in g as not attached (the module
 * works without it). */
int load_module(struct attach_group *g, const struct load_ops *ops, void *ctx,
		const char *const *required);
/* Load one of a program's two variants: its BTF tracepoint one, or its classic
 * tracepoint one (kfeatures.h says which this kernel needs). */
struct bpf_program;
void load_choose_tracepoint(struct bpf_program *btf, struct bpf_program *classic, bool use_classic);
/* How the kernel declares a BTF tracepoint (its btf_trace_<name> typedef): the number
 * of arguments, with bit i of *pointers set when argument i is a pointer. -ENOENT when
 * the kernel has no such tracepoint, -errno when its BTF cannot be read. */
struct bpf_object_open_opts;
int load_tracepoint_args(const struct bpf_object_open_opts *opts, const char *name,
			 unsigned int *pointers);
/* Whether the kernel's BTF (opts' custom path, else vmlinux) has a struct of that name:
 * 1, 0, or -errno when the BTF cannot be read. */
int load_kernel_has_struct(const struct bpf_object_open_opts *opts, const char *name);
/* Push first, first + 1, ... end - 1 into the queue map fd: the tickets that stand for an
 * atomic counter (bpf/maps.bpf.h). 0 or -errno. */
int load_fill_tickets(int fd, uint32_t first, uint32_t end);
/* Turn off autoload of every refused program of the skeleton. */
void load_apply(const struct load_refusals *refused, struct bpf_object_skeleton *skel);
/* The refusal of program, or NULL. */
const struct load_refusal *load_refusal_of(const struct load_refusals *refused,
					   const char *program);
void load_refusals_free(struct load_refusals *refused);
/* The reason in a verifier log: its last two lines before the statistics, joined by
 * " | ", then its hint in parentheses when it gives one. Always NUL-terminates out. */
void load_log_reason(const char *log, char *out, size_t size);

#endif
