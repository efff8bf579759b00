"""Live configuration: the file is re-read when it changes (the kubelet's ..data swap of a
ConfigMap volume included) and on SIGHUP; a valid one is applied without a restart, an
invalid one is refused and counted while the running targets keep counting."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness
from harness import Scene, key

A, B = "reloadalpha", "reloadbeta"
OFF = "modules:\n  net:\n    enabled: false\n"


def targets(*pairs):
    return "targets:\n" + "".join(
        "  - name: %s\n    process:\n      comm: [%s]\n" % p for p in pairs) + OFF


class ConfigMapDir:
    """The layout of a ConfigMap volume: config.yaml -> ..data/config.yaml, ..data ->
    ..<version>/, swapped by renaming a new ..data link over the old one."""

    def __init__(self, path, text):
        self.path, self.n = path, 0
        self.swap(text)
        tmp = os.path.join(path, "config.yaml.tmp")
        os.symlink("..data/config.yaml", tmp)
        os.rename(tmp, os.path.join(path, "config.yaml"))

    def swap(self, text):
        self.n += 1
        version = "..v%d" % self.n
        os.mkdir(os.path.join(self.path, version))
        with open(os.path.join(self.path, version, "config.yaml"), "w") as f:
            f.write(text)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(version, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))


def run(binary, calls):
    subprocess.run([binary, "--getppid", str(calls)], input=b"g", check=True,
                   stdout=subprocess.DEVNULL, timeout=10)


def calls(m, target, comm):
    return m.get(key("ctrlscope_syscalls_total", target=target, comm=comm, syscall="getppid"))


def reloads(agent, result):
    return agent.metrics().get(key("ctrlscope_config_reloads_total", result=result))


def wait_reloads(agent, result, n, timeout=2.0):
    """Wait until n reloads with result were counted; returns how long it took."""
    start = time.time()
    while reloads(agent, result) != n:
        assert time.time() - start < timeout, \
            "%s reloads: %r, want %d after %.1fs" % (result, reloads(agent, result), n, timeout)
        time.sleep(0.05)
    return time.time() - start


def test_configmap_swap_applies_targets_and_a_bad_file_is_refused():
    d = tempfile.mkdtemp(prefix="ctrlscope-reload-")
    bins = {}
    for name in (A, B):
        bins[name] = os.path.join(d, name)
        shutil.copy(os.path.join(harness.BUILD, "fixtures", "sysload"), bins[name])
    try:
        with Scene() as s:
            agent = s.agent(targets(("first", A)))
            cm = ConfigMapDir(agent.dir, targets(("first", A)))  # same bytes: no reload
            run(bins[A], 5)
            m = agent.wait_for("ctrlscope_syscalls_total", 5, target="first", comm=A,
                               syscall="getppid")
            hash_before = [k for k in m if k[0] == "ctrlscope_config_info"]
            assert m[key("ctrlscope_config_reloads_total", result="success")] == 0

            # A new target before the running one: applied within 2 s, and the running
            # target's series continues (its number is kept though its place changed).
            cm.swap(targets(("second", B), ("first", A)))
            took = wait_reloads(agent, "success", 1)
            run(bins[B], 7)
            run(bins[A], 5)
            m = agent.wait_for("ctrlscope_syscalls_total", 10, target="first", comm=A,
                               syscall="getppid")
            assert calls(m, "second", B) == 7
            assert [k for k in m if k[0] == "ctrlscope_config_info"] != hash_before
            assert m[key("ctrlscope_config_last_reload_successful")] == 1
            assert m[key("ctrlscope_config_restart_required")] == 0

            # A bad file: refused, counted, one log line; the running targets count on.
            cm.swap("targets:\n  - name: [oops\n")
            wait_reloads(agent, "failure", 1)
            run(bins[A], 5)
            m = agent.wait_for("ctrlscope_syscalls_total", 15, target="first", comm=A,
                               syscall="getppid")
            assert m[key("ctrlscope_config_last_reload_successful")] == 0
            assert "configuration not reloaded, the running one stays" in agent.logs()

            # A removed target's series leave the page; a limit asks for a restart and the
            # rest is applied.
            cm.swap(targets(("second", B)) + "limits:\n  processes: 100\n")
            wait_reloads(agent, "success", 2)
            m = agent.metrics()
            assert calls(m, "first", A) is None
            assert calls(m, "second", B) == 7
            assert m[key("ctrlscope_config_restart_required")] == 1
            assert "limits.processes changed from 8192 to 100" in agent.logs()
            run(bins[A], 5)  # no longer selected
            run(bins[B], 1)
            m = agent.wait_for("ctrlscope_syscalls_total", 8, target="second", comm=B,
                               syscall="getppid")
            assert calls(m, "first", A) is None
            print("reload applied %.2fs after the swap" % took)
    finally:
        shutil.rmtree(d)


def test_sighup_reloads_and_other_signals_are_ignored():
    with Scene() as s:
        agent = s.agent(targets(("first", A)))
        agent.proc.send_signal(signal.SIGHUP)
        wait_reloads(agent, "success", 1)  # unchanged, but asked for
        for sig in (signal.SIGUSR1, signal.SIGUSR2):
            agent.proc.send_signal(sig)
        # An invalid file written in place is refused whether the watch or SIGHUP sees it.
        with open(agent.config, "w") as f:
            f.write("targets: 3\n")
        wait_reloads(agent, "failure", 1)
        agent.proc.send_signal(signal.SIGHUP)
        wait_reloads(agent, "failure", 2)
        assert agent.proc.poll() is None
        assert agent.get("/healthz")[0] == 200
        logs = agent.logs()
        assert "received SIGUSR1: ignored" in logs and "received SIGUSR2: ignored" in logs
        assert agent.stop() == 0
