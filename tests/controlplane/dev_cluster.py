#!/usr/bin/env python3
"""make dev-cluster: the tests' control plane (a real kube-apiserver and etcd on loopback,
tests/e2e/harness.py's ControlPlane) with the chart's RBAC installed, for running the agent
by hand against it. Prints kubeconfigs for the admin and for the chart's agent
ServiceAccount, a scraper's token, and how to start the agent; then runs until Ctrl-C (or
for --seconds), and removes everything it made."""

import argparse
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402
from harness import PKI, ControlPlane  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=0, help="0: until Ctrl-C")
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)
    pki = PKI()
    ca = pki.ca("ca")
    cp = ControlPlane(pki, ca)
    try:
        print("kube-apiserver ready at %s in %.1fs (etcd on 127.0.0.1:%d)" % (
            cp.url, cp.ready_seconds, cp.etcd_port))
        cp.install_chart_rbac()
        agent = cp.agent_kubeconfig()
        scraper = pki.path("scraper.token")
        with open(scraper, "w") as f:
            f.write(cp.token(cp.CHART_NS, "t-ctrlscope-scraper", seconds=24 * 3600))
        print("admin kubeconfig: %s" % cp.kubeconfig())
        print("the chart's RBAC is installed (release t, namespace %s)" % cp.CHART_NS)
        print("agent kubeconfig (ServiceAccount %s/t-ctrlscope): %s" % (cp.CHART_NS, agent))
        print("a scraper's token (bound to the metrics-reader ClusterRole): %s" % scraper)
        print("the agent against it, with Kubernetes targets on a node called node-1:")
        print("  NODE_NAME=node-1 %s/ctrlscope --kubeconfig=%s --config.file=... "
              "--web.config.file=... --web.listen-address=127.0.0.1:9464" % (
                  harness.BUILD, agent))
        print("  (a web config with authentication/authorization: kubernetes: {} makes it "
              "review scrapers with this API server)")
        print("logs: %s" % pki.dir)
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        deadline = time.time() + args.seconds if args.seconds else None
        while deadline is None or time.time() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cp.stop()
        shutil.rmtree(pki.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
