#!/usr/bin/env python3
"""Writes helm/ctrlscope/files/dashboard.json, the Grafana dashboard the chart ships: per
controller, its reconciles and work queues, system calls, API-server traffic, CPU and
scheduling, lifecycle; and the agents' health. Run it after editing; `make check` fails when the JSON is not what this
script writes. Every query is also run against a real Prometheus in the e2e tests."""

import json
import os
import sys

SEL = 'job="ctrlscope",instance=~"$instance",target=~"$target"'
# A controller: the label set of a Kubernetes target or of a process target.
WHO = "target, namespace, pod, container, workload, comm"
WHO_LEGEND = "{{target}} {{namespace}}/{{pod}} {{container}}{{comm}}"
RATE = "$__rate_interval"


def q(expr, legend=WHO_LEGEND):
    return {"expr": expr, "legend": legend}


# A controller of a controller-runtime process: its label set and the controller's name.
CTL = WHO + ", controller"
CTL_LEGEND = WHO_LEGEND + " {{controller}}"

ROWS = [
    ("Reconciles and work queues (controller-runtime)", [
        ("Reconciles per second, by result", "ops", [
            q('sum by (%s, result) (rate(ctrlscope_reconcile_total{%s}[%s]))' % (CTL, SEL, RATE),
              CTL_LEGEND + " {{result}}")]),
        ("Reconcile error ratio", "percentunit", [
            q('sum by (%s) (rate(ctrlscope_reconcile_errors_total{%s}[%s])) / '
              'sum by (%s) (rate(ctrlscope_reconcile_total{%s}[%s]))'
              % (CTL, SEL, RATE, CTL, SEL, RATE), CTL_LEGEND)]),
        ("Reconcile time, p50 and p99", "s", [
            q('histogram_quantile(0.5, sum by (le, %s) '
              '(rate(ctrlscope_reconcile_duration_seconds_bucket{%s}[%s])))' % (CTL, SEL, RATE),
              "p50 " + CTL_LEGEND),
            q('histogram_quantile(0.99, sum by (le, %s) '
              '(rate(ctrlscope_reconcile_duration_seconds_bucket{%s}[%s])))' % (CTL, SEL, RATE),
              "p99 " + CTL_LEGEND)]),
        ("Work queue depth, and workers busy", "short", [
            q('sum by (%s) (ctrlscope_workqueue_depth{%s})' % (CTL, SEL), "depth " + CTL_LEGEND),
            q('sum by (%s) (ctrlscope_reconcile_active_workers{%s})' % (CTL, SEL),
              "busy " + CTL_LEGEND)]),
        ("Work queue wait, p99, and retries per second", "s", [
            q('histogram_quantile(0.99, sum by (le, %s) '
              '(rate(ctrlscope_workqueue_queue_duration_seconds_bucket{%s}[%s])))'
              % (CTL, SEL, RATE), "wait p99 " + CTL_LEGEND),
            q('sum by (%s) (rate(ctrlscope_workqueue_retries_total{%s}[%s]))' % (CTL, SEL, RATE),
              "retries/s " + CTL_LEGEND)]),
        ("Panics and terminal errors", "short", [
            q('sum by (%s) (increase(ctrlscope_reconcile_panics_total{%s}[%s]))'
              % (CTL, SEL, RATE), "panics " + CTL_LEGEND),
            q('sum by (%s) (increase(ctrlscope_reconcile_terminal_errors_total{%s}[%s]))'
              % (CTL, SEL, RATE), "terminal " + CTL_LEGEND)]),
    ]),
    ("System calls", [
        ("System calls per second", "ops", [
            q('sum by (%s) (rate(ctrlscope_syscalls_total{%s}[%s]))' % (WHO, SEL, RATE))]),
        ("Failed system calls per second, by errno", "ops", [
            q('sum by (%s, syscall, errno) (rate(ctrlscope_syscall_errors_total{%s}[%s]))'
              % (WHO, SEL, RATE), WHO_LEGEND + " {{syscall}} {{errno}}")]),
        ("System call latency, p99 by syscall", "s", [
            q('histogram_quantile(0.99, sum by (le, target, syscall) '
              '(rate(ctrlscope_syscall_duration_seconds_bucket{%s}[%s])))' % (SEL, RATE),
              "{{target}} {{syscall}}")]),
    ]),
    ("API server and network", [
        ("Bytes to and from the API server per second", "Bps", [
            q('sum by (%s) (rate(ctrlscope_tcp_sent_bytes_total{%s,peer="kube-apiserver"}[%s]))'
              % (WHO, SEL, RATE), "sent " + WHO_LEGEND),
            q('sum by (%s) (rate(ctrlscope_tcp_received_bytes_total{%s,peer="kube-apiserver"}[%s]))'
              % (WHO, SEL, RATE), "received " + WHO_LEGEND)]),
        ("TCP connects per second, by peer and result", "ops", [
            q('sum by (target, peer, result) (rate(ctrlscope_tcp_connects_total{%s}[%s]))'
              % (SEL, RATE), "{{target}} {{peer}} {{result}}")]),
        ("TCP retransmits per second, by peer", "ops", [
            q('sum by (target, peer) (rate(ctrlscope_tcp_retransmits_total{%s}[%s]))'
              % (SEL, RATE), "{{target}} {{peer}}")]),
        ("Round-trip time to the API server, p50 and p99", "s", [
            q('histogram_quantile(0.5, sum by (le, target) '
              '(rate(ctrlscope_tcp_rtt_seconds_bucket{%s,peer="kube-apiserver"}[%s])))' % (SEL, RATE),
              "p50 {{target}}"),
            q('histogram_quantile(0.99, sum by (le, target) '
              '(rate(ctrlscope_tcp_rtt_seconds_bucket{%s,peer="kube-apiserver"}[%s])))' % (SEL, RATE),
              "p99 {{target}}")]),
        ("Open TCP connections, by peer", "short", [
            q('sum by (target, peer) (ctrlscope_tcp_open_connections{%s})' % SEL,
              "{{target}} {{peer}}")]),
    ]),
    ("CPU and scheduling", [
        ("CPU used (cores)", "short", [
            q('sum by (%s) (rate(ctrlscope_cpu_seconds_total{%s}[%s]))' % (WHO, SEL, RATE))]),
        ("CPU throttling: share of time held back by the CPU limit", "percentunit", [
            q('sum by (%s) (rate(ctrlscope_cpu_throttled_seconds_total{%s}[%s]))'
              % (WHO, SEL, RATE))]),
        ("Run-queue wait, p99 and average", "s", [
            q('histogram_quantile(0.99, sum by (le, %s) '
              '(rate(ctrlscope_runqueue_wait_seconds_bucket{%s}[%s])))' % (WHO, SEL, RATE),
              "p99 " + WHO_LEGEND),
            q('sum by (%s) (rate(ctrlscope_runqueue_wait_seconds_sum{%s}[%s])) / '
              'sum by (%s) (rate(ctrlscope_runqueue_wait_seconds_count{%s}[%s]))'
              % (WHO, SEL, RATE, WHO, SEL, RATE), "avg " + WHO_LEGEND)]),
        ("Context switches per second, by kind", "ops", [
            q('sum by (%s, kind) (rate(ctrlscope_context_switches_total{%s}[%s]))'
              % (WHO, SEL, RATE), WHO_LEGEND + " {{kind}}")]),
    ]),
    ("Restarts and OOM kills", [
        ("Process starts", "short", [
            q('sum by (%s) (increase(ctrlscope_process_starts_total{%s}[%s]))'
              % (WHO, SEL, RATE))]),
        ("Process exits, by reason and code", "short", [
            q('sum by (%s, reason, code) (increase(ctrlscope_process_exits_total{%s}[%s]))'
              % (WHO, SEL, RATE), WHO_LEGEND + " {{reason}} {{code}}")]),
        ("OOM kills", "short", [
            q('sum by (%s) (increase(ctrlscope_oom_kills_total{%s}[%s]))' % (WHO, SEL, RATE))]),
        ("Threads", "short", [
            q('sum by (%s) (ctrlscope_threads{%s})' % (WHO, SEL))]),
    ]),
    ("Agent health", [
        ("Agents up", "short", [
            q('up{job="ctrlscope",instance=~"$instance"}', "{{instance}}")]),
        ("Modules up", "short", [
            q('ctrlscope_module_up{job="ctrlscope",instance=~"$instance"}',
              "{{instance}} {{module}}")]),
        ("Agent CPU (cores) and memory", "short", [
            q('rate(process_cpu_seconds_total{job="ctrlscope",instance=~"$instance"}[%s])' % RATE,
              "cpu {{instance}}"),
            q('process_resident_memory_bytes{job="ctrlscope",instance=~"$instance"} / 2^20',
              "RSS MiB {{instance}}")]),
        ("Measurements dropped per second (full tables)", "ops", [
            q('sum by (instance, map) (rate(ctrlscope_bpf_map_full_total{job="ctrlscope",'
              'instance=~"$instance"}[%s]))' % RATE, "{{instance}} {{map}}"),
            q('rate(ctrlscope_label_sets_exhausted_total{job="ctrlscope",instance=~"$instance"}[%s])'
              % RATE, "{{instance}} label sets")]),
        ("Label sets used", "percentunit", [
            q('ctrlscope_label_sets{job="ctrlscope",instance=~"$instance"} / '
              'ctrlscope_label_sets_max{job="ctrlscope",instance=~"$instance"}', "{{instance}}")]),
        ("Processes left unmeasured, lifecycle events lost (per second)", "ops", [
            q('rate(ctrlscope_target_map_full_total{job="ctrlscope",instance=~"$instance"}[%s])'
              % RATE, "{{instance}} unselected (limits full)"),
            q('rate(ctrlscope_lifecycle_events_lost_total{job="ctrlscope",instance=~"$instance"}'
              '[%s])' % RATE, "{{instance}} events lost")]),
        ("Configuration reloads", "short", [
            q('sum by (instance, result) (increase(ctrlscope_config_reloads_total{job="ctrlscope",'
              'instance=~"$instance"}[%s]))' % RATE, "{{instance}} {{result}}"),
            q('ctrlscope_config_last_reload_successful{job="ctrlscope",instance=~"$instance"}',
              "{{instance}} last reload successful")]),
        ("HTTP connections: open, and dropped per second", "short", [
            q('sum by (instance, listener) (ctrlscope_http_connections{job="ctrlscope",'
              'instance=~"$instance"})', "{{instance}} {{listener}} open"),
            q('sum by (instance, reason) (rate(ctrlscope_http_connections_dropped_total{'
              'job="ctrlscope",instance=~"$instance"}[%s]))' % RATE,
              "{{instance}} dropped: {{reason}}")]),
    ]),
]


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": name},
        "definition": query, "refresh": 2, "multi": True, "includeAll": True,
        "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "sort": 1,
    }


def dashboard():
    panels, pid, y = [], 1, 0
    for title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y = pid + 1, y + 1
        for i, (ptitle, unit, queries) in enumerate(row):
            panels.append({
                "id": pid, "type": "timeseries", "title": ptitle,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 8, "x": 8 * (i % 3), "y": y + 8 * (i // 3)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                            "tooltip": {"mode": "multi"}},
                "targets": [{"refId": chr(ord("A") + k), "expr": t["expr"],
                             "legendFormat": t["legend"],
                             "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                            for k, t in enumerate(queries)],
            })
            pid += 1
        y += 8 * ((len(row) + 2) // 3)
    return {
        "uid": "ctrlscope-controllers", "title": "ctrlscope: Kubernetes controllers",
        "description": "Zero-code kernel-level metrics of controllers, from the ctrlscope agent.",
        "tags": ["ctrlscope", "kubernetes", "controllers", "ebpf"],
        "editable": True, "graphTooltip": 1, "refresh": "30s", "schemaVersion": 39,
        "time": {"from": "now-3h", "to": "now"}, "timezone": "",
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            variable("instance", "Node", 'label_values(up{job="ctrlscope"}, instance)'),
            variable("target", "Target", 'label_values(ctrlscope_threads{job="ctrlscope"}, target)'),
        ]},
        "panels": panels, "version": 1,
    }


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helm", "ctrlscope",
                       "files", "dashboard.json")
    text = json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"
    if sys.argv[1:] == ["--check"]:
        with open(out) as f:
            if f.read() != text:
                sys.exit("%s is not what tools/dashboard.py writes: run it" % out)
        return
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
