/* Where the reconcile module probes a controller-runtime binary: from the file alone, the
 * build information (which controller-runtime, hence the reconcile.Result layout), the
 * shaped generic methods of its Controller, their bodies, returns and calls, and the file
 * offsets of all of them. Pure: no BPF, no process; the tests run it on real binaries. */
#ifndef CTRLSCOPE_RECONCILE_PLAN_H
#define CTRLSCOPE_RECONCILE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a binary gets no probes: the `reason` label of ctrlscope_go_binaries_skipped_total. */
enum rec_skip {
	REC_OK,
	REC_SKIP_UNREADABLE, /* not an ELF file this agent reads */
	REC_SKIP_NOT_GO,     /* no Go build information */
	REC_SKIP_NO_CR,	     /* Go, without sigs.k8s.io/controller-runtime */
	REC_SKIP_VERSION,    /* a controller-runtime version not known to this agent */
	REC_SKIP_SYMBOLS,    /* its functions were not found, or not as expected */
	REC_SKIPS,
};

extern const char *const rec_skip_names[REC_SKIPS];

/* What a probe reads (one BPF program each, bpf/reconcile.bpf.c). */
enum rec_probe_kind {
	REC_PROBE_BEGIN,    /* the body of Reconcile */
	REC_PROBE_RETURN,   /* a return of Reconcile */
	REC_PROBE_PANIC,    /* its return after runtime.deferreturn: a recovered panic */
	REC_PROBE_TERMINAL, /* after reconcileHandler's errors.Is call */
	REC_PROBE_END,	    /* the body of updateMetrics */
	/* The work queues' metrics methods (client-go's queue and the priority queue),
	 * shaped for reconcile.Request: their bodies. */
	REC_PROBE_WQ_ADD,
	REC_PROBE_WQ_GET,
	REC_PROBE_WQ_DONE,
	REC_PROBE_WQ_RETRY,	  /* client-go's: by goroutine */
	REC_PROBE_WQ_RETRY_QUEUE, /* the priority queue's: by its receiver */
};

struct rec_probe {
	enum rec_probe_kind kind;
	uint64_t addr;	 /* virtual address */
	uint64_t offset; /* in the file: where the uprobe goes */
};

struct rec_plan {
	char go_version[32];
	char cr_version[64];	 /* the controller-runtime version its layout was chosen by */
	bool result24;		 /* reconcile.Result has Priority (v0.23.0 and later) */
	bool terminal;		 /* terminal errors are told apart */
	bool panics;		 /* panics are told apart */
	bool pclntab;		 /* functions came from .gopclntab (a stripped binary) */
	bool workqueue;		 /* the work queues are probed too */
	char workqueue_why[160]; /* why not, when they are not */
	size_t shapes;		 /* instantiations of Controller found */
	struct rec_probe *probes;
	size_t n_probes;
};

/* Plan the probes of the executable open on fd. REC_OK with *plan filled (free it with
 * rec_plan_free), or why not with one line in why; -ENOMEM as a negative value. */
int rec_plan_binary(int fd, struct rec_plan *plan, char *why, size_t why_size);
void rec_plan_free(struct rec_plan *plan);

/* A module version ("v0.23.0", "v0.22.5-0.20250101000000-abcdef", ...): 0 when it parses,
 * with its numbers and whether it is a pre-release or pseudo-version. */
int rec_parse_version(const char *v, unsigned *major, unsigned *minor, unsigned *patch, bool *pre);

#endif
