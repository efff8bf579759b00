#!/usr/bin/env bash
# The Go binaries the unit tests of user/gobin read, and what Go's own tools say about
# them, into OUT: for each BIN, OUT/NAME (a copy), OUT/NAME.stripped (strip --strip-all:
# no .symtab, only .gopclntab), OUT/NAME.buildinfo (go version -m), OUT/NAME.funcs (go
# tool nm: "ADDRESS NAME" of every text symbol) and OUT/NAME.rets (go tool objdump:
# "ADDRESS" of every RET).
#
# Usage: tests/unit/gobin-testdata.sh GO OUT BIN...
set -euo pipefail

go=$1 out=$2
shift 2
mkdir -p "$out"
for bin in "$@"; do
	name=$(basename "$bin")
	cp "$bin" "$out/$name"
	strip --strip-all -o "$out/$name.stripped" "$bin"
	GOTOOLCHAIN=local "$go" version -m "$bin" >"$out/$name.buildinfo"
	GOTOOLCHAIN=local "$go" tool nm "$bin" | sed -n 's/^ *\([0-9a-f]\+\) [Tt] \(.*\)$/\1 \2/p' |
		sort >"$out/$name.funcs"
	GOTOOLCHAIN=local "$go" tool objdump "$bin" |
		awk '$4 == "RET" { print $2 }' | sort -u >"$out/$name.rets"
	[[ -s $out/$name.funcs && -s $out/$name.rets ]] || {
		echo "gobin-testdata: no functions or returns listed for $bin" >&2
		exit 1
	}
done
