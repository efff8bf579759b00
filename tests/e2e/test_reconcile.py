"""The reconcile module end to end: a real controller-runtime manager (tests/fixtures/
reconciler, built against controller-runtime v0.22 and v0.25, with Go 1.26 and 1.27,
stripped and not) reconciles ConfigMaps of a real kube-apiserver, each ConfigMap's script
saying what its reconciles return and how long they take; the manager serves
controller-runtime's own metrics on loopback. ctrlscope, which only sees the binary from
the outside, must publish the same numbers, exactly."""

import json
import os
import signal
import subprocess
import time
import urllib.request

import harness
from harness import PKI, Scene, free_port, key, parse, series

FIXTURES = os.path.join(harness.BUILD, "fixtures", "reconciler")
NS = "reconciles"
LABEL = "ctrlscope.test/controller"

CONFIG = """targets:
  - name: ctl
    process:
      exe: ["%s/reconciler-*"]
""" % FIXTURES


class Reconciler:
    """One run of the fixture; its own controller-runtime metrics at metrics()."""

    def __init__(self, variant, kubeconfig, controllers="alpha,beta", workers=2, binary=None):
        self.port = free_port()
        self.binary = binary or os.path.join(FIXTURES, "reconciler-" + variant)
        self.proc = subprocess.Popen(
            [self.binary, "--kubeconfig", kubeconfig, "--namespace", NS,
             "--controllers", controllers, "--workers", str(workers),
             "--metrics-address", "127.0.0.1:%d" % self.port],
            stdout=subprocess.PIPE, stderr=open(os.path.join(kubeconfig + ".reconciler.log"), "a"))
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            self.kill()
            raise AssertionError("reconciler did not start: %r" % line)

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=10) as r:
            return parse(r.read().decode())

    def stop(self):
        """SIGTERM; its tally: {controller: {"outcomes": {...}, "checksum": n}}."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, "reconciler exited with %d" % self.proc.returncode
        return json.loads(out.decode().strip().splitlines()[-1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def configmap(cp, name, controller, script):
    cp.must("POST", "/api/v1/namespaces/%s/configmaps" % NS, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {LABEL: controller}},
        "data": {"script": script}})


# Per controller: (ConfigMaps, script). Sleeps are chosen away from the bucket bounds
# (5, 10, 25, 50, 100, 150, ... ms): a reconcile takes its sleep plus well under 2 ms.
SCRIPTS = {
    "alpha": [
        (20, "success"),
        (5, "error,error,success"),
        (3, "panic,success"),
        (3, "terminal"),
        (2, "wrapped-terminal"),
        (4, "requeue,success"),
        (4, "requeue-after=20ms,success"),
        (2, "requeue-after-error,success"),
        (3, "sleep=30ms+success"),
        (2, "sleep=120ms+requeue,success"),
        (1, "sleep=1100ms+success"),
    ],
    "beta": [
        (10, "success"),
        (2, "sleep=60ms+error,sleep=7ms+success"),
    ],
}


def expected():
    """{controller: {result: count}} as controller-runtime labels them, and panics."""
    out = {}
    for ctl, scripts in SCRIPTS.items():
        results = dict(success=0, error=0, requeue=0, requeue_after=0)
        panics = terminal = 0
        for n, script in scripts:
            for step in script.split(","):
                outcome = step.split("+")[-1]
                label = {"success": "success", "requeue": "requeue"}.get(outcome)
                if outcome.startswith("requeue-after="):
                    label = "requeue_after"
                if outcome in ("error", "panic", "terminal", "wrapped-terminal",
                               "requeue-after-error"):
                    label = "error"
                results[label] += n
                panics += n * (outcome == "panic")
                terminal += n * (outcome in ("terminal", "wrapped-terminal"))
        out[ctl] = (results, panics, terminal)
    return out


def run_scripts(cp, r):
    """Create every ConfigMap, and wait until the controller's own counts are final."""
    want = expected()
    for ctl, scripts in SCRIPTS.items():
        for i, (n, script) in enumerate(scripts):
            for j in range(n):
                configmap(cp, "%s-%d-%d" % (ctl, i, j), ctl, script)
    deadline = time.time() + 60
    while True:
        m = r.metrics()
        got = {ctl: {res: m.get(key("controller_runtime_reconcile_total", controller=ctl,
                                    result=res), 0) for res in want[ctl][0]} for ctl in want}
        active = sum(series(m, "controller_runtime_active_workers").values())
        if all(got[c] == want[c][0] for c in want) and active == 0:
            return m
        assert time.time() < deadline, "the controller's own counts: %r, want %r" % (
            got, {c: w[0] for c, w in want.items()})
        time.sleep(0.2)


def own_series(m, name, ctl):
    """The controller's own series of name for ctl: {other labels: value}."""
    return {tuple(kv for kv in k if kv[0] != "controller"): v
            for k, v in series(m, name, controller=ctl).items()}


def agent_series(m, name, ctl):
    """ctrlscope's series of name for ctl, the target's labels left out."""
    return {tuple(kv for kv in k if kv[0] not in ("controller", "target", "comm")): v
            for k, v in series(m, name, controller=ctl, target="ctl").items()}


def compare(own, mine, prefix="ctrlscope_reconcile_"):
    """ctrlscope's series (mine) equal the controller's own, exactly, sums within 2%."""
    names = {
        "controller_runtime_reconcile_total": prefix + "total",
        "controller_runtime_reconcile_errors_total": prefix + "errors_total",
        "controller_runtime_reconcile_panics_total": prefix + "panics_total",
        "controller_runtime_terminal_reconcile_errors_total": prefix + "terminal_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket": prefix + "duration_seconds_bucket",
        "controller_runtime_reconcile_time_seconds_count": prefix + "duration_seconds_count",
        "controller_runtime_active_workers": prefix + "active_workers",
    }
    own_sum = "controller_runtime_reconcile_time_seconds_sum"
    my_sum = prefix + "duration_seconds_sum"
    if prefix == "controller_runtime_":
        names = {k: k for k in names}
        my_sum = own_sum
    for ctl in SCRIPTS:
        for theirs, ours in names.items():
            a, b = own_series(own, theirs, ctl), agent_series(mine, ours, ctl)
            assert a and a == b, "%s{controller=%s}: controller-runtime %r, ctrlscope %r" % (
                ours, ctl, a, b)
        a = own[key(own_sum, controller=ctl)]
        b = list(agent_series(mine, my_sum, ctl).values())
        assert len(b) == 1 and abs(b[0] - a) <= 0.02 * a, "%s: %r, want %r" % (my_sum, b, a)


def start(s, args=()):
    pki = PKI()
    cp = s.control_plane(pki, pki.ca("ca"))
    cp.namespace(NS)
    agent = s.agent(CONFIG, args=args)
    return cp, agent


def probes_attached(agent, want, timeout=15):
    return agent.wait_for("ctrlscope_reconcile_probes_attached", want, timeout=timeout)


def check_variant(variant):
    with Scene() as s:
        cp, agent = start(s)
        r = Reconciler(variant, cp.kubeconfig())
        try:
            probes_attached(agent, 5)
            own = run_scripts(cp, r)
            mine = agent.metrics()
            want = expected()
            for ctl, (results, panics, terminal) in want.items():
                for res, n in results.items():
                    assert own[key("controller_runtime_reconcile_total", controller=ctl,
                                   result=res)] == n
                assert own[key("controller_runtime_reconcile_panics_total",
                               controller=ctl)] == panics
                assert own[key("controller_runtime_terminal_reconcile_errors_total",
                               controller=ctl)] == terminal
            compare(own, mine)
            assert mine[key("ctrlscope_go_binaries_inspected_total")] == 1
            assert mine[key("ctrlscope_reconcile_binaries_probed")] == 1
        finally:
            tally = r.stop() if r.proc.poll() is None else None
        assert tally["alpha"]["outcomes"]["panic"] == 3


def test_v0_25_exact():
    check_variant("cr0.25-go1.26")


def test_v0_22_go1_27_exact():
    check_variant("cr0.22-go1.27")


def test_v0_25_stripped_exact():
    check_variant("cr0.25-go1.26-stripped")
