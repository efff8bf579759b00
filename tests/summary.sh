#!/usr/bin/env bash
# Summarises the TAP files of every test tier (DIR/<tier>.tap, written by `make check`):
# prints each failing line prefixed with its tier, with the first diagnostic ("# ") lines
# that follow it (so that a CI log's tail says why), then exactly one final line
# "N passed, M failed". Exits 1 when anything failed or when no test ran at all.
#
# "ok ..." lines pass and "not ok ..." lines fail, except that a "# SKIP" directive fails
# too: a skipped test proves nothing. A tier whose TAP stream has no plan, or fewer or more
# results than its plan announced, stopped half-way: that counts as one more failure.
#
# Usage: tests/summary.sh DIR
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
passed=0
failed=0
max_diag=15 # diagnostic lines shown per failure

shopt -s nullglob
for file in "$dir"/*.tap; do
	tier=$(basename "$file" .tap)
	results=0
	planned=0
	plans=0
	diag=0 # diagnostic lines still to show for the last failure
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ $line == \#* ]]; then
			if [ "$diag" -gt 0 ]; then
				printf '%s:   %s\n' "$tier" "$line"
				diag=$((diag - 1))
			fi
			continue
		fi
		diag=0
		if [[ $line =~ ^1\.\.([0-9]+) ]]; then
			planned=$((planned + BASH_REMATCH[1]))
			plans=$((plans + 1))
		elif [[ $line =~ ^not\ ok( |$) ]]; then
			results=$((results + 1))
			failed=$((failed + 1))
			diag=$max_diag
			printf '%s: %s\n' "$tier" "$line"
		elif [[ $line =~ ^ok( |$) ]]; then
			results=$((results + 1))
			if [[ $line =~ \#[[:space:]]*[Ss][Kk][Ii][Pp] ]]; then
				failed=$((failed + 1))
				printf '%s: %s\n' "$tier" "$line"
			else
				passed=$((passed + 1))
			fi
		fi
	done <"$file"
	if [ "$plans" -eq 0 ]; then
		failed=$((failed + 1))
		printf '%s: not ok - no TAP plan in %s (%d results): the tier did not finish\n' \
			"$tier" "$file" "$results"
	elif [ "$results" -ne "$planned" ]; then
		failed=$((failed + 1))
		printf '%s: not ok - %d tests planned, %d reported in %s\n' "$tier" "$planned" \
			"$results" "$file"
	fi
done

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ] && [ $((passed + failed)) -gt 0 ]
