#!/usr/bin/env bash
# Runs `go vet` and `go test` in a Go module of the test fixtures and prints TAP: one line
# per package test result, so the summary counts them with the other tiers.
set -u
go=$1
dir=$2
cd "$dir" || exit 1
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
n=0
out=$(mktemp)
if "$go" vet ./... >"$out" 2>&1; then
	n=$((n + 1)); echo "ok $n - go vet $dir"
else
	n=$((n + 1)); echo "not ok $n - go vet $dir"; sed 's/^/# /' "$out"
fi
# One TAP line per top-level test, from go test -json.
"$go" test -count=1 -json ./... 2>&1 | python3 -c '
import json, sys
n = int(sys.argv[1])
seen = False
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        print("# " + line.rstrip()); continue
    t = ev.get("Test")
    if not t or "/" in t or ev.get("Action") not in ("pass", "fail", "skip"):
        continue
    n += 1; seen = True
    status = "ok" if ev["Action"] == "pass" else "not ok"
    print("%s %d - go test %s" % (status, n, t))
if not seen:
    n += 1; print("not ok %d - go test: no tests ran" % n)
print("1..%d" % n)
' "$n"
rm -f "$out"
