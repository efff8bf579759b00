#!/usr/bin/env bash
# Runs cmocka test binaries (tests/unit, tests/bpf) and prints one TAP stream on stdout:
# "ok K - <binary>:<test>" lines numbered across all binaries, diagnostics as "# " lines,
# and the plan "1..N" at the end. A binary that crashes, hangs, exits non-zero without
# reporting a failure, or reports fewer tests than it planned gets a "not ok" line of its
# own: a broken binary is never silent.
#
# Usage: tests/run-unit.sh BIN...   (TEST_TIMEOUT=seconds per binary, default 600)
# Exits 1 when any line is "not ok", else 0.
#
# What cmocka 1.1.5 prints with CMOCKA_MESSAGE_OUTPUT=TAP, all on stdout, per group:
#   1..4
#   ok 1 - test_a
#   not ok 2 - test_b
#   # "a" != "b"                      (each line of a failure message, prefixed)
#   not ok 3 # SKIP test_c
#   not ok 4 - test_d Could not run test: Test setup failed
#   not ok 0 - tests [  FAILED  ] GROUP SETUP     (group setup failed: numbered 0)
#   # ok - tests                      (group summary)
# A signal it catches (SIGSEGV, ...) fails that test and the run goes on; others (SIGABRT,
# sanitizer reports, exit()) end the binary early.
set -u

timeout_s=${TEST_TIMEOUT:-600}
total=0 failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-unit.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

result() { # result "ok"|"not ok" description
	total=$((total + 1))
	[ "$1" = ok ] || failures=$((failures + 1))
	printf '%s %d - %s\n' "$1" "$total" "$2"
}

diag() { # every line of a file as a TAP comment
	local line

	while IFS= read -r line || [ -n "$line" ]; do
		printf '# %s\n' "$line"
	done <"$1"
}

run_one() { # run_one BIN: writes the binary's stdout/stderr to $tmp, returns its status
	local bin=$1 cmd=()

	if command -v timeout >/dev/null; then
		cmd+=(timeout --kill-after=10 "$timeout_s")
	fi
	# Line-buffer stdout so that results printed before an uncaught crash survive. stdbuf
	# preloads a library, which ASan refuses unless it comes first: skip it for ASan builds.
	if command -v stdbuf >/dev/null && ! grep -qa __asan_init "$bin"; then
		cmd+=(stdbuf -oL)
	fi
	# In a subshell whose own stderr is discarded: the shell's "Aborted" notice for a
	# crashed binary would otherwise land on our stderr; the status says it all.
	(
		CMOCKA_MESSAGE_OUTPUT=TAP "${cmd[@]}" "$bin" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
		exit $?
	) 2>/dev/null
}

for bin in "$@"; do
	name=$(basename "$bin")
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		result "not ok" "$name: not an executable file ($bin)"
		continue
	fi
	# Relative paths need a slash to be run rather than looked up in $PATH.
	case $bin in */*) ;; *) bin=./$bin ;; esac
	run_one "$bin"
	rc=$?

	planned=0 plans=0 reported=0 failed=0 expect=1
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ $line =~ ^1\.\.([0-9]+) ]]; then
			planned=$((planned + BASH_REMATCH[1]))
			plans=$((plans + 1))
			expect=1
		elif [[ $line =~ ^(not\ )?ok\ ([0-9]+)(\ (.*))?$ ]]; then
			status=${BASH_REMATCH[1]:+not }ok
			num=${BASH_REMATCH[2]}
			rest=${BASH_REMATCH[4]}
			# An "ok" out of sequence is stray output, not a result; a "not ok" always counts.
			if [ "$status" = ok ] && [ "$num" != "$expect" ]; then
				printf '# %s\n' "$line"
				continue
			fi
			[ "$num" = "$expect" ] && expect=$((expect + 1))
			reported=$((reported + 1))
			directive=
			if [[ $rest =~ ^#\ *[Ss][Kk][Ii][Pp]\ *(.*)$ ]]; then # cmocka: "# SKIP name"
				rest=${BASH_REMATCH[1]}
				directive=" # SKIP"
			elif [[ $rest =~ ^(.*)\ #\ *([Ss][Kk][Ii][Pp].*)$ ]]; then # "- name # SKIP why"
				rest=${BASH_REMATCH[1]}
				directive=" # ${BASH_REMATCH[2]}"
			fi
			rest=${rest#- }
			[ "$status" = "not ok" ] && failed=$((failed + 1))
			result "$status" "$name:${rest:-test $num}$directive"
		elif [[ $line =~ ^Bail\ out! ]]; then
			failed=$((failed + 1))
			result "not ok" "$name: $line"
		elif [[ $line == \#* ]]; then
			printf '%s\n' "$line"
		else
			printf '# %s\n' "$line"
		fi
	done <"$tmp/stdout"

	if [ -s "$tmp/stderr" ]; then
		printf '# %s: stderr:\n' "$name"
		diag "$tmp/stderr"
	fi

	why=()
	if [ "$rc" -eq 124 ]; then
		why+=("timed out after ${timeout_s}s (status 124)")
	elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
		why+=("killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))")
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		why+=("exited with status $rc without reporting a failure")
	fi
	if [ "$plans" -eq 0 ]; then
		why+=("printed no TAP plan")
	elif [ "$reported" -ne "$planned" ]; then
		why+=("reported $reported of $planned planned tests")
	fi
	if [ ${#why[@]} -gt 0 ]; then
		msg=${why[0]}
		for reason in "${why[@]:1}"; do
			msg+="; $reason"
		done
		result "not ok" "$name: $msg"
	fi
done

printf '1..%d\n' "$total"
[ "$failures" -eq 0 ]
