#!/bin/sh
# reuse.sh: reuse chains (reuse.c; trac(1), REUSE CHAINS). A tensor over
# 32 MiB that two contractions read, one feeding the other, cuts the
# chain between them into 2 MiB row blocks, and so does one that a
# batched contraction writes and later nodes read (attention's scores,
# cut along two indices into 1 MiB blocks, or along three where a head's
# scores are larger, the third one K lacks): --emit=plan names the chain
# and shows the partition; the compiled programs, under both back ends,
# several placers and 1 to 3 threads, equal the interpreter on the same
# inputs. And where the rule says no: a chain whose partial results or
# whole reads would cost more than the read saved, a tensor under 32 MiB,
# a member fixed by --partition, a memory budget, GPUs, --reuse=none or
# a --reuse minimum above the tensor (and --reuse's block size obeyed).
# W5's chain is one row group with a row reducer, but not on GPUs.
# Maps of short rows (flat.tra), row sums of many lengths (rowlens.tra)
# and row reductions with deferred epilogues (deferred.tra) against the
# interpreter the same way.
# Then random programs built around chains (tests/reuse_gen.py). W5's
# chain on 2 MPI ranks too, where configure found mpirun, and under a
# 4 MiB budget (a row reducer out of core). Under make distcheck
# (TRAC_CHECK=quick), the compiled chains by default on 2 threads only.
# Environment: TRAC (the binary), srcdir, PYTHON_NUMPY, MPIRUN.
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to compare .npy files"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
. "$srcdir/tests/programs.sh"
test_setup
w5=$srcdir/bench/w5_logreg.tra
w5defs="-D N=16384 -D D=512"

# plan PROG DEFS CHAIN PARTITION...: --emit=plan (2 devices) names the
# chain and each "NODE PARTITION" row is there
plan() {
	pname=$1 pprog=$2 pdefs=$3 pchain=$4
	shift 4
	# shellcheck disable=SC2086
	if ! "$TRAC" "$pprog" $pdefs --emit=plan --devices=2 >out 2>err; then
		bad "plan-$pname"
		return
	fi
	good=1
	grep -Fq "$pchain" out || { echo "  no line '$pchain'"; good=0; }
	for row in "$@"; do
		# shellcheck disable=SC2086 # the node, then its partition
		set -- $row
		grep -Eq "^%[0-9]+ +$1 +$2 " out || { echo "  no row '$row'"; good=0; }
	done
	[ $good = 1 ] && ok "plan-$pname" || { bad "plan-$pname"; grep -E "^%|reuse" out | sed 's/^/  /'; }
}

plan w5 "$w5" "$w5defs" "reuse chain: r, g: 16 row blocks of X," "r i:16 j:1" "g j:1 i:16"
plan gate "$srcdir/tests/reuse/gate.tra" "" "reuse chain: Y.h1, Y: 16 row blocks of X," "Y.h1 i:16 j:1" "Y i:16 j:1"
plan gemm64 "$srcdir/tests/reuse/gemm64.tra" "" "reuse chain: H, G: 16 row blocks of X," "H i:16 k:1 j:1" "G j:1 k:1 i:16"
plan w5-sizes "$w5" "$w5defs --reuse=16M,1M" "reuse chain: r, g: 32 row blocks of X," "r i:32 j:1" "g j:1 i:32"
plan heads "$srcdir/tests/reuse/heads.tra" "" "reuse chain: A, M, E, O.r1, O: 32 row blocks of A, 4 x 8 along b, h," \
	"A b:4 h:8 s:1 t:1 d:1" "M b:4 h:8 s:1 t:1" "E b:4 h:8 s:1 t:1" "O b:4 h:8 s:1 d:1 t:1"
plan scores "$srcdir/tests/reuse/scores.tra" "" "reuse chain: A, M, E, O.r1, O: 32 row blocks of A, 2 x 4 x 4 along b, h, s," \
	"A b:2 h:4 s:4 t:1 d:1" "M b:2 h:4 s:4 t:1" "E b:2 h:4 s:4 t:1" "O b:2 h:4 s:4 d:1 t:1"
# E's joins, which the row group M, E, O.r1 fused into M's, go with M's:
# none of E's blocks moves to another device
"$TRAC" "$srcdir/tests/reuse/scores.tra" --emit=plan --devices=2 >out 2>err &&
	grep -Eq "^%[0-9]+ +E +b:2 h:4 s:4 t:1 .* 0 B$" out && ok scores-fused-in-place || bad scores-fused-in-place

# W5's chain runs as one row group (compiler/kplan.c, row groups): r a
# row dot (z's sum, which r took in: fuse.c, absorbing) then r's map, g
# its row reducer, each row block's task g's partial block
fused="  members r g, 8 rows per chunk, g sums them into its partial block, 8 rows a pass"
if "$TRAC" "$w5" $w5defs --emit=kernels --devices=2 >out 2>err && grep -Fxq "$fused" out; then
	ok w5-row-reducer
else
	bad w5-row-reducer
fi
# shellcheck disable=SC2086
"$TRAC" "$w5" $w5defs --emit=kernels --gpus=2 --backend=cuda-sim >out 2>err && ! grep -q "sums them" out &&
	ok w5-gpus-unfused || bad w5-gpus-unfused

# the LLVM back end interleaves the row dot's sum in a group with a row
# reducer, whose loops are not unrolled (llvm_kernels.c,
# cg_llvm_simd_reduce), two vectors a pass; not without the group
if "$TRAC" --version 2>&1 | grep -q "default llvm"; then
	ic='"llvm.loop.interleave.count", i32 2}'
	# shellcheck disable=SC2086
	if "$TRAC" "$w5" $w5defs --devices=2 --emit=llvm-unopt -o w5.ll 2>err &&
	   [ "$(grep -c "$ic" w5.ll)" = 1 ] &&
	   "$TRAC" "$w5" $w5defs --devices=2 --reuse=none --emit=llvm-unopt -o w5n.ll 2>err &&
	   ! grep -q "$ic" w5n.ll; then
		ok w5-dot-interleaved
	else
		bad w5-dot-interleaved
	fi
fi

# attention cut along b and h: M, E and the row sums run as one row
# group whose rows are points of (b, h, s) (it runs against the
# interpreter below)
"$TRAC" "$srcdir/tests/reuse/heads.tra" --emit=kernels >out 2>err &&
	grep -Fxq "  members M E O.r1, 16 rows per chunk, a row for each b h s" out && ok heads-rows || bad heads-rows

# a blocked sum in a row group prefetches the next row of what an earlier
# member brought from memory (it runs against the interpreter below)
"$TRAC" "$srcdir/tests/reuse/lse.tra" --emit=kernels --devices=2 >out 2>err &&
	grep -q "blocks of 256 summed pairwise, prefetching X's next row" out && ok lse-prefetch || bad lse-prefetch

# a row reduction's costly epilogue runs after its rows' sums (kplan.c's
# deferred epilogues): W5's r, and deferred.tra's but for s (a square
# root); not on GPUs, where a thread computes a row (they run against
# the interpreter below)
deferred=$srcdir/tests/reuse/deferred.tra
after=", deferred: a vector loop after the rows' sums"
# shellcheck disable=SC2086
"$TRAC" "$w5" $w5defs --emit=kernels --devices=2 >out 2>err &&
	grep -Fxq "    epilogue sigmoid(acc) - y[i]$after" out && ok w5-deferred || bad w5-deferred
# shellcheck disable=SC2086
"$TRAC" "$w5" $w5defs --emit=kernels --gpus=2 --backend=cuda-sim >out 2>err &&
	! grep -q "deferred" out && ok w5-gpus-not-deferred || bad w5-gpus-not-deferred
if "$TRAC" "$deferred" --emit=kernels >out 2>err && [ "$(grep -c "$after" out)" = 6 ] &&
   grep -Fxq "    epilogue sqrt(acc)" out; then
	ok deferred-kernels
else
	bad deferred-kernels
	grep epilogue out | sed 's/^/  /'
fi

# maps of short rows run as one flat loop where their operands are laid
# out alike (kplan.c's short rows), and not where an index inside is cut
# (they run against the interpreter below, with and without the cuts)
flat=$srcdir/tests/reuse/flat.tra
cuts="--partition=F:b=3,t=1 --partition=E:c=2"
flat_of() {
	grep -E "^kernel|flat" out | grep -A1 " $1, blocks" | sed -n 's/.*\(flat .*\)/\1/p'
}
if "$TRAC" "$flat" --emit=kernels >out 2>err && [ "$(flat_of E)" = "flat i c" ] && [ "$(flat_of G)" = "flat t k" ] &&
   [ "$(grep -c flat out)" = 3 ]; then
	ok flat-kernels
else
	bad flat-kernels
	grep -E "^kernel|split" out | sed 's/^/  /'
fi
# shellcheck disable=SC2086
if "$TRAC" "$flat" $cuts --emit=kernels >out 2>err && [ "$(flat_of F)" = "flat b t k" ] && [ -z "$(flat_of E)" ]; then
	ok flat-kernels-cut
else
	bad flat-kernels-cut
	grep -E "^kernel|split" out | sed 's/^/  /'
fi

# no chain: what each would cost, a small tensor, a manual partition, a
# budget, GPUs
nochain() {
	nname=$1
	shift
	if "$@" >out 2>err && ! grep -q "reuse chain" out; then ok "nochain-$nname"; else bad "nochain-$nname"; fi
}
nochain wide-partials "$TRAC" "$srcdir/tests/reuse/wide_partials.tra" --emit=plan --devices=2
nochain small "$TRAC" "$w5" -D N=4096 -D D=512 --emit=plan --devices=2
nochain manual "$TRAC" "$w5" $w5defs --emit=plan --devices=2 --partition=r:i=4
grep -Eq "^%[0-9]+ +z +i:16 " out && bad manual-partition-kept || ok manual-partition-kept
nochain budget "$TRAC" "$w5" $w5defs --emit=plan --devices=2 --memory=64M
nochain gpus "$TRAC" "$w5" $w5defs --emit=plan --gpus=2 --backend=cuda-sim
nochain reuse-none "$TRAC" "$w5" $w5defs --emit=plan --devices=2 --reuse=none
nochain reuse-min "$TRAC" "$w5" $w5defs --emit=plan --devices=2 --reuse=33M,2M

# the compiled chains against the interpreter (flag sets with _ for
# spaces); make distcheck (TRAC_CHECK=quick) checks the tarball with the
# default alone, on 2 threads: make check ran the rest
flag_sets="_ --backend=c --placer=roundrobin --placer=critical-path_--devices=3 --placer=learned"
threads="1 2 3"
if [ "${TRAC_CHECK:-full}" = quick ]; then
	flag_sets=_
	threads=2
fi
# compiled NAME PROG DEFS: PROG against the interpreter under every flag
# set and thread count
compiled() {
	name=$1 prog=$2 defs=$3
	# shellcheck disable=SC2086
	"$TRAC" "$prog" $defs --interpret --random=3 --output-dir "want-$name" || { bad "$name-interpret"; return; }
	for flags in $flag_sets; do
		flags=$(echo "$flags" | tr '_' ' ' | sed 's/^ $//')
		# shellcheck disable=SC2086
		if ! "$TRAC" "$prog" $defs $flags -o prog 2>err; then
			bad "$name $flags (compile)"
			continue
		fi
		for t in $threads; do
			if ./prog --random=3 --threads $t --output-dir "got-$t" >/dev/null 2>err &&
			   compare "got-$t" "want-$name" >/dev/null; then
				ok "$name $flags threads=$t"
			else
				bad "$name $flags threads=$t"
			fi
			rm -rf "got-$t"
		done
	done
}
compiled w5_logreg "$w5" "$w5defs"
# row blocks of 1023 and 1024 rows: the row reducer adds 8 rows a pass,
# then the 7 left over one at a time
compiled w5_odd "$w5" "-D N=16381 -D D=521"
for prog in "$srcdir/tests/reuse/gate.tra" "$srcdir/tests/reuse/gemm64.tra" "$srcdir/tests/reuse/heads.tra" \
	"$srcdir/tests/reuse/scores.tra" "$srcdir/tests/reuse/lse.tra" "$srcdir/tests/reuse/transpose.tra" "$srcdir/tests/reuse/conv.tra" "$flat"; do
	compiled "$(basename "$prog" .tra)" "$prog" ""
done
compiled flat_cut "$flat" "$cuts"
# deferred epilogues, and the same nodes with a reduced index cut (their
# epilogues then the aggregations')
compiled deferred "$deferred" ""
compiled deferred_cut "$deferred" "--partition=q:d=2 --partition=t:c=2"
# row sums of lengths either side of the back ends' thresholds; a cut
# reduced index gives the loops block bounds mid-row; and whole-node
# kernels, whose loops have known counts
rowlens=$srcdir/tests/reuse/rowlens.tra
compiled rowlens "$rowlens" ""
compiled rowlens_cut "$rowlens" "--partition=s127:c=3 --partition=s12:c=2"
if [ "${TRAC_CHECK:-full}" != quick ]; then
	saved=$flag_sets
	flag_sets="_ --backend=c"
	compiled rowlens_node "$rowlens" "--node-kernels"
	compiled deferred_node "$deferred" "--node-kernels"
	flag_sets=$saved
fi

# random programs in the shapes that make chains (tests/reuse_gen.py:
# attention over 1 to 3 batch dimensions, logreg, gate), compiled with
# small --reuse sizes against the interpreter
gen_count=60
[ "${TRAC_CHECK:-full}" = quick ] && gen_count=20
if [ -n "${NPYCMP:-}" ] && "$PYTHON_NUMPY" "$srcdir/tests/reuse_gen.py" "$TRAC" $gen_count >gen.out 2>&1; then
	ok "reuse_gen $gen_count programs"
	tail -1 gen.out
elif [ -n "${NPYCMP:-}" ]; then
	grep -v "^PASS" gen.out | head -20
	bad "reuse_gen $gen_count programs"
fi

# on 2 MPI ranks (each row block's tasks on one rank), where there is MPI
if [ -n "${MPIRUN:-}" ] && [ -x "$MPIRUN" ] && "$TRAC" "$w5" $w5defs --ranks=2 -o ranks 2>err; then
	if timeout 120 "$MPIRUN" --oversubscribe --allow-run-as-root -n 2 ./ranks --random=3 --output-dir got-ranks \
	       >/dev/null 2>err && compare got-ranks want-w5_logreg >/dev/null; then
		ok "w5_logreg --ranks=2"
	else
		bad "w5_logreg --ranks=2"
	fi
fi
# under a budget of 4 MiB (no chain: decomp's blocks, out of core), g
# still sums its rows into partial blocks
# shellcheck disable=SC2086
if "$TRAC" "$w5" $w5defs --memory=4M --emit=kernels >out 2>err && grep -Fxq "$fused" out &&
   "$TRAC" "$w5" $w5defs --memory=4M -o budget 2>err && ./budget --random=3 --output-dir got-budget >/dev/null 2>err &&
   compare got-budget want-w5_logreg >/dev/null; then
	ok "w5_logreg --memory=4M: row reducer out of core"
else
	bad "w5_logreg --memory=4M: row reducer out of core"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
