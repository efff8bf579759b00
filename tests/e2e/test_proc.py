"""The proc module end to end: fixtures that exit with a status, are killed, run out of
memory in a memory-limited cgroup, or start threads, in cgroups this test creates; starts,
exits, OOM kills and thread counts read back over HTTP."""

import signal
import time

from harness import Scene, key


def config(path):
    return "targets:\n  - name: t0\n    process:\n      cgroup: [\"%s\"]\n" % path


LABELS = dict(target="t0", comm="sysload")


def exits(m, **labels):
    """{(reason, code): count} of the target's exits."""
    out = {}
    for (name, items), value in m.items():
        d = dict(items)
        if name == "ctrlscope_process_exits_total" and all(d.get(k) == v for k, v in labels.items()):
            out[(d["reason"], d["code"])] = value
    return out


def wait_exits(agent, want, timeout=10, **labels):
    deadline = time.time() + timeout
    while True:
        m = agent.metrics()
        got = exits(m, **labels)
        if got == want or time.time() > deadline:
            return m, got
        time.sleep(0.05)


def test_exit_status_is_counted_once_with_its_code():
    with Scene() as s:
        path = s.cgroup("exit")
        agent = s.agent(config(path))
        f = s.fixture(["--exit", "3"], path)
        agent.wait_for("ctrlscope_threads", 1, **LABELS)
        assert f.run_to_exit() == 3
        m, got = wait_exits(agent, {("exited", "3"): 1}, **LABELS)
        assert got == {("exited", "3"): 1}, got
        assert m[key("ctrlscope_process_starts_total", **LABELS)] == 1
        assert m[key("ctrlscope_threads", **LABELS)] == 0
        assert m[key("ctrlscope_oom_kills_total", **LABELS)] == 0


def test_sigkill_is_signaled_with_the_signal_name():
    with Scene() as s:
        path = s.cgroup("kill")
        agent = s.agent(config(path))
        f = s.fixture(["--hold"], path)
        agent.wait_for("ctrlscope_threads", 1, **LABELS)
        f.proc.send_signal(signal.SIGKILL)
        assert f.proc.wait(10) == -signal.SIGKILL
        _, got = wait_exits(agent, {("signaled", "SIGKILL"): 1}, **LABELS)
        assert got == {("signaled", "SIGKILL"): 1}, got


def test_restarts_count_every_start_and_exit():
    """Three runs of a crash-looping program: three starts, three exits with status 1,
    one label set."""
    with Scene() as s:
        path = s.cgroup("loop")
        agent = s.agent(config(path))
        for _ in range(3):
            f = s.fixture(["--exit", "1"], path)
            assert f.run_to_exit() == 1
        m, got = wait_exits(agent, {("exited", "1"): 3}, **LABELS)
        assert got == {("exited", "1"): 3}, got
        assert m[key("ctrlscope_process_starts_total", **LABELS)] == 3


def test_a_process_selected_after_its_exec_counts_its_start():
    """Selected by comm: the kernel cannot decide at the exec, user space does right
    after; the start is counted once all the same."""
    with Scene() as s:
        agent = s.agent("targets:\n  - name: byname\n    process:\n      comm: [sysload]\n")
        f = s.fixture(["--exit", "4"])
        labels = dict(target="byname", comm="sysload")
        agent.wait_for("ctrlscope_threads", 1, **labels)
        assert f.run_to_exit() == 4
        m, got = wait_exits(agent, {("exited", "4"): 1}, **labels)
        assert got == {("exited", "4"): 1}, got
        assert m[key("ctrlscope_process_starts_total", **labels)] == 1


def test_eight_threads_are_nine_with_the_main_thread():
    with Scene() as s:
        path = s.cgroup("threads")
        agent = s.agent(config(path))
        f = s.fixture(["--threads", "8", "--hold"], path)
        agent.wait_for("ctrlscope_threads", 9, **LABELS)
        f.go()
        f.read_done()  # the threads were joined
        agent.wait_for("ctrlscope_threads", 1, **LABELS)
        f.proc.stdin.close()
        assert f.proc.wait(10) == 0
        m = agent.wait_for("ctrlscope_threads", 0, **LABELS)
        # Threads leaving one by one are not processes exiting.
        assert exits(m, **LABELS) == {("exited", "0"): 1}


def test_oom_in_a_memory_limited_cgroup_is_one_kill():
    limit = 64 << 20
    with Scene() as s:
        path = s.cgroup("oom")
        v1 = s.cgroups.limit("oom", "memory",
                             {"memory.max": str(limit), "memory.swap.max": "0"},
                             {"memory.limit_in_bytes": str(limit),
                              "memory.memsw.limit_in_bytes": str(limit)})
        agent = s.agent(config(path))
        f = s.fixture(["--alloc-mb", "256"], path, join=[v1])
        agent.wait_for("ctrlscope_threads", 1, **LABELS)
        f.go()
        assert f.proc.wait(30) == -signal.SIGKILL
        m = agent.wait_for("ctrlscope_oom_kills_total", 1, **LABELS)
        assert exits(m, **LABELS) == {("signaled", "SIGKILL"): 1}


def test_helpers_of_a_target_are_not_its_starts_or_exits():
    """Three helper children (the same program, so the same label set) that exit with
    status 1, and an exec of the next program in the same process (as an entrypoint
    script does): one start and one exit, the target's own."""
    with Scene() as s:
        path = s.cgroup("helpers")
        agent = s.agent(config(path))
        f = s.fixture(["--reexec", "--spawn", "3", "--exit", "3"], path)
        agent.wait_for("ctrlscope_threads", 1, **LABELS)
        assert f.run_to_exit() == 3
        m, got = wait_exits(agent, {("exited", "3"): 1}, **LABELS)
        assert got == {("exited", "3"): 1}, got
        assert m[key("ctrlscope_process_starts_total", **LABELS)] == 1
