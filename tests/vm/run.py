"""The kernel matrix (`make vmtest`, `make test-vm`): boots each kernel of tests/vm/kernels
under QEMU (TCG: no KVM needed) with an initramfs made from the build, and checks what
its /init (tests/vm/init) reports on the serial console. arm64 kernels boot under
qemu-system-aarch64 with an initramfs made from the arm64 cross build (make cross-arm64:
BUILD/arm64, and the arm64 programs of its sysroot). The checks, for each kernel:

  - the guest boots, runs everything and powers off before the timeout,
  - the kernel log has no Oops, BUG, WARNING or panic,
  - each kernel-tier test (tests/bpf/test_*) passes, run by tests/run-unit.sh in the guest,
  - `ctrlscope --probe` says every enabled module can run,
  - the agent, started as `make demo` starts it, becomes ready,
  - each module is up (ctrlscope_module_up) and every program attached,
  - the demo workload's series are there for each module that is up.

Prints a report, one line per kernel and the details of what failed (verifier messages
from the agent's log, failing tests), or with --tap the same as TAP, one test per kernel
per check (one per test binary for the kernel tier). Exits 1 when any check failed. The
serial console of each guest is kept in build/vm/logs/NAME.log.

Usage: python3 tests/vm/run.py [--build DIR] [--tap] [--jobs N] [--timeout S]
                               [--modules "syscalls net ..."] [--tests "BIN ..."]
                               [--arm64-build DIR] [--arm64-tests "BIN ..."] [NAME...]
NAME selects kernels by their name in tests/vm/kernels ("6.1", or "6" for every 6.x, or
"arm64" for every arm64 kernel).
VM_JOBS, VM_TIMEOUT, VM_MEMORY and VM_SMP set the defaults of --jobs, --timeout, --memory
and --smp.
"""

import argparse
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# A kernel in trouble: any of these on the console fails the "kernel log" check.
KERNEL_TROUBLE = re.compile(
    r"(Oops|BUG:|WARNING:|Kernel panic|general protection fault|int3: |"
    r"Unable to handle kernel|RCU stall|rcu_sched self-detected stall|hung_task|"
    r"stack-protector|kernel BUG at)"
)
# How QEMU runs a guest of each architecture (the end of the kernel package's name in
# tests/vm/kernels, as tests/vm/fetch-kernels.sh prints it).
QEMU = {
    "amd64": {
        "binary": "qemu-system-x86_64",
        # Single-threaded TCG: multi-threaded TCG showed spurious int3 Oopses at
        # tracepoint sites (text patching while another vCPU runs).
        "args": ["-accel", "tcg,thread=single", "-cpu", "max"],
        "console": "ttyS0",
    },
    "arm64": {
        "binary": "qemu-system-aarch64",
        # The virt board: a PL011 serial port, PSCI to power off. Pointer authentication
        # with QEMU's own algorithm: the architected one is slow to emulate.
        "args": ["-machine", "virt", "-accel", "tcg,thread=multi",
                 "-cpu", "max,pauth-impdef=on"],
        "console": "ttyAMA0",
    },
}
# The series that show a module measured the demo workload (target "demo").
MODULE_SERIES = {
    "syscalls": "ctrlscope_syscalls_total",
    "net": "ctrlscope_tcp_connects_total",
    "sched": "ctrlscope_cpu_seconds_total",
    "proc": "ctrlscope_threads",
}


# The plan of the exact step (tests/vm/init): per module, (series, labels, low, high) that
# the agent must report for target "exact" after the fixtures ran; low == high: exact.
# Series of DELTA are compared as the difference from before "go" (the loader's calls at
# exec are the process's too).
PEER = "127.0.0.1:9470"
DELTA = {"ctrlscope_syscalls_total", "ctrlscope_syscall_errors_total",
         "ctrlscope_syscall_duration_seconds_count"}
RECONCILER = {"comm": "reconciler-cr0.", "controller": "bench"}
EXACT = {
    # tests/fixtures/reconciler --bench 500: 500 no-op reconciles of 500 objects.
    "reconcile": [
        ("ctrlscope_reconcile_total", dict(RECONCILER, result="success"), 500, 500),
        ("ctrlscope_reconcile_errors_total", RECONCILER, 0, 0),
        ("ctrlscope_reconcile_duration_seconds_count", RECONCILER, 500, 500),
        ("ctrlscope_reconcile_active_workers", RECONCILER, 0, 0),
        ("ctrlscope_workqueue_adds_total", RECONCILER, 500, 500),
        ("ctrlscope_workqueue_depth", RECONCILER, 0, 0),
        ("ctrlscope_workqueue_work_duration_seconds_count", RECONCILER, 500, 500),
    ],
    "syscalls": [
        ("ctrlscope_syscalls_total", {"comm": "sysload", "syscall": "getppid"}, 1000, 1000),
        ("ctrlscope_syscall_errors_total",
         {"comm": "sysload", "syscall": "openat", "errno": "ENOENT"}, 7, 7),
        ("ctrlscope_syscalls_total", {"comm": "sysload", "syscall": "nanosleep"}, 5, 5),
        ("ctrlscope_syscall_duration_seconds_count",
         {"comm": "sysload", "syscall": "nanosleep"}, 5, 5),
    ],
    "proc": [
        ("ctrlscope_process_starts_total", {"comm": "sysload"}, 1, 1),
        ("ctrlscope_process_exits_total",
         {"comm": "sysload", "reason": "exited", "code": "3"}, 1, 1),
        ("ctrlscope_process_exits_total",
         {"comm": "netload", "reason": "exited", "code": "0"}, 1, 1),
        ("ctrlscope_threads", {"comm": "sysload"}, 0, 0),
    ],
    "sched": [
        # 5 sleeps; the exit's last switch and a blocking write of "done" may add some.
        ("ctrlscope_context_switches_total", {"comm": "sysload", "kind": "voluntary"}, 5, 8),
        ("ctrlscope_cpu_seconds_total", {"comm": "sysload"}, 1e-6, 30),
        # Every sleep's wakeup waits for a CPU, if briefly: these kernels report every
        # wakeup, which the test machine's own kernel does not. Each preemption adds a
        # wait, and an emulated guest sharing two cores with another is preempted often
        # (21 seen on 6.1-arm64): the upper bound only catches a runaway count.
        ("ctrlscope_runqueue_wait_seconds_count", {"comm": "sysload"}, 5, 60),
    ],
    "net": [
        ("ctrlscope_tcp_connects_total",
         {"comm": "netload", "peer": PEER, "result": "ok"}, 1, 1),
        ("ctrlscope_tcp_sent_bytes_total", {"comm": "netload", "peer": PEER}, 12345, 12345),
        ("ctrlscope_tcp_received_bytes_total", {"comm": "netload", "peer": PEER}, 54321, 54321),
        ("ctrlscope_tcp_open_connections", {"comm": "netload", "peer": PEER}, 0, 0),
    ],
}


def log(msg):
    print("vmtest: %s" % msg, file=sys.stderr, flush=True)


# --- running the guests ---------------------------------------------------------------


class Guests:
    """The QEMU processes running, killed (their whole process group) on the way out."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = set()
        self.stopping = False

    def add(self, proc):
        with self.lock:
            if not self.stopping:
                self.procs.add(proc)
                return
        kill_group(proc)

    def remove(self, proc):
        with self.lock:
            self.procs.discard(proc)

    def kill_all(self):
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            kill_group(proc)


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_step(cmd, timeout, **kwargs):
    """A preparation step (download, initramfs) in its own process group, all of which is
    killed when it overruns or when this runner is stopped."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        log("%s took more than %ds" % (os.path.basename(cmd[0]), timeout))
        return 124, None
    finally:
        if proc.returncode is None:
            kill_group(proc)


def run_guest(guests, arch, kernel, initrd, logfile, timeout, memory, smp):
    qemu = QEMU[arch]
    cmd = [qemu["binary"]] + qemu["args"] + [
        "-smp", str(smp),
        "-m", memory,
        # No default devices: no network card (the guest has loopback only), no disks.
        "-nodefaults", "-nographic", "-no-reboot",
        "-serial", "stdio", "-monitor", "none",
        "-kernel", kernel,
        "-initrd", initrd,
        "-append", "console=%s panic=-1" % qemu["console"],
    ]
    start = time.monotonic()
    with open(logfile, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        guests.add(proc)
        try:
            rc = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_group(proc)
            rc = proc.returncode
            timed_out = True
        finally:
            guests.remove(proc)
    return rc, timed_out, time.monotonic() - start


# --- reading a guest's console --------------------------------------------------------


def parse_labels(text):
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', text))


def parse_log(path):
    """What the guest reported, from its console log."""
    r = {
        "begin": None, "done": False, "trouble": [], "warn": [],
        "tk_lines": [], "tk_rc": None, "tk_seconds": None,  # the kernel-tier tests
        "smoke": [], "ready": None, "agent_rc": None, "metrics": [],
        "bpftool": [], "agent": [], "probe": [], "probe_rc": None,
        "exact": [], "exact_before": [], "exact_notes": [], "restart": [],
    }
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    section = None
    r["console"] = [l.rstrip("\r") for l in text.splitlines()]
    for line in r["console"]:
        if KERNEL_TROUBLE.search(line) and not line.startswith("VMTEST-"):
            r["trouble"].append(line)
        if line.startswith("VMTEST-BEGIN"):
            r["begin"] = dict(re.findall(r"(\w+)=(\S+)", line))
        elif line.startswith("VMTEST-DONE"):
            r["done"] = True
        elif line.startswith("VMTEST-WARN "):
            r["warn"].append(line[len("VMTEST-WARN "):])
        elif line.startswith("VMTEST-STEP-END kernel-tests"):
            section = None
            m = re.search(r"rc=(\d+) seconds=(\d+)", line)
            if m:
                r["tk_rc"], r["tk_seconds"] = int(m.group(1)), int(m.group(2))
        elif line.startswith("VMTEST-STEP kernel-tests"):
            section = "tk"
        elif line.startswith("VMTEST-SMOKE "):
            body = line[len("VMTEST-SMOKE "):]
            r["smoke"].append(body)
            if body.startswith("ready"):
                r["ready"] = int(re.search(r"seconds=(\d+)", body).group(1))
            m = re.match(r"agent-(?:exited|stopped) rc=(\d+)", body)
            if m:
                r["agent_rc"] = int(m.group(1))
        elif line.startswith("VMTEST-METRIC "):
            m = re.match(r"VMTEST-METRIC (\w+)(?:\{(.*)\})? (\S+)$", line)
            if m:
                try:
                    value = float(m.group(3))
                except ValueError:
                    continue
                r["metrics"].append((m.group(1), parse_labels(m.group(2) or ""), value))
        elif line.startswith(("VMTEST-EXACT-METRIC ", "VMTEST-EXACT-BEFORE ")):
            m = re.match(r"VMTEST-EXACT-(METRIC|BEFORE) (\w+)(?:\{(.*)\})? (\S+)$", line)
            if m:
                try:
                    r["exact" if m.group(1) == "METRIC" else "exact_before"].append(
                        (m.group(2), parse_labels(m.group(3) or ""), float(m.group(4))))
                except ValueError:
                    pass
        elif line.startswith("VMTEST-RESTART-METRIC "):
            m = re.match(r"VMTEST-RESTART-METRIC (\w+)(?:\{(.*)\})? (\S+)$", line)
            if m:
                try:
                    r["restart"].append((m.group(1), parse_labels(m.group(2) or ""),
                                         float(m.group(3))))
                except ValueError:
                    pass
        elif line.startswith("VMTEST-EXACT "):
            r["exact_notes"].append(line[len("VMTEST-EXACT "):])
        elif line.startswith("VMTEST-PROBE "):
            r["probe"].append(line[len("VMTEST-PROBE "):])
        elif line.startswith("VMTEST-STEP-END probe"):
            m = re.search(r"rc=(\d+)", line)
            r["probe_rc"] = int(m.group(1)) if m else None
        elif line.startswith("VMTEST-BPFTOOL "):
            r["bpftool"].append(line[len("VMTEST-BPFTOOL "):])
        elif line.startswith("VMTEST-AGENT "):
            r["agent"].append(line[len("VMTEST-AGENT "):])
        elif section == "tk":
            r["tk_lines"].append(line)
    return r


def metric_sum(r, name, **labels):
    total, found = 0.0, False
    for n, l, v in r["metrics"]:
        if n == name and all(l.get(k) == want for k, want in labels.items()):
            total += v
            found = True
    return total if found else None


def test_results(r, binary):
    """(passed, total, failures as [(name, [diagnostics])], problems) of one test binary,
    from the TAP that tests/run-unit.sh printed in the guest ("ok 3 - BINARY:test")."""
    passed = total = 0
    failures, problems, stderr = [], [], []
    planned = None
    current = None
    mine = False
    for line in r["tk_lines"]:
        m = re.match(r"^(not )?ok \d+ - ([^:\s]+):?(.*)$", line)
        if m:
            mine = m.group(2) == binary
            current = None
            if not mine:
                continue
            total += 1
            if m.group(1) or re.search(r"#\s*SKIP", line, re.I):  # a skip proves nothing
                current = (m.group(3).strip() or line, [])
                failures.append(current)
            else:
                passed += 1
        elif re.match(r"^1\.\.(\d+)$", line):
            planned = int(line[3:])
        elif re.match(r"^# %s: stderr:$" % re.escape(binary), line):
            current, mine = ("stderr", stderr), True
        elif re.match(r"^# \S+: stderr:$", line):
            current, mine = None, False
        elif re.match(r"^# (not )?ok - ", line):
            pass  # cmocka's group summary
        elif line.startswith("# ") and current is not None and mine:
            current[1].append(line[2:])
    if r["tk_rc"] is None:
        problems.append("the kernel-tier tests did not finish")
    elif planned is None:
        problems.append("tests/run-unit.sh printed no TAP plan")
    if total == 0 and r["tk_rc"] is not None:
        problems.append("%s reported no result" % binary)
    if failures and stderr:
        problems.append("%s's stderr (last lines):" % binary)
        problems.extend("    " + l for l in stderr[-8:])
    # A crash, a timeout or a missing plan is a "not ok" line of run-unit.sh's own, named
    # "BINARY: why" (no test name): it counts as a failure above.
    return passed, total, failures, problems


def agent_problems(r, module=None):
    """The agent's error and warning lines (for one module, or all), with the end of
    each verifier log unescaped."""
    out = []
    for line in r["agent"]:
        if "level=error" not in line and "level=warn" not in line:
            continue
        if module and "module %s" % module not in line and not verifier_of_module(line, module):
            continue
        if "-- BEGIN PROG LOAD LOG --" in line:
            prog = re.search(r"prog '([^']+)'", line)
            body = line.split("-- BEGIN PROG LOAD LOG --", 1)[1]
            body = body.split("-- END PROG LOAD LOG --", 1)[0]
            steps = [s for s in body.split("\\n") if s.strip()]
            steps = [s for s in steps if not s.startswith(("processed ", "verification time"))]
            out.append("verifier, %s:" % (prog.group(1) if prog else "?"))
            out.extend("    " + s for s in steps[-4:])
        else:
            msg = re.search(r'msg="(.*)"\s*$', line)
            out.append(msg.group(1) if msg else line)
    return out


def verifier_of_module(line, module):
    return re.search(r"skeleton '%s_bpf'|object '%s_bpf'|prog 'cs_%s_" % (module, module, module),
                     line) is not None


def expectations():
    """NAME -> the EXPECT column of tests/vm/kernels ("" when none)."""
    out = {}
    with open(os.path.join(HERE, "kernels")) as f:
        for line in f:
            cols = line.split()
            if cols and not cols[0].startswith("#"):
                out[cols[0]] = cols[4] if len(cols) > 4 else ""
    return out


def expected_down(expect):
    """The modules EXPECT (down=net,...) says cannot run on the kernel."""
    if expect.startswith("down="):
        return [m for m in expect[len("down="):].split(",") if m]
    return []


def down_checks(release, r, module):
    """A module that cannot run on this kernel: the agent says why in one line naming it,
    reports it down, and --probe says CANNOT (and exits 1)."""
    lines = [l for l in r["agent"] if "module %s cannot run on this kernel" % module in l]
    up = metric_sum(r, "ctrlscope_module_up", module=module)
    row = [l for l in r["probe"] if l.split()[:1] == [module]]
    return [
        (len(lines) == 1, "%s: the agent says in one line why module %s cannot run" % (
            release, module), lines or agent_problems(r, module)),
        (up == 0, "%s: module %s reported down, as expected" % (release, module),
         ["ctrlscope_module_up = %s" % up]),
        (r["probe_rc"] == 1 and bool(row) and "CANNOT" in row[0],
         "%s: probe says module %s cannot run, exit 1" % (release, module),
         ["exit %s" % r["probe_rc"]] + r["probe"]),
    ]


def checks_of(name, release, r, rc, timed_out, seconds, timeout, modules, tests,
              expect=""):
    """[(ok, description, [diagnostics])]: the same number of checks whatever happened."""
    checks = []

    # Boot and finish.
    if timed_out:
        checks.append((False, "%s: boots, runs and powers off" % release,
                       ["killed after %ds (timeout)%s" % (timeout, "" if r["begin"] else
                                                          ", /init never started")]))
    elif not r["done"]:
        checks.append((False, "%s: boots, runs and powers off" % release,
                       ["QEMU exited (status %s) before the guest finished%s" % (
                           rc, "" if r["begin"] else ", /init never started")]))
    else:
        checks.append((True, "%s: boots, runs and powers off in %.0fs" % (release, seconds), []))
    if not r["done"]:
        tail = [l for l in r["console"] if l.strip()][-6:]
        checks[-1][2].append("the console's last lines:")
        checks[-1][2].extend("    " + l for l in tail)
    booted = r["begin"] or {}
    if booted.get("release") and booted["release"] != release:
        checks[-1][2].append("the guest says it runs %s" % booted["release"])

    # The kernel log.
    if r["trouble"]:
        checks.append((False, "%s: kernel log without Oops, BUG or WARNING" % release,
                       r["trouble"][:20]))
    else:
        checks.append((True, "%s: kernel log without Oops, BUG or WARNING" % release, []))
    down = expected_down(expect)

    # The kernel-tier tests, one check per binary.
    for binary in tests:
        passed, total, failures, problems = test_results(r, binary)
        diag = []
        for test, lines in failures:
            diag.append("failed: %s" % test)
            diag.extend("    " + l for l in lines[:6])
        diag.extend(problems)
        ok = total > 0 and passed == total and not problems
        checks.append((ok, "%s: %s %d/%d" % (release, binary, passed, total), diag))

    # What the agent can run here, by its own account.
    probe_desc = "%s: probe: every enabled module can run" % release
    if down:
        checks.extend(c for m in down for c in down_checks(release, r, m))
    elif r["probe_rc"] == 0:
        checks.append((True, probe_desc, []))
    else:
        why = ["ctrlscope --probe %s" % ("did not run" if r["probe_rc"] is None else
                                         "exited with status %d" % r["probe_rc"])]
        why.extend(r["probe"])
        checks.append((False, probe_desc, why))

    # The agent.
    if r["ready"] is not None:
        checks.append((True, "%s: agent ready in %ds" % (release, r["ready"]), []))
    else:
        diag = [s for s in r["smoke"]] + agent_problems(r)
        if not r["agent"] and not r["smoke"]:
            diag.append("the smoke test did not run")
        checks.append((False, "%s: agent ready" % release, diag))

    # The modules expected, and any other the agent reports.
    modules = list(modules) + sorted({l.get("module") for n, l, v in r["metrics"]
                                      if n == "ctrlscope_module_up" and l.get("module")}
                                     - set(modules))
    for module in modules:
        up = metric_sum(r, "ctrlscope_module_up", module=module)
        if module in down:
            continue
        if up == 1:
            checks.append((True, "%s: module %s up" % (release, module), []))
        else:
            why = []
            if r["ready"] is not None:
                # What the agent said of this module, else its errors (a core that cannot
                # load takes every module down).
                why = agent_problems(r, module) or [
                    l for l in agent_problems(r) if not l.startswith("libbpf: ")][-3:]
            if up is None:
                why.append("no ctrlscope_module_up series%s" % (
                    "" if r["ready"] is not None else ": the agent never served /metrics"))
            checks.append((False, "%s: module %s up" % (release, module), why))

    attached = [(l.get("module"), l.get("program"), v) for n, l, v in r["metrics"]
                if n == "ctrlscope_program_attached"]
    good = sum(1 for _, _, v in attached if v == 1)
    diag = []
    for m, p, v in attached:
        if v != 1:
            diag.append("not attached: %s/%s" % (m, p))
            diag.extend("    " + l for l in agent_problems(r) if p and p in l)
    if not attached and r["ready"] is not None:
        diag.append("the agent reports no program (ctrlscope_program_attached)")
    checks.append((bool(attached) and good == len(attached),
                   "%s: programs attached %d/%d" % (release, good, len(attached)), diag))

    # The demo workload, as each module that is up saw it.
    numbers = smoke_numbers(r)
    missing = []
    for module in modules:
        if metric_sum(r, "ctrlscope_module_up", module=module) != 1:
            continue
        series = MODULE_SERIES.get(module)
        if series and not metric_sum(r, series, target="demo"):
            missing.append("module %s is up but %s{target=\"demo\"} is missing or 0" %
                           (module, series))
    if r["ready"] is None:
        missing.append("the agent never served /metrics")
    elif not numbers:
        missing.append("no series of the demo workload (%s)" % (
            "no module is up" if not any(metric_sum(r, "ctrlscope_module_up", module=m) == 1
                                         for m in modules) else "the scrape failed?"))
    ok = not missing and bool(numbers)
    checks.append((ok, "%s: demo workload measured%s" % (
        release, (": " + numbers) if numbers else ""), missing))
    checks.extend(exact_checks(release, r, [m for m in modules if m not in down]))
    return checks


def exact_checks(release, r, modules):
    """One check per module: the exact step's plan against what the agent reported."""
    checks = []
    got, before = {"metrics": r["exact"]}, {"metrics": r["exact_before"]}
    for module in modules:
        wrong = []
        # The arm64 guests have no controller-runtime fixture (amd64 only).
        if module == "reconcile" and "reconciler absent" in r["exact_notes"]:
            continue
        for name, labels, low, high in EXACT.get(module, []):
            v = metric_sum(got, name, target="exact", **labels)
            if v is not None and name in DELTA:
                v -= metric_sum(before, name, target="exact", **labels) or 0
            if v is None or not low <= v <= high:
                want = "%g" % low if low == high else "%g..%g" % (low, high)
                wrong.append("%s{%s} = %s, expected %s" % (
                    name, ",".join('%s="%s"' % kv for kv in sorted(labels.items())),
                    "missing" if v is None else "%g" % v, want))
        if wrong:
            wrong.extend("  " + n for n in r["exact_notes"])
        checks.append((not wrong, "%s: exact counts of %s" % (release, module), wrong))
    # A restarted agent adopts the pinned state: every count of the target is unchanged.
    after = {(n, tuple(sorted(l.items()))): v for n, l, v in r["restart"] if n != "ctrlscope_state_adopted"}
    counts = {(n, tuple(sorted(l.items()))): v for n, l, v in r["exact"]
              if n.endswith(("_total", "_count", "_sum"))}
    wrong = ["%s%s: %g before the restart, %s after" % (n, dict(l), v, after.get((n, l)))
             for (n, l), v in sorted(counts.items()) if after.get((n, l)) != v]
    adopted = [v for n, _, v in r["restart"] if n == "ctrlscope_state_adopted"]
    if adopted != [1.0]:
        wrong.insert(0, "ctrlscope_state_adopted: %s" % (adopted or "missing"))
    if not counts:
        wrong.insert(0, "no counts of the exact step")
    checks.append((not wrong, "%s: a restart keeps every count (--bpf.pin-path)" % release,
                   wrong))
    return checks


def smoke_numbers(r):
    parts = []

    def add(label, value, fmt="%d"):
        if value is not None:
            parts.append(("%s=" + fmt) % (label, value))

    add("syscalls", metric_sum(r, "ctrlscope_syscalls_total", target="demo"))
    add("errors", metric_sum(r, "ctrlscope_syscall_errors_total", target="demo"))
    add("tcp_connects", metric_sum(r, "ctrlscope_tcp_connects_total", target="demo", result="ok"))
    add("cpu", metric_sum(r, "ctrlscope_cpu_seconds_total", target="demo"), "%.2fs")
    add("switches", metric_sum(r, "ctrlscope_context_switches_total", target="demo"))
    add("starts", metric_sum(r, "ctrlscope_process_starts_total", target="demo"))
    add("threads", metric_sum(r, "ctrlscope_threads", target="demo"))
    add("bpf_runs", metric_sum(r, "ctrlscope_bpf_program_runs_total"))
    return " ".join(parts)


def recursion_misses(r):
    """Programs with recursion misses, from bpftool (and the agent's series)."""
    out = {}
    prog = None
    for line in r["bpftool"]:
        m = re.match(r"^\d+: \S+\s+name (\S+)", line)
        if m:
            prog = m.group(1)
        m = re.search(r"recursion_misses (\d+)", line)
        if m and prog and int(m.group(1)):
            out[prog] = int(m.group(1))
    for n, l, v in r["metrics"]:
        if n == "ctrlscope_bpf_program_recursion_misses_total" and v:
            out.setdefault(l.get("program", "?"), int(v))
    return out


# --- main -----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--tap", action="store_true", help="print TAP instead of the report")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("VM_JOBS", "0")) or
                    min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("VM_TIMEOUT", "240")))
    ap.add_argument("--memory", default=os.environ.get("VM_MEMORY", "2G"))
    ap.add_argument("--smp", type=int, default=int(os.environ.get("VM_SMP", "2")))
    ap.add_argument("--modules", default="syscalls net sched proc reconcile",
                    help="the modules whose ctrlscope_module_up must be 1 (and any other the "
                    "agent reports)")
    ap.add_argument("--tests", default="",
                    help="the kernel-tier test binaries (default BUILD/tests/bpf/test_kernel)")
    ap.add_argument("--arm64-build", default="",
                    help="the arm64 build, for arm64 kernels (default BUILD/arm64, with its "
                    "sysroot in BUILD/arm64/sysroot)")
    ap.add_argument("--arm64-tests", default="",
                    help="the test binaries arm64 guests run (default: those of --tests, in "
                    "the arm64 build)")
    ap.add_argument("kernels", nargs="*")
    args = ap.parse_args()
    modules = args.modules.split()
    build = os.path.abspath(args.build)
    test_bins = [os.path.abspath(t) for t in args.tests.split()] or [
        os.path.join(build, "tests", "bpf", "test_kernel")]
    arm64_build = os.path.abspath(args.arm64_build or os.path.join(build, "arm64"))
    arm64_bins = [os.path.abspath(t) for t in args.arm64_tests.split()] or [
        os.path.join(arm64_build, os.path.relpath(t, build)) for t in test_bins]
    # Per architecture: the build, the tests the guest runs, initramfs.sh's options, the
    # initramfs.
    vm = os.path.join(build, "vm")
    arches = {
        "amd64": (build, test_bins, [], os.path.join(vm, "initramfs.cpio.gz")),
        "arm64": (arm64_build, arm64_bins, ["--sysroot", os.path.join(arm64_build, "sysroot")],
                  os.path.join(vm, "initramfs-arm64.cpio.gz")),
    }
    tests = {a: [os.path.basename(t) for t in v[1]] for a, v in arches.items()}
    started = time.monotonic()

    def setup_failed(why):
        log(why)
        if args.tap:
            print("not ok 1 - vmtest: %s" % why)
            print("1..1")
        return 2

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    # One run at a time per build directory: they would share the initramfs and the logs.
    os.makedirs(vm, exist_ok=True)
    run_lock = open(os.path.join(vm, ".run.lock"), "w")  # held until this process exits
    try:
        fcntl.flock(run_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return setup_failed("another vmtest runs in %s (%s is locked)" % (build,
                                                                          run_lock.name))

    # The kernels (downloaded once), then the initramfs (every run: it is the build).
    wanted = [k for arg in args.kernels for k in arg.replace(",", " ").split()]
    rc, out = run_step([os.path.join(HERE, "fetch-kernels.sh"), "--build", build] + wanted,
                       3600, stdout=subprocess.PIPE, text=True)
    if rc != 0:
        return setup_failed("could not get the kernels (fetch-kernels.sh said why above)")
    kernels = []
    for line in out.splitlines():
        name, cache, arch = (line.split("\t") + ["amd64"])[:3]
        if arch not in QEMU:
            return setup_failed("kernel %s: no guest for architecture %s" % (name, arch))
        with open(os.path.join(cache, "release")) as f:
            kernels.append((name, f.read().strip(), os.path.join(cache, "vmlinuz"), arch))
    initrds = {}
    for arch in sorted({k[3] for k in kernels}):
        if not shutil.which(QEMU[arch]["binary"]):
            return setup_failed("%s is missing: run make deps" % QEMU[arch]["binary"])
        arch_build, bins, opts, initrds[arch] = arches[arch]
        build_rc, _ = run_step([os.path.join(HERE, "initramfs.sh")] + opts +
                               [arch_build, initrds[arch]] + bins, 600)
        if build_rc != 0:
            return setup_failed("could not build the %s initramfs (initramfs.sh said why "
                                "above)" % arch)
    logs = os.path.join(vm, "logs")
    os.makedirs(logs, exist_ok=True)

    guests = Guests()
    results = {}
    pending = list(kernels)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                name, release, image, arch = pending.pop(0)
            logfile = os.path.join(logs, name + ".log")
            log("booting %s (%s)" % (name, release))
            try:
                rc, timed_out, seconds = run_guest(guests, arch, image, initrds[arch],
                                                   logfile, args.timeout, args.memory,
                                                   args.smp)
            except OSError as e:
                log("%s: cannot run QEMU: %s" % (name, e))
                rc, timed_out, seconds = None, False, 0.0
            log("%s done in %.0fs%s" % (name, seconds, " (timed out)" if timed_out else ""))
            results[name] = (rc, timed_out, seconds, logfile)

    jobs = max(1, min(args.jobs, len(kernels)))
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(jobs)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=1)
    finally:
        with lock:
            pending.clear()
        guests.kill_all()

    # Checks and report.
    expect = expectations()
    number = failed = 0
    lines = []
    summary = []
    for name, release, _, arch in kernels:
        rc, timed_out, seconds, logfile = results[name]
        r = parse_log(logfile)
        checks = checks_of(name, release, r, rc, timed_out, seconds, args.timeout, modules,
                           tests[arch], expect.get(name, ""))
        bad = [c for c in checks if not c[0]]
        failed += len(bad)
        for ok, desc, diag in checks:
            number += 1
            lines.append("%s %d - %s" % ("ok" if ok else "not ok", number, desc))
            lines.extend("# " + d for d in diag)
        up = [m for m in modules if metric_sum(r, "ctrlscope_module_up", module=m) == 1]
        counts = [test_results(r, t)[:2] for t in tests[arch]]
        passed, total = sum(c[0] for c in counts), sum(c[1] for c in counts)
        misses = recursion_misses(r)
        summary.append({
            "name": name, "release": release, "ok": not bad, "seconds": seconds,
            "timed_out": timed_out, "up": up, "tk": "%d/%d" % (passed, total) if total else "-",
            "smoke": smoke_numbers(r) or ("agent not ready" if r["ready"] is None else "-"),
            "bad": bad, "misses": misses, "log": logfile, "warn": r["warn"],
            "probe": r["probe"], "probe_rc": r["probe_rc"],
            "variants": " ".join("%s=%s" % (l.get("feature"), l.get("variant"))
                                 for n, l, v in r["metrics"]
                                 if n == "ctrlscope_bpf_feature" and v == 1),
        })
    wall = time.monotonic() - started

    if args.tap:
        for line in lines:
            print(line)
        for s in summary:
            print("# %s" % report_line(s, modules))
            if s["variants"]:
                print("# %s: %s" % (s["release"], s["variants"]))
            if s["misses"]:
                print("# %s: recursion misses: %s" % (s["release"], misses_text(s["misses"])))
        print("# %d kernels in %.0fs (%d at a time)" % (len(kernels), wall, jobs))
        print("1..%d" % number)
    else:
        print("%-28s %-6s %5s  %-16s %-12s %s" % ("KERNEL", "RESULT", "TIME", "MODULES UP",
                                                  "KERNEL TESTS", "SMOKE (demo workload)"))
        for s in summary:
            print(report_line(s, modules))
        print("\nWhat the agent chose on each kernel (ctrlscope_bpf_feature):")
        for s in summary:
            print("  %-28s %s" % (s["release"], s["variants"] or "-"))
        for s in summary:
            notes = []
            if s["misses"]:
                notes.append("  recursion misses: %s" % misses_text(s["misses"]))
            notes.extend("  guest: %s" % w for w in s["warn"])
            if s["probe_rc"] != 0 or any(re.search(r"refused|CANNOT", l) for l in s["probe"]):
                notes.append("  ctrlscope --probe%s:" % (
                    "" if s["probe_rc"] is None else " (status %d)" % s["probe_rc"]))
                notes.extend("    " + l for l in s["probe"])
            for ok, desc, diag in s["bad"]:
                notes.append("  FAILED %s" % desc.split(": ", 1)[1])
                notes.extend("    " + d for d in diag)
            if notes:
                print("\n%s (%s), console log %s:" % (s["release"], s["name"],
                                                     os.path.relpath(s["log"])))
                print("\n".join(notes))
        print("\n%d kernels, %d checks, %d failed, in %.0fs (%d at a time)" % (
            len(kernels), number, failed, wall, jobs))
    return 1 if failed else 0


def report_line(s, modules):
    up = "%d/%d" % (len(s["up"]), len(modules))
    down = [m for m in modules if m not in s["up"]]
    if down and len(down) < len(modules):
        up += " (-%s)" % ",".join(down)
    return "%-28s %-6s %4.0fs  %-16s %-12s %s" % (
        s["release"], "ok" if s["ok"] else "FAIL", s["seconds"], up, s["tk"], s["smoke"])


def misses_text(misses):
    return ", ".join("%s=%d" % kv for kv in sorted(misses.items()))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
