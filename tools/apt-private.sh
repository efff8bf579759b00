# shellcheck shell=bash
# A private apt configuration, for scripts that download Debian packages without
# touching the machine's apt: tests/vm/fetch-kernels.sh, tools/vmlinux-btf.sh and
# tools/arm64-sysroot.sh source this file (it is not run on its own). Each script writes
# its own DIR/etc/sources.list (suites and mirrors differ), signed by
# $apt_private_keyring, and keeps its own error messages.
#
#   apt_private_mirror debian|debian-security
#       prints the machine's mirror: the first URI of its Debian sources whose path ends
#       with /debian (or /debian-security), without the trailing slash; nothing when there
#       is none. The caller applies its own override first, e.g.
#       mirror=${VM_DEBIAN_MIRROR:-$(apt_private_mirror debian)}
#   apt_private_init DIR ARCH [FOREIGN_ARCH...]
#       makes DIR's skeleton (lists, cache, etc/*.d, an empty dpkg status), writes
#       DIR/apt.conf for ARCH as the native architecture (and each FOREIGN_ARCH's indices
#       too) and exports APT_CONFIG=DIR/apt.conf.

# shellcheck disable=SC2034 # used by the scripts that source this file
apt_private_keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# Only the mirror is taken from the machine's sources, one-line or deb822 format.
apt_private_mirror() {
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
		2>/dev/null | grep -v '^[[:space:]]*#' | grep -o -E "(https?|file)://[^[:space:]]+/$1/?([[:space:]]|\$)" |
		head -n1 | tr -d '[:space:]' | sed 's:/$::' || true
}

apt_private_init() {
	local dir=$1 arch=$2 archs a
	shift 2
	archs="\"$arch\";"
	for a in "$@"; do
		archs+=" \"$a\";"
	done
	mkdir -p "$dir"/{lists/partial,cache/archives/partial,etc/apt.conf.d,etc/sources.list.d,etc/preferences.d}
	dir=$(cd "$dir" && pwd) # apt.conf's paths must be absolute
	: >"$dir/status"
	# APT_CONFIG is read before anything else, so these settings keep apt away from
	# /etc/apt/apt.conf{,.d}, /etc/apt/sources.list{,.d}, /etc/apt/preferences{,.d},
	# /var/lib/{apt,dpkg} and the machine's own architecture list. Dir::State moves the
	# rest of apt's state too (extended_states, read whenever apt builds its dependency
	# cache, e.g. for apt-get download). Install-Recommends matters only to resolving
	# (arm64-sysroot.sh's apt-get -s install); download, madison and update ignore it.
	# No Debug::NoLocking: apt's locks are files in DIR, so they never meet the machine's
	# apt, and they keep two runs sharing DIR from updating its lists at once
	# (fetch-kernels.sh --available runs apt outside the script's own lock).
	cat >"$dir/apt.conf" <<-EOT
		Dir::Etc::main "/dev/null";
		Dir::Etc::parts "$dir/etc/apt.conf.d";
		Dir::Etc::sourcelist "$dir/etc/sources.list";
		Dir::Etc::sourceparts "$dir/etc/sources.list.d";
		Dir::Etc::preferences "$dir/etc/preferences";
		Dir::Etc::preferencesparts "$dir/etc/preferences.d";
		Dir::State "$dir";
		Dir::State::Lists "$dir/lists";
		Dir::State::status "$dir/status";
		Dir::Cache "$dir/cache";
		APT::Architecture "$arch";
		APT::Architectures { $archs };
		APT::Sandbox::User "root";
		APT::Install-Recommends "false";
		Acquire::Languages "none";
		Acquire::GzipIndexes "true";
		Acquire::CompressionTypes::Order { "gz"; };
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
		Acquire::http::Timeout "60";
		Acquire::Retries "2";
	EOT
	export APT_CONFIG=$dir/apt.conf
}
