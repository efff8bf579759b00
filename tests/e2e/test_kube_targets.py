"""Kubernetes targets end to end: fixture processes in Kubernetes-shaped cgroup trees this
test creates under the cgroup2 mount, pods announced by the fake API server, the agent
watching the pods of its node. Counts are exact."""

import os
import secrets
import subprocess
import time
import uuid

import harness
from harness import PKI, Scene, key, series

NODE = "node-1"
CONFIG = """targets:
  - name: controllers
    kubernetes:
      namespaces: [cert-manager]
      pod_selector: "app in (cert-manager, ctl), tier!=web"
      containers: [manager]
kubernetes:
  deleted_pod_grace: 2s
"""
API_CONFIG = {"callers": {"tokens": ["agent-token"], "commonNames": []}, "tokens": [], "rules": []}


def pod(name, uid, containers, labels=None, namespace="cert-manager", node=NODE, template_hash="7d4b9c"):
    """A Pod as the API server returns it; containers: {name: (64-hex id, restarts)}."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid,
                     "labels": dict({"pod-template-hash": template_hash}, **(labels or {"app": "ctl"})),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "ctl-" + template_hash, "uid": str(uuid.uuid4()),
                                          "controller": True}]},
        "spec": {"nodeName": node, "containers": [{"name": c, "image": "x"} for c in containers]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": c, "containerID": "containerd://" + cid, "restartCount": restarts, "ready": True,
             "image": "x", "imageID": "x"} for c, (cid, restarts) in containers.items()]},
    }


def layout(kind, uid, cid, qos="burstable"):
    """The cgroup path (relative to our test base) kubelet and the runtime would create."""
    under = uid.replace("-", "_")
    if kind == "systemd-containerd":
        return "kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice/cri-containerd-%s.scope" % (
            qos, qos, under, cid)
    if kind == "systemd-crio":
        return "kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice/crio-%s.scope" % (qos, qos, under, cid)
    if kind == "cgroupfs":
        return "kubepods/%s/pod%s/%s" % (qos, uid, cid)
    raise ValueError(kind)


def start(scene, config=CONFIG):
    pki = PKI()
    ca = pki.ca("ca")
    api = scene.fakeapi(pki, ca, API_CONFIG)
    agent = scene.agent(config, args=["--kubeconfig=" + api.kubeconfig()], env={"NODE_NAME": NODE})
    return api, agent


def labels_of(namespace, pod_name, container="manager", workload="ctl"):
    return dict(target="controllers", namespace=namespace, pod=pod_name, container=container,
                workload=workload)


def getppid(agent, **labels):
    return agent.metrics().get(key("ctrlscope_syscalls_total", syscall="getppid", **labels), 0)


def run_fixture(scene, cgroup, calls):
    f = scene.fixture(["--getppid", str(calls)], cgroup)
    f.go()
    f.wait_done()


def test_layouts_labels_and_exact_counts():
    with Scene() as s:
        api, agent = start(s)
        cases = []
        for i, kind in enumerate(["systemd-containerd", "cgroupfs", "systemd-crio"]):
            uid, cid = str(uuid.uuid4()), secrets.token_hex(32)
            name = "ctl-7d4b9c-%d" % i
            api.put_pod(pod(name, uid, {"manager": (cid, 0), "sidecar": (secrets.token_hex(32), 0)}))
            path = s.cgroup(layout(kind, uid, cid))
            if kind == "systemd-crio":  # the CRI-O monitor's sibling scope is never a container
                s.cgroup(os.path.dirname(layout(kind, uid, cid)) + "/crio-conmon-%s.scope" % cid)
            cases.append((name, path, 100 + i))
        agent.wait_for("ctrlscope_target_cgroups", 3, target="controllers")
        for name, path, calls in cases:
            run_fixture(s, path, calls)
        m = agent.metrics()
        for name, _, calls in cases:
            got = m.get(key("ctrlscope_syscalls_total", syscall="getppid", **labels_of("cert-manager", name)))
            assert got == calls, (name, got, calls)
        assert m[("ctrlscope_kube_pods", (("state", "running"),))] == 3


def test_selectors_exclude_other_pods_and_containers():
    with Scene() as s:
        api, agent = start(s)
        good_uid, good_cid, side_cid = str(uuid.uuid4()), secrets.token_hex(32), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-a", good_uid, {"manager": (good_cid, 0), "sidecar": (side_cid, 0)}))
        other = []
        for name, labels, ns in [("web-1", {"app": "ctl", "tier": "web"}, "cert-manager"),
                                 ("ctl-elsewhere", {"app": "ctl"}, "kube-system"),
                                 ("unrelated", {"app": "nginx"}, "cert-manager")]:
            uid, cid = str(uuid.uuid4()), secrets.token_hex(32)
            api.put_pod(pod(name, uid, {"manager": (cid, 0)}, labels=labels, namespace=ns))
            other.append(s.cgroup(layout("systemd-containerd", uid, cid)))
        # A pod on another node is not ours even if it matches.
        uid, cid = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-other-node", uid, {"manager": (cid, 0)}, node="node-2"))
        other.append(s.cgroup(layout("systemd-containerd", uid, cid)))
        good = s.cgroup(layout("systemd-containerd", good_uid, good_cid))
        side = s.cgroup(layout("systemd-containerd", good_uid, side_cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        time.sleep(0.5)
        run_fixture(s, good, 250)
        for path in other + [side]:
            run_fixture(s, path, 999)
        m = agent.metrics()
        got = series(m, "ctrlscope_syscalls_total", syscall="getppid")
        assert list(got.values()) == [250], got
        assert dict(list(got)[0])["pod"] == "ctl-7d4b9c-a"
        assert m[key("ctrlscope_target_cgroups", target="controllers")] == 1


def test_restart_continues_series_and_deletion_removes_it():
    with Scene() as s:
        api, agent = start(s)
        uid, first = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-r", uid, {"manager": (first, 0)}))
        path = s.cgroup(layout("systemd-containerd", uid, first))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        run_fixture(s, path, 300)
        labels = labels_of("cert-manager", "ctl-7d4b9c-r")
        assert getppid(agent, **labels) == 300
        # The container restarts: a new id, a new cgroup; the series continues.
        second = secrets.token_hex(32)
        new_path = s.cgroup(layout("systemd-containerd", uid, second))
        os.rmdir(s.cgroups.mount + path)
        api.put_pod(pod("ctl-7d4b9c-r", uid, {"manager": (second, 1)}))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        deadline = time.time() + 5
        while True:
            try:
                run_fixture(s, new_path, 200)
                break
            except AssertionError:
                assert time.time() < deadline
        assert getppid(agent, **labels) == 500
        # Deleted: the series stays for the grace period, then goes.
        api.delete_pod("cert-manager", "ctl-7d4b9c-r")
        assert getppid(agent, **labels) == 500
        deadline = time.time() + 10
        while getppid(agent, **labels):
            assert time.time() < deadline, "series of a deleted pod still there"
            time.sleep(0.2)
        m = agent.metrics()
        assert not series(m, "ctrlscope_syscalls_total", pod="ctl-7d4b9c-r")
        assert m[("ctrlscope_kube_containers", ())] == 0


def init(scene, cgroup):
    """The fixture as a container's init: PID 1 of its own PID namespace, joining cgroup
    itself, then executing its program again like an entrypoint script."""
    return scene.fixture(["--pidns-init", scene.cgroups.procs_file(cgroup), "--reexec",
                          "--exit", "3"])


def test_container_starts_and_exits_are_counted_per_container():
    """A container's init (PID 1 of a new PID namespace) joins its cgroup before it
    executes its program, as runc's does: the exec is its start. Two runs of the
    container, each re-executing itself like an entrypoint script and exiting 3: two
    starts, two exits, one label set. The restart runs in a new cgroup that the pod's
    status names only after the program started (as kubelet reports it): its start is
    counted when the agent selects the cgroup. A process run in the container beside its
    init (kubectl exec) is neither a start nor an exit of the container."""
    with Scene() as s:
        api, agent = start(s)
        uid, first = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-s", uid, {"manager": (first, 0)}))
        path = s.cgroup(layout("systemd-containerd", uid, first))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        labels = labels_of("cert-manager", "ctl-7d4b9c-s")
        for run, (cid, cgroup) in enumerate(((first, path), (None, None))):
            if cid is None:
                # The restart: the old cgroup goes, the new one is known before it runs.
                os.rmdir(s.cgroups.mount + path)
                agent.wait_for("ctrlscope_target_cgroups", 0, target="controllers")
                cid = secrets.token_hex(32)
                cgroup = s.cgroup(layout("systemd-containerd", uid, cid))
                f = init(s, cgroup)
                api.put_pod(pod("ctl-7d4b9c-s", uid, {"manager": (cid, 1)}))
                agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
            else:
                f = init(s, cgroup)
            agent.wait_for("ctrlscope_threads", 1, **labels)
            if run == 0:
                # kubectl exec: a process beside the init, exiting 5.
                session = s.fixture(["--exit", "5"], cgroup)
                agent.wait_for("ctrlscope_threads", 2, **labels)
                assert session.run_to_exit() == 5
                agent.wait_for("ctrlscope_threads", 1, **labels)
            assert f.run_to_exit() == 3
            want_exits = run + 1
            agent.wait_for("ctrlscope_process_exits_total", want_exits, reason="exited", code="3",
                           **labels)
        m = agent.metrics()
        assert m[key("ctrlscope_process_starts_total", **labels)] == 2, series(m, "ctrlscope_process_starts_total")
        assert series(m, "ctrlscope_process_exits_total", pod="ctl-7d4b9c-s") == {
            key("ctrlscope_process_exits_total", reason="exited", code="3", **labels)[1]: 2}


def test_one_list_one_watch_and_recovery_without_loss_or_duplicates():
    with Scene() as s:
        api, agent = start(s)
        uid, cid = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-w", uid, {"manager": (cid, 0)}))
        path = s.cgroup(layout("systemd-containerd", uid, cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        c = api.counters()
        assert (c["pods_lists"], c["pods_watches"]) == (1, 1), c
        for r in c["requests"]:
            if "/pods" in r["path"]:
                assert "fieldSelector=spec.nodeName%3Dnode-1" in r["query"], r
        # 410 Gone: the agent lists again; nothing is lost or counted twice.
        api.expire()
        deadline = time.time() + 10
        while agent.metrics().get(("ctrlscope_kube_pods_relists_total", ()), 0) < 1:
            assert time.time() < deadline, "no relist after 410"
            time.sleep(0.2)
        # A pod added while the watch is closed (an API server restart) arrives all the same.
        api.close_watches()
        uid2, cid2 = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-x", uid2, {"manager": (cid2, 0)}))
        path2 = s.cgroup(layout("systemd-containerd", uid2, cid2))
        agent.wait_for("ctrlscope_target_cgroups", 2, target="controllers")
        run_fixture(s, path, 111)
        run_fixture(s, path2, 222)
        m = agent.metrics()
        assert m[key("ctrlscope_syscalls_total", syscall="getppid", **labels_of("cert-manager", "ctl-7d4b9c-w"))] == 111
        assert m[key("ctrlscope_syscalls_total", syscall="getppid", **labels_of("cert-manager", "ctl-7d4b9c-x"))] == 222
        assert m[("ctrlscope_kube_pods", (("state", "running"),))] == 2
        for r in api.counters()["requests"]:
            if "/pods" in r["path"]:
                assert "fieldSelector=spec.nodeName%3Dnode-1" in r["query"], r


def test_readme_documents_the_kubernetes_metrics():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    with Scene() as s:
        _, agent = start(s)
        agent.wait_for("ctrlscope_kube_pods_synced", 1)
        text = agent.scrape()
    families = [line.split()[2] for line in text.split("\n") if line.startswith("# TYPE ")]
    assert "ctrlscope_kube_pods" in families and "ctrlscope_kube_containers" in families
    missing = [f for f in families if "`%s`" % f not in readme]
    assert not missing, "README lacks %s" % missing


def test_agent_in_its_own_cgroup_namespace():
    """The agent resolves cgroups from the mount, not from /proc/<pid>/cgroup: in a private
    cgroup namespace (as containers run) it measures exactly the same."""
    with Scene() as s:
        pki = PKI()
        ca = pki.ca("ca")
        api = s.fakeapi(pki, ca, API_CONFIG)
        home = s.cgroup("agent")
        agent = s.agent(CONFIG, args=["--kubeconfig=" + api.kubeconfig()], env={"NODE_NAME": NODE},
                        wrap=["unshare", "--cgroup"], cgroup_procs=s.cgroups.procs_file(home))
        assert os.readlink("/proc/%d/ns/cgroup" % agent.proc.pid) != os.readlink("/proc/self/ns/cgroup"), \
            "the agent is not in its own cgroup namespace"
        uid, cid = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-ns", uid, {"manager": (cid, 0)}))
        path = s.cgroup(layout("cgroupfs", uid, cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        run_fixture(s, path, 123)
        assert getppid(agent, **labels_of("cert-manager", "ctl-7d4b9c-ns")) == 123


def test_api_server_restart_keeps_targets():
    with Scene() as s:
        uid, cid = str(uuid.uuid4()), secrets.token_hex(32)
        first = pod("ctl-7d4b9c-p", uid, {"manager": (cid, 0)})
        pki = PKI()
        ca = pki.ca("ca")
        # etcd keeps pods across an API server restart: the fake preloads them from its config.
        api = s.fakeapi(pki, ca, dict(API_CONFIG, pods=[first]))
        agent = s.agent(CONFIG, args=["--kubeconfig=" + api.kubeconfig()], env={"NODE_NAME": NODE})
        path = s.cgroup(layout("systemd-containerd", uid, cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        api.stop()
        api.start()
        uid2, cid2 = str(uuid.uuid4()), secrets.token_hex(32)
        api.put_pod(pod("ctl-7d4b9c-q", uid2, {"manager": (cid2, 0)}))
        path2 = s.cgroup(layout("systemd-containerd", uid2, cid2))
        agent.wait_for("ctrlscope_target_cgroups", 2, target="controllers", timeout=20)
        run_fixture(s, path, 31)
        run_fixture(s, path2, 32)
        m = agent.metrics()
        got = series(m, "ctrlscope_syscalls_total", syscall="getppid")
        assert sorted(got.values()) == [31, 32], got
        assert m[("ctrlscope_kube_pods", (("state", "running"),))] == 2


def test_reload_widens_a_selector_and_a_restart_keeps_the_containers_series():
    """A reload adds the sidecar to the selector: selected within 2 s, the manager's series
    untouched. Then a restart with the state pinned: both containers' series continue (their
    ids are the same in every run)."""
    pins = "/sys/fs/bpf/ctrlscope-e2e-kube-%d" % os.getpid()
    wide = CONFIG.replace("containers: [manager]", "containers: [manager, sidecar]")
    try:
        with Scene() as s:
            pki = PKI()
            ca = pki.ca("ca")
            api = s.fakeapi(pki, ca, API_CONFIG)
            args = ["--kubeconfig=" + api.kubeconfig(), "--bpf.pin-path=" + pins]
            agent = s.agent(CONFIG, args=args, env={"NODE_NAME": NODE})
            uid, man, side = str(uuid.uuid4()), secrets.token_hex(32), secrets.token_hex(32)
            api.put_pod(pod("ctl-7d4b9c-l", uid, {"manager": (man, 0), "sidecar": (side, 0)}))
            man_cg = s.cgroup(layout("systemd-containerd", uid, man))
            side_cg = s.cgroup(layout("systemd-containerd", uid, side))
            manager = labels_of("cert-manager", "ctl-7d4b9c-l")
            sidecar = labels_of("cert-manager", "ctl-7d4b9c-l", container="sidecar")
            agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
            run_fixture(s, man_cg, 10)
            run_fixture(s, side_cg, 7)
            assert getppid(agent, **manager) == 10 and getppid(agent, **sidecar) == 0

            with open(agent.config, "w") as f:
                f.write(wide)
            agent.wait_for("ctrlscope_target_cgroups", 2, timeout=2, target="controllers")
            run_fixture(s, side_cg, 7)
            run_fixture(s, man_cg, 5)
            assert (getppid(agent, **manager), getppid(agent, **sidecar)) == (15, 7)
            assert agent.stop() == 0

            agent = s.agent(wide, args=args, env={"NODE_NAME": NODE})
            m = agent.metrics()
            assert m[key("ctrlscope_state_adopted")] == 1
            assert (getppid(agent, **manager), getppid(agent, **sidecar)) == (15, 7)
            run_fixture(s, man_cg, 3)
            run_fixture(s, side_cg, 1)
            assert (getppid(agent, **manager), getppid(agent, **sidecar)) == (18, 8)
    finally:
        subprocess.run([os.path.join(harness.BUILD, "ctrlscope"), "--bpf.pin-path=" + pins,
                        "--bpf.unpin"], capture_output=True, timeout=10)
