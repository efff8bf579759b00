"""The chart against a real kube-apiserver and etcd (the harness's ControlPlane): every
object of every ci/ scenario passes the API server's own validation. How the chart's RBAC
decides who scrapes is in test_kube_auth; the pod watch in test_kube_targets."""

import glob
import os

import yaml

from harness import BUILD, PKI, ROOT, Scene, helm_objects

NS = "monitoring"


def test_every_ci_scenario_of_the_chart_passes_the_real_api_servers_validation():
    """Every object of every helm/ctrlscope/ci scenario, created with server-side dry run on
    the real API server (its schemas, defaulting and admission), with the real CRDs of
    cert-manager and the Prometheus operator installed first."""
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        cp = s.control_plane(pki, ca)
        crds = os.path.join(BUILD, "tools", "crds")
        for path in sorted(glob.glob(os.path.join(crds, "*.yaml"))):
            with open(path) as f:
                for crd in yaml.safe_load_all(f):
                    if crd:
                        cp.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  crd)
        cp.namespace(NS)
        resources = discover(cp)
        failures, n = [], 0
        for scenario in sorted(glob.glob(os.path.join(ROOT, "helm", "ctrlscope", "ci",
                                                      "*-values.yaml"))):
            for obj in helm_objects(values_file=scenario):
                group_version, kind = obj["apiVersion"], obj["kind"]
                plural, namespaced = resources[(group_version, kind)]
                base = "/api/v1" if group_version == "v1" else "/apis/" + group_version
                ns = obj["metadata"].get("namespace", NS)
                path = "%s/%s%s?dryRun=All&fieldValidation=Strict" % (
                    base, "namespaces/%s/" % ns if namespaced else "", plural)
                status, body = cp.request("POST", path, obj)
                n += 1
                if status not in (200, 201):
                    failures.append("%s: %s %s: %d %s" % (
                        os.path.basename(scenario), kind, obj["metadata"]["name"], status,
                        body.get("message") if isinstance(body, dict) else body))
        assert not failures, "\n".join(failures)
        print("%d objects of every scenario accepted" % n)


def discover(cp, timeout=30):
    """(apiVersion, kind) -> (plural, namespaced), from the API server's discovery; waits
    for the CRDs just created to be served."""
    import time
    deadline = time.time() + timeout
    while True:
        out = {}
        groups = [("v1", "/api/v1")]
        for g in cp.must("GET", "/apis")["groups"]:
            for v in g["versions"]:
                groups.append((v["groupVersion"], "/apis/" + v["groupVersion"]))
        for gv, path in groups:
            for r in cp.must("GET", path)["resources"]:
                if "/" not in r["name"]:
                    out[(gv, r["kind"])] = (r["name"], r["namespaced"])
        if ("monitoring.coreos.com/v1", "ServiceMonitor") in out and \
                ("cert-manager.io/v1", "Certificate") in out or time.time() > deadline:
            return out
        time.sleep(0.5)
