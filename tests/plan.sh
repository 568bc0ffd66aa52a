#!/bin/sh
# plan.sh: decomposition, lowering, placement and simulation on the
# command line: --emit=tra with partitions, --emit=ia, --emit=taskgraph
# (against a golden file), --emit=plan for every sample and placer,
# --emit=dot, the bytes a compiled program's --stats says it copied
# between workers against the plan's bytes moved, and the usage errors
# of --devices, --partition, --placer and --sim (exit 2); then --ranks's
# plan lines (bytes per rank, the lower bound in each of its three
# regimes) and usage errors, which need no MPI.
# Environment: TRAC (the binary), srcdir (the source tree, may be read-only).
set -u
: "${TRAC:?}" "${srcdir:?}"
. "$srcdir/tests/testlib.sh"
test_setup
mlp=$srcdir/samples/mlp.tra

# has NAME PATTERN: the last command's standard output matches PATTERN (grep -E).
has() {
	if grep -Eq -- "$2" out; then ok "$1"; else echo "  output lacks /$2/"; bad "$1"; fi
}

# ---- partitions in --emit=tra ------------------------------------------------
expect tra-plain 0 "" "$TRAC" "$mlp" --emit=tra
grep -q partition out && bad tra-no-partition || ok tra-no-partition
expect tra-devices 0 "" "$TRAC" "$mlp" --emit=tra --devices=4
[ "$(grep -c '^    partition ' out)" -eq 6 ] && ok tra-partition-per-einsum || bad tra-partition-per-einsum
expect tra-none 0 "" "$TRAC" "$mlp" --emit=tra --partition=none
grep '^    partition' out | grep -q ':[02-9]' && bad tra-none-ones || ok tra-none-ones
expect tra-manual 0 "" "$TRAC" "$mlp" --emit=tra --devices=4 --partition=Hd:i=4,k=2 --partition=P.r1:c2=3
has tra-manual-hd '^    partition i:4 j:1 k:2$'
has tra-manual-dotted '^    partition i:[0-9]+ c2:3$'
expect tra-manual-uneven 0 "" "$TRAC" "$mlp" --emit=tra --partition=Hd:i=7 --partition=none
has tra-manual-with-none '^    partition i:7 j:1 k:1$'

# ---- the task graph ------------------------------------------------------------
expect ia 0 "" "$TRAC" "$mlp" --emit=ia --devices=2
has ia-node-header '^node %4 Hd: partition '
has ia-join-line '^  t[0-9]+ +join +Hd\[0:'
expect taskgraph-golden 0 "" "$TRAC" "$srcdir/tests/golden/matmul.tra" --emit=taskgraph --devices=2 \
	--partition=C:i=2,k=2
if diff -u "$srcdir/tests/golden/matmul.emit-taskgraph" out >diff.out; then
	ok taskgraph-diff
else
	head -20 diff.out
	bad taskgraph-diff
fi
expect taskgraph-mlp 0 "" "$TRAC" "$mlp" --emit=taskgraph --devices=3
n=$(sed -n 's/^# taskgraph tasks=\([0-9]*\) devices=3$/\1/p' out)
[ -n "$n" ] && [ "$(grep -c '^t' out)" -eq "$n" ] && ok taskgraph-count || bad taskgraph-count
grep -v '^#' out | grep -Evq '^t[0-9]+ (input|join|agg|repart|fused) [A-Za-z_][A-Za-z0-9_.]* [-0-9:,|]+ in=(-|t[0-9]+(,t[0-9]+)*) flops=[-+.e0-9]+ bytes=[-+.e0-9]+ dev=[0-2] prio=[-+.e0-9]+$' \
	&& bad taskgraph-format || ok taskgraph-format
cp out first
"$TRAC" "$mlp" --emit=taskgraph --devices=3 >out 2>err
cmp -s first out && ok taskgraph-deterministic || bad taskgraph-deterministic

# row fusion: layernorm's mu, var and Y, cut in the same row blocks, are
# one task per row block; the others are fused tasks after it
ln=$srcdir/samples/layernorm.tra
expect ia-rows 0 "" "$TRAC" "$ln" --emit=ia --devices=2
has ia-rows-join '^  t[0-9]+ +join +mu\[0:4096 \| 0:1024\].*rows of its group'
has ia-rows-fused '^  t[0-9]+ +fused +Y\[0:4096, 0:1024\]  <- t[0-9]+  flops 0'
expect plan-rows 0 "" "$TRAC" "$ln" --emit=plan --devices=2
# sqrt(var[i] + eps) is hoisted into Y.h1 (once per row), which takes
# var's sum in as its own (fuse.c, absorbing) and joins the group
has plan-rows-line '^rows fused: mu, Y.h1, Y: one task per row block'
expect ia-rows-apart 0 "" "$TRAC" "$ln" --emit=ia --devices=2 --partition=Y.h1:i=3
grep -q 'fused' out && bad ia-rows-apart-not-fused || ok ia-rows-apart-not-fused

# ---- plans ------------------------------------------------------------------------
expect plan-mlp 0 "" "$TRAC" "$mlp" --emit=plan --devices=4
has plan-header '^# plan: [0-9]+ tasks on 4 devices, placer greedy'
has plan-node-row '^%4 Hd +i:[0-9]+ j:[0-9]+ k:[0-9]+ +[0-9]+'
has plan-makespan '^simulated makespan: [0-9.]+ (us|ms|s) '
[ "$(grep -Ec '^[0-3] +[0-9.]+ (us|ms|s) +[0-9.]+%' out)" -eq 4 ] && ok plan-devices || bad plan-devices
for placer in roundrobin greedy lshs critical-path; do
	for f in "$srcdir"/samples/*.tra; do
		"$TRAC" "$f" --emit=plan --devices=3 --placer=$placer >out 2>err
		if [ $? -eq 0 ] && grep -q '^simulated makespan' out; then
			ok "plan-$placer-$(basename "$f" .tra)"
		else
			bad "plan-$placer-$(basename "$f" .tra)"
		fi
	done
done
expect plan-sim 0 "" "$TRAC" "$mlp" --emit=plan --devices=2 --sim=gemm-flops=1G,latency=1e-3 --sim-bandwidth=10G
has plan-sim-model 'GEMM 1 GFLOP/s, element-wise 8 GFLOP/s, memory 10 GB/s'
expect plan-one-device 0 "" "$TRAC" "$mlp" --emit=plan --devices=1 --partition=none
has plan-one-speedup 'speed-up 1.00x'
expect plan-to-file 0 "" "$TRAC" "$mlp" --emit=plan --devices=2 -o plan.txt
grep -q '^simulated makespan' plan.txt && ok plan-file || bad plan-file
# the memory plan's lines: unbounded, the memgraph's run is the plan's
# run (no memory node, no added edge: the same simulated makespan)
expect plan-memory 0 "" "$TRAC" "$mlp" --emit=plan --devices=2
has plan-memory-domain '^memory domain 0 \(CPU workers\): budget unbounded, arena [1-9][0-9]* bytes'
has plan-memory-moves '^  offloaded 0 bytes in 0 blocks, reloaded 0 bytes in 0 blocks$'
expect plan-json-memory 0 "" "$TRAC" "$mlp" --emit=plan-json --devices=2
has plan-json-memory-object '"memory": \{"makespan_s": '
span=$(sed -n 's/^  "makespan_s": \([^,]*\),.*/\1/p' out)
mspan=$(sed -n 's/.*"memory": {"makespan_s": \([^,]*\),.*/\1/p' out)
awk -v a="$span" -v b="$mspan" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-9 * a) }' &&
	ok plan-memory-makespan-unbounded || { echo "  $span against $mspan"; bad plan-memory-makespan-unbounded; }
# under a budget that must offload (chain at its smallest budget), the
# plan says so, and how much of the inputs and outputs it reads and writes
km=$srcdir/samples/chain.tra
least=$("$TRAC" "$km" --emit=plan --devices=2 --memory=1 2>&1 | sed -n 's/.*the smallest budget that works is \([0-9]*\) bytes$/\1/p')
expect plan-memory-budget 0 "" "$TRAC" "$km" --emit=plan --devices=2 --memory="${least:-1}"
has plan-memory-budget-line "^memory domain 0 \\(CPU workers\\): budget ${least:-1} bytes, arena [0-9]+ bytes"
has plan-memory-budget-moves '^  offloaded [1-9][0-9]* bytes in [1-9][0-9]* blocks'
has plan-memory-out-of-core '^  out of core: read [1-9][0-9]* bytes of inputs in [1-9][0-9]* blocks, wrote [1-9][0-9]* bytes of outputs in [1-9][0-9]* blocks$'
expect dot 0 "" "$TRAC" "$mlp" --emit=dot --devices=4
has dot-digraph '^digraph trac \{'
has dot-partition 'partition i:[0-9]+ j:[0-9]+ k:[0-9]+'

# ---- the run moves what the plan says ----------------------------------------------
# Compiled for D devices and run on D workers without stealing, every task
# runs where it was placed, so the bytes --stats says were copied between
# workers (blocks read on another worker than made them) are the bytes
# --emit=plan says move between devices (to the plan's 3 digits).
plan_bytes() { # the "N unit moved" of the plan in out, in bytes
	sed -n 's/.*flops, \([0-9.]*\) \([kMGT]*\)B moved between devices.*/\1 \2/p' out |
		awk '{ m = 1; if ($2 == "k") m = 1e3; if ($2 == "M") m = 1e6; if ($2 == "G") m = 1e9; print $1 * m }'
}
for prog in mlp attention chain softmax; do
	for cfg in "2 greedy" "3 lshs" "4 roundrobin"; do
		set -- $cfg
		name=copied-is-moved-$prog-$1-$2
		"$TRAC" "$srcdir/samples/$prog.tra" --emit=plan --devices=$1 --placer=$2 >out 2>err
		want=$(plan_bytes)
		if ! "$TRAC" "$srcdir/samples/$prog.tra" --devices=$1 --placer=$2 -o prog 2>err ||
		   ! ./prog --random --output-dir o --threads $1 --no-steal --stats >out 2>err; then
			bad "$name"
			continue
		fi
		got=$(awk '/^worker/ { on = 1; next } on { s += $7 } END { print s * 1e6 }' err)
		if awk -v w="$want" -v g="$got" 'BEGIN { d = w - g; if (d < 0) d = -d; exit !(w != "" && d <= 0.006 * w + 1000) }'; then
			ok "$name"
		else
			echo "  plan moves ${want:-?} bytes, the run copied ${got:-?}"
			bad "$name"
		fi
	done
done

# ---- a block-task program's trace and stats -------------------------------------------
"$TRAC" "$mlp" --emit=plan --devices=3 >out 2>err
ntasks=$(sed -n 's/^# plan: \([0-9]*\) tasks on.*/\1/p' out)
# the memgraph's alloc and free nodes run as tasks too (their slices have no block)
"$TRAC" "$mlp" --emit=memgraph --devices=3 >out 2>err
nmem=$(sed -n 's/^# memgraph: [0-9]* tasks, \([0-9]*\) memory nodes.*/\1/p' out)
nrun=$((ntasks + nmem))
expect trace-tasks-compile 0 "" "$TRAC" "$mlp" --devices=3 -o tprog
expect trace-tasks-run 0 "" ./tprog --random --output-dir o --threads 3 --repeat 2 --trace t.json --stats
[ "$(grep -c '"cat": "task", "ph": "X"' t.json)" -eq $((2 * nrun)) ] &&
	ok trace-one-slice-per-task || bad trace-one-slice-per-task
[ "$(grep '"cat": "task"' t.json | grep -c '"block": "\[[0-9]*:[0-9]*')" -eq $((2 * ntasks)) ] &&
	ok trace-block-keys || bad trace-block-keys
[ "$(grep -c '"name": "memory", "ph": "C"' t.json)" -eq $((2 * nrun)) ] &&
	ok trace-memory-counter || bad trace-memory-counter
grep '"cat": "task"' t.json | grep -v '"tid": [123],' | grep -q . &&
	bad trace-worker-tracks || ok trace-worker-tracks
grep -Eq '^worker +tasks +steals +busy ms +busy % +GFLOP/s +copied MB +peak MiB$' err &&
	ok stats-worker-columns || bad stats-worker-columns
[ "$(awk '/^worker/ { on = 1; next } on { n += $2 } END { print n }' err)" -eq $((2 * nrun)) ] &&
	ok stats-task-counts || bad stats-task-counts
# the intermediates live in the planned arena: at most inputs, output and
# the arena, which is what --emit=memgraph planned
awk '/^tensor bytes:/ { t = $3 } /^peak memory:/ { p = $3 } END { exit !(p > 0 && p <= t * 1.1) }' err &&
	ok stats-peak-memory || bad stats-peak-memory
"$TRAC" "$mlp" --devices=3 --emit=memgraph >mg 2>/dev/null
planned=$(sed -n 's/.*budget unbounded, arena \([0-9]*\) bytes.*/\1/p' mg)
ran=$(sed -n 's/^memory: arena [^=]*= \([0-9]*\) bytes.*/\1/p' err)
[ -n "$planned" ] && [ "$planned" = "$ran" ] && ok stats-arena-is-planned ||
	{ echo "  planned arena '$planned', --stats '$ran'"; bad stats-arena-is-planned; }

# ---- usage errors -------------------------------------------------------------------
expect devices-zero 2 "--devices=N" "$TRAC" "$mlp" --emit=plan --devices=0
expect devices-word 2 "--devices=N" "$TRAC" "$mlp" --emit=plan --devices=many
expect partition-bad 2 "expects auto, none" "$TRAC" "$mlp" --emit=plan --partition=some
expect partition-both 2 "cannot be combined" "$TRAC" "$mlp" --emit=plan --partition=auto --partition=none
expect partition-node 2 "no einsum node 'Q'" "$TRAC" "$mlp" --emit=plan --partition=Q:i=2
expect partition-input 2 "no einsum node 'X'" "$TRAC" "$mlp" --emit=plan --partition=X:i=2
expect partition-index 2 "no index 'z'" "$TRAC" "$mlp" --emit=plan --partition=Hd:z=2
expect partition-large 2 "from 1 to 512" "$TRAC" "$mlp" --emit=plan --partition=Hd:i=513
expect partition-zero 2 "from 1 to 512" "$TRAC" "$mlp" --emit=plan --partition=Hd:i=0
expect partition-twice 2 "given twice" "$TRAC" "$mlp" --emit=plan --partition=Hd:i=2 --partition=Hd:j=2
# a statement --partition names stays a node of its own: Z, which fusion
# otherwise makes A's GEMM (A its epilogue), is partitioned as asked, and
# the compiled program still equals the interpreter
printf 'size N = 64, K = 32, M = 16\ninput X[N, K], W[K, M], b[M]\nZ[i, j] = sum[k](X[i, k] * W[k, j])\nA[i, j] = relu(Z[i, j] + b[j])\noutput A\n' >epi.tra
expect partition-absorbed 0 "" "$TRAC" epi.tra --emit=plan --devices=2
grep -Eq '^%[0-9]+ +Z ' out && bad partition-absorbed-gone || ok partition-absorbed-gone
expect partition-pinned 0 "" "$TRAC" epi.tra --emit=plan --devices=2 --partition=Z:i=4
has partition-pinned-row '^%[0-9]+ +Z +i:4 j:1 k:1 '
if [ -n "${NPYCMP:-}" ]; then
	if "$TRAC" epi.tra --partition=Z:i=4 -o epi 2>err && ./epi --random=2 --output-dir got-epi >/dev/null 2>&1 &&
	   "$TRAC" epi.tra --interpret --random=2 --output-dir want-epi >/dev/null 2>&1 &&
	   "$NPYCMP" got-epi want-epi >/dev/null; then
		ok partition-pinned-runs
	else
		bad partition-pinned-runs
	fi
fi
# an embedding's gradient, a scatter-add, is one task
expect partition-scatter 2 "is a scatter-add" "$TRAC" "$srcdir/samples/train_embed.tra" --emit=plan \
	--partition=dE:d=2
expect placer-bad 2 "unknown --placer" "$TRAC" "$mlp" --emit=plan --placer=random
expect sim-key 2 "the keys are" "$TRAC" "$mlp" --emit=plan --sim=speed=3
expect sim-value 2 "positive number" "$TRAC" "$mlp" --emit=plan --sim=latency=-1
expect sim-flops 2 "positive number" "$TRAC" "$mlp" --emit=plan --sim-flops=fast
expect plan-program-error 1 "" "$TRAC" "$srcdir/tests/golden/matmul.emit-tra" --emit=plan

# ---- ranks (--ranks): the per-rank lines and the bound, without MPI ----------
cp "$srcdir/tests/golden/swap.tra" swap.tra
# B's row blocks on ranks 0 and 1 (32 x 64 f32: 8192 bytes), each sent to
# the other for C's row blocks, and rank 1's block of C sent to rank 0
expect ranks-plan 0 "" "$TRAC" swap.tra --emit=plan --ranks=2 --devices=1 --placer=roundrobin \
	--partition=B:i=2 --partition=C:i=2
has ranks-rank0 '^  rank 0: compute .*, sends 8192 bytes, receives 16384 bytes \(8192 of them outputs'
has ranks-rank1 '^  rank 1: compute .*, sends 16384 bytes, receives 8192 bytes$'
has ranks-total '^bytes between ranks: 24576$'
# m = n = k = 64 on 2 ranks: 3 (mnk/2)^(2/3) - 3 * 64^2 / 2 = 1597 words
has ranks-bound-cube '^lower bound for B .* on 2 ranks: 6.39 kB received per rank.* 8.19 kB \(1.28x\)'
printf 'size M = 4096, N = 1024, K = 1024\ninput A[M, K], B[K, N]\nC[i, j] = sum[k](A[i, k] * B[k, j])\noutput C\n' >tall.tra
expect ranks-plan-tall 0 "" "$TRAC" tall.tra --emit=plan --ranks=2 --devices=1
# P <= m/n: nk (1 - 1/P) = 1024 * 1024 / 2 words
has ranks-bound-tall 'on 2 ranks: 2.1 MB received per rank'
printf 'size M = 1024, N = 1024, K = 64\ninput A[M, K], B[K, N]\nC[i, j] = sum[k](A[i, k] * B[k, j])\noutput C\n' >flat.tra
expect ranks-plan-flat 0 "" "$TRAC" flat.tra --emit=plan --ranks=4 --devices=1
# P <= mn/k^2: 2 sqrt(mnk^2/P) + mn/P - o = 65536 + 262144 - 294912 words
has ranks-bound-flat 'on 4 ranks: 131 kB received per rank'
expect ranks-zero 2 "--ranks=R needs a count from 1 to 64" "$TRAC" swap.tra --emit=plan --ranks=0
expect ranks-many 2 "--ranks=R needs a count from 1 to 64" "$TRAC" swap.tra --emit=plan --ranks=65
expect ranks-word 2 "--ranks=R needs a count" "$TRAC" swap.tra --emit=plan --ranks=two
expect ranks-memory 2 "--ranks and --memory cannot be combined" "$TRAC" swap.tra --ranks=2 --memory=1M -o p
expect ranks-node-kernels 2 "drop --node-kernels" "$TRAC" swap.tra --ranks=2 --node-kernels -o p
expect ranks-shared 2 "drop --shared" "$TRAC" swap.tra --ranks=2 --shared -o p.so
if [ -e p ] || [ -e p.so ]; then bad ranks-no-output; else ok ranks-no-output; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
