/* How a task is tied to a target: the filter maps user space fills, the per-task state
 * that every module's hot path reads, and the lifecycle events sent to user space.
 * Shared by bpf/targets.bpf.c, every module's BPF side and user/targets/targets.c. */
#ifndef CTRLSCOPE_TARGETS_H
#define CTRLSCOPE_TARGETS_H

#include "types.h"

#define CS_COMM_LEN    16
#define CS_NAME_LEN    256 /* a cgroup directory name: NAME_MAX + 1 */
#define CS_SLOT_NONE   0xffffffffu
#define CS_MAX_TARGETS 64

/* What makes two processes of one target share series. */
enum cs_key_by {
	CS_KEY_BY_COMM = 1,	 /* process targets: the thread-group leader's comm */
	CS_KEY_BY_CONTAINER = 2, /* Kubernetes targets: the container (pod UID and name), so
				  * that a restarted container continues its series */
};

/* Value of the tgid_targets and cgroup_targets maps. */
/* Key of comm_targets: a process name, zero-padded. */
struct cs_comm_key {
	char comm[CS_COMM_LEN];
};

struct cs_match {
	__u32 target;	 /* the target's id (user/core/config.h): what label sets record */
	__u32 key_by;	 /* enum cs_key_by */
	__u64 container; /* CS_KEY_BY_CONTAINER: user space's id for (pod UID, container) */
	/* tgid_targets: when the process started, in clock ticks since boot (starttime in
	 * /proc/<pid>/stat), so that an entry left behind by a process that exited as it was
	 * selected never selects a later process with the same id. 0: not checked. */
	__u64 start;
	/* The target's position in the config file: of a process's matches by cgroup and by
	 * name, the earlier target wins. Ids keep their meaning across reloads; positions do
	 * not. */
	__u32 order;
	__u32 pad;
};

/* Key of the label_sets map: one label set, one slot. Slots are allocated in the kernel so
 * that exec and rename take effect before user space hears about them. */
struct cs_slot_key {
	__u32 target; /* the target's id */
	__u32 key_by;
	__u64 container;	/* CS_KEY_BY_CONTAINER only, else 0 */
	char comm[CS_COMM_LEN]; /* CS_KEY_BY_COMM only, else zeroes */
};

/* Value of the target_names map (id -> name), which only user space reads: an agent
 * adopting pinned state gives a target of the same name the id its label sets were made
 * with. */
#define CS_TARGET_NAME_LEN 132 /* a target's name: at most 128 bytes, and a NUL */
struct cs_target_name {
	char name[CS_TARGET_NAME_LEN];
	__u32 kind; /* the config's enum target_kind */
	__u32 used; /* 1: the id is taken (by a target, or by label sets of a removed one) */
	__u32 pad;
};

/* Task-local storage: present only on target tasks, so a miss is the non-target path. */
struct cs_task {
	__u32 slot;
	__u32 target;	    /* the config's target the slot belongs to */
	__u32 sys_nr;	    /* syscalls: number of the syscall in flight */
	__u32 flags;	    /* CS_TASK_* */
	__u64 sys_start_ns; /* syscalls: its start, 0 when none is in flight */
	/* sched: the task's own counters (se.sum_exec_runtime, nvcsw, nivcsw) already
	 * counted; set to their values when the task becomes a target, so that a process
	 * found running counts from then on. */
	__u64 cpu_done_ns;
	__u64 nvcsw_done;
	__u64 nivcsw_done;
	__u64 queued_ns; /* sched: when it became runnable and waits for a CPU, else 0 */
	/* The task's start_time: where task_state is keyed by thread id (cs_task_hash), an
	 * entry whose task's free the kernel never reported stays behind, and a later task
	 * reusing the id must not take it for its own. */
	__u64 start_ns;
};

/* cs_task.flags */
enum {
	/* The task's process is one of its label set's own, not a child a process of the same
	 * label set forked (a helper it runs, a worker): its starts and exits are counted. In
	 * a container, only its init (PID 1 of its PID namespace) is. */
	CS_TASK_ROOT = 1,
	/* Its start was counted at an exec: a later exec in place (an entrypoint script
	 * executing the real program) is not another start. A process that joined a
	 * target's cgroup before executing (a container's runc init) has not started yet. */
	CS_TASK_STARTED = 2,
};

enum cs_event_type {
	CS_EV_EXEC = 1, /* a process executed a program: evaluate the process selectors */
	CS_EV_RENAME,	/* a thread-group leader changed its comm */
	CS_EV_ATTACH,	/* a process moved to another cgroup v2 cgroup */
	CS_EV_MKDIR,	/* a cgroup v2 directory was created */
	CS_EV_RMDIR,	/* a cgroup v2 directory was removed */
};

struct cs_event {
	__u32 type;
	__u32 tgid;
	__u64 cgroup_id; /* the process's cgroup, or the created/removed cgroup */
	__u64 parent_id; /* MKDIR: the parent cgroup */
	char comm[CS_COMM_LEN];
	char name[CS_NAME_LEN]; /* MKDIR: the directory's name */
};

/* One record of the census iterator: a thread-group leader as the kernel sees it. */
struct cs_census {
	__u32 tgid;
	__u32 pad;
	__u64 cgroup_id;
	char comm[CS_COMM_LEN];
};

#endif
