#!/bin/sh
# gpu.sh: programs on a real NVIDIA GPU end to end (trac --backend=cuda
# --gpus=N: runtime/gpu.c's executor over runtime/cuda.c, the kernels
# codegen/cuda.c's, compiled by nvcc). Every sample and bench program,
# at programs.sh's small sizes, is compiled and run with --random: on 1
# GPU; on 2 logical GPUs (TRART_CUDA_SHARE=1: both on the one GPU where
# the machine has one), the placers taking turns; on 2 with programs.sh's
# manual partition (uneven blocks, split reductions: partial blocks move
# between the GPUs), and that 2-GPU program again with a shuffled task
# order (TRART_SHUFFLE); and on 1 and 2 GPUs under --memory at 25% of the
# largest GPU's unbounded arena (or, where 25% cannot work, the smallest
# budget that does, as trac's error names it), offloading to host memory.
# Every run's outputs equal the interpreter's; --stats names the CUDA
# GPUs, says no bytes moved between GPUs on one GPU, and that the bytes
# offloaded are the plan's (--emit=plan's per-GPU lines, summed).
# Then the errors: a program built for more GPUs than the machine has
# (nvidia-smi -L's count, plus one) exits 1 with a one-line message and
# no output file, and runs with TRART_CUDA_SHARE=1; no visible GPU
# (CUDA_VISIBLE_DEVICES=-1) and a bad TRART_CUDA_SHARE exit 1 likewise.
# SKIP (77) without nvcc, without numpy, when trac has no CUDA back end,
# or when a probe (samples/matmul.tra on 1 GPU) does not run: no GPU.
# GPU_BACKEND=cuda-sim runs the same checks on simulated GPUs (no GPU,
# nvcc or probe needed; TRART_GPU_SIM=gpus=1 is the machine with one GPU
# and the CUDA-only errors are left out): the script's own test.
# GPU_SWEEP=smoke: the samples alone. GPU_JOBS: how many programs are
# checked at once (default: the CPUs online; nvcc is most of the time).
# Environment: TRAC, srcdir, PYTHON_NUMPY, NVCC.
set -u
: "${TRAC:?}" "${srcdir:?}"
backend=${GPU_BACKEND:-cuda}
case $backend in
cuda) kind="CUDA GPU" ;;
cuda-sim) kind="simulated GPU" ;;
*)
	echo "GPU_BACKEND='$backend': expected cuda or cuda-sim"
	exit 99
	;;
esac
if [ "$backend" = cuda ] && { [ -z "${NVCC:-}" ] || ! [ -x "$NVCC" ]; }; then
	echo "SKIP: no nvcc (configure found no CUDA toolkit)"
	exit 77
fi
if [ -z "${PYTHON_NUMPY:-}" ]; then
	echo "SKIP: no Python 3 with numpy to compare .npy files"
	exit 77
fi
. "$srcdir/tests/testlib.sh"
test_setup
. "$srcdir/tests/programs.sh"
sweep=${GPU_SWEEP:-full}
jobs=${GPU_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
placers="greedy roundrobin lshs critical-path"

# limited CMD...: CMD, stopped after 120 s where timeout(1) exists (a
# hung device would otherwise hang make check); 124 when it was.
if command -v timeout >/dev/null 2>&1; then
	limited() { timeout 120 "$@"; }
else
	limited() { "$@"; }
fi

# The probe: without a CUDA back end in trac, or a GPU to run on, SKIP.
if [ "$backend" = cuda ]; then
	probe=$srcdir/samples/matmul.tra
	# shellcheck disable=SC2046 # the -D flags
	if ! "$TRAC" "$probe" $(sizes "$probe") --backend=cuda --gpus=1 -o probe >out 2>err; then
		if grep -Eq 'not built|built without' err; then
			echo "SKIP: trac has no CUDA back end: $(head -n 1 err)"
			exit 77
		fi
		bad "probe: samples/matmul.tra --backend=cuda --gpus=1: compile"
		exit 1
	fi
	limited ./probe --random=3 --output-dir probe-out >out 2>err
	status=$?
	if [ "$status" -ne 0 ]; then
		echo "SKIP: no usable CUDA GPU (samples/matmul.tra on 1 GPU exits $status: $(head -n 1 err))"
		exit 77
	fi
	command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L | sed 's/^/# /'
fi

# run_gpus NAME PROG DEFS N PLACER [TRAC FLAGS...]: compile for N GPUs
# into g-K (the K-th run) and run it (TRART_CUDA_SHARE=1 where N > 1),
# its outputs to got-K, added to gotdirs.
run_gpus() {
	label="$1 --gpus=$4 --placer=$5"
	prog=$2 defs=$3 n=$4 placer=$5
	shift 5
	runs=$((runs + 1))
	# shellcheck disable=SC2086 # $defs is the -D flags
	if ! "$TRAC" "$prog" $defs --backend="$backend" --gpus="$n" --placer="$placer" "$@" -o "g-$runs" 2>err; then
		bad "$label $*: compile"
		return 1
	fi
	run_g "$label $*" "$n" "g-$runs"
}

# run_g LABEL N BINARY [VAR=VALUE...]: run a program built for N GPUs
# (with the environment's VAR=VALUE) into got-K, checked as run_gpus says.
run_g() {
	label=$1 n=$2 bin=$3
	shift 3
	dir=got-$runs
	share=TRART_CUDA_SHARE=0
	[ "$n" -gt 1 ] && share=TRART_CUDA_SHARE=1
	if ! limited env "$share" "$@" "./$bin" --random=3 --stats --output-dir "$dir" >out 2>err; then
		bad "$label: run"
		return 1
	fi
	gotdirs="$gotdirs $dir"
	gpu_stats "$label" "$n" "$kind"
}

# budget NAME PROG DEFS N: a run on N GPUs at 25% of the largest GPU's
# unbounded arena (or the smallest budget that works), checked as
# run_gpus does and its bytes offloaded against the plan's.
budget() {
	# shellcheck disable=SC2086 # $3 is the -D flags
	peak=$(gpu_peak "$2" "$3" "$backend" "$4")
	if [ -z "$peak" ]; then
		bad "$1 --gpus=$4: no arena in --emit=plan"
		return
	fi
	budget=$((peak / 4))
	# shellcheck disable=SC2086
	if ! "$TRAC" "$2" $3 --backend="$backend" --gpus="$4" --memory="$budget" --emit=plan >plan 2>err; then
		budget=$(sed -n 's/.*the smallest budget that works is \([0-9]*\) bytes.*/\1/p' err)
		if [ -z "$budget" ] || ! "$TRAC" "$2" $3 --backend="$backend" --gpus="$4" --memory="$budget" \
			--emit=plan >plan 2>err; then
			bad "$1 --gpus=$4 1/4 of $peak: plan"
			return
		fi
	fi
	want_off=$(sed -n 's/^  offloaded \([0-9]*\) bytes in .*/\1/p' plan | awk '{s += $1} END {print s + 0}')
	run_gpus "$1" "$2" "$3" "$4" greedy --memory="$budget" || return
	got_off=$(sed -n 's/^gpus: .*; offloaded \([0-9]*\) bytes, reloaded .*/\1/p' err)
	if [ "$got_off" != "$want_off" ]; then
		echo "  offloaded $got_off bytes, the plan $want_off" >err
		bad "$1 --gpus=$4 --memory=$budget (of $peak): bytes offloaded"
	fi
}

# check_prog I PROG: every run of PROG (the I-th program), in the
# current directory, against the interpreter.
check_prog() {
	i=$1 prog=$2
	name=$(basename "$prog" .tra)
	defs=$(sizes "$prog")
	head -n 1 "$prog" | grep -q 'keep sizes' && defs=""
	# shellcheck disable=SC2086 # $defs is the -D flags
	if ! "$TRAC" "$prog" $defs --interpret --random=3 --output-dir want 2>err; then
		bad "$name: interpreter"
		return
	fi
	gotdirs="" runs=0
	p1=$(echo "$placers" | cut -d' ' -f$((i % 4 + 1)))
	p2=$(echo "$placers" | cut -d' ' -f$(((i + 1) % 4 + 1)))
	run_gpus "$name" "$prog" "$defs" 1 "$p1"
	run_gpus "$name" "$prog" "$defs" 2 "$p2"
	if run_gpus "$name" "$prog" "$defs" 2 greedy --partition="$(manual "$prog" "$defs")"; then
		runs=$((runs + 1))
		run_g "$name --gpus=2 (manual) TRART_SHUFFLE=$((i + 7))" 2 "g-$((runs - 1))" TRART_SHUFFLE=$((i + 7))
	fi
	budget "$name" "$prog" "$defs" 1
	budget "$name" "$prog" "$defs" 2
	: >err
	# shellcheck disable=SC2086 # the directories, one word each
	set -- $gotdirs
	if [ $# -gt 0 ] && first=$1 && shift && compare "$first" want "$@"; then
		ok "$name: outputs on 1 and 2 GPUs, a manual partition, a shuffled order and 25% budgets equal the interpreter's"
	else
		bad "$name: outputs"
	fi
}

# GPU_JOBS lanes take the programs in turn (the first to make a
# program's directory checks it there), each program's log kept apart.
benches=$(ls "$srcdir"/bench/*.tra 2>/dev/null)
[ "$sweep" = smoke ] && benches=""
progs="$(ls "$srcdir"/samples/*.tra) $benches"
lane() {
	i=0
	for prog in $progs; do
		i=$((i + 1))
		mkdir "p-$i" 2>/dev/null || continue
		(cd "p-$i" && check_prog "$i" "$prog") >"p-$i.log" 2>&1
	done
}
k=0
while [ "$k" -lt "$jobs" ]; do
	lane &
	k=$((k + 1))
done
wait
i=0
for prog in $progs; do
	i=$((i + 1))
	if ! [ -f "p-$i.log" ]; then
		bad "$(basename "$prog" .tra): not checked"
		continue
	fi
	cat "p-$i.log"
	pass=$((pass + $(grep -c '^PASS' "p-$i.log")))
	fail=$((fail + $(grep -c '^FAIL' "p-$i.log")))
done

# The errors. A program built for more GPUs than the machine has; then
# the same with the GPUs shared, which runs.
printf 'size N = 8\ninput A[N, N]\nB[i, j] = 3 * A[i, j]\noutput B\n' >two.tra
"$TRAC" two.tra --interpret --random=3 --output-dir two-want 2>err || bad "two.tra: interpreter"
if [ "$backend" = cuda ]; then
	have=$(($(nvidia-smi -L 2>/dev/null | wc -l)))
	[ "$have" -ge 1 ] || have=63 # no nvidia-smi: 64 is more than the machine has
	machine=""
else
	have=1
	machine=TRART_GPU_SIM=gpus=1
fi
more=$((have + 1))
if [ "$more" -gt 64 ]; then
	echo "# $have GPUs: no program can want more (--gpus is at most 64)"
elif "$TRAC" two.tra --backend="$backend" --gpus="$more" --partition=B:i=2 -o many 2>err; then
	# shellcheck disable=SC2086 # $machine is empty or one word
	expect "built for $more GPUs, more than the machine has: exit 1" 1 "$more GPUs.*machine has" \
		limited env TRART_CUDA_SHARE=0 $machine ./many --random=3 --output-dir e1
	[ "$(wc -l <err)" -eq 1 ] || bad "built for $more GPUs: stderr is $(wc -l <err) lines, not one"
	[ -e e1/B.npy ] && bad "built for $more GPUs: an output file was written"
	if limited env TRART_CUDA_SHARE=1 ./many --random=3 --stats --output-dir e2 >out 2>err &&
		grep -q "^gpus: $more $kind" err && compare e2 two-want; then
		ok "built for $more GPUs, run with TRART_CUDA_SHARE=1"
	else
		bad "built for $more GPUs, run with TRART_CUDA_SHARE=1"
	fi
else
	bad "two.tra --gpus=$more: compile"
fi
if [ "$backend" = cuda ]; then
	expect "no visible GPU: exit 1" 1 "no CUDA GPU" \
		limited env CUDA_VISIBLE_DEVICES=-1 ./probe --random=3 --output-dir e3
	[ "$(wc -l <err)" -eq 1 ] || bad "no visible GPU: stderr is $(wc -l <err) lines, not one"
	[ -e e3 ] && [ -n "$(ls e3)" ] && bad "no visible GPU: an output file was written"
	expect "TRART_CUDA_SHARE=2: exit 1" 1 "TRART_CUDA_SHARE" \
		limited env TRART_CUDA_SHARE=2 ./probe --random=3 --output-dir e4
	[ "$(wc -l <err)" -eq 1 ] || bad "TRART_CUDA_SHARE=2: stderr is $(wc -l <err) lines, not one"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
