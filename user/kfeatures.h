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
	/* BPF_MAP_TYPE_TASK_STORAGE (Linux 5.11), which the targets core needs. */
	bool task_storage;
};

/* "auto", "btf" or "classic" (--bpf.tracepoints); -EINVAL for anything else. */
int kfeatures_parse_tracepoints(const char *text, enum tracepoint_mode *mode);
/* Make tracefs reachable where libbpf looks for tracepoint ids: 0 when it is (mounted
 * now at /sys/kernel/tracing if it was not), else -errno. */
int kfeatures_mount_tracefs(void);
/* Probe this kernel and choose. Classic tracepoints need tracefs: mounted at
 * /sys/kernel/tracing when it is not (and possible); without it, BTF tracepoints are
 * used and the log says what may be missed. 0 or -errno (the probe could not run). */
int kfeatures_probe(const struct bpf_object_open_opts *opts, enum tracepoint_mode mode,
		    struct features *out);

#endif
