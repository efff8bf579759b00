"""The HTTP endpoint: routes, methods, content negotiation, and a clean shutdown that
detaches every program."""

import gzip
import json
import os
import signal
import subprocess
import time

from harness import BUILD, Agent, key, openmetrics_check, parse, promtool_check

CONFIG = "targets:\n  - name: nobody\n    process:\n      comm: [no-such-process]\n"


def prog_ids(names):
    out = subprocess.run(["bpftool", "-j", "prog", "show"], stdout=subprocess.PIPE,
                         check=True).stdout
    return {p["id"] for p in json.loads(out) if p.get("name") in names}


def test_routes_and_methods():
    agent = Agent(CONFIG)
    try:
        status, headers, body = agent.get("/healthz")
        assert (status, body) == (200, b"ok\n"), (status, body)
        status, _, body = agent.get("/readyz")
        assert (status, body) == (200, b"ok\n")
        status, headers, body = agent.get("/")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"metrics" in body
        status, _, _ = agent.get("/nope")
        assert status == 404
        status, headers, _ = agent.get("/metrics", method="POST")
        assert status == 405 and headers["Allow"] == "GET, HEAD", (status, headers)
        status, headers, body = agent.get("/metrics", method="HEAD")
        assert status == 200 and body == b""
        status, headers, body = agent.get("/metrics")
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "Content-Encoding" not in headers
        m = parse(body.decode())
        assert m[("ctrlscope_module_up", (("module", "syscalls"),))] == 1
        builds = [k for k in m if k[0] == "ctrlscope_build_info"]
        assert len(builds) == 1 and m[builds[0]] == 1
        rc, out = promtool_check(body.decode())
        assert rc == 0, out
        m = parse(agent.scrape())
        assert m[("ctrlscope_http_requests_total", (("code", "405"), ("path", "/metrics")))] == 1
        assert m[("ctrlscope_http_requests_total", (("code", "404"), ("path", "other")))] == 1
    finally:
        agent.stop()


def test_gzip_when_asked():
    agent = Agent(CONFIG)
    try:
        status, headers, body = agent.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
        assert headers.get("Vary") == "Accept, Accept-Encoding"
        text = gzip.decompress(body).decode()
        assert "ctrlscope_build_info" in text
        status, headers, body = agent.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
        assert "Content-Encoding" not in headers and b"ctrlscope_build_info" in body
    finally:
        agent.stop()


# What Prometheus 2.42 (Debian's) sends by default.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def test_openmetrics_by_accept_and_text_by_default():
    agent = Agent(CONFIG)
    try:
        start = parse(agent.scrape())[("process_start_time_seconds", ())]
        status, headers, body = agent.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
        assert status == 200 and headers["Content-Type"] == OM_TYPE, headers
        om = body.decode()
        assert om.endswith("\n# EOF\n") and om.count("# EOF") == 1
        rc, out = openmetrics_check(om)
        assert rc == 0, out
        assert int(out) > 100, out
        # A counter family is named without _total; its samples keep it.
        assert "# TYPE ctrlscope_http_requests counter\n" in om
        assert "# TYPE ctrlscope_http_requests_total" not in om
        assert 'ctrlscope_http_requests_total{path="/metrics",code="200"} ' in om
        # _created where the agent knows when counting began: its own counters.
        created = [line for line in om.splitlines()
                   if line.startswith(("process_cpu_seconds_created ",
                                       'ctrlscope_http_requests_created{path="/metrics"'))]
        assert len(created) == 2, created
        for line in created:
            assert abs(float(line.split()[-1]) - start) < 5, (line, start)
        # Never for gauges, nor for counters of the kernel's maps (they may predate the agent).
        assert "ctrlscope_module_up_created" not in om
        assert "ctrlscope_bpf_map_full_created" not in om
        status, headers, body = agent.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT,
                                                               "Accept-Encoding": "gzip"})
        assert headers["Content-Type"] == OM_TYPE and headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body).decode().endswith("# EOF\n")
        # Old scrapers and clients that ask for nothing in particular get the text format.
        for accept in (None, "*/*", "text/plain;version=0.0.4",
                       "application/openmetrics-text;version=0.0.1",
                       "application/openmetrics-text;q=0.2,text/plain;q=0.5"):
            status, headers, body = agent.get(
                "/metrics", headers={"Accept": accept} if accept else None)
            assert headers["Content-Type"] == TEXT_TYPE, (accept, headers)
            text = body.decode()
            assert "# EOF" not in text and "_created" not in text, accept
            assert "# TYPE ctrlscope_http_requests_total counter\n" in text
            rc, out = promtool_check(text)
            assert rc == 0, out
        # promtool refuses the OpenMetrics page (its parser reads the text format only):
        # a check that the two really differ.
        assert promtool_check(om)[0] != 0
    finally:
        agent.stop()


def test_scrapers_within_the_minimum_age_share_one_page():
    agent = Agent(CONFIG, args=["--web.snapshot-min-age=2s"])
    try:
        time.sleep(2.1)  # past the page of the readiness wait
        first = agent.scrape()
        again = [agent.scrape() for _ in range(3)]
        om_first = agent.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})[2].decode()
        om_again = agent.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})[2].decode()
        zipped = gzip.decompress(agent.get("/metrics", headers={"Accept-Encoding": "gzip"})[2])
        # The same page, byte for byte (a fresh one would count the requests since), in
        # either format and compressed or not.
        assert all(a == first for a in again)
        assert om_again == om_first and zipped.decode() == first
        m0 = parse(first)
        time.sleep(2.1)
        m1 = parse(agent.scrape())
        # Two collections (text, OpenMetrics) and five answers from them.
        count = "ctrlscope_snapshot_duration_seconds_count"
        assert m1[(count, ())] - m0[(count, ())] == 2, (m0[(count, ())], m1[(count, ())])
        assert m1[("ctrlscope_snapshot_reuses_total", ())] - \
            m0[("ctrlscope_snapshot_reuses_total", ())] == 5
        assert m1[("ctrlscope_snapshot_phase_seconds_total", (("phase", "compress"),))] > 0
        for phase in ("collect", "render"):
            assert m1[("ctrlscope_snapshot_phase_seconds_total", (("phase", phase),))] > \
                m0[("ctrlscope_snapshot_phase_seconds_total", (("phase", phase),))]
        ok = ("ctrlscope_http_requests_total", (("code", "200"), ("path", "/metrics")))
        assert m1[ok] - m0.get(ok, 0) == 7, (m0.get(ok), m1[ok])
    finally:
        agent.stop()


def test_sigterm_detaches_everything():
    names = {"cs_sys_enter", "cs_sys_exit", "cs_fork", "cs_exec", "cs_exit"}
    before = prog_ids(names)
    agent = Agent(CONFIG)
    ours = prog_ids(names) - before
    assert len(ours) == len(names), ours
    rc = agent.stop(signal.SIGTERM)
    assert rc == 0, agent.logs()
    # The kernel frees programs after an RCU grace period: allow it a moment.
    deadline = time.time() + 5
    while prog_ids(names) & ours and time.time() < deadline:
        time.sleep(0.05)
    assert not (prog_ids(names) & ours), "programs still loaded after exit"
    assert "shutting down" in agent.logs()


def test_readme_documents_every_metric():
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    agent = Agent(CONFIG)
    try:
        text = agent.scrape()
    finally:
        agent.stop()
    families = [line.split()[2] for line in text.split("\n") if line.startswith("# TYPE ")]
    assert len(families) > 20, families
    missing = [f for f in families if "`%s`" % f not in readme]
    assert not missing, "README lacks %s" % missing


def test_other_signals_are_logged_not_fatal():
    """SIGHUP, SIGUSR1 and SIGUSR2 end a process by default: the agent reloads on the first
    (test_reload), logs the others and keeps serving; SIGTERM still stops it cleanly."""
    agent = Agent(CONFIG)
    try:
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            agent.proc.send_signal(sig)
        deadline = time.time() + 5
        while time.time() < deadline and "received SIGUSR2" not in agent.logs():
            time.sleep(0.05)
        assert agent.proc.poll() is None, agent.logs()
        logs = agent.logs()
        assert "received SIGHUP: reloading" in logs, logs
        assert "received SIGUSR1: ignored" in logs and "received SIGUSR2: ignored" in logs
        status, _, body = agent.get("/metrics")
        assert status == 200 and b"ctrlscope_build_info" in body
    finally:
        rc = agent.stop(signal.SIGTERM)
    assert rc == 0, agent.logs()


def test_process_start_time_is_stable_and_true():
    """process_start_time_seconds is the same number at every scrape (Prometheus detects
    restarts by its changes) and the agent's real start, to a clock tick."""
    before = time.time()
    agent = Agent(CONFIG)
    try:
        values = {agent.metrics()[key("process_start_time_seconds")] for _ in range(20)}
        assert len(values) == 1, values
        start = values.pop()
        assert before - 1.5 <= start <= time.time(), (before, start)
    finally:
        agent.stop()


def agent_maps_memlock(pid):
    """What the kernel charges for the BPF maps process pid holds, each map once."""
    seen, total = set(), 0
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except FileNotFoundError:
            continue
        if "map_type" in info and int(info["map_id"]) not in seen:
            seen.add(int(info["map_id"]))
            total += int(info["memlock"])
    return total


def log_text(agent):
    agent.log.flush()
    with open(agent.log_path) as f:
        return f.read()


def test_maps_memory_is_reported_and_warned_above_256_mib():
    """The maps' memory is said at start-up and exposed, exactly as the kernel charges it;
    a configuration that takes more than 256 MiB is warned about."""
    agent = Agent(CONFIG)
    try:
        got = agent.metrics()[key("ctrlscope_bpf_maps_memory_bytes")]
        assert got == agent_maps_memlock(agent.proc.pid) > 0, got
        assert "the BPF maps take" in log_text(agent)
        assert "lower limits" not in log_text(agent)
    finally:
        agent.stop()
    big = CONFIG + "modules:\n  net:\n    max_entries: 524288\n"
    agent = Agent(big)
    try:
        got = agent.metrics()[key("ctrlscope_bpf_maps_memory_bytes")]
        assert got > 256 << 20, got
        assert "lower limits.* or the modules' max_entries" in log_text(agent)
    finally:
        agent.stop()


def test_sigterm_stops_within_2s_while_starting_and_under_load():
    """SIGTERM the moment the agent starts (it is loading its programs), and while clients
    hold connections half-sent: each time it is gone within 2 s, exit status 0."""
    import socket
    import tempfile
    path = os.path.join(tempfile.mkdtemp(prefix="ctrlscope-e2e-"), "config.yaml")
    with open(path, "w") as f:
        f.write(CONFIG)
    cmd = [os.path.join(BUILD, "ctrlscope"), "--config.file=" + path,
           "--web.listen-address=127.0.0.1:0"]
    for delay in (0.05, 0.3):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        start = time.time()
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
        assert time.time() - start < 2.0, "stopping took %.2fs" % (time.time() - start)
    agent = Agent(CONFIG)
    held = [socket.create_connection(("127.0.0.1", agent.port)) for _ in range(15)]
    try:
        for c in held:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        start = time.time()
        assert agent.stop() == 0
        assert time.time() - start < 2.0, "stopping took %.2fs" % (time.time() - start)
    finally:
        for c in held:
            c.close()
