#!/usr/bin/env bash
# Build a real kube-apiserver and etcd from the Go module proxy for the tests' control
# plane (tests/e2e/harness.py, ControlPlane), into OUT/bin. A second run with the binaries
# there costs nothing; one with the Go caches warm, seconds.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces its staging modules with
# ./staging. So a small wrapper module requires it at the version and replaces each of
# those modules with its published twin (k8s.io/<name> v0.<minor>.<patch>), the list read
# from the go.mod the proxy serves, never written down here. etcd builds from its own
# wrapper: the two depend on different versions of the same modules.
#
# Usage: tests/controlplane/build.sh OUT
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3

out=$(realpath -m "${1:?usage: $0 OUT}")
bin=$out/bin
stamp="kube-apiserver $K8S_VERSION etcd $ETCD_VERSION"
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

if [[ -x $bin/kube-apiserver && -x $bin/etcd && "$(cat "$bin/versions" 2>/dev/null)" == "$stamp" ]]; then
	exit 0
fi
mkdir -p "$bin" "$out/kube" "$out/etcd"
start=$(date +%s)

# --- kube-apiserver -------------------------------------------------------------------
cd "$out/kube"
gomod=$("$go" mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -f $gomod ]] || { echo "controlplane: no go.mod for k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
staging_version=v0.${K8S_VERSION#v1.}
{
	echo "module ctrlscope.test/controlplane/kube"
	echo
	echo "go 1.26.0"
	echo
	echo "require k8s.io/kubernetes $K8S_VERSION"
	echo
	# k8s.io/api => ./staging/src/k8s.io/api  ->  k8s.io/api => k8s.io/api v0.37.2
	sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*$|replace \1 => \1 '"$staging_version"'|p' "$gomod"
} >go.mod
n=$(grep -c '^replace ' go.mod)
[[ $n -gt 0 ]] || { echo "controlplane: no staging module found in $gomod" >&2; exit 1; }
cat >tools.go <<'EOT'
//go:build tools

// The packages this module builds; go mod tidy follows their imports.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"
EOT
"$go" mod tidy
"$go" build -trimpath -o "$bin/kube-apiserver" \
	-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
		-X k8s.io/component-base/version.gitMajor=1 \
		-X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" \
	k8s.io/kubernetes/cmd/kube-apiserver

# --- etcd -----------------------------------------------------------------------------
cd "$out/etcd"
cat >go.mod <<EOT
module ctrlscope.test/controlplane/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOT
cat >tools.go <<'EOT'
//go:build tools

// The packages this module builds; go mod tidy follows their imports.
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
EOT
"$go" mod tidy
"$go" build -trimpath -o "$bin/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3

echo "$stamp" >"$bin/versions"
echo "controlplane: built kube-apiserver $K8S_VERSION ($n staging modules replaced) and etcd" \
	"$ETCD_VERSION in $(($(date +%s) - start)) s" >&2
