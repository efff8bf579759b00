#!/usr/bin/env bash
# The chart, its dashboard and its alerts, and the image recipe, as TAP: the dashboard JSON is what
# tools/dashboard.py writes; promtool checks the rules and runs their unit tests
# (tests/rules); helm lints the chart and renders every scenario of helm/ctrlscope/ci; and
# every helm-unittest case (helm/ctrlscope/tests) is one line; the agent itself checks the
# configuration each scenario renders (--check-config). The Dockerfile's runtime
# stage must install a package for every library the agent links.
#
# Usage (from the repository root): tests/run-chart.sh TOOLS_DIR
# TOOLS_DIR holds bin/helm and helm-plugins/unittest (built by `make deps`).
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 TOOLS_DIR" >&2
	exit 2
fi
tools=$1
helm=$tools/bin/helm
export HELM_PLUGINS=$tools/helm-plugins
chart=helm/ctrlscope
kube=1.30.0
# Debian's Python, which has python3-yaml and python3-jsonschema from make deps.
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

n=0
lines=()
result() { # result NAME STATUS LOGFILE
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		lines+=("ok $n - $1")
	else
		lines+=("not ok $n - $1")
		while IFS= read -r l; do lines+=("#   $l"); done < <(head -20 "$3")
	fi
}
check() { # check NAME COMMAND...
	local name=$1
	shift
	"$@" >"$work/log" 2>&1
	result "$name" $? "$work/log"
}

check "dashboard.json is what tools/dashboard.py writes" $py tools/dashboard.py --check
check "the Dockerfile's runtime stage installs every library build/ctrlscope links" \
	tests/check-image-libs.sh Dockerfile build/ctrlscope
check "promtool check rules" promtool check rules $chart/files/alerts.yaml
check "promtool test rules (every alert)" sh -c 'cd tests/rules && promtool test rules alerts_test.yaml'
if [ ! -x "$helm" ] || [ ! -x "$HELM_PLUGINS/unittest/untt" ]; then
	echo "1..$((n + 1))"
	printf '%s\n' "${lines[@]}"
	echo "not ok $((n + 1)) - helm or helm-unittest missing in $tools (run make deps)"
	exit 1
fi
check "helm lint --strict" "$helm" lint --strict --kube-version $kube $chart
# Every scenario renders, and the agent accepts the configuration it renders.
agent_accepts() { # agent_accepts RENDERED_CONFIGMAP
	$py - "$1" "$work" <<'PY' || return 1
import sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
for key in ("config.yaml", "web.yaml"):
    open("%s/%s" % (sys.argv[2], key), "w").write(cm["data"][key])
PY
	build/ctrlscope --check-config --config.file="$work/config.yaml" \
		--web.config.file="$work/web.yaml"
}
# Every object of a scenario, as JSON.
render_json() { # render_json VALUES
	"$helm" template ctrlscope $chart --namespace monitoring --kube-version $kube -f "$1" |
		$py -c 'import json, sys, yaml
print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))'
}
# Built-in kinds strictly decoded into their k8s.io/api types (fakeapi check-manifests),
# custom resources validated against their CRDs (tests/check-crds.py): a misspelled or
# misplaced field fails here as on a real API server with strict field validation.
strict_types() { # strict_types VALUES
	render_json "$1" >"$work/objects.json" &&
		build/fixtures/fakeapi check-manifests <"$work/objects.json" &&
		$py tests/check-crds.py "$tools/crds" <"$work/objects.json"
}
for values in $chart/ci/*-values.yaml; do
	check "helm template $(basename "$values")" \
		"$helm" template ctrlscope $chart --namespace monitoring --kube-version $kube -f "$values"
	"$helm" template ctrlscope $chart --namespace monitoring --kube-version $kube -f "$values" \
		--show-only templates/configmap.yaml >"$work/cm.yaml" 2>"$work/log"
	check "the agent accepts the configuration $(basename "$values") renders" \
		agent_accepts "$work/cm.yaml"
	check "$(basename "$values"): every object valid for the real API types and CRDs" \
		strict_types "$values"
done
# helm-unittest: one line per test case, from its JUnit report.
"$helm" unittest --strict --output-type JUnit --output-file "$work/junit.xml" $chart \
	>"$work/unittest.log" 2>&1
status=$?
if [ -s "$work/junit.xml" ]; then
	while IFS=$'\t' read -r verdict name; do
		echo "$name" >"$work/case"
		[ "$verdict" = pass ] && result "helm unittest: $name" 0 "$work/case" ||
			result "helm unittest: $name" 1 "$work/unittest.log"
	done < <($py - "$work/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).iter("testcase"):
    bad = case.find("failure") is not None or case.find("error") is not None
    suite = case.get("classname") or ""
    print("%s\t%s: %s" % ("fail" if bad else "pass", suite, case.get("name")))
PY
	)
fi
if [ $status -ne 0 ] || [ ! -s "$work/junit.xml" ]; then
	result "helm unittest --strict exits 0" 1 "$work/unittest.log"
fi
echo "1..$n"
printf '%s\n' "${lines[@]}"
