"""`make bench`: what a getppid(2) call costs with ctrlscope running, for a process that is
a target and one that is not, next to an empty sys_enter/sys_exit program pair (the floor:
the price of tracing syscalls at all) and to libbpf-tools' `syscount -L`.

All numbers come from one run: phases alternate over several rounds and each condition
keeps its best (minimum) batch, so slow drift on a shared machine hits every condition
alike. Ratios are of the cost *added* to an untraced call. Prints a table; never fails on
time."""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class Worker:
    def __init__(self, build, args, cpu):
        cmd = [os.path.join(build, "bench", "getppid"), "--cpu", str(cpu)] + args
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.p.stdout.readline().decode()
        if not line.startswith("ready"):
            raise SystemExit("bench worker failed to start: %r" % line)
        self.pid = int(line.split()[1])

    def run(self):
        self.p.stdin.write(b"g")
        self.p.stdin.flush()
        out = self.p.stdout.readline().decode().split()
        self.p.wait()
        if out[:1] != ["ns_per_call"]:
            raise SystemExit("bench worker failed: %r" % out)
        return float(out[1])


def measure(build, cpu, args=(), before_go=None):
    w = Worker(build, list(args) + ["--trials", "30", "--calls", "100000"], cpu)
    if before_go:
        before_go(w)
    return w.run()


class Agent:
    def __init__(self, build, port):
        self.dir = tempfile.mkdtemp(prefix="ctrlscope-bench-")
        cfg = os.path.join(self.dir, "config.yaml")
        with open(cfg, "w") as f:
            f.write("targets:\n  - name: bench\n    process:\n      comm: [bench-target]\n")
        self.url = "http://127.0.0.1:%d" % port
        self.p = subprocess.Popen([os.path.join(build, "ctrlscope"), "--config.file=" + cfg,
                                   "--web.listen-address=127.0.0.1:%d" % port,
                                   "--log.level=warn"])
        self.wait(lambda t: True)

    def metrics(self):
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as r:
            return r.read().decode()

    def wait(self, cond, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if cond(self.metrics()):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("ctrlscope did not get ready")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(15)


class Syscount:
    def __init__(self, args):
        self.p = subprocess.Popen(["stdbuf", "-oL", "syscount", "-L"] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        line = self.p.stdout.readline().decode()
        if "Tracing" not in line:
            raise SystemExit("syscount did not start: %r" % line)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        self.p.communicate(timeout=15)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    cpu = os.cpu_count() - 1
    best = {}

    def keep(name, value):
        best[name] = min(best.get(name, float("inf")), value)

    for r in range(args.rounds):
        print("round %d/%d" % (r + 1, args.rounds), file=sys.stderr)
        for _ in range(2):
            keep("base", measure(args.build, cpu))
            keep("floor", measure(args.build, cpu, ["--floor"]))
        agent = Agent(args.build, 19000 + r)
        try:
            keep("non-target", measure(args.build, cpu, ["--comm", "bench-other"]))
            keep("target", measure(args.build, cpu, ["--comm", "bench-target"],
                                   lambda w: agent.wait(lambda t: 'ctrlscope_target_processes{target="bench"} 1' in t)))
        finally:
            agent.stop()
        sc = Syscount([])
        try:
            keep("syscount", measure(args.build, cpu))
        finally:
            sc.stop()
        holder = {}

        def attach_syscount(w):
            holder["sc"] = Syscount(["-p", str(w.pid)])
        try:
            keep("syscount-p", measure(args.build, cpu, before_go=attach_syscount))
        finally:
            if "sc" in holder:
                holder["sc"].stop()

    base, floor = best["base"], best["floor"]
    added = floor - base
    rows = [("no tracing (base)", "base"), ("empty sys_enter/sys_exit pair (floor)", "floor"),
            ("ctrlscope, process not a target", "non-target"),
            ("ctrlscope, target process", "target"),
            ("syscount -L (all processes)", "syscount"),
            ("syscount -L -p PID", "syscount-p")]
    print()
    print("getppid(2) on CPU %d, best of %d rounds x 30 batches x 100000 calls" % (cpu, args.rounds))
    print("%-40s %10s %10s %12s" % ("condition", "ns/call", "added ns", "x floor"))
    for label, k in rows:
        v = best[k]
        extra = v - base
        ratio = "" if k == "base" else "%.2f" % (extra / added)
        print("%-40s %10.1f %10.1f %12s" % (label, v, extra, ratio))
    print()
    nt = (best["non-target"] - base) / added
    t = (best["target"] - base) / added
    sc = (best["syscount"] - base) / added
    print("goal: non-target <= 1.20x floor: %.2fx %s" % (nt, "met" if nt <= 1.2 else "NOT met"))
    print("goal: target <= 2.50x floor and below syscount -L (%.2fx): %.2fx %s"
          % (sc, t, "met" if t <= 2.5 and t < sc else "NOT met"))


if __name__ == "__main__":
    main()
