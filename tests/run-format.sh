#!/usr/bin/env bash
# Checks that every C source and header follows .clang-format and prints TAP: one
# "ok"/"not ok" line per file, with clang-format's first complaints as "# " lines.
# Generated and vendored code (vmlinux/, build/) is not ours to format.
#
# Usage (from the repository root): tests/run-format.sh CLANG_FORMAT
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 CLANG_FORMAT" >&2
	exit 2
fi
clang_format=$1
dirs=()
for d in bpf include user tests bench examples; do
	[ -d "$d" ] && dirs+=("$d")
done

files=()
if [ ${#dirs[@]} -gt 0 ]; then
	while IFS= read -r -d '' f; do
		files+=("$f")
	done < <(find "${dirs[@]}" \( -name vmlinux -o -name build \) -prune -o \
		-type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
fi

if ! command -v "$clang_format" >/dev/null; then
	echo "1..1"
	echo "not ok 1 - $clang_format not found"
	exit 1
fi

echo "1..${#files[@]}"
n=0
status=0
log=$(mktemp "${TMPDIR:-/tmp}/run-format.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
for f in "${files[@]}"; do
	n=$((n + 1))
	if "$clang_format" --dry-run -Werror "$f" >/dev/null 2>"$log"; then
		echo "ok $n - $f"
	else
		echo "not ok $n - $f"
		head -n 20 "$log" | sed 's/^/# /'
		status=1
	fi
done
exit "$status"
