"""The binary's command line and configuration errors: one clear line, the right exit
code, nothing started."""

import os
import re
import subprocess
import tempfile

from harness import BUILD, Scene, key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args, timeout=20):
    p = subprocess.run([os.path.join(BUILD, "ctrlscope")] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def config_file(text):
    d = tempfile.mkdtemp(prefix="ctrlscope-cli-")
    path = os.path.join(d, "config.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_help_and_version():
    rc, out, err = run(["--help"])
    assert rc == 0 and not err, (rc, err)
    flags = re.findall(r"^\s+--([a-z.-]+)", out, re.M)
    assert {"config.file", "web.listen-address", "web.health-address", "web.config.file",
            "web.snapshot-min-age", "kubeconfig",
            "web.allow-unauthenticated", "btf.path", "bpf.tracepoints", "bpf.fallbacks",
            "bpf.pin-path", "bpf.unpin", "strict",
            "log.level", "log.format",
            "check-config", "probe", "help",
            "version"} == set(flags), flags
    rc, out, _ = run(["--version"])
    assert rc == 0 and out.startswith("ctrlscope "), out


def test_readme_documents_every_flag():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    _, out, _ = run(["--help"])
    for flag in re.findall(r"^\s+(--[a-z.-]+)", out, re.M):
        assert "`%s" % flag in readme, "README does not document %s" % flag


def test_bad_flags_exit_2_with_one_line():
    cases = [
        (["--no-such-flag"], "unknown flag --no-such-flag"),
        (["--log.level=loud"], '--log.level: expected debug, info, warn or error, got "loud"'),
        (["--web.snapshot-min-age=2m"],
         '--web.snapshot-min-age: expected a duration from 0s to 1m, like 1s or 500ms, '
         'got "2m"'),
        (["--web.snapshot-min-age=soon"],
         '--web.snapshot-min-age: expected a duration from 0s to 1m, like 1s or 500ms, '
         'got "soon"'),
        (["--log.format=xml"], '--log.format: expected logfmt or json, got "xml"'),
        (["--strict=maybe"], '--strict: expected true or false, got "maybe"'),
        (["--config.file"], "--config.file: expected a value (PATH)"),
        (["positional"], 'unexpected argument "positional"'),
    ]
    for args, want in cases:
        rc, out, err = run(args)
        assert rc == 2, (args, rc)
        assert err.count("\n") == 1 and want in err, (args, err)


def test_config_errors_name_file_position_and_key():
    cases = [
        ("targets:\n  - name: a\n    process:\n      pid: [1]\n",
         ':4:7: targets[0].process: unknown key \\"pid\\" (expected comm, exe or cgroup)'),
        ("targets:\n  - name: a\n    process:\n      comm: [a-name-longer-than-15]\n",
         ":4:14: targets[0].process.comm[0]: expected process name of at most 15 bytes, got 21 bytes"),
        ("targets:\n  - process:\n      comm: [x]\n",
         ':2:5: targets[0]: missing key \\"name\\"'),
        ("targets:\n  - name: a\n    process: {exe: [bin/x]}\n",
         ":3:21: targets[0].process.exe[0]: expected an absolute path glob starting with '/', got \\\"bin/x\\\""),
        ("targets: [{name: a, process: {comm: [x]}}]\nlimits: {label_sets: 0}\n",
         ":2:22: limits.label_sets: expected an integer from 1 to 65536, got 0"),
        ("targets: [{name: a, process: {comm: [x]}}]\nmodules: {syscalls: {enabled: yes}}\n",
         ':2:31: modules.syscalls.enabled: expected true or false, got \\"yes\\"'),
        ("targets: [{name: a, process: {comm: [x]}}]\nmodules: {network: {}}\n",
         ':2:11: modules: unknown module \\"network\\" (expected syscalls, net, sched, proc, reconcile)'),
        ("targets: [\n", ":2:1: invalid YAML:"),
        ("targets:\n  - name: k\n    kubernetes:\n      pod_selector: \"app in ()\"\n",
         ":4:21: targets[0].kubernetes.pod_selector: invalid label selector: at offset"),
        ("targets:\n  - name: k\n    kubernetes: {namespaces: [Kube_System]}\n",
         ":3:31: targets[0].kubernetes.namespaces[0]: expected a lower-case RFC 1123 name"),
        ("targets:\n  - name: k\n    kubernetes: {}\n    process: {comm: [x]}\n",
         ':2:5: targets[0]: expected exactly one selector: \\"process\\" or \\"kubernetes\\"'),
    ]
    for text, want in cases:
        path = config_file(text)
        rc, out, err = run(["--config.file=" + path, "--web.listen-address=127.0.0.1:0"])
        assert rc == 1, (text, rc, err)
        lines = err.strip().split("\n")
        assert len(lines) == 1, (text, err)
        assert "level=error" in lines[0] and (path + want) in lines[0], (text, lines[0], want)


def test_missing_config_file():
    rc, _, err = run(["--config.file=/nonexistent/ctrlscope.yaml"])
    assert rc == 1
    assert "/nonexistent/ctrlscope.yaml: cannot open the configuration file: No such file or directory" in err, err


def test_check_config_validates_without_starting_anything():
    good = config_file("targets:\n  - name: a\n    process:\n      comm: [x]\n")
    web = config_file("tls_server_config:\n  cert_file: /nonexistent/tls.crt\n"
                      "  key_file: /nonexistent/tls.key\n"
                      "authentication:\n  kubernetes: {}\n")
    rc, out, err = run(["--check-config", "--config.file=" + good, "--web.config.file=" + web])
    lines = out.split("\n")
    assert (rc, lines[0], err) == (0, "%s, %s: valid" % (good, web), ""), (rc, out, err)
    assert lines[1].startswith("BPF maps: about "), out
    bad_web = config_file("authentication:\n  kubernetes:\n    cache_ttl: forever\n")
    rc, out, err = run(["--check-config", "--config.file=" + good, "--web.config.file=" + bad_web])
    assert rc == 1 and not out and len(err.strip().split("\n")) == 1, (rc, out, err)
    assert "cache_ttl" in err, err
    bad = config_file("targets: []\n")
    rc, out, err = run(["--check-config", "--config.file=" + bad])
    assert rc == 1 and not out, (rc, out, err)
    assert "%s:1:10: targets: expected at least one target" % bad in err, err


def estimate(path, unprivileged=True):
    """--check-config's estimate of the maps, in MiB (this kernel has task storage), run
    as nobody: it needs no privilege."""
    def drop():
        os.setgid(65534)
        os.setuid(65534)
    os.chmod(path, 0o644)
    os.chmod(os.path.dirname(path), 0o755)
    p = subprocess.run([os.path.join(BUILD, "ctrlscope"), "--check-config",
                        "--config.file=" + path], capture_output=True, text=True, timeout=30,
                       preexec_fn=drop if unprivileged else None)
    assert p.returncode == 0, p.stderr
    m = re.search(r"^BPF maps: about ([0-9.]+) MiB on this machine's \d+ CPUs "
                  r"\(([0-9.]+) MiB on kernels before 5.11", p.stdout, re.M)
    assert m, p.stdout
    return float(m.group(1)), float(m.group(2)), p.stderr


def test_check_config_estimates_what_the_maps_take():
    """The estimate of an unprivileged --check-config is within 10% of what the running
    agent's maps take (ctrlscope_bpf_maps_memory_bytes), small and large; past 256 MiB it
    warns."""
    small = "targets:\n  - name: a\n    process:\n      comm: [x]\n"
    large = small + ("limits:\n  label_sets: 4096\n  processes: 65536\n"
                     "modules:\n  syscalls:\n    max_entries: 65536\n"
                     "    max_error_entries: 65536\n  net:\n    max_entries: 32768\n")
    for text in (small, large):
        path = config_file(text)
        now, before, err = estimate(path)
        with Scene() as s:
            agent = s.agent(text)
            actual = agent.metrics()[key("ctrlscope_bpf_maps_memory_bytes")] / 2**20
        assert abs(now - actual) <= 0.10 * actual, (now, actual)
        assert before > now and not err, (before, now, err)
    huge = config_file(small + "limits:\n  label_sets: 65536\n  threads: 4194304\n")
    _, before, err = estimate(huge)
    assert before > 256 and "would take over 256 MiB" in err, (before, err)


def test_refuses_non_loopback_without_flag():
    path = config_file("targets: [{name: a, process: {comm: [x]}}]\n")
    rc, _, err = run(["--config.file=" + path, "--web.listen-address=:0"])
    assert rc == 1, (rc, err)
    assert "refusing to serve /metrics without authentication on a non-loopback address" in err, err


def probe_rows(out):
    """module -> (state, notes) from the table --probe prints."""
    rows = {}
    for line in out.splitlines()[2:]:
        parts = line.split(None, 2)
        rows[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return rows


def test_probe_loads_every_module_and_names_variants():
    rc, out, err = run(["--probe", "--config.file=/nonexistent/ctrlscope.yaml"], timeout=120)
    assert rc == 0, (rc, out, err)
    assert out.startswith("kernel %s " % os.uname().release), out
    rows = probe_rows(out)
    assert set(rows) == {"(core)", "syscalls", "net", "sched", "proc", "reconcile"}, out
    assert all(state == "ok" for state, _ in rows.values()), out
    # The walk's variant is named, and a refused in-place walk says why in the
    # verifier's own words.
    walk = re.search(r"socket_walk=(\S+)", rows["net"][1])
    assert walk and walk.group(1) in ("task_file_sk_storage", "task_file_list+sockopt_sync"), out
    if walk.group(1) == "task_file_list+sockopt_sync":
        assert "the kernel refused cs_net_walk: " in rows["net"][1], out
    # Nothing stays loaded or attached after the probe.
    listed = subprocess.run(["bpftool", "prog", "show"], stdout=subprocess.PIPE).stdout.decode()
    assert "cs_net_state" not in listed and "cs_sys_enter" not in listed, listed


def test_probe_honours_the_configuration_and_fails_when_nothing_can_load():
    path = config_file("targets:\n  - name: t\n    process:\n      comm: [x]\n"
                       "modules:\n  net:\n    enabled: false\n")
    rc, out, err = run(["--probe", "--config.file=" + path], timeout=120)
    assert rc == 0, (rc, out, err)
    assert probe_rows(out)["net"] == ("disabled", ""), out
    # A BTF that is no BTF: nothing loads, and the probe says so and exits 1.
    rc, out, err = run(["--probe", "--config.file=" + path, "--btf.path=" + path], timeout=120)
    assert rc == 1, (rc, out, err)
    assert probe_rows(out)["(core)"][0] == "CANNOT", out


def test_agent_without_a_loadable_core_serves_its_own_metrics():
    """A kernel the targets core cannot load on (here: a BTF file that is no BTF) does not
    stop the agent: it says why in one line, serves /metrics with every module down, is
    ready, and --strict makes the same thing fatal."""
    from harness import Scene, key
    path = config_file("targets:\n  - name: t\n    process:\n      comm: [x]\n")
    with Scene() as s:
        agent = s.agent(open(path).read(), args=["--btf.path=" + path])
        m = agent.metrics()
        for module in ("syscalls", "net", "sched", "proc", "reconcile"):
            assert m[key("ctrlscope_module_up", module=module)] == 0, module
        log = agent.logs()
        lines = [l for l in log.splitlines() if "the targets core cannot load" in l]
        assert len(lines) == 1 and "no module can run" in lines[0], log
    rc, _, err = run(["--config.file=" + path, "--btf.path=" + path, "--strict",
                      "--web.listen-address=127.0.0.1:0"], timeout=60)
    assert rc == 1 and "the targets core cannot load" in err, (rc, err)
