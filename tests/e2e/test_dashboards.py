"""The chart's dashboard and alert rules against the real thing: Debian's Prometheus
scrapes an agent (HTTPS, a bearer token) whose targets exercise every module (system
calls, a connection to the API server's address, a CPU-limited burner that exits, a
controller-runtime manager reconciling on a real API server), then
every query of helm/ctrlscope/files/dashboard.json must return data and every rule of
helm/ctrlscope/files/alerts.yaml must evaluate without error: no panel or alert may query
a metric the agent does not export."""

import json
import os
import subprocess
import tempfile
import time

from harness import BUILD, PKI, Scene, free_port
from test_reconcile import FIXTURES, NS, PROBES, Reconciler, configmap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(ROOT, "helm", "ctrlscope", "files")


def dashboard_queries():
    with open(os.path.join(FILES, "dashboard.json")) as f:
        d = json.load(f)
    out = []
    for panel in d["panels"]:
        for t in panel.get("targets", []):
            out.append((panel["title"], t["expr"]))
    return out


def grafana_to_promql(expr):
    """The dashboard's variables as Grafana would fill them for "All"."""
    return (expr.replace("$__rate_interval", "20s").replace("$instance", ".*")
            .replace("$target", ".*"))


def test_every_dashboard_query_returns_data_and_every_rule_evaluates():
    pki = PKI()
    ca = pki.ca("ca")
    server = pki.cert("server", ca, "ctrlscope", sans=("DNS:ctrlscope.test", "IP:127.0.0.1"),
                      usage="serverAuth")
    tokens = pki.path("tokens.csv")
    with open(tokens, "w") as f:
        f.write('prom-secret,prometheus,uid-1,"system:monitoring"\n')
    web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
           "authentication:\n  static_tokens_file: %s\n"
           "authorization:\n  static:\n    - {group: \"system:monitoring\", paths: [/metrics]}\n"
           % (server[0], server[1], tokens))
    with Scene() as s:
        limited = s.cgroup("limited")
        v1 = s.cgroups.limit("limited", "cpu", {"cpu.max": "10000 100000"},
                             {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "10000"})
        # The API server's address is a plain TCP server here: the agent only reads the
        # kubeconfig to name that peer.
        api_port = free_port()
        d = tempfile.mkdtemp(prefix="ctrlscope-dash-")
        kc = os.path.join(d, "kubeconfig")
        with open(kc, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                    "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:%d\n"
                    "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n"
                    "users:\n- name: u\n  user:\n    token: not-used\n" % api_port)
        agent = s.agent(
            "targets:\n"
            "  - name: demo\n    process:\n      comm: [demo-workload]\n"
            "  - name: ctl\n    process:\n      comm: [netcli]\n"
            "  - name: limited\n    process:\n      cgroup: [\"%s\"]\n"
            "  - name: manager\n    process:\n      exe: [\"%s/reconciler-*\"]\n"
            % (limited, FIXTURES),
            web_config=web, ca=ca[0], args=["--kubeconfig=" + kc],
            scrape_headers={"Authorization": "Bearer prom-secret"})
        workload = subprocess.Popen([os.path.join(BUILD, "demo-workload")])
        srv = s.fixture(["--name", "netsrv", "server", "127.0.0.1", str(api_port),
                         "--accepts", "20", "--recv", "1000", "--send", "3000"], binary="netload")
        cli = s.fixture(["--name", "netcli", "client", "127.0.0.1", str(api_port),
                         "--connects", "20", "--send", "1000", "--recv", "3000", "--hold"],
                        binary="netload")
        burner = s.fixture(["--burn-ms", "150", "--exit", "2"], limited, join=[v1])
        cp = s.control_plane(pki, ca)
        cp.namespace(NS)
        manager = Reconciler("cr0.25-go1.26", cp.kubeconfig())
        agent.wait_for("ctrlscope_reconcile_probes_attached", PROBES)
        for i, script in enumerate(["success", "error,success", "panic,success", "terminal",
                                    "sleep=20ms+requeue,success"]):
            configmap(cp, "dash-%d" % i, "alpha", script)
        agent.wait_for("ctrlscope_target_processes", 1, target="ctl")
        agent.wait_for("ctrlscope_target_processes", 1, target="limited")
        srv.go()
        cli.go()
        burner.go()

        prom = s.prometheus(agent.port, "prom-secret", ca[0], "ctrlscope.test",
                            rule_files=[os.path.join(FILES, "alerts.yaml")])
        try:
            cli.read_done()
            burner.proc.stdin.close()
            assert burner.proc.wait(30) == 2
            queries = [(title, grafana_to_promql(e)) for title, e in dashboard_queries()]
            assert len(queries) >= 20, queries
            # Rates need a few samples of every series: wait until all answer, at most 60 s.
            deadline = time.time() + 60
            while True:
                empty = []
                try:
                    for title, expr in queries:
                        if not prom.query(expr):
                            empty.append((title, expr))
                except OSError:
                    empty = ["prometheus not up yet"]
                if not empty or time.time() > deadline:
                    break
                time.sleep(1)
            assert not empty, "dashboard queries without data: %s" % json.dumps(empty, indent=1)
            # Prometheus negotiated OpenMetrics: only that format carries _created samples,
            # which Prometheus 2.42 stores as series of their own.
            created = prom.query('ctrlscope_http_requests_created{path="/metrics"}')
            assert created and abs(float(created[0]["value"][1]) - time.time()) < 600, created
            rules = [r for g in prom.api("/api/v1/rules")["groups"] for r in g["rules"]]
            assert len(rules) == 17, [r["name"] for r in rules]
            bad = [(r["name"], r.get("lastError")) for r in rules
                   if r["health"] != "ok" or r.get("lastError")]
            assert not bad, bad
        finally:
            manager.stop()
            workload.terminate()
            workload.wait(5)
            cli.proc.stdin.close()
