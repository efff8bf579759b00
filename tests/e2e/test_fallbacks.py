"""The fallbacks for kernels without task-local storage (before Linux 5.11), forced on this
kernel with --bpf.fallbacks: task state in a hash map keyed by thread id. The same exact
counts as with task storage, and no state left behind by threads that exited. (The kernel
matrix, tests/vm, runs the same on Linux 5.10, where the agent chooses them itself.)"""

import time

from harness import Scene, key

LABELS = dict(target="t0", comm="sysload")


def config(path):
    return ("targets:\n  - name: t0\n    process:\n      cgroup: [\"%s\"]\n"
            "modules:\n  net:\n    enabled: false\n" % path)


def wait_until(agent, ok, timeout=10):
    deadline = time.time() + timeout
    while True:
        m = agent.metrics()
        if ok(m) or time.time() > deadline:
            return m
        time.sleep(0.05)


def test_fallbacks_count_exactly_and_leave_no_task_state():
    with Scene() as s:
        path = s.cgroup("fallbacks")
        agent = s.agent(config(path), args=["--bpf.fallbacks"])
        m = agent.metrics()
        assert m.get(key("ctrlscope_bpf_feature", module="core", feature="task_state",
                         variant="hash")) == 1, "the agent did not use the hash map"
        assert m.get(key("ctrlscope_bpf_map_entries", map="task_state")) == 0
        f = s.fixture(["--threads", "4", "--getppid", "250", "--openat-missing", "3",
                       "--nanosleep", "5", "--sleep-ns", "1000000", "--exit", "3"], path)
        m = agent.wait_for("ctrlscope_threads", 5, **LABELS)  # the main thread and four
        assert m.get(key("ctrlscope_bpf_map_entries", map="task_state")) == 5
        assert f.run_to_exit() == 3
        m = wait_until(agent, lambda m: m.get(key("ctrlscope_bpf_map_entries",
                                                  map="task_state")) == 0 and
                       m.get(key("ctrlscope_process_exits_total", reason="exited", code="3",
                                 **LABELS)) == 1)
        # Four threads made every call; their state went with them.
        assert m.get(key("ctrlscope_syscalls_total", syscall="getppid", **LABELS)) == 1000
        assert m.get(key("ctrlscope_syscall_errors_total", syscall="openat", errno="ENOENT",
                         **LABELS)) == 12
        assert m.get(key("ctrlscope_syscalls_total", syscall="nanosleep", **LABELS)) == 20
        assert m.get(key("ctrlscope_bpf_map_entries", map="task_state")) == 0
        assert m.get(key("ctrlscope_bpf_map_full_total", map="task_state")) == 0
        assert m[key("ctrlscope_process_starts_total", **LABELS)] == 1
        assert m[key("ctrlscope_process_exits_total", reason="exited", code="3", **LABELS)] == 1
        assert m[key("ctrlscope_threads", **LABELS)] == 0
        # Each sleep is a voluntary switch; CPU time and switches of exited threads are
        # counted when the kernel frees them (cs_sched_free), found here once freed.
        vol = m[key("ctrlscope_context_switches_total", kind="voluntary", **LABELS)]
        assert 20 <= vol <= 40, vol
        assert m[key("ctrlscope_cpu_seconds_total", **LABELS)] > 0
