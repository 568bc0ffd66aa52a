#!/bin/sh
# gpu.sh: trac's CUDA back end on a GPU against cuBLAS and the GPU's own
# memory bandwidth, measured side by side in one run (an NVIDIA H200 is
# what the targets are for).
#
#   sh bench/gpu.sh                  build, then run (SKIP without a GPU)
#   sh bench/gpu.sh --build-only     build into the build directory (needs
#                                    nvcc and trac, no GPU)
#   sh bench/gpu.sh --run-only       run what --build-only built (needs a
#                                    GPU; neither trac nor nvcc)
#   GPU_BACKEND=cuda-sim sh bench/gpu.sh    a dry run (below)
#
# It builds, with `trac PROG -D... --backend=cuda --gpus=1`, bench/
# w1_chain.tra, w2_mlp.tra, w6_bmm.tra and w4_lse.tra at bench.py's sizes
# (bench/README), W2 again under --memory = a quarter of its working set
# (the GPU arena of its unbounded plan: --emit=plan's line "memory domain
# 0 (GPU 0): budget unbounded, arena N bytes"), and bench/cublas_ref.cu
# (nvcc -O3 -arch=sm_90, cuBLAS): a plain cuBLAS program doing the same
# GEMMs in f32 with CUBLAS_DEFAULT_MATH (no TF32) and a copy kernel that
# measures the device memory bandwidth. Then it runs each trac program as
# bench.py runs the CPU ones,
#
#   prog --random=1 --repeat R --time --stats --output-dir DIR
#
# and cublas_ref on the same sizes and the same --random=1 inputs right
# after it, which also checks trac's output (normwise relative error
# <= 1e-4, tra(5)'s f32 promise; TF32 would not meet it; W2's logits
# reach about a thousand, so where two f32 orders of its sums differ by
# more, double decides: trac's output is ok when it is at most twice as
# far from double as cuBLAS's on the rows that differ most) and checks
# its own against 16 elements recomputed in double on the host. The table:
#
#   w1, w2, w6  end to end: GFLOP/s from the min_ms of trac's --time line
#               (the whole computation, inputs copied host to GPU and the
#               output back, as the runtime does on every run; files are
#               not part of it) against cuBLAS's compute + copy in + copy
#               out (pinned host memory, best of R each, run one after
#               another: no overlap), target >= 0.9
#               kernels: GFLOP/s from the runtime's GPU kernel time
#               (below) against cuBLAS's compute alone, target >= 0.9
#   w4          kernels: the bytes W4 must move (X read once, Y written)
#               over the runtime's GPU kernel time, in GB/s, against the
#               copy kernel's (bytes read + written) / time, target >= 0.7;
#               end to end: the same bytes over --time against the pinned
#               host-to-GPU copy rate, for context (no target)
#   w2 budget   trac's min_ms under --memory = arena / 4 over its min_ms
#               unbounded, target <= 1.5
#
# Times are the best of R runs on both sides: trac's min_ms (its first run
# carries any one-time start-up; the rest must not) and cuBLAS's best of R
# after two warm-ups. FLOPs as bench/README counts them.
#
# What the back end must provide for this to work (trac --backend=cuda):
#   - `--backend=cuda --gpus=1 [--memory=BYTES]` building an executable,
#     and `--emit=plan` with it printing the memory domain line above;
#   - the programs' --time line (min_ms), as on the CPU, with what a run
#     sets up once (the CUDA context, cuBLAS handles, streams, the arena,
#     pinning the host buffers) paid by the first run only, or outside the
#     timed runs: cuBLAS's side is timed warm, and a per-run cudaMalloc,
#     cudaHostRegister or cublasCreate would be most of W1's and W6's time;
#   - --stats's `gpus: 1 ...` line (not "simulated"): the run was on a GPU;
#   - for the kernels rows and W4's target, a --stats line
#       gpu kernels: runs=N mean_ms=X min_ms=Y
#     per run, the time the GPU spent running kernels (the union of their
#     intervals, from cudaEvents; on several GPUs the longest), without
#     the copies that do not overlap a kernel. Without it those rows are
#     'n/a', and W4's target FAILs, since copying X over PCIe would be
#     all --time measures of it.
#
# Exit status: 0 every target met, 1 a target failed (or a build, run or
# check did), 2 a usage error, 77 (SKIP) no nvcc, no GPU (nvidia-smi -L
# fails) or cublas_ref's probe finds none.
#
# Dry run: GPU_BACKEND=cuda-sim builds the trac half for simulated GPUs
# at bench.py's --small sizes, runs and parses it, and skips everything
# cuBLAS (no nvcc or GPU needed): the table has trac's numbers and
# 'dry run' for a result; exit status 1 if a program failed to build,
# run or print its time and gpus lines.
#
# Environment: TRAC (./trac), NVCC (/usr/local/cuda/bin/nvcc), srcdir (.),
# GPU_BACKEND (cuda), GPU_REPEAT (R, 10), GPU_BENCH_DIR (the build
# directory, gpu-bench), GPU_TIMEOUT (seconds per command, 300). The run
# takes about a minute past the builds (trac's builds run nvcc: on a lent
# GPU machine, --build-only beforehand where nvcc is and --run-only there
# keeps the GPU's time for the run).
set -u
TRAC=${TRAC:-./trac}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
srcdir=${srcdir:-.}
backend=${GPU_BACKEND:-cuda}
repeat=${GPU_REPEAT:-10}
dir=${GPU_BENCH_DIR:-gpu-bench}
limit=${GPU_TIMEOUT:-300}
workloads="w1 w2 w6 w4"

usage() {
	echo "usage: [TRAC=...] [NVCC=...] [GPU_BACKEND=cuda|cuda-sim] sh bench/gpu.sh [--build-only|--run-only]"
}

phase=all
case ${1:-} in
"") ;;
--build-only) phase=build ;;
--run-only) phase=run ;;
-h | --help) usage; exit 0 ;;
*) usage >&2; exit 2 ;;
esac
[ $# -le 1 ] || { usage >&2; exit 2; }
case $backend in
cuda) dry=0 ;;
cuda-sim) dry=1 ;;
*) echo "gpu.sh: GPU_BACKEND=$backend: expected cuda or cuda-sim" >&2; exit 2 ;;
esac
case $repeat in
'' | *[!0-9]* | 0) echo "gpu.sh: GPU_REPEAT=$repeat: expected a count" >&2; exit 2 ;;
esac

skip() {
	echo "SKIP: $1"
	exit 77
}

# Where a GPU is needed: nvidia-smi first (quick), cublas_ref's probe later.
if [ "$dry" = 0 ]; then
	if [ "$phase" != run ] && ! [ -x "$NVCC" ]; then
		skip "no nvcc at $NVCC (set NVCC)"
	fi
	if [ "$phase" != build ] && ! nvidia-smi -L >/dev/null 2>&1; then
		skip "no GPU (nvidia-smi -L fails or is missing)"
	fi
fi
mkdir -p "$dir" || exit 1

# run CMD...: CMD under GPU_TIMEOUT, where timeout(1) exists.
run() {
	if command -v timeout >/dev/null 2>&1; then
		timeout "$limit" "$@"
	else
		"$@"
	fi
}

# work NAME: sets file, out (the output tensor), sizes ("M=4096 ..."),
# defs (trac's -D flags) and vals (cublas_ref's sizes) for a workload.
work() {
	case $1 in
	w1) file=w1_chain out=D big="M=4096 P=1024 Q=4096 N=1024" small="M=48 P=20 Q=56 N=36" ;;
	w2) file=w2_mlp out=P big="N=8192 D=1024 H=4096 C=1024" small="N=40 D=24 H=56 C=32" ;;
	w6) file=w6_bmm out=Z big="B=64 I=512 J=512 K=512" small="B=3 I=20 J=28 K=16" ;;
	w4) file=w4_lse out=Y big="N=8192 D=8192" small="N=40 D=72" ;;
	esac
	if [ "$dry" = 1 ]; then sizes=$small; else sizes=$big; fi
	defs="" vals=""
	for kv in $sizes; do
		defs="$defs -D $kv"
		vals="$vals ${kv#*=}"
	done
}

# amount NAME: per run, GFLOP (w1, w2, w6, bench/README's counts) or GB
# moved (w4: X read once, Y written), for the current sizes.
amount() {
	vars=""
	for kv in $sizes; do
		vars="$vars -v $kv"
	done
	# shellcheck disable=SC2086 # $vars is awk's -v assignments
	awk $vars -v w="$1" 'BEGIN {
		if (w == "w1") {
			a = 2 * M * P * Q + 2 * M * Q * N; b = 2 * P * Q * N + 2 * M * P * N
			x = a < b ? a : b
		} else if (w == "w2") x = 2 * N * D * H + N * H + 2 * N * H * C + 5 * N * C
		else if (w == "w6") x = 2 * B * I * J * K
		else x = 4 * N * D + 4 * N
		printf "%.6f\n", x / 1e9
	}'
}

# div FORMAT A B [SCALE]: A * SCALE / B, or '-' when A or B is not a
# number or B is 0.
div() {
	awk -v a="$2" -v b="$3" -v s="${4:-1}" -v f="$1" 'BEGIN {
		num = "^[-+]?[0-9]*[.]?[0-9]+([eE][-+]?[0-9]+)?$"
		if (a !~ num || b !~ num || b + 0 == 0) print "-"
		else printf f "\n", a * s / b
	}'
}

# u VALUE UNIT: "VALUE UNIT", or '-'.
u() {
	if [ "$1" = - ] || [ -z "$1" ]; then echo -; else echo "$1 $2"; fi
}

# tmin FILE, kmin FILE: the min_ms of the --time line and of the GPU
# kernel time line; field KEY PREFIX FILE: KEY=value of PREFIX's line.
tmin() { sed -n 's/^time: runs=[0-9]* median_ms=[^ ]* min_ms=\([-+0-9.eE]*\).*/\1/p' "$1" 2>/dev/null | tail -n 1; }
kmin() { sed -n 's/^gpu kernels: runs=[0-9]* mean_ms=[^ ]* min_ms=\([-+0-9.eE]*\).*/\1/p' "$1" 2>/dev/null | tail -n 1; }
field() { sed -n "s/^$2.* $1=\\([^ ]*\\).*/\\1/p" "$3" 2>/dev/null | tail -n 1; }

# why FILE: the first error-looking line of FILE, else its last line.
why() {
	w=$(grep -i 'error\|fail\|refus\|not built\|cannot' "$1" 2>/dev/null | head -n 1)
	[ -n "$w" ] || w=$(tail -n 1 "$1" 2>/dev/null)
	echo "${w:-no message}" | cut -c 1-160
}

# ---- build ----

# trac_build NAME EXE [FLAGS...]: compiles the current workload to EXE;
# EXE.build.err has trac's messages.
trac_build() {
	bname=$1 exe=$2
	shift 2
	rm -f "$exe"
	# shellcheck disable=SC2086 # $defs is the -D flags
	if ! run "$TRAC" "$srcdir/bench/$file.tra" $defs --backend="$backend" --gpus=1 "$@" \
		-o "$exe" >"$exe.build.err" 2>&1; then
		echo "  $bname: trac failed: $(why "$exe.build.err")"
		return 1
	fi
}

# budget_build: the unbounded W2's GPU arena from --emit=plan, and W2
# built under a quarter of it (or, where trac refuses that, at the
# smallest budget trac names, for information); $dir/budget holds
# arena=, asked= and used= lines.
budget_build() {
	work w2
	: >"$dir/budget"
	# shellcheck disable=SC2086 # $defs is the -D flags
	arena=$(run "$TRAC" "$srcdir/bench/$file.tra" $defs --backend="$backend" --gpus=1 --emit=plan \
		2>"$dir/plan.err" |
		sed -n 's/^memory domain [0-9]* (GPU 0): budget unbounded, arena \([0-9]*\) bytes.*/\1/p' |
		head -n 1)
	if [ -z "$arena" ]; then
		rm -f "$dir/w2-budget"
		cp "$dir/plan.err" "$dir/w2-budget.build.err"
		echo "  w2 budget: no GPU arena in trac --emit=plan: $(why "$dir/plan.err")"
		return 1
	fi
	asked=$((arena / 4))
	printf 'arena=%s\nasked=%s\n' "$arena" "$asked" >>"$dir/budget"
	if trac_build "w2 --memory=$asked" "$dir/w2-budget" --memory="$asked"; then
		echo "used=$asked" >>"$dir/budget"
		return 0
	fi
	cp "$dir/w2-budget.build.err" "$dir/budget.refused"
	least=$(sed -n 's/.*the smallest budget that works is \([0-9]*\) bytes.*/\1/p' "$dir/budget.refused")
	if [ -n "$least" ] && trac_build "w2 --memory=$least" "$dir/w2-budget" --memory="$least"; then
		echo "used=$least" >>"$dir/budget"
	fi
	return 1
}

if [ "$phase" != run ]; then
	echo "building in $dir (trac --backend=$backend --gpus=1) ..."
	rm -f "$dir/budget" "$dir/budget.refused"
	built=0
	for w in $workloads; do
		work "$w"
		trac_build "$w" "$dir/$w" || built=1
	done
	budget_build # a refused quarter is the budget row's FAIL, not a build error
	if [ "$dry" = 0 ]; then
		cudalib=$(dirname "$NVCC")/../lib64
		rm -f "$dir/cublas_ref"
		if ! run "$NVCC" -O3 -arch=sm_90 "$srcdir/bench/cublas_ref.cu" -o "$dir/cublas_ref" \
			-lcublas -Xlinker -rpath -Xlinker "$cudalib" >"$dir/cublas_ref.build.err" 2>&1; then
			echo "gpu.sh: nvcc failed on bench/cublas_ref.cu:"
			head -n 20 "$dir/cublas_ref.build.err"
			exit 1
		fi
	fi
	if [ "$phase" = build ]; then
		[ "$built" = 0 ] && echo "built; run with --run-only where there is a GPU"
		exit "$built"
	fi
fi

# ---- run ----

if [ "$dry" = 0 ]; then
	[ -x "$dir/cublas_ref" ] || { echo "gpu.sh: no $dir/cublas_ref: build first"; exit 1; }
	if ! "$dir/cublas_ref" probe >"$dir/probe" 2>&1; then
		skip "no usable GPU: $(cat "$dir/probe")"
	fi
fi

table=$dir/table
notes=$dir/notes
: >"$table"
: >"$notes"
status=0

# row WORKLOAD MEASURE TRAC REFERENCE RATIO TARGET RESULT CHECK
row() {
	printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$@" >>"$table"
	case $7 in FAIL* | ERROR*) status=1 ;; esac
}
note() { echo "$*" >>"$notes"; }

# verdict RATIO OP TARGET: PASS or FAIL (a dry run: 'dry run').
verdict() {
	if [ "$dry" = 1 ]; then
		echo "dry run"
	elif [ "$1" = - ]; then
		echo "FAIL"
	else
		awk -v r="$1" -v t="$3" -v op="$2" 'BEGIN {
			ok = op == ">=" ? r + 0 >= t + 0 : r + 0 <= t + 0
			print ok ? "PASS" : "FAIL"
		}'
	fi
}

# trac_run NAME EXE: runs EXE, stderr to EXE.err, outputs to EXE.out/;
# 0 when it ran and printed its time and gpus lines (the reason noted
# otherwise).
trac_run() {
	rm -rf "$2.out" "$2.err" "$2.log"
	if ! [ -x "$2" ]; then
		note "$1: not built: $(why "$2.build.err")"
		return 1
	fi
	if ! run "$2" --random=1 --repeat "$repeat" --time --stats --output-dir "$2.out" \
		>"$2.log" 2>"$2.err"; then
		note "$1: the program failed: $(why "$2.err")"
		return 1
	fi
	if [ -z "$(tmin "$2.err")" ]; then
		note "$1: no 'time: runs=N median_ms=X min_ms=Y' line on stderr"
		return 1
	fi
	g=$(grep '^gpus: ' "$2.err" | tail -n 1)
	case $g in
	"gpus: 1 simulated"*) [ "$dry" = 1 ] || { note "$1: ran on a simulated GPU: $g"; return 1; } ;;
	"gpus: 1 "*) ;;
	*) note "$1: no 'gpus: 1 ...' line from --stats"; return 1 ;;
	esac
}

# ref_run NAME OUTPUT...: cublas_ref on the current sizes, checking each
# OUTPUT (.npy) that exists; its lines in $dir/NAME.ref. Sets ref_ok: 1
# when it ran and its own output passed its self-check.
ref_run() {
	rname=$1
	shift
	ref_ok=0
	rm -f "$dir/$rname.ref"
	[ "$dry" = 1 ] && return
	checks=""
	for f in "$@"; do
		[ -f "$f" ] && checks="$checks --check $f"
	done
	# shellcheck disable=SC2086 # $vals and $checks are lists of words
	run "$dir/cublas_ref" "$rname" $vals --repeat "$repeat" $checks >"$dir/$rname.ref" 2>&1
	if [ -z "$(field compute_ms "ref $rname:" "$dir/$rname.ref")" ]; then
		note "$rname: cublas_ref failed: $(why "$dir/$rname.ref")"
	elif [ "$(field self "ref $rname:" "$dir/$rname.ref")" != ok ]; then
		note "$rname: cublas_ref's own output is wrong" \
			"(self_err=$(field self_err "ref $rname:" "$dir/$rname.ref")): its numbers are void"
	else
		ref_ok=1
	fi
}

# checked NAME OUTPUT: the check cell for trac's OUTPUT from NAME.ref:
# 'ok ERR', 'MISMATCH ERR', 'error' (noted) or '-' (not checked).
checked() {
	c=$(grep "^check $1: " "$dir/$1.ref" 2>/dev/null | grep -F " file=$2" | head -n 1)
	case $c in
	"") echo - ;;
	*" ok err="* | *" MISMATCH err="*)
		echo "$c" | sed 's/^check [^:]*: \([A-Za-z]*\) err=\([^ ]*\).*/\1 \2/' ;;
	*) note "$1: $c"; echo error ;;
	esac
}

# result RATIO OP TARGET RAN CHECK: the result cell: the verdict, unless
# the reference failed, the program did not run or its output is wrong.
result() {
	if [ "$dry" = 0 ] && [ "$ref_ok" = 0 ]; then
		echo "ERROR (reference)"
	elif [ "$4" = 0 ]; then
		echo "FAIL (did not run)"
	else
		case $5 in
		MISMATCH* | error) echo "FAIL (wrong output)" ;;
		*) verdict "$1" "$2" "$3" ;;
		esac
	fi
}

# header
echo "trac GPU bench: $(date '+%Y-%m-%d %H:%M:%S')$([ "$dry" = 1 ] &&
	echo '  (GPU_BACKEND=cuda-sim: a dry run at small sizes)')"
if [ "$dry" = 0 ]; then
	cat "$dir/probe"
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
		--format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
fi
echo "trac: $TRAC ($("$TRAC" --version 2>/dev/null | head -n 1))   back end: $backend   repeat: $repeat"
[ -n "${NVIDIA_TF32_OVERRIDE:-}" ] && echo "NVIDIA_TF32_OVERRIDE=$NVIDIA_TF32_OVERRIDE"

# the copy bandwidth, before the workloads
bw=- h2dbw=-
if [ "$dry" = 0 ]; then
	run "$dir/cublas_ref" bandwidth --repeat "$repeat" >"$dir/bandwidth" 2>&1
	bw=$(field copy_gbps bandwidth: "$dir/bandwidth")
	h2dbw=$(field h2d_gbps bandwidth: "$dir/bandwidth")
	if [ -z "$bw" ]; then
		note "bandwidth: cublas_ref failed: $(why "$dir/bandwidth")"
		bw=- h2dbw=-
	else
		note "bandwidth: copy kernel $bw GB/s (cudaMemcpy device to device" \
			"$(field memcpy_gbps bandwidth: "$dir/bandwidth")), pinned host to GPU $h2dbw GB/s," \
			"GPU to host $(field d2h_gbps bandwidth: "$dir/bandwidth")"
	fi
fi

# gemm_rows: the end-to-end and kernels rows of w1, w2 or w6.
gemm_rows() {
	rt=$(field total_ms "$rf" "$dir/$w.ref") rc=$(field compute_ms "$rf" "$dir/$w.ref")
	ratio=$(div %.3f "$rt" "$t")
	row "$file" "end to end" "$(u "$(div %.1f "$amt" "$t" 1e3)" GFLOP/s)" \
		"$(u "$(div %.1f "$amt" "$rt" 1e3)" GFLOP/s)" "$ratio" ">= 0.9" \
		"$(result "$ratio" ">=" 0.9 "$ran" "$chk")" "$chk"
	if [ "$ran" = 1 ] && [ -z "$k" ]; then
		row "$file" "kernels" "-" "$(u "$(div %.1f "$amt" "$rc" 1e3)" GFLOP/s)" - ">= 0.9" \
			"n/a (no 'gpu kernels:' line)" "$chk"
	else
		ratio=$(div %.3f "$rc" "$k")
		row "$file" "kernels" "$(u "$(div %.1f "$amt" "$k" 1e3)" GFLOP/s)" \
			"$(u "$(div %.1f "$amt" "$rc" 1e3)" GFLOP/s)" "$ratio" ">= 0.9" \
			"$(result "$ratio" ">=" 0.9 "$ran" "$chk")" "$chk"
	fi
	[ "$ref_ok" = 1 ] && note "$w: trac min $(u "$t" ms); cuBLAS compute $(u "$rc" ms), copies" \
		"in $(field h2d_ms "$rf" "$dir/$w.ref") ms and out $(field d2h_ms "$rf" "$dir/$w.ref") ms" \
		"from pinned memory ($(field h2d_pageable_ms "$rf" "$dir/$w.ref") and" \
		"$(field d2h_pageable_ms "$rf" "$dir/$w.ref") ms pageable)"
}

# w4_rows: W4's kernels row (against the copy bandwidth) and its end-to-
# end row (against the pinned host-to-GPU rate, no target).
w4_rows() {
	kr=$(div %.1f "$amt" "$k" 1e3)
	if [ "$ran" = 1 ] && [ -z "$k" ]; then
		res="FAIL (no 'gpu kernels:' line)"
		[ "$dry" = 1 ] && res="dry run (no 'gpu kernels:' line)"
		row "$file" "kernels" "-" "$(u "$bw" "GB/s (copy)")" - ">= 0.7" "$res" "$chk"
	else
		ratio=$(div %.3f "$kr" "$bw")
		row "$file" "kernels" "$(u "$kr" GB/s)" "$(u "$bw" "GB/s (copy)")" "$ratio" ">= 0.7" \
			"$(result "$ratio" ">=" 0.7 "$ran" "$chk")" "$chk"
	fi
	tr=$(div %.1f "$amt" "$t" 1e3)
	row "$file" "end to end" "$(u "$tr" GB/s)" "$(u "$h2dbw" "GB/s (H2D)")" \
		"$(div %.3f "$tr" "$h2dbw")" - info "$chk"
	[ "$ref_ok" = 1 ] && note "w4: trac min $(u "$t" ms); a plain CUDA kernel (a block a row)" \
		"$(div %.1f "$amt" "$(field compute_ms "$rf" "$dir/$w.ref")" 1e3) GB/s"
}

# budget_row: W2 under a quarter of its arena against W2 unbounded.
budget_row() {
	arena=$(sed -n 's/^arena=//p' "$dir/budget" 2>/dev/null)
	asked=$(sed -n 's/^asked=//p' "$dir/budget" 2>/dev/null)
	used=$(sed -n 's/^used=//p' "$dir/budget" 2>/dev/null)
	b=$(tmin "$dir/w2-budget.err")
	bchk=$(checked w2 "$dir/w2-budget.out/$out.npy")
	ratio=$(div %.3f "$b" "$t")
	res=$(result "$ratio" "<=" 1.5 "$bran" "$bchk")
	if [ -n "$asked" ] && [ "${used:-}" != "$asked" ]; then
		res="FAIL (1/4 refused)"
		[ "$dry" = 1 ] && res="dry run (1/4 refused)"
		note "w2 budget: trac refused --memory=$asked (a quarter of the arena, $arena bytes):" \
			"$(why "$dir/budget.refused")${used:+; timed at $used bytes instead}"
	fi
	row "$file budget" time "$(u "$(div %.3f "$b" 1)" "ms ($(div %.3g "${used:-}" 1e6) MB)")" \
		"$(u "$(div %.3f "$t" 1)" "ms (unbounded)")" "$ratio" "<= 1.5" "$res" "$bchk"
	g=$(grep '^gpus: ' "$dir/w2-budget.err" 2>/dev/null | tail -n 1 | sed 's/.*; offloaded/offloaded/')
	[ -n "$g" ] && note "w2 budget: arena $arena bytes unbounded, budget ${used:-?} bytes; per run $g"
}

for w in $workloads; do
	work "$w"
	echo "running $w ($file $sizes) ..." >&2
	ran=1 bran=1
	trac_run "$w" "$dir/$w" || ran=0
	if [ "$w" = w2 ]; then
		trac_run "w2 budget" "$dir/w2-budget" || bran=0
		ref_run "$w" "$dir/$w.out/$out.npy" "$dir/w2-budget.out/$out.npy"
	else
		ref_run "$w" "$dir/$w.out/$out.npy"
	fi
	amt=$(amount "$w")
	t=$(tmin "$dir/$w.err") k=$(kmin "$dir/$w.err")
	rf="ref $w:"
	chk=$(checked "$w" "$dir/$w.out/$out.npy")
	if [ "$w" = w4 ]; then
		w4_rows
	else
		gemm_rows
	fi
	[ "$w" = w2 ] && budget_row
	[ "$dry" = 0 ] && rm -rf "$dir/$w.out" "$dir/w2-budget.out"
done

echo
awk -F'|' '
	{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > wd[i]) wd[i] = length($i) } }
	END {
		split("workload|measure|trac|reference|ratio|target|result|check", h, "|")
		for (i = 1; i <= 8; i++) if (length(h[i]) > wd[i]) wd[i] = length(h[i])
		line = ""; rule = ""
		for (i = 1; i <= 8; i++) {
			line = line sprintf(i == 1 ? "%-*s" : "  %-*s", wd[i], h[i])
			rule = rule (i == 1 ? "" : "  ") sprintf("%*s", wd[i], "")
		}
		gsub(/ /, "-", rule)
		sub(/ +$/, "", line)
		print line; print rule
		for (r = 1; r <= NR; r++) {
			line = ""
			for (i = 1; i <= 8; i++)
				line = line sprintf(i == 1 ? "%-*s" : "  %-*s", wd[i], cell[r, i])
			sub(/ +$/, "", line)
			print line
		}
	}' "$table"
if [ -s "$notes" ]; then
	echo
	sed 's/^/  /' "$notes"
fi
echo
echo "trac: the best (min_ms) of $repeat runs of --time; cuBLAS: the best of $repeat after 2 warm-ups;"
echo "end to end = inputs copied in, computed, output copied out; kernels = the GPU's kernel time alone."
[ "$dry" = 1 ] && echo "a dry run on simulated GPUs at small sizes: the timings mean nothing."
exit "$status"
