#!/usr/bin/env bash
# The programs that must load on Linux 5.10 use no atomic fetch-and-op, compare-and-swap
# or exchange (5.12), which its verifier refuses anywhere in a program (bpf/maps.bpf.h):
# every program of the targets core, syscalls, sched, proc and the preemption probe, and
# the net module's hash programs. One TAP line per object, then the plan.
#
# Usage: tests/bpf/no-fetch-atomics.sh BUILD
set -u
build=$1
tool=$(dirname "$0")/../../tools/bpf-fetch-atomics.py
n=0 bad=0

check() { # check OBJ PROGRAM...
	local name=$1 obj=$build/bpf/$1.bpf.o out
	shift
	n=$((n + 1))
	if out=$(python3 "$tool" "$obj" "$@" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - $name.bpf.o: no fetching atomics in $*"
	else
		bad=$((bad + 1))
		echo "not ok $n - $name.bpf.o: fetching atomics where Linux 5.10 must load it"
		[ -n "$out" ] && sed 's/^/# /' <<<"$out"
	fi
}

every() { # the program names of OBJ
	llvm-objdump-19 -d "$build/bpf/$1.bpf.o" | sed -n 's/^[0-9a-f]* <\([A-Za-z0-9_]*\)>:$/\1/p'
}

for obj in kfeatures targets syscalls sched proc; do
	# shellcheck disable=SC2046
	check "$obj" $(every "$obj")
done
# shellcheck disable=SC2046
check net $(every net | grep '_hash$')
echo "1..$n"
[ "$bad" -eq 0 ]
