"""The scrape benchmark of `make bench` (bench.py --only scrape): what serving /metrics
costs the agent at ~1k, ~10k and ~40k series, next to node_exporter (its default
collectors, ~500 series) scraped in the same run, over HTTP and over HTTPS with a token,
by one scraper and by four (bench/scrapeclient: Go's HTTP client, one kept-alive
connection per scraper, as Prometheus scrapes); the agent's memory; and its CPU and
wakeups while idle. Not for the overhead on traced processes: bench.py measures that.

Series come from target processes (tests/fixtures/sysload) with distinct names, one label
set each. One agent runs at a time (every agent's programs see every syscall on the
machine, node_exporter's too); its runs alternate with node_exporter's over the rounds,
and each condition keeps the median of its rounds. CPU is the exporter's own, from
/proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat's ticks are too coarse for a
millisecond scrape). Never fails on time."""

import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings

LEVELS = (1000, 10000, 40000)
NAME = "bench-s%03d"
MAX_SETS = 200  # names the selector lists: enough for 40k series at ~300 a label set
TOKEN = "bench-scrape-token"
BASIC = ("prometheus", "bench-scrape-password")
SCRAPE_SECONDS = 1.5  # per run: the number of scrapes is sized from a probe's latency
NE_PORTS = (19700, 19701)
AGENT_PORT = 19600


def task_paths(pid):
    base = "/proc/%d/task" % pid
    return [os.path.join(base, t) for t in os.listdir(base)]


def cpu_seconds(pid):
    """On-CPU time of all the process's threads (schedstat: ns, not ticks)."""
    total = 0
    for t in task_paths(pid):
        with open(os.path.join(t, "schedstat")) as f:
            total += int(f.read().split()[0])
    return total / 1e9


def stat_cpu_seconds(pid):
    """utime + stime from /proc/PID/stat (ticks): the classic reading, for the idle phase."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid):
    total = 0
    for t in task_paths(pid):
        with open(os.path.join(t, "status")) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


def memory_mb(pid):
    """(VmRSS, VmHWM) in MB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out["VmRSS"], out["VmHWM"]


def bcrypt_hash(password):
    """A bcrypt hash for node_exporter's basic_auth_users (Python's crypt, gone in 3.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


class Pki:
    """A self-signed P-256 certificate for 127.0.0.1, the agent's web config (static token,
    static authorization) and node_exporter's (basic auth when bcrypt is at hand)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ctrlscope-scrape-")
        self.cert, self.key = self.path("tls.crt"), self.path("tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out",
                        self.cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tls = "tls_server_config:\n  cert_file: %s\n  key_file: %s\n" % (self.cert, self.key)
        tokens = self.path("tokens.csv")
        with open(tokens, "w") as f:
            f.write('%s,prometheus,uid-1,"system:monitoring"\n' % TOKEN)
        self.agent_web = self.write("agent-web.yaml", tls + (
            "authentication:\n  static_tokens_file: %s\n"
            "authorization:\n  static:\n    - {user: prometheus, paths: [/metrics]}\n" % tokens))
        h = bcrypt_hash(BASIC[1])
        self.ne_basic = h is not None
        self.ne_web = self.write("ne-web.yaml", tls + (
            "basic_auth_users:\n  %s: '%s'\n" % (BASIC[0], h) if h else ""))

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class NodeExporter:
    def __init__(self, binary, port, web_config=None):
        self.url = "%s://127.0.0.1:%d/metrics" % ("https" if web_config else "http", port)
        self.p = subprocess.Popen([binary, "--web.listen-address=127.0.0.1:%d" % port]
                                  + (["--web.config.file=" + web_config] if web_config else []),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.p.pid
        ctx = ssl._create_unverified_context()
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url.replace("/metrics", "/"), timeout=2, context=ctx)
                return
            except urllib.error.HTTPError:  # 401 without credentials: it is up
                return
            except OSError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
        self.p.kill()
        self.p.wait()
        raise SystemExit("node_exporter did not start on port %d" % port)

    def stop(self):
        self.p.terminate()
        self.p.wait(15)


class Loads:
    """Target processes, one label set each: sysload with a name of its own makes its
    calls (getppid, a failing openat, nanosleep) and holds until its stdin closes."""

    def __init__(self, build):
        self.build, self.ps = build, []

    def spawn(self, first, n):
        started = []
        for i in range(first, first + n):
            p = subprocess.Popen([os.path.join(self.build, "fixtures", "sysload"), "--name",
                                  NAME % i, "--getppid", "10", "--openat-missing", "3",
                                  "--nanosleep", "2", "--sleep-ns", "1000", "--hold"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.ps.append(p)
            started.append(p)
        for p in started:
            if not p.stdout.readline().startswith(b"ready"):
                raise SystemExit("sysload did not start")
            p.stdin.write(b"g")
            p.stdin.flush()
        for p in started:
            if p.stdout.readline().strip() != b"done":
                raise SystemExit("sysload failed")

    def stop(self):
        for p in self.ps:
            p.stdin.close()
        for p in self.ps:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.ps = []


def count_series(text):
    return sum(1 for line in text.splitlines() if line and line[0] != "#")


def evaluations(text):
    m = re.search(r"^ctrlscope_target_evaluations_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def histogram(text, name):
    """{le: count} of a histogram summed over its other labels; None when absent."""
    if "# TYPE %s histogram" % name not in text:
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = float(re.search(r'le="([^"]+)"', line).group(1))
            out[le] = out.get(le, 0) + float(line.rsplit(" ", 1)[1])
    return out


def histogram_p99(before, after):
    delta = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = delta[-1][1]
    for le, c in delta:
        if total and c >= 0.99 * total:
            return le, total
    return float("nan"), total


class Client:
    def __init__(self, build):
        self.binary = os.path.join(build, "bench", "scrapeclient")

    def run(self, url, n, workers=1, gzip=False, auth=None, sum_metric=None):
        cmd = [self.binary, "-url", url, "-n", str(max(1, n // workers)),
               "-workers", str(workers)]
        if gzip:
            cmd.append("-gzip")
        if auth and auth[0] == "token":
            cmd += ["-token", auth[1]]
        elif auth:
            cmd += ["-basic", "%s:%s" % auth[1]]
        if sum_metric:
            cmd += ["-sum-metric", sum_metric]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True).stdout.decode().split()
        r = {out[i]: float(out[i + 1]) for i in range(0, len(out) - 1, 2)}
        if r["errors"]:
            raise SystemExit("scrapes of %s failed: %r" % (url, r))
        return r


# Conditions: (name, scheme, workers, gzip)
CONDS = {"http": ("http", 1, False), "http-gzip": ("http", 1, True),
         "https": ("https", 1, False), "https-4": ("https", 4, False)}


class Exporter:
    """One side of a comparison: URL, credentials and the PID whose CPU counts."""

    def __init__(self, pid, url, auth):
        self.pid, self.url, self.auth = pid, url, auth


class ScrapeBench:
    def __init__(self, build, rounds, idle_seconds, agent_class):
        self.build, self.rounds, self.idle_seconds = build, rounds, idle_seconds
        self.Agent = agent_class
        self.client = Client(build)
        self.runs = {}  # (who, level, cond) -> [run]
        self.memory = {}  # (level, scheme) -> (RSS, HWM)
        self.series = {}  # (level, scheme) -> series on the page
        self.server_side = None
        self.idle = None
        self.sets = {}
        self.fresh_flags = self.cache_flags(build)
        self.port = AGENT_PORT

    @staticmethod
    def cache_flags(build):
        """A flag that lets scrapes share a recent collection would make sequential
        scrapes measure a cached page: set it to 0 when this agent has one."""
        out = subprocess.run([os.path.join(build, "ctrlscope"), "--help"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
        m = re.search(r"(--web\.[\w.-]*min-age)=", out)  # e.g. --web.snapshot-min-age
        return [m.group(1) + "=0s"] if m else []

    def run_one(self, who, level, cond, exp, n, sum_metric=None):
        scheme, workers, gz = CONDS[cond]
        before = cpu_seconds(exp.pid)
        r = self.client.run(exp.url, n, workers, gz, exp.auth, sum_metric)
        r["cpu_s"] = cpu_seconds(exp.pid) - before
        self.runs.setdefault((who, level, cond), []).append(r)
        return r

    def scrapes_for(self, exp, cond):
        """Scrapes in one run: SCRAPE_SECONDS at the latency a short probe shows."""
        scheme, workers, gz = CONDS[cond]
        r = self.client.run(exp.url, 5, 1, gz, exp.auth)
        return max(40, min(200, int(SCRAPE_SECONDS / max(r["p50_ms"] / 1e3, 1e-4))))

    def window(self, level, scheme, agent_exp, ne_exp, conds, label=None, hist=False):
        """Rounds of the agent's and node_exporter's runs of conds, alternating."""
        label = label or level
        n = {c: (self.scrapes_for(agent_exp, c), self.scrapes_for(ne_exp, c)) for c in conds}
        for r in range(self.rounds):
            print("scrape %s %s round %d/%d" % (label, scheme, r + 1, self.rounds),
                  file=sys.stderr)
            for cond in conds:
                pair = [("agent", agent_exp, n[cond][0]), ("ne", ne_exp, n[cond][1])]
                for who, exp, count in pair if r % 2 == 0 else pair[::-1]:
                    if who == "agent":
                        self.agent_run(level, cond, exp, count, label, hist and cond == "https")
                    else:
                        self.run_one("ne", level, cond, exp, count)

    def agent_run(self, level, cond, exp, n, label, server_side):
        """One run of the agent; with server_side, its own collection times too."""
        if not server_side:
            self.run_one("agent", label, cond, exp, n)
            return
        before = histogram(exp.agent.metrics(), "ctrlscope_snapshot_duration_seconds")
        r = self.run_one("agent", label, cond, exp, n,
                         None if before else "ctrlscope_collect_duration_seconds")
        if before:
            after = histogram(exp.agent.metrics(), "ctrlscope_snapshot_duration_seconds")
            ss = self.server_side or {"source": "histogram", "before": before}
            ss["after"] = after
            self.server_side = ss
        else:
            ss = self.server_side or {"source": "gauge", "p99": []}
            ss["p99"].append(r["sum_p99"])
            self.server_side = ss

    def start_agent(self, level, scheme, pki, label_sets=None):
        extra = ""
        if label_sets:
            extra += "limits:\n  label_sets: %d\n" % label_sets
        if level > 10000:
            # (label set, syscall) pairs: ~9 a label set, past the default 1024 at 40k.
            extra += "modules:\n  syscalls:\n    max_entries: 4096\n"
        self.port += 1
        web = pki.agent_web if scheme == "https" else None
        agent = self.Agent(self.build, self.port,
                           selector="comm: [%s]" % ", ".join(NAME % i for i in range(MAX_SETS)),
                           args=(["--web.config.file=" + web] if web else []) + self.fresh_flags,
                           extra=extra, web_config=web, token=TOKEN)
        exp = Exporter(agent.p.pid, agent.url + "/metrics",
                       ("token", TOKEN) if scheme == "https" else None)
        exp.agent = agent
        return agent, exp

    def label_sets_for(self, level, agent, loads):
        """Label sets for about level series: one set's series measured on this agent."""
        if not self.sets:
            base = count_series(agent.metrics())
            loads.spawn(0, 1)
            time.sleep(0.2)
            per = count_series(agent.metrics()) - base
            for lv in LEVELS:
                self.sets[lv] = max(1, min(MAX_SETS, round((lv - base) / per)))
            return self.sets[level], 1
        return self.sets[level], 0

    def agent_window(self, level, scheme, pki, ne, conds, label_sets=None, label=None,
                     hist=False, idle=False):
        agent, exp = self.start_agent(level, scheme, pki, label_sets)
        loads = Loads(self.build)
        try:
            n, started = self.label_sets_for(level, agent, loads)
            loads.spawn(started, n - started)
            time.sleep(0.2)
            key = (label or level, scheme)
            self.series[key] = count_series(agent.metrics())
            self.window(level, scheme, exp, ne[scheme], conds, label, hist)
            # Between scrapes, as Prometheus's interval leaves it: the agent frees the
            # last page and trims its heap at its next tick.
            time.sleep(2)
            self.memory[key] = memory_mb(agent.p.pid)
            if idle:
                self.measure_idle(agent)
        finally:
            loads.stop()
            agent.stop()

    def measure_idle(self, agent):
        """The agent's CPU and wakeups while nothing scrapes it. Processes started on the
        machine meanwhile (anyone's) are evaluated against its selectors: that work is
        counted too, and the number of evaluations says how much of it there was."""
        print("scrape: idle agent for %d s" % self.idle_seconds, file=sys.stderr)
        pid = agent.p.pid
        ev0 = evaluations(agent.metrics())
        time.sleep(1)
        c0, s0, w0, t0 = cpu_seconds(pid), stat_cpu_seconds(pid), context_switches(pid), time.time()
        time.sleep(self.idle_seconds)
        dt = time.time() - t0
        self.idle = {"cpu_pct": (cpu_seconds(pid) - c0) / dt * 100,
                     "stat_cpu_pct": (stat_cpu_seconds(pid) - s0) / dt * 100,
                     "wakeups": (context_switches(pid) - w0) / dt, "seconds": dt}
        self.idle["evaluations"] = evaluations(agent.metrics()) - ev0

    def run(self):
        ne_binary = os.path.join(self.build, "tools", "node_exporter", "usr", "bin",
                                 "prometheus-node-exporter")
        if not os.path.exists(ne_binary):
            raise SystemExit("%s is missing: make deps" % ne_binary)
        pki = Pki()
        nes = []
        try:
            nes.append(NodeExporter(ne_binary, NE_PORTS[0]))
            nes.append(NodeExporter(ne_binary, NE_PORTS[1], pki.ne_web))
            basic = ("basic", BASIC) if pki.ne_basic else None
            ne = {"http": Exporter(nes[0].pid, nes[0].url, None),
                  "https": Exporter(nes[1].pid, nes[1].url, basic)}
            self.ne_series = count_series(urllib.request.urlopen(nes[0].url).read().decode())
            for level in LEVELS:
                self.agent_window(level, "http", pki, ne, ("http", "http-gzip"))
                if level == LEVELS[0]:
                    self.agent_window(level, "http", pki, ne, ("http",), label_sets=65536,
                                      label="1k-65536")
                self.agent_window(level, "https", pki, ne, ("https", "https-4"),
                                  hist=level == 10000, idle=level == 10000)
        finally:
            for p in nes:
                p.stop()
            pki.remove()
        self.report(pki.ne_basic)

    # --- the table -------------------------------------------------------------------

    def med(self, who, level, cond, fn):
        runs = self.runs.get((who, level, cond))
        return statistics.median(fn(r) for r in runs) if runs else float("nan")

    def ne_med(self, cond, fn):
        """node_exporter's median over all its runs of cond, every level's windows."""
        vals = [fn(r) for (who, _, c), runs in self.runs.items() if who == "ne" and c == cond
                for r in runs]
        return statistics.median(vals)

    def report(self, ne_basic):
        cols = [(lv, "ctrlscope ~%dk" % (lv // 1000)) for lv in LEVELS]
        w = 16
        print()
        print("Scrapes of /metrics: ctrlscope (target processes with distinct names: series as "
              "counted on its page) and node_exporter 1.5 (default collectors), median of %d "
              "rounds; one kept-alive connection per scraper; CPU = the exporter's own"
              % self.rounds)
        print("%-44s" % "" + "".join("%*s" % (w, c) for _, c in cols)
              + "%*s" % (w, "node_exporter"))

        def row(label, agent_fn, ne_fn):
            print("%-44s" % label + "".join("%*s" % (w, agent_fn(lv)) for lv, _ in cols)
                  + "%*s" % (w, ne_fn()))

        row("series (HTTP / HTTPS page)",
            lambda lv: "%d/%d" % (self.series[(lv, "http")], self.series[(lv, "https")]),
            lambda: "%d" % self.ne_series)

        def lat(cond):
            def a(lv):
                return "%.2f/%.2f" % (self.med("agent", lv, cond, lambda r: r["p50_ms"]),
                                      self.med("agent", lv, cond, lambda r: r["p99_ms"]))

            def n():
                return "%.2f/%.2f" % (self.ne_med(cond, lambda r: r["p50_ms"]),
                                      self.ne_med(cond, lambda r: r["p99_ms"]))
            return a, n
        ne_auth = "basic auth" if ne_basic else "no auth"
        row("HTTP sequential p50/p99 ms", *lat("http"))
        row("HTTPS+token sequential p50/p99 ms", *lat("https"))
        row("HTTPS+token 4 scrapers p50/p99 ms", *lat("https-4"))
        print("(node_exporter over HTTPS: %s; it has no static bearer tokens)" % ne_auth)

        def per_cpu(r, key):
            return (r["bytes"] if key == "bytes" else r["series"] * r["requests"]) / r["cpu_s"]

        def ratio(cond, key):
            ne_v = self.ne_med(cond, lambda r: per_cpu(r, key))
            return (lambda lv: "%.1fx" % (self.med("agent", lv, cond, lambda r: per_cpu(r, key))
                                          / ne_v),
                    lambda: "1x (%.1f %s)" % (ne_v / (1e6 if key == "bytes" else 1e3),
                                              "MB" if key == "bytes" else "k"))
        row("bytes per exporter CPU-s, HTTP (x ne)", *ratio("http", "bytes"))
        row("bytes per exporter CPU-s, HTTPS (x ne)", *ratio("https", "bytes"))
        row("series per exporter CPU-s, HTTPS (x ne)", *ratio("https", "series"))

        def cpu_ms(cond):
            return (lambda lv: "%.2f" % self.med("agent", lv, cond,
                                                 lambda r: r["cpu_s"] / r["requests"] * 1e3),
                    lambda: "%.2f" % self.ne_med(cond, lambda r: r["cpu_s"] / r["requests"] * 1e3))
        for label, cond in (("CPU ms per scrape, HTTP", "http"),
                            ("CPU ms per scrape, HTTP+gzip", "http-gzip"),
                            ("CPU ms per scrape, HTTPS", "https"),
                            ("CPU ms per scrape, HTTPS 4 scrapers", "https-4")):
            row(label, *cpu_ms(cond))
        row("RSS MB 2 s after the scrapes (HTTP / HTTPS)",
            lambda lv: "%.1f/%.1f" % (self.memory[(lv, "http")][0], self.memory[(lv, "https")][0]),
            lambda: "")
        row("peak RSS MB (VmHWM, HTTP / HTTPS)",
            lambda lv: "%.1f/%.1f" % (self.memory[(lv, "http")][1], self.memory[(lv, "https")][1]),
            lambda: "")
        print("(~40k: modules.syscalls.max_entries 4096, as the default 1024 (label set, "
              "syscall) pairs hold ~30k series; the other columns run with default limits)")
        idle = self.idle
        print("idle, ~10k series, HTTPS, not scraped for %.0f s: CPU %.4f%% of a core "
              "(schedstat; /proc/PID/stat: %.4f%%), %.2f wakeups/s"
              % (idle["seconds"], idle["cpu_pct"], idle["stat_cpu_pct"], idle["wakeups"]))
        print("(meanwhile the agent evaluated %.0f processes started on this machine against "
              "its selectors)" % idle["evaluations"])
        c256 = self.med("agent", LEVELS[0], "http", lambda r: r["cpu_s"] / r["requests"] * 1e3)
        c64k = self.med("agent", "1k-65536", "http", lambda r: r["cpu_s"] / r["requests"] * 1e3)
        print("~1k series, HTTP: CPU ms per scrape %.3f at limits.label_sets 256, %.3f at 65536 "
              "(%d series)" % (c256, c64k, self.series[("1k-65536", "http")]))
        conns = sum(r["conns"] for runs in self.runs.values() for r in runs)
        shakes = sum(r["handshakes"] for runs in self.runs.values() for r in runs)
        print("new connections during measured scrapes: %d, TLS handshakes: %d (0: every "
              "scraper kept its connection)" % (conns, shakes))
        print("fresh collections: %s" % (
            "every scrape collects (%s)" % " ".join(self.fresh_flags) if self.fresh_flags
            else "every scrape collects (this agent has no scrape cache)"))
        print()
        self.goals(c256, c64k)

    def goals(self, c256, c64k):
        def goal(text, value, ok):
            print("goal: %s: %s %s" % (text, value, "met" if ok else "NOT met"))

        lo = LEVELS[0]
        p99 = self.med("agent", lo, "https", lambda r: r["p99_ms"])
        goal("HTTPS+token ~1k series, sequential p99 <= 5 ms", "%.2f ms" % p99, p99 <= 5)

        def bytes_ratio(lv):
            ne_v = self.ne_med("https", lambda r: r["bytes"] / r["cpu_s"])
            return self.med("agent", lv, "https", lambda r: r["bytes"] / r["cpu_s"]) / ne_v
        b1, b10 = bytes_ratio(lo), bytes_ratio(10000)
        goal("HTTPS ~1k series, bytes per exporter CPU-s >= 5x node_exporter's",
             "%.1fx" % b1, b1 >= 5)
        goal("HTTPS ~10k series, bytes per exporter CPU-s >= 20x node_exporter's",
             "%.1fx" % b10, b10 >= 20)
        ss = self.server_side
        if ss["source"] == "histogram":
            le, total = histogram_p99(ss["before"], ss["after"])
            goal("fresh ~10k-series collect+render p99 <= 10 ms server-side "
                 "(ctrlscope_snapshot_duration_seconds, %d scrapes)" % total,
                 "<= %.2f ms" % (le * 1e3), le <= 0.010)
        else:
            v = statistics.median(ss["p99"]) * 1e3
            goal("fresh ~10k-series collect+render p99 <= 10 ms server-side (sum of "
                 "ctrlscope_collect_duration_seconds{module} per scrape)", "%.2f ms" % v, v <= 10)
        d = (c64k - c256) / c256 * 100
        goal("~1k series cost the same (+-20%) at label_sets 256 and 65536",
             "%+.0f%% CPU per scrape" % d, abs(d) <= 20)
        rss = self.memory[(10000, "https")][0]
        goal("RSS <= 16 MB at ~10k series, default limits (HTTPS)", "%.1f MB" % rss, rss <= 16)
        idle = self.idle["cpu_pct"]
        goal("idle CPU <= 0.05%% of a core (%.0f s)" % self.idle["seconds"], "%.4f%%" % idle,
             idle <= 0.05)


def scrape_bench(build, rounds, idle_seconds, agent_class):
    ScrapeBench(build, rounds, idle_seconds, agent_class).run()
