"""Exact under churn: processes selected by name are measured from the first call of their
program, however short they live, and no selection outlives its process."""

import os
import shutil
import subprocess
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
