"""Counters survive restarts and upgrades (--bpf.pin-path): a restarted agent adopts the
maps its predecessor pinned, Prometheus sees no reset; a state of another layout or sizing
is discarded, never misread; --bpf.unpin leaves nothing behind."""

import json
import os
import shutil
import subprocess
import tempfile
import time

import harness
from harness import Scene, key

NAME = "pinload"
OTHER = "pinother"


def config(*targets, extra=""):
    return ("targets:\n" + "".join("  - name: %s\n    process:\n      comm: [%s]\n" % t
                                   for t in targets)
            + "modules:\n  net:\n    enabled: false\n" + extra)


def pin_dir():
    return "/sys/fs/bpf/ctrlscope-e2e-%d" % os.getpid()


def states(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def run(binary, calls):
    subprocess.run([binary, "--getppid", str(calls)], input=b"g", check=True,
                   stdout=subprocess.DEVNULL, timeout=10)


def calls(m, target, comm):
    return m.get(key("ctrlscope_syscalls_total", target=target, comm=comm, syscall="getppid"))


class Binaries:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ctrlscope-pin-")
        self.path = {}
        for n in (NAME, OTHER):
            self.path[n] = os.path.join(self.dir, n)
            shutil.copy(os.path.join(harness.BUILD, "fixtures", "sysload"), self.path[n])

    def close(self):
        shutil.rmtree(self.dir)


def unpin(path):
    return subprocess.run([os.path.join(harness.BUILD, "ctrlscope"), "--bpf.pin-path=" + path,
                           "--bpf.unpin"], capture_output=True, text=True, timeout=10)


def test_restart_continues_every_count_and_unpin_cleans_up():
    pins = pin_dir()
    b = Binaries()
    args = ["--bpf.pin-path=" + pins]
    try:
        with Scene() as s:
            agent = s.agent(config(("pin", NAME)), args=args)
            assert agent.metrics()[key("ctrlscope_state_adopted")] == 0
            run(b.path[NAME], 5)
            # A process that lives across the restart: started now, calls after it.
            f = s.fixture(["--getppid", "11"], binary=b.path[NAME])
            agent.wait_for("ctrlscope_syscalls_total", 5, target="pin", comm=NAME,
                           syscall="getppid")
            before = agent.metrics()
            assert agent.stop() == 0
            assert len(states(pins)) == 1

            # The same binary and configuration, with a target put before it: it adopts.
            agent = s.agent(config(("first", OTHER), ("pin", NAME)), args=args)
            m = agent.metrics()
            assert m[key("ctrlscope_state_adopted")] == 1
            for name in ("ctrlscope_syscalls_total", "ctrlscope_process_starts_total",
                         "ctrlscope_process_exits_total"):
                were = {k: v for k, v in before.items() if k[0] == name}
                assert were and {k: m.get(k) for k in were} == were, name
            f.go()
            f.wait_done()
            run(b.path[NAME], 7)
            run(b.path[OTHER], 3)
            m = agent.wait_for("ctrlscope_syscalls_total", 5 + 11 + 7, target="pin", comm=NAME,
                               syscall="getppid")
            assert m[key("ctrlscope_process_starts_total", target="pin", comm=NAME)] == 3
            assert m[key("ctrlscope_process_exits_total", target="pin", comm=NAME,
                         reason="exited", code="0")] == 3
            assert calls(m, "first", OTHER) == 3
            assert agent.stop() == 0

            # Other limits size the maps otherwise: that state is discarded, not misread.
            agent = s.agent(config(("pin", NAME), extra="limits:\n  label_sets: 300\n"),
                            args=args)
            m = agent.metrics()
            assert m[key("ctrlscope_state_adopted")] == 0
            assert m[key("ctrlscope_state_discarded", reason="sizing")] == 1
            assert calls(m, "pin", NAME) is None
            assert len(states(pins)) == 1
            assert "its counters start from zero" in open(agent.log_path).read()
            assert agent.stop() == 0

            # Another binary's layout: discarded too.
            os.mkdir(os.path.join(pins, "0123456789abcdef-0123456789abcdef"))
            agent = s.agent(config(("pin", NAME), extra="limits:\n  label_sets: 300\n"),
                            args=args)
            m = agent.metrics()
            assert m[key("ctrlscope_state_adopted")] == 1  # its own state is still there
            assert m[key("ctrlscope_state_discarded", reason="layout")] == 1
            assert len(states(pins)) == 1
            assert agent.stop() == 0

            # A pinned map the kernel will not reuse (another key size): the whole state
            # goes, the agent starts afresh and counts.
            state = os.path.join(pins, states(pins)[0])
            os.unlink(os.path.join(state, "targets_label_sets"))
            subprocess.run(["bpftool", "map", "create", os.path.join(state, "targets_label_sets"),
                            "type", "hash", "key", "4", "value", "4", "entries", "16",
                            "name", "label_sets"], check=True)
            agent = s.agent(config(("pin", NAME), extra="limits:\n  label_sets: 300\n"),
                            args=args)
            m = agent.metrics()
            assert m[key("ctrlscope_state_adopted")] == 0
            assert m[key("ctrlscope_state_discarded", reason="unusable")] == 1
            run(b.path[NAME], 2)
            agent.wait_for("ctrlscope_syscalls_total", 2, target="pin", comm=NAME,
                           syscall="getppid")
            assert agent.stop() == 0

        state = os.path.join(pins, states(pins)[0])
        ids = [json.loads(subprocess.run(["bpftool", "-j", "map", "show", "pinned",
                                          os.path.join(state, f)], capture_output=True,
                                         text=True, check=True).stdout)["id"]
               for f in os.listdir(state)]
        r = unpin(pins)
        assert r.returncode == 0, r.stderr
        assert not os.path.exists(pins)
        # No map of ours outlives its pins (the kernel frees them within moments).
        deadline = time.time() + 5
        while [i for i in ids if subprocess.run(["bpftool", "map", "show", "id", str(i)],
                                                capture_output=True).returncode == 0]:
            assert time.time() < deadline, "maps still there after --bpf.unpin"
            time.sleep(0.1)
    finally:
        unpin(pins)
        b.close()
