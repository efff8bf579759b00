#!/usr/bin/env bash
# Generates a vmlinux.h from the BTF of a Debian kernel image package, for an
# architecture this machine need not run: downloads the package through a private apt
# configuration, takes the kernel image out of it, decompresses it when it is compressed,
# cuts the .BTF blob out of it, checks that bpftool parses it and that it holds the types
# the BPF programs need, and writes `bpftool btf dump file BLOB format c` to OUTPUT.
#
# Usage: tools/vmlinux-btf.sh [options] PACKAGE VERSION OUTPUT
#   e.g.  tools/vmlinux-btf.sh linux-image-6.18.15+deb13-cloud-arm64 6.18.15-1~bpo13+1 \
#             vmlinux/arm64/vmlinux.h
#        tools/vmlinux-btf.sh [options] --list ARCH
#   lists the cloud kernel image packages (PACKAGE VERSION SUITE) the mirror has for
#   ARCH (arm64, amd64, ...), to choose one from.
#
# Options:
#   --work DIR      where the private apt configuration, the downloaded .deb and the
#                   extracted BTF are kept (default build/vm-ARCH of this checkout)
#   --arch ARCH     Debian architecture of PACKAGE (default: the suffix of its name)
#   --mirror URL    Debian mirror (default $VMLINUX_MIRROR or http://deb.debian.org)
#   --require TYPE  one more type the BTF must hold, e.g. "struct sock" (repeatable)
#
# /etc/apt, /var/lib/apt and dpkg's architecture list are neither read nor changed: apt
# runs with APT_CONFIG pointing at WORK/apt/apt.conf (its own sources, lists, cache and an
# empty dpkg status). apt-get download checks the .deb against the signed indices (keyring
# /usr/share/keyrings/debian-archive-keyring.gpg).
#
# Idempotent: a .deb already in WORK is not downloaded again (no network at all then), and
# OUTPUT is rewritten only when its content changes. The header is exactly bpftool's
# output, so the same package and the same bpftool give the same bytes.
#
# Needs: apt-get, dpkg-deb, python3, bpftool (and zstd or lz4 only for kernels whose image
# is compressed that way).
set -euo pipefail

# shellcheck source=SCRIPTDIR/apt-private.sh
source "$(dirname "$0")/apt-private.sh"

die() {
	echo "vmlinux-btf: $*" >&2
	exit 1
}
log() { echo "vmlinux-btf: $*" >&2; }

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

work='' arch='' mirror=${VMLINUX_MIRROR:-http://deb.debian.org} list=false
required=('struct task_struct' 'struct bpf_iter__task_file' 'struct tcp_sock' 'struct bpf_sockopt')
args=()
while (($#)); do
	case $1 in
	--work) work=${2:?--work needs a directory}; shift 2 ;;
	--arch) arch=${2:?--arch needs an architecture}; shift 2 ;;
	--mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
	--require) required+=("${2:?--require needs a type, e.g. \"struct sock\"}"); shift 2 ;;
	--list) list=true; shift ;;
	-h | --help) usage ;;
	--) shift; args+=("$@"); break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) args+=("$1"); shift ;;
	esac
done

if $list; then
	((${#args[@]} == 1)) || usage
	arch=${args[0]}
else
	((${#args[@]} == 3)) || usage
	package=${args[0]} version=${args[1]} output=${args[2]}
	[[ $package =~ ^linux-(image|binary)-[a-z0-9.+~-]+$ ]] ||
		die "\"$package\" is not a kernel image package name (linux-image-* or linux-binary-*)"
	[[ $version =~ ^[A-Za-z0-9.+~:-]+$ ]] || die "\"$version\" is not a Debian version"
	[[ -n $arch ]] || arch=${package##*-}
fi
case $arch in
amd64 | arm64 | armhf | armel | i386 | ppc64el | riscv64 | s390x | loong64) ;;
*) die "\"$arch\" is not a Debian architecture (name the package's with --arch)" ;;
esac

PYTHON=${PYTHON:-python3}
BPFTOOL=${BPFTOOL:-bpftool}
for tool in apt-get apt-cache dpkg-deb flock "$PYTHON" "$BPFTOOL"; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

work=${work:-$(cd "$(dirname "$0")/.." && pwd)/build/vm-$arch}
mkdir -p "$work"
work=$(cd "$work" && pwd)
apt_dir=$work/apt
keyring=$apt_private_keyring

exec 9>"$work/.lock"
flock -w 1800 9 || die "another vmlinux-btf.sh holds $work/.lock"

# --- the private apt configuration -------------------------------------------------------

# apt_private_init (tools/apt-private.sh) writes the apt.conf that keeps apt away from the
# machine's configuration and state; the sources are this script's.
apt_ready=false
apt_setup() {
	$apt_ready && return 0
	[[ -r $keyring ]] || die "$keyring is missing (package debian-archive-keyring)"
	local s
	apt_private_init "$apt_dir" "$arch"
	{
		for s in bookworm trixie; do
			echo "deb [signed-by=$keyring] $mirror/debian $s main"
			echo "deb [signed-by=$keyring] $mirror/debian-security $s-security main"
			echo "deb [signed-by=$keyring] $mirror/debian $s-backports main"
		done
	} >"$apt_dir/etc/sources.list"
	log "apt-get update ($arch lists in $apt_dir)"
	timeout 600 apt-get -q update >&2 ||
		die "apt-get update of the private lists failed (is $mirror reachable?)"
	apt_ready=true
}

if $list; then
	apt_setup
	apt-cache pkgnames linux- | grep -E "^linux-(image|binary)-[0-9].*-cloud-$arch\$" | sort -V |
		xargs -r apt-cache madison |
		awk -F'|' '{gsub(/ /, "", $1); gsub(/ /, "", $2); split($3, w, " "); print $1, $2, w[2]}'
	exit 0
fi

# --- the package -------------------------------------------------------------------------

pin="$package=$version"
pkg_dir=$work/deb/${package}_${version//:/%3a}
deb=$(find "$pkg_dir" -maxdepth 1 -name '*.deb' 2>/dev/null | head -n1 || true)
if [[ -z $deb ]]; then
	apt_setup
	if ! apt-cache madison "$package" 2>/dev/null |
		awk -F'|' -v v="$version" '{gsub(/ /, "", $2)} $2 == v {f = 1} END {exit !f}'; then
		have=$(apt-cache madison "$package" 2>/dev/null |
			awk -F'|' '{gsub(/ /, "", $2); split($3, w, " "); printf "%s%s in %s", sep, $2, w[2]; sep = ", "}')
		die "$package $version ($arch) is not on the mirror; it has ${have:-no version of $package} (tools/vmlinux-btf.sh --list $arch lists them all)"
	fi
	tmp=$(mktemp -d "$work/.download.XXXXXX")
	log "downloading $pin ($arch)"
	if ! (cd "$tmp" && timeout 900 apt-get -q download "$pin" >&2); then
		rm -rf "$tmp"
		die "$pin is listed but could not be downloaded (gone from the pool?)"
	fi
	rm -rf "$pkg_dir"
	mkdir -p "$(dirname "$pkg_dir")"
	mv "$tmp" "$pkg_dir"
	deb=$(find "$pkg_dir" -maxdepth 1 -name '*.deb' | head -n1)
	[[ -n $deb ]] || die "apt-get download of $pin left no .deb"
else
	log "using the cached $(basename "$deb")"
fi
[[ $(dpkg-deb -f "$deb" Package) == "$package" && $(dpkg-deb -f "$deb" Version) == "$version" &&
	$(dpkg-deb -f "$deb" Architecture) == "$arch" ]] ||
	die "$deb is not $pin for $arch; delete $pkg_dir and run again"
deb_sha=$(sha256sum "$deb" | cut -d' ' -f1)

# --- the kernel image and its BTF --------------------------------------------------------

root=$(mktemp -d "$work/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
image=$(find "$root/boot" "$root/usr/lib/modules" "$root/lib/modules" \
	\( -name 'vmlinuz-*' -o -name 'vmlinux-*' -o -name vmlinuz \) -type f 2>/dev/null | head -n1 || true)
[[ -n $image ]] || die "$pin holds no kernel image (from 6.19 on it is in linux-binary-*, not linux-image-*)"
log "kernel image ${image#"$root"} ($(stat -c %s "$image") bytes, sha256 of the .deb $deb_sha)"

btf=$pkg_dir/vmlinux.btf
"$PYTHON" - "$image" "$btf.tmp" <<'EOF'
# Finds the vmlinux BTF in a kernel image: a raw arm64 Image (Debian's signed arm64
# vmlinuz is one), a gzip'ed Image, an EFI zboot image (CONFIG_EFI_ZBOOT: "zimg" payload),
# an ELF vmlinux, or a bzImage and the like (compressed streams found by their magic, as
# the kernel's scripts/extract-vmlinux does).
import lzma, bz2, struct, subprocess, sys, zlib

LIMIT = 1 << 30  # no image, compressed or not, is larger than 1 GiB
src, dst = sys.argv[1], sys.argv[2]
with open(src, 'rb') as f:
    data = f.read(LIMIT + 1)
if len(data) > LIMIT:
    sys.exit(f'{src} is larger than 1 GiB')

def btf_blobs(buf):
    """(offset, size) of every well-formed BTF blob: magic 0xeb9f (little-endian),
    version 1, flags 0, hdr_len 24, type and string sections inside the buffer, the
    string section starting and ending with NUL."""
    i = 0
    while True:
        i = buf.find(b'\x9f\xeb\x01\x00\x18\x00\x00\x00', i)
        if i < 0:
            return
        type_off, type_len, str_off, str_len = struct.unpack_from('<4I', buf, i + 8)
        size = 24 + max(type_off + type_len, str_off + str_len)
        s = i + 24 + str_off
        if (type_len and str_len and type_off % 4 == 0 and i + size <= len(buf)
                and buf[s] == 0 and buf[s + str_len - 1] == 0):
            yield i, size
        i += 4

def gunzip(b):
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b, LIMIT)

def unxz(b, fmt=lzma.FORMAT_AUTO):
    return lzma.LZMADecompressor(fmt).decompress(b, LIMIT)

def tool(cmd):
    def run(b):
        # The stream is followed by the rest of the image: the tool complains about
        # trailing garbage after writing everything it decoded, so its status is ignored.
        p = subprocess.run(cmd, input=b, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=300)
        return p.stdout[:LIMIT]
    return run

codecs = {  # magic -> decoder
    b'\x1f\x8b\x08': gunzip,
    b'\xfd7zXZ\x00': unxz,
    b'\x5d\x00\x00': lambda b: unxz(b, lzma.FORMAT_ALONE),
    b'BZh': lambda b: bz2.BZ2Decompressor().decompress(b, LIMIT),
    b'\x28\xb5\x2f\xfd': tool(['zstd', '-dcq']),
    b'\x02\x21\x4c\x18': tool(['lz4', '-dcq']),
}
zboot_codecs = {b'gzip': gunzip, b'xzkern': unxz, b'lzma': unxz,
                b'zstd22': tool(['zstd', '-dcq']), b'zstd': tool(['zstd', '-dcq']),
                b'lz4': tool(['lz4', '-dcq']), b'bzip2': codecs[b'BZh']}

def candidates(buf):
    yield 'the image as it is', buf
    if buf[:2] == b'MZ' and buf[4:8] == b'zimg':  # EFI zboot
        off, size = struct.unpack_from('<2I', buf, 8)
        comp = buf[24:56].split(b'\0')[0]
        if comp not in zboot_codecs:
            sys.exit(f'{src}: EFI zboot image compressed with {comp.decode()!r}, not supported')
        yield f'the EFI zboot payload ({comp.decode()})', zboot_codecs[comp](buf[off:off + size])
        return
    for magic, decode in codecs.items():
        at = buf.find(magic)
        tries = 0
        while at >= 0 and tries < 16:
            try:
                out = decode(buf[at:])
            except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError,
                    subprocess.SubprocessError, FileNotFoundError):
                out = b''
            if len(out) > 1 << 20:
                yield f'the stream at {at:#x} ({len(out)} bytes decompressed)', out
            at = buf.find(magic, at + 1)
            tries += 1

for what, buf in candidates(data):
    blobs = sorted(btf_blobs(buf), key=lambda b: b[1], reverse=True)
    if blobs:
        off, size = blobs[0]
        with open(dst, 'wb') as f:
            f.write(buf[off:off + size])
        print(f'vmlinux-btf: BTF at {off:#x} of {what}: {size} bytes', file=sys.stderr)
        sys.exit(0)
sys.exit(f'{src}: no BTF found (is CONFIG_DEBUG_INFO_BTF set in this kernel?)')
EOF
mv "$btf.tmp" "$btf"

# --- check it, then write the header -----------------------------------------------------

types=$("$BPFTOOL" btf dump file "$btf" 2>&1) || die "bpftool cannot parse the BTF cut from $pin: $(head -n3 <<<"$types")"
missing=()
for t in "${required[@]}"; do
	kind=${t%% *} name=${t#* }
	grep -qE "^\[[0-9]+\] ${kind^^} '$name' " <<<"$types" || missing+=("$t")
done
((${#missing[@]} == 0)) || die "the BTF of $pin lacks: ${missing[*]}"
log "BTF parses: $(grep -c '^\[' <<<"$types") types, ${#required[@]} required types present"

mkdir -p "$(dirname "$output")"
"$BPFTOOL" btf dump file "$btf" format c >"$output.tmp" || {
	rm -f "$output.tmp"
	die "bpftool btf dump ... format c failed"
}
if cmp -s "$output.tmp" "$output"; then
	rm -f "$output.tmp"
	log "$output is up to date ($pin)"
else
	mv "$output.tmp" "$output"
	log "wrote $output ($(stat -c %s "$output") bytes) from $pin"
fi
