#!/usr/bin/env bash
# The arm64 tier of make check: cross-builds everything for arm64 (make cross-arm64, into
# BUILD/arm64) and checks what it built, as TAP on stdout:
#   - the sysroot is there (make deps makes it: tools/arm64-sysroot.sh),
#   - the cross build succeeds,
#   - the syscall table is arm64's (asm-generic numbers, not x86_64's),
#   - each BPF object (bpf/*.bpf.c) is eBPF built for arm64, with its skeleton,
#   - the agent links: an AArch64 executable for /lib/ld-linux-aarch64.so.1, libbpf linked
#     statically, every other library it needs found in the sysroot,
#   - the demo workload, the fixtures, the unit tests and the kernel-tier tests are
#     AArch64 executables, one line per group.
# Nothing here runs arm64 code: make vmtest boots an arm64 kernel for that (tests/vm).
# The build's output is kept in BUILD/arm64/build.log; failing lines show its errors.
#
# Usage: tests/run-arm64.sh BUILD MAKE   (MAKE: the make to run, $(MAKE) from the Makefile)
# Exits 1 when any line is "not ok", else 0.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD MAKE" >&2
	exit 2
fi
build=$1
make=$2
top=$(cd "$(dirname "$0")/.." && pwd)
out=$build/arm64
sysroot=$out/sysroot
total=0 failures=0

result() { # result "ok"|"not ok" description [diagnostic...]
	total=$((total + 1))
	[ "$1" = ok ] || failures=$((failures + 1))
	printf '%s %d - arm64: %s\n' "$1" "$total" "$2"
	shift 2
	local line
	for line in "$@"; do
		printf '# %s\n' "$line"
	done
}

# readelf's view of an ELF file: "machine type interpreter" (interpreter "-" when none).
elf_of() {
	local machine type interp
	machine=$(readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p')
	type=$(readelf -h "$1" 2>/dev/null | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
	interp=$(readelf -l "$1" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
	echo "${machine:-none} ${type:-none} ${interp:--}"
}

# check_executables WHAT FILE...: one line for a group of arm64 executables.
check_executables() {
	local what=$1 f bad=() n=0
	shift
	for f in "$@"; do
		n=$((n + 1))
		if [ ! -f "$f" ]; then
			bad+=("missing: ${f#"$build"/}")
		elif [ "$(elf_of "$f")" != "AArch64 DYN /lib/ld-linux-aarch64.so.1" ]; then
			bad+=("${f#"$build"/} is not an arm64 executable: $(elf_of "$f")")
		fi
	done
	if [ ${#bad[@]} -eq 0 ] && [ "$n" -gt 0 ]; then
		result ok "$what $n/$n"
	else
		result "not ok" "$what $((n - ${#bad[@]}))/$n" "${bad[@]}"
	fi
}

# --- the sysroot and the build -----------------------------------------------------------

if [ -f "$sysroot/.packages" ]; then
	result ok "sysroot ($(($(wc -l <"$sysroot/.packages") - 1)) Debian packages in ${sysroot#"$build"/})"
else
	result "not ok" "sysroot" "$sysroot is missing: run make deps (tools/arm64-sysroot.sh)"
fi

mkdir -p "$out"
start=$(date +%s)
# -k: one failure does not hide the rest. The sysroot step needs no network once make deps
# made it.
(cd "$top" && "$make" --no-print-directory -k -j"$(nproc)" BUILD="$build" cross-arm64) \
	>"$out/build.log" 2>&1 </dev/null
rc=$?
seconds=$(($(date +%s) - start))
if [ "$rc" -eq 0 ]; then
	result ok "make cross-arm64 in ${seconds}s"
else
	mapfile -t errors < <(grep -E -i 'error|undefined reference|cannot find|No rule' "$out/build.log" |
		grep -v -e '^clang' -e '^make.*Waiting' | head -n 20)
	result "not ok" "make cross-arm64 (status $rc after ${seconds}s, log in $out/build.log)" \
		"${errors[@]}"
fi

# --- what it built -----------------------------------------------------------------------

table=$out/gen/syscall_table.c
want=('[63] = "read"' '[172] = "getpid"' '[173] = "getppid"' '[25] = "fcntl"' '[222] = "mmap"'
	'[80] = "fstat"' '[62] = "lseek"' '[79] = "newfstatat"' '[451] = "cachestat"')
bad=()
if [ -f "$table" ]; then
	for w in "${want[@]}"; do
		grep -qF "$w" "$table" || bad+=("no $w")
	done
	# x86_64's numbers, and names that are no arm64 system call.
	for w in '"arch_specific_syscall"' '"syscalls"' '"clock_gettime64"' '[39] = "getpid"'; do
		! grep -qF "$w" "$table" || bad+=("has $w")
	done
	n=$(grep -c '^	\[[0-9]*\] = "' "$table")
else
	bad+=("${table#"$build"/} is missing")
	n=0
fi
if [ ${#bad[@]} -eq 0 ]; then
	result ok "syscall table is arm64's ($n names)"
else
	result "not ok" "syscall table is arm64's" "${bad[@]}"
fi

for src in "$top"/bpf/*.bpf.c; do
	m=$(basename "$src" .bpf.c)
	obj=$out/bpf/$m.bpf.o skel=$out/$m.skel.h
	bad=()
	if [ ! -f "$obj" ]; then
		bad+=("${obj#"$build"/} is missing")
	else
		[ "$(elf_of "$obj")" = "Linux BPF REL -" ] || bad+=("not an eBPF object: $(elf_of "$obj")")
	fi
	[ -s "$skel" ] || bad+=("${skel#"$build"/} is missing")
	if [ ${#bad[@]} -eq 0 ]; then
		result ok "BPF object $m.bpf.o and skeleton"
	else
		result "not ok" "BPF object $m.bpf.o and skeleton" "${bad[@]}"
	fi
done

agent=$out/ctrlscope
if [ -f "$agent" ] && [ "$(elf_of "$agent")" = "AArch64 DYN /lib/ld-linux-aarch64.so.1" ]; then
	result ok "agent links (${agent#"$build"/}: AArch64, /lib/ld-linux-aarch64.so.1)"
elif [ -f "$agent" ]; then
	result "not ok" "agent links" "${agent#"$build"/} is not an arm64 executable: $(elf_of "$agent")"
else
	result "not ok" "agent links" "${agent#"$build"/} is missing"
fi

bad=()
libs=()
if [ -f "$agent" ]; then
	mapfile -t libs < <(readelf -d "$agent" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
	for lib in "${libs[@]}"; do
		case $lib in
		libbpf.so*) bad+=("libbpf is linked dynamically ($lib), not statically") ;;
		*) [ -e "$sysroot/lib/aarch64-linux-gnu/$lib" ] || [ -e "$sysroot/usr/lib/aarch64-linux-gnu/$lib" ] ||
			[ -e "$sysroot/lib/$lib" ] || bad+=("$lib is not in the sysroot") ;;
		esac
	done
	[ ${#libs[@]} -gt 0 ] || bad+=("no NEEDED entry")
else
	bad+=("${agent#"$build"/} is missing")
fi
if [ ${#bad[@]} -eq 0 ]; then
	result ok "agent's ${#libs[@]} libraries are arm64's, libbpf static"
else
	result "not ok" "agent's libraries" "${bad[@]}"
fi

check_executables "demo workload" "$out/demo-workload"
fixtures=()
for src in "$top"/tests/fixtures/*.c; do
	fixtures+=("$out/fixtures/$(basename "$src" .c)")
done
check_executables "fixtures" "${fixtures[@]}"
tests=()
for src in "$top"/tests/unit/test_*.c; do
	tests+=("$out/tests/unit/$(basename "$src" .c)")
done
check_executables "unit tests" "${tests[@]}"
tests=()
for src in "$top"/tests/bpf/test_*.c; do
	tests+=("$out/tests/bpf/$(basename "$src" .c)")
done
check_executables "kernel-tier tests" "${tests[@]}"

printf '1..%d\n' "$total"
[ "$failures" -eq 0 ]
