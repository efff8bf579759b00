#!/bin/sh
# Prints "#define __NR_<name> <number>" for every system call of the architecture that a
# C compiler targets, as that compiler's preprocessor sees the UAPI header <asm/unistd.h>:
# the input of user/modules/gen_syscall_table.awk.
#
# The names are the __NR_* macros the header defines (-dM) for that target; the numbers
# are what each expands to, as the header may define one system call by another macro:
# arm64's <asm/unistd.h> is asm-generic's, where "__NR_fcntl __NR3264_fcntl" and
# "__NR3264_fcntl 25" make fcntl 25, and where the 32-bit-only system calls (*_time64,
# ...) are behind #if. __NR_syscalls (the count) and __NR_arch_specific_syscall (the start
# of a range of numbers an architecture may use) name no system call.
#
# Usage: user/modules/gen_syscall_numbers.sh [-M DEPFILE TARGET] CC [ARG...]
#   CC ARG...: the compiler command of the target, e.g. gcc, or
#   clang-19 --target=aarch64-linux-gnu --sysroot=build/arm64/sysroot
#   -M: also writes the headers read as make dependencies of TARGET to DEPFILE.
# Fails when a name does not expand to a plain number, or when there is no name at all.
set -eu

depfile='' target=''
if [ "${1:-}" = -M ]; then
	depfile=$2 target=$3
	shift 3
fi
[ $# -gt 0 ] || {
	echo "usage: $0 [-M DEPFILE TARGET] CC [ARG...]" >&2
	exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/syscall-numbers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '#include <asm/unistd.h>\n' >"$tmp/names.c"

"$@" -E -dM "$tmp/names.c" >"$tmp/macros"
sed -n 's/^#define __NR_\([a-z0-9_]*\)[[:space:]].*/\1/p' "$tmp/macros" |
	grep -v -x -e syscalls -e arch_specific_syscall | LC_ALL=C sort -u >"$tmp/names"

# One line "CS_SYSCALL name __NR_name" per name, which the preprocessor expands.
{
	cat "$tmp/names.c"
	sed 's/.*/CS_SYSCALL & __NR_&/' "$tmp/names"
} >"$tmp/numbers.c"
"$@" -E -P "$tmp/numbers.c" >"$tmp/expanded"
awk '
$1 == "CS_SYSCALL" {
	if (NF != 3 || $3 !~ /^[0-9]+$/) {
		printf "gen_syscall_numbers: __NR_%s is not a number: %s\n", $2, $0 > "/dev/stderr"
		bad = 1
		next
	}
	printf "#define __NR_%s %s\n", $2, $3
	n++
}
END {
	if (n == 0)
		print "gen_syscall_numbers: <asm/unistd.h> defines no system call" > "/dev/stderr"
	exit bad || n == 0
}' "$tmp/expanded"

if [ -n "$depfile" ]; then
	# The headers, not the temporary source file.
	"$@" -M -MP -MT "$target" "$tmp/names.c" | sed "s|$tmp/names.c||" >"$depfile"
fi
