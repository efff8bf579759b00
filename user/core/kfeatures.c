/* Start-up probes of the kernel: see features.h. */
#include "kfeatures.h"
#include "attach.h"
#include "buf.h"
#include "log.h"
#include "kfeatures.skel.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#ifndef BPF_ATOMIC
#define BPF_ATOMIC 0xc0
#endif
#ifndef BPF_FETCH
#define BPF_FETCH 0x01
#endif

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
		else if (skel->bss->probe_state == 2)
			err = 0; /* older than preemptible tracepoints */
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

/* Whether the verifier takes an atomic fetch-and-add (on the stack of a socket filter,
 * which every kernel with BPF can load). */
static bool probe_atomics(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .off = -8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_1,
		  .off = -8,
		  .imm = BPF_ADD | BPF_FETCH },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL, "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Where name is in obj's .rodata, and its size; NULL when it is not there. */
static void *rodata_var(struct bpf_object *obj, const char *name, size_t *size)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	size_t data_size;
	char *data;
	int id;

	if (!map || !btf)
		return NULL;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	/* The skeleton writes .rodata through the same memory before loading. */
	data = (char *)(uintptr_t)bpf_map__initial_value(map, &data_size);
	if (id < 0 || !data)
		return NULL;
	sec = btf__type_by_id(btf, (__u32)id);
	vs = btf_var_secinfos(sec);
	for (__u16 i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name) ||
		    (size_t)vs->offset + vs->size > data_size)
			continue;
		*size = vs->size;
		return data + vs->offset;
	}
	return NULL;
}

int kfeatures_configure(const struct features *f, struct bpf_object *obj)
{
	const struct {
		const char *name;
		bool value;
	} vars[] = { { "cs_task_hash", !f->task_storage } };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		size_t size = 0;
		bool *v = rodata_var(obj, vars[i].name, &size);

		if (!v || size != sizeof(bool))
			return -ENOENT;
		*v = vars[i].value;
	}
	return 0;
}

int kfeatures_probe(const struct bpf_object_open_opts *opts, enum tracepoint_mode mode,
		    bool fallbacks, struct attach_group *core, struct features *out)
{
	int preemptible = probe_preemptible(opts), err;

	*out = (struct features){ 0 };
	out->task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1;
	out->atomics = probe_atomics();
	if (fallbacks) {
		log_info("--bpf.fallbacks: using the fallbacks for kernels before 5.12");
		out->task_storage = out->atomics = false;
	}
	attach_feature(core, "task_state", out->task_storage ? "task_storage" : "hash",
		       out->task_storage ? NULL
		       : fallbacks	 ? "a hash map keyed by thread id (--bpf.fallbacks)"
					 : "no task-local storage before Linux 5.11: a hash map "
					   "keyed by thread id (limits.threads)");
	if (mode == TRACEPOINTS_CLASSIC && !out->task_storage) {
		log_warn("--bpf.tracepoints=classic needs Linux 5.11 (bpf_get_current_task_btf): "
			 "using BTF tracepoints, which this kernel never preempts");
		mode = TRACEPOINTS_BTF;
	}
	if (preemptible < 0)
		log_info("cannot tell whether this kernel preempts tracepoint programs (%s): "
			 "taken as not",
			 strerror(-preemptible));
	out->tracepoints_preemptible = preemptible == 1;
	attach_feature(core, "tracepoint_context",
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
	attach_feature(core, "tracepoints", out->classic_tracepoints ? "classic" : "btf", NULL);
	return 0;
}
