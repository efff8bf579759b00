"""The sched module end to end: fixtures that burn CPU, sleep, or compete for one CPU, in
cgroups this test creates; CPU time, context switches and run-queue waits read back over
HTTP."""

import os
import time

from harness import Scene, key


def config(*paths):
    return "targets:\n" + "".join(
        "  - name: t%d\n    process:\n      cgroup: [\"%s\"]\n" % (i, p)
        for i, p in enumerate(paths))


def stats(agent, target):
    m = agent.metrics()
    labels = dict(target=target, comm="sysload")
    return {
        "cpu": m.get(key("ctrlscope_cpu_seconds_total", **labels), 0.0),
        "voluntary": m.get(key("ctrlscope_context_switches_total", kind="voluntary", **labels), 0),
        "wait_count": m.get(key("ctrlscope_runqueue_wait_seconds_count", **labels), 0),
        "wait_sum": m.get(key("ctrlscope_runqueue_wait_seconds_sum", **labels), 0.0),
    }


def delta(before, after):
    return {k: after[k] - before[k] for k in after}


def settled(agent, target, before, ok, timeout=5.0):
    """The change since before, once ok(change) holds or timeout passed: an exited
    thread's last CPU time and switches are counted when the kernel frees it, an RCU grace
    period after it was reaped."""
    deadline = time.time() + timeout
    while True:
        d = delta(before, stats(agent, target))
        if ok(d) or time.time() > deadline:
            return d
        time.sleep(0.05)


def test_cpu_time_of_a_burning_target_within_5_percent():
    burn = 1.5
    with Scene() as s:
        path = s.cgroup("burn")
        agent = s.agent(config(path))
        f = s.fixture(["--burn-ms", str(int(burn * 1000))], path)
        agent.wait_for("ctrlscope_target_processes", 1, target="t0")
        before = stats(agent, "t0")
        f.go()
        f.wait_done()
        d = settled(agent, "t0", before, lambda d: d["cpu"] >= 0.95 * burn)
        assert abs(d["cpu"] - burn) <= 0.05 * burn, d


def test_cpu_time_of_a_running_target_counts_before_it_stops():
    """A thread that never stops running is brought up to date at each scrape."""
    with Scene() as s:
        path = s.cgroup("burn")
        agent = s.agent(config(path))
        f = s.fixture(["--burn-ms", "3000"], path)
        agent.wait_for("ctrlscope_target_processes", 1, target="t0")
        before = stats(agent, "t0")
        f.go()
        time.sleep(1.0)
        mid = delta(before, stats(agent, "t0"))["cpu"]
        f.wait_done()
        total = settled(agent, "t0", before, lambda d: d["cpu"] >= 2.85)["cpu"]
        assert 0.5 <= mid <= 1.5, mid
        assert abs(total - 3.0) <= 0.15, total


def test_sleeps_are_voluntary_switches():
    n = 200
    with Scene() as s:
        path = s.cgroup("sleep")
        agent = s.agent(config(path))
        f = s.fixture(["--nanosleep", str(n), "--sleep-ns", "1000000"], path)
        agent.wait_for("ctrlscope_target_processes", 1, target="t0")
        before = stats(agent, "t0")
        f.go()
        f.wait_done()
        d = settled(agent, "t0", before, lambda d: d["voluntary"] >= n)
        # Each sleep is one switch; the exiting thread's last switch is one more, and
        # writing "done" to the pipe may block once.
        assert n <= d["voluntary"] <= n + 3, d


def test_two_burners_on_one_cpu_wait_for_each_other():
    burn_ms = 1000
    with Scene() as s:
        a, b = s.cgroup("a"), s.cgroup("b")
        agent = s.agent(config(a, b))
        fa = s.fixture(["--burn-ms", str(burn_ms), "--cpu", "0"], a)
        fb = s.fixture(["--burn-ms", str(burn_ms), "--cpu", "0"], b)
        agent.wait_for("ctrlscope_target_processes", 1, target="t0")
        agent.wait_for("ctrlscope_target_processes", 1, target="t1")
        before = {t: stats(agent, t) for t in ("t0", "t1")}
        start = time.time()
        fa.go()
        fb.go()
        walls = {}
        for t, f in (("t0", fa), ("t1", fb)):
            f.wait_done()
            walls[t] = time.time() - start
        for t in ("t0", "t1"):
            d = settled(agent, t, before[t], lambda d: d["cpu"] >= 0.95 * burn_ms / 1000)
            waited = walls[t] - d["cpu"]
            assert d["wait_count"] > 0, d
            # Each ran about half the time and waited for the other the rest.
            assert waited > 0.3, (walls, d)
            assert 0.6 * waited <= d["wait_sum"] <= 1.4 * waited, (t, walls[t], d)


def test_throttling_of_a_cpu_limited_cgroup_is_the_cgroups_own():
    """10% of a CPU (quota 10 ms per 100 ms period) and 200 ms to burn: about 2 s held
    back over about 20 periods. The agent reports exactly what the cgroup's cpu.stat
    says; a target without a limit has no throttling series."""
    with Scene() as s:
        limited, free = s.cgroup("limited"), s.cgroup("free")
        v1 = s.cgroups.limit("limited", "cpu", {"cpu.max": "10000 100000"},
                             {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "10000"})
        stat = (os.path.dirname(v1) if v1 else s.cgroups.mount + limited) + "/cpu.stat"
        agent = s.agent(config(limited, free))
        fl = s.fixture(["--burn-ms", "200", "--hold"], limited, join=[v1])
        ff = s.fixture(["--burn-ms", "200", "--hold"], free)
        agent.wait_for("ctrlscope_target_processes", 1, target="t0")
        agent.wait_for("ctrlscope_target_processes", 1, target="t1")
        fl.go()
        ff.go()
        fl.read_done()
        ff.read_done()
        m = agent.metrics()
        with open(stat) as f:
            own = dict(line.split() for line in f.read().splitlines())
        periods = int(own["nr_throttled"])
        seconds = (int(own["throttled_usec"]) / 1e6 if "throttled_usec" in own
                   else int(own["throttled_time"]) / 1e9)
        labels = dict(target="t0", comm="sysload")
        assert m[key("ctrlscope_cpu_throttled_periods_total", **labels)] == periods
        assert abs(m[key("ctrlscope_cpu_throttled_seconds_total", **labels)] - seconds) < 1e-6
        assert periods >= 10, own
        assert seconds >= 0.8, own
        assert not [k for k in m if k[0].startswith("ctrlscope_cpu_throttled")
                    and dict(k[1]).get("target") == "t1"]
        fl.wait_done(words=[])
        ff.wait_done(words=[])
