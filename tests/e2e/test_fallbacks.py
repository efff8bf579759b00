"""The variants for kernels before 5.12, forced on this kernel with --bpf.fallbacks: task
state in a hash map keyed by thread id, and the net module's hash programs (socket state
in a hash map, claims under the socket's lock, sockets walked by listing). The same exact
counts as the native variants, and no state left behind. (The kernel matrix, tests/vm,
runs the agent on Linux 5.10, where it chooses them itself.)"""

import time

import harness
import test_net
from harness import Scene, key

LABELS = dict(target="t0", comm="sysload")


def config(path):
    return ("targets:\n  - name: t0\n    process:\n      cgroup: [\"%s\"]\n"
            "modules:\n  net:\n    enabled: false\n" % path)


def wait_until(agent, ok, timeout=10):
    deadline = time.time() + timeout
    while True:
        m = agent.metrics()
        if ok(m) or time.time() > deadline:
            return m
        time.sleep(0.05)


def test_fallbacks_count_exactly_and_leave_no_task_state():
    with Scene() as s:
        path = s.cgroup("fallbacks")
        agent = s.agent(config(path), args=["--bpf.fallbacks"])
        m = agent.metrics()
        assert m.get(key("ctrlscope_bpf_feature", module="core", feature="task_state",
                         variant="hash")) == 1, "the agent did not use the hash map"
        assert m.get(key("ctrlscope_bpf_map_entries", map="task_state")) == 0
        f = s.fixture(["--threads", "4", "--getppid", "250", "--openat-missing", "3",
                       "--nanosleep", "5", "--sleep-ns", "1000000", "--exit", "3"], path)
        m = agent.wait_for("ctrlscope_threads", 5, **LABELS)  # the main thread and four
        assert m.get(key("ctrlscope_bpf_map_entries", map="task_state")) == 5
        assert f.run_to_exit() == 3
        m = wait_until(agent, lambda m: m.get(key("ctrlscope_bpf_map_entries",
                                                  map="task_state")) == 0 and
                       m.get(key("ctrlscope_process_exits_total", reason="exited", code="3",
                                 **LABELS)) == 1)
        # Four threads made every call; their state went with them.
        assert m.get(key("ctrlscope_syscalls_total", syscall="getppid", **LABELS)) == 1000
        assert m.get(key("ctrlscope_syscall_errors_total", syscall="openat", errno="ENOENT",
                         **LABELS)) == 12
        assert m.get(key("ctrlscope_syscalls_total", syscall="nanosleep", **LABELS)) == 20
        assert m.get(key("ctrlscope_bpf_map_entries", map="task_state")) == 0
        assert m.get(key("ctrlscope_bpf_map_full_total", map="task_state")) == 0
        assert m[key("ctrlscope_process_starts_total", **LABELS)] == 1
        assert m[key("ctrlscope_process_exits_total", reason="exited", code="3", **LABELS)] == 1
        assert m[key("ctrlscope_threads", **LABELS)] == 0
        # Each sleep is a voluntary switch; CPU time and switches of exited threads are
        # counted when the kernel frees them (cs_sched_free), found here once freed.
        vol = m[key("ctrlscope_context_switches_total", kind="voluntary", **LABELS)]
        assert 20 <= vol <= 40, vol
        assert m[key("ctrlscope_cpu_seconds_total", **LABELS)] > 0


def with_fallbacks(test):
    def run():
        harness.AGENT_FLAGS[:] = ["--bpf.fallbacks"]
        try:
            test()
        finally:
            harness.AGENT_FLAGS[:] = []
    run.__doc__ = test.__doc__
    return run


def test_net_sockets_leave_no_state_with_fallbacks():
    """The hash programs' socket state is deleted when the kernel destroys the socket."""
    harness.AGENT_FLAGS[:] = ["--bpf.fallbacks"]
    try:
        with Scene() as s:
            n = test_net.Net(s)
            m = n.agent.metrics()
            assert m.get(key("ctrlscope_bpf_feature", module="net", feature="socket_state",
                             variant="hash")) == 1, "the agent did not use the hash programs"
            srv = n.server(test_net.B4, 8450, "--accepts", "3", "--recv", "100", "--send", "200")
            n.wait_targets(cli=0, srv=1)
            # The listener and, while they last, the three connections of each side.
            wait_until(n.agent, lambda m: m.get(key("ctrlscope_bpf_map_entries",
                                                    map="net_sock_hash")) == 1)
            clients = [n.client(test_net.B4, 8450, "--send", "100", "--recv", "200")
                       for _ in range(3)]
            n.wait_targets(cli=3)
            assert test_net.run(srv, *clients) == [["ok"] * 3] + [["ok"]] * 3
            got, _ = test_net.wait_stats(n.agent, "cli", "netcli", test_net.B4 + ":8450",
                                         ok=3, open=0, sent=300, received=600)
            # Every socket is gone once the server exited (time-wait sockets are not
            # full sockets and have no state).
            m = wait_until(n.agent, lambda m: m.get(key("ctrlscope_bpf_map_entries",
                                                        map="net_sock_hash")) == 0)
            assert m.get(key("ctrlscope_bpf_map_entries", map="net_sock_hash")) == 0
            assert m.get(key("ctrlscope_bpf_map_full_total", map="net_sock_hash")) == 0
    finally:
        harness.AGENT_FLAGS[:] = []


# The net module's own tests, with its hash programs: exact bytes both ways over IPv4 and
# IPv6 (and nothing for non-targets), connect results and resets, and connections and a
# listener the agent finds open (the walk by listing; accepted sockets through
# net_listeners).
test_net_bytes_with_fallbacks = with_fallbacks(
    test_net.test_exact_bytes_both_directions_ipv4_ipv6_and_nothing_for_non_targets)
test_net_results_with_fallbacks = with_fallbacks(
    test_net.test_refused_timeout_and_reset_with_direction)
test_net_found_open_with_fallbacks = with_fallbacks(
    test_net.test_connections_and_listener_open_before_the_agent)
