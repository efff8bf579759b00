"""The syscalls module end to end: fixture processes in cgroups this test creates, the
agent binary, counts read back over HTTP. Every count asserted is exact."""

import os

from harness import Scene, key, parse, promtool_check, series

N_GETPPID = 1000
M_OPENAT = 7
K_SLEEPS = 5
SLEEP_NS = 20_000_000
PLAN = ["--getppid", str(N_GETPPID), "--openat-missing", str(M_OPENAT),
        "--nanosleep", str(K_SLEEPS), "--sleep-ns", str(SLEEP_NS)]


def cgroup_config(path, name="ctl"):
    return "targets:\n  - name: %s\n    process:\n      cgroup: [\"%s\"]\n" % (name, path)


def counts(m, **labels):
    """Snapshot of the values the plan moves, for one label set."""
    return {
        "getppid": m.get(key("ctrlscope_syscalls_total", syscall="getppid", **labels), 0),
        "openat_enoent": m.get(key("ctrlscope_syscall_errors_total", syscall="openat",
                                   errno="ENOENT", **labels), 0),
        "nanosleep": m.get(key("ctrlscope_syscalls_total", syscall="nanosleep", **labels), 0),
        "nanosleep_count": m.get(key("ctrlscope_syscall_duration_seconds_count",
                                     syscall="nanosleep", **labels), 0),
        "nanosleep_inf": m.get(key("ctrlscope_syscall_duration_seconds_bucket",
                                   syscall="nanosleep", le="+Inf", **labels), 0),
        "nanosleep_sum": m.get(key("ctrlscope_syscall_duration_seconds_sum",
                                   syscall="nanosleep", **labels), 0.0),
    }


def assert_plan_delta(before, after, times=1):
    d = {k: after[k] - before[k] for k in after}
    assert d["getppid"] == times * N_GETPPID, d
    assert d["openat_enoent"] == times * M_OPENAT, d
    assert d["nanosleep"] == times * K_SLEEPS, d
    assert d["nanosleep_count"] == times * K_SLEEPS, d
    assert d["nanosleep_inf"] == times * K_SLEEPS, d
    assert d["nanosleep_sum"] >= times * K_SLEEPS * SLEEP_NS / 1e9, d


def assert_histograms_consistent(m):
    """Buckets are cumulative and +Inf equals _count for every histogram series."""
    buckets = {}
    for (name, labels), v in m.items():
        if name != "ctrlscope_syscall_duration_seconds_bucket":
            continue
        d = dict(labels)
        le = d.pop("le")
        buckets.setdefault(tuple(sorted(d.items())), []).append(
            (float("inf") if le == "+Inf" else float(le), v))
    assert buckets, "no histogram series"
    for labels, bs in buckets.items():
        bs.sort()
        values = [v for _, v in bs]
        assert values == sorted(values), "buckets not cumulative for %s" % (labels,)
        count = m[("ctrlscope_syscall_duration_seconds_count", labels)]
        assert bs[-1][1] == count, "+Inf %s != count %s" % (bs[-1][1], count)


def test_exact_counts_for_target_and_nothing_for_non_target():
    with Scene() as s:
        tpath, opath = s.cgroup("target"), s.cgroup("other")
        agent = s.agent(cgroup_config(tpath))
        target = s.fixture(PLAN, tpath)
        other = s.fixture(PLAN, opath)
        m = agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        before = counts(m, target="ctl", comm="sysload")
        target.go()
        other.go()
        target.wait_done()
        other.wait_done()
        m = agent.metrics()
        assert_plan_delta(before, counts(m, target="ctl", comm="sysload"))
        assert_histograms_consistent(m)
        # The non-target made the same calls under the same comm: any leak would show
        # above as a doubled count; and no other label set exists.
        assert set(dict(k)["target"] for k in series(m, "ctrlscope_syscalls_total")) == {"ctl"}


def test_classic_tracepoints_count_the_same_and_say_so():
    """--bpf.tracepoints=classic: the perf event variants of sys_enter/sys_exit and of the
    core's exec/exit, and fork on sched_wakeup_new (what kernels that preempt BTF tracepoint
    programs get), count the same plan exactly; the choice is in ctrlscope_bpf_feature."""
    with Scene() as s:
        tpath = s.cgroup("target")
        agent = s.agent(cgroup_config(tpath), args=["--bpf.tracepoints=classic"])
        target = s.fixture(PLAN, tpath)
        m = agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        assert m[key("ctrlscope_bpf_feature", module="core", feature="tracepoints",
                     variant="classic")] == 1, series(m, "ctrlscope_bpf_feature")
        before = counts(m, target="ctl", comm="sysload")
        target.go()
        target.wait_done()
        m = agent.metrics()
        assert_plan_delta(before, counts(m, target="ctl", comm="sysload"))
        attached = {dict(k)["program"]: v for k, v in
                    series(m, "ctrlscope_program_attached").items()}
        for p in ("cs_sys_enter_tp", "cs_sys_exit_tp", "cs_fork_wakeup", "cs_exec_tp",
                  "cs_exit_tp"):
            assert attached.get(p) == 1, attached
        for p in ("cs_sys_enter", "cs_sys_exit", "cs_fork", "cs_exec", "cs_exit"):
            assert p not in attached, attached


def test_hostile_process_name_is_escaped():
    hostile = 'a"b\\c\n'  # a, quote, b, backslash, c, newline
    with Scene() as s:
        tpath = s.cgroup("target")
        agent = s.agent(cgroup_config(tpath))
        fixture = s.fixture(["--name", hostile, "--getppid", "321"], tpath)
        agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        before = agent.metrics().get(
            key("ctrlscope_syscalls_total", target="ctl", comm=hostile, syscall="getppid"), 0)
        fixture.go()
        fixture.wait_done()
        text = agent.scrape()
        assert 'comm="a\\"b\\\\c\\n"' in text, "escaped comm label not found"
        m = parse(text)
        got = m[key("ctrlscope_syscalls_total", target="ctl", comm=hostile, syscall="getppid")]
        assert got - before == 321, got
        rc, out = promtool_check(text)
        assert rc == 0, "promtool check metrics failed (%d):\n%s" % (rc, out)


def getppid_count(agent, target, comm="sysload"):
    return agent.metrics()[key("ctrlscope_syscalls_total", target=target, comm=comm,
                               syscall="getppid")]


def test_process_started_after_agent_with_threads():
    with Scene() as s:
        agent = s.agent("targets:\n  - name: late\n    process:\n      comm: [sysload]\n")
        fixture = s.fixture(["--threads", "4", "--getppid", "250"])
        agent.wait_for("ctrlscope_target_processes", 1, target="late")
        fixture.go()
        fixture.wait_done()
        assert getppid_count(agent, "late") == 1000


def test_existing_process_and_threads_are_seeded_at_start():
    with Scene() as s:
        tpath = s.cgroup("target")
        fixture = s.fixture(["--threads", "3", "--getppid", "100"], tpath)
        agent = s.agent(cgroup_config(tpath))
        agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        fixture.go()
        fixture.wait_done()
        assert getppid_count(agent, "ctl") == 300


def test_process_moved_into_target_cgroup():
    with Scene() as s:
        tpath, opath = s.cgroup("target"), s.cgroup("other")
        agent = s.agent(cgroup_config(tpath))
        fixture = s.fixture(["--threads", "2", "--getppid", "200"], opath)
        assert agent.metrics()[key("ctrlscope_target_processes", target="ctl")] == 0
        s.cgroups.move(fixture.pid, tpath)
        agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        fixture.go()
        fixture.wait_done()
        assert getppid_count(agent, "ctl") == 400


def test_cgroup_created_after_start_then_process_exits():
    with Scene() as s:
        s.cgroup("")
        agent = s.agent(cgroup_config(s.cgroups.base + "/late"))
        agent.wait_for("ctrlscope_target_cgroups", 0, target="ctl")
        tpath = s.cgroup("late")
        agent.wait_for("ctrlscope_target_cgroups", 1, target="ctl")
        fixture = s.fixture(["--getppid", "77"], tpath)
        agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        fixture.go()
        fixture.wait_done()
        agent.wait_for("ctrlscope_target_processes", 0, target="ctl")
        assert getppid_count(agent, "ctl") == 77


def test_renamed_process_changes_comm_label():
    with Scene() as s:
        # Selected by its executable, so the new name still matches after the rename.
        exe = os.path.join(os.environ["CTRLSCOPE_BUILD"], "fixtures", "sysload")
        agent = s.agent("targets:\n  - name: exe\n    process:\n      exe: [\"%s\"]\n" % exe)
        fixture = s.fixture(["--name", "renamed-ctl", "--getppid", "42"])
        agent.wait_for("ctrlscope_target_processes", 1, target="exe")
        fixture.go()
        fixture.wait_done()
        assert getppid_count(agent, "exe", comm="renamed-ctl") == 42
