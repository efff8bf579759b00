#!/usr/bin/env python3
"""The soak tier: the agent under everything at once for a while (make soak: 30 minutes;
make check: 60 s), printed as TAP.

- churn: short-lived target processes, each making K calls the moment it starts, and as
  many short-lived processes of another name;
- scrapes: 10 a second over one kept-alive HTTPS connection (a bearer token), and every
  tenth on a new connection, plus the health listener;
- reloads: the ConfigMap-style ..data link swapped every 10 s between two valid
  configurations (a second target comes and goes), an invalid one every 30 s.

Asserted at the end: no scrape failed, every reload counted with its result, exact counts
(N starts, N exits, N*K calls), no process left selected and no label set of the other
target left once its grace passed (label_set_grace: 10s), and flat memory and file descriptors (the last third's
RSS within 10% or 4 MiB of the first third's, after a warm-up; fds the same). The curve
of RSS and fds is printed as TAP comments."""

import argparse
import http.client
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402
from harness import PKI, Scene, free_port, key  # noqa: E402

K = 4
NAME, OTHER, UNRELATED = "soakload", "soakother", "soakunrel"


def config(with_other):
    text = ("targets:\n  - name: soak\n    process:\n      comm: [%s]\n" % NAME)
    if with_other:
        text += "  - name: other\n    process:\n      comm: [%s]\n" % OTHER
    return text + "label_set_grace: 10s\nmodules:\n  net:\n    enabled: false\n"


class ConfigMap:
    """config.yaml -> ..data/config.yaml, ..data -> ..vN: the kubelet's layout."""

    def __init__(self, path):
        self.path, self.n = path, 0

    def swap(self, text):
        self.n += 1
        version = os.path.join(self.path, "..v%d" % self.n)
        os.mkdir(version)
        with open(os.path.join(version, "config.yaml"), "w") as f:
            f.write(text)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink("..v%d" % self.n, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))
        if self.n > 2:  # the kubelet removes the old version
            shutil.rmtree(os.path.join(self.path, "..v%d" % (self.n - 2)))

    def link(self):
        tmp = os.path.join(self.path, "config.yaml.tmp")
        os.symlink("..data/config.yaml", tmp)
        os.rename(tmp, os.path.join(self.path, "config.yaml"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)

    results = []

    def check(name, ok, detail=""):
        results.append((name, ok, detail))

    d = tempfile.mkdtemp(prefix="ctrlscope-soak-")
    bins = {}
    for n in (NAME, OTHER, UNRELATED):
        bins[n] = os.path.join(d, n)
        shutil.copy(os.path.join(harness.BUILD, "fixtures", "sysload"), bins[n])
    pki = PKI()
    ca = pki.ca("ca")
    server = pki.cert("server", ca, "ctrlscope", usage="serverAuth")
    tokens = pki.path("tokens.csv")
    with open(tokens, "w") as f:
        f.write("soak-secret,prometheus,uid-1\n")
    web = ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
           "authentication:\n  static_tokens_file: %s\n" % (server[0], server[1], tokens))
    auth = {"Authorization": "Bearer soak-secret"}
    health = free_port()
    curve, failures, scrapes = [], [], 0
    spawned = {NAME: 0}
    reloads = {"success": 0, "failure": 0}
    try:
        with Scene() as s:
            agent = s.agent(config(True), web_config=web, ca=ca[0],
                            args=["--web.health-address=127.0.0.1:%d" % health,
                                  "--log.level=info"])
            cm = ConfigMap(agent.dir)
            cm.swap(config(True))
            cm.link()  # the same bytes: not a reload
            ctx = ssl.create_default_context(cafile=ca[0])
            conn = http.client.HTTPSConnection("127.0.0.1", agent.port, timeout=5, context=ctx)
            start = time.time()
            end = start + args.seconds
            next_reload, next_bad, next_sample, with_other = start + 10, start + 25, start, True
            procs = []
            while time.time() < end:
                now = time.time()
                # Churn: a target, the other target (when configured), an unrelated one.
                for name in (NAME, OTHER, UNRELATED):
                    p = subprocess.Popen([bins[name], "--getppid", str(K)],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                    p.stdin.write(b"g")
                    p.stdin.close()
                    procs.append((name, p, None))
                for name, p, _ in procs:
                    if p.wait() != 0:
                        failures.append("%s exited with %d" % (name, p.returncode))
                    spawned[NAME] += name == NAME
                procs = []
                # Scrapes: kept alive, every tenth on a new connection, and the probes.
                for i in range(3):
                    try:
                        if scrapes % 10 == 9:
                            conn.close()
                        conn.request("GET", "/metrics", headers=auth)
                        resp = conn.getresponse()
                        body = resp.read()
                        if resp.status != 200 or b"ctrlscope_build_info" not in body:
                            failures.append("scrape %d: %d" % (scrapes, resp.status))
                    except (OSError, http.client.HTTPException) as e:
                        failures.append("scrape %d: %r" % (scrapes, e))
                        conn = http.client.HTTPSConnection("127.0.0.1", agent.port,
                                                           timeout=5, context=ctx)
                    scrapes += 1
                h = http.client.HTTPConnection("127.0.0.1", health, timeout=5)
                try:
                    h.request("GET", "/healthz")
                    if h.getresponse().status != 200:
                        failures.append("healthz")
                except OSError as e:
                    failures.append("healthz: %r" % e)
                finally:
                    h.close()
                # Reloads.
                if now >= next_bad:
                    cm.swap("targets: [\n")
                    reloads["failure"] += 1
                    next_bad += 30
                    time.sleep(0.5)
                    # The running configuration's own bytes again: nothing to reload.
                    cm.swap(config(with_other))
                    next_reload = now + 10
                elif now >= next_reload:
                    with_other = not with_other
                    cm.swap(config(with_other))
                    reloads["success"] += 1
                    next_reload += 10
                if now >= next_sample:
                    curve.append((now - start, rss_kib(agent.proc.pid), fds(agent.proc.pid)))
                    next_sample += max(1, args.seconds / 30)
                time.sleep(0.05)
            conn.close()
            # The counts at once (the label sets go label_set_grace after their last
            # process); then the sweeps, and the grace of a removed target's label sets.
            time.sleep(1)
            m = agent.metrics(headers=auth)
            labels = dict(target="soak", comm=NAME)
            n = spawned[NAME]
            got = (m.get(key("ctrlscope_process_starts_total", **labels)),
                   m.get(key("ctrlscope_process_exits_total", reason="exited", code="0",
                             **labels)),
                   m.get(key("ctrlscope_syscalls_total", syscall="getppid", **labels)))
            deadline = time.time() + 40
            while True:
                m = agent.metrics(headers=auth)
                selected = m.get(key("ctrlscope_target_processes", target="soak"))
                other_sets = [k for k in m if k[0] == "ctrlscope_syscalls_total"
                              and ("target", "other") in k[1]]
                if selected == 0 and (with_other or not other_sets):
                    break
                if time.time() > deadline:
                    break
                time.sleep(0.5)
            check("every scrape and probe answered", not failures,
                  "%d scrapes; %s" % (scrapes, failures[:5]))
            check("exact counts: %d starts, exits, %d calls" % (n, n * K),
                  got == (n, n, n * K), "got %s" % (got,))
            check("no process left selected", selected == 0, "selected: %s" % selected)
            check("the removed target's label sets released",
                  with_other or not other_sets, "%d series left" % len(other_sets))
            want = {"success": reloads["success"], "failure": reloads["failure"]}
            counted = {r: m.get(key("ctrlscope_config_reloads_total", result=r)) for r in want}
            check("every reload counted with its result", counted == want,
                  "counted %s, made %s" % (counted, want))
            check("nothing unrelated measured",
                  not [k for k in m if ("comm", UNRELATED) in k[1]])
            warm = [c for c in curve if c[0] >= min(10, args.seconds / 3)]
            third = max(1, len(warm) // 3)
            first = sorted(c[1] for c in warm[:third])[third // 2] if warm else 0
            last = sorted(c[1] for c in warm[-third:])[third // 2] if warm else 0
            check("flat memory", warm and last <= max(first * 1.10, first + 4096),
                  "RSS %d KiB then %d KiB" % (first, last))
            check("flat file descriptors", warm and warm[-1][2] <= warm[0][2] + 2,
                  "fds %d then %d" % (warm[0][2] if warm else 0, warm[-1][2] if warm else 0))
            rc = agent.stop()
            check("stopped cleanly", rc == 0, "exit %s" % rc)
            if args.build.rstrip("/").endswith("asan"):
                with open(agent.log_path) as f:
                    log = f.read()
                check("no sanitizer report", "ERROR: AddressSanitizer" not in log and
                      "runtime error:" not in log)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("1..%d" % len(results))
    for i, (name, ok, detail) in enumerate(results, 1):
        print("%s %d - soak.%s%s" % ("ok" if ok else "not ok", i, name,
                                      "" if ok or not detail else "\n#   " + detail))
    print("# %d s, %d scrapes, %d target processes, reloads %s" %
          (args.seconds, scrapes, spawned[NAME], reloads))
    print("# curve: seconds, RSS KiB, fds")
    for t, rss, n in curve:
        print("#   %6.0f %8d %4d" % (t, rss, n))
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
