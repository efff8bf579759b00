"""The reconcile module end to end: a real controller-runtime manager (tests/fixtures/
reconciler, built against controller-runtime v0.22 and v0.25, with Go 1.26 and 1.27,
stripped and not) reconciles ConfigMaps of a real kube-apiserver, each ConfigMap's script
saying what its reconciles return and how long they take; the manager serves
controller-runtime's own metrics on loopback. ctrlscope, which only sees the binary from
the outside, must publish the same numbers, exactly."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import harness
from harness import PKI, Scene, free_port, key, parse, series

FIXTURES = os.path.join(harness.BUILD, "fixtures", "reconciler")
NS = "reconciles"
LABEL = "ctrlscope.test/controller"

def config(exe_glob="%s/reconciler-*" % FIXTURES, modules=""):
    globs = [exe_glob] if isinstance(exe_glob, str) else exe_glob
    return """targets:
  - name: ctl
    process:
      exe: [%s]
%s""" % (", ".join('"%s"' % g for g in globs), modules)


class Reconciler:
    """One run of the fixture; its own controller-runtime metrics at metrics()."""

    def __init__(self, variant, kubeconfig, controllers="alpha,beta", workers=2, binary=None,
                 namespace=NS):
        self.port = free_port()
        self.binary = binary or os.path.join(FIXTURES, "reconciler-" + variant)
        self.proc = subprocess.Popen(
            [self.binary, "--kubeconfig", kubeconfig, "--namespace", namespace,
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


def configmap(cp, name, controller, script, namespace=NS):
    cp.must("POST", "/api/v1/namespaces/%s/configmaps" % namespace, {
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
        (3, "requeue-both=15ms,success"),
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


def expected(scripts_of=None):
    """{controller: ({result: count}, panics, terminal errors)} as controller-runtime
    counts them."""
    out = {}
    for ctl, scripts in (scripts_of or SCRIPTS).items():
        results = dict(success=0, error=0, requeue=0, requeue_after=0)
        panics = terminal = 0
        for n, script in scripts:
            for step in script.split(","):
                outcome = step.split("+")[-1]
                label = {"success": "success", "requeue": "requeue"}.get(outcome)
                if outcome.startswith(("requeue-after=", "requeue-both=")):
                    label = "requeue_after"
                if outcome in ("error", "panic", "terminal", "wrapped-terminal",
                               "requeue-after-error"):
                    label = "error"
                results[label] += n
                panics += n * (outcome == "panic")
                terminal += n * (outcome in ("terminal", "wrapped-terminal"))
        out[ctl] = (results, panics, terminal)
    return out


def run_scripts(cp, r, scripts_of=None, namespace=NS):
    """Create every ConfigMap, and wait until the controller's own counts are final."""
    want = expected(scripts_of)
    for ctl, scripts in (scripts_of or SCRIPTS).items():
        for i, (n, script) in enumerate(scripts):
            for j in range(n):
                configmap(cp, "%s-%d-%d" % (ctl, i, j), ctl, script, namespace)
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
    return {tuple(kv for kv in k if kv[0] not in ("controller", "name")): v
            for k, v in series(m, name, controller=ctl).items()}


def agent_series(m, name, ctl):
    """ctrlscope's series of name for ctl, the target's labels left out."""
    return {tuple(kv for kv in k if kv[0] not in ("controller", "name", "target", "comm")): v
            for k, v in series(m, name, controller=ctl, target="ctl").items()}


def summed_own(m, name, ctl):
    """The controller's series of name summed over labels but controller (the priority
    queue's depth has one per priority)."""
    return sum(series(m, name, controller=ctl).values())


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
    wq = {"workqueue_adds_total": "ctrlscope_workqueue_adds_total",
          "workqueue_retries_total": "ctrlscope_workqueue_retries_total",
          "workqueue_queue_duration_seconds_count":
          "ctrlscope_workqueue_queue_duration_seconds_count",
          "workqueue_work_duration_seconds_count":
          "ctrlscope_workqueue_work_duration_seconds_count"}
    own_sum = "controller_runtime_reconcile_time_seconds_sum"
    my_sum = prefix + "duration_seconds_sum"
    if prefix == "controller_runtime_":
        names = {k: k for k in names}
        wq = {k: k for k in wq}
        my_sum = own_sum
    names.update(wq)
    for ctl in SCRIPTS:
        for theirs, ours in names.items():
            a, b = own_series(own, theirs, ctl), agent_series(mine, ours, ctl)
            assert a and a == b, "%s{controller=%s}: controller-runtime %r, ctrlscope %r" % (
                ours, ctl, a, b)
        a = own[key(own_sum, controller=ctl)]
        b = list(agent_series(mine, my_sum, ctl).values())
        assert len(b) == 1 and abs(b[0] - a) <= 0.02 * a, "%s: %r, want %r" % (my_sum, b, a)
        depth = "ctrlscope_workqueue_depth" if prefix != "controller_runtime_" else \
            "workqueue_depth"
        assert summed_own(own, "workqueue_depth", ctl) == 0
        assert agent_series(mine, depth, ctl) == {(): 0}, agent_series(mine, depth, ctl)


def start(s, args=(), cfg=None):
    pki = PKI()
    cp = s.control_plane(pki, pki.ca("ca"))
    cp.namespace(NS)
    agent = s.agent(cfg or config(), args=args)
    return cp, agent


# Per binary: Reconcile's body and two returns, reconcileHandler's errors.Is return,
# updateMetrics; add, get, done and retry of both kinds of work queue.
PROBES = 13


def probes_attached(agent, want, timeout=15):
    return agent.wait_for("ctrlscope_reconcile_probes_attached", want, timeout=timeout)


def check_variant(variant):
    with Scene() as s:
        cp, agent = start(s)
        r = Reconciler(variant, cp.kubeconfig())
        try:
            probes_attached(agent, PROBES)
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


def summed(m, name, **labels):
    """The sum of the series of name whose labels include these."""
    return sum(series(m, name, **labels).values())


def wait_summed(agent, name, value, timeout=15, **labels):
    deadline = time.time() + timeout
    while True:
        m = agent.metrics()
        got = summed(m, name, **labels)
        if got == value:
            return m
        assert time.time() < deadline, "%s%r: %r, want %r" % (name, labels, got, value)
        time.sleep(0.1)


SHORT = {
    "alpha": [(5, "success"), (2, "error,success"), (1, "panic,success"), (1, "terminal"),
              (2, "sleep=30ms+success")],
    "beta": [(3, "requeue,requeue-after=10ms,success")],
}
RESULTS = ("success", "error", "requeue", "requeue_after")


def test_replaced_binary_is_inspected_again():
    """The binary at a target's path replaced by another build, first by a rename (a new
    inode), then written in place (the same inode) right after its process exited: every
    process is counted with the probes of its own file, and the counts add up."""
    with Scene() as s:
        path = os.path.join(tempfile.mkdtemp(prefix="replaced-"), "manager")
        cp, agent = start(s, cfg=config(path))
        want = {}

        def run(namespace, inspected, probes):
            cp.namespace(namespace)
            r = Reconciler(None, cp.kubeconfig(), binary=path, namespace=namespace)
            try:
                agent.wait_for("ctrlscope_go_binaries_inspected_total", inspected)
                agent.wait_for("ctrlscope_reconcile_probes_attached", probes)
                own = run_scripts(cp, r, SHORT, namespace)
            finally:
                r.stop()
            for (name, labels), v in own.items():
                if name.startswith("controller_runtime_reconcile"):
                    want[(name, labels)] = want.get((name, labels), 0) + v

        shutil.copy(os.path.join(FIXTURES, "reconciler-cr0.25-go1.26"), path)
        run("first", 1, PROBES)
        shutil.copy(os.path.join(FIXTURES, "reconciler-cr0.22-go1.27"), path + ".new")
        os.rename(path + ".new", path)
        run("renamed", 2, 2 * PROBES)  # the first file's probes stay while it was used lately
        inode = os.stat(path).st_ino
        with open(os.path.join(FIXTURES, "reconciler-cr0.25-go1.26-stripped"), "rb") as src, \
                open(path, "r+b") as dst:
            dst.truncate(0)
            shutil.copyfileobj(src, dst)
        assert os.stat(path).st_ino == inode
        # Gone as the file was written, not at the next inspection.
        agent.wait_for("ctrlscope_reconcile_probes_attached", PROBES, timeout=2)
        run("in-place", 3, 2 * PROBES)  # the rewritten file lost its old probes, got new ones
        m = agent.metrics()
        for ctl in SHORT:
            for res in RESULTS:
                own = want.get(key("controller_runtime_reconcile_total", controller=ctl,
                                   result=res), 0)
                mine = summed(m, "ctrlscope_reconcile_total", controller=ctl, result=res)
                assert mine == own, (ctl, res, mine, own)
            for theirs, ours in (("controller_runtime_reconcile_panics_total",
                                  "ctrlscope_reconcile_panics_total"),
                                 ("controller_runtime_reconcile_time_seconds_count",
                                  "ctrlscope_reconcile_duration_seconds_count")):
                own = want[key(theirs, controller=ctl)]
                assert summed(m, ours, controller=ctl) == own, (ours, ctl)
        assert "probes are removed" in agent.logs()


def test_go_and_c_programs_without_controller_runtime_are_skipped():
    """A Go program without controller-runtime and a C program, both targets: inspected,
    skipped with their reasons, one log line each; nothing probed."""
    with Scene() as s:
        agent = s.agent(config([os.path.join(harness.BUILD, "fixtures", f)
                                 for f in ("fakeapi", "sysload")]))
        pki = PKI()
        s.fakeapi(pki, pki.ca("ca"), {"callers": {"tokens": ["t"]}, "tokens": [], "rules": []})
        s.fixture(["--hold"])
        m = agent.wait_for("ctrlscope_go_binaries_inspected_total", 2)
        skipped = {dict(k)["reason"]: v
                   for k, v in series(m, "ctrlscope_go_binaries_skipped_total").items()}
        assert skipped == {"unreadable": 0, "not_go": 1, "no_controller_runtime": 1,
                           "unsupported_version": 0, "symbols_not_found": 0}, skipped
        assert m[key("ctrlscope_reconcile_probes_attached")] == 0
        assert m[key("ctrlscope_reconcile_binaries_probed")] == 0
        logs = agent.logs()
        assert "fakeapi (pid" in logs and "(no_controller_runtime): a Go program" in logs, logs
        assert "sysload (pid" in logs and "(not_go): not a Go binary" in logs, logs


def test_the_controller_runs_the_same_with_and_without_probes():
    """The same scripted run without the agent and with it: the controller's own counts,
    the outcomes it tallied and the checksum of its work are the same."""
    with Scene() as s:
        pki = PKI()
        cp = s.control_plane(pki, pki.ca("ca"))
        cp.namespace(NS)
        runs = []
        for probed in (False, True):
            agent = s.agent(config()) if probed else None
            r = Reconciler("cr0.25-go1.26", cp.kubeconfig())
            try:
                if agent:
                    probes_attached(agent, PROBES)
                own = run_scripts(cp, r)
            finally:
                tally = r.stop()
            totals = {k: v for k, v in own.items()
                      if k[0] in ("controller_runtime_reconcile_total",
                                  "controller_runtime_reconcile_panics_total",
                                  "controller_runtime_terminal_reconcile_errors_total")}
            runs.append((tally, totals))
            cp.must("DELETE", "/api/v1/namespaces/%s/configmaps" % NS)
            if agent:
                compare(own, agent.metrics())
        assert runs[0] == runs[1], runs
        assert runs[0][0]["alpha"]["outcomes"]["panic"] == 3


def test_a_process_killed_mid_reconcile_frees_its_state():
    """Two reconciles sleeping when their process is killed: the active workers go back to
    0, their in-flight entries and the queue's are freed, and they are not counted as
    done; what the process counted before stays."""
    with Scene() as s:
        cp, agent = start(s)
        r = Reconciler("cr0.25-go1.26", cp.kubeconfig(), controllers="alpha")
        try:
            probes_attached(agent, PROBES)
            # One done first: a queue is known by its controller once a worker finished
            # an item of it.
            configmap(cp, "quick", "alpha", "success")
            wait_summed(agent, "ctrlscope_reconcile_total", 1, controller="alpha")
            for i in range(2):
                configmap(cp, "slow-%d" % i, "alpha", "sleep=60s+success")
            wait_summed(agent, "ctrlscope_reconcile_active_workers", 2, controller="alpha")
            m = agent.metrics()
            assert m[key("ctrlscope_bpf_map_entries", map="rec_calls")] == 2
        finally:
            r.kill()
        m = wait_summed(agent, "ctrlscope_reconcile_active_workers", 0, controller="alpha")
        m = agent.wait_for("ctrlscope_bpf_map_entries", 0, map="rec_calls")
        m = agent.wait_for("ctrlscope_bpf_map_entries", 0, map="wq_stats")
        assert summed(m, "ctrlscope_reconcile_total", controller="alpha") == 1
        assert summed(m, "ctrlscope_reconcile_duration_seconds_count", controller="alpha") == 1
        # The dead process's queue: its three adds stay counted, nothing waits in it.
        assert summed(m, "ctrlscope_workqueue_adds_total", controller="alpha") == 3
        assert summed(m, "ctrlscope_workqueue_depth", controller="alpha") == 0


def test_controller_runtime_names_answer_the_same_queries():
    """With controller_runtime_names, a real Prometheus scraping the controller's own
    endpoint (job manager) and ctrlscope (job ctrlscope) gets the same answers to the same
    queries; ctrlscope's own names are not published."""
    with Scene() as s:
        cp, agent = start(s, cfg=config(modules="modules:\n  reconcile:\n"
                                         "    controller_runtime_names: true\n"))
        r = Reconciler("cr0.25-go1.26", cp.kubeconfig())
        try:
            probes_attached(agent, PROBES)
            run_scripts(cp, r)
            mine = agent.metrics()
            assert not series(mine, "ctrlscope_reconcile_total")
            prom = s.prometheus(agent.port, None, None, None, jobs=[("manager", r.port)])
            queries = [
                "sum by (controller, result) (controller_runtime_reconcile_total{job=\"%s\"})",
                "sum by (controller) (controller_runtime_reconcile_errors_total{job=\"%s\"})",
                "sum by (controller) (controller_runtime_reconcile_panics_total{job=\"%s\"})",
                "sum by (controller) (controller_runtime_terminal_reconcile_errors_total"
                "{job=\"%s\"})",
                "sum by (controller, le) (controller_runtime_reconcile_time_seconds_bucket"
                "{job=\"%s\"})",
                "sum by (controller) (controller_runtime_active_workers{job=\"%s\"})",
                "histogram_quantile(0.9, sum by (controller, le) "
                "(controller_runtime_reconcile_time_seconds_bucket{job=\"%s\"}))",
                "sum by (name) (workqueue_adds_total{job=\"%s\"})",
                "sum by (name) (workqueue_retries_total{job=\"%s\"})",
                "sum by (name) (workqueue_depth{job=\"%s\"})",
                "sum by (name) (workqueue_queue_duration_seconds_count{job=\"%s\"})",
                "sum by (name) (workqueue_work_duration_seconds_count{job=\"%s\"})",
            ]

            def answer(q, job):
                try:
                    res = prom.query(q % job)
                except OSError:
                    return None
                return sorted((tuple(sorted(x["metric"].items())), x["value"][1]) for x in res)

            deadline = time.time() + 60
            while True:
                got = [(answer(q, "ctrlscope"), answer(q, "manager")) for q in queries]
                if all(a and a == b for a, b in got):
                    break
                assert time.time() < deadline, got
                time.sleep(0.5)
        finally:
            r.stop()
