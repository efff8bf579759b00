#!/usr/bin/env bash
# The layers of user/ (user/README.md) as TAP: one line per layer, "not ok" with every
# include that climbs (a file including a header of a layer it may not see). Headers of
# the same layer, generated ones (skeletons, build/gen) and include/ctrlscope are fine.
#
# Usage (from the repository root): tests/layers.sh
set -u

# What each layer may include besides itself, lowest first.
declare -A may=(
	[lib]=""
	[gobin]="lib"
	[core]="lib"
	[kube]="lib core"
	[web]="lib core kube"
	[targets]="lib core kube"
	[modules]="lib gobin core targets"
)
layers=(lib gobin core kube web targets modules)

# The layer of a header, by where it lives: a layer's folder, user/ itself (the wiring:
# main.c, agent.c, modules.c), or elsewhere (generated, include/).
layer_of() {
	local h=$1 l
	for l in "${layers[@]}"; do
		[ -f "user/$l/$h" ] && { echo "$l"; return; }
	done
	[ -f "user/$h" ] && { echo top; return; }
	echo other
}

n=0 bad=0
echo "1..${#layers[@]}"
for l in "${layers[@]}"; do
	n=$((n + 1))
	wrong=()
	for f in user/"$l"/*.[ch]; do
		while IFS= read -r h; do
			hl=$(layer_of "$h")
			case " $l ${may[$l]} other " in
			*" $hl "*) ;;
			*) wrong+=("$f includes $h ($hl)") ;;
			esac
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	done
	if [ ${#wrong[@]} -eq 0 ]; then
		echo "ok $n - user/$l includes only ${may[$l]:-itself}${may[$l]:+ and itself}"
	else
		bad=$((bad + 1))
		echo "not ok $n - user/$l includes a layer above it"
		printf '# %s\n' "${wrong[@]}"
	fi
done
[ "$bad" -eq 0 ]
