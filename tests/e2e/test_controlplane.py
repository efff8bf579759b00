"""Authentication and authorization against a real kube-apiserver and etcd (the harness's
ControlPlane): real bound service-account tokens, and the chart's own RBAC, rendered by
helm template and applied, deciding who may scrape."""

import os
import subprocess

import yaml

from harness import PKI, Scene

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = "targets:\n  - name: nobody\n    process:\n      comm: [no-such-process]\n"
NS = "monitoring"

# Where a kind's objects are created.
COLLECTIONS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
}


def helm_objects(*templates, values=()):
    """The chart's objects from these templates, as helm template renders them."""
    helm = os.path.join(os.environ.get("CTRLSCOPE_BUILD", "build"), "tools", "bin", "helm")
    args = [helm, "template", "t", os.path.join(ROOT, "helm", "ctrlscope"), "--namespace", NS,
            "--kube-version", "1.37.0"]
    for t in templates:
        args += ["--show-only", "templates/" + t]
    for v in values:
        args += ["--set", v]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def apply(cp, objects):
    for obj in objects:
        path = COLLECTIONS[obj["kind"]].format(ns=obj["metadata"].get("namespace", NS))
        cp.create(path, obj)


def test_real_tokens_and_the_charts_rbac_decide_who_scrapes():
    """The agent reviews with the chart's own agent ServiceAccount (not an admin); the
    chart's scraper ServiceAccount, bound to its metrics-reader ClusterRole, gets 200; a
    ServiceAccount without the binding gets 403; a token for another audience and a
    garbled one get 401; a group bound to the role lets its member in."""
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca, users=[("dash-token", "dasher", "uid-d", ["dashboards"]),
                                             ("nobody-token", "nobody", "uid-n", [])])
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        apply(cp, helm_objects("serviceaccount.yaml", "rbac.yaml",
                               values=["metricsReader.subjects[0].kind=Group",
                                       "metricsReader.subjects[0].name=dashboards",
                                       "metricsReader.subjects[0].apiGroup="
                                       "rbac.authorization.k8s.io"]))
        cp.service_account(NS, "stranger")
        agent_token = cp.token(NS, "t-ctrlscope")
        server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
        web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
               "authentication:\n  kubernetes: {}\nauthorization:\n  kubernetes: {}\n"
               % (server[0], server[1]))
        agent = s.agent(TARGETS, web_config=web, ca=ca[0],
                        args=["--kubeconfig=" + cp.kubeconfig(token=agent_token)])

        def code(token):
            return agent.get("/metrics", headers={"Authorization": "Bearer " + token})[0]

        assert code(cp.token(NS, "t-ctrlscope-scraper")) == 200
        assert code(cp.token(NS, "stranger")) == 403
        assert code(cp.token(NS, "t-ctrlscope-scraper", audiences=["vault"])) == 401
        assert code("not-a-token") == 401
        # The binding's group lets its member in, and only it.
        assert code("dash-token") == 200
        assert code("nobody-token") == 403
        print("control plane ready in %.1fs" % cp.ready_seconds)


def make_pod(cp, name, node, labels):
    """A pod created through the API, its status written as a kubelet would: (uid, its
    container's id)."""
    import secrets
    out = cp.must("POST", "/api/v1/namespaces/cert-manager/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "manager", "image": "x"}]}})
    cid = secrets.token_hex(32)
    out["status"] = {"phase": "Running", "containerStatuses": [{
        "name": "manager", "containerID": "containerd://" + cid, "ready": True,
        "restartCount": 0, "image": "x", "imageID": "x",
        "state": {"running": {"startedAt": "2026-12-07T00:00:00Z"}}}]}
    cp.must("PUT", "/api/v1/namespaces/cert-manager/pods/%s/status" % name, out)
    return out["metadata"]["uid"], cid


def test_the_charts_agent_rbac_is_enough_to_watch_pods():
    """The agent, with a bound token of the chart's agent ServiceAccount and nothing else,
    lists and watches its node's pods on the real API server: a pod created through the API
    (spec.nodeName set, as a scheduler would; its status written as a kubelet would) is
    measured exactly with its labels, a pod on another node is not, and a relabelled pod
    leaves the selection."""
    from harness import key
    from test_kube_targets import layout
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        apply(cp, helm_objects("serviceaccount.yaml", "rbac.yaml"))
        cp.service_account("cert-manager", "default")
        agent_token = cp.token(NS, "t-ctrlscope")

        def pod(name, node, labels):
            return make_pod(cp, name, node, labels)

        uid, cid = pod("ctl-7d4b9c-a", "node-1", {"app": "ctl"})
        other_uid, other_cid = pod("ctl-7d4b9c-b", "node-2", {"app": "ctl"})
        here = s.cgroup(layout("systemd-containerd", uid, cid))
        s.cgroup(layout("systemd-containerd", other_uid, other_cid))
        config = ("targets:\n  - name: controllers\n    kubernetes:\n"
                  "      namespaces: [cert-manager]\n      pod_selector: \"app=ctl\"\n")
        agent = s.agent(config, args=["--kubeconfig=" + cp.kubeconfig(token=agent_token)],
                        env={"NODE_NAME": "node-1"})
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        f = s.fixture(["--getppid", "42"], here)
        f.go()
        f.wait_done()
        labels = dict(target="controllers", namespace="cert-manager", pod="ctl-7d4b9c-a",
                      container="manager", workload="")  # a bare pod: no owner
        m = agent.metrics()
        assert m.get(key("ctrlscope_syscalls_total", syscall="getppid", **labels)) == 42, \
            [k for k in m if k[0] == "ctrlscope_syscalls_total"]
        # Relabelled through the API: the watch sees it, the container leaves the selection.
        out = cp.must("GET", "/api/v1/namespaces/cert-manager/pods/ctl-7d4b9c-a")
        out["metadata"]["labels"] = {"app": "other"}
        cp.must("PUT", "/api/v1/namespaces/cert-manager/pods/ctl-7d4b9c-a", out)
        agent.wait_for("ctrlscope_target_cgroups", 0, target="controllers")
        assert "forbidden" not in agent.logs().lower(), agent.logs()


def test_revocations_on_the_real_api_server_take_effect_after_the_cache():
    """What the API server revokes stops working once the agent's cache entry expires:
    a deleted ServiceAccount's token -> 401; a deleted metrics-reader binding -> 403; the
    agent's own ClusterRole without create on subjectaccessreviews -> 503 for a scraper it
    has not decided on before (decided ones are honoured for outage_grace), a log line that
    says what is missing, and the agent running on."""
    import time
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        objects = helm_objects("serviceaccount.yaml", "rbac.yaml")
        apply(cp, objects)
        agent_token = cp.token(NS, "t-ctrlscope")
        server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
        web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
               "authentication:\n  kubernetes:\n    cache_ttl: 1s\n"
               "authorization:\n  kubernetes:\n    allowed_ttl: 1s\n    denied_ttl: 1s\n"
               % (server[0], server[1]))
        agent = s.agent(TARGETS, web_config=web, ca=ca[0],
                        args=["--kubeconfig=" + cp.kubeconfig(token=agent_token)])

        def code(token):
            return agent.get("/metrics", headers={"Authorization": "Bearer " + token})[0]

        def becomes(token, want, timeout=10):
            deadline = time.time() + timeout
            while True:
                got = code(token)
                if got == want:
                    return
                assert time.time() < deadline, "%d, not %d:\n%s" % (got, want, agent.logs())
                time.sleep(0.3)

        # A ServiceAccount of its own, bound like the scraper: deleted, its token stops.
        cp.service_account(NS, "short-lived")
        cp.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "short-lived-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "t-ctrlscope-metrics-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "short-lived", "namespace": NS}]})
        short = cp.token(NS, "short-lived")
        assert code(short) == 200
        cp.must("DELETE", "/api/v1/namespaces/%s/serviceaccounts/short-lived" % NS)
        # The API server caches a token's success for 10 s itself, then ours (1 s).
        becomes(short, 401, timeout=25)

        # The scraper's binding deleted: 403 once the decision's cache entry expires.
        scraper = cp.token(NS, "t-ctrlscope-scraper")
        assert code(scraper) == 200
        cp.must("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/"
                "t-ctrlscope-metrics-reader")
        becomes(scraper, 403)

        # The agent may no longer ask: 503, said once in the log, and it serves on.
        role = [o for o in objects if o["kind"] == "ClusterRole"
                and o["metadata"]["name"] == "t-ctrlscope"][0]
        role["rules"] = [r for r in role["rules"]
                         if "subjectaccessreviews" not in r.get("resources", [])]
        current = cp.must("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/t-ctrlscope")
        current["rules"] = role["rules"]
        cp.must("PUT", "/apis/rbac.authorization.k8s.io/v1/clusterroles/t-ctrlscope", current)
        cp.service_account(NS, "late")
        late = cp.token(NS, "late")
        becomes(late, 503)
        assert agent.get("/healthz")[0] == 200
        assert "refused this agent's create subjectaccessreviews (403): its ClusterRole lacks " \
               "that permission" in agent.logs(), agent.logs()


def test_the_pod_watch_survives_an_api_server_restart():
    """kube-apiserver and etcd stopped and started again (their data kept): the agent's
    watch comes back by itself, a pod created afterwards is selected and measured exactly,
    and the pod measured before keeps its one series."""
    from harness import key
    from test_kube_targets import layout
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        apply(cp, helm_objects("serviceaccount.yaml", "rbac.yaml"))
        cp.service_account("cert-manager", "default")
        token = cp.token(NS, "t-ctrlscope")
        config = ("targets:\n  - name: controllers\n    kubernetes:\n"
                  "      namespaces: [cert-manager]\n      pod_selector: \"app=ctl\"\n")
        agent = s.agent(config, args=["--kubeconfig=" + cp.kubeconfig(token=token)],
                        env={"NODE_NAME": "node-1"})
        uid, cid = make_pod(cp, "first", "node-1", {"app": "ctl"})
        first = s.cgroup(layout("systemd-containerd", uid, cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        f = s.fixture(["--getppid", "5"], first)
        f.go()
        f.wait_done()
        cp.stop()
        cp.start()
        uid2, cid2 = make_pod(cp, "second", "node-1", {"app": "ctl"})
        second = s.cgroup(layout("systemd-containerd", uid2, cid2))
        agent.wait_for("ctrlscope_target_cgroups", 2, timeout=60, target="controllers")
        f = s.fixture(["--getppid", "9"], second)
        f.go()
        f.wait_done()
        m = agent.metrics()
        got = {p: m.get(key("ctrlscope_syscalls_total", syscall="getppid", target="controllers",
                            namespace="cert-manager", pod=p, container="manager", workload=""))
               for p in ("first", "second")}
        assert got == {"first": 5, "second": 9}, got


def resign(cp, token, **claims):
    """token (a bound service-account token of cp) with claims changed, signed again with
    cp's service-account key: what the API server would have issued with those claims."""
    import base64
    import json

    def b64d(part):
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    def b64e(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header, payload, _ = token.split(".")
    body = json.loads(b64d(payload))
    body.update(claims)
    signing_input = header + "." + b64e(json.dumps(body, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", cp.sa_key],
                         input=signing_input.encode(), capture_output=True, check=True,
                         timeout=30).stdout
    return signing_input + "." + b64e(sig)


def test_an_expired_bound_token_is_refused():
    """The shortest token TokenRequest gives lives 10 minutes: the test signs its own with
    the control plane's service-account key. Its twin, the same claims valid for an hour,
    scrapes (so the signing is right); expired an hour ago, it gets 401."""
    import time
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        apply(cp, helm_objects("serviceaccount.yaml", "rbac.yaml"))
        server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
        web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
               "authentication:\n  kubernetes: {}\nauthorization:\n  kubernetes: {}\n"
               % (server[0], server[1]))
        agent = s.agent(TARGETS, web_config=web, ca=ca[0], args=[
            "--kubeconfig=" + cp.kubeconfig(token=cp.token(NS, "t-ctrlscope"))])
        real = cp.token(NS, "t-ctrlscope-scraper")
        now = int(time.time())
        valid = resign(cp, real, iat=now - 60, nbf=now - 60, exp=now + 3600)
        expired = resign(cp, real, iat=now - 7200, nbf=now - 7200, exp=now - 3600)

        def code(token):
            return agent.get("/metrics", headers={"Authorization": "Bearer " + token})[0]

        assert code(valid) == 200
        assert code(expired) == 401


def test_every_ci_scenario_of_the_chart_passes_the_real_api_servers_validation():
    """Every object of every helm/ctrlscope/ci scenario, created with server-side dry run on
    the real API server (its schemas, defaulting and admission), with the real CRDs of
    cert-manager and the Prometheus operator installed first."""
    import glob
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        crds = os.path.join(os.environ.get("CTRLSCOPE_BUILD", "build"), "tools", "crds")
        for path in sorted(glob.glob(os.path.join(crds, "*.yaml"))):
            with open(path) as f:
                for crd in yaml.safe_load_all(f):
                    if crd:
                        cp.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  crd)
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        resources = discover(cp)
        failures, n = [], 0
        for scenario in sorted(glob.glob(os.path.join(ROOT, "helm", "ctrlscope", "ci",
                                                      "*-values.yaml"))):
            helm = os.path.join(os.environ.get("CTRLSCOPE_BUILD", "build"), "tools", "bin",
                                "helm")
            out = subprocess.run([helm, "template", "t", os.path.join(ROOT, "helm", "ctrlscope"),
                                  "--namespace", NS, "--kube-version", "1.37.0",
                                  "-f", scenario], check=True, capture_output=True, text=True,
                                 timeout=60).stdout
            for obj in (d for d in yaml.safe_load_all(out) if d):
                group_version, kind = obj["apiVersion"], obj["kind"]
                plural, namespaced = resources[(group_version, kind)]
                base = "/api/v1" if group_version == "v1" else "/apis/" + group_version
                ns = obj["metadata"].get("namespace", NS)
                path = "%s/%s%s?dryRun=All&fieldValidation=Strict" % (
                    base, "namespaces/%s/" % ns if namespaced else "", plural)
                status, body = cp.request("POST", path, obj)
                n += 1
                if status not in (200, 201):
                    failures.append("%s: %s %s: %d %s" % (
                        os.path.basename(scenario), kind, obj["metadata"]["name"], status,
                        body.get("message") if isinstance(body, dict) else body))
        assert not failures, "\n".join(failures)
        print("%d objects of every scenario accepted" % n)


def discover(cp, timeout=30):
    """(apiVersion, kind) -> (plural, namespaced), from the API server's discovery; waits
    for the CRDs just created to be served."""
    import time
    deadline = time.time() + timeout
    while True:
        out = {}
        groups = [("v1", "/api/v1")]
        for g in cp.must("GET", "/apis")["groups"]:
            for v in g["versions"]:
                groups.append((v["groupVersion"], "/apis/" + v["groupVersion"]))
        for gv, path in groups:
            for r in cp.must("GET", path)["resources"]:
                if "/" not in r["name"]:
                    out[(gv, r["kind"])] = (r["name"], r["namespaced"])
        if ("monitoring.coreos.com/v1", "ServiceMonitor") in out and \
                ("cert-manager.io/v1", "Certificate") in out or time.time() > deadline:
            return out
        time.sleep(0.5)


def etcd_compact(cp):
    """Compact etcd's history up to now (its JSON gateway): every older revision is gone."""
    import base64
    import json
    import urllib.request
    url = "http://127.0.0.1:%d/v3/kv/" % cp.etcd_port

    def call(what, body):
        req = urllib.request.Request(url + what, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    rev = int(call("range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])
    call("compaction", {"revision": rev, "physical": True})
    return rev


def test_a_compacted_history_makes_the_watch_relist_without_loss():
    """The agent's watch resumes after an API-server restart from its last resourceVersion;
    with etcd's history compacted past it, the server answers 410 Gone: the agent lists
    again (counted), and a pod created meanwhile is measured exactly."""
    from harness import key
    from test_kube_targets import layout
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        cp.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NS}})
        apply(cp, helm_objects("serviceaccount.yaml", "rbac.yaml"))
        cp.service_account("cert-manager", "default")
        token = cp.token(NS, "t-ctrlscope")
        config = ("targets:\n  - name: controllers\n    kubernetes:\n"
                  "      namespaces: [cert-manager]\n      pod_selector: \"app=ctl\"\n")
        agent = s.agent(config, args=["--kubeconfig=" + cp.kubeconfig(token=token)],
                        env={"NODE_NAME": "node-1"})
        uid, cid = make_pod(cp, "first", "node-1", {"app": "ctl"})
        s.cgroup(layout("systemd-containerd", uid, cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        relists = agent.metrics()[key("ctrlscope_kube_pods_relists_total")]
        cp.stop()
        # History the agent has not seen, then compacted away (etcd alone).
        cp.start()
        uid2, cid2 = make_pod(cp, "second", "node-1", {"app": "ctl"})
        for i in range(5):
            cp.must("POST", "/api/v1/namespaces/%s/configmaps" % NS, {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "churn-%d" % i}})
        etcd_compact(cp)
        cp.stop()
        cp.start()
        second = s.cgroup(layout("systemd-containerd", uid2, cid2))
        agent.wait_for("ctrlscope_target_cgroups", 2, timeout=90, target="controllers")
        m = agent.metrics()
        assert m[key("ctrlscope_kube_pods_relists_total")] > relists, m.get(
            key("ctrlscope_kube_pods_relists_total"))
        f = s.fixture(["--getppid", "7"], second)
        f.go()
        f.wait_done()
        m = agent.metrics()
        assert m.get(key("ctrlscope_syscalls_total", syscall="getppid", target="controllers",
                         namespace="cert-manager", pod="second", container="manager",
                         workload="")) == 7
