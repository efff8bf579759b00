#!/usr/bin/env bash
# Checks that the Dockerfile's last apt-get install lists, for every shared library the
# binary needs (readelf's NEEDED entries), the Debian package that ships it (dpkg -S on
# this machine; libc6 is in every Debian image). Prints what is missing; exit 1 if any.
#
# Usage: tests/check-image-libs.sh DOCKERFILE BINARY
set -euo pipefail
dockerfile=$1
binary=$2
# The runtime stage: everything after the last FROM; its package names.
listed=$(awk '/^FROM /{stage=""} {stage=stage"\n"$0} END{print stage}' "$dockerfile" |
	tr ' \\\t' '\n\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
missing=0
while read -r so; do
	pkg=$(dpkg -S "*/$so" 2>/dev/null | head -1 | cut -d: -f1)
	if [[ -z $pkg ]]; then
		echo "no Debian package ships $so"
		missing=1
	elif [[ $pkg != libc6 ]] && ! grep -qx "$pkg" <<<"$listed"; then
		echo "$so is in $pkg, which the runtime stage does not install"
		missing=1
	fi
done < <(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
	grep -Ev '^lib(asan|ubsan|lsan|tsan)\.so') # make check SANITIZE=...: not the image's build
exit $missing
