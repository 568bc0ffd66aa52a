#!/bin/sh
# gpusim.sh: programs on simulated GPUs end to end (trac --backend=cuda-sim
# --gpus=N; runtime/gpu.c's executor over runtime/gpu_sim.c's device).
# Every sample and bench program, at programs.sh's small sizes, is
# compiled for 1, 2 and 4 GPUs (the placers taking turns; a bench program
# for 2, and under budgets on 2 alone) and run with --random; its outputs equal the interpreter's, and --stats says no
# bytes moved between GPUs on one GPU. Each program also runs on 4 GPUs
# with a manual partition (uneven blocks, split reductions: partial
# blocks move between GPUs), and on 2 GPUs perturbed: a random delay
# before every stream operation (TRART_GPU_SIM jitter) and a shuffled
# task order (TRART_SHUFFLE), which must not change the result. And on
# 1, 2 and 4 GPUs under --memory at 100% and 25% of the largest GPU's
# unbounded arena (or, where 25% cannot work, the smallest budget that
# does, as trac's error names it), and with the manual partition on 3
# GPUs under a third of its arena, with random delays (manual_budget):
# the outputs equal the interpreter's,
# and the bytes --stats says were offloaded to host memory are the
# plan's (--emit=plan's per-GPU lines, summed). The simulated GPUs'
# memory starts as 0xff bytes (NaN, -1), so a read of a block that was
# never copied there shows. A budget below the largest tensor keeps
# tensors block by block on the GPUs (blk.tra).
# Then the errors: fewer GPUs than the program wants, a GPU without room,
# a bad TRART_GPU_SIM, and the option combinations trac refuses (the
# CUDA back end's too: tests/cuda.sh builds with it).
# GPUSIM_SWEEP=smoke (distcheck's): the samples alone.
# Environment: TRAC, srcdir, PYTHON_NUMPY.
set -u
: "${TRAC:?}" "${srcdir:?}"
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to compare .npy files"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
. "$srcdir/tests/programs.sh"
sweep=${GPUSIM_SWEEP:-full}
placers="greedy roundrobin lshs critical-path"

# run_gpus NAME PROG DEFS N PLACER [TRAC FLAGS...]: compile for N
# simulated GPUs and run (the environment's TRART_GPU_SIM and
# TRART_SHUFFLE apply); outputs to got-K (the K-th run), added to
# gotdirs.
run_gpus() {
	label="$1 --gpus=$4 --placer=$5"
	prog=$2 defs=$3 n=$4 placer=$5
	shift 5
	runs=$((runs + 1))
	dir=got-$runs
	# shellcheck disable=SC2086 # $defs is the -D flags
	if ! "$TRAC" "$prog" $defs --backend=cuda-sim --gpus="$n" --placer="$placer" "$@" -o g 2>err; then
		bad "$label $*: compile"
		return
	fi
	if ! ./g --random=3 --stats --output-dir "$dir" >out 2>err; then
		bad "$label $*: run"
		return
	fi
	gotdirs="$gotdirs $dir"
	gpu_stats "$label" "$n" "simulated GPU"
}

# workable PROG FLAGS N BUDGET: BUDGET, or where trac says it is too small
# for PROG with FLAGS on N simulated GPUs, the smallest budget that works,
# its --emit=plan left in plan; nothing when neither plans.
workable() {
	# shellcheck disable=SC2086 # $2 is trac flags
	if ! "$TRAC" "$1" $2 --backend=cuda-sim --gpus="$3" --memory="$4" --emit=plan >plan 2>err; then
		set -- "$1" "$2" "$3" "$(sed -n 's/.*the smallest budget that works is \([0-9]*\) bytes.*/\1/p' err)"
		# shellcheck disable=SC2086
		[ -n "$4" ] && "$TRAC" "$1" $2 --backend=cuda-sim --gpus="$3" --memory="$4" --emit=plan >plan 2>err ||
			return 0
	fi
	echo "$4"
}

# budgets NAME PROG DEFS N: runs on N GPUs at 100% and 25% of the
# largest GPU's unbounded arena, each checked as run_gpus does and its
# bytes offloaded against the plan's.
budgets() {
	# shellcheck disable=SC2086 # $3 is the -D flags
	peak=$(gpu_peak "$2" "$3" cuda-sim "$4")
	if [ -z "$peak" ]; then
		bad "$1 --gpus=$4: no arena in --emit=plan"
		return
	fi
	for share in 1 4; do
		budget=$(workable "$2" "$3" "$4" $((peak / share)))
		[ -n "$budget" ] || { bad "$1 --gpus=$4 1/$share of $peak: plan"; continue; }
		want_off=$(sed -n 's/^  offloaded \([0-9]*\) bytes in .*/\1/p' plan | awk '{s += $1} END {print s + 0}')
		run_gpus "$1" "$2" "$3" "$4" greedy --memory="$budget"
		got_off=$(sed -n 's/^gpus: .*; offloaded \([0-9]*\) bytes, reloaded .*/\1/p' err)
		if [ "$got_off" != "$want_off" ]; then
			echo "  offloaded $got_off bytes, the plan $want_off" >err
			bad "$1 --gpus=$4 --memory=$budget (1/$share of $peak): bytes offloaded"
		fi
	done
}

# manual_budget NAME PROG DEFS PART: on 3 GPUs with the manual partition
# PART (uneven blocks, split reductions) under a third of its largest
# GPU's unbounded arena, or the smallest budget that works where a third
# does not, with random delays: tensors kept block by block where they
# can be, their blocks and partial blocks moving between the GPUs.
manual_budget() {
	# shellcheck disable=SC2086 # $3 is the -D flags
	peak=$(gpu_peak "$2" "$3 --partition=$4" cuda-sim 3)
	budget=""
	[ -n "$peak" ] && budget=$(workable "$2" "$3 --partition=$4" 3 $((peak / 3)))
	if [ -z "$budget" ]; then
		bad "$1 --gpus=3 --partition=$4 --memory: no budget"
		return
	fi
	TRART_GPU_SIM=jitter=3 run_gpus "$1" "$2" "$3" 3 greedy --partition="$4" --memory="$budget"
}

benches=$(ls "$srcdir"/bench/*.tra 2>/dev/null)
[ "$sweep" = smoke ] && benches=""
i=0 runs=0
for prog in "$srcdir"/samples/*.tra $benches; do
	name=$(basename "$prog" .tra)
	defs=$(sizes "$prog")
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	rm -rf want got-* g
	# shellcheck disable=SC2086 # $defs is the -D flags
	if ! "$TRAC" "$prog" $defs --interpret --random=3 --output-dir want 2>err; then
		bad "$name: interpreter"
		continue
	fi
	gotdirs=""
	# a bench program (kernels the samples have, at other shapes) runs on
	# 2 GPUs, with the manual partition on 4, and under budgets on 2
	counts="1 2 4"
	case $prog in */bench/*) counts=2 ;; esac
	for n in $counts; do
		p=$(echo $placers | cut -d' ' -f$((i % 4 + 1)))
		run_gpus "$name" "$prog" "$defs" "$n" "$p"
		i=$((i + 1))
	done
	part=$(manual "$prog" "$defs")
	run_gpus "$name" "$prog" "$defs" 4 greedy --partition="$part"
	[ "$counts" = 2 ] || manual_budget "$name" "$prog" "$defs" "$part"
	for n in $counts; do
		budgets "$name" "$prog" "$defs" "$n"
	done
	TRART_GPU_SIM=jitter=$((i + 1)) TRART_SHUFFLE=$((i + 7)) run_gpus "$name" "$prog" "$defs" 2 roundrobin
	# compare GOT WANT [GOT...]: every run's outputs against the interpreter's
	# shellcheck disable=SC2086 # the directories, one word each
	set -- $gotdirs
	if [ $# -gt 0 ] && first=$1 && shift && compare "$first" want "$@"; then
		ok "$name: outputs on $counts GPUs, under budgets, a manual partition and a perturbed run equal the interpreter's"
	else
		bad "$name: outputs"
	fi
done

# A budget below the largest tensor: on GPUs too, a tensor whose readers
# each read one of its blocks is kept block by block (a GPU buffer per
# block, kernels and copies through views), the input X and the output
# S included; trac cut whole tensors before, and refused this budget.
printf '%s\n' 'size N = 256, D = 64, H = 128' 'input X[N, D], W[D, H]' \
	'Hd[i, j] = relu(sum[k](X[i, k] * W[k, j]))' 'S[i, c] = Hd[i, c] / sum[j](Hd[i, j])' 'output S' >blk.tra
rm -rf want got-* && gotdirs=""
"$TRAC" blk.tra --interpret --random=3 --output-dir want 2>err || bad "blk.tra: interpreter"
for n in 1 2; do
	if "$TRAC" blk.tra --backend=cuda-sim --gpus=$n --memory=98304 --emit=memgraph >mem 2>err &&
		grep -q 'Hd\.block#[0-9]*@gpu0' mem && grep -q 'X\.block#[0-9]*@gpu0' mem &&
		grep -q 'S\.block#[0-9]*@gpu0' mem && ! grep -q 'Hd@gpu' mem; then
		ok "blk.tra --gpus=$n --memory=98304 (Hd is 131072 bytes): Hd, X and S kept block by block"
	else
		bad "blk.tra --gpus=$n --memory=98304: not kept block by block"
	fi
	run_gpus blk blk.tra "" $n greedy --memory=98304
done
# shellcheck disable=SC2086 # the directories, one word each
set -- $gotdirs
if [ $# -eq 2 ] && compare "$1" want "$2"; then
	ok "blk.tra: outputs by block on 1 and 2 GPUs equal the interpreter's"
else
	bad "blk.tra: outputs"
fi

# An argmax of 200 terms: 16 lanes on CPUs (kplan.c, arg reductions),
# one loop a GPU thread, equal to the interpreter's positions
printf '%s\n' 'size N = 96, C = 200' 'input X[N, C]' 'a[i] = argmax[j](X[i, j])' \
	'b[j] = argmin[i](X[i, j] * 2)' 'output a, b' >arg.tra
rm -rf want got-* && gotdirs=""
"$TRAC" arg.tra --interpret --random=3 --output-dir want 2>err || bad "arg.tra: interpreter"
if "$TRAC" arg.tra --emit=kernels >kern 2>err && grep -q 'argmax from 0, 16 lanes' kern &&
	"$TRAC" arg.tra --backend=cuda-sim --gpus=2 --emit=kernels >kern 2>err && grep -q 'argmax from 0$' kern &&
	! grep -q lanes kern; then
	ok "arg.tra: lanes on CPUs, not on GPUs"
else
	bad "arg.tra: lanes on CPUs, not on GPUs"
fi
run_gpus arg arg.tra "" 2 greedy
# shellcheck disable=SC2086 # the directory
[ -n "$gotdirs" ] && compare $gotdirs want && ok "arg.tra: positions on 2 GPUs" || bad "arg.tra: positions on 2 GPUs"

# The errors. Two GPUs' program, one (simulated) GPU.
printf 'size N = 8\ninput A[N, N]\nB[i, j] = 3 * A[i, j]\noutput B\n' >two.tra
"$TRAC" two.tra --backend=cuda-sim --gpus=2 --partition=B:i=2 -o two 2>err || bad "two.tra: compile"
TRART_GPU_SIM=gpus=1 expect "fewer GPUs than the program wants" 1 \
	'compiled for 2 GPUs, and this \(simulated\) machine has 1' ./two --random --output-dir e1
[ -e e1/B.npy ] && bad "fewer GPUs: an output file was written"
TRART_GPU_SIM=memory=100 expect "a GPU without room" 1 \
	'simulated GPU [01]: out of memory allocating the arena of .* the program.s memory plan needs' \
	./two --random --output-dir e2
[ -e e2/B.npy ] && bad "no room: an output file was written"
TRART_GPU_SIM=speed=3 expect "a bad TRART_GPU_SIM" 1 "TRART_GPU_SIM='speed=3': expected KEY=VALUE" \
	./two --random --output-dir e3
room=$("$TRAC" two.tra --backend=cuda-sim --gpus=2 --partition=B:i=2 --emit=plan |
	sed -n 's/^memory domain 0 (GPU 0): budget unbounded, arena \([0-9]*\) bytes.*/\1/p')
TRART_GPU_SIM=memory=$room expect "a GPU with just the room ($room bytes)" 0 '' ./two --random --output-dir e4
TRART_GPU_SIM=memory=$((room - 1)) expect "a GPU a byte short" 1 'out of memory allocating the arena' \
	./two --random --output-dir e5
expect "--gpus without a GPU back end" 2 'add --backend=cuda \(CUDA GPUs\) or --backend=cuda-sim' \
	"$TRAC" two.tra --gpus=2 -o x
expect "--gpus=0" 2 '--gpus=N needs a count from 1 to 64' "$TRAC" two.tra --backend=cuda-sim --gpus=0 -o x
expect "--gpus with --memory too small" 1 'memory=64 is too small: .*the smallest budget that works is' \
	"$TRAC" two.tra --backend=cuda-sim --gpus=2 --memory=64 -o x
expect "--gpus and --devices disagree" 2 '--gpus=2 and --devices=3 disagree' \
	"$TRAC" two.tra --backend=cuda-sim --gpus=2 --devices=3 -o x
expect "--gpus with -c" 2 '--gpus makes an executable: drop -c' \
	"$TRAC" two.tra --backend=cuda-sim --gpus=2 -c -o x.o
expect "--tf32 without --backend=cuda" 2 '--tf32: add --backend=cuda' \
	"$TRAC" two.tra --backend=cuda-sim --tf32 -o x
expect "--cuda-arch without --backend=cuda" 2 '--cuda-arch: add --backend=cuda' \
	"$TRAC" two.tra --cuda-arch=sm_90 -o x
expect "--cuda-arch=90" 2 '--cuda-arch=90: expected GPU architectures such as sm_90' \
	"$TRAC" two.tra --backend=cuda-sim --cuda-arch=90 -o x
expect "--cuda-arch=sm_90," 2 '--cuda-arch=sm_90,: expected GPU architectures' \
	"$TRAC" two.tra --backend=cuda-sim --cuda-arch=sm_90, -o x
if "$TRAC" --version | grep -q 'cuda (CUDA GPUs)'; then
	expect "--backend=cuda --sanitize=thread" 2 '--sanitize=thread cannot instrument CUDA' \
		"$TRAC" two.tra --backend=cuda --sanitize=thread -o x
else
	expect "--backend=cuda without CUDA" 2 'built without the CUDA toolkit' "$TRAC" two.tra --backend=cuda -o x
fi
[ -e x ] || [ -e x.o ] && bad "a refused compile left an output file"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
