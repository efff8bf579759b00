/* How this kernel runs BPF programs, probed once at start-up, and the program variants
 * that follow from it. Not for anything a module can decide alone (load.h). */
#ifndef CTRLSCOPE_KFEATURES_H
#define CTRLSCOPE_KFEATURES_H

#include <stdbool.h>

struct bpf_object_open_opts;

enum tracepoint_mode {
	TRACEPOINTS_AUTO,    /* classic where BTF tracepoint programs can be preempted */
	TRACEPOINTS_BTF,     /* always BTF (raw) tracepoints */
	TRACEPOINTS_CLASSIC, /* always classic (perf event) tracepoints */
};

struct features {
	/* A program on a process-context tracepoint can be preempted (Linux 7.0+): the
	 * kernel then skips it on that CPU until the preempted task resumes. */
	bool tracepoints_preemptible;
	/* Use classic tracepoint programs for the events that must not be missed:
	 * system calls, exec and exit. */
	bool classic_tracepoints;
	/* BPF_MAP_TYPE_TASK_STORAGE in tracing programs (Linux 5.11). Without it, task
	 * state lives in a hash map keyed by thread id (cs_task_hash in bpf/maps.bpf.h). */
	bool task_storage;
	/* Atomic fetch-and-add and compare-and-swap (Linux 5.12), which the net module
	 * needs; the others do without (bpf/maps.bpf.h). */
	bool atomics;
};

/* "auto", "btf" or "classic" (--bpf.tracepoints); -EINVAL for anything else. */
int kfeatures_parse_tracepoints(const char *text, enum tracepoint_mode *mode);
/* Make tracefs reachable where libbpf looks for tracepoint ids: 0 when it is (mounted
 * now at /sys/kernel/tracing if it was not), else -errno. */
int kfeatures_mount_tracefs(void);
/* Probe this kernel and choose. Classic tracepoints need tracefs: mounted at
 * /sys/kernel/tracing when it is not (and possible); without it, BTF tracepoints are
 * used and the log says what may be missed. fallbacks: take task storage and atomics as
 * missing, whatever the kernel has (--bpf.fallbacks). The choices are recorded in core
 * (ctrlscope_bpf_feature). 0 or -errno (the probe could not
 * run). */
struct attach_group;
int kfeatures_probe(const struct bpf_object_open_opts *opts, enum tracepoint_mode mode,
		    bool fallbacks, struct attach_group *core, struct features *out);

/* Set the load-time choices that follow from f (cs_task_hash) in obj's .rodata, before it
 * is loaded. 0 or -errno (the object declares no such variable). */
struct bpf_object;
int kfeatures_configure(const struct features *f, struct bpf_object *obj);

#endif
