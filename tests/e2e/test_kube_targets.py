"""Kubernetes targets end to end: fixture processes in Kubernetes-shaped cgroup trees this
test creates under the cgroup2 mount, pods created through a real kube-apiserver and etcd
(the harness's ControlPlane) as the scheduler and kubelet would leave them, the agent
watching the pods of its node with the chart's own RBAC. Counts are exact."""

import os
import secrets
import subprocess
import time

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


def control_plane(scene):
    """A real control plane with the chart's RBAC installed."""
    pki = PKI()
    cp = scene.control_plane(pki, pki.ca("ca"))
    cp.install_chart_rbac()
    return cp


def start(scene, config=CONFIG):
    cp = control_plane(scene)
    agent = scene.agent(config, args=["--kubeconfig=" + cp.agent_kubeconfig()],
                        env={"NODE_NAME": NODE})
    return cp, agent


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
            cid = secrets.token_hex(32)
            name = "ctl-7d4b9c-%d" % i
            uid = api.put_pod(name, {"manager": (cid, 0), "sidecar": (secrets.token_hex(32), 0)})
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
        good_cid, side_cid = secrets.token_hex(32), secrets.token_hex(32)
        good_uid = api.put_pod("ctl-7d4b9c-a", {"manager": (good_cid, 0), "sidecar": (side_cid, 0)})
        other = []
        for name, labels, ns in [("web-1", {"app": "ctl", "tier": "web"}, "cert-manager"),
                                 ("ctl-elsewhere", {"app": "ctl"}, "kube-system"),
                                 ("unrelated", {"app": "nginx"}, "cert-manager")]:
            cid = secrets.token_hex(32)
            uid = api.put_pod(name, {"manager": (cid, 0)}, labels=labels, namespace=ns)
            other.append(s.cgroup(layout("systemd-containerd", uid, cid)))
        # A pod on another node is not ours even if it matches.
        cid = secrets.token_hex(32)
        uid = api.put_pod("ctl-other-node", {"manager": (cid, 0)}, node="node-2")
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
        # Relabelled through the API: the watch sees it, and the pod leaves the selection.
        api.put_pod("ctl-7d4b9c-a", {"manager": (good_cid, 0), "sidecar": (side_cid, 0)},
                    labels={"app": "ctl", "tier": "web"})
        agent.wait_for("ctrlscope_target_cgroups", 0, target="controllers")
        run_fixture(s, good, 5)
        after = series(agent.metrics(), "ctrlscope_syscalls_total", syscall="getppid")
        assert set(after.values()) <= {250}, after  # kept for the grace, or gone; never 255
        assert "forbidden" not in agent.logs().lower(), agent.logs()


def test_restart_continues_series_and_deletion_removes_it():
    with Scene() as s:
        api, agent = start(s)
        first = secrets.token_hex(32)
        uid = api.put_pod("ctl-7d4b9c-r", {"manager": (first, 0)})
        path = s.cgroup(layout("systemd-containerd", uid, first))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        run_fixture(s, path, 300)
        labels = labels_of("cert-manager", "ctl-7d4b9c-r")
        assert getppid(agent, **labels) == 300
        # The container restarts: a new id, a new cgroup; the series continues.
        second = secrets.token_hex(32)
        new_path = s.cgroup(layout("systemd-containerd", uid, second))
        os.rmdir(s.cgroups.mount + path)
        api.put_pod("ctl-7d4b9c-r", {"manager": (second, 1)})
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
        first = secrets.token_hex(32)
        uid = api.put_pod("ctl-7d4b9c-s", {"manager": (first, 0)})
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
                api.put_pod("ctl-7d4b9c-s", {"manager": (cid, 1)})
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
    """One list and one watch, of the node's pods only, as the chart's agent ServiceAccount
    (the API server's audit log says so). Then kube-apiserver and etcd are restarted twice.
    The restarted server's watch cache starts at etcd's current revision, so the agent's
    resumed watch is refused with 410 Gone (as every client-go informer's is): one relist per
    restart, counted. A pod created after the first restart arrives; one deleted and one
    created right after the second arrive too, whether through the relist or the new watch.
    Every live pod keeps one series, its counts exact; the deleted one's goes."""
    with Scene() as s:
        api, agent = start(s)
        user = "system:serviceaccount:%s:t-ctrlscope" % api.CHART_NS

        def requests(verb):
            return api.audit(user=user, resource="pods", verb=verb)

        def relists():
            return agent.metrics()[key("ctrlscope_kube_pods_relists_total")]

        paths = {}

        def pod(name):
            cid = secrets.token_hex(32)
            uid = api.put_pod(name, {"manager": (cid, 0)})
            paths[name] = s.cgroup(layout("systemd-containerd", uid, cid))

        pod("ctl-7d4b9c-w")
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        assert (len(requests("list")), len(requests("watch"))) == (1, 1), requests("list")
        assert relists() == 0

        api.stop()
        api.start()
        pod("ctl-7d4b9c-x")
        agent.wait_for("ctrlscope_target_cgroups", 2, timeout=60, target="controllers")
        agent.wait_for("ctrlscope_kube_pods_relists_total", 1, timeout=30)

        api.stop()
        api.start()
        api.delete_pod("cert-manager", "ctl-7d4b9c-w")
        os.rmdir(s.cgroups.mount + paths.pop("ctl-7d4b9c-w"))  # as the runtime would
        pod("ctl-7d4b9c-y")
        agent.wait_for("ctrlscope_kube_pods_relists_total", 2, timeout=60)
        agent.wait_for("ctrlscope_target_cgroups", 2, timeout=30, target="controllers")
        agent.wait_for("ctrlscope_kube_pods", 2, timeout=10, state="running")
        for r in requests("list") + requests("watch"):
            assert "fieldSelector=spec.nodeName%3Dnode-1" in r["requestURI"], r["requestURI"]

        for calls, name in enumerate(sorted(paths), start=111):
            run_fixture(s, paths[name], calls)
        deadline = time.time() + 10  # the deleted pod's series goes after deleted_pod_grace
        while True:
            m = agent.metrics()
            got = series(m, "ctrlscope_syscalls_total", syscall="getppid")
            if len(got) == 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert sorted(got.values()) == [111, 112], got
        for calls, name in enumerate(sorted(paths), start=111):
            assert m[key("ctrlscope_syscalls_total", syscall="getppid",
                         **labels_of("cert-manager", name))] == calls
        assert relists() == 2
        assert len(requests("list")) >= 3  # the first and one per relist (a failed one retried)


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
        api = control_plane(s)
        home = s.cgroup("agent")
        agent = s.agent(CONFIG, args=["--kubeconfig=" + api.agent_kubeconfig()],
                        env={"NODE_NAME": NODE},
                        wrap=["unshare", "--cgroup"], cgroup_procs=s.cgroups.procs_file(home))
        assert os.readlink("/proc/%d/ns/cgroup" % agent.proc.pid) != os.readlink("/proc/self/ns/cgroup"), \
            "the agent is not in its own cgroup namespace"
        cid = secrets.token_hex(32)
        uid = api.put_pod("ctl-7d4b9c-ns", {"manager": (cid, 0)})
        path = s.cgroup(layout("cgroupfs", uid, cid))
        agent.wait_for("ctrlscope_target_cgroups", 1, target="controllers")
        run_fixture(s, path, 123)
        assert getppid(agent, **labels_of("cert-manager", "ctl-7d4b9c-ns")) == 123


def test_reload_widens_a_selector_and_a_restart_keeps_the_containers_series():
    """A reload adds the sidecar to the selector: selected within 2 s, the manager's series
    untouched. Then a restart with the state pinned: both containers' series continue (their
    ids are the same in every run)."""
    pins = "/sys/fs/bpf/ctrlscope-e2e-kube-%d" % os.getpid()
    wide = CONFIG.replace("containers: [manager]", "containers: [manager, sidecar]")
    try:
        with Scene() as s:
            api = control_plane(s)
            args = ["--kubeconfig=" + api.agent_kubeconfig(), "--bpf.pin-path=" + pins]
            agent = s.agent(CONFIG, args=args, env={"NODE_NAME": NODE})
            man, side = secrets.token_hex(32), secrets.token_hex(32)
            uid = api.put_pod("ctl-7d4b9c-l", {"manager": (man, 0), "sidecar": (side, 0)})
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
