"""Kubernetes authentication and authorization end to end: the agent, the fake API server
(tests/fixtures/fakeapi, real k8s.io/api types) and Debian's real Prometheus, all on
loopback."""

import os
import subprocess
import time

from harness import BUILD, PKI, Scene

TARGETS = "targets:\n  - name: nobody\n    process:\n      comm: [no-such-process]\n"

API_CONFIG = {
    "callers": {"tokens": ["agent-token", "rotated-agent-token"], "commonNames": []},
    "tokens": [
        {"token": "prom-token", "user": {"username": "prometheus", "uid": "uid-1",
                                         "groups": ["system:monitoring"]}},
        {"token": "prom2-token", "user": {"username": "prometheus", "uid": "uid-1"}},
        {"token": "aud-token", "user": {"username": "prometheus"}, "audiences": ["ctrlscope"]},
        {"token": "other-aud-token", "user": {"username": "prometheus"}, "audiences": ["vault"]},
        {"token": "nobody-token", "user": {"username": "nobody", "uid": "uid-9"}},
    ],
    "rules": [{"users": ["prometheus"], "groups": [], "nonResourceURLs": ["/metrics"],
               "verbs": ["get"]}],
}


def setup(scene, web_extra="", authn="  kubernetes: {}\n", authz="  kubernetes: {}\n"):
    pki = PKI()
    ca = pki.ca("ca")
    server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
    api = scene.fakeapi(pki, ca, API_CONFIG)
    web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
           "authentication:\n%sauthorization:\n%s%s" % (server[0], server[1], authn, authz, web_extra))
    agent = scene.agent(TARGETS, web_config=web, ca=ca[0], args=["--kubeconfig=" + api.kubeconfig()])
    return pki, ca, api, agent


def bearer(token):
    return {"Authorization": "Bearer " + token}


def code(agent, token=None, path="/metrics"):
    return agent.get(path, headers=bearer(token) if token else None)[0]


def test_token_and_access_reviews_and_their_cache():
    with Scene() as s:
        _, _, api, agent = setup(s)
        assert code(agent) == 401
        assert code(agent, "unknown-token") == 401
        assert code(agent, "nobody-token") == 403
        assert code(agent, "prom-token") == 200
        assert code(agent, path="/healthz") == 200
        # Requests the agent made carry its own token, and nothing else got through.
        requests = api.counters()["requests"]
        assert {r["caller"] for r in requests} == {"agent-token"}, requests
        api.reset()
        for _ in range(100):
            assert code(agent, "prom2-token") == 200
        c = api.counters()
        assert (c["tokenreviews"], c["subjectaccessreviews"]) == (1, 1), c
        m = agent.metrics(headers=bearer("prom-token"))
        assert m[("ctrlscope_authentication_total", (("result", "success"), ("source", "cache")))] >= 99
        assert m[("ctrlscope_authorization_total", (("result", "allowed"), ("source", "cache")))] >= 99
        assert m[("ctrlscope_kube_requests_total",
                  (("code", "201"), ("resource", "tokenreviews"), ("verb", "create")))] >= 4


def test_audiences():
    with Scene() as s:
        _, _, _, agent = setup(s, authn="  kubernetes:\n    audiences: [ctrlscope]\n")
        assert code(agent, "aud-token") == 200
        assert code(agent, "other-aud-token") == 401


def test_outage_grace_and_unreachable_api_server():
    with Scene() as s:
        _, _, api, agent = setup(
            s, web_extra="  outage_grace: 1m\n",
            authn="  kubernetes:\n    cache_ttl: 1s\n",
            authz="  kubernetes:\n    allowed_ttl: 1s\n    denied_ttl: 1s\n")
        assert code(agent, "prom-token") == 200
        api.stop()
        time.sleep(1.5)  # both cache entries are past their TTL
        assert code(agent, "prom-token") == 200  # honoured within outage_grace
        assert code(agent, "prom2-token") == 503  # never seen: no decision possible
        assert code(agent, path="/healthz") == 200
        api.start()
        assert code(agent, "prom2-token") == 200  # connection refused trips no breaker
        m = agent.metrics(headers=bearer("prom-token"))
        assert m[("ctrlscope_authentication_total", (("result", "unavailable"), ("source", "cache")))] == 1


def test_hung_api_server_costs_one_timeout():
    with Scene() as s:
        _, _, api, agent = setup(s, authn="  kubernetes:\n    timeout: 1s\n")
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
    the stop: SIGTERM ends the agent within 2 s, and the scrape in flight gets its answer."""
    import threading
    with Scene() as s:
        _, _, api, agent = setup(s, authn="  kubernetes:\n    timeout: 30s\n")
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


def test_real_prometheus_scrapes_over_https_with_a_token():
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        server = pki.cert("server", ca, "ctrlscope", sans=("DNS:ctrlscope.test", "IP:127.0.0.1"),
                           usage="serverAuth")
        api = s.fakeapi(pki, ca, API_CONFIG)
        web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
               "authentication:\n  kubernetes: {}\nauthorization:\n  kubernetes: {}\n"
               % (server[0], server[1]))
        agent = s.agent("targets:\n  - name: demo\n    process:\n      comm: [demo-workload]\n",
                        web_config=web, ca=ca[0], args=["--kubeconfig=" + api.kubeconfig()],
                        scrape_headers=bearer("prom-token"))
        workload = subprocess.Popen([os.path.join(BUILD, "demo-workload")])
        prom = s.prometheus(agent.port, "prom-token", ca[0], "ctrlscope.test")
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
        _, _, _, agent = setup(s)
        assert code(agent, "prom-token") == 200
        text = agent.scrape(headers=bearer("prom-token"))
    families = [line.split()[2] for line in text.split("\n") if line.startswith("# TYPE ")]
    for f in ("ctrlscope_authentication_total", "ctrlscope_kube_requests_total",
              "ctrlscope_tls_certificate_expiry_timestamp_seconds"):
        assert f in families, f
    missing = [f for f in families if "`%s`" % f not in readme]
    assert not missing, "README lacks %s" % missing


def test_agent_token_file_is_reread_when_rotated():
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
        api = s.fakeapi(pki, ca, API_CONFIG)
        token_file = pki.path("agent.token")
        with open(token_file, "w") as f:
            f.write("agent-token\n")
        web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
               "authentication:\n  kubernetes: {}\n" % (server[0], server[1]))
        agent = s.agent(TARGETS, web_config=web, ca=ca[0],
                        args=["--kubeconfig=" + api.kubeconfig(token_file=token_file)])
        assert code(agent, "prom-token") == 200
        # A rotated projected token: written beside, then renamed over, as the kubelet does.
        with open(token_file + ".new", "w") as f:
            f.write("rotated-agent-token\n")
        os.rename(token_file + ".new", token_file)
        assert code(agent, "prom2-token") == 200
        callers = [r["caller"] for r in api.counters()["requests"]]
        assert callers == ["agent-token", "rotated-agent-token"], callers
