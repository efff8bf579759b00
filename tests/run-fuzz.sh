#!/bin/bash
# Run libFuzzer targets for a fixed time each and print TAP on stdout (the `make check`
# summary counts "not ok" lines). Not a fuzzing farm: one process per target, no -jobs.
#
#   tests/run-fuzz.sh SECONDS build/fuzz/fuzz_<name>...
#
# Each build/fuzz/fuzz_<name> fuzzes for SECONDS seconds, starting from a copy of
# tests/fuzz/corpus/<name>/ in a temporary directory (nothing is written into the tree).
# (SECONDS=0: the seeds only). Then every saved crash for that target is replayed as a
# regression test: tests/fuzz/crashes/<name>/<file>, or tests/fuzz/crashes/<name>-<file>.
# Fuzzer output goes to a log; a failure shows its last 20 lines as TAP comments and keeps
# its directory (log and crashing input) under $TMPDIR. Exits 0 whatever the results.
set -u

usage() {
	echo "usage: $0 SECONDS FUZZER..." >&2
	exit 2
}

[ $# -ge 1 ] || usage
secs=$1
shift
[[ $secs =~ ^[0-9]+$ ]] || usage

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpora=$root/tests/fuzz/corpus
crashes=$root/tests/fuzz/crashes
work=$(mktemp -d "${TMPDIR:-/tmp}/ctrlscope-fuzz.XXXXXX") || exit 1
kept=0
trap '[ "$kept" = 1 ] || rm -rf "$work"' EXIT

# Stop at the first UBSan report: the fuzzers are built with recoverable UBSan.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# libFuzzer's own limits; a hung fuzzer is killed by timeout(1) well after them.
limits=(-timeout=10 -rss_limit_mb=2048)
# -max_total_time=0 means no limit to libFuzzer: 0 seconds runs the seeds only.
if [ "$secs" -gt 0 ]; then
	duration=(-max_total_time="$secs")
else
	duration=(-runs=0)
fi

target_name() {
	local base
	base=$(basename "$1")
	echo "${base#fuzz_}"
}

# The saved crashes of one target, one path a line.
crash_files() {
	local name=$1 f
	for f in "$crashes/$name"/* "$crashes/$name"-*; do
		[ -f "$f" ] && echo "$f"
	done
}

# TAP comment lines: what went wrong (the sanitizer's report line, or the broken invariant
# and the values the target noted), then the log's last 20 lines, each cut to 300 bytes
# (libFuzzer dumps whole inputs on one line).
explain() {
	grep -m 6 -E '^fuzz: |invariant broken|ERROR: |runtime error: ' "$1" |
		cut -b 1-300 | sed 's/^/# /'
	echo "# ..."
	tail -n 20 "$1" | cut -b 1-300 | sed 's/^/# /'
}

n=0
for bin in "$@"; do
	n=$((n + 1 + $(crash_files "$(target_name "$bin")" | wc -l)))
done
echo "1..$n"

k=0
for bin in "$@"; do
	name=$(target_name "$bin")
	k=$((k + 1))
	dir=$work/$name
	mkdir -p "$dir/corpus"
	mapfile -t saved < <(crash_files "$name")
	if [ ! -x "$bin" ]; then
		echo "not ok $k - fuzz_$name"
		echo "# $bin: not an executable (build it with make $bin)"
		for f in "${saved[@]}"; do
			k=$((k + 1))
			echo "not ok $k - fuzz_$name replays ${f#"$root"/tests/fuzz/}"
			echo "# $bin: not an executable"
		done
		continue
	fi
	abs=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
	[ -d "$corpora/$name" ] && cp -R "$corpora/$name/." "$dir/corpus/"

	# libFuzzer writes crash-*, timeout-* and oom-* files to the artifact prefix, and new
	# inputs to the first corpus directory: both in the temporary directory.
	(cd "$dir" && timeout -k 10 $((secs + 60)) "$abs" "${limits[@]}" \
		"${duration[@]}" -print_final_stats=0 -artifact_prefix="$dir/" \
		corpus >"$dir/fuzz.log" 2>&1)
	rc=$?
	execs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$dir/fuzz.log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "ok $k - fuzz_$name ($execs execs)"
	else
		kept=1
		echo "not ok $k - fuzz_$name"
		[ "$rc" -eq 124 ] && echo "# killed after $((secs + 60)) s"
		explain "$dir/fuzz.log"
		for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
			[ -f "$a" ] && echo "# input: $a"
		done
	fi

	# Saved crashes: each must now run clean.
	i=0
	for f in "${saved[@]}"; do
		k=$((k + 1))
		i=$((i + 1))
		log=$dir/replay-$i.log
		(cd "$dir" && timeout -k 10 60 "$abs" "${limits[@]}" -artifact_prefix="$dir/replay-$i-" \
			"$f" >"$log" 2>&1)
		if [ $? -eq 0 ]; then
			echo "ok $k - fuzz_$name replays ${f#"$root"/tests/fuzz/}"
		else
			kept=1
			echo "not ok $k - fuzz_$name replays ${f#"$root"/tests/fuzz/}"
			explain "$log"
		fi
	done
done
[ "$kept" = 1 ] && echo "# logs and inputs of the failures: $work"
exit 0
