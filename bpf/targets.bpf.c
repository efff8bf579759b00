// SPDX-License-Identifier: GPL-2.0
/* Decides which tasks are targets. Keeps the task_state filter that every module's hot
 * path reads in step with exec, fork, exit, rename and cgroup moves, and tells user space
 * about the lifecycle events it needs to evaluate process selectors. Counts only program
 * starts, for the proc module: the exec's classification happens here. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 self_tgid;
const volatile bool exec_events;

__u64 slots_exhausted;
__u64 events_lost;
__u64 tgid_full;
__u64 threads_full; /* task_state full (cs_task_hash): a thread left unmeasured */
__s64 task_states;  /* entries of task_state (cs_task_hash) */
__u32 start_tgid;   /* cs_start_iter: the process whose start user space counts */
__u64 slot_epoch;   /* set by user space before each use census (cs_seen_iter) */
const volatile __u64 ns_per_tick = 10000000; /* 1e9 / sysconf(_SC_CLK_TCK), set by user space */

/* Processes chosen by user space (process selectors) and their forked children. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, __u32);
	__type(value, struct cs_match);
} tgid_targets SEC(".maps");

/* Process names the kernel decides alone, at exec and rename: selectors of only `comm`
 * whose targets no selector before them could take from them (user/targets/targets.c),
 * so that a process is measured from its first call. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct cs_comm_key);
	__type(value, struct cs_match);
} comm_targets SEC(".maps");

/* Whole cgroups chosen by user space: a task in one is a target from its first exec. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct cs_match);
} cgroup_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct cs_slot_key);
	__type(value, __u32);
} label_sets SEC(".maps");

/* Slots user space recycled (the pod of a Kubernetes target was deleted and its series
 * dropped): taken before new ones. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1);
	__type(value, __u32);
} free_slots SEC(".maps");

/* Per label set: programs started (exec) by processes that were targets right after the
 * exec. The proc module reports them; counted here because only here the exec's
 * classification is known. */
/* Every slot never used yet, 0 to max_slots - 1 in order, filled by user space: popping
 * one stands for an atomic fetch-and-add on a counter (maps.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1);
	__type(value, __u32);
} slot_tickets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* label sets */
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

/* Per label set: the slot_epoch at which a task was last given the slot or found holding
 * it. User space releases a process target's label set that no task held for
 * label_set_grace, and checks this again after deleting its key: a task that took the
 * slot meanwhile keeps it (user/targets/targets.c, release_idle). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* label sets */
	__type(key, __u32);
	__type(value, __u64);
} slot_seen SEC(".maps");

/* The targets' names by id, for an agent that adopts this state (user/core/pin.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct cs_target_name);
} target_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline bool cgroup_is_v2(struct cgroup *cgrp)
{
	/* The default (v2) hierarchy is hierarchy 0: the "0::" line of /proc/<pid>/cgroup. */
	return BPF_CORE_READ(cgrp, root, hierarchy_id) == 0;
}

static __always_inline void mark_seen(__u32 slot)
{
	__u64 *seen = bpf_map_lookup_elem(&slot_seen, &slot);

	if (seen)
		*seen = *(volatile __u64 *)&slot_epoch;
}

static __always_inline __u32 slot_get(struct cs_slot_key *key)
{
	__u32 *found = bpf_map_lookup_elem(&label_sets, key);
	__u32 slot;

	if (found)
		return *found;
	if (!bpf_map_pop_elem(&free_slots, &slot))
		goto publish;
	if (bpf_map_pop_elem(&slot_tickets, &slot)) {
		__sync_fetch_and_add(&slots_exhausted, 1);
		return CS_SLOT_NONE;
	}
publish:
	if (bpf_map_update_elem(&label_sets, key, &slot, BPF_NOEXIST)) {
		/* Another CPU inserted the same label set first: use its slot. A recycled one
		 * goes back. */
		bpf_map_push_elem(&free_slots, &slot, 0);
		found = bpf_map_lookup_elem(&label_sets, key);
		return found ? *found : CS_SLOT_NONE;
	}
	return slot;
}

/* A new state for task: init's copy, kept if the task has one already. NULL when full. */
static __always_inline struct cs_task *task_state_create(struct task_struct *task,
							 struct cs_task *init)
{
	struct cs_task *state;
	int tid = task->pid;

	init->start_ns = task->start_time;
	if (!cs_task_hash)
		return bpf_task_storage_get(&task_state, task, init,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
	/* Never for a task past exit_notify(): its cs_task_free may have run already (a user
	 * space resync can still hold it), and the entry would outlive it. A task seen here
	 * with no exit_state is released only after this program's RCU read section began,
	 * so its cs_task_free comes after this entry. */
	if (task->exit_state)
		return NULL;
	state = bpf_map_lookup_elem(&task_state, &tid);
	if (state && state->start_ns == init->start_ns)
		return state;
	if (state) {
		/* An earlier task's, whose free was missed: this task takes the entry over. */
		bpf_map_update_elem(&task_state, &tid, init, BPF_EXIST);
	} else if (!bpf_map_update_elem(&task_state, &tid, init, BPF_NOEXIST)) {
		__sync_fetch_and_add(&task_states, 1);
	} else if (!bpf_map_lookup_elem(&task_state, &tid)) {
		__sync_fetch_and_add(&threads_full, 1);
	}
	return cs_task_state(task);
}

/* 0 when task had a state, which is gone now. */
static __always_inline long task_state_delete(struct task_struct *task)
{
	int tid = task->pid;
	long err;

	if (!cs_task_hash)
		return bpf_task_storage_delete(&task_state, task);
	/* Another task's entry under the same id is left to its owner (or to user space's
	 * sweep, targets_sweep). */
	if (!cs_task_state(task))
		return -ENOENT;
	err = bpf_map_delete_elem(&task_state, &tid);
	if (!err)
		__sync_fetch_and_add(&task_states, -1);
	return err;
}

/* After the storage changed: modules drop what they remembered of non-targets. */
static __always_inline void bump_target_gen(void)
{
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&target_gen, &zero);

	if (gen)
		__sync_fetch_and_add(gen, 1);
}

/* Whether the task's process belongs to the label set slot on its own account: its parent
 * is not a target of the same label set. (Threads share their leader's parent.) */
static __always_inline bool is_root(struct task_struct *task, __u32 slot)
{
	struct task_struct *parent = task->real_parent;
	struct cs_task *ps;

	if (!parent)
		return true;
	ps = cs_task_state(parent);
	return !ps || ps->slot != slot;
}

/* Whether task's process is the first of its PID namespace: a container's init. */
static __always_inline bool is_pid_ns_init(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level;
	int nr = 0;

	if (!pid)
		return false;
	level = BPF_CORE_READ(pid, level);
	if (level > 32) /* MAX_PID_NS_LEVEL: never deeper, and the verifier needs the bound */
		return false;
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level].nr);
	return nr == 1;
}

/* Whether task's process is one of slot's own, whose starts and exits count: not a helper
 * its parent of the same label set forked and, in a container, only the container's init
 * (what `kubectl exec` runs in it is not a start of the container). */
static __always_inline bool owns_process(struct task_struct *task, __u32 slot, __u32 key_by)
{
	if (!is_root(task, slot))
		return false;
	return key_by != CS_KEY_BY_CONTAINER || is_pid_ns_init(task);
}

/* When task's process started, as /proc/<pid>/stat's starttime says it (cs_match.start). */
static __always_inline __u64 start_ticks(struct task_struct *task)
{
	__u64 ns = BPF_CORE_READ(task, group_leader, start_boottime);

	return ns_per_tick ? ns / ns_per_tick : 0;
}

/* Decide whether task is a target and record its slot in its task storage. A process
 * selector (tgid) wins over a cgroup, as user space evaluated every selector in order.
 * leader_comm is the new comm of a renaming leader (the task still has the old one). */
static __always_inline void classify(struct task_struct *task, const char *leader_comm)
{
	struct cs_slot_key key = {};
	struct cs_task *state;
	struct cs_match *match = NULL;
	__u32 tgid = task->tgid;
	__u64 cgid = task_cgroup_id(task);
	__u32 slot;

	/* The leader's comm names the process (and keys comm_targets). */
	if (leader_comm)
		bpf_probe_read_kernel_str(key.comm, sizeof(key.comm), leader_comm);
	else
		BPF_CORE_READ_STR_INTO(&key.comm, task, group_leader, comm);
	if (tgid != self_tgid) {
		match = bpf_map_lookup_elem(&tgid_targets, &tgid);
		if (match && match->start && match->start != start_ticks(task))
			match = NULL; /* an exited process's, left for user space to sweep */
		if (!match) {
			/* The earlier target in the config's order, as user space decides. */
			struct cs_match *by_cgroup = bpf_map_lookup_elem(&cgroup_targets, &cgid);
			struct cs_match *by_comm = bpf_map_lookup_elem(&comm_targets, key.comm);

			match = by_cgroup;
			if (by_comm && (!by_cgroup || by_comm->order < by_cgroup->order))
				match = by_comm;
		}
	}
	if (!match)
		goto not_target;

	key.target = match->target;
	key.key_by = match->key_by;
	if (key.key_by == CS_KEY_BY_CONTAINER) {
		key.container = match->container;
		__builtin_memset(key.comm, 0, sizeof(key.comm));
	}

	slot = slot_get(&key);
	if (slot == CS_SLOT_NONE)
		goto not_target;
	state = cs_task_state(task);
	if (state && state->slot == slot)
		return;
	if (!state) {
		struct cs_task init = {
			.slot = slot,
			.target = key.target,
			.cpu_done_ns = task->se.sum_exec_runtime,
			.nvcsw_done = task->nvcsw,
			.nivcsw_done = task->nivcsw,
		};

		state = task_state_create(task, &init);
	}
	if (state) {
		state->slot = slot;
		state->target = key.target;
		mark_seen(slot);
		/* Every classification starts the flags over, CS_TASK_STARTED included:
		 * on_exec compares with the flags the task had before it to tell a new
		 * start from a program executing its next one in place. */
		state->flags = owns_process(task, slot, key.key_by) ? CS_TASK_ROOT : 0;
		bump_target_gen();
	}
	return;

not_target:
	if (!task_state_delete(task))
		bump_target_gen();
}

/* comm is the leader's new comm on a rename, else NULL for the current one. */
static __always_inline void emit(__u32 type, struct task_struct *task, __u64 cgid, const char *comm)
{
	struct cs_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		__sync_fetch_and_add(&events_lost, 1);
		return;
	}
	ev->type = type;
	ev->tgid = task->tgid;
	ev->cgroup_id = cgid;
	ev->parent_id = 0;
	ev->name[0] = 0;
	if (comm)
		bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), comm);
	else
		BPF_CORE_READ_STR_INTO(&ev->comm, task, group_leader, comm);
	bpf_ringbuf_submit(ev, 0);
}

/* The process of state (its leader's) started: count it once for its label set. */
static __always_inline void count_start(struct cs_task *state)
{
	__u32 slot = state->slot;
	__u64 *n = bpf_map_lookup_elem(&starts, &slot);

	state->flags |= CS_TASK_STARTED;
	if (n)
		*n += 1; /* per-CPU value */
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	struct cs_task *pstate, init = {};
	struct cs_match *match;
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	pstate = cs_task_state(parent);
	if (!pstate)
		return 0;
	/* Threads and forked children measure with their parent until they exec; a forked
	 * child is its parent's helper, not a process of the label set's own. */
	init.slot = pstate->slot;
	init.target = pstate->target;
	init.flags = ctgid == ptgid ? pstate->flags : 0;
	if (task_state_create(child, &init)) {
		mark_seen(init.slot);
		bump_target_gen();
	}
	if (ctgid == ptgid)
		return 0;
	match = bpf_map_lookup_elem(&tgid_targets, &ptgid);
	if (match && (!match->start || match->start == start_ticks(parent))) {
		struct cs_match copy = *match;

		copy.start = start_ticks(child);
		if (bpf_map_update_elem(&tgid_targets, &ctgid, &copy, BPF_ANY))
			__sync_fetch_and_add(&tgid_full, 1);
	}
	return 0;
}

static __always_inline int on_exec(struct task_struct *task)
{
	struct cs_task *state;
	__u32 was_slot = CS_SLOT_NONE, was_flags = 0;

	state = cs_task_state(task);
	if (state) {
		was_slot = state->slot;
		was_flags = state->flags;
	}
	classify(task, NULL);
	state = cs_task_state(task);
	/* A start of the label set's own process; not its helpers' programs, nor a process
	 * of the label set that started already executing its next program (an entrypoint
	 * script's exec). */
	if (state && (state->flags & CS_TASK_ROOT) &&
	    !(was_slot == state->slot && (was_flags & CS_TASK_STARTED)))
		count_start(state);
	/* A target now runs another program: modules that read its executable look again. */
	if (state && was_slot == state->slot)
		bump_target_gen();
	if (exec_events)
		emit(CS_EV_EXEC, task, task_cgroup_id(task), NULL);
	return 0;
}

static __always_inline int on_exit(struct task_struct *task)
{
	__u32 tgid = task->tgid;

	/* signal->live drops to 0 when the last thread of the process exits (do_exit()
	 * decrements it before this tracepoint); the tgid may then be reused. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&tgid_targets, &tgid);
	/* A target process is gone: modules that keep state per process let it go. */
	if (cs_task_state(task))
		bump_target_gen();
	return 0;
}

/* fork in two variants, chosen with exec's and exit's: sched_process_fork runs
 * preemptibly on Linux 7.0+ and may be skipped; sched_wakeup_new, which wakes the child
 * for the first time, runs with the run queue locked (never preempted) in the parent's
 * context, before the child can run at all. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(cs_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(cs_fork_wakeup, struct task_struct *child)
{
	return on_fork(bpf_get_current_task_btf(), child);
}

/* exec and exit in two variants, one chosen at load time (user/core/kfeatures.h): where BTF
 * tracepoints run preemptibly (Linux 7.0+), the kernel may skip them, and a missed exit
 * would leave a reused tgid selected; classic tracepoints run with preemption disabled.
 * Both run in the task's own context. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(cs_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(task);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(cs_exit, struct task_struct *task)
{
	return on_exit(task);
}

SEC("tracepoint/sched/sched_process_exec")
int cs_exec_tp(void *ctx)
{
	return on_exec(bpf_get_current_task_btf());
}

SEC("tracepoint/sched/sched_process_exit")
int cs_exit_tp(void *ctx)
{
	return on_exit(bpf_get_current_task_btf());
}

/* cs_task_hash only: the kernel frees the task. Runs after every module's program on this
 * tracepoint (the core attaches last), so a module may still read the state here. A
 * thread id is free for reuse once the task is released, but the kernel hands out ids in
 * cycles: a reuse before this RCU callback would need the whole id space in one grace
 * period.
 *
 * The kernel may not run this program for every free (measured on Linux 6.18: about one
 * free in 400 from softirq context, with no recursion miss counted). The entry then
 * stays: its start time keeps the next task with the same id from taking it for its
 * own, and user space deletes it once the thread is gone (targets_sweep). */
SEC("tp_btf/sched_process_free")
int BPF_PROG(cs_task_free, struct task_struct *task)
{
	task_state_delete(task);
	return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(cs_rename, struct task_struct *task, const char *comm)
{
	/* The leader's comm names the process; other threads keep their slot. */
	if (task->pid != task->tgid)
		return 0;
	/* exec renames too: cs_exec handles that, once the new program is in place. */
	if (bpf_core_field_exists(task->in_execve) && BPF_CORE_READ_BITFIELD(task, in_execve))
		return 0;
	classify(task, comm);
	if (exec_events)
		emit(CS_EV_RENAME, task, task_cgroup_id(task), comm);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cs_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	if (!cgroup_is_v2(dst))
		return 0;
	classify(task, NULL);
	/* User space re-evaluates the process and reclassifies its other threads. */
	emit(CS_EV_ATTACH, task, BPF_CORE_READ(dst, kn, id), NULL);
	return 0;
}

static __always_inline void emit_cgroup(__u32 type, struct cgroup *cgrp)
{
	struct cs_event *ev;

	if (!cgroup_is_v2(cgrp))
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&events_lost, 1);
		return;
	}
	ev->type = type;
	ev->tgid = 0;
	ev->comm[0] = 0;
	ev->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	ev->parent_id = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	bpf_probe_read_kernel_str(ev->name, sizeof(ev->name), BPF_CORE_READ(cgrp, kn, name));
	bpf_ringbuf_submit(ev, 0);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cs_mkdir, struct cgroup *cgrp, const char *path)
{
	emit_cgroup(CS_EV_MKDIR, cgrp);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cs_rmdir, struct cgroup *cgrp, const char *path)
{
	emit_cgroup(CS_EV_RMDIR, cgrp);
	return 0;
}

/* Run by user space over all tasks, or the threads of one process, after it changed the
 * filter maps: seeds task storage on tasks that existed before. */
SEC("iter/task")
int cs_classify_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task)
		classify(task, NULL);
	return 0;
}

/* Run by user space for start_tgid right after only its own evaluation made that process a
 * target (a name or exe selector decided after the exec, or a container whose cgroup was
 * selected after its program started): counts the start the exec could not. */
SEC("iter/task")
int cs_start_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct cs_task *state;

	if (!task || task->pid != task->tgid || (__u32)task->tgid != start_tgid)
		return 0;
	state = cs_task_state(task);
	if (state && (state->flags & CS_TASK_ROOT) && !(state->flags & CS_TASK_STARTED))
		count_start(state);
	return 0;
}

/* The use census: marks every slot a live task holds with the current slot_epoch. */
SEC("iter/task")
int cs_seen_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct cs_task *state;

	if (!task)
		return 0;
	state = cs_task_state(task);
	if (state)
		mark_seen(state->slot);
	return 0;
}

/* Lists thread-group leaders with their cgroup, for the start-up evaluation. */
SEC("iter/task")
int cs_census_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct cs_census rec = {};

	if (!task || task->pid != task->tgid || (__u32)task->tgid == self_tgid)
		return 0;
	rec.tgid = task->tgid;
	rec.cgroup_id = task_cgroup_id(task);
	BPF_CORE_READ_STR_INTO(&rec.comm, task, comm);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
