#!/usr/bin/env bash
# The Go binaries the unit tests of user/gobin read, and what Go's own tools say about
# them, into OUT: for each BIN, OUT/NAME (a copy), OUT/NAME.stripped (strip --strip-all:
# no .symtab, only .gopclntab), OUT/NAME.buildinfo (go version -m), OUT/NAME.funcs (go
# tool nm: "ADDRESS NAME" of every text symbol), OUT/NAME.rets (go tool objdump:
# "ADDRESS" of every RET) and OUT/NAME.bodies (go tool objdump: "ENTRY BODY" of every
# function that starts with the stack check, CMPQ SP|R12, 0x10(R14) then JBE: BODY is the
# instruction after the JBE).
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
	GOTOOLCHAIN=local "$go" tool objdump "$bin" | awk -v rets="$out/$name.rets.tmp" '
		/^TEXT/ { entry = ""; n = 0; state = 0; next }
		NF >= 4 && $2 ~ /^0x/ {
			if ($4 == "RET") print $2 >rets
			n++
			if (entry == "") entry = $2
			if (state == 2) { print entry, $2; state = 3 }
			else if (state == 1 && $4 == "JBE") state = 2
			else if (n <= 4 && state == 0 && $4 == "CMPQ" && $6 == "0x10(R14)") state = 1
		}' | sort >"$out/$name.bodies"
	sort -u "$out/$name.rets.tmp" >"$out/$name.rets"
	rm "$out/$name.rets.tmp"
	[[ -s $out/$name.funcs && -s $out/$name.rets && -s $out/$name.bodies ]] || {
		echo "gobin-testdata: no functions or returns listed for $bin" >&2
		exit 1
	}
done
