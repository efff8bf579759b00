"""Helpers for the end-to-end tests: the agent binary, fixture processes in cgroups the
test creates under the cgroup2 mount, and a parser for the text exposition format.

Everything here talks to loopback only and cleans up what it creates."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

BUILD = os.environ.get("CTRLSCOPE_BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cgroup2_mount():
    """The cgroup2 mount point from /proc/self/mountinfo (hybrid hosts mount it anywhere)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split(" ")[0] == "cgroup2":
                return left.split(" ")[4].replace("\\040", " ")
    raise RuntimeError("no cgroup2 mount")


def cgroup1_mount(controller):
    """The mount point of the cgroup v1 hierarchy that has controller, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = right.split()
            if fields[0] == "cgroup" and controller in fields[2].split(","):
                return left.split(" ")[4].replace("\\040", " ")
    return None


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Cgroups:
    """A private subtree under the cgroup2 root, removed (with its processes) at the end;
    and the same subtree in the cgroup v1 hierarchies of the controllers a test limits,
    where the node has them there."""

    def __init__(self, name):
        self.mount = cgroup2_mount()
        self.base = "/%s-%d" % (name, os.getpid())
        self.made = []
        self.v1_tops = []
        self.make("")

    def v2_has(self, controller):
        with open(self.mount + "/cgroup.controllers") as f:
            return controller in f.read().split()

    def limit(self, rel, controller, v2_files, v1_files):
        """Set a controller's limits for the cgroup rel: in cgroup v2 when the controller
        is there (writes v2_files in rel, returns None), else in its v1 hierarchy (writes
        v1_files in a cgroup of the same name; returns its cgroup.procs to join)."""
        if self.v2_has(controller):
            parts = [""] + [p for p in (self.base + "/" + rel).split("/") if p]
            for i in range(1, len(parts)):
                _write(self.mount + "/".join(parts[:i]) + "/cgroup.subtree_control",
                       "+" + controller)
            for name, value in v2_files.items():
                _write(self.mount + self.base + "/" + rel + "/" + name, value)
            return None
        mount = cgroup1_mount(controller)
        if not mount:
            raise RuntimeError("no cgroup hierarchy has the %s controller" % controller)
        path = mount + self.base + "/" + rel
        os.makedirs(path, exist_ok=True)
        if mount + self.base not in self.v1_tops:
            self.v1_tops.append(mount + self.base)
        for name, value in v1_files.items():
            if os.path.exists(path + "/" + name):
                _write(path + "/" + name, value)
        return path + "/cgroup.procs"

    def make(self, rel):
        path = self.base + ("/" + rel if rel else "")
        os.makedirs(self.mount + path, exist_ok=True)
        self.made.append(path)
        return path

    def procs_file(self, path):
        return self.mount + path + "/cgroup.procs"

    def move(self, pid, path):
        with open(self.procs_file(path), "w") as f:
            f.write("%d\n" % pid)

    def cleanup(self):
        """Kill what runs in the subtrees, then remove every directory, deepest first."""
        for top in [self.mount + self.base] + self.v1_tops:
            self._remove(top)

    @staticmethod
    def _remove(top):
        for root, dirs, _ in os.walk(top, topdown=False):
            for d in [os.path.join(root, d) for d in dirs] + ([top] if root == top else []):
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                except FileNotFoundError:
                    continue
                for _ in range(100):
                    try:
                        os.rmdir(d)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.02)


def header_dict(headers):
    """Response headers as a dict; repeated headers (WWW-Authenticate) joined by newlines."""
    return {k: "\n".join(headers.get_all(k)) for k in set(headers.keys())}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Flags every Agent gets before its own: tests/e2e/test_fallbacks.py reruns tests of other
# modules with ["--bpf.fallbacks"] here.
AGENT_FLAGS = []


class Agent:
    """The ctrlscope binary with a given config, listening on a free loopback port."""

    def __init__(self, config_text, args=(), ready_timeout=30, web_config=None, ca=None,
                 scrape_headers=None, scrape_cert=None, env=None, wrap=(), cgroup_procs=None):
        self.dir = tempfile.mkdtemp(prefix="ctrlscope-e2e-")
        self.config = os.path.join(self.dir, "config.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.port = free_port()
        self.ca = ca
        self.scrape_headers = scrape_headers
        self.scrape_cert = scrape_cert
        self.url = "%s://127.0.0.1:%d" % ("https" if web_config is not None else "http", self.port)
        extra = []
        if web_config is not None:
            self.web_config = os.path.join(self.dir, "web.yml")
            with open(self.web_config, "w") as f:
                f.write(web_config)
            extra.append("--web.config.file=" + self.web_config)
        self.log_path = os.path.join(self.dir, "agent.log")
        self.log = open(self.log_path, "w")
        cmd = [os.path.join(BUILD, "ctrlscope"), "--config.file=" + self.config,
               "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=debug",
               # Tests read what they just did: every scrape collects (a test of the
               # shared snapshot passes its own).
               "--web.snapshot-min-age=0s"]
        def enter_cgroup():
            if cgroup_procs:
                with open(cgroup_procs, "w") as f:
                    f.write("0\n")

        self.proc = subprocess.Popen(list(wrap) + cmd + AGENT_FLAGS + extra + list(args),
                                     stdout=self.log,
                                     stderr=self.log, env=dict(os.environ, **(env or {})),
                                     preexec_fn=enter_cgroup)
        deadline = time.time() + ready_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("agent exited with %d:\n%s" % (self.proc.returncode, self.logs()))
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("agent not ready within %ds:\n%s" % (ready_timeout, self.logs()))

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def get(self, path, headers=None, method="GET", cert=None):
        import ssl
        req = urllib.request.Request(self.url + path, headers=headers or {}, method=method)
        ctx = None
        if self.url.startswith("https"):
            ctx = ssl.create_default_context(cafile=self.ca)
            if not self.ca:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if cert:
                ctx.load_cert_chain(cert[0], cert[1])
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
                return resp.status, header_dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, header_dict(e.headers), e.read()

    def scrape(self, headers=None, cert=None):
        status, _, body = self.get("/metrics", headers=headers or self.scrape_headers,
                                   cert=cert or self.scrape_cert)
        assert status == 200, "scrape returned %d" % status
        return body.decode("utf-8")

    def metrics(self, headers=None, cert=None):
        return parse(self.scrape(headers=headers, cert=cert))

    def wait_for(self, name, value, timeout=10, **labels):
        """Wait until the series name{labels} equals value; returns the last metrics."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            got = m.get(key(name, **labels))
            if got == value:
                return m
            if time.time() > deadline:
                raise AssertionError("%s%s is %r, want %r after %ds" % (name, labels, got, value, timeout))
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("agent did not stop within %ds" % timeout)
        self.log.close()
        return self.proc.returncode


class Fixture:
    """A fixture (tests/fixtures/sysload, netload): prints "ready <pid> [<port>]", waits for
    go, does its work, prints "done [<results>]", and exits when its stdin closes."""

    def __init__(self, args, cgroups=None, cgroup=None, binary="sysload", netns=None,
                 join=()):
        procs = ([cgroups.procs_file(cgroup)] if cgroup else []) + [p for p in join if p]

        def setup():
            for path in procs:
                with open(path, "w") as f:
                    f.write("0\n")
            if netns:
                netns.enter()

        self.proc = subprocess.Popen([os.path.join(BUILD, "fixtures", binary)] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     preexec_fn=setup)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("fixture did not start: %r" % line)
        words = line.split()
        self.pid = int(words[1])
        self.port = int(words[2]) if len(words) > 2 else None

    def go(self):
        self.proc.stdin.write(b"g")
        self.proc.stdin.flush()

    def read_done(self):
        """Wait for "done"; returns the words after it. The fixture keeps running."""
        line = self.proc.stdout.readline().decode()
        assert line.startswith("done"), "fixture said %r" % line
        return line.split()[1:]

    def wait_done(self, timeout=60, words=None):
        """Wait for "done" (unless read_done got it), let the fixture exit; returns the
        words after "done"."""
        deadline = time.time() + timeout
        if words is None:
            words = self.read_done()
        self.proc.stdin.close()
        self.proc.wait(max(1, deadline - time.time()))
        assert self.proc.returncode == 0, "fixture exited with %d" % self.proc.returncode
        return words

    def run_to_exit(self, timeout=10):
        """Go, wait for "done", close stdin; returns the exit status (a negative signal
        number when killed)."""
        self.go()
        self.read_done()
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Prometheus:
    """Debian's Prometheus scraping one agent over HTTPS with a bearer token every second
    (job "ctrlscope"), on a free loopback port, with optional rule files."""

    def __init__(self, agent_port, token, ca_file, server_name, rule_files=(), jobs=()):
        """token None: the agent is scraped over plain HTTP. jobs: more (name, port) plain
        HTTP jobs on loopback."""
        self.dir = tempfile.mkdtemp(prefix="ctrlscope-prometheus-")
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write((token or "") + "\n")
        config = os.path.join(self.dir, "prometheus.yml")
        secure = """    scheme: https
    authorization: {credentials_file: %s}
    tls_config: {ca_file: %s, server_name: %s}
""" % (token_file, ca_file, server_name) if token is not None else ""
        with open(config, "w") as f:
            f.write("""global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: [%s]
scrape_configs:
  - job_name: ctrlscope
%s    static_configs: [{targets: ["127.0.0.1:%d"]}]
""" % (", ".join(rule_files), secure, agent_port))
            for name, port in jobs:
                f.write("""  - job_name: %s
    static_configs: [{targets: ["127.0.0.1:%d"]}]
""" % (name, port))
        port = free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % port],
            stdout=subprocess.DEVNULL, stderr=self.log)

    def api(self, path, **params):
        """The data of a successful answer of the HTTP API; OSError while not up yet."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.log.close()


def _unescape(value):
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_labels(text, i):
    """Parse {a="x",b="y"} starting at text[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while text[i] != "}":
        eq = text.index("=", i)
        name = text[i:eq].strip()
        assert text[eq + 1] == '"', "label %s not quoted" % name
        j = eq + 2
        raw = []
        while text[j] != '"':
            if text[j] == "\\":
                raw.append(text[j:j + 2])
                j += 2
            else:
                raw.append(text[j])
                j += 1
        assert name not in labels, "duplicate label %s" % name
        labels[name] = _unescape("".join(raw))
        i = j + 1
        if text[i] == ",":
            i += 1
    return labels, i + 1


def key(name, **labels):
    return (name, tuple(sorted(labels.items())))


def parse(text):
    """Text format 0.0.4 to {(name, sorted label items): float}; duplicates are an error."""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        space = line.find(" ")
        if brace != -1 and brace < space:
            name = line[:brace]
            labels, end = _parse_labels(line, brace)
            rest = line[end:].strip()
        else:
            name, rest = line[:space], line[space + 1:]
            labels = {}
        value = float(rest.split()[0].replace("+Inf", "inf"))
        k = (name, tuple(sorted(labels.items())))
        assert k not in out, "duplicate series %r" % (k,)
        out[k] = value
    return out


def series(metrics, name, **labels):
    """Every series of name whose labels include the given ones: {labels dict items: value}."""
    want = set(labels.items())
    return {k[1]: v for k, v in metrics.items() if k[0] == name and want <= set(k[1])}


def promtool_check(text):
    """Run Debian's promtool on an exposition; returns (returncode, output)."""
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return p.returncode, p.stdout.decode()


# OpenMetrics' reference parser (the Python client's, from Debian's
# python3-prometheus-client): promtool reads the text format only.
OM_CHECK = """
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
n = sum(len(f.samples) for f in text_string_to_metric_families(sys.stdin.read()))
print(n)
"""


def openmetrics_check(text):
    """Parse an OpenMetrics exposition strictly; returns (returncode, output): the number
    of samples, or the parser's error."""
    # Debian's interpreter: the package is installed for it, whatever python3 runs tests.
    p = subprocess.run(["/usr/bin/python3", "-c", OM_CHECK], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode()


class Scene:
    """Everything a test starts, stopped and removed at the end whatever happens:

        with Scene() as s:
            agent = s.agent(config)
            fixture = s.fixture(args, cgroup)
    """

    def __init__(self):
        self.cgroups = None
        self.agents = []
        self.fixtures = []
        self.apis = []
        self.namespaces = []
        self.prometheuses = []

    def __enter__(self):
        return self

    def cgroup(self, rel):
        if not self.cgroups:
            self.cgroups = Cgroups("ctrlscope-e2e")
        return self.cgroups.make(rel)

    def agent(self, config_text, args=(), **kw):
        if "cgroup_procs" in kw and not self.cgroups:
            self.cgroup("")
        a = Agent(config_text, args, **kw)
        self.agents.append(a)
        return a

    def fakeapi(self, pki, ca, config):
        api = FakeAPI(pki, ca, config)
        self.apis.append(api)
        return api

    def control_plane(self, pki, ca, users=()):
        cp = ControlPlane(pki, ca, users)
        self.apis.append(cp)
        return cp

    def prometheus(self, agent_port, token, ca_file, server_name, rule_files=(), jobs=()):
        p = Prometheus(agent_port, token, ca_file, server_name, rule_files, jobs)
        self.prometheuses.append(p)
        return p

    def fixture(self, args, cgroup=None, binary="sysload", netns=None, join=()):
        """join: more cgroup.procs files (v1 hierarchies) the fixture enters before exec."""
        f = Fixture(args, self.cgroups, cgroup, binary, netns, join)
        self.fixtures.append(f)
        return f

    def netns(self, name):
        ns = NetNS(name)
        self.namespaces.append(ns)
        return ns

    def __exit__(self, *exc):
        for p in self.prometheuses:
            p.stop()
        for f in self.fixtures:
            f.kill()
        for api in self.apis:
            api.stop()
        for a in self.agents:
            if not a.log.closed:
                a.stop()
        if self.cgroups:
            self.cgroups.cleanup()
        for ns in self.namespaces:
            ns.delete()
        return False


def _run(*cmd, stdin=None):
    p = subprocess.run(list(cmd), input=stdin.encode() if stdin else None,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if p.returncode:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                     p.stdout.decode()))
    return p.stdout.decode()


class NetNS:
    """A network namespace of the test's own (ip netns), its loopback up. Traffic of the
    tests stays inside such namespaces: to their loopback or to addresses the test gives
    their veth ends."""

    def __init__(self, name):
        self.name = "%s-%d" % (name, os.getpid())
        _run("ip", "netns", "add", self.name)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args):
        return _run("ip", "-n", self.name, *args)

    def nft(self, ruleset):
        """Load an nftables ruleset into this namespace (nft -f -)."""
        return _run("ip", "netns", "exec", self.name, "nft", "-f", "-", stdin=ruleset)

    def enter(self):
        """setns(2) into this namespace (in a child, before exec)."""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")
        os.close(fd)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)


def veth(a, b, v4=("10.231.0.1", "10.231.0.2"), v6=("fd00:c5::1", "fd00:c5::2")):
    """A veth pair between namespaces a and b with the given addresses (/24, /64)."""
    ends = ("csa%d" % (os.getpid() % 100000), "csb%d" % (os.getpid() % 100000))
    _run("ip", "link", "add", ends[0], "netns", a.name, "type", "veth", "peer", "name", ends[1],
         "netns", b.name)
    for ns, end, four, six in ((a, ends[0], v4[0], v6[0]), (b, ends[1], v4[1], v6[1])):
        ns.ip("addr", "add", four + "/24", "dev", end)
        ns.ip("addr", "add", six + "/64", "dev", end, "nodad")
        ns.ip("link", "set", end, "up")
    return ends


class PKI:
    """Test certificates made with the openssl command line, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ctrlscope-pki-")

    def _run(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=30)

    def path(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name):
        crt, key = self.path(name + ".crt"), self.path(name + ".key")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", crt, "-subj", "/CN=" + name, "-days", "2",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return crt, key

    def cert(self, name, ca, cn, orgs=(), sans=("IP:127.0.0.1", "DNS:localhost"),
             usage="serverAuth,clientAuth", days=1):
        crt, key, csr = self.path(name + ".crt"), self.path(name + ".key"), self.path(name + ".csr")
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n" % usage)
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
        subject = "/CN=" + cn + "".join("/O=" + o for o in orgs)
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", subject)
        self._run("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                  "-out", crt, "-days", str(days), "-extfile", ext)
        return crt, key


    def cert_dated(self, name, ca, cn, start, end, sans=("IP:127.0.0.1", "DNS:localhost")):
        """A serving certificate valid from start to end (openssl's YYYYMMDDHHMMSSZ), which
        may lie in the past or the future: signed with `openssl ca`, the one command that
        takes dates."""
        crt, key, csr = self.path(name + ".crt"), self.path(name + ".key"), self.path(name + ".csr")
        db = self.path(name + "-db")
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("1000\n")
        conf = os.path.join(db, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\n"
                    "policy = p\ncopy_extensions = copy\n[p]\ncommonName = supplied\n" % db)
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", "/CN=" + cn,
                  "-addext", "subjectAltName=" + ",".join(sans),
                  "-addext", "extendedKeyUsage=serverAuth")
        self._run("ca", "-batch", "-config", conf, "-cert", ca[0], "-keyfile", ca[1], "-in", csr,
                  "-out", crt, "-startdate", start, "-enddate", end, "-notext")
        return crt, key


class ControlPlane:
    """A real etcd and kube-apiserver (tests/controlplane/build.sh builds them into
    BUILD/controlplane/bin) on loopback, with their own CA and serving certificate, a
    service-account signing key, RBAC, and an admin token. No controller-manager runs:
    a test creates the namespaces' ServiceAccounts it needs. stop() and start() again
    simulate an outage; the data survives (etcd's directory is kept)."""

    ADMIN = "admin-token"
    ISSUER = "https://kubernetes.default.svc.cluster.local"
    CHART_NS = "monitoring"
    # Where install_chart_rbac creates each kind.
    COLLECTIONS = {
        "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
        "Secret": "/api/v1/namespaces/{ns}/secrets",
        "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    }

    def __init__(self, pki, ca, users=()):
        """users: more (token, name, uid, groups) of the static token file."""
        self.pki, self.ca = pki, ca
        self.bin = os.path.join(BUILD, "controlplane", "bin")
        self.cert = pki.cert("apiserver", ca, "kube-apiserver",
                             sans=("IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes.default.svc"),
                             usage="serverAuth")
        self.sa_key = pki.path("sa.key")
        subprocess.run(["openssl", "genrsa", "-out", self.sa_key, "2048"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        self.sa_pub = pki.path("sa.pub")
        subprocess.run(["openssl", "rsa", "-in", self.sa_key, "-pubout", "-out", self.sa_pub],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
        self.tokens = pki.path("apiserver-tokens.csv")
        with open(self.tokens, "w") as f:
            f.write('%s,admin,uid-admin,"system:masters"\n' % self.ADMIN)
            for token, name, uid, groups in users:
                f.write('%s,%s,%s,"%s"\n' % (token, name, uid, ",".join(groups)))
        # Every request's metadata, so tests can count what the agent asked and as whom.
        self.audit_policy, self.audit_log = pki.path("audit-policy.yaml"), pki.path("audit.log")
        with open(self.audit_policy, "w") as f:
            f.write("apiVersion: audit.k8s.io/v1\nkind: Policy\n"
                    "omitStages: [RequestReceived]\nrules:\n- level: Metadata\n")
        self.data = pki.path("etcd")
        self.etcd_port, self.peer_port, self.port = free_port(), free_port(), free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.etcd = self.apiserver = None
        self.start()

    def start(self, timeout=60):
        started = time.time()
        etcd_url = "http://127.0.0.1:%d" % self.etcd_port
        peer_url = "http://127.0.0.1:%d" % self.peer_port
        self.etcd_log = open(self.pki.path("etcd.log"), "a")
        self.etcd = subprocess.Popen(
            [os.path.join(self.bin, "etcd"), "--name", "cs", "--data-dir", self.data,
             "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", "cs=" + peer_url, "--log-level", "error",
             "--quota-backend-bytes", str(256 << 20)],
            stdout=self.etcd_log, stderr=self.etcd_log)
        self.log = open(self.pki.path("kube-apiserver.log"), "a")
        self.apiserver = subprocess.Popen(
            [os.path.join(self.bin, "kube-apiserver"), "--etcd-servers=" + etcd_url,
             "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
             "--secure-port=%d" % self.port,
             "--tls-cert-file=" + self.cert[0], "--tls-private-key-file=" + self.cert[1],
             "--client-ca-file=" + self.ca[0],
             "--service-account-key-file=" + self.sa_pub,
             "--service-account-signing-key-file=" + self.sa_key,
             "--service-account-issuer=" + self.ISSUER, "--api-audiences=" + self.ISSUER,
             "--authorization-mode=RBAC", "--token-auth-file=" + self.tokens,
             "--endpoint-reconciler-type=none", "--service-cluster-ip-range=10.96.0.0/16",
             "--allow-privileged=true",  # as kubeadm and every managed cluster set it
             "--enable-priority-and-fairness=false", "--profiling=false",
             "--audit-policy-file=" + self.audit_policy, "--audit-log-path=" + self.audit_log,
             "--audit-log-mode=blocking", "--audit-log-maxbackup=0",
             # Watches are closed at a stop (not held open until a kill 60 s later).
             "--shutdown-watch-termination-grace-period=1s",
             "--cert-dir=" + self.pki.path("apiserver-certs")],
            stdout=self.log, stderr=self.log)
        deadline = started + timeout
        while time.time() < deadline:
            for p, name in ((self.etcd, "etcd"), (self.apiserver, "kube-apiserver")):
                if p.poll() is not None:
                    raise AssertionError("%s exited with %d:\n%s" % (
                        name, p.returncode, self.logs()))
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    self.ready_seconds = time.time() - started
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("kube-apiserver not ready within %ds:\n%s" % (timeout, self.logs()))

    def audit(self, since=0, user=None, resource=None, verb=None):
        """The requests the API server audited from byte offset since (see audit_mark), one
        event per request, optionally only of this user (a name, or a service account as
        system:serviceaccount:NS:NAME), resource and verb."""
        events = {}
        try:
            with open(self.audit_log, "rb") as f:
                f.seek(since)
                for line in f.read().decode().splitlines():
                    e = json.loads(line)
                    if user and e["user"]["username"] != user:
                        continue
                    if resource and e.get("objectRef", {}).get("resource") != resource:
                        continue
                    if verb and e["verb"] != verb:
                        continue
                    events.setdefault(e["auditID"], e)
        except FileNotFoundError:
            pass
        return list(events.values())

    def audit_mark(self):
        """Where the audit log ends now: audit(since=...) reads only what comes after."""
        try:
            return os.path.getsize(self.audit_log)
        except FileNotFoundError:
            return 0

    def logs(self):
        with open(self.pki.path("kube-apiserver.log")) as f:
            return f.read()[-4000:]

    def stop(self):
        for p in (self.apiserver, self.etcd):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in ("log", "etcd_log"):
            if getattr(self, f, None) and not getattr(self, f).closed:
                getattr(self, f).close()

    def request(self, method, path, body=None, token=None, content_type="application/json"):
        """One API call as admin (or with token): (status, decoded JSON or text)."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca[0])
        data = body if isinstance(body, (bytes, type(None))) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": "Bearer " + (token or self.ADMIN), "Content-Type": content_type,
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode("utf-8", "replace")

    def must(self, method, path, body=None, ok=(200, 201)):
        status, out = self.request(method, path, body)
        assert status in ok, "%s %s: %d %s" % (method, path, status, out)
        return out

    def create(self, path, obj):
        """POST obj to the collection at path, or leave it if it exists already."""
        status, out = self.request("POST", path, obj)
        assert status in (200, 201, 409), "POST %s: %d %s" % (path, status, out)
        return out

    def service_account(self, namespace, name):
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": namespace}})
        self.create("/api/v1/namespaces/%s/serviceaccounts" % namespace,
                    {"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": name, "namespace": namespace}})

    def token(self, namespace, name, audiences=None, seconds=3600):
        """A bound token of the ServiceAccount (TokenRequest)."""
        spec = {"expirationSeconds": seconds}
        if audiences is not None:
            spec["audiences"] = audiences
        out = self.must("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (
            namespace, name), {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": spec})
        return out["status"]["token"]

    def namespace(self, name):
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": name}})

    def install_chart_rbac(self, values=()):
        """The chart's ServiceAccounts, ClusterRoles and bindings (release t, namespace
        CHART_NS), as helm template renders them with these --set values; the objects."""
        self.namespace(self.CHART_NS)
        objects = helm_objects("serviceaccount.yaml", "rbac.yaml", values=values)
        for obj in objects:
            path = self.COLLECTIONS[obj["kind"]].format(
                ns=obj["metadata"].get("namespace", self.CHART_NS))
            self.create(path, obj)
        return objects

    def agent_kubeconfig(self, token_file=None):
        """A kubeconfig with a bound token of the chart's agent ServiceAccount (see
        install_chart_rbac): what the DaemonSet's pods get, never an admin."""
        if token_file:
            return self.kubeconfig(token_file=token_file)
        return self.kubeconfig(token=self.token(self.CHART_NS, "t-ctrlscope"))

    def put_pod(self, name, containers, labels=None, namespace="cert-manager", node="node-1",
                owner="ctl-7d4b9c"):
        """A pod as the scheduler and kubelet leave it: created (or relabelled) with
        spec.nodeName, then its status written with containers {name: (64-hex id,
        restarts)} running. owner: its ReplicaSet's name (None: a bare pod). Its uid."""
        base = "/api/v1/namespaces/%s/pods" % namespace
        labels = dict(labels or {"app": "ctl"})
        status, out = self.request("GET", "%s/%s" % (base, name))
        if status == 404:
            self.service_account(namespace, "default")  # no controller-manager makes it
            meta = {"name": name, "labels": labels}
            if owner:
                meta["labels"]["pod-template-hash"] = owner.rsplit("-", 1)[-1]
                meta["ownerReferences"] = [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                    "uid": str(uuid.uuid4()), "controller": True}]
            out = self.must("POST", base, {
                "apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": {"nodeName": node,
                         "containers": [{"name": c, "image": "x"} for c in containers]}})
        elif {k: v for k, v in out["metadata"].get("labels", {}).items()
              if k != "pod-template-hash"} != labels:
            out["metadata"]["labels"] = dict(
                labels, **{k: v for k, v in out["metadata"]["labels"].items()
                           if k == "pod-template-hash"})
            out = self.must("PUT", "%s/%s" % (base, name), out)
        out["status"] = {"phase": "Running", "containerStatuses": [{
            "name": c, "containerID": "containerd://" + cid, "restartCount": restarts,
            "ready": True, "image": "x", "imageID": "x",
            "state": {"running": {"startedAt": "2026-12-07T00:00:00Z"}}}
            for c, (cid, restarts) in containers.items()]}
        self.must("PUT", "%s/%s/status" % (base, name), out)
        return out["metadata"]["uid"]

    def delete_pod(self, namespace, name):
        """As the kubelet finishes a deletion: the graceful delete (deletionTimestamp set),
        then the final one once the containers are gone."""
        path = "/api/v1/namespaces/%s/pods/%s" % (namespace, name)
        self.must("DELETE", path)
        self.must("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions",
                                   "gracePeriodSeconds": 0})

    def kubeconfig(self, token=None, token_file=None):
        path = self.pki.path("kubeconfig-%d" % len(os.listdir(self.pki.dir)))
        cred = "tokenFile: %s" % token_file if token_file else "token: %s" % (token or self.ADMIN)
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                    "contexts:\n- name: test\n  context: {cluster: real, user: u}\n"
                    "clusters:\n- name: real\n  cluster:\n    server: %s\n"
                    "    certificate-authority: %s\n"
                    "users:\n- name: u\n  user:\n    %s\n" % (self.url, self.ca[0], cred))
        return path


def helm_objects(*templates, values=(), values_file=None, namespace=ControlPlane.CHART_NS):
    """The chart's objects from these templates (all if none), as helm template renders
    them for release t with these --set values and values file."""
    import yaml
    args = [os.path.join(BUILD, "tools", "bin", "helm"), "template", "t",
            os.path.join(ROOT, "helm", "ctrlscope"), "--namespace", namespace,
            "--kube-version", "1.37.0"]
    for t in templates:
        args += ["--show-only", "templates/" + t]
    for v in values:
        args += ["--set", v]
    if values_file:
        args += ["-f", values_file]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def https_get(url, ca=None, cert=None, headers=None, timeout=10, context=None):
    """GET over HTTPS verifying the server against ca; returns (status, headers, body)."""
    import ssl
    ctx = context or ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def bcrypt_hash(password):
    """A bcrypt hash from the system's crypt(3) (libxcrypt), as htpasswd -B would make."""
    import crypt  # noqa: deprecated in 3.11, present in Debian's and this machine's Python
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


class FakeAPI:
    """tests/fixtures/fakeapi: TokenReview and SubjectAccessReview over TLS on loopback,
    with a plain-HTTP control port that injects faults. Only for what a real API server
    (ControlPlane) cannot be made to do, such as hang."""

    def __init__(self, pki, ca, config):
        self.pki = pki
        self.cert = pki.cert("fakeapi", ca, "fakeapi", usage="serverAuth")
        self.config = pki.path("fakeapi.json")
        with open(self.config, "w") as f:
            json.dump(config, f)
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.pki.path("fakeapi.log"), "a")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "fixtures", "fakeapi"), "--listen", "127.0.0.1:%d" % self.port,
             "--cert", self.cert[0], "--key", self.cert[1], "--config", self.config,
             "--control", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=self.log)
        api = self.proc.stdout.readline().decode().split()
        control = self.proc.stdout.readline().decode().split()
        if api[:1] != ["api"] or control[:1] != ["control"]:
            self.proc.kill()
            raise AssertionError("fakeapi did not start: %r %r" % (api, control))
        self.url, self.control = api[1], control[1]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.log.close()

    def _control(self, path, body=None, method=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data,
                                     method=method or ("POST" if data is not None else "GET"))
        with urllib.request.urlopen(req, timeout=5) as resp:
            text = resp.read()
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None

    def fault(self, **spec):
        self._control("/fault", spec)

    def kubeconfig(self, token="agent-token", token_file=None):
        path = self.pki.path("kubeconfig")
        cred = "tokenFile: %s" % token_file if token_file else "token: %s" % token
        with open(path, "w") as f:
            f.write("""apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: fake, user: agent}
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: agent
  user:
    %s
preferences: {}
""" % (self.url, self.pki.path("ca.crt"), cred))
        return path
