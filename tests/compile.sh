#!/bin/sh
# compile.sh: every sample, bench, tests/gemm, tests/affine and tests/types program, compiled by trac
# at small sizes and run with --random, equals the reference interpreter
# on the same inputs (tolerance of tra(5): 1e-4 relative for f32, 1e-10
# for f64): as compiled by default (block tasks) and as one kernel per
# node (--node-kernels) with 1, 2 and 3 threads, and as block task graphs
# under automatic and manual partitions (uneven blocks, split
# reductions), the placers taking turns, 1 to 8 threads, with and without
# stealing; every sample also placed by the learned placer (its default
# weights) for 3 devices. COMPILE_SWEEP=full (make compile-full, not part of check) runs
# every placer under every partition kind: six times the compiles.
# COMPILE_SWEEP=kernels (tests/c/compile.sh, the second back end) keeps
# what reaches every kind of kernel and leaves out what only the
# placement and the executor vary: the default and --node-kernels on 1,
# 2 and 3 threads, and block tasks for --devices=3 and a manual partition
# (uneven blocks, split reductions) under one placer on 2 threads.
set -u
sweep=${COMPILE_SWEEP:-ci}
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to compare .npy files"
	exit 77
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
pass=0 fail=0

. "$srcdir/tests/programs.sh"

# variant NAME PROG DEFS FLAGS THREADS...: compile PROG with FLAGS, run it
# with each thread count, compare with the interpreter's want-NAME.
variant() {
	vname=$1 vprog=$2 vdefs=$3 vflags=$4
	shift 4
	# shellcheck disable=SC2086
	if ! "$TRAC" "$vprog" $vdefs $vflags -o "$vname" 2>err; then
		sed 's/^/  /' err | head -20
		fail=$((fail + 1)); echo "FAIL $vname $vflags (compile)"; return
	fi
	for t in "$@"; do
		steal=""
		[ "$t" = 2n ] && { t=2; steal=--no-steal; }
		if "./$vname" --random=3 --threads $t $steal --output-dir "got-$vname-$t" &&
		   compare "got-$vname-$t" "want-$name"; then
			pass=$((pass + 1)); echo "PASS $vname $vflags threads=$t $steal"
		else
			fail=$((fail + 1)); echo "FAIL $vname $vflags threads=$t $steal"
		fi
		rm -rf "got-$vname-$t"
	done
}

placers="greedy roundrobin lshs critical-path search learned"
nprog=-1
for prog in "$srcdir"/samples/*.tra "$srcdir"/bench/*.tra "$srcdir"/tests/gemm/*.tra "$srcdir"/tests/affine/*.tra "$srcdir"/tests/types/*.tra; do
	[ -f "$prog" ] || continue
	name=$(basename "$prog" .tra)
	nprog=$((nprog + 1))
	defs=$(sizes "$prog")
	# a program whose first line says "keep sizes" needs its own sizes
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	# shellcheck disable=SC2086
	"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" || { fail=$((fail + 1)); echo "FAIL $name (interpret)"; continue; }
	# the default (block tasks for this machine), one kernel per node, then
	# block task graphs under chosen partitions and placers
	variant "$name" "$prog" "$defs" "" 1 2 3
	variant "$name-n" "$prog" "$defs" "--node-kernels" 1 2 3
	case $prog in
	*/tests/gemm/*)
		variant "$name-t" "$prog" "$defs" "--devices=3" 1 2
		variant "$name-t" "$prog" "$defs" "--devices=2 --partition=$(manual "$prog" "$defs")" 2
		;;
	*)
		man=$(manual "$prog" "$defs")
		if [ "$sweep" = kernels ]; then
			variant "$name-t" "$prog" "$defs" "--devices=3 --placer=greedy" 2
			variant "$name-t" "$prog" "$defs" "--devices=2 --partition=$man --placer=greedy" 2
			continue
		fi
		# every partition kind x threads 1, 2, 3, 8, under each placer
		# (full) or one placer each, the next program the next placers
		# (ci: every pair still comes up every fourth program)
		j=0
		for part in "--devices=3" "--devices=2 --partition=none" "--devices=2 --partition=$man"; do
			use=$placers
			if [ "$sweep" != full ]; then
				# shellcheck disable=SC2086 # the list, one word each
				set -- $placers
				shift $(((nprog + j) % 6))
				use=$1
			fi
			for placer in $use; do
				variant "$name-t" "$prog" "$defs" "$part --placer=$placer" 1 2 3 8
			done
			j=$((j + 1))
		done
		variant "$name-t" "$prog" "$defs" "--devices=2" 2n
		case $prog in
		*/samples/*) variant "$name-L" "$prog" "$defs" "--devices=3 --placer=learned" 2 ;;
		esac
		;;
	esac
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
