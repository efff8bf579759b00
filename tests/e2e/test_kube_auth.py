"""Kubernetes authentication and authorization end to end, against a real kube-apiserver
and etcd (the harness's ControlPlane): real bound service-account tokens (TokenRequest), the
chart's own RBAC rendered by helm template and applied (its agent ServiceAccount reviews,
its metrics-reader ClusterRole decides who may scrape), the API server's audit log counting
what the agent asked and as whom, and Debian's real Prometheus; all on loopback. Only the
faults a real API server cannot be made to produce (a hung server) use tests/fixtures/fakeapi."""

import os
import subprocess
import threading
import time

from harness import BUILD, PKI, Scene

TARGETS = "targets:\n  - name: nobody\n    process:\n      comm: [no-such-process]\n"
NS = "monitoring"  # the chart's release namespace (ControlPlane.CHART_NS)
AGENT = "system:serviceaccount:%s:t-ctrlscope" % NS
SCRAPER = "t-ctrlscope-scraper"  # the chart's scraper ServiceAccount, bound to metrics-reader


def web_config(server, authn="  kubernetes: {}\n", authz="  kubernetes: {}\n", extra=""):
    return ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
            "authentication:\n%sauthorization:\n%s%s" % (server[0], server[1], authn, authz, extra))


def setup(scene, users=(), values=(), token_file=None, **web):
    """A control plane with the chart's RBAC (--set values), a ServiceAccount "stranger"
    bound to nothing, and an agent reviewing with the chart's agent ServiceAccount."""
    pki = PKI()
    ca = pki.ca("ca")
    cp = scene.control_plane(pki, ca, users=users)
    cp.install_chart_rbac(values=values)
    cp.service_account(NS, "stranger")
    server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
    agent = scene.agent(TARGETS, web_config=web_config(server, **web), ca=ca[0],
                        args=["--kubeconfig=" + cp.agent_kubeconfig(token_file=token_file)])
    return cp, agent


def bearer(token):
    return {"Authorization": "Bearer " + token}


def code(agent, token=None, path="/metrics"):
    return agent.get(path, headers=bearer(token) if token else None)[0]


def reviews(cp, since, resource):
    """The agent's creates of resource (tokenreviews, subjectaccessreviews) since the mark."""
    return cp.audit(since=since, resource=resource, verb="create")


def test_real_tokens_and_the_charts_rbac_decide_who_scrapes():
    """The chart's scraper ServiceAccount, bound to its metrics-reader ClusterRole, gets 200;
    one without the binding 403; a token for another audience and a garbled one 401; a
    group bound to the role lets its member in, and only it."""
    with Scene() as s:
        cp, agent = setup(s, users=[("dash-token", "dasher", "uid-d", ["dashboards"]),
                                    ("nobody-token", "nobody", "uid-n", [])],
                          values=["metricsReader.subjects[0].kind=Group",
                                  "metricsReader.subjects[0].name=dashboards",
                                  "metricsReader.subjects[0].apiGroup=rbac.authorization.k8s.io"])
        assert code(agent) == 401
        assert code(agent, cp.token(NS, SCRAPER)) == 200
        assert code(agent, cp.token(NS, "stranger")) == 403
        assert code(agent, cp.token(NS, SCRAPER, audiences=["vault"])) == 401
        assert code(agent, "not-a-token") == 401
        assert code(agent, "dash-token") == 200
        assert code(agent, "nobody-token") == 403
        assert code(agent, path="/healthz") == 200
        print("control plane ready in %.1fs" % cp.ready_seconds)


def test_reviews_carry_the_agents_token_and_are_cached():
    """Every review the agent makes is made as the chart's agent ServiceAccount (the audit
    log's user). A hundred scrapes with a second token of the same ServiceAccount cost one
    TokenReview, and no SubjectAccessReview: the decision is the user's, cached."""
    with Scene() as s:
        cp, agent = setup(s)
        first, second = cp.token(NS, SCRAPER), cp.token(NS, SCRAPER)
        assert code(agent, first) == 200
        assert code(agent, cp.token(NS, "stranger")) == 403
        made = reviews(cp, 0, "tokenreviews") + reviews(cp, 0, "subjectaccessreviews")
        assert len(made) == 4, [e["requestURI"] for e in made]
        assert {e["user"]["username"] for e in made} == {AGENT}, made
        mark = cp.audit_mark()
        for _ in range(100):
            assert code(agent, second) == 200
        time.sleep(0.5)  # the audit log is written as the responses go out
        got = (len(reviews(cp, mark, "tokenreviews")), len(reviews(cp, mark, "subjectaccessreviews")))
        assert got == (1, 0), got  # a new token, the same user: its decision is cached
        m = agent.metrics(headers=bearer(first))
        assert m[("ctrlscope_authentication_total", (("result", "success"), ("source", "cache")))] >= 99
        assert m[("ctrlscope_authorization_total", (("result", "allowed"), ("source", "cache")))] >= 99
        assert m[("ctrlscope_kube_requests_total",
                  (("code", "201"), ("resource", "tokenreviews"), ("verb", "create")))] == 3


def test_audiences():
    """With audiences [ctrlscope], a token bound to that audience scrapes; one bound to
    another audience, or to the API server's own, does not."""
    with Scene() as s:
        cp, agent = setup(s, authn="  kubernetes:\n    audiences: [ctrlscope]\n")
        assert code(agent, cp.token(NS, SCRAPER, audiences=["ctrlscope"])) == 200
        assert code(agent, cp.token(NS, SCRAPER, audiences=["vault"])) == 401
        assert code(agent, cp.token(NS, SCRAPER)) == 401


def test_outage_grace_and_unreachable_api_server():
    """kube-apiserver and etcd stopped: a scraper decided before is honoured within
    outage_grace, one never seen gets 503 (no decision possible), health stays 200; started
    again, the new scraper gets in at once."""
    with Scene() as s:
        cp, agent = setup(s, extra="  outage_grace: 1m\n",
                          authn="  kubernetes:\n    cache_ttl: 1s\n",
                          authz="  kubernetes:\n    allowed_ttl: 1s\n    denied_ttl: 1s\n")
        known, late = cp.token(NS, SCRAPER), cp.token(NS, SCRAPER)
        assert code(agent, known) == 200
        cp.stop()
        time.sleep(1.5)  # both cache entries are past their TTL
        assert code(agent, known) == 200  # honoured within outage_grace
        assert code(agent, late) == 503  # never seen: no decision possible
        assert code(agent, path="/healthz") == 200
        cp.start()
        assert code(agent, late) == 200  # connection refused trips no breaker
        m = agent.metrics(headers=bearer(known))
        assert m[("ctrlscope_authentication_total", (("result", "unavailable"), ("source", "cache")))] == 1


def test_revocations_on_the_real_api_server_take_effect_after_the_cache():
    """What the API server revokes stops working once the agent's cache entry expires:
    a deleted ServiceAccount's token -> 401; a deleted metrics-reader binding -> 403; the
    agent's own ClusterRole without create on subjectaccessreviews -> 503 for a scraper it
    has not decided on before (decided ones are honoured for outage_grace), a log line that
    says what is missing, and the agent running on."""
    with Scene() as s:
        cp, agent = setup(s, authn="  kubernetes:\n    cache_ttl: 1s\n",
                          authz="  kubernetes:\n    allowed_ttl: 1s\n    denied_ttl: 1s\n")

        def becomes(token, want, timeout=10):
            deadline = time.time() + timeout
            while True:
                got = code(agent, token)
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
        assert code(agent, short) == 200
        cp.must("DELETE", "/api/v1/namespaces/%s/serviceaccounts/short-lived" % NS)
        # The API server caches a token's success for 10 s itself, then ours (1 s).
        becomes(short, 401, timeout=25)

        # The scraper's binding deleted: 403 once the decision's cache entry expires.
        scraper = cp.token(NS, SCRAPER)
        assert code(agent, scraper) == 200
        cp.must("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/"
                "t-ctrlscope-metrics-reader")
        becomes(scraper, 403)

        # The agent may no longer ask: 503, said once in the log, and it serves on.
        current = cp.must("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/t-ctrlscope")
        current["rules"] = [r for r in current["rules"]
                            if "subjectaccessreviews" not in r.get("resources", [])]
        cp.must("PUT", "/apis/rbac.authorization.k8s.io/v1/clusterroles/t-ctrlscope", current)
        cp.service_account(NS, "late")
        late = cp.token(NS, "late")
        becomes(late, 503)
        assert agent.get("/healthz")[0] == 200
        assert "refused this agent's create subjectaccessreviews (403): its ClusterRole lacks " \
               "that permission" in agent.logs(), agent.logs()


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
    with Scene() as s:
        cp, agent = setup(s)
        real = cp.token(NS, SCRAPER)
        now = int(time.time())
        valid = resign(cp, real, iat=now - 60, nbf=now - 60, exp=now + 3600)
        expired = resign(cp, real, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
        assert code(agent, valid) == 200
        assert code(agent, expired) == 401


def test_hung_api_server_costs_one_timeout():
    """A real API server cannot be made to hang: this one uses tests/fixtures/fakeapi."""
    with Scene() as s:
        api, agent = setup_fake(s, authn="  kubernetes:\n    timeout: 1s\n")
        api.fault(mode="hang", delayMs=5000, count=0)
        start = time.time()
        assert code(agent, "prom-token") == 503
        first = time.time() - start
        start = time.time()
        assert code(agent, "prom2-token") == 503
        second = time.time() - start
        assert 0.9 < first < 3, first
        assert second < 0.5, "the breaker did not spare a second timeout: %.2fs" % second
        api.fault(mode="none")


def test_sigterm_stops_within_2s_while_the_api_server_hangs():
    """A review hung on the API server (its timeout 30 s) holds neither the scrape thread nor
    the stop: SIGTERM ends the agent within 2 s, and the scrape in flight gets its answer.
    A real API server cannot be made to hang: this one uses tests/fixtures/fakeapi."""
    with Scene() as s:
        api, agent = setup_fake(s, authn="  kubernetes:\n    timeout: 30s\n")
        api.fault(mode="hang", delayMs=60000, count=0)
        got = []
        t = threading.Thread(target=lambda: got.append(code(agent, "prom-token")))
        t.start()
        time.sleep(1.0)  # the review is in flight
        start = time.time()
        assert agent.stop() == 0
        took = time.time() - start
        t.join(5)
        assert took < 2.0, "SIGTERM took %.2fs" % took
        assert got == [503], got
        api.fault(mode="none")


FAKE_CONFIG = {
    "callers": {"tokens": ["agent-token"], "commonNames": []},
    "tokens": [
        {"token": "prom-token", "user": {"username": "prometheus", "uid": "uid-1"}},
        {"token": "prom2-token", "user": {"username": "prometheus", "uid": "uid-1"}},
    ],
    "rules": [{"users": ["prometheus"], "groups": [], "nonResourceURLs": ["/metrics"],
               "verbs": ["get"]}],
}


def setup_fake(scene, **web):
    pki = PKI()
    ca = pki.ca("ca")
    server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
    api = scene.fakeapi(pki, ca, FAKE_CONFIG)
    agent = scene.agent(TARGETS, web_config=web_config(server, **web), ca=ca[0],
                        args=["--kubeconfig=" + api.kubeconfig()])
    return api, agent


def test_real_prometheus_scrapes_over_https_with_a_token():
    """Debian's Prometheus scrapes with the chart's scraper ServiceAccount's bound token."""
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        cp.install_chart_rbac()
        token = cp.token(NS, SCRAPER)
        server = pki.cert("server", ca, "ctrlscope", sans=("DNS:ctrlscope.test", "IP:127.0.0.1"),
                           usage="serverAuth")
        agent = s.agent("targets:\n  - name: demo\n    process:\n      comm: [demo-workload]\n",
                        web_config=web_config(server), ca=ca[0],
                        args=["--kubeconfig=" + cp.agent_kubeconfig()],
                        scrape_headers=bearer(token))
        workload = subprocess.Popen([os.path.join(BUILD, "demo-workload")])
        prom = s.prometheus(agent.port, token, ca[0], "ctrlscope.test")
        try:
            deadline = time.time() + 60
            up = series = None
            while time.time() < deadline:
                try:
                    up = prom.query('up{job="ctrlscope"}')
                    series = prom.query('ctrlscope_syscalls_total{target="demo"}')
                except OSError:
                    pass
                if up and up[0]["value"][1] == "1" and series:
                    break
                time.sleep(0.5)
            assert up and up[0]["value"][1] == "1", "up is %r" % up
            assert series, "no syscall series in Prometheus"
            assert {r["metric"]["comm"] for r in series} == {"demo-workload"}
        finally:
            workload.terminate()
            workload.wait(5)


def test_readme_documents_the_security_metrics():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    with Scene() as s:
        cp, agent = setup(s)
        token = cp.token(NS, SCRAPER)
        assert code(agent, token) == 200
        text = agent.scrape(headers=bearer(token))
    families = [line.split()[2] for line in text.split("\n") if line.startswith("# TYPE ")]
    for f in ("ctrlscope_authentication_total", "ctrlscope_kube_requests_total",
              "ctrlscope_tls_certificate_expiry_timestamp_seconds"):
        assert f in families, f
    missing = [f for f in families if "`%s`" % f not in readme]
    assert not missing, "README lacks %s" % missing


def test_agent_token_file_is_reread_when_rotated():
    """The agent's projected token rotated (written beside, then renamed over, as the
    kubelet does): its next review carries the new token (the audit log's credential id)."""
    with Scene() as s:
        pki = PKI()
        token_file = pki.path("agent.token")
        cp = s.control_plane(pki, pki.ca("ca"))
        cp.install_chart_rbac()
        with open(token_file, "w") as f:
            f.write(cp.token(NS, "t-ctrlscope") + "\n")
        server = pki.cert("server", cp.ca, "ctrlscope", usage="serverAuth")
        agent = s.agent(TARGETS, web_config=web_config(server, authz="  kubernetes: {}\n"),
                        ca=cp.ca[0], args=["--kubeconfig=" + cp.kubeconfig(token_file=token_file)])
        assert code(agent, cp.token(NS, SCRAPER)) == 200
        with open(token_file + ".new", "w") as f:
            f.write(cp.token(NS, "t-ctrlscope") + "\n")
        os.rename(token_file + ".new", token_file)
        assert code(agent, cp.token(NS, SCRAPER)) == 200
        time.sleep(0.5)
        ids = [e["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
               for e in reviews(cp, 0, "tokenreviews")]
        assert len(ids) == 2 and ids[0] != ids[1], ids
