#!/usr/bin/env bash
# Builds the initramfs of `make vmtest` from the build: the agent, the demo workload, the
# kernel-tier tests and their fixtures, with every shared library they load (from ldd, with
# the dynamic loader), busybox (static) for the shell and the usual commands, bash and
# coreutils' timeout for tests/run-unit.sh, curl to scrape, bpftool to list the programs,
# examples/local.yaml, and tests/vm/init as /init.
#
# The archive is written by cpio with every file owned by root; no device node is in it
# (the kernel's own built-in initramfs has /dev/console, and /init mounts devtmpfs), so
# building it needs no privilege.
#
# Usage: tests/vm/initramfs.sh [--sysroot DIR] BUILD OUT.cpio.gz [TEST...]
#   TEST: the kernel-tier test binaries (default BUILD/tests/bpf/test_kernel); /init runs
#   them all, in this order.
#   --sysroot DIR: for a build of another architecture (make cross-arm64: BUILD
#   build/arm64, DIR build/arm64/sysroot, from tools/arm64-sysroot.sh). busybox, bash,
#   timeout, curl and bpftool are then that architecture's, from DIR, and the shared
#   libraries are found in DIR (their NEEDED entries, recursively, as ldd cannot run the
#   binaries); busybox's applets are this machine's busybox's list (same Debian package).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sysroot=''
if [[ ${1:-} == --sysroot ]]; then
	sysroot=$(cd "${2:?--sysroot needs a directory}" && pwd)
	shift 2
fi
build=$1
out=$2
shift 2
tests=("$@")
((${#tests[@]})) || tests=("$build/tests/bpf/test_kernel")
root=$(dirname "$out")/root

die() {
	echo "initramfs: $*" >&2
	exit 1
}

need() { # need PATH: a file the initramfs cannot do without
	[[ -f $1 ]] || die "$1 is missing${2:+ ($2)}"
}

need "$build/ctrlscope" "make all"
need "$build/demo-workload" "make all"
for t in "${tests[@]}"; do
	need "$t" "make $t"
done
need "$build/fixtures/sysload" "make $build/fixtures/sysload"
need /bin/busybox "make deps: busybox-static"
if [[ -n $sysroot ]]; then
	# The guest's programs, of the build's architecture.
	bash_bin=$sysroot/bin/bash timeout_bin=$sysroot/usr/bin/timeout curl_bin=$sysroot/usr/bin/curl
	bpftool_bin=$sysroot/usr/sbin/bpftool busybox_bin=$sysroot/bin/busybox
	for f in "$bash_bin" "$timeout_bin" "$curl_bin" "$bpftool_bin" "$busybox_bin"; do
		need "$f" "make deps: tools/arm64-sysroot.sh"
	done
	for tool in readelf cpio; do
		command -v "$tool" >/dev/null || die "$tool is missing (make deps)"
	done
	strip_cmd=$(command -v aarch64-linux-gnu-strip || command -v llvm-strip-19 || echo false)
else
	for tool in bash timeout curl bpftool cpio; do
		command -v "$tool" >/dev/null || die "$tool is missing (make deps)"
	done
	bash_bin=$(command -v bash) timeout_bin=$(command -v timeout) curl_bin=$(command -v curl)
	bpftool_bin=$(command -v bpftool) busybox_bin=/bin/busybox
	strip_cmd=strip
fi

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,ctrlscope}

# copy SRC DEST: a file into the root, at DEST (a path in the guest).
copy() {
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2"
}

# The shared libraries a binary of the sysroot's architecture needs, as paths in the
# sysroot: its interpreter, then its NEEDED entries, theirs, and so on, each found in the
# directories the guest's loader searches by default.
sysroot_libs() { # sysroot_libs FILE
	local todo=("$1") f lib d found seen=" " interp
	interp=$(readelf -l "$1" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
	[[ -z $interp ]] || echo "$sysroot$interp"
	while ((${#todo[@]})); do
		f=${todo[0]}
		todo=("${todo[@]:1}")
		for lib in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			[[ $seen == *" $lib "* ]] && continue
			seen+="$lib "
			found=''
			for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
				if [[ -e $sysroot/$d/$lib ]]; then
					found=$sysroot/$d/$lib
					break
				fi
			done
			[[ -n $found ]] || {
				echo "initramfs: $lib, needed by ${f#"$sysroot"}, is not in $sysroot" >&2
				return 1
			}
			echo "$found"
			todo+=("$found")
		done
	done
}

# A binary at DEST, and the shared libraries it needs at the paths ldd names (the same
# as on this machine, so the loader's default search path finds them in the guest too),
# or, with --sysroot, at their paths in the sysroot.
libs_seen=" "
binary() { # binary SRC DEST
	local src=$1 dest=$2 lib libs
	copy "$src" "$dest"
	# Debug sections are only size in the guest (the originals stay in build/).
	"$strip_cmd" --strip-debug "$root$dest" 2>/dev/null || true
	if [[ -n $sysroot ]]; then
		libs=$(sysroot_libs "$src") || die "cannot find the libraries of $src"
	else
		# ldd fails on a static binary: no library then.
		libs=$(ldd "$src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}') || true
	fi
	while read -r lib; do
		[[ -n $lib ]] || continue
		[[ $libs_seen == *" $lib "* ]] && continue
		libs_seen+="$lib "
		copy "$lib" "${lib#"$sysroot"}"
	done <<<"$libs"
}

# A library the agent opens at run time (dlopen), not in its NEEDED entries: at the path
# the guest's loader searches, with the libraries it needs in turn.
dlopened() { # dlopened SONAME
	local d found='' arch=x86_64
	[[ -z $sysroot ]] || arch=aarch64
	for d in lib/$arch-linux-gnu usr/lib/$arch-linux-gnu lib usr/lib; do
		if [[ -e ${sysroot:-}/$d/$1 ]]; then
			found=${sysroot:-}/$d/$1
			break
		fi
	done
	[[ -n $found ]] || die "$1, which the agent loads to decode Go code, is not installed"
	binary "$found" "${found#"${sysroot:-}"}"
}

binary "$build/ctrlscope" /ctrlscope/build/ctrlscope
dlopened libcapstone.so.4
binary "$build/demo-workload" /ctrlscope/build/demo-workload
# test_kernel finds its fixtures at ../../fixtures from its own path, as in build/.
for t in "${tests[@]}"; do
	binary "$t" "/ctrlscope/build/tests/bpf/$(basename "$t")"
	echo "/ctrlscope/build/tests/bpf/$(basename "$t")" >>"$root/ctrlscope/tests.list"
done
for fixture in "$build"/fixtures/*; do
	[[ -f $fixture && -x $fixture ]] || continue
	[[ $(basename "$fixture") == fakeapi ]] && continue # Go, for the e2e tier only
	binary "$fixture" "/ctrlscope/build/fixtures/$(basename "$fixture")"
done
# The controller-runtime fixture of the reconcile module's exact step (amd64 only: the
# guest skips the step without it).
reconciler=$build/fixtures/reconciler/reconciler-cr0.25-go1.26-stripped
if [[ -z $sysroot && -x $reconciler ]]; then
	copy "$reconciler" "/ctrlscope/build/fixtures/reconciler/$(basename "$reconciler")"
fi
copy "$top/tests/run-unit.sh" /ctrlscope/tests/run-unit.sh
copy "$top/examples/local.yaml" /ctrlscope/examples/local.yaml

binary "$bash_bin" /bin/bash
binary "$timeout_bin" /usr/bin/timeout
binary "$curl_bin" /usr/bin/curl
binary "$bpftool_bin" /usr/sbin/bpftool

# busybox for everything else, without shadowing what was copied above.
binary "$busybox_bin" /bin/busybox
for applet in $(/bin/busybox --list-full); do
	[[ -e $root/$applet || -L $root/$applet ]] && continue
	mkdir -p "$root/$(dirname "$applet")"
	ln -s /bin/busybox "$root/$applet"
done

# What the C library and curl read. The guest has no network besides loopback.
cat >"$root/etc/passwd" <<-EOT
	root:x:0:0:root:/root:/bin/sh
	nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOT
cat >"$root/etc/group" <<-EOT
	root:x:0:
	nogroup:x:65534:
EOT
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"

install -m 0755 "$here/init" "$root/init"

tmp=$out.tmp
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$tmp"
mv "$tmp" "$out"
