/* Start-up probes of the kernel: see features.h. */
#include "kfeatures.h"
#include "attach.h"
#include "buf.h"
#include "log.h"
#include "kfeatures.skel.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/libbpf.h>

int kfeatures_parse_tracepoints(const char *text, enum tracepoint_mode *mode)
{
	static const char *const names[] = { [TRACEPOINTS_AUTO] = "auto",
					     [TRACEPOINTS_BTF] = "btf",
					     [TRACEPOINTS_CLASSIC] = "classic" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(text, names[i])) {
			*mode = (enum tracepoint_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Run cs_probe_preempt once on this thread. 1 preemptible, 0 not, -errno unknown. */
static int probe_preemptible(const struct bpf_object_open_opts *opts)
{
	struct kfeatures_bpf *skel = kfeatures_bpf__open_opts(opts);
	struct buf held;
	int err;

	if (!skel)
		return -errno;
	skel->rodata->probe_tid = (__u32)syscall(SYS_gettid);
	buf_init(&held);
	log_hold_libbpf_warnings(&held);
	err = kfeatures_bpf__load(skel);
	log_hold_libbpf_warnings(NULL);
	if (err && buf_cstr(&held))
		log_debug("the preemption probe did not load: %s", held.data);
	buf_free(&held);
	if (!err)
		err = kfeatures_bpf__attach(skel);
	if (!err) {
		syscall(SYS_getppid);
		kfeatures_bpf__detach(skel);
		if (skel->bss->probe_state == 1)
			err = skel->bss->migration_disabled > 0;
		else
			err = -EOPNOTSUPP;
	}
	kfeatures_bpf__destroy(skel);
	return err;
}

/* libbpf finds tracepoint ids under one of these two paths only. */
static bool tracefs_ready(void)
{
	return !access("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id", R_OK) ||
	       !access("/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id", R_OK);
}

int kfeatures_mount_tracefs(void)
{
	if (tracefs_ready())
		return 0;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL))
		return -errno;
	log_info("mounted tracefs at /sys/kernel/tracing (classic tracepoints need it)");
	return tracefs_ready() ? 0 : -ENOENT;
}

int kfeatures_probe(const struct bpf_object_open_opts *opts, enum tracepoint_mode mode,
		    struct features *out)
{
	int preemptible = probe_preemptible(opts), err;

	*out = (struct features){ 0 };
	out->task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1;
	if (preemptible < 0)
		log_info("cannot tell whether this kernel preempts tracepoint programs (%s): "
			 "taken as not",
			 strerror(-preemptible));
	out->tracepoints_preemptible = preemptible == 1;
	attach_feature("core", "tracepoint_context",
		       preemptible < 0 ? "unknown"
		       : preemptible   ? "preemptible"
				       : "non_preemptible",
		       NULL);
	out->classic_tracepoints = mode == TRACEPOINTS_CLASSIC ||
				   (mode == TRACEPOINTS_AUTO && out->tracepoints_preemptible);
	if (out->classic_tracepoints) {
		err = kfeatures_mount_tracefs();
		if (err) {
			log_warn("classic tracepoints need tracefs at /sys/kernel/tracing, which "
				 "cannot be mounted (%s): using BTF tracepoints%s",
				 strerror(-err),
				 out->tracepoints_preemptible
					 ? ", which this kernel may skip (see "
					   "ctrlscope_bpf_program_recursion_misses_total)"
					 : "");
			out->classic_tracepoints = false;
		}
	}
	attach_feature("core", "tracepoints", out->classic_tracepoints ? "classic" : "btf", NULL);
	return 0;
}
