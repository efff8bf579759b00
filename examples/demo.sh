#!/usr/bin/env bash
# `make demo`: run ctrlscope on this machine against the bundled demo workload, show live
# metrics and how to scrape them. Needs root (loading BPF programs). Stops after
# DEMO_SECONDS seconds (default 30; 0 = until Ctrl-C) and cleans up after itself.
set -euo pipefail

build=${1:-build}
address=${DEMO_ADDRESS:-127.0.0.1:9464}
seconds=${DEMO_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)
url="http://$address/metrics"
# The agent pins its counters here, so that the restart below continues them; the demo
# removes them when it ends (and those of an earlier demo that was killed).
pins=${DEMO_PIN_PATH:-/sys/fs/bpf/ctrlscope-demo}

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: run as root: loading BPF programs needs CAP_BPF and CAP_PERFMON" >&2
	exit 1
fi

log=$(mktemp /tmp/ctrlscope-demo.XXXXXX.log)
pids=()
agent=
cleanup() {
	for pid in $agent "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$build/ctrlscope" --bpf.pin-path="$pins" --bpf.unpin >>"$log" 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$build/ctrlscope" --bpf.pin-path="$pins" --bpf.unpin >"$log" 2>&1

start_agent() {
	"$build/ctrlscope" --config.file="$here/local.yaml" --web.listen-address="$address" \
		--bpf.pin-path="$pins" >>"$log" 2>&1 &
	agent=$!
	for _ in $(seq 100); do
		curl -fsS "http://$address/readyz" >/dev/null 2>&1 && return 0
		if ! kill -0 "$agent" 2>/dev/null; then
			echo "demo: ctrlscope exited:" >&2
			cat "$log" >&2
			exit 1
		fi
		sleep 0.1
	done
}
start_agent

# A module or program this kernel refused: say so first, with the agent's reason, rather
# than leave its section of the demo empty.
report_refusals() {
	local metrics down off
	metrics=$(curl -fsS "$url") || return 0
	down=$(sed -n 's/^ctrlscope_module_up{module="\([^"]*\)"} 0$/\1/p' <<<"$metrics")
	off=$(sed -n 's/^ctrlscope_program_attached{module="[^"]*",program="\([^"]*\)"} 0$/\1/p' <<<"$metrics")
	[[ -z "$down$off" ]] && return 0
	echo
	for m in $down; do
		echo "!! MODULE $m IS DOWN on this kernel ($(uname -r)): its section below stays empty. The agent said:"
		grep -E "module $m[: ]|^[^ ]* level=error" "$log" | sed 's/^/!!   /' || true
	done
	for p in $off; do
		echo "!! program $p is not attached on this kernel: what it measures is missing. The agent said:"
		grep -F "$p" "$log" | sed 's/^/!!   /' || true
	done
	echo
}
report_refusals

"$build/demo-workload" &
pids+=($!)

echo "ctrlscope is running (log: $log); the demo workload (comm demo-workload) is its target."
echo "Waiting for its first system calls..."
for _ in $(seq 50); do
	curl -fsS "$url" | grep -q '^ctrlscope_syscalls_total{target="demo"' && break
	sleep 0.1
done
sleep 2

echo
echo "== System calls of the demo workload, per syscall =="
curl -fsS "$url" | grep -E '^ctrlscope_syscalls_total\{target="demo"' || true
echo
echo "== Errors by errno =="
curl -fsS "$url" | grep -E '^ctrlscope_syscall_errors_total\{target="demo"' || true
echo
echo "== Latency histogram of openat (seconds, cumulative) =="
curl -fsS "$url" | grep -E '^ctrlscope_syscall_duration_seconds_(bucket|sum|count)\{target="demo",comm="demo-workload",syscall="openat"' |
	grep -E 'le="0.0000(04096|16384|65536)"|le="\+Inf"|_sum|_count' || true
echo
echo "== TCP: the workload calls its own server on 127.0.0.1 (outbound ip:port, inbound :port) =="
curl -fsS "$url" | grep -E '^ctrlscope_tcp_(connects_total|sent_bytes_total|received_bytes_total|open_connections)\{target="demo"' |
	grep -v 'result="\(refused\|timeout\|reset\|other\)"' || true
curl -fsS "$url" | grep -E '^ctrlscope_tcp_rtt_seconds_(sum|count)\{target="demo"' || true
echo
echo "== CPU and scheduling, process lifecycle =="
curl -fsS "$url" | grep -E '^ctrlscope_(cpu_seconds_total|context_switches_total|runqueue_wait_seconds_(sum|count)|process_starts_total|process_exits_total|threads)\{target="demo"' || true
echo
echo "== Restart: the counters continue (--bpf.pin-path) =="
total() {
	curl -fsS "$url" | awk '/^ctrlscope_syscalls_total\{target="demo"/ { n += $NF } END { printf "%d", n }'
}
echo "system calls of the demo workload counted before the restart: $(total)"
kill "$agent"
wait "$agent" || true
start_agent
echo "and right after it, by the new agent:                        $(total)"
curl -fsS "$url" | grep -E '^ctrlscope_state_adopted' || true
echo
echo "== The agent's own health =="
curl -fsS "$url" | grep -E '^ctrlscope_(build_info|module_up|program_attached|target_processes)' || true

cat <<EOT

Scrape it yourself:
  curl -s $url
Or point a Prometheus at it:
  scrape_configs:
    - job_name: ctrlscope
      static_configs:
        - targets: ["$address"]
EOT

if [[ "$seconds" == 0 ]]; then
	echo "Running until Ctrl-C."
	wait "$agent"
else
	echo "Stopping in $seconds seconds (DEMO_SECONDS=0 keeps it running until Ctrl-C)."
	sleep "$seconds"
fi
