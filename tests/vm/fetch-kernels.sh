#!/usr/bin/env bash
# Downloads the kernels of tests/vm/kernels that are not cached yet, and prints one line
# "NAME<TAB>DIR<TAB>ARCH" per selected kernel, DIR holding its vmlinuz (and config when the
# package has one), ARCH its Debian architecture (amd64, arm64: the end of the package's
# name). A kernel already cached at its pinned version downloads nothing, so a second run
# makes no network traffic at all.
#
# The packages come from Debian's archive through a private apt configuration under
# build/vm/apt (its own sources, lists, cache and an empty dpkg status): the machine's apt
# configuration and package lists are neither used nor changed. Only the mirror is taken
# from its sources (the first .../debian and .../debian-security URIs), unless
# VM_DEBIAN_MIRROR (and VM_DEBIAN_SECURITY_MIRROR) name one. A pinned version the archive
# no longer has is an error that names it.
#
# Usage: tests/vm/fetch-kernels.sh [--build DIR] [NAME...]
#   NAME selects a kernel by its name in tests/vm/kernels: "6.1" selects 6.1 (not 6.12),
#   "6" selects every 6.x, "arm64" (or "amd64") every kernel of that architecture; none
#   selects all of them.
# tests/vm/fetch-kernels.sh [--build DIR] --available
#   lists every cloud kernel version the mirror has, to choose new pins from.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../tools/apt-private.sh
source "$here/../../tools/apt-private.sh"
build=build
if [[ ${1:-} == --build ]]; then
	build=$2
	shift 2
fi
mkdir -p "$build/vm"
build=$(cd "$build" && pwd)
apt_dir=$build/vm/apt
cache=$build/vm/cache
keyring=$apt_private_keyring

die() {
	echo "fetch-kernels: $*" >&2
	exit 1
}

# --- the table ---------------------------------------------------------------------------

names=() suites=() packages=() versions=() archs=()
while read -r name suite package version expect rest; do
	[[ -z $name || $name == \#* ]] && continue
	[[ -n $version && -z $rest && ( -z $expect || $expect == down=* ) ]] || die "tests/vm/kernels: bad line: $name $suite $package $version $expect $rest"
	case ${package##*-} in
	amd64 | arm64) ;;
	*) die "tests/vm/kernels: $package: the name ends with no architecture that make vmtest runs (amd64, arm64)" ;;
	esac
	names+=("$name") suites+=("$suite") packages+=("$package") versions+=("$version")
	archs+=("${package##*-}")
done <"$here/kernels"

# --- the private apt configuration -------------------------------------------------------

# apt_private_init (tools/apt-private.sh) writes the apt.conf that keeps apt away from the
# machine's configuration and state; the sources are this script's.
apt_ready=false
apt_setup() {
	$apt_ready && return 0
	[[ -r $keyring ]] || die "$keyring is missing (package debian-archive-keyring)"
	local mirror security
	mirror=${VM_DEBIAN_MIRROR:-$(apt_private_mirror debian)}
	[[ -n $mirror ]] || die "no Debian mirror in /etc/apt/sources.list*: set VM_DEBIAN_MIRROR (its URL, ending in /debian)"
	security=${VM_DEBIAN_SECURITY_MIRROR:-$(apt_private_mirror debian-security)}
	security=${security:-$mirror-security}
	local s foreign=()
	# amd64 first, as the "native" architecture; arm64's indices only when a kernel needs them.
	mapfile -t foreign < <(printf '%s\n' "${archs[@]}" | grep -v -x amd64 | sort -u)
	apt_private_init "$apt_dir" amd64 "${foreign[@]}"
	{
		for s in bullseye bookworm trixie; do
			echo "deb [signed-by=$keyring] $mirror $s main"
			echo "deb [signed-by=$keyring] $security $s-security main"
		done
		echo "deb [signed-by=$keyring] $mirror bookworm-backports main"
		echo "deb [signed-by=$keyring] $mirror trixie-backports main"
	} >"$apt_dir/etc/sources.list"
	echo "fetch-kernels: apt-get update of $mirror and $security (private lists in $apt_dir)" >&2
	timeout 600 apt-get -q update >&2 ||
		die "apt-get update of the private lists failed (is $mirror reachable?)"
	apt_ready=true
}

# --- download and unpack -----------------------------------------------------------------

fetch_one() { # fetch_one INDEX: leaves $cache/NAME/{vmlinuz,release,pin[,config]}
	local name=${names[$1]} suite=${suites[$1]} package=${packages[$1]} version=${versions[$1]}
	local arch=${archs[$1]}
	local dir=$cache/$name pin="$package=$version" tmp deb image release

	if [[ -s $dir/vmlinuz && $(cat "$dir/pin" 2>/dev/null) == "$pin" ]]; then
		return 0
	fi
	apt_setup
	if ! apt-cache madison "$package:$arch" 2>/dev/null | awk -F'|' -v v="$version" '{gsub(/ /, "", $2)} $2 == v {f = 1} END {exit !f}'; then
		local have
		have=$(apt-cache madison "$package:$arch" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); split($3, w, " "); printf "%s%s in %s", sep, $2, w[2]; sep = ", "}')
		die "kernel $name: $package version $version is not on the mirror (pinned in tests/vm/kernels, expected in $suite); the mirror has ${have:-no version of $package}"
	fi
	tmp=$(mktemp -d "$cache/.fetch-$name.XXXXXX")
	echo "fetch-kernels: downloading $package $version ($suite)" >&2
	if ! (cd "$tmp" && timeout 900 apt-get -q download "$package:$arch=$version" >&2); then
		rm -rf "$tmp"
		die "kernel $name: $package version $version is listed in $suite but could not be downloaded (gone from the pool?); pin another version in tests/vm/kernels"
	fi
	deb=$(echo "$tmp"/*.deb)
	[[ -f $deb ]] || die "kernel $name: apt-get download left no .deb"
	dpkg-deb -x "$deb" "$tmp/root"
	image=$(find "$tmp/root/boot" "$tmp/root/usr/lib/modules" "$tmp/root/lib/modules" \
		\( -name 'vmlinuz-*' -o -name vmlinuz \) -type f 2>/dev/null | head -n1 || true)
	[[ -n $image ]] || {
		rm -rf "$tmp"
		die "kernel $name: $package $version holds no vmlinuz (from 6.19 on the image is in linux-binary-*)"
	}
	if [[ $image == */boot/vmlinuz-* ]]; then
		release=${image##*/vmlinuz-}
	else
		release=$(basename "$(dirname "$image")")
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$image" "$dir/vmlinuz"
	[[ -f $tmp/root/boot/config-$release ]] && mv "$tmp/root/boot/config-$release" "$dir/config"
	echo "$release" >"$dir/release"
	echo "$pin" >"$dir/pin"
	rm -rf "$tmp"
	echo "fetch-kernels: cached $release in $dir" >&2
}

# --- main ------------------------------------------------------------------------------

if [[ ${1:-} == --available ]]; then
	apt_setup
	apt-cache pkgnames linux- | grep -E '^linux-(image|binary)-[0-9].*-cloud-amd64$' | sort -V |
		xargs -r apt-cache madison | awk -F'|' '{gsub(/ /, "", $1); gsub(/ /, "", $2); split($3, w, " "); print $1, $2, w[2]}'
	exit 0
fi

selected=()
if (($# == 0)); then
	selected=("${!names[@]}")
else
	for want in "$@"; do
		found=false
		for i in "${!names[@]}"; do
			if [[ ${names[i]} == "$want" || ${names[i]} == "$want".* || ${archs[i]} == "$want" ]]; then
				[[ " ${selected[*]} " == *" $i "* ]] || selected+=("$i")
				found=true
			fi
		done
		$found || die "no kernel named \"$want\" in tests/vm/kernels (there are: ${names[*]})"
	done
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 1800 9 || die "another fetch-kernels.sh holds $cache/.lock"
for i in "${selected[@]}"; do
	fetch_one "$i"
done
for i in "${selected[@]}"; do
	printf '%s\t%s\t%s\n' "${names[i]}" "$cache/${names[i]}" "${archs[i]}"
done
