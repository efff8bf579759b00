"""Exact under churn: processes selected by name are measured from the first call of their
program, however short they live, and no selection outlives its process."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import Scene, key

NAME = "churnload"
LABELS = dict(target="churn", comm=NAME)
CONFIG = ("targets:\n  - name: churn\n    process:\n      comm: [%s]\n"
          "modules:\n  net:\n    enabled: false\n" % NAME)


def test_short_lived_processes_counted_from_their_first_call_and_forgotten():
    """200 processes, one after another, each making 5 calls the moment it starts (its
    "go" is already in its stdin): the kernel decides a name selector at exec, so nothing
    waits for user space. Then every selection of them is gone (within two sweeps)."""
    d = tempfile.mkdtemp(prefix="ctrlscope-churn-")
    binary = os.path.join(d, NAME)
    shutil.copy(os.path.join(harness.BUILD, "fixtures", "sysload"), binary)
    try:
        with Scene() as s:
            agent = s.agent(CONFIG)
            for _ in range(200):
                subprocess.run([binary, "--getppid", "5"], input=b"g", check=True,
                               stdout=subprocess.DEVNULL, timeout=10)
            m = agent.wait_for("ctrlscope_process_exits_total", 200, reason="exited",
                               code="0", **LABELS)
            assert m[key("ctrlscope_syscalls_total", syscall="getppid", **LABELS)] == 1000
            assert m[key("ctrlscope_process_starts_total", **LABELS)] == 200
            deadline = time.time() + 25
            while m[key("ctrlscope_target_processes", target="churn")] and \
                    time.time() < deadline:
                time.sleep(0.5)
                m = agent.metrics()
            assert m[key("ctrlscope_target_processes", target="churn")] == 0
    finally:
        shutil.rmtree(d)


SPAWNER = open("/proc/self/comm").read().strip()  # this process's name, which its children keep


def test_label_sets_of_gone_processes_are_released_and_reused():
    released_and_reused(())


def test_label_sets_released_and_reused_with_fallbacks():
    """The same with task state in a hash map (kernels before 5.11)."""
    released_and_reused(("--bpf.fallbacks",))


def released_and_reused(args):
    """300 distinct process names, in three waves of 100, with room for 256 label sets:
    each wave is measured exactly, then its label sets are released once no process has
    held them for label_set_grace, and the next wave reuses them. Nothing is ever left
    unmeasured."""
    d = tempfile.mkdtemp(prefix="ctrlscope-names-")
    src = os.path.join(harness.BUILD, "fixtures", "sysload")
    names = ["name%03d" % i for i in range(300)]
    for n in names:
        os.link(src, os.path.join(d, n)) if os.stat(src).st_dev == os.stat(d).st_dev \
            else shutil.copy(src, os.path.join(d, n))
    try:
        with Scene() as s:
            cg = s.cgroup("names")
            procs = s.cgroups.procs_file(cg)
            agent = s.agent("targets:\n  - name: names\n    process:\n      cgroup: [\"%s\"]\n"
                            "label_set_grace: 3s\nlimits:\n  label_sets: 256\n"
                            "modules:\n  net:\n    enabled: false\n"
                            # Room for two waves' (label set, syscall) rows, not three:
                            # the rows of released label sets are reused too.
                            "  syscalls:\n    max_entries: 4096\n" % cg, args=args)

            def enter():
                with open(procs, "w") as f:
                    f.write("0\n")

            for wave in range(3):
                batch = names[wave * 100:(wave + 1) * 100]
                for n in batch:
                    subprocess.run([os.path.join(d, n), "--getppid", "3"], input=b"g",
                                   check=True, stdout=subprocess.DEVNULL, timeout=10,
                                   preexec_fn=enter)
                m = agent.metrics()
                got = {n: (m.get(key("ctrlscope_syscalls_total", target="names", comm=n,
                                     syscall="getppid")),
                           m.get(key("ctrlscope_process_starts_total", target="names", comm=n)))
                       for n in batch}
                assert got == {n: (3, 1) for n in batch}, \
                    {n: v for n, v in got.items() if v != (3, 1)}
                # And the spawner's: the forked Python child is a target from the moment it
                # enters the cgroup until its exec.
                comms = {dict(k[1])["comm"] for k in m if k[0] == "ctrlscope_syscalls_total"
                         and ("target", "names") in k[1]}
                assert comms == set(batch) | {SPAWNER}, comms - set(batch)
                assert m[key("ctrlscope_label_sets")] == 101
                # Past the grace (and a look every 1.5 s): the wave's label sets are gone.
                m = agent.wait_for("ctrlscope_label_sets_released_total", 101 * (wave + 1),
                                   timeout=10)
                assert m[key("ctrlscope_label_sets")] == 0
                assert not [k for k in m if k[0] == "ctrlscope_syscalls_total" and
                            ("target", "names") in k[1]]
            assert m[key("ctrlscope_label_sets_exhausted_total")] == 0
            full = [k for k in m if k[0] == "ctrlscope_bpf_map_full_total" and m[k]]
            assert not full, full
    finally:
        shutil.rmtree(d)


K = 5


def spawn_held(binary, calls):
    """Start binary (a sysload) making calls at once; it then holds until its stdin (the
    returned fd) closes."""
    r, w = os.pipe()
    pid = os.posix_spawn(binary, [binary, "--getppid", str(calls), "--hold"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, r, 0),
                                       (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    os.close(r)
    os.write(w, b"g")
    return pid, w


def reap(pids):
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def wait_unselected(agent, target, timeout=30):
    deadline = time.time() + timeout
    while True:
        m = agent.metrics()
        if m[key("ctrlscope_target_processes", target=target)] == 0:
            return m
        assert time.time() < deadline, "%d processes still selected" % \
            m[key("ctrlscope_target_processes", target=target)]
        time.sleep(0.5)


PID_MAX = 6500  # while the test runs: pids wrap within it, and cycling through it is quick


def settled(agent, target, quiet=12, timeout=60):
    """The target's series once they stop moving: a process's CPU time and switches are
    claimed when the kernel frees its task, an RCU grace period after it was reaped, which
    lazy RCU may hold back some 10 s. Returns them after quiet seconds without a change."""
    deadline = time.time() + timeout
    last, since = None, time.time()
    while True:
        now = {k: v for k, v in agent.metrics().items() if ("target", target) in k[1]}
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return now
        assert time.time() < deadline, "the series of %s kept moving" % target
        time.sleep(1)


def cycle_pids(unrelated):
    """Run short-lived processes of another name until the pid counter has gone once around
    the whole range: every pid a target had was handed out again."""
    done = 0
    while done < PID_MAX:
        subprocess.run([unrelated, "--spawn", "1000"], input=b"g", check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
        done += 1000
    return done


def test_thousands_at_once_and_at_a_4s_lifetime_then_pid_reuse_adds_nothing():
    """3,000 processes making K calls the moment they start, all alive, then all exiting at
    once; then 1,200 living 4 s each, 600 alive at a time: exactly N starts, N exits and
    N*K calls each time, and none left selected (pid_max is 6,500 meanwhile, so the targets
    themselves reuse pids). Then 6,500 processes of another name cycle through every pid
    again: nothing is added to the target."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = f.read()
    with open("/proc/sys/kernel/pid_max", "w") as f:
        f.write("%d\n" % PID_MAX)
    d = tempfile.mkdtemp(prefix="ctrlscope-burst-")
    binary, unrelated = os.path.join(d, NAME), os.path.join(d, "unrelated")
    shutil.copy(os.path.join(harness.BUILD, "fixtures", "sysload"), binary)
    shutil.copy(os.path.join(harness.BUILD, "fixtures", "sysload"), unrelated)
    try:
        with Scene() as s:
            agent = s.agent(CONFIG + "limits:\n  processes: 4096\n")
            t0 = time.time()
            held = [spawn_held(binary, K) for _ in range(3000)]
            print("# 3000 spawned in %.1fs" % (time.time() - t0))
            m = agent.wait_for("ctrlscope_syscalls_total", 3000 * K, timeout=60,
                               syscall="getppid", **LABELS)
            assert m[key("ctrlscope_process_starts_total", **LABELS)] == 3000
            agent.wait_for("ctrlscope_target_processes", 3000, target="churn")
            for _, w in held:
                os.close(w)
            reap(pid for pid, _ in held)
            m = agent.wait_for("ctrlscope_process_exits_total", 3000, timeout=30,
                               reason="exited", code="0", **LABELS)
            wait_unselected(agent, "churn")
            print("# burst done at %.1fs" % (time.time() - t0))

            # 4 s lifetimes, a new one every 1/150 s: 600 alive at a time.
            alive, start, n, done = [], time.time(), 0, []
            while n < 1200 or alive:
                now = time.time()
                while n < 1200 and start + n / 150.0 <= now:
                    pid, w = spawn_held(binary, K)
                    alive.append((now + 4.0, pid, w))
                    n += 1
                while alive and alive[0][0] <= now:
                    _, pid, w = alive.pop(0)
                    os.close(w)
                    done.append(pid)
                time.sleep(0.002)
            reap(done)
            m = agent.wait_for("ctrlscope_process_exits_total", 4200, timeout=30,
                               reason="exited", code="0", **LABELS)
            assert m[key("ctrlscope_process_starts_total", **LABELS)] == 4200
            assert m[key("ctrlscope_syscalls_total", syscall="getppid", **LABELS)] == 4200 * K
            wait_unselected(agent, "churn")
            before = settled(agent, "churn")

            print("# lifetimes done at %.1fs" % (time.time() - t0))
            cycled = cycle_pids(unrelated)
            print("# pids cycled at %.1fs" % (time.time() - t0))
            m = agent.metrics()
            after = {k: v for k, v in m.items() if ("target", "churn") in k[1]}
            changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
            assert not changed, changed
            assert m[key("ctrlscope_target_processes", target="churn")] == 0
            assert not [k for k in m if ("comm", "unrelated") in k[1]]
            print("pids cycled by %d unrelated processes" % cycled)
    finally:
        with open("/proc/sys/kernel/pid_max", "w") as f:
            f.write(pid_max)
        shutil.rmtree(d)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
