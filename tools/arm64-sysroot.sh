#!/usr/bin/env bash
# Makes the arm64 sysroot of `make cross-arm64`: Debian bookworm's arm64 packages that the
# agent, the kernel-tier tests and the fixtures build against (headers, libbpf.a, the
# shared libraries they link, cmocka, glibc's crt files and libgcc), and the arm64 programs
# the arm64 guests of `make vmtest` run (busybox-static, bash, coreutils' timeout, curl,
# bpftool), each package with its dependencies, unpacked (dpkg-deb -x) into one directory.
# clang-19 compiles and binutils-aarch64-linux-gnu links against it:
#   clang-19 --target=aarch64-linux-gnu --sysroot=BUILD/arm64/sysroot ...
#
# The packages come from Debian's archive through a private apt configuration under
# BUILD/arm64/apt (its own sources, lists, cache, an empty dpkg status, arm64 as the only
# architecture): /etc/apt, /var/lib/apt, /var/lib/dpkg and dpkg's architecture list are
# neither used nor changed, and nothing is installed. apt-get download checks every .deb
# against the archive's signed indices (keyring debian-archive-keyring). Only the mirror
# is taken from the machine's sources (the first .../debian and .../debian-security URIs),
# unless SYSROOT_DEBIAN_MIRROR (and SYSROOT_DEBIAN_SECURITY_MIRROR) name one.
#
# Idempotent: a sysroot made from this script's package list is left alone and nothing is
# downloaded (no network at all). When the list changes, the sysroot is made again, and
# only the .debs that are not in BUILD/arm64/debs yet are downloaded. To take the
# archive's newer versions (security updates), delete BUILD/arm64/sysroot.
#
# Usage: tools/arm64-sysroot.sh [--build DIR]   (default: build of this checkout)
# Prints the sysroot's path on stdout.
#
# Needs: apt-get, dpkg-deb, flock (and debian-archive-keyring).
set -euo pipefail

# What the cross build compiles and links against (the -dev packages of .ci/deps's build
# packages, for arm64), and libgcc-12-dev for crtbegin.o and libgcc.
build_packages=(
	libc6-dev linux-libc-dev libgcc-12-dev
	libbpf-dev libelf-dev zlib1g-dev
	libmicrohttpd-dev libyaml-dev
	libgnutls28-dev libssl-dev libcrypt-dev
	libcurl4-openssl-dev libjansson-dev
	libcapstone-dev
	libcmocka-dev
)
# What the arm64 guests of make vmtest run besides the build (tests/vm/initramfs.sh).
guest_packages=(busybox-static bash coreutils curl bpftool)

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/apt-private.sh
source "$here/apt-private.sh"
build=$here/../build
if [[ ${1:-} == --build ]]; then
	build=${2:?--build needs a directory}
	shift 2
fi
(($# == 0)) || {
	echo "usage: $0 [--build DIR]" >&2
	exit 2
}
mkdir -p "$build/arm64"
work=$(cd "$build/arm64" && pwd)
sysroot=$work/sysroot
apt_dir=$work/apt
debs=$work/debs
keyring=$apt_private_keyring
wanted="bookworm arm64: ${build_packages[*]} ${guest_packages[*]}"

die() {
	echo "arm64-sysroot: $*" >&2
	exit 1
}
log() { echo "arm64-sysroot: $*" >&2; }

for tool in apt-get dpkg-deb flock; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

exec 9>"$work/.sysroot.lock"
flock -w 1800 9 || die "another arm64-sysroot.sh holds $work/.sysroot.lock"

if [[ -f $sysroot/.packages && $(head -n1 "$sysroot/.packages") == "$wanted" ]]; then
	echo "$sysroot"
	exit 0
fi

# --- the private apt configuration -------------------------------------------------------

# apt_private_init (tools/apt-private.sh) writes the apt.conf that keeps apt away from the
# machine's configuration and state; the sources are this script's.
[[ -r $keyring ]] || die "$keyring is missing (package debian-archive-keyring)"
mirror=${SYSROOT_DEBIAN_MIRROR:-$(apt_private_mirror debian)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${SYSROOT_DEBIAN_SECURITY_MIRROR:-$(apt_private_mirror debian-security)}
security=${security:-$mirror-security}
apt_private_init "$apt_dir" arm64
cat >"$apt_dir/etc/sources.list" <<-EOT
	deb [signed-by=$keyring] $mirror bookworm main
	deb [signed-by=$keyring] $mirror bookworm-updates main
	deb [signed-by=$keyring] $security bookworm-security main
EOT
log "apt-get update of $mirror and $security (private arm64 lists in $apt_dir)"
timeout 600 apt-get -q update >&2 || die "apt-get update of the private lists failed (is $mirror reachable?)"

# --- the packages and their dependencies -------------------------------------------------

# What installing them on an empty arm64 system would install: exact versions.
sim=$(apt-get -s -q install "${build_packages[@]}" "${guest_packages[@]}" 2>&1) ||
	die "apt cannot resolve the packages: $(tail -n5 <<<"$sim")"
mapfile -t pins < <(sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' <<<"$sim" | LC_ALL=C sort)
((${#pins[@]})) || die "apt resolved no package to download"

deb_of() { # deb_of NAME=VERSION: the .deb in $debs, if there is one
	local name=${1%%=*} version=${1#*=}
	compgen -G "$debs/${name}_${version//:/%3a}_*.deb" | head -n1 || true
}

mkdir -p "$debs"
missing=()
for pin in "${pins[@]}"; do
	[[ -n $(deb_of "$pin") ]] || missing+=("$pin")
done
if ((${#missing[@]})); then
	log "downloading ${#missing[@]} of ${#pins[@]} arm64 packages into $debs"
	tmp=$(mktemp -d "$work/.download.XXXXXX")
	if ! (cd "$tmp" && timeout 1800 apt-get -q download "${missing[@]}" >&2); then
		rm -rf "$tmp"
		die "apt-get download failed"
	fi
	mv "$tmp"/*.deb "$debs/"
	rmdir "$tmp"
fi

# --- unpack ------------------------------------------------------------------------------

root=$(mktemp -d "$work/.sysroot.XXXXXX")
trap 'rm -rf "$root"' EXIT
keep=" "
for pin in "${pins[@]}"; do
	deb=$(deb_of "$pin")
	[[ -n $deb ]] || die "$pin was not downloaded"
	[[ $(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version) == "$pin" ]] ||
		die "$deb is not $pin; delete it and run again"
	dpkg-deb -x "$deb" "$root"
	keep+="$(basename "$deb") "
done
# Absolute symbolic links (libz.so -> /lib/aarch64-linux-gnu/libz.so.1.2.13) would point
# at this machine's files: make them relative, inside the sysroot.
while IFS= read -r link; do
	target=$(readlink "$link")
	rel=$(realpath -m --relative-to="$(dirname "$link")" "$root$target")
	ln -sfn "$rel" "$link"
done < <(find "$root" -type l -lname '/*')
{
	echo "$wanted"
	printf '%s\n' "${pins[@]}"
} >"$root/.packages"
chmod 755 "$root"
rm -rf "$sysroot"
mv "$root" "$sysroot"
trap - EXIT
# .debs of versions the archive has replaced since.
for deb in "$debs"/*.deb; do
	[[ $keep == *" $(basename "$deb") "* ]] || rm -f "$deb"
done
log "$sysroot: ${#pins[@]} packages ($(du -sh "$debs" | cut -f1) of .debs)"
echo "$sysroot"
