"""The HTTP endpoint: routes, methods, content negotiation, and a clean shutdown that
detaches every program."""

import gzip
import json
import os
import signal
import subprocess
import time

from harness import BUILD, Agent, key, parse, promtool_check

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
        assert headers.get("Vary") == "Accept-Encoding"
        text = gzip.decompress(body).decode()
        assert "ctrlscope_build_info" in text
        status, headers, body = agent.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
        assert "Content-Encoding" not in headers and b"ctrlscope_build_info" in body
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
