"""The HTTPS endpoint without the API server: TLS versions, certificate reload, static
tokens, client certificates, basic auth, malformed credentials, stalled clients and rate
limits. Every request goes to loopback."""

import base64
import os
import shutil
import socket
import ssl
import time

from harness import PKI, Scene, bcrypt_hash, free_port, https_get, key

TARGETS = "targets:\n  - name: nobody\n    process:\n      comm: [no-such-process]\n"


def serving_pki():
    pki = PKI()
    ca = pki.ca("ca")
    server = pki.cert("server", ca, "ctrlscope", sans=("IP:127.0.0.1", "DNS:localhost"),
                      usage="serverAuth")
    return pki, ca, server


def tls_section(server, extra=""):
    return ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n%s" % (server[0], server[1], extra))


def token_web(pki, server):
    """A web config with TLS and one static token, prom-secret."""
    tokens = pki.path("tokens.csv")
    with open(tokens, "w") as f:
        f.write("prom-secret,prometheus,uid-1\n")
    return tls_section(server) + "authentication:\n  static_tokens_file: %s\n" % tokens


def code(agent, path="/metrics", headers=None, cert=None):
    return agent.get(path, headers=headers, cert=cert)[0]


def test_static_tokens_and_open_health_paths():
    pki, ca, server = serving_pki()
    tokens = pki.path("tokens.csv")
    with open(tokens, "w") as f:
        f.write('prom-secret,prometheus,uid-1,"system:monitoring"\nother-secret,mallory,uid-2\n')
    web = tls_section(server) + (
        "authentication:\n  static_tokens_file: %s\n"
        "authorization:\n  static:\n    - {group: \"system:monitoring\", paths: [/metrics]}\n" % tokens)
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        status, headers, _ = agent.get("/metrics")
        assert status == 401, status
        assert headers.get("WWW-Authenticate") == 'Bearer realm="ctrlscope"', headers
        assert code(agent, headers={"Authorization": "Bearer unknown"}) == 401
        assert code(agent, headers={"Authorization": "Bearer other-secret"}) == 403
        assert code(agent, headers={"Authorization": "Bearer prom-secret"}) == 200
        assert code(agent, headers={"Authorization": "bearer prom-secret"}) == 200  # scheme case
        assert code(agent, path="/healthz") == 200
        assert code(agent, path="/readyz") == 200
        assert code(agent, path="/") == 401  # only the health paths are open
        # The file is re-read when it changes: the old token stops, the new one works.
        time.sleep(1.1)
        with open(tokens + ".new", "w") as f:
            f.write('rotated-secret,prometheus,uid-1,"system:monitoring"\n')
        os.rename(tokens + ".new", tokens)
        deadline = time.time() + 5
        while code(agent, headers={"Authorization": "Bearer rotated-secret"}) != 200:
            assert time.time() < deadline, "new token not accepted"
            time.sleep(0.2)
        assert code(agent, headers={"Authorization": "Bearer prom-secret"}) == 401
        m = agent.metrics(headers={"Authorization": "Bearer rotated-secret"})
        assert m[("ctrlscope_authentication_total", (("result", "failure"), ("source", "token_file")))] >= 2
        assert m[("ctrlscope_authorization_total", (("result", "denied"), ("source", "default")))] == 1


def test_malformed_credentials_get_4xx_and_agent_survives():
    pki, ca, server = serving_pki()
    web = tls_section(server) + "basic_auth_users:\n  alice: \"%s\"\n" % bcrypt_hash("wonderland")
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        good = "Basic " + base64.b64encode(b"alice:wonderland").decode()
        assert code(agent, headers={"Authorization": good}) == 200
        for bad in ["Bearer", "Bearer ", "Basic", "Basic !!!!", "Basic " + base64.b64encode(b"nocolon").decode(),
                    "Basic " + base64.b64encode(b"alice:wrong").decode(),
                    "Basic " + base64.b64encode(b"mallory:wonderland").decode(),
                    "Negotiate abc", "Bearer a b"]:
            status, headers, _ = agent.get("/metrics", headers={"Authorization": bad})
            assert status == 401, (bad, status)
            assert 'Basic realm="ctrlscope", charset="UTF-8"' in str(headers), headers
        # An oversized header is refused with a 4xx, not a crash.
        status = code(agent, headers={"X-Filler": "x" * 64 * 1024})
        assert 400 <= status < 500, status
        assert code(agent, path="/healthz") == 200
        assert agent.proc.poll() is None


def test_client_certificates_good_and_wrong_ca():
    pki, ca, server = serving_pki()
    good = pki.cert("prom", ca, "prometheus", orgs=("system:monitoring",), sans=(), usage="clientAuth")
    other_ca = pki.ca("other-ca")
    wrong = pki.cert("evil", other_ca, "prometheus", orgs=("system:monitoring",), sans=(),
                     usage="clientAuth")
    web = tls_section(server, "  client_ca_file: %s\n  client_auth_type: VerifyClientCertIfGiven\n" % ca[0]) + (
        "authentication:\n  client_certificates: true\n"
        "authorization:\n  static:\n    - {group: \"system:monitoring\", paths: [/metrics]}\n")
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        assert code(agent, cert=good) == 200
        assert code(agent, cert=wrong) == 401
        assert code(agent) == 401
        m = agent.metrics(cert=good)
        assert m[("ctrlscope_authentication_total", (("result", "success"), ("source", "tls")))] >= 2


def test_tls_1_1_refused_and_certificate_reloaded():
    pki, ca, server = serving_pki()
    live_crt, live_key = pki.path("live.crt"), pki.path("live.key")
    shutil.copy(server[0], live_crt)
    shutil.copy(server[1], live_key)
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=tls_section((live_crt, live_key)), ca=ca[0])
        # TLS 1.1 only: refused by the server (the same client with TLS 1.2 succeeds).
        ctx = ssl.create_default_context(cafile=ca[0])
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            https_get(agent.url + "/healthz", context=ctx)
            raise AssertionError("TLS 1.1 was accepted")
        except (ssl.SSLError, OSError) as e:
            assert "NO_PROTOCOLS_AVAILABLE" not in str(e), "client could not offer TLS 1.1: %s" % e
        ctx12 = ssl.create_default_context(cafile=ca[0])
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        assert https_get(agent.url + "/healthz", context=ctx12)[0] == 200

        def serial():
            der = ssl.get_server_certificate(("127.0.0.1", agent.port))
            return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(der))
        before = serial()
        fresh = pki.cert("fresh", ca, "ctrlscope-renewed", usage="serverAuth")
        time.sleep(1.1)  # the files are checked at most once a second
        shutil.copy(fresh[1], live_key + ".tmp")
        shutil.copy(fresh[0], live_crt + ".tmp")
        os.rename(live_key + ".tmp", live_key)
        os.rename(live_crt + ".tmp", live_crt)
        deadline = time.time() + 5
        while serial() == before:
            assert time.time() < deadline, "new certificate not served"
            time.sleep(0.2)
        with open(fresh[0]) as f:
            assert serial().strip() == f.read().strip()
        m = agent.metrics()
        assert m[("ctrlscope_tls_certificate_reloads_total", (("result", "success"),))] == 1
        # A broken pair keeps the current certificate and is counted.
        time.sleep(1.1)
        with open(live_crt, "w") as f:
            f.write("not a certificate\n")
        deadline = time.time() + 5
        while agent.metrics()[("ctrlscope_tls_certificate_reloads_total", (("result", "failure"),))] < 1:
            assert time.time() < deadline, "failed reload not counted"
            serial()
            time.sleep(0.2)
        with open(fresh[0]) as f:
            assert serial().strip() == f.read().strip()


def timed(fn):
    start = time.time()
    result = fn()
    return result, time.time() - start


def test_slowloris_clients_starve_neither_scrapes_nor_probes():
    """2,000 TLS connections from 20 addresses, each sending a header byte every second:
    16 per address are let in, the rest refused at accept; the header deadline closes
    the admitted ones after 10 s however they trickle. Throughout, an authorized scrape and
    both listeners' /healthz answer within 1 s."""
    pki, ca, server = serving_pki()
    web = token_web(pki, server)
    with Scene() as s:
        health_port = free_port()
        agent = s.agent(TARGETS, web_config=web, ca=ca[0],
                        args=["--web.health-address=127.0.0.1:%d" % health_port])
        auth = {"Authorization": "Bearer prom-secret"}
        ctx = ssl.create_default_context(cafile=ca[0])
        held, refused, worst = [], 0, 0.0

        def check():
            nonlocal worst
            (status, _, _), took = timed(lambda: agent.get("/metrics", headers=auth))
            assert status == 200, status
            (status, _, _), took2 = timed(lambda: agent.get("/healthz"))
            assert status == 200, status
            (status, body), took3 = timed(lambda: http_get(health_port, "/healthz"))
            assert (status, body) == (200, b"ok\n"), (status, body)
            worst = max(worst, took, took2, took3)
            assert max(took, took2, took3) < 1.0, (took, took2, took3)

        try:
            for i in range(2000):
                raw = socket.create_connection(("127.0.0.1", agent.port), timeout=5,
                                               source_address=("127.0.1.%d" % (1 + i % 20), 0))
                try:
                    conn = ctx.wrap_socket(raw, server_hostname="localhost")
                    conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                    held.append(conn)
                except (OSError, ssl.SSLError):
                    raw.close()
                    refused += 1
                if i % 200 == 0:
                    check()
            assert (len(held), refused) == (320, 1680), (len(held), refused)
            start = time.time()
            while time.time() - start < 14:
                for c in held:
                    try:
                        c.sendall(b"a")
                    except OSError:
                        pass
                check()
                time.sleep(1)
            # Every admitted connection was closed at its deadline, trickling or not.
            for c in held:
                c.settimeout(2)
                try:
                    assert c.recv(100) == b""
                except (ConnectionResetError, ssl.SSLError):
                    pass
            m = agent.metrics(headers=auth)
            drops = {r: m[key("ctrlscope_http_connections_dropped_total", listener="main",
                              reason=r)] for r in ("address_limit", "header_deadline",
                                                   "connection_limit")}
            assert drops == {"address_limit": 1680, "header_deadline": 320,
                             "connection_limit": 0}, drops
            assert m[key("ctrlscope_http_connections", listener="main")] == 1  # this scrape
            print("worst answer under attack: %.3fs" % worst)
        finally:
            for c in held:
                c.close()


def http_get(port, path):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_scrapes_reuse_one_tls_connection():
    """Keep-alive: 100 scrapes over one HTTPS connection take one TLS handshake."""
    import http.client
    pki, ca, server = serving_pki()
    web = token_web(pki, server)
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        connects = []

        class Counted(http.client.HTTPSConnection):
            def connect(self):
                connects.append(1)
                super().connect()

        conn = Counted("127.0.0.1", agent.port, timeout=5,
                       context=ssl.create_default_context(cafile=ca[0]))
        for _ in range(100):
            conn.request("GET", "/metrics", headers={"Authorization": "Bearer prom-secret"})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and b"ctrlscope_build_info" in body
            assert resp.getheader("Connection", "").lower() != "close"
        conn.close()
        assert len(connects) == 1, len(connects)
        # The agent's own count: the readiness wait's connections and this one.
        auth = {"Authorization": "Bearer prom-secret"}
        before = agent.metrics(headers=auth)  # a new connection: one more full handshake
        hs = [k for k in before if k[0] == "ctrlscope_tls_handshakes_total"]
        assert sorted(hs) == [("ctrlscope_tls_handshakes_total", (("resumed", "false"),)),
                              ("ctrlscope_tls_handshakes_total", (("resumed", "true"),))], hs
        full = before[("ctrlscope_tls_handshakes_total", (("resumed", "false"),))]
        conn = Counted("127.0.0.1", agent.port, timeout=5,
                       context=ssl.create_default_context(cafile=ca[0]))
        for _ in range(100):
            conn.request("GET", "/metrics", headers={"Authorization": "Bearer prom-secret"})
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read()
        conn.close()
        after = agent.metrics(headers=auth)
        # 100 scrapes: one handshake (this client's), and the metrics() scrape's own
        assert after[("ctrlscope_tls_handshakes_total", (("resumed", "false"),))] - full == 2


def voluntary_switches(pid):
    """Voluntary context switches (sleeps) of each thread of pid but its main thread."""
    counts = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) == pid:
            continue  # the main loop: its 1 s tick and the process events it reads
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        counts[tid] = int(line.split()[1])
        except FileNotFoundError:
            pass
    return counts


def test_idle_endpoint_threads_sleep():
    """With no scrape in flight, and a kept-alive connection idle, the endpoint's threads
    (libmicrohttpd's, the header deadline reaper, the authentication worker) block until
    something happens: no polling. The reaper used to wake every 250 ms."""
    import http.client
    pki, ca, server = serving_pki()
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=token_web(pki, server), ca=ca[0])
        conn = http.client.HTTPSConnection("127.0.0.1", agent.port, timeout=5,
                                           context=ssl.create_default_context(cafile=ca[0]))
        conn.request("GET", "/metrics", headers={"Authorization": "Bearer prom-secret"})
        assert conn.getresponse().read()
        time.sleep(0.5)
        before = voluntary_switches(agent.proc.pid)
        time.sleep(5)
        after = voluntary_switches(agent.proc.pid)
        woke = {t: after[t] - before[t] for t in before if t in after}
        assert sum(woke.values()) <= 2, woke
        conn.close()


def test_handshake_takes_the_key_share_clients_send():
    """Clients (Go, curl, Python: OpenSSL) send one key share, X25519's, and list P-256 as
    supported: the server must take that share rather than ask for another
    (HelloRetryRequest, one more round trip), as it did while GnuTLS's own group order
    (P-256 first) ruled under server precedence."""
    import subprocess
    pki, ca, server = serving_pki()
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=tls_section(server), ca=ca[0])
        for version in ("-tls1_3", "-tls1_2"):
            out = subprocess.run(
                ["openssl", "s_client", "-connect", "127.0.0.1:%d" % agent.port, "-CAfile",
                 ca[0], "-groups", "X25519:P-256", version],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
            temp = [l for l in out.stdout.splitlines() if "Temp Key:" in l]
            assert temp and "X25519" in temp[0], (version, temp, out.stderr[-500:])
            assert "Verify return code: 0 (ok)" in out.stdout, out.stdout[-500:]


def s_client_scrape(agent, ca, args, authorization=None):
    """One scrape through `openssl s_client` (args: version, -sess_in/-sess_out, -cert...);
    returns its output. -ign_eof waits for the answer, and with it for the TLS 1.3 tickets
    the server sends after the handshake."""
    import subprocess
    request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if authorization:
        request += "Authorization: %s\r\n" % authorization
    out = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % agent.port, "-CAfile", ca,
         "-ign_eof"] + list(args),
        input=request + "\r\n", capture_output=True, text=True, timeout=20)
    return out.stdout


def handshakes(agent, **kw):
    m = agent.metrics(**kw)
    return (m[("ctrlscope_tls_handshakes_total", (("resumed", "false"),))],
            m[("ctrlscope_tls_handshakes_total", (("resumed", "true"),))])


def test_returning_clients_resume_their_tls_session():
    """A scraper back after a reconnect resumes its TLS session from the ticket it was
    given (TLS 1.3 PSK, TLS 1.2 RFC 5077 ticket) and pays no full handshake; the
    handshakes are counted by kind, exactly."""
    pki, ca, server = serving_pki()
    web = token_web(pki, server)
    auth = {"Authorization": "Bearer prom-secret"}
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        full, resumed = handshakes(agent, headers=auth)
        for version in ("-tls1_3", "-tls1_2"):
            session = pki.path("session" + version)
            first = s_client_scrape(agent, ca[0], [version, "-sess_out", session],
                                    "Bearer prom-secret")
            assert "\nNew, TLSv1." in first and "HTTP/1.1 200 OK" in first, (version, first[-800:])
            again = s_client_scrape(agent, ca[0], [version, "-sess_in", session],
                                    "Bearer prom-secret")
            assert "\nReused, TLSv1." in again, (version, again[-800:])
            assert "HTTP/1.1 200 OK" in again, (version, again[-800:])
        # Two full and two resumed handshakes, and this scrape's own full one.
        assert handshakes(agent, headers=auth) == (full + 3, resumed + 2)


def test_resumed_sessions_keep_the_client_certificate_identity():
    """A resumed session carries the client certificate of the handshake it resumes: the
    identity (and the verification against the client CA) holds without the certificate
    being sent again; a session that had none does not gain one."""
    pki, ca, server = serving_pki()
    good = pki.cert("prom", ca, "prometheus", orgs=("system:monitoring",), sans=(), usage="clientAuth")
    web = tls_section(server, "  client_ca_file: %s\n  client_auth_type: VerifyClientCertIfGiven\n" % ca[0]) + (
        "authentication:\n  client_certificates: true\n"
        "authorization:\n  static:\n    - {group: \"system:monitoring\", paths: [/metrics]}\n")
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        for version in ("-tls1_3", "-tls1_2"):
            with_cert, without = pki.path("cert" + version), pki.path("none" + version)
            first = s_client_scrape(agent, ca[0], [version, "-cert", good[0], "-key", good[1],
                                                   "-sess_out", with_cert])
            assert "HTTP/1.1 200 OK" in first, (version, first[-800:])
            again = s_client_scrape(agent, ca[0], [version, "-sess_in", with_cert])
            assert "\nReused, TLSv1." in again and "HTTP/1.1 200 OK" in again, (version, again[-800:])
            first = s_client_scrape(agent, ca[0], [version, "-sess_out", without])
            assert "HTTP/1.1 401 Unauthorized" in first, (version, first[-800:])
            again = s_client_scrape(agent, ca[0], [version, "-sess_in", without, "-cert", good[0],
                                                   "-key", good[1]])
            assert "\nReused, TLSv1." in again, (version, again[-800:])
            assert "HTTP/1.1 401 Unauthorized" in again, (version, again[-800:])


def test_rate_limit_answers_429():
    pki, ca, server = serving_pki()
    tokens = pki.path("tokens.csv")
    with open(tokens, "w") as f:
        f.write("prom-secret,prometheus,uid-1\n")
    web = tls_section(server) + ("authentication:\n  static_tokens_file: %s\n"
                                 "rate_limit:\n  interval: 1h\n  burst: 3\n" % tokens)
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        auth = {"Authorization": "Bearer prom-secret"}
        codes = [code(agent, headers=auth) for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429], codes
        assert code(agent, path="/healthz") == 200  # probes are never limited


def test_client_allowed_sans():
    pki, ca, server = serving_pki()
    named = pki.cert("named", ca, "prometheus", sans=("DNS:prometheus.test",), usage="clientAuth")
    unnamed = pki.cert("unnamed", ca, "prometheus", sans=("DNS:other.test",), usage="clientAuth")
    web = tls_section(server, "  client_ca_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n"
                              "  client_allowed_sans: [prometheus.test]\n" % ca[0])
    with Scene() as s:
        agent = s.agent(TARGETS, web_config=web, ca=ca[0])
        assert code(agent, cert=named) == 200
        assert code(agent, cert=unnamed) == 401
        assert code(agent) == 401


def test_expired_and_not_yet_valid_certificates_are_warned_and_exposed():
    """A serving certificate outside its validity is still served (the agent cannot mint a
    better one), but the log says so at start and its dates are metrics an alert can use."""
    pki = PKI()
    ca = pki.ca("ca")
    cases = [("expired", "20200101000000Z", "20200102000000Z", 1577836800, 1577923200,
              "the serving certificate expired at 1577923200"),
             ("future", "20990101000000Z", "21000101000000Z", 4070908800, 4102444800,
              "the serving certificate is not valid yet: not before 4070908800")]
    for name, start, end, not_before, not_after, line in cases:
        crt = pki.cert_dated(name, ca, "ctrlscope", start, end)
        with Scene() as s:
            agent = s.agent(TARGETS, web_config=tls_section(crt))

            def log():
                agent.log.flush()
                with open(agent.log_path) as f:
                    return f.read()
            assert line in log(), agent.logs()
            m = agent.metrics()
            assert m[key("ctrlscope_tls_certificate_not_before_timestamp_seconds")] == not_before
            assert m[key("ctrlscope_tls_certificate_expiry_timestamp_seconds")] == not_after
            # Logged once, not at every scrape.
            agent.metrics()
            assert log().count(line) == 1, agent.logs()
